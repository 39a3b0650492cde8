"""England's bank holidays: ``covers`` answers from the one year asked about exactly as
``holiday_data_ends`` does by probing down from the package's last year (issue 15)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from cspr_mailbot.core.workdays import WorkingCalendar


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
