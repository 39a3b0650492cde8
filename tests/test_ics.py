"""deadlines.ics (SPEC 6, core/calendar_ics.py): one all-day event per open deadline, UIDs that stay put."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from icalendar import Calendar

from cspr_mailbot.core.calendar_ics import (
    ICS_FILENAME,
    deadline_events,
    deadlines_ics,
    ics_attachment,
)
from cspr_mailbot.core.clocks import Timescales
from cspr_mailbot.core.models import Agency, Case, Event
from cspr_mailbot.core.workdays import LONDON, WorkingCalendar

CAL = WorkingCalendar()
TS = Timescales()
MAILBOX = "DSPPB@dudley.example.gov.uk"
PARTNERSHIP = "Dudley Safeguarding People Partnership"
CHILD = "Jessica Amelia Smith-Brown"
DOB = "2019-05-04"
ADDRESS = "1 High Street, Dudley"
DAY1 = datetime(2026, 12, 3, 8, 0, tzinfo=LONDON)
DAY2 = datetime(2026, 12, 4, 8, 0, tzinfo=LONDON)


def make_case(reference: str, status: str = "rapid_review", **kw: Any) -> Case:
    at = datetime(2026, 11, 27, 10, 0, tzinfo=LONDON)
    base: dict[str, Any] = {
        "reference": reference,
        "status": status,
        "received_at": at,
        "received_on": date(2026, 11, 27),
        "referral": {"child_name": CHILD, "child_dob": DOB, "child_address": ADDRESS},
        "events": (Event(at.isoformat(), "referral"), Event("2026-11-30T09:05:00+00:00", "sent")),
    }
    base.update(kw)
    return Case(**base)


CASES = [
    # No aware date, no SIN: SIN and Rapid Review both provisional; two scoping requests, one returned.
    make_case(
        "DSPP-2026-0001",
        agencies=(
            Agency("West Midlands Police", requested_on=date(2026, 11, 30), due=date(2026, 12, 7)),
            Agency(
                "Black Country Healthcare",
                requested_on=date(2026, 11, 30),
                due=date(2026, 12, 7),
                returned_on=date(2026, 12, 2),
                scoping={"chronology": []},
            ),
            Agency("Dudley Council Education"),  # not requested: no deadline
        ),
    ),  # fmt: skip
    # SIN made and decided: only the review is open; the outstanding scoping request is chased no more.
    make_case(
        "DSPP-2026-0002",
        status="cspr",
        aware_date=date(2026, 11, 27),
        notified_date=date(2026, 11, 30),
        decision="cspr",
        decision_date=date(2026, 12, 1),
        agencies=(
            Agency("West Midlands Police", requested_on=date(2026, 11, 30), due=date(2026, 12, 7)),
        ),
    ),
    # SIN made, no decision: the Rapid Review counts from the SIN date, no longer provisional.
    make_case("DSPP-2026-0003", aware_date=date(2026, 11, 26), notified_date=date(2026, 11, 27)),
    # Closed: nothing.
    make_case("DSPP-2026-0004", status="closed", closed_on=date(2026, 12, 1)),
]

EXPECTED_UIDS = {
    "DSPP-2026-0001-sin@dudley.example.gov.uk",
    "DSPP-2026-0001-rapid-review@dudley.example.gov.uk",
    "DSPP-2026-0001-scoping-west-midlands-police@dudley.example.gov.uk",
    "DSPP-2026-0002-review@dudley.example.gov.uk",
    "DSPP-2026-0003-rapid-review@dudley.example.gov.uk",
}


def build(now: datetime, cases: list[Case] = CASES) -> bytes:
    return deadlines_ics(cases, cal=CAL, ts=TS, now=now, mailbox=MAILBOX, partnership=PARTNERSHIP)


def vevents(data: bytes) -> dict[str, Any]:
    cal = Calendar.from_ical(data)
    events = cal.walk("VEVENT")
    uids = [str(e["UID"]) for e in events]
    assert len(uids) == len(set(uids)), "one VEVENT per UID"
    return {str(e["UID"]): e for e in events}


def test_one_all_day_event_per_open_deadline() -> None:
    data = build(DAY1)
    cal = Calendar.from_ical(data)
    assert str(cal["VERSION"]) == "2.0" and str(cal["METHOD"]) == "PUBLISH"
    assert str(cal["PRODID"]).startswith("-//cspr-mailbot//")
    events = vevents(data)
    assert set(events) == EXPECTED_UIDS
    for event in events.values():
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert type(start) is date and end == start + timedelta(days=1)  # all-day
        assert str(event["TRANSP"]) == "TRANSPARENT"
        assert event.decoded("DTSTAMP") == DAY1.astimezone(UTC)
    due = {uid.split("@")[0]: events[uid].decoded("DTSTART") for uid in events}
    assert due == {
        "DSPP-2026-0001-sin": date(2026, 12, 4),  # 5 wd from receipt Fri 27 Nov (provisional)
        "DSPP-2026-0001-rapid-review": date(2026, 12, 18),  # 15 wd from receipt (provisional)
        "DSPP-2026-0001-scoping-west-midlands-police": date(2026, 12, 7),
        "DSPP-2026-0002-review": date(2027, 6, 1),  # 6 months from the decision
        "DSPP-2026-0003-rapid-review": date(2026, 12, 18),  # 15 wd from the SIN date Fri 27 Nov
    }


def test_the_summary_says_what_is_due_and_when_it_is_provisional() -> None:
    events = vevents(build(DAY1))
    summary = {uid.split("@")[0]: str(e["SUMMARY"]) for uid, e in events.items()}
    assert summary["DSPP-2026-0001-sin"] == "DSPP-2026-0001: SIN due (provisional)"
    assert summary["DSPP-2026-0001-rapid-review"] == (
        "DSPP-2026-0001: Rapid Review decision due (provisional)"
    )
    assert summary["DSPP-2026-0003-rapid-review"] == "DSPP-2026-0003: Rapid Review decision due"
    assert summary["DSPP-2026-0001-scoping-west-midlands-police"] == (
        "DSPP-2026-0001: scoping return due from West Midlands Police"
    )
    assert str(events["DSPP-2026-0001-sin@dudley.example.gov.uk"]["DESCRIPTION"]).startswith(
        "Case DSPP-2026-0001, child J.A.S.B."
    )


def test_two_builds_on_different_days_update_rather_than_double() -> None:
    one, two = vevents(build(DAY1)), vevents(build(DAY2))
    assert set(one) == set(two) == EXPECTED_UIDS
    for uid in one:
        a, b = one[uid], two[uid]
        assert a.decoded("DTSTAMP") != b.decoded("DTSTAMP")
        for prop in ("SEQUENCE", "LAST-MODIFIED", "DTSTART", "DTEND", "SUMMARY", "DESCRIPTION"):
            assert a.decoded(prop) == b.decoded(prop), (uid, prop)
    first = one["DSPP-2026-0001-sin@dudley.example.gov.uk"]
    assert first.decoded("SEQUENCE") == 2
    assert first.decoded("LAST-MODIFIED") == datetime(2026, 11, 30, 9, 5, tzinfo=UTC)


def test_a_moved_deadline_keeps_its_uid_with_a_higher_sequence() -> None:
    case = CASES[0]
    told = replace(case, aware_date=date(2026, 11, 25)).with_event(
        DAY2, "command", "aware: 2026-11-25"
    )
    before = vevents(build(DAY1, [case]))["DSPP-2026-0001-sin@dudley.example.gov.uk"]
    after = vevents(build(DAY2, [told]))["DSPP-2026-0001-sin@dudley.example.gov.uk"]
    assert before.decoded("DTSTART") == date(2026, 12, 4)
    assert after.decoded("DTSTART") == date(2026, 12, 2)
    assert str(after["SUMMARY"]) == "DSPP-2026-0001: SIN due"  # no longer provisional
    assert after.decoded("SEQUENCE") > before.decoded("SEQUENCE")
    assert after.decoded("LAST-MODIFIED") > before.decoded("LAST-MODIFIED")


def test_met_deadlines_and_closed_cases_have_no_event() -> None:
    uids = {e.uid for e in deadline_events(CASES, CAL, TS, mailbox=MAILBOX)}
    assert not any(u.startswith("DSPP-2026-0004") for u in uids)  # closed
    assert "DSPP-2026-0002-sin@dudley.example.gov.uk" not in uids  # SIN made
    assert "DSPP-2026-0002-rapid-review@dudley.example.gov.uk" not in uids  # decided
    assert not any("black-country" in u for u in uids)  # returned
    assert not any("education" in u for u in uids)  # never requested
    assert vevents(build(DAY1, [])) == {}


def test_the_calendar_never_names_the_child() -> None:
    data = build(DAY1)
    unfolded = data.replace(b"\r\n ", b"").decode("utf-8").lower()
    for secret in (
        CHILD,
        *CHILD.split(),
        *CHILD.replace("-", " ").split(),
        DOB,
        ADDRESS,
        "dudley,",
    ):
        assert secret.lower() not in unfolded, secret
    assert "j.a.s.b." in unfolded


def test_the_digest_attachment() -> None:
    att = ics_attachment(CASES, cal=CAL, ts=TS, now=DAY1, mailbox=MAILBOX, partnership=PARTNERSHIP)
    assert att.filename == ICS_FILENAME == "deadlines.ics"
    assert att.content_type.startswith("text/calendar")
    assert set(vevents(att.data)) == EXPECTED_UIDS
    assert f"X-WR-CALNAME:{PARTNERSHIP}: CSPR deadlines".encode() in att.data.replace(b"\r\n ", b"")
