"""The coordinators' daily digest (SPEC 6): cases, deadlines and yesterday's mail -> a Digest value.

Pure: ``now`` is given, the cases and the outbox records are handed in, and the templates
``digest.txt`` / ``digest.html`` turn the result into mail. Rows name the child by initials only.
The digest carries ``deadlines.ics`` (``calendar_ics``), the mail refused for good (``undelivered``),
what was sent yesterday and to whom, and the year to date from ``report`` (the one definition).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from .calendar_ics import ics_attachment
from .clocks import Timescales, agency_key, days_left, rag
from .deadlines import agency_due, case_deadlines, next_deadline
from .models import Case, OutAttachment
from .report import DEFAULT_YEAR_START, ytd_line
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
# The marking and the [REF] tag at the start of a subject: the rows show what comes after them.
_SUBJECT_TAG = re.compile(r"^.*?\[[A-Z][A-Z0-9]*-\d{4}-\d+\]\s*")


def left_words(left: int | None) -> str:
    """Working days left in words: ``3 working days left``, ``due today``, ``12 working days overdue``."""
    if left is None:
        return ""
    if left == 0:
        return "due today"
    n = abs(left)
    days = f"{n} working day{'' if n == 1 else 's'}"
    return f"{days} overdue" if left < 0 else f"{days} left"


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
    provisional: bool = (
        False  # the deadline counts from the receipt date until the real start is known
    )

    @property
    def left_shown(self) -> str:
        """``days_left`` in words (never ``-12 working day(s) left``)."""
        return left_words(self.days_left)

    @property
    def label_shown(self) -> str:
        """The deadline's name, marked when it is provisional."""
        return self.next_label + (" (provisional)" if self.provisional else "")

    @property
    def status_shown(self) -> str:
        return STATUS_WORDS.get(self.status, self.status.replace("_", " "))

    @property
    def rag_word(self) -> str:
        """The RAG in words, for plain text and for readers who cannot tell the colours apart."""
        return RAG_WORDS[self.rag]


@dataclass(frozen=True)
class MailRow:
    """One message in the digest: when, the case, what was sent (its subject less marking and tag), to whom.

    ``reason`` is the server's refusal, for undelivered mail.
    """

    time: str
    reference: str
    what: str
    to: str
    reason: str = ""


@dataclass(frozen=True)
class Digest:
    day: date
    day_shown: str
    new_referrals: list[DigestRow]  # received since the last digest, oldest first
    triage: list[DigestRow]  # status needs_triage, oldest first
    open_cases: list[DigestRow]  # triage first, then red, amber, green, none, then by due date
    outstanding_by_agency: list[
        tuple[str, list[tuple[str, str, int, str]]]
    ]  # agency -> (ref, due, left, left in words)
    sent_yesterday: list[MailRow]
    ytd: str | None  # report.ytd_line; None when there are no cases at all
    holiday_warning: str | None
    counts: dict[str, int]
    sent_from_shown: str = ""  # the first day of the "sent yesterday" window, for the heading
    amber_days: int = 2  # Timescales.amber_days, for the key under the table
    undelivered: list[MailRow] = field(default_factory=list)  # refused for good, not sent again yet
    calendar: OutAttachment | None = None  # deadlines.ics, when the mailbox is known


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
    provisional = False
    if found is None:
        label, due, left, colour = "", None, None, "none"
    else:
        label, due = found
        left = days_left(due, today, cal)
        colour = rag(due, today, cal, ts)
        provisional = _provisional(case, label, due, cal, ts)
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
        provisional=provisional,
    )


def _provisional(case: Case, label: str, due: date, cal: WorkingCalendar, ts: Timescales) -> bool:
    """Whether the SIN or Rapid Review deadline shown counts from the receipt date (SPEC 2)."""
    dl = case_deadlines(case, cal, ts)
    for attr, name in (("sin", "SIN"), ("rapid_review", "Rapid Review decision")):
        d = getattr(dl, attr)
        if label == name and d is not None and d.due == due:
            return bool(d.provisional)
    return False


def _open_order(row: DigestRow) -> tuple[int, int, date, str]:
    return (
        0 if row.status == "needs_triage" else 1,
        RAG_ORDER[row.rag],
        row.next_due or date.max,
        row.reference,
    )


def _by_agency(
    cases: list[Case], today: date, cal: WorkingCalendar, ts: Timescales
) -> list[tuple[str, list[tuple[str, str, int, str]]]]:
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
        shown = []
        for due, ref in sorted(rows):
            left = days_left(due, today, cal)
            shown.append((ref, format_date(due), left, left_words(left)))
        out.append((name, shown))
    return out


def _get(record: Any, name: str) -> Any:
    """A field of an outbox record: a dict from the store today, a typed record tomorrow."""
    return record.get(name) if isinstance(record, dict) else getattr(record, name, None)


def _stamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        return _instant(value)
    return None


def _who(to: Iterable[str], cc: Iterable[str], coordinators: Sequence[str]) -> str:
    """The recipients, the coordinators named as such: ``pvp@x.org, cc the coordinators``."""
    team = {c.lower() for c in coordinators}

    def names(addresses: Iterable[str]) -> list[str]:
        out: list[str] = []
        for addr in addresses:
            shown = "the coordinators" if addr.lower() in team else addr
            if shown not in out:
                out.append(shown)
        return out

    parts = ", ".join(names(to))
    copied = names(cc)
    if copied:
        parts += (", " if parts else "") + "cc " + ", ".join(copied)
    return parts


def _row(record: Any, at: datetime, coordinators: Sequence[str], reason: str = "") -> MailRow:
    local = at.astimezone(LONDON)
    subject = str(_get(record, "subject") or "")
    return MailRow(
        time=f"{format_date(local.date())[:3]} {local:%H:%M}",
        reference=str(_get(record, "case_reference") or ""),
        what=_SUBJECT_TAG.sub("", subject) or subject,
        to=_who(_get(record, "to") or (), _get(record, "cc") or (), coordinators),
        reason=reason,
    )


def _sent_rows(
    sent: Iterable[Any], start: datetime, end: datetime, coordinators: Sequence[str]
) -> list[MailRow]:
    rows = []
    for record in sent:
        at = _stamp(_get(record, "sent_at"))
        if at is None or not start <= at < end:
            continue  # queued but not sent, or outside the window
        rows.append((at, _row(record, at, coordinators)))
    rows.sort(key=lambda r: r[0])
    return [r[1] for r in rows]


def undelivered_rows(records: Iterable[Any], coordinators: Sequence[str] = ()) -> list[MailRow]:
    """Mail the server refused for good (outbox records with ``failed_at``), oldest first (SPEC 5)."""
    rows = []
    for record in records:
        at = _stamp(_get(record, "failed_at"))
        if at is None:
            continue
        reason = str(_get(record, "last_error") or "")
        rows.append((at, _row(record, at, coordinators, reason)))
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
    sent: Sequence[Any],
    now: datetime,
    cal: WorkingCalendar,
    ts: Timescales,
    since: datetime | None,
    *,
    year_start: tuple[int, int] = DEFAULT_YEAR_START,
    coordinators: Sequence[str] = (),
    undelivered: Sequence[Any] = (),
    mailbox: str = "",
    partnership: str = "",
) -> Digest:
    """The digest for the London day of ``now``.

    ``cases`` may include closed cases (they count as new referrals if they arrived since the last
    digest, but are not listed as open). ``sent`` is the outbox records for ``yesterday_window``;
    records outside it or not sent are left out. ``since`` is when the last digest went; with no
    digest before, referrals received since the start of the previous working day are new.
    ``undelivered`` is the outbox records refused for good; ``coordinators`` lets rows say "the
    coordinators" rather than list them; with ``mailbox`` the digest carries ``deadlines.ics``.
    """
    local = _aware(now, "build_digest").astimezone(LONDON)
    today = local.date()
    start, end = yesterday_window(now, cal)
    after = _aware(since, "build_digest since") if since is not None else start

    arrivals = sorted(
        ((_instant(c.received_at), c) for c in cases), key=lambda a: (a[0], a[1].reference)
    )
    open_cases = [c for _, c in arrivals if c.status != "closed"]
    # A row for each case the digest lists: the open ones and the new ones (a closed case only when new).
    rows = {
        id(c): digest_row(c, today, cal, ts)
        for at, c in arrivals
        if c.status != "closed" or at > after
    }
    new = [rows[id(c)] for at, c in arrivals if at > after]
    triage = [rows[id(c)] for c in open_cases if c.status == "needs_triage"]
    open_rows = sorted((rows[id(c)] for c in open_cases), key=_open_order)
    by_agency = _by_agency(open_cases, today, cal, ts)
    sent_rows = _sent_rows(sent, start, end, coordinators)
    refused = undelivered_rows(undelivered, coordinators)

    counts: dict[str, int] = {
        "open": len(open_rows),
        "new": len(new),
        "triage": len(triage),
        "outstanding_returns": sum(len(refs) for _, refs in by_agency),
        "sent_yesterday": len(sent_rows),
        "undelivered": len(refused),
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
        ytd=ytd_line(cases, today, cal, ts, year_start) if cases else None,
        holiday_warning=holiday_warning(today, cal),
        counts=counts,
        sent_from_shown=format_date(start.astimezone(LONDON).date()),
        amber_days=ts.amber_days,
        undelivered=refused,
        calendar=ics_attachment(
            cases, cal=cal, ts=ts, now=now, mailbox=mailbox, partnership=partnership
        )
        if mailbox
        else None,
    )


def digest_context(d: Digest) -> dict[str, Any]:
    """What the digest templates get (the renderer adds ``partnership`` and ``subject``)."""
    return {"digest": d}
