"""The digest's fast paths give what the plain ones gave (issue 15): the rows, the text, the HTML, the .ics.

The calendar keeps each working-day count it made (``WorkingCalendar.add_working_days`` and
``working_days_between``), and ``deadlines_ics`` encodes
a repeated value once and writes a repeated line once (``calendar_ics._Shared``, ``ics_bytes``). Here a
store of many cases of every kind is digested both ways, and the .ics compared with icalendar writing
every event in full, as the digest did before.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar, Event
from test_digest import render

from cspr_mailbot.core import calendar_ics, digest, workdays
from cspr_mailbot.core.calendar_ics import deadline_events, deadlines_ics, ics_bytes
from cspr_mailbot.core.clocks import Timescales
from cspr_mailbot.core.models import Agency, Case
from cspr_mailbot.core.models import Event as CaseEvent
from cspr_mailbot.core.workdays import LONDON, WorkingCalendar

TS = Timescales()
MAILBOX = "DSPPB@dudley.example.gov.uk"
PARTNERSHIP = "Dudley Safeguarding People Partnership"
# Digest days: after a weekend, in the week of Christmas (bank holidays on 25 and 28 Dec 2026), after
# the New Year's holiday.
DAYS = [
    datetime(2026, 11, 30, 8, 0, tzinfo=LONDON),
    datetime(2026, 12, 23, 9, 30, tzinfo=LONDON),
    datetime(2027, 1, 4, 8, 0, tzinfo=LONDON),
]
AGENCIES = [
    "West Midlands Police",
    "Black Country Healthcare NHS Foundation Trust, Safeguarding Children and Young People Team",
    "Dudley Children's Services",
    "Ysgol Gymraeg; Gwasanaethau Plant \\ Addysg",  # escaped in the .ics: ';' and '\'
    "Services à l'enfance, Ñandú Zoë Œuvre",  # not ASCII: folded by octets, not characters
]
CHILDREN = [
    "Jessica Amelia Smith-Brown",
    "Zoë Ødegård",
    "Łukasz Żółć",
    "Tom",
    "",
    "Ana-María Núñez",
]
STATUSES = [
    "needs_triage",
    "referral_received",
    "rapid_review",
    "cspr",
    "learning_review",
    "closed",
]


def _day(rng: random.Random, start: date, days: int) -> date:
    return start + timedelta(days=rng.randrange(days))


def many_cases(n: int = 220, seed: int = 15) -> list[Case]:
    """Cases of every status, with and without their dates, agencies asked, returned and not."""
    rng = random.Random(seed)
    out = []
    for i in range(1, n + 1):
        received = _day(rng, date(2026, 10, 1), 95)
        at = datetime.combine(received, datetime.min.time(), tzinfo=LONDON) + timedelta(
            hours=rng.randrange(7, 19), minutes=rng.randrange(60)
        )
        status = rng.choice(STATUSES)
        aware = received - timedelta(days=rng.randrange(0, 6)) if rng.random() < 0.6 else None
        notified = received + timedelta(days=rng.randrange(1, 8)) if rng.random() < 0.5 else None
        decision = decision_date = completed = None
        if status in ("cspr", "learning_review") or (status == "closed" and rng.random() < 0.5):
            decision = status if status != "closed" else rng.choice(["no_review", "cspr"])
            decision_date = received + timedelta(days=rng.randrange(10, 25))
            if rng.random() < 0.2:
                completed = decision_date + timedelta(days=rng.randrange(60, 200))
        agencies = []
        for name in rng.sample(AGENCIES, rng.randrange(0, 4)):
            requested = (
                received + timedelta(days=rng.randrange(0, 4)) if rng.random() < 0.8 else None
            )
            due = None
            if requested is not None and rng.random() < 0.7:
                due = requested + timedelta(days=rng.randrange(5, 10))
            returned = None
            if requested is not None and rng.random() < 0.4:
                returned = requested + timedelta(days=rng.randrange(1, 12))
            agencies.append(
                Agency(
                    name, f"a{i}@example.org", requested_on=requested, due=due, returned_on=returned
                )
            )
        events = tuple(
            CaseEvent(at + timedelta(hours=k * rng.randrange(1, 40)), "sent")
            for k in range(rng.randrange(0, 7))
        )
        child = rng.choice(CHILDREN)
        out.append(
            Case(
                reference=f"DSPP-2026-{i:04d}",
                status=status,  # type: ignore[arg-type]
                received_at=at,
                received_on=received,
                referral={"child_name": child} if child else {},
                agencies=tuple(agencies),
                events=events,
                aware_date=aware,
                notified_date=notified,
                decision=decision,
                decision_date=decision_date,
                completed_on=completed,
                closed_on=received + timedelta(days=30) if status == "closed" else None,
            )
        )
    return out


CASES = many_cases()
SENT = [
    {
        "case_reference": c.reference,
        "subject": f"OFFICIAL-SENSITIVE [{c.reference}] Initial Scoping request, {k}",
        "to": ["p@example.org", "coordinator@example.gov.uk"],
        "cc": ["coordinator@example.gov.uk"],
        # 9 to 20 hours before one of the digests: in its "sent yesterday" window
        "sent_at": (DAYS[k % 3] - timedelta(hours=9 + k % 12)).astimezone(UTC).isoformat(),
    }
    for k, c in enumerate(CASES[:60])
]
FAILED = [{**SENT[0], "failed_at": SENT[0]["sent_at"], "last_error": "550 no such user"}]


def build(now: datetime, cal: WorkingCalendar, since: datetime | None = None) -> digest.Digest:
    return digest.build_digest(
        CASES,
        SENT,
        now,
        cal,
        TS,
        since,
        coordinators=["coordinator@example.gov.uk"],
        undelivered=FAILED,
        mailbox=MAILBOX,
        partnership=PARTNERSHIP,
    )


def uncounted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain path: every working day counted again each time it is asked."""
    monkeypatch.setattr(WorkingCalendar, "add_working_days", WorkingCalendar._count_forward)
    monkeypatch.setattr(WorkingCalendar, "working_days_between", WorkingCalendar._count_between)


def reference_ics(cases: list[Case], cal: WorkingCalendar, now: datetime) -> bytes:
    """deadlines.ics as the digest wrote it before issue 15: icalendar encodes and writes every line."""
    ics = Calendar()
    ics.add("prodid", calendar_ics._PRODID)
    ics.add("version", "2.0")
    ics.add("calscale", "GREGORIAN")
    ics.add("method", "PUBLISH")
    ics.add("x-wr-calname", f"{PARTNERSHIP}: CSPR deadlines")
    stamp = now.astimezone(UTC).replace(microsecond=0)
    for item in deadline_events(cases, cal, TS, mailbox=MAILBOX):
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp)
        event.add("last-modified", item.last_modified)
        event.add("sequence", item.sequence)
        event.add("summary", item.summary)
        event.add("description", item.description)
        event.add("dtstart", item.due)
        event.add("dtend", item.due + timedelta(days=1))
        event.add("transp", "TRANSPARENT")
        event.add("categories", ["CSPR deadline"])
        event.add("x-microsoft-cdo-alldayevent", "TRUE")
        event.add("x-microsoft-cdo-busystatus", "FREE")
        ics.add_component(event)
    data: bytes = ics.to_ical()
    return data


def test_the_store_has_every_kind_of_row() -> None:
    """The comparisons below are only as good as the cases: every colour, status and kind of event."""
    d = build(DAYS[1], WorkingCalendar())
    assert {r.rag for r in d.open_cases} == set(digest.RAG_ORDER)
    assert {r.status for r in d.open_cases} == set(STATUSES) - {"closed"}
    assert any(r.provisional for r in d.open_cases) and any(not r.provisional for r in d.open_cases)
    assert d.outstanding_by_agency and d.triage and d.new_referrals and d.sent_yesterday
    assert d.calendar is not None
    uids = {
        e.uid.split("@")[0].split("-", 3)[3]
        for e in deadline_events(CASES, WorkingCalendar(), TS, mailbox=MAILBOX)
    }
    assert {"sin", "rapid-review", "review"} <= uids and any(u.startswith("scoping-") for u in uids)
    assert any(line.startswith(b" ") for line in d.calendar.data.split(b"\r\n"))  # folded lines


@pytest.mark.parametrize("now", DAYS, ids=lambda d: d.date().isoformat())
@pytest.mark.parametrize(
    "closures", [(), (date(2026, 12, 24), date(2026, 12, 29), date(2027, 1, 5))]
)
def test_the_digest_is_what_the_plain_count_gives(
    now: datetime, closures: tuple[date, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    since = now - timedelta(days=3)
    fast = build(now, WorkingCalendar(closures), since)
    uncounted(monkeypatch)
    plain = build(now, WorkingCalendar(closures), since)
    assert fast == plain  # every row, count, word and the .ics bytes
    for template in ("digest.txt", "digest.html"):
        assert render(template, fast) == render(template, plain)


def test_each_digest_counts_afresh() -> None:
    """The count is kept for one digest: a digest on a calendar with closures counts with them."""
    before = build(DAYS[1], WorkingCalendar())
    closures = tuple(date(2026, 12, 1) + timedelta(days=k) for k in range(40))
    after = build(DAYS[1], WorkingCalendar(closures))
    assert [r.days_left for r in after.open_cases] != [r.days_left for r in before.open_cases]
    assert build(DAYS[1], WorkingCalendar()) == before


def test_kept_counts_answer_as_counting_does(monkeypatch: pytest.MonkeyPatch) -> None:
    cal = WorkingCalendar([date(2026, 12, 24), date(2027, 4, 1)])
    days = [date(2026, 12, 1) + timedelta(days=k) for k in range(0, 150, 3)]
    for _ in range(2):  # the second time from what was kept
        for d in days:
            for n in (-15, -5, -1, 0, 1, 5, 15, 24):
                assert cal.add_working_days(d, n) == cal._count_forward(d, n), (d, n)
            for e in days[::7]:
                assert cal.working_days_between(d, e) == cal._count_between(d, e)
    kept = (cal._forward.cache_info(), cal._counted.cache_info())
    assert all(info.currsize and info.hits for info in kept)  # made once, then answered kept
    monkeypatch.setattr(workdays, "_COUNTS_KEPT", 5)  # a calendar keeps so many counts at most
    cal = WorkingCalendar([date(2026, 12, 24), date(2027, 4, 1)])
    later = date(2027, 9, 1)
    for d in days[:12]:  # each a new count to keep
        assert cal.add_working_days(d, 33) == cal._count_forward(d, 33)
        assert cal.working_days_between(d, later) == cal._count_between(d, later)
        sizes = (cal._forward.cache_info().currsize, cal._counted.cache_info().currsize)
        assert all(1 <= size <= 5 for size in sizes), sizes


@pytest.mark.parametrize("now", DAYS, ids=lambda d: d.date().isoformat())
def test_the_ics_is_what_icalendar_writes_in_full(now: datetime) -> None:
    cal = WorkingCalendar([date(2026, 12, 24)])
    data = deadlines_ics(CASES, cal=cal, ts=TS, now=now, mailbox=MAILBOX, partnership=PARTNERSHIP)
    assert data == reference_ics(CASES, cal, now)
    counted = deadlines_ics(  # the counts from what the calendar kept the first time
        CASES,
        cal=cal,
        ts=TS,
        now=now,
        mailbox=MAILBOX,
        partnership=PARTNERSHIP,
    )
    assert counted == data


def test_shared_values_are_kept_for_one_calendar() -> None:
    """A value encoded once is shared within one file only: the next file has its own stamp."""
    cal = WorkingCalendar()
    one = deadlines_ics(
        CASES, cal=cal, ts=TS, now=DAYS[0], mailbox=MAILBOX, partnership=PARTNERSHIP
    )
    two = deadlines_ics(
        CASES, cal=cal, ts=TS, now=DAYS[1], mailbox=MAILBOX, partnership=PARTNERSHIP
    )
    assert b"DTSTAMP:20261130T080000Z" in one and b"DTSTAMP:20261130" not in two
    assert b"DTSTAMP:20261223T093000Z" in two
    assert two == reference_ics(CASES, cal, DAYS[1])


def _text_event(i: int, summary: str, description: str) -> Event:
    event = Event()
    event.add("uid", f"u{i}@example.org")
    event.add("summary", summary)
    event.add("description", description)
    event.add("dtstart", date(2026, 12, 1) + timedelta(days=i % 3))
    event.add("sequence", i % 2)
    return event


@pytest.mark.parametrize(
    "unit", ["a", "é", "€", "😀", ",", ";", "\\", "^", "a\\", "é,"], ids=lambda u: repr(u)
)
def test_ics_bytes_folds_every_line_as_icalendar_does(unit: str) -> None:
    """Lines from well under to well over 75 octets, with escapes and many-octet characters at the fold."""
    ics = Calendar()
    ics.add("prodid", calendar_ics._PRODID)
    for length in range(55, 160):
        body = ("x" * length + unit * 40)[: length + len(unit) * 3]
        ics.add_component(_text_event(length, body, unit * (length // len(unit))))
        ics.add_component(_text_event(length + 1000, "s", "t"))  # a short line between
    assert ics_bytes(ics) == ics.to_ical()


def test_ics_bytes_of_an_empty_calendar_and_of_one_event() -> None:
    assert ics_bytes(Calendar()) == Calendar().to_ical()
    event = _text_event(1, "x" * 200, "")
    assert ics_bytes(event) == event.to_ical()


def _sizes(data: bytes) -> dict[str, Any]:
    lines = data.split(b"\r\n")
    return {"lines": len(lines), "longest": max(len(x) for x in lines)}


def test_no_line_is_longer_than_the_rfc_allows() -> None:
    d = build(DAYS[0], WorkingCalendar())
    assert d.calendar is not None
    assert _sizes(d.calendar.data)["longest"] <= 75
