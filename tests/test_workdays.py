"""Working days, bank holidays, the receipt cut-off and month arithmetic (SPEC 2)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cspr_mailbot.core.workdays import LONDON, WorkingCalendar, add_months, format_date

CAL = WorkingCalendar()
# SPEC 9's example closures: the days between Christmas and New Year.
CLOSED = WorkingCalendar(closures=[date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)])


# England's bank holidays 2026-2028, as gov.uk lists them (substitute days on the weekday observed).
BANK_HOLIDAYS = [
    date(2026, 1, 1),
    date(2026, 4, 3),  # Good Friday
    date(2026, 4, 6),  # Easter Monday
    date(2026, 5, 4),  # early May
    date(2026, 5, 25),  # spring
    date(2026, 8, 31),  # summer
    date(2026, 12, 25),
    date(2026, 12, 28),  # Boxing Day is a Saturday: substitute Monday
    date(2027, 1, 1),
    date(2027, 3, 26),
    date(2027, 3, 29),
    date(2027, 5, 3),
    date(2027, 5, 31),
    date(2027, 8, 30),
    date(2027, 12, 27),  # Christmas Day is a Saturday: substitute Monday
    date(2027, 12, 28),  # Boxing Day is a Sunday: substitute Tuesday
    date(2028, 1, 3),  # New Year's Day is a Saturday: substitute Monday
    date(2028, 4, 14),
    date(2028, 4, 17),
    date(2028, 5, 1),
    date(2028, 5, 29),
    date(2028, 8, 28),
    date(2028, 12, 25),
    date(2028, 12, 26),
]


@pytest.mark.parametrize("d", BANK_HOLIDAYS, ids=str)
def test_bank_holidays_are_not_working_days(d: date) -> None:
    assert d.weekday() < 5  # every one of them is a weekday that would otherwise be worked
    assert not CAL.is_working_day(d)
    assert CAL.is_bank_holiday(d)


def test_the_only_weekday_holidays_2026_to_2028_are_those() -> None:
    weekday_holidays = [
        date(2026, 1, 1) + timedelta(days=i)
        for i in range((date(2029, 1, 1) - date(2026, 1, 1)).days)
        if (date(2026, 1, 1) + timedelta(days=i)).weekday() < 5
        and not CAL.is_working_day(date(2026, 1, 1) + timedelta(days=i))
    ]
    assert weekday_holidays == BANK_HOLIDAYS


@pytest.mark.parametrize(
    ("d", "working"),
    [
        (date(2026, 4, 2), True),  # Thursday before Good Friday
        (date(2026, 4, 7), True),  # Tuesday after Easter Monday
        (date(2026, 12, 24), True),  # Christmas Eve is worked
        (date(2026, 12, 26), False),  # Saturday (Boxing Day)
        (date(2026, 12, 29), True),
        (date(2027, 12, 29), True),
        (date(2027, 1, 2), False),  # Saturday
        (date(2027, 1, 3), False),  # Sunday
        (date(2027, 1, 4), True),
    ],
    ids=str,
)
def test_is_working_day(d: date, working: bool) -> None:
    assert CAL.is_working_day(d) is working


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # SPEC 2's example: 25, 28 Dec and 1 Jan are bank holidays, plus the weekends.
        (date(2026, 12, 23), 5, date(2027, 1, 4)),
        (date(2026, 12, 23), 1, date(2026, 12, 24)),
        (date(2026, 12, 24), 1, date(2026, 12, 29)),
        # Easter 2026: Good Friday 3 Apr, Easter Monday 6 Apr.
        (date(2026, 4, 2), 1, date(2026, 4, 7)),
        (date(2026, 4, 1), 5, date(2026, 4, 10)),
        # Easter 2027 (26 and 29 Mar) and 2028 (14 and 17 Apr).
        (date(2027, 3, 25), 1, date(2027, 3, 30)),
        (date(2028, 4, 13), 2, date(2028, 4, 19)),
        # Early May, spring and summer bank holidays.
        (date(2026, 5, 1), 1, date(2026, 5, 5)),
        (date(2027, 5, 28), 1, date(2027, 6, 1)),
        (date(2028, 8, 25), 1, date(2028, 8, 29)),
        # Christmas 2027: 25 Sat, 26 Sun, substitutes 27 Mon and 28 Tue.
        (date(2027, 12, 24), 1, date(2027, 12, 29)),
        (date(2027, 12, 23), 5, date(2028, 1, 4)),  # 24, 29, 30, 31 Dec; 3 Jan is a holiday
        # Day 0 is the start whatever it is: from a Saturday, 1 working day is Monday.
        (date(2026, 1, 3), 1, date(2026, 1, 5)),
        (date(2026, 12, 25), 1, date(2026, 12, 29)),
        (date(2026, 1, 3), 0, date(2026, 1, 3)),
        # Counting back.
        (date(2027, 1, 4), -5, date(2026, 12, 23)),
        (date(2026, 4, 7), -1, date(2026, 4, 2)),
        (date(2026, 1, 4), -1, date(2026, 1, 2)),  # from a Sunday, 1 back is Friday
        # The 15 working days of a Rapid Review across Christmas 2026.
        (date(2026, 12, 14), 15, date(2027, 1, 7)),
    ],
    ids=str,
)
def test_add_working_days(start: date, n: int, expected: date) -> None:
    assert CAL.add_working_days(start, n) == expected
    assert CAL.working_days_between(start, expected) == n


def test_spec_example_with_the_configured_closure() -> None:
    # SPEC 9 closes 29-31 Dec 2026: the week between Christmas and New Year has no working day.
    assert [CLOSED.is_working_day(date(2026, 12, d)) for d in range(28, 32)] == [False] * 4
    assert CLOSED.add_working_days(date(2026, 12, 23), 1) == date(2026, 12, 24)
    assert CLOSED.add_working_days(date(2026, 12, 23), 2) == date(2027, 1, 4)
    assert CLOSED.add_working_days(date(2026, 12, 23), 5) == date(2027, 1, 7)
    assert CLOSED.next_working_day(date(2026, 12, 24)) == date(2027, 1, 4)
    # Closures are only the days listed: the same week in 2027 is worked (after the 28th).
    assert CLOSED.is_working_day(date(2027, 12, 29))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (date(2026, 12, 23), date(2027, 1, 4), 5),
        (date(2027, 1, 4), date(2026, 12, 23), -5),
        (date(2026, 12, 23), date(2026, 12, 23), 0),
        (date(2026, 12, 24), date(2026, 12, 28), 0),  # Fri holiday .. Mon holiday: nothing worked
        (date(2026, 1, 2), date(2026, 1, 3), 0),  # Fri -> Sat
        (date(2026, 1, 2), date(2026, 1, 5), 1),  # Fri -> Mon
        (date(2026, 1, 5), date(2026, 1, 2), -1),  # Mon -> Fri
        (date(2026, 1, 3), date(2026, 1, 2), -1),  # Sat -> Fri: Friday is in [b, a)
    ],
    ids=str,
)
def test_working_days_between(a: date, b: date, expected: int) -> None:
    assert CAL.working_days_between(a, b) == expected


@pytest.mark.parametrize(
    ("d", "next_wd", "on_or_after"),
    [
        (date(2026, 12, 24), date(2026, 12, 29), date(2026, 12, 24)),
        (date(2026, 12, 25), date(2026, 12, 29), date(2026, 12, 29)),
        (date(2027, 12, 25), date(2027, 12, 29), date(2027, 12, 29)),
        (date(2026, 7, 10), date(2026, 7, 13), date(2026, 7, 10)),  # Friday
        (date(2026, 7, 11), date(2026, 7, 13), date(2026, 7, 13)),  # Saturday
    ],
    ids=str,
)
def test_next_working_day_and_on_or_after(d: date, next_wd: date, on_or_after: date) -> None:
    assert CAL.next_working_day(d) == next_wd
    assert CAL.on_or_after(d) == on_or_after


def _utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Wed 15 Jul 2026 is BST (UTC+1): 15:59 UTC is 16:59 London, 16:01 UTC is 17:01 London.
        (_utc(2026, 7, 15, 15, 59), date(2026, 7, 15)),
        (_utc(2026, 7, 15, 16, 1), date(2026, 7, 16)),
        (_utc(2026, 7, 15, 16, 0), date(2026, 7, 16)),  # exactly the cut-off rolls over
        (_utc(2026, 7, 15, 16, 30), date(2026, 7, 16)),  # 17:30 London, though 16:30 in UTC
        # Fri 17 Jul 2026 after the cut-off: received Monday.
        (_utc(2026, 7, 17, 16, 1), date(2026, 7, 20)),
        # 23:30 UTC on Tue 14 Jul is 00:30 Wed in London: received Wednesday, before the cut-off.
        (_utc(2026, 7, 14, 23, 30), date(2026, 7, 15)),
        # Wed 13 Jan 2027 is GMT: 16:59 UTC is 16:59 London, 17:01 UTC is 17:01.
        (_utc(2027, 1, 13, 16, 59), date(2027, 1, 13)),
        (_utc(2027, 1, 13, 17, 1), date(2027, 1, 14)),
        # Saturday, in the morning: the next working day.
        (_utc(2026, 7, 18, 9, 0), date(2026, 7, 20)),
        # Bank holidays: Easter Monday 2026, and Christmas Eve after the cut-off.
        (_utc(2026, 4, 6, 10, 0), date(2026, 4, 7)),
        (_utc(2026, 12, 24, 17, 30), date(2026, 12, 29)),
        (_utc(2026, 12, 24, 16, 59), date(2026, 12, 24)),
    ],
    ids=str,
)
def test_received_on(at: datetime, expected: date) -> None:
    assert CAL.received_on(at) == expected


def test_received_on_in_another_zone_is_read_in_london() -> None:
    # 12:30 in New York (EDT, UTC-4) on 15 Jul 2026 is 17:30 in London.
    from zoneinfo import ZoneInfo

    at = datetime(2026, 7, 15, 12, 30, tzinfo=ZoneInfo("America/New_York"))
    assert CAL.received_on(at) == date(2026, 7, 16)
    assert CAL.received_on(datetime(2026, 7, 15, 16, 59, tzinfo=LONDON)) == date(2026, 7, 15)


def test_received_on_honours_the_configured_cutoff_and_closures() -> None:
    cal = WorkingCalendar(closures=[date(2026, 7, 16)], cutoff=time(16, 0))
    at = datetime(2026, 7, 15, 16, 0, tzinfo=LONDON)
    assert cal.received_on(at) == date(2026, 7, 17)  # after 16:00, and the 16th is closed
    assert cal.received_on(at - timedelta(minutes=1)) == date(2026, 7, 15)


def test_received_on_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.received_on(datetime(2026, 7, 15, 12, 0))


def test_holiday_data_coverage() -> None:
    # Measured: holidays 0.109 computes England's holidays by rule up to 2100.
    ends = CAL.holiday_data_ends()
    assert ends is not None
    assert ends.month == 12 and ends.day == 31
    assert ends >= date(2028, 12, 31)
    assert CAL.covers(date(2028, 12, 31))
    assert CAL.covers(ends)
    assert not CAL.covers(ends + timedelta(days=1))


@pytest.mark.parametrize(
    ("d", "n", "expected"),
    [
        (date(2026, 8, 31), 6, date(2027, 2, 28)),  # SPEC 2's example
        (date(2027, 8, 31), 6, date(2028, 2, 29)),  # leap year
        (date(2026, 8, 31), 3, date(2026, 11, 30)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),  # across the year end
        (date(2026, 7, 15), 6, date(2027, 1, 15)),
        (date(2027, 2, 28), -1, date(2027, 1, 28)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 1, 10), -1, date(2025, 12, 10)),
        (date(2026, 5, 20), 0, date(2026, 5, 20)),
        (date(2026, 5, 20), 24, date(2028, 5, 20)),
    ],
    ids=str,
)
def test_add_months(d: date, n: int, expected: date) -> None:
    assert add_months(d, n) == expected


@pytest.mark.parametrize(
    ("d", "text"),
    [
        (date(2027, 1, 4), "Mon 4 Jan 2027"),
        (date(2026, 12, 23), "Wed 23 Dec 2026"),
        (date(2028, 2, 29), "Tue 29 Feb 2028"),
        (date(2026, 11, 1), "Sun 1 Nov 2026"),
    ],
    ids=str,
)
def test_format_date(d: date, text: str) -> None:
    assert format_date(d) == text


dates = st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31))


@settings(max_examples=300, deadline=None)
@given(d=dates, n=st.integers(min_value=1, max_value=300))
def test_add_working_days_lands_on_a_working_day_and_inverts(d: date, n: int) -> None:
    for cal in (CAL, CLOSED):
        result = cal.add_working_days(d, n)
        assert result > d
        assert cal.is_working_day(result)
        assert cal.add_working_days(d, n + 1) > result
        assert cal.working_days_between(d, result) == n
        back = cal.add_working_days(d, -n)
        assert back < d and cal.is_working_day(back)
        assert cal.working_days_between(d, back) == -n


@settings(max_examples=300, deadline=None)
@given(d=dates, n=st.integers(min_value=-60, max_value=60))
def test_working_days_between_is_the_inverse_for_every_n(d: date, n: int) -> None:
    assert CAL.working_days_between(d, CAL.add_working_days(d, n)) == n


@settings(max_examples=300, deadline=None)
@given(d=dates)
def test_next_working_day_is_the_first_after(d: date) -> None:
    nxt = CAL.next_working_day(d)
    assert CAL.is_working_day(nxt)
    assert all(not CAL.is_working_day(d + timedelta(days=i)) for i in range(1, (nxt - d).days))
    assert CAL.on_or_after(d) in (d, nxt)


@settings(max_examples=300, deadline=None)
@given(d=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)), n=st.integers(-30, 30))
def test_add_months_keeps_the_day_or_clamps_to_month_end(d: date, n: int) -> None:
    out = add_months(d, n)
    assert (out.year * 12 + out.month) - (d.year * 12 + d.month) == n
    if out.day != d.day:
        assert out.day < d.day
        assert (out + timedelta(days=1)).day == 1  # clamped to the last day of its month


# covers() answers from the one year asked about, exactly as holiday_data_ends() does by probing
# down from the package's last year (issue 15: the start-up warning asks it at every start).


@pytest.mark.parametrize(
    "through",
    [
        date(2026, 1, 1),
        date(2027, 12, 2),
        date(2099, 12, 31),
        date(2100, 1, 1),
        date(2100, 12, 31),
        date(2101, 1, 1),
        date(2140, 6, 1),
    ],
    ids=str,
)
def test_covers_agrees_with_the_probed_end_of_the_data(through: date) -> None:
    probed = WorkingCalendar()
    ends = probed.holiday_data_ends()
    assert ends is not None
    assert WorkingCalendar().covers(through) == (through <= ends)
    assert WorkingCalendar().covers(ends) and not WorkingCalendar().covers(ends + timedelta(days=1))


def test_covers_asks_only_for_the_year_it_is_asked_about() -> None:
    cal = WorkingCalendar()
    assert cal.covers(date(2027, 12, 2))
    assert set(cal._years) == {2027}  # no probing down from the package's last year
    assert not cal._data_ends_known
