"""England's bank holidays kept beside the store: the ``holidays`` package's answers, so that a start
need not import it.

Importing ``holidays`` and asking it for Great Britain loads every country it knows (some 250
modules): about 0.1 s of every run, for nine dates a year that change only when the package does.
A ``HolidayTable`` answers the calendar (``core.workdays.BankHolidays``) from ``bank-holidays.json``
beside the store: the package's answer, by date and name, for each year asked, kept under the
installed package's version (read from its metadata, which does not import it), the country and the
subdivision. The package is asked again, and the file written anew, when the installed version is
not the file's, a year is not in it, or it cannot be read (missing, damaged, or not a regular file
of this user's that only this user may write). It is written whole and renamed into place, 0600.
A file that cannot be written (a read-only store, a store folder not made yet) is not kept: the
answers are then the package's, asked in this process, and written when the app's calendar is made
(the store's folder exists by then). Nothing here stops a run.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import stat
from datetime import MAXYEAR, MINYEAR, date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core import workdays
from .files import write_private

if TYPE_CHECKING:
    from ..config import Config

logger = logging.getLogger(__name__)

BANK_HOLIDAYS = "bank-holidays.json"  # the file beside the store that keeps the package's answers
_FORMAT = 1
# When a year is not in the file the package is imported anyway (0.1 s): it is then asked for the
# years around it too (a fraction of a millisecond each), which the deadlines soon ask about.
_BEFORE, _AFTER = 2, 3

Named = tuple[tuple[date, str], ...]


def installed_version() -> str | None:
    """The installed ``holidays`` package's version, from its metadata (without importing it)."""
    try:
        return importlib.metadata.version("holidays")
    except importlib.metadata.PackageNotFoundError:
        return None


class HolidayTable:
    """England's bank holidays from the file at ``path``, the package asked for what it lacks.

    ``version``: the installed package's (``installed_version()`` when not given); the file's
    answers are used only when they were made by that version.
    """

    def __init__(self, path: Path, version: str | None = None) -> None:
        self.path = path
        self.version = installed_version() if version is None else version
        self._named: dict[int, Named] = {}
        self._last_year: int | None = None
        self._computed = False  # the package was asked in this process: the versions agree
        self._unkept = False  # answers the file could not take when they were made
        self._read()

    # -- core.workdays.BankHolidays ---------------------------------------------------------------

    def in_year(self, year: int) -> frozenset[date]:
        return frozenset(d for d, _name in self.named(year))  # a calendar keeps it for the year

    def last_year(self) -> int:
        if self._last_year is None:
            self._use_library()
            self._last_year = workdays.library_last_year()
            self._write()
        return self._last_year

    # -- the table --------------------------------------------------------------------------------

    def named(self, year: int) -> Named:
        """The bank holidays of ``year`` by date and name, in date order."""
        found = self._named.get(year)
        if found is None:
            self._use_library()
            around = range(max(MINYEAR, year - _BEFORE), min(MAXYEAR, year + _AFTER) + 1)
            for y in {year, *around}:
                if y not in self._named:
                    self._named[y] = workdays.named_bank_holidays(y)
            self._write()
            found = self._named[year]
        return found

    def _use_library(self) -> None:
        """The package is about to be asked: what the table holds must be that version's answers.

        The file was read under the installed version's name; a process that imported the package
        before it was upgraded computes with the old one, and keeps those answers under its name.
        """
        if self._computed:
            return
        self._computed = True
        running = workdays.library_version()
        if running != self.version:
            self._named.clear()
            self._last_year = None
            self.version = running

    def _read(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return  # none yet (or not ours to read): the package is asked
        try:
            with os.fdopen(fd, "rb") as f:
                if not _private_file(os.fstat(f.fileno())):
                    logger.warning(
                        "%s is not a file of this user's alone: the bank holidays are computed anew",
                        self.path,
                    )
                    return
                raw = f.read()
            table = self._parse(json.loads(raw))
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.info(
                "%s cannot be read (%s): the bank holidays are computed anew", self.path, exc
            )
            return
        if table is not None:
            self._named, self._last_year = table

    def _parse(self, data: Any) -> tuple[dict[int, Named], int | None] | None:
        """The years and last year in ``data``; None when they are another version's (or place's)."""
        if (
            data.get("format") != _FORMAT
            or self.version is None
            or data.get("holidays") != self.version
            or data.get("country") != workdays.COUNTRY
            or data.get("subdivision") != workdays.SUBDIVISION
        ):
            return None
        years = data["years"]
        if not isinstance(years, dict):
            raise ValueError("years is not a table")
        named: dict[int, Named] = {}
        for key, entries in years.items():
            year = int(key)
            if not isinstance(entries, dict):
                raise ValueError(f"{year} is not a table of dates")
            found = tuple(sorted((date.fromisoformat(d), str(n)) for d, n in entries.items()))
            if any(d.year != year for d, _name in found):
                raise ValueError(f"a date of {year} is in another year")
            named[year] = found
        last = data.get("last_year")
        if last is not None and not (isinstance(last, int) and MINYEAR <= last <= MAXYEAR):
            raise ValueError("last_year is not a year")
        return named, last

    def _write(self) -> None:
        data = {
            "format": _FORMAT,
            "holidays": self.version,
            "country": workdays.COUNTRY,
            "subdivision": workdays.SUBDIVISION,
            "last_year": self._last_year,
            "years": {
                str(year): {d.isoformat(): name for d, name in named}
                for year, named in sorted(self._named.items())
            },
        }
        text = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
        try:
            write_private(self.path, text)  # a cache: if a power cut takes it, it is asked again
        except OSError as exc:
            logger.debug("the bank holidays were not kept in %s: %s", self.path, exc.strerror)
            self._unkept = True
        else:
            self._unkept = False

    def keep(self) -> None:
        """Write the answers a failed write left out, now that the store's folder may exist.

        The start-up check asks for the last year before the store is opened; on a new
        installation its folder is not made yet, and without this the first run's answers would
        be lost, so that the second run imported the package again.
        """
        if self._unkept:
            self._write()


def _private_file(st: os.stat_result) -> bool:
    getuid = getattr(os, "getuid", None)
    return (
        stat.S_ISREG(st.st_mode)
        and (getuid is None or st.st_uid == getuid())
        and not st.st_mode & 0o022
    )


_TABLES: dict[Path, HolidayTable] = {}


def holiday_table(cfg: Config) -> HolidayTable:
    """The table beside ``cfg``'s store: one a process (the start-up warning's and the app's),
    read once and kept, asking the package for the years it lacks."""
    path = cfg.store_path.parent / BANK_HOLIDAYS
    table = _TABLES.get(path)
    if table is None:
        table = _TABLES[path] = HolidayTable(path)
    return table


def calendar(cfg: Config) -> workdays.WorkingCalendar:
    """The working calendar of ``cfg``: its closures and cut-off, the bank holidays kept beside
    its store."""
    table = holiday_table(cfg)
    table.keep()  # the store is open by now: its folder can take what the start-up check asked
    return workdays.WorkingCalendar(cfg.closures, cfg.cutoff, table)
