"""parse_uk_date: day first always, every common British way of writing a date, never a guess."""

from __future__ import annotations

from datetime import date

import pytest

from cspr_mailbot.core.ukdates import parse_uk_date

DEC3 = date(2026, 12, 3)

READS = [
    ("03/12/2026", DEC3),
    ("3/12/2026", DEC3),
    ("3/12/26", DEC3),
    ("03/12/26", DEC3),
    ("3.12.26", DEC3),
    ("03.12.2026", DEC3),
    ("03-12-2026", DEC3),
    ("3rd December 2026", DEC3),
    ("3 December 2026", DEC3),
    ("3 Dec 2026", DEC3),
    ("3 Dec. 2026", DEC3),
    ("3-Dec-2026", DEC3),
    ("3 dec 26", DEC3),
    ("3rd of December, 2026", DEC3),
    ("Thursday 3 December 2026", DEC3),
    ("Thu 3rd Dec. 2026", DEC3),
    ("Thursday, 3rd December 2026", DEC3),
    ("December 3rd 2026", DEC3),
    ("December 3, 2026", DEC3),
    ("Thursday December 3rd 2026", DEC3),
    ("2026-12-03", DEC3),
    ("2026-12-03T00:00:00Z", DEC3),
    ("  03/12/2026  ", DEC3),
    ("on or about 03/12/2026 at 14:30", DEC3),
    ("03/12/2026 (reported 03/12/2026)", DEC3),  # the same date twice is still one date
    ("Incident date: 3 December 2026.", DEC3),
    ("01/02/2026", date(2026, 2, 1)),  # 1 February, not 2 January
    ("12/01/2027", date(2027, 1, 12)),
    ("29/02/2028", date(2028, 2, 29)),  # leap year
    ("1st May 2026", date(2026, 5, 1)),
    ("22nd Sept 2026", date(2026, 9, 22)),
    ("31.12.99", date(1999, 12, 31)),  # two-digit years: 69-99 are 19xx (a date of birth)
    ("12/04/98", date(1998, 4, 12)),
    ("1/1/68", date(2068, 1, 1)),  # 00-68 are 20xx
    ("1/1/69", date(1969, 1, 1)),
]

REFUSES = [
    "",
    "   ",
    "31/02/2026",  # no such day
    "29/02/2026",  # not a leap year
    "12/13/2026",  # no 13th month: a US date is not guessed at
    "00/12/2026",
    "Click or tap to enter a date.",
    "dd/mm/yyyy",
    "DD/MM/YYYY",
    "3/12",  # no year
    "3rd December",  # no year
    "December 2026",  # no day
    "Friday 3 December 2026",  # 3 December 2026 is a Thursday
    "01/02/2026 and 05/02/2026",  # two different dates
    "between 1 Dec 2026 and 3 Dec 2026",
    "not known",
    "tel 01384 816563",
    "1.2.3.4",
    "2026",
    "03/12/2026/5",
]


@pytest.mark.parametrize(("text", "expected"), READS)
def test_reads_uk_dates(text: str, expected: date) -> None:
    assert parse_uk_date(text) == expected


@pytest.mark.parametrize("text", REFUSES)
def test_refuses_to_guess(text: str) -> None:
    assert parse_uk_date(text) is None


def test_none_is_none() -> None:
    assert parse_uk_date(None) is None
