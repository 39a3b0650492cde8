"""Working-day and calendar-month arithmetic for the statutory clocks (SPEC 2).

A working day is Monday to Friday, except bank holidays in England (the ``holidays`` package,
country GB, subdivision ENG, substitute days included) and the closure days the partnership
configures. The module is pure: no clock reads and no I/O; ``received_on`` is given the moment a
message arrived.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

LONDON = ZoneInfo("Europe/London")

_DAY = timedelta(days=1)
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Where to start looking for the holiday data's last year when the package does not say (it does:
# holidays 0.109 gives GB.end_year == 2100), and how far back to look before giving up.
_FALLBACK_LAST_YEAR = 2100
_EARLIEST_PROBE_YEAR = 2000
_COUNTS_KEPT = 8192  # working-day counts a calendar keeps (see WorkingCalendar.__init__)


COUNTRY, SUBDIVISION = "GB", "ENG"  # the holidays package's names for England


@functools.cache
def named_bank_holidays(year: int) -> tuple[tuple[date, str], ...]:
    """England's bank holidays in ``year`` by date and name, observed (substitute) days included:
    the ``holidays`` package's answer, in date order.

    ``holidays`` is imported here, when a first date is asked about, not at every start (the
    package reads its own version from its metadata on import, and loads every country on first
    use: about 0.1 s that ``--version``, ``check-config`` and the config need not pay; a run keeps
    the answers in a file beside the store, ``adapters/bankholidays.py``). Kept for the life of
    the process: a year's holidays depend on the year and the installed package alone.
    """
    import holidays

    found = holidays.country_holidays(COUNTRY, subdiv=SUBDIVISION, years=year)
    return tuple(sorted(found.items()))


def library_version() -> str:
    """The version of the ``holidays`` package this process computes with (imports it)."""
    from holidays.version import __version__

    return str(__version__)


def library_last_year() -> int:
    """The last year the package computes holidays for (its ``end_year``)."""
    import holidays

    sample = holidays.country_holidays(COUNTRY, subdiv=SUBDIVISION, years=())
    return int(getattr(sample, "end_year", _FALLBACK_LAST_YEAR))


class BankHolidays(Protocol):
    """Where a calendar finds England's bank holidays: a year at a time, and how far the data goes."""

    def in_year(self, year: int) -> frozenset[date]: ...

    def last_year(self) -> int: ...


class LibraryHolidays:
    """The ``holidays`` package itself, each year computed once in a process."""

    def in_year(self, year: int) -> frozenset[date]:
        return _bank_holidays(year)

    def last_year(self) -> int:
        return library_last_year()


@functools.cache
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(d for d, _name in named_bank_holidays(year))


LIBRARY = LibraryHolidays()


class WorkingCalendar:
    """Which days are working days, and counting in them.

    Bank holidays are loaded one year at a time, when a date in that year is first asked about,
    from ``bank_holidays``: the ``holidays`` package (``LIBRARY``) unless the caller gives another
    source of the same answers (a run's: the package's answers kept in a file beside the store).
    Years the ``holidays`` package has no data for count as having no bank holidays (weekends and
    closures still apply); ``holiday_data_ends``/``covers`` let the caller warn about that.
    The package computes the regular holidays by rule, so one-off holidays announced after it was
    released (a coronation, a state funeral) are missing until it is upgraded; list them as
    closures meanwhile.
    """

    def __init__(
        self,
        closures: Iterable[date] = (),
        cutoff: time = time(17, 0),
        bank_holidays: BankHolidays = LIBRARY,
    ) -> None:
        self.closures: frozenset[date] = frozenset(closures)
        self.cutoff = cutoff
        self.bank_holidays = bank_holidays
        self._years: dict[int, frozenset[date]] = {}
        # Counts already made: a pure function of the dates, the closures and the bank holidays,
        # none of which change under a calendar; the digest and the deadlines ask the same ones
        # case after case. Bounded, so a daemon's calendar stays small.
        self._forward = functools.lru_cache(maxsize=_COUNTS_KEPT)(self._count_forward)
        self._counted = functools.lru_cache(maxsize=_COUNTS_KEPT)(self._count_between)
        self._data_ends: date | None = None
        self._data_ends_known = False

    def _holidays_in(self, year: int) -> frozenset[date]:
        found = self._years.get(year)
        if found is None:
            found = self._years[year] = self.bank_holidays.in_year(year)
        return found

    def is_bank_holiday(self, d: date) -> bool:
        return d in self._holidays_in(d.year)

    def is_working_day(self, d: date) -> bool:
        return d.weekday() < 5 and d not in self.closures and not self.is_bank_holiday(d)

    def add_working_days(self, d: date, n: int) -> date:
        """The ``n``th working day after ``d`` (before it when ``n`` < 0); ``d`` is day 0, whatever
        kind of day it is.

        ``add_working_days(d, 0)`` is ``d`` itself, even when ``d`` is not a working day.
        """
        return self._forward(d, n)

    def working_days_between(self, a: date, b: date) -> int:
        """How many working days from ``a`` to ``b``: the inverse of ``add_working_days``.

        For ``b >= a`` it is the number of working days in ``(a, b]``. For ``b < a`` it is minus the
        number in ``[b, a)``. Either way, ``working_days_between(d, add_working_days(d, n)) == n``
        for every ``n``, and a ``b`` between two working days counts as the one nearer ``a``.
        """
        return self._counted(a, b)

    def _count_forward(self, d: date, n: int) -> date:
        """``add_working_days``, counted day by day."""
        step = _DAY if n >= 0 else -_DAY
        left = abs(n)
        while left:
            d += step
            if self.is_working_day(d):
                left -= 1
        return d

    def _count_between(self, a: date, b: date) -> int:
        """``working_days_between``, counted day by day."""
        if b >= a:
            return sum(1 for i in range(1, (b - a).days + 1) if self.is_working_day(a + i * _DAY))
        return -sum(1 for i in range((a - b).days) if self.is_working_day(b + i * _DAY))

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        return self.add_working_days(d, 1)

    def on_or_after(self, d: date) -> date:
        """``d`` if it is a working day, else the next working day."""
        return d if self.is_working_day(d) else self.next_working_day(d)

    def received_on(self, at: datetime) -> date:
        """The date a message that arrived at ``at`` counts as received (SPEC 2).

        ``at`` must be timezone-aware. It is read in Europe/London; mail at or after the cut-off, or
        on a day that is not a working day, is received on the next working day.
        """
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"received_on needs a timezone-aware datetime, got naive {at!r}")
        local = at.astimezone(LONDON)
        day = local.date()
        if not self.is_working_day(day) or local.time() >= self.cutoff:
            return self.next_working_day(day)
        return day

    def holiday_data_ends(self) -> date | None:
        """The last day the bank-holiday data covers, or None if it seems to have none at all.

        That is 31 December of the last year that has a Christmas Day entry, looking down from the
        package's own ``end_year``. Measured with holidays 0.109: 2100-12-31. For ``doctor`` and
        the digest's warning, which say the date; ``covers`` needs only the year it is asked about.
        """
        if not self._data_ends_known:
            self._data_ends = None
            for year in range(self.bank_holidays.last_year(), _EARLIEST_PROBE_YEAR - 1, -1):
                if date(year, 12, 25) in self._holidays_in(year):
                    self._data_ends = date(year, 12, 31)
                    break
            self._data_ends_known = True
        return self._data_ends

    def covers(self, through: date) -> bool:
        """True when the bank-holiday data reaches ``through``: its year has a Christmas Day.

        The package computes holidays by rule for every year from its ``start_year`` to its
        ``end_year``, so that is ``through <= holiday_data_ends()``, answered from the one year
        ``through`` is in (a year the deadlines up to it need anyway) rather than by probing down
        from the package's last year.
        """
        return date(through.year, 12, 25) in self._holidays_in(through.year)


def add_months(d: date, n: int) -> date:
    """The same day of the month ``n`` months later (earlier for ``n`` < 0), or that month's last
    day when it has no such day: ``add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)``."""
    months = d.year * 12 + (d.month - 1) + n
    year, month = divmod(months, 12)
    month += 1
    if month == 12:
        last = 31
    else:
        last = (date(year, month + 1, 1) - _DAY).day
    return date(year, month, min(d.day, last))


def format_date(d: date) -> str:
    """A date as people read it (SPEC 2): ``Mon 4 Jan 2027``. English names whatever the locale."""
    return f"{_WEEKDAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]} {d.year}"
