"""The statutory deadlines (SPEC 2) and the reminder schedule (SPEC 5), as tables of dates."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from cspr_mailbot.core.clocks import (
    AgencyDates,
    CaseDates,
    Deadline,
    Deadlines,
    Reminder,
    Timescales,
    days_left,
    deadlines,
    due_reminders,
    rag,
    scoping_due,
)
from cspr_mailbot.core.workdays import WorkingCalendar

CAL = WorkingCalendar()
CLOSED = WorkingCalendar(closures=[date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)])
TS = Timescales()


def case(
    received_on: date = date(2026, 11, 30),
    la_aware_date: date | None = None,
    notified_date: date | None = None,
    decision: str | None = None,
    decision_date: date | None = None,
    completed_on: date | None = None,
    closed: bool = False,
    agencies: tuple[AgencyDates, ...] = (),
) -> CaseDates:
    return CaseDates(
        received_on=received_on,
        la_aware_date=la_aware_date,
        notified_date=notified_date,
        decision=decision,
        decision_date=decision_date,
        completed_on=completed_on,
        closed=closed,
        agencies=agencies,
    )


def run_daily(
    c: CaseDates,
    start: date,
    end: date,
    cal: WorkingCalendar = CAL,
    ts: Timescales = TS,
) -> list[tuple[date, str]]:
    """Call due_reminders every day from start to end, as the daemon does, sending each key once."""
    sent: set[str] = set()
    log: list[tuple[date, str]] = []
    day = start
    while day <= end:
        for r in due_reminders(c, day, cal, ts):
            assert r.on <= day
            if r.key not in sent:
                sent.add(r.key)
                log.append((day, r.key))
        day += timedelta(days=1)
    return log


# --- deadlines --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("c", "cal", "expected"),
    [
        # Nothing known but the receipt date: SIN and Rapid Review both provisional.
        # SPEC 2's example: 5 working days from Wed 23 Dec 2026 is Mon 4 Jan 2027.
        (
            case(received_on=date(2026, 12, 23)),
            CAL,
            Deadlines(
                sin=Deadline(date(2027, 1, 4), provisional=True, met_on=None),
                rapid_review=Deadline(date(2027, 1, 18), provisional=True, met_on=None),
                review=None,
            ),
        ),
        # The same with SPEC 9's closures (29-31 Dec 2026).
        (
            case(received_on=date(2026, 12, 23)),
            CLOSED,
            Deadlines(
                sin=Deadline(date(2027, 1, 7), provisional=True, met_on=None),
                rapid_review=Deadline(date(2027, 1, 21), provisional=True, met_on=None),
                review=None,
            ),
        ),
        # LA aware Mon 21 Dec, SIN sent Thu 24 Dec: SIN from awareness, Rapid Review from the SIN.
        (
            case(
                received_on=date(2026, 12, 23),
                la_aware_date=date(2026, 12, 21),
                notified_date=date(2026, 12, 24),
            ),
            CAL,
            Deadlines(
                sin=Deadline(date(2026, 12, 30), provisional=False, met_on=date(2026, 12, 24)),
                rapid_review=Deadline(date(2027, 1, 19), provisional=False, met_on=None),
                review=None,
            ),
        ),
        # A CSPR decided on a month-end: 6 calendar months later is the last day of February.
        (
            case(
                received_on=date(2026, 8, 3),
                la_aware_date=date(2026, 7, 31),
                notified_date=date(2026, 8, 6),
                decision="cspr",
                decision_date=date(2026, 8, 31),
            ),
            CAL,
            Deadlines(
                sin=Deadline(date(2026, 8, 7), provisional=False, met_on=date(2026, 8, 6)),
                # 15 working days from Thu 6 Aug 2026, from the SIN date.
                rapid_review=Deadline(date(2026, 8, 27), False, met_on=date(2026, 8, 31)),
                review=Deadline(date(2027, 2, 28), provisional=False, met_on=None),
            ),
        ),
        # A learning review: 3 months; completed.
        (
            case(
                received_on=date(2026, 8, 3),
                decision="learning_review",
                decision_date=date(2026, 8, 31),
                completed_on=date(2026, 11, 20),
            ),
            CAL,
            Deadlines(
                sin=Deadline(date(2026, 8, 10), provisional=True, met_on=None),
                rapid_review=Deadline(date(2026, 8, 24), True, met_on=date(2026, 8, 31)),
                review=Deadline(date(2026, 11, 30), provisional=False, met_on=date(2026, 11, 20)),
            ),
        ),
        # No review: no review deadline.
        (
            case(
                received_on=date(2026, 8, 3), decision="no_review", decision_date=date(2026, 8, 20)
            ),
            CAL,
            Deadlines(
                sin=Deadline(date(2026, 8, 10), provisional=True, met_on=None),
                rapid_review=Deadline(date(2026, 8, 24), True, met_on=date(2026, 8, 20)),
                review=None,
            ),
        ),
    ],
)
def test_deadlines(c: CaseDates, cal: WorkingCalendar, expected: Deadlines) -> None:
    assert deadlines(c, cal, TS) == expected


def test_a_leap_year_review_and_a_decision_without_a_date() -> None:
    c = case(received_on=date(2027, 8, 2), decision="cspr", decision_date=date(2027, 8, 31))
    review = deadlines(c, CAL, TS).review
    assert review is not None and review.due == date(2028, 2, 29)
    assert deadlines(replace(c, decision_date=None), CAL, TS).review is None


def test_deadlines_as_json() -> None:
    d = deadlines(case(received_on=date(2026, 12, 23)), CAL, TS)
    assert d.as_json() == {"sin": "2027-01-04", "rapid_review": "2027-01-18", "review": None}
    c = case(received_on=date(2026, 8, 3), decision="cspr", decision_date=date(2026, 8, 31))
    assert deadlines(c, CAL, TS).as_json()["review"] == "2027-02-28"


def test_configured_timescales_change_the_clocks() -> None:
    ts = Timescales(sin_days=3, rapid_review_days=10, cspr_months=4, scoping_days=10)
    c = case(received_on=date(2026, 12, 23), decision="cspr", decision_date=date(2026, 10, 30))
    d = deadlines(c, CAL, ts)
    assert d.sin is not None and d.sin.due == date(2026, 12, 30)
    assert d.rapid_review is not None and d.rapid_review.due == date(2027, 1, 11)
    assert d.review is not None and d.review.due == date(2027, 2, 28)
    assert scoping_due(date(2026, 12, 23), CAL, ts) == date(2027, 1, 11)


@pytest.mark.parametrize(
    ("requested_on", "due"),
    [
        (date(2026, 12, 1), date(2026, 12, 8)),
        (date(2026, 12, 23), date(2027, 1, 4)),
        (date(2026, 12, 5), date(2026, 12, 11)),  # sent on a Saturday: day 0 is the Saturday
        (date(2027, 12, 22), date(2027, 12, 31)),  # 23, 24, then 27 and 28 Dec are substitutes
    ],
    ids=str,
)
def test_scoping_due(requested_on: date, due: date) -> None:
    assert scoping_due(requested_on, CAL, TS) == due


def test_timescales_refuse_nonsense_naming_the_field() -> None:
    with pytest.raises(ValueError, match="sin_days"):
        Timescales(sin_days=0)
    with pytest.raises(ValueError, match="rapid_review_notice_days"):
        Timescales(rapid_review_notice_days=(10, 10))
    with pytest.raises(ValueError, match="amber_days"):
        Timescales(amber_days=-1)


# --- days left and RAG ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "today", "left", "colour"),
    [
        (date(2027, 1, 4), date(2026, 12, 23), 5, "green"),
        (date(2027, 1, 4), date(2026, 12, 29), 3, "green"),
        (date(2027, 1, 4), date(2026, 12, 30), 2, "amber"),
        (date(2027, 1, 4), date(2026, 12, 31), 1, "amber"),
        (date(2027, 1, 4), date(2027, 1, 2), 1, "amber"),  # a Saturday: Monday is left
        (date(2027, 1, 4), date(2027, 1, 4), 0, "amber"),  # due today
        (date(2027, 1, 4), date(2027, 1, 5), -1, "red"),
        (date(2027, 1, 4), date(2027, 1, 11), -5, "red"),
        # A deadline on a Saturday (a review due date can be): Friday is the last working day.
        (date(2027, 2, 27), date(2027, 2, 26), 0, "amber"),
        (date(2027, 2, 27), date(2027, 2, 27), 0, "amber"),
        (date(2027, 2, 27), date(2027, 2, 28), -1, "red"),  # passed, even on the Sunday
        (date(2027, 2, 27), date(2027, 3, 1), -1, "red"),
        (date(2027, 2, 27), date(2027, 3, 2), -2, "red"),
        # A Friday deadline seen on the Saturday after: overdue.
        (date(2027, 1, 8), date(2027, 1, 9), -1, "red"),
    ],
    ids=str,
)
def test_days_left_and_rag(deadline: date, today: date, left: int, colour: str) -> None:
    assert days_left(deadline, today, CAL) == left
    assert rag(deadline, today, CAL, TS) == colour


def test_amber_days_is_configurable() -> None:
    assert rag(date(2027, 1, 4), date(2026, 12, 30), CAL, Timescales(amber_days=1)) == "green"
    assert rag(date(2027, 1, 4), date(2026, 12, 31), CAL, Timescales(amber_days=1)) == "amber"


# --- the reminder schedule --------------------------------------------------------------------

POLICE = AgencyDates("West Midlands  Police", requested_on=date(2026, 12, 1), returned_on=None)
SCHOOL = AgencyDates("Castle High School", requested_on=date(2026, 12, 1), returned_on=None)

# LA aware and referral received Mon 30 Nov 2026; the police asked for scoping on Tue 1 Dec.
# SIN due Mon 7 Dec; Rapid Review (provisional, from receipt) due Mon 21 Dec; scoping due Tue 8 Dec.
OPEN = case(received_on=date(2026, 11, 30), la_aware_date=date(2026, 11, 30), agencies=(POLICE,))


def test_the_full_schedule_of_an_open_case() -> None:
    assert run_daily(OPEN, date(2026, 11, 30), date(2026, 12, 31)) == [
        (date(2026, 12, 3), "sin:day3"),
        (date(2026, 12, 4), "scoping:west midlands police:before"),
        (date(2026, 12, 7), "sin:day5"),
        (date(2026, 12, 8), "sin:overdue"),
        (date(2026, 12, 8), "scoping:west midlands police:due"),
        (date(2026, 12, 9), "scoping:west midlands police:after1"),
        (date(2026, 12, 11), "scoping:west midlands police:after3"),
        (date(2026, 12, 14), "rr:day10"),
        (date(2026, 12, 15), "scoping:west midlands police:after5"),
        (date(2026, 12, 17), "rr:day13"),
        (date(2026, 12, 17), "scoping:west midlands police:after7"),
        (date(2026, 12, 21), "rr:day15"),
        (date(2026, 12, 21), "scoping:west midlands police:after9"),
        (date(2026, 12, 22), "rr:overdue"),
        (date(2026, 12, 23), "scoping:west midlands police:after11"),
        # 24 Dec is after12; 25 and 28 Dec are bank holidays.
        (date(2026, 12, 29), "scoping:west midlands police:after13"),
        (date(2026, 12, 31), "scoping:west midlands police:after15"),
    ]


def test_the_schedule_with_the_christmas_closure() -> None:
    c = case(received_on=date(2026, 12, 21), la_aware_date=date(2026, 12, 21))
    # SIN due: 22, 23, 24 Dec, then (closed 29-31) 4, 5 Jan. Rapid Review (provisional): 19 Jan.
    assert run_daily(c, date(2026, 12, 21), date(2027, 1, 31), cal=CLOSED) == [
        (date(2026, 12, 24), "sin:day3"),
        (date(2027, 1, 5), "sin:day5"),
        (date(2027, 1, 6), "sin:overdue"),
        (date(2027, 1, 12), "rr:day10"),
        (date(2027, 1, 15), "rr:day13"),
        (date(2027, 1, 19), "rr:day15"),
        (date(2027, 1, 20), "rr:overdue"),
    ]


def test_reminder_details_and_labels() -> None:
    by_key = {r.key: r for r in due_reminders(OPEN, date(2026, 12, 3), CAL, TS)}
    assert by_key["sin:day3"] == Reminder(
        key="sin:day3",
        kind="sin_notice",
        on=date(2026, 12, 3),
        deadline=date(2026, 12, 7),
        label="SIN due in 2 working days",
    )
    [after1] = due_reminders(OPEN, date(2026, 12, 9), CAL, TS)[1:]
    assert after1 == Reminder(
        key="scoping:west midlands police:after1",
        kind="scoping_chaser",
        on=date(2026, 12, 9),
        deadline=date(2026, 12, 8),
        agency="West Midlands  Police",
        to_coordinators=False,
        copy_coordinators=True,
        label="Scoping return overdue by 1 working day",
    )
    later = {r.key: r for r in due_reminders(OPEN, date(2026, 12, 11), CAL, TS)}
    after3 = later["scoping:west midlands police:after3"]
    assert after3.label == "Scoping return overdue by 3 working days"
    assert not after3.copy_coordinators and not after3.to_coordinators
    assert later["sin:overdue"].label == "SIN overdue by 4 working days"
    # Without an LA-aware date the SIN clock runs from receipt, and says so.
    unknown = replace(OPEN, la_aware_date=None, agencies=())
    [sin] = due_reminders(unknown, date(2026, 12, 7), CAL, TS)
    assert sin.key == "sin:day5" and sin.deadline == date(2026, 12, 7)
    assert sin.label == "SIN due today (provisional, counted from the receipt date)"


def test_catch_up_sends_only_the_latest_of_each_series() -> None:
    # The daemon was down from 2 Dec to 16 Dec: one reminder per series, not a burst.
    c = replace(OPEN, agencies=(POLICE, SCHOOL))
    got = {r.key: r for r in due_reminders(c, date(2026, 12, 16), CAL, TS)}
    assert set(got) == {
        "sin:overdue",
        "rr:day10",
        "scoping:west midlands police:after5",
        "scoping:castle high school:after5",
    }
    assert got["rr:day10"].on == date(2026, 12, 14)
    assert got["scoping:castle high school:after5"].on == date(2026, 12, 15)
    assert got["sin:overdue"].label == "SIN overdue by 7 working days"
    # Back on the 16th, the daily run then goes on from there without replaying the skipped points.
    assert run_daily(c, date(2026, 12, 16), date(2026, 12, 18)) == [
        (date(2026, 12, 16), "sin:overdue"),
        (date(2026, 12, 16), "rr:day10"),
        (date(2026, 12, 16), "scoping:west midlands police:after5"),
        (date(2026, 12, 16), "scoping:castle high school:after5"),
        (date(2026, 12, 17), "rr:day13"),
        (date(2026, 12, 17), "scoping:west midlands police:after7"),
        (date(2026, 12, 17), "scoping:castle high school:after7"),
    ]


def test_nothing_is_sent_on_a_non_working_day() -> None:
    assert due_reminders(OPEN, date(2026, 12, 5), CAL, TS) == []  # Saturday
    assert due_reminders(OPEN, date(2026, 12, 25), CAL, TS) == []  # Christmas Day
    assert due_reminders(OPEN, date(2026, 12, 29), CLOSED, TS) == []  # a closure day
    # What fell due on Friday 4 Dec and was not sent is still returned on Monday 7 Dec.
    monday = {r.key: r.on for r in due_reminders(OPEN, date(2026, 12, 7), CAL, TS)}
    assert monday == {
        "sin:day5": date(2026, 12, 7),
        "scoping:west midlands police:before": date(2026, 12, 4),
    }


@pytest.mark.parametrize(
    ("change", "stopped"),
    [
        ({"notified_date": date(2026, 12, 3)}, {"sin"}),
        ({"decision": "no_review", "decision_date": date(2026, 12, 3)}, {"sin", "rr", "scoping"}),
        ({"decision": "cspr", "decision_date": date(2026, 12, 3)}, {"sin", "rr", "scoping"}),
        ({"closed": True}, {"sin", "rr", "scoping"}),
        ({"agencies": (replace(POLICE, returned_on=date(2026, 12, 7)),)}, {"scoping"}),
        ({"agencies": (replace(POLICE, requested_on=None),)}, {"scoping"}),
    ],
    ids=["notified", "no_review", "cspr", "closed", "returned", "not_requested"],
)
def test_stop_conditions(change: dict[str, object], stopped: set[str]) -> None:
    c = replace(OPEN, **change)  # type: ignore[arg-type]
    series = {key.split(":")[0] for _, key in run_daily(c, date(2026, 12, 8), date(2026, 12, 31))}
    assert series == {"sin", "rr", "scoping"} - stopped


def test_a_sin_date_moves_the_rapid_review_notices() -> None:
    # SIN sent Thu 3 Dec: the Rapid Review is due 15 working days later, Thu 24 Dec.
    c = replace(OPEN, notified_date=date(2026, 12, 3), agencies=())
    assert run_daily(c, date(2026, 12, 3), date(2027, 1, 8)) == [
        (date(2026, 12, 17), "rr:day10"),
        (date(2026, 12, 22), "rr:day13"),
        (date(2026, 12, 24), "rr:day15"),
        (date(2026, 12, 29), "rr:overdue"),
    ]
    [rr] = due_reminders(c, date(2026, 12, 22), CAL, TS)
    assert rr.deadline == date(2026, 12, 24)
    assert rr.label == "Rapid Review decision due in 2 working days"


def test_only_the_returned_agency_stops_being_chased() -> None:
    c = replace(OPEN, agencies=(replace(POLICE, returned_on=date(2026, 12, 9)), SCHOOL))
    log = run_daily(c, date(2026, 12, 1), date(2026, 12, 14))
    assert [k for _, k in log if k.startswith("scoping:")] == [
        "scoping:castle high school:before",
        "scoping:castle high school:due",
        "scoping:castle high school:after1",
        "scoping:castle high school:after3",
    ]


def test_no_before_chaser_on_the_day_of_the_request() -> None:
    # 5 working days before a 5-day due date is the request day itself: no chaser then.
    ts = Timescales(scoping_chaser_before=5)
    c = case(received_on=date(2026, 12, 1), la_aware_date=date(2026, 12, 1), agencies=(POLICE,))
    keys = [k for _, k in run_daily(c, date(2026, 12, 1), date(2026, 12, 9), ts=ts) if "scop" in k]
    assert keys == ["scoping:west midlands police:due", "scoping:west midlands police:after1"]


def test_configured_notice_days() -> None:
    ts = Timescales(sin_days=4, sin_notice_days=(2,), scoping_chaser_every=3)
    log = run_daily(OPEN, date(2026, 11, 30), date(2026, 12, 17), ts=ts)
    assert [(d, k) for d, k in log if k.startswith("sin")] == [
        (date(2026, 12, 2), "sin:day2"),
        (date(2026, 12, 7), "sin:overdue"),
    ]
    assert [k.rsplit(":", 1)[1] for _, k in log if k.startswith("scoping")] == [
        "before",
        "due",
        "after1",
        "after4",
        "after7",
    ]


# A CSPR decided on Mon 31 Aug 2026: due Sun 28 Feb 2027.
CSPR = case(
    received_on=date(2026, 8, 3),
    la_aware_date=date(2026, 7, 31),
    notified_date=date(2026, 8, 6),
    decision="cspr",
    decision_date=date(2026, 8, 31),
    agencies=(AgencyDates("Police", date(2026, 8, 10), None),),
)


def test_review_notices_move_off_non_working_days() -> None:
    assert run_daily(CSPR, date(2026, 8, 31), date(2027, 3, 31)) == [
        (date(2027, 1, 28), "review:1m"),
        (date(2027, 2, 15), "review:2w"),  # 14 Feb is a Sunday
        (date(2027, 3, 1), "review:due"),  # 28 Feb is a Sunday
        (date(2027, 3, 2), "review:overdue"),
    ]
    [due] = due_reminders(CSPR, date(2027, 3, 1), CAL, TS)
    assert due.deadline == date(2027, 2, 28) and due.kind == "review_notice"
    assert due.to_coordinators and due.label == "CSPR completion overdue by 1 working day"
    [first] = due_reminders(CSPR, date(2027, 1, 28), CAL, TS)
    assert first.label == "CSPR completion due in 21 working days"


def test_learning_review_notices() -> None:
    c = case(
        received_on=date(2026, 12, 1), decision="learning_review", decision_date=date(2026, 12, 23)
    )
    # Due Tue 23 Mar 2027.
    assert run_daily(c, date(2026, 12, 23), date(2027, 4, 30)) == [
        (date(2027, 2, 23), "review:1m"),
        (date(2027, 3, 9), "review:2w"),
        (date(2027, 3, 23), "review:due"),
        (date(2027, 3, 24), "review:overdue"),
    ]
    [due] = due_reminders(c, date(2027, 3, 23), CAL, TS)
    assert due.label == "Learning review completion due today"


@pytest.mark.parametrize(
    ("change", "today", "keys"),
    [
        ({}, date(2027, 2, 20), []),  # a Saturday
        ({}, date(2027, 2, 22), ["review:2w"]),  # catch-up: 2w, not 1m as well
        ({}, date(2027, 6, 1), ["review:overdue"]),
        ({"completed_on": date(2027, 2, 1)}, date(2027, 2, 22), []),
        ({"closed": True}, date(2027, 2, 22), []),
        ({"decision": "no_review"}, date(2027, 2, 22), []),
        ({}, date(2027, 1, 27), []),
    ],
    ids=str,
)
def test_review_catch_up_and_stops(change: dict[str, object], today: date, keys: list[str]) -> None:
    c = replace(CSPR, **change)  # type: ignore[arg-type]
    assert [r.key for r in due_reminders(c, today, CAL, TS)] == keys


def test_short_review_drops_notices_before_the_decision() -> None:
    # A one-month learning review: "1 month before" is the decision day itself, so it is dropped.
    ts = Timescales(learning_review_months=1)
    c = case(
        received_on=date(2027, 1, 4), decision="learning_review", decision_date=date(2027, 1, 5)
    )
    assert run_daily(c, date(2027, 1, 5), date(2027, 2, 28), ts=ts) == [
        (date(2027, 1, 22), "review:2w"),
        (date(2027, 2, 5), "review:due"),
        (date(2027, 2, 8), "review:overdue"),
    ]
