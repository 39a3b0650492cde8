"""The coordinators' daily digest (SPEC 6): cases, deadlines and yesterday's mail -> a Digest value.

Pure: ``now`` is given, the cases and the outbox records are handed in, and the templates
``digest.txt`` / ``digest.html`` turn the result into mail. Rows name the child by initials only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from .clocks import Timescales, agency_key, days_left, rag
from .deadlines import agency_due, next_deadline
from .models import Case
from .records import OutboxRecord
from .report import ytd_line
from .workdays import LONDON, WorkingCalendar, format_date

logger = logging.getLogger(__name__)

RAG_ORDER: dict[str, int] = {"red": 0, "amber": 1, "green": 2, "none": 3}
RAG_WORDS: dict[str, str] = {
    "red": "Overdue",
    "amber": "Due soon",
    "green": "On track",
    "none": "No deadline",
}
STATUS_WORDS: dict[str, str] = {
    "needs_triage": "needs triage",
    "referral_received": "referral received",
    "rapid_review": "rapid review",
    "cspr": "CSPR",
    "learning_review": "learning review",
    "closed": "closed",
}
# How far ahead the bank-holiday data must reach before the digest stops warning.
HOLIDAY_HORIZON = timedelta(days=365)


@dataclass(frozen=True)
class DigestRow:
    """One case as the digest shows it. ``days_left`` is in working days, negative when overdue."""

    reference: str
    status: str
    initials: str
    next_label: str
    next_due: date | None
    next_due_shown: str
    days_left: int | None
    rag: str  # "red" | "amber" | "green" | "none"
    outstanding: list[str] = field(default_factory=list)  # agencies whose return is awaited

    @property
    def status_shown(self) -> str:
        return STATUS_WORDS.get(self.status, self.status.replace("_", " "))

    @property
    def rag_word(self) -> str:
        """The RAG in words, for plain text and for readers who cannot tell the colours apart."""
        return RAG_WORDS[self.rag]


@dataclass(frozen=True)
class Digest:
    day: date
    day_shown: str
    new_referrals: list[DigestRow]  # received since the last digest, oldest first
    triage: list[DigestRow]  # status needs_triage, oldest first
    open_cases: list[DigestRow]  # triage first, then red, amber, green, none, then by due date
    outstanding_by_agency: list[
        tuple[str, list[tuple[str, str, int]]]
    ]  # agency -> (ref, due, left)
    sent_yesterday: list[dict[str, Any]]  # {"time", "reference", "subject", "to_count"}
    ytd: str | None  # report.ytd_line; None when there are no cases at all
    holiday_warning: str | None
    counts: dict[str, int]
    sent_from_shown: str = ""  # the first day of the "sent yesterday" window, for the heading
    amber_days: int = 2  # Timescales.amber_days, for the key under the table


def _aware(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} needs a timezone-aware datetime, got naive {at!r}")
    return at


def _instant(at: datetime | str) -> datetime:
    """A datetime (or ISO text) as an aware instant; a naive one counts as UTC (as the store does)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _midnight_utc(d: date) -> datetime:
    """The start of London day ``d`` as an aware UTC datetime (midnight always exists in London)."""
    return datetime.combine(d, time(0), tzinfo=LONDON).astimezone(UTC)


def yesterday_window(now: datetime, cal: WorkingCalendar) -> tuple[datetime, datetime]:
    """[start of the previous working day, start of today), London days, as aware UTC datetimes.

    On a Monday this runs from Friday 00:00 to Monday 00:00, so the weekend's mail is included.
    """
    today = _aware(now, "yesterday_window").astimezone(LONDON).date()
    previous = cal.add_working_days(today, -1)
    return _midnight_utc(previous), _midnight_utc(today)


def digest_due(
    now: datetime, cal: WorkingCalendar, digest_time: time, last_sent_day: date | None
) -> bool:
    """True on a working day (London) at or after ``digest_time`` when today's digest is not sent.

    A daemon that was down at ``digest_time`` sends it when it next runs that day; a day missed
    entirely is not made up. Never on a weekend, bank holiday or closure day.
    """
    local = _aware(now, "digest_due").astimezone(LONDON)
    today = local.date()
    if not cal.is_working_day(today) or last_sent_day == today:
        return False
    return local.time().replace(tzinfo=None) >= digest_time


def _outstanding(case: Case) -> list[str]:
    """Returns still awaited. Once the Rapid Review decision is made the scoping stage is over (no chasers)."""
    if case.decision is not None:
        return []
    return [a.name for a in case.agencies if a.requested_on and not a.returned_on]


def digest_row(case: Case, today: date, cal: WorkingCalendar, ts: Timescales) -> DigestRow:
    """The case's row: its soonest unmet deadline (deadlines.next_deadline) and its colour."""
    found = next_deadline(case, cal, ts)
    if found is None:
        label, due, left, colour = "", None, None, "none"
    else:
        label, due = found
        left = days_left(due, today, cal)
        colour = rag(due, today, cal, ts)
    return DigestRow(
        reference=case.reference,
        status=case.status,
        initials=case.initials(),
        next_label=label,
        next_due=due,
        next_due_shown=format_date(due) if due else "",
        days_left=left,
        rag=colour,
        outstanding=_outstanding(case),
    )


def _open_order(row: DigestRow) -> tuple[int, int, date, str]:
    return (
        0 if row.status == "needs_triage" else 1,
        RAG_ORDER[row.rag],
        row.next_due or date.max,
        row.reference,
    )


def _by_agency(
    cases: list[Case], today: date, cal: WorkingCalendar, ts: Timescales
) -> list[tuple[str, list[tuple[str, str, int]]]]:
    """Returns awaited from each agency on open cases: agencies by name, their cases by due date."""
    groups: dict[str, tuple[str, list[tuple[date, str]]]] = {}
    for case in cases:
        if case.decision is not None:
            continue  # the scoping stage ended with the decision (see _outstanding)
        for a in case.agencies:
            due = agency_due(a, cal, ts)
            if due is None or a.returned_on:
                continue
            name, rows = groups.setdefault(agency_key(a.name), (a.name, []))
            rows.append((due, case.reference))
    out = []
    for name, rows in sorted(groups.values(), key=lambda g: g[0].lower()):
        rows.sort()
        out.append(
            (name, [(ref, format_date(due), days_left(due, today, cal)) for due, ref in rows])
        )
    return out


def _sent_rows(
    sent: Sequence[OutboxRecord], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    rows = []
    for record in sent:
        stamp = record.sent_at
        if stamp is None:
            continue  # queued but not sent: not something the bot sent
        at = stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
        if not start <= at < end:
            continue
        local = at.astimezone(LONDON)
        rows.append(
            (
                at,
                {
                    "time": f"{format_date(local.date())[:3]} {local:%H:%M}",
                    "reference": record.case_reference or "",
                    "subject": record.subject or "",
                    "to_count": len(record.to) + len(record.cc),
                },
            )
        )
    rows.sort(key=lambda r: r[0])
    return [r[1] for r in rows]


def holiday_warning(day: date, cal: WorkingCalendar) -> str | None:
    """Words for the coordinators when the bank-holiday data runs out within a year of ``day``."""
    if cal.covers(day + HOLIDAY_HORIZON):
        return None
    ends = cal.holiday_data_ends()
    where = f"ends on {format_date(ends)}" if ends else "is missing"
    return (
        f"The bank-holiday data {where}: deadlines after that count bank holidays as working "
        "days. Ask IT to upgrade the holidays package, or list the bank holidays as closure "
        "days in the config."
    )


def build_digest(
    cases: list[Case],
    sent: Sequence[OutboxRecord],
    now: datetime,
    cal: WorkingCalendar,
    ts: Timescales,
    since: datetime | None,
) -> Digest:
    """The digest for the London day of ``now``.

    ``cases`` may include closed cases (they count as new referrals if they arrived since the last
    digest, but are not listed as open). ``sent`` is the outbox records for ``yesterday_window``;
    records outside it or not sent are left out. ``since`` is when the last digest went; with no
    digest before, referrals received since the start of the previous working day are new.
    """
    local = _aware(now, "build_digest").astimezone(LONDON)
    today = local.date()
    start, end = yesterday_window(now, cal)
    after = _aware(since, "build_digest since") if since is not None else start

    def received(c: Case) -> datetime:
        return _instant(c.received_at)

    by_arrival = sorted(cases, key=lambda c: (received(c), c.reference))
    rows = {c.reference: digest_row(c, today, cal, ts) for c in by_arrival}
    open_cases = [c for c in by_arrival if c.status != "closed"]
    new = [rows[c.reference] for c in by_arrival if received(c) > after]
    triage = [rows[c.reference] for c in open_cases if c.status == "needs_triage"]
    open_rows = sorted((rows[c.reference] for c in open_cases), key=_open_order)
    by_agency = _by_agency(open_cases, today, cal, ts)
    sent_rows = _sent_rows(sent, start, end)

    counts: dict[str, int] = {
        "open": len(open_rows),
        "new": len(new),
        "triage": len(triage),
        "outstanding_returns": sum(len(refs) for _, refs in by_agency),
        "sent_yesterday": len(sent_rows),
    }
    for colour in RAG_ORDER:
        counts[colour] = sum(1 for r in open_rows if r.rag == colour)
    for c in open_cases:
        counts[f"status_{c.status}"] = counts.get(f"status_{c.status}", 0) + 1

    logger.debug(
        "digest for %s: %d open, %d new, %d in triage",
        today.isoformat(),
        counts["open"],
        counts["new"],
        counts["triage"],
    )
    return Digest(
        day=today,
        day_shown=format_date(today),
        new_referrals=new,
        triage=triage,
        open_cases=open_rows,
        outstanding_by_agency=by_agency,
        sent_yesterday=sent_rows,
        ytd=ytd_line(cases, today, cal, ts) if cases else None,
        holiday_warning=holiday_warning(today, cal),
        counts=counts,
        sent_from_shown=format_date(start.astimezone(LONDON).date()),
        amber_days=ts.amber_days,
    )


def digest_context(d: Digest) -> dict[str, Any]:
    """What the digest templates get (the renderer adds ``partnership`` and ``subject``)."""
    return {"digest": d}
