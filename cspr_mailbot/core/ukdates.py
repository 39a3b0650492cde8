"""Read a date written the British way (day first) out of a form field's text, or say None.

``parse_uk_date`` never guesses: placeholder text, a date with no year, an impossible date, a
weekday that contradicts the date, or two different dates in one answer all give None.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = ["parse_uk_date"]

_MONTHS: dict[str, int] = {
    "jan": 1,
    "january": 1,
    "feb": 2,
    "february": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "november": 11,
    "dec": 12,
    "december": 12,
}

_WEEKDAYS: dict[str, int] = {
    "mon": 0,
    "monday": 0,
    "tue": 1,
    "tues": 1,
    "tuesday": 1,
    "wed": 2,
    "wednesday": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "fri": 4,
    "friday": 4,
    "sat": 5,
    "saturday": 5,
    "sun": 6,
    "sunday": 6,
}

_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAY_RE = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th)?"
_YEAR = r"(?P<y>\d{4}|\d{2})"

# Each pattern names its groups d, m (number) or mon (name), y, and optionally wd (weekday).
_PATTERNS: tuple[re.Pattern[str], ...] = (
    # ISO 2026-12-03 (year first is never day first, so it is unambiguous).
    re.compile(r"(?<![\d/.\-])(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?![\d\-]|[/.]\d)"),
    # 03/12/2026, 3/12/26, 3.12.26, 03-12-2026 (same separator twice).
    re.compile(
        r"(?<![\d/.\-])(?P<d>\d{1,2})(?P<sep>[/.\-])(?P<m>\d{1,2})(?P=sep)"
        r"(?P<y>\d{4}|\d{2})(?!\d|[/.\-]\d)"
    ),
    # [Thursday] 3rd [of] December[,] 2026
    re.compile(
        rf"(?:\b(?P<wd>{_WEEKDAY_RE})\.?,?\s+)?\b(?P<d>\d{{1,2}}){_ORD}(?:\s+of)?[\s\-]+"
        rf"(?P<mon>{_MONTH_RE})\b\.?,?[\s\-]+{_YEAR}\b",
        re.IGNORECASE,
    ),
    # [Thursday,] December 3rd[,] 2026 (a month name makes the order plain)
    re.compile(
        rf"(?:\b(?P<wd>{_WEEKDAY_RE})\.?,?\s+)?\b(?P<mon>{_MONTH_RE})\b\.?\s+"
        rf"(?P<d>\d{{1,2}}){_ORD},?\s+(?P<y>\d{{4}})\b",
        re.IGNORECASE,
    ),
)


def _year(text: str) -> int:
    """A two-digit year takes the POSIX pivot: 00-68 are 20xx, 69-99 are 19xx (a DOB "12/04/98" is 1998)."""
    value = int(text)
    if len(text) != 2:
        return value
    return 2000 + value if value < 69 else 1900 + value


def _build(match: re.Match[str]) -> date | None | bool:
    """The date a match names; None if impossible; False if its weekday contradicts it."""
    groups = match.groupdict()
    month = _MONTHS[groups["mon"].lower()] if groups.get("mon") else int(groups["m"])
    year = _year(groups["y"])
    if not 1900 <= year <= 2199:
        return None
    try:
        found = date(year, month, int(groups["d"]))
    except ValueError:
        return None
    weekday = groups.get("wd")
    if weekday and _WEEKDAYS[weekday.lower()] != found.weekday():
        return False
    return found


def parse_uk_date(text: str | None) -> date | None:
    """The one date written in ``text`` (day first), or None when there is none or it is unclear.

    >>> parse_uk_date("03/12/2026")
    datetime.date(2026, 12, 3)
    >>> parse_uk_date("Thu 3rd Dec. 2026")
    datetime.date(2026, 12, 3)
    >>> parse_uk_date("31/02/2026") is None
    True
    """
    if not text:
        return None
    found: set[date] = set()
    spans: list[tuple[int, int]] = []
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < e and s < end for s, e in spans):
                continue  # already read as part of another date
            spans.append((start, end))
            value = _build(match)
            if value is None or value is False:
                return None  # an impossible date or a contradicting weekday: never guess
            assert isinstance(value, date)
            found.add(value)
    if len(found) != 1:
        return None
    return found.pop()
