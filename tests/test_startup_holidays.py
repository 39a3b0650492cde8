"""England's bank holidays kept beside the store (issue 15): ``adapters/bankholidays.py``.

The file holds the ``holidays`` package's answers under its version, so a start need not import the
package; whatever the file holds, or fails to hold, the calendar's answers are the package's.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import date, time, timedelta
from pathlib import Path

import holidays
import pytest

from cspr_mailbot.adapters import bankholidays
from cspr_mailbot.adapters.bankholidays import BANK_HOLIDAYS, HolidayTable
from cspr_mailbot.config import parse_config
from cspr_mailbot.core import workdays
from cspr_mailbot.core.workdays import WorkingCalendar

ROOT = Path(__file__).resolve().parent.parent
VERSION = holidays.__version__
YEARS = [1871, 1872, 1999, 2020, 2026, 2027, 2028, 2099, 2100, 2101, 2140]


def library(year: int) -> tuple[tuple[date, str], ...]:
    """The package's own answer, asked directly."""
    return tuple(sorted(holidays.country_holidays("GB", subdiv="ENG", years=year).items()))


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The years the table asks the package for."""
    years: list[int] = []
    real = workdays.named_bank_holidays

    def counted(year: int) -> tuple[tuple[date, str], ...]:
        years.append(year)
        return real(year)

    monkeypatch.setattr(workdays, "named_bank_holidays", counted)
    return years


def kept(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("year", YEARS)
def test_the_table_and_the_file_give_the_packages_answer(
    tmp_path: Path, year: int, asked: list[int]
) -> None:
    path = tmp_path / BANK_HOLIDAYS
    first = HolidayTable(path)
    assert first.named(year) == library(year)
    assert first.in_year(year) == frozenset(d for d, _ in library(year))
    assert year in asked
    asked.clear()
    again = HolidayTable(path)  # from the file alone
    assert again.named(year) == library(year)
    assert again.in_year(year) == frozenset(d for d, _ in library(year))
    assert asked == []


def test_the_file_is_this_users_alone_and_says_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / BANK_HOLIDAYS
    table = HolidayTable(path)
    table.in_year(2026)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = kept(path)
    assert data["holidays"] == VERSION
    assert (data["country"], data["subdivision"]) == ("GB", "ENG")
    years = data["years"]
    assert isinstance(years, dict)
    assert years["2026"]["2026-12-28"] == "Boxing Day (observed)"
    assert [p.name for p in tmp_path.iterdir()] == [BANK_HOLIDAYS]  # no temporary file left


def test_a_missing_year_is_asked_and_kept_beside_the_others(
    tmp_path: Path, asked: list[int]
) -> None:
    path = tmp_path / BANK_HOLIDAYS
    HolidayTable(path).in_year(2026)
    before = set(kept(path)["years"])  # type: ignore[arg-type]
    asked.clear()
    table = HolidayTable(path)
    assert table.named(2040) == library(2040)
    assert 2040 in asked
    after = set(kept(path)["years"])  # type: ignore[arg-type]
    assert before < after and "2040" in after
    asked.clear()
    assert HolidayTable(path).named(2040) == library(2040) and asked == []


def test_another_version_in_the_file_is_asked_again(tmp_path: Path, asked: list[int]) -> None:
    path = tmp_path / BANK_HOLIDAYS
    HolidayTable(path).in_year(2026)
    data = kept(path)
    data["holidays"] = "0.1"
    data["years"] = {"2026": {}}  # that version's (pretended) answer: no holidays at all
    path.write_text(json.dumps(data), encoding="utf-8")
    asked.clear()
    table = HolidayTable(path)
    assert table.named(2026) == library(2026)
    assert 2026 in asked
    assert kept(path)["holidays"] == VERSION


def test_an_installed_version_unlike_the_files_asks_again(tmp_path: Path, asked: list[int]) -> None:
    path = tmp_path / BANK_HOLIDAYS
    HolidayTable(path).in_year(2026)
    asked.clear()
    assert HolidayTable(path, version="99.0").named(2026) == library(2026)
    assert 2026 in asked


def test_answers_of_a_version_not_the_running_one_are_not_mixed_in(
    tmp_path: Path, asked: list[int]
) -> None:
    """A process that imported the package before an upgrade computes with the old one: what the
    file holds under the new version's name is then dropped, not mixed with the old's answers."""
    path = tmp_path / BANK_HOLIDAYS
    data = {
        "format": 1,
        "holidays": "99.0",
        "country": "GB",
        "subdivision": "ENG",
        "last_year": 2500,
        "years": {"2026": {"2026-07-01": "Not a holiday"}},
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    path.chmod(0o600)
    table = HolidayTable(path, version="99.0")  # the installed metadata says 99.0 ...
    assert table.in_year(2026) == {date(2026, 7, 1)}  # ... and the file is trusted for it
    assert table.named(2040) == library(2040)  # the package is asked: it is VERSION running
    assert table.named(2026) == library(2026)
    assert table.last_year() == workdays.library_last_year()
    assert kept(path)["holidays"] == VERSION


BAD_FILES: dict[str, Callable[[dict[str, object]], object]] = {
    "garbage": lambda d: b"\x00\xff not json",
    "cut short": lambda d: json.dumps(d)[:40],
    "a list": lambda d: [d],
    "years a list": lambda d: {**d, "years": [1, 2]},
    "a year a list": lambda d: {**d, "years": {"2026": [["2026-01-01", "x"]]}},
    "a date in another year": lambda d: {**d, "years": {"2026": {"2027-01-01": "New Year's Day"}}},
    "not a date": lambda d: {**d, "years": {"2026": {"Christmas": "Christmas Day"}}},
    "not a year": lambda d: {**d, "years": {"twenty": {}}},
    "last year a word": lambda d: {**d, "last_year": "soon"},
    "last year no year": lambda d: {**d, "last_year": 99999},
    "another country": lambda d: {**d, "country": "FR"},
    "another subdivision": lambda d: {**d, "subdivision": "SCT"},
    "another format": lambda d: {**d, "format": 2},
}


@pytest.mark.parametrize("damage", list(BAD_FILES), ids=str)
def test_a_damaged_or_foreign_file_is_asked_again_and_mended(
    tmp_path: Path, damage: str, asked: list[int]
) -> None:
    path = tmp_path / BANK_HOLIDAYS
    HolidayTable(path).in_year(2026)
    bad = BAD_FILES[damage](kept(path))
    raw = bad if isinstance(bad, bytes) else (bad if isinstance(bad, str) else json.dumps(bad))
    path.write_bytes(raw if isinstance(raw, bytes) else raw.encode())
    path.chmod(0o600)
    asked.clear()
    table = HolidayTable(path)
    assert table.named(2026) == library(2026)
    assert table.in_year(2026) == frozenset(d for d, _ in library(2026))
    assert 2026 in asked
    assert kept(path)["holidays"] == VERSION  # written anew, whole
    asked.clear()
    assert HolidayTable(path).named(2026) == library(2026) and asked == []


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_file_others_may_write_is_not_believed(
    tmp_path: Path, mode: int, asked: list[int]
) -> None:
    path = tmp_path / BANK_HOLIDAYS
    HolidayTable(path).in_year(2026)
    data = kept(path)
    data["years"] = {"2026": {}}  # what someone else might have written
    path.write_text(json.dumps(data), encoding="utf-8")
    path.chmod(mode)
    asked.clear()
    assert HolidayTable(path).named(2026) == library(2026)
    assert 2026 in asked
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # replaced by one of ours


def test_a_link_in_its_place_is_not_followed(tmp_path: Path, asked: list[int]) -> None:
    path = tmp_path / BANK_HOLIDAYS
    HolidayTable(path).in_year(2026)
    data = kept(path)
    data["years"] = {"2026": {}}
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(data), encoding="utf-8")
    elsewhere.chmod(0o600)
    path.unlink()
    path.symlink_to(elsewhere)
    asked.clear()
    assert HolidayTable(path).named(2026) == library(2026)
    assert 2026 in asked
    assert not path.is_symlink()
    assert json.loads(elsewhere.read_text(encoding="utf-8"))["years"] == {"2026": {}}


def test_a_file_that_cannot_be_written_changes_no_answer(tmp_path: Path) -> None:
    path = tmp_path / "no-such-folder" / BANK_HOLIDAYS
    table = HolidayTable(path)
    assert table.named(2026) == library(2026)
    assert table.last_year() == workdays.library_last_year()
    assert not path.exists()


def test_the_last_year_is_the_packages_and_is_kept(tmp_path: Path, asked: list[int]) -> None:
    path = tmp_path / BANK_HOLIDAYS
    assert HolidayTable(path).last_year() == workdays.library_last_year()
    assert kept(path)["last_year"] == workdays.library_last_year()
    ends = WorkingCalendar(bank_holidays=HolidayTable(path)).holiday_data_ends()
    assert ends == WorkingCalendar().holiday_data_ends()


def test_a_calendar_over_the_table_counts_as_one_over_the_package(tmp_path: Path) -> None:
    path = tmp_path / BANK_HOLIDAYS
    closures = [date(2026, 12, 29), date(2027, 4, 1)]
    plain = WorkingCalendar(closures)
    HolidayTable(path).in_year(2026)  # a file from an earlier run
    kept_cal = WorkingCalendar(closures, bank_holidays=HolidayTable(path))
    day = date(2025, 11, 1)
    while day < date(2028, 3, 1):
        assert kept_cal.is_working_day(day) == plain.is_working_day(day), day
        for n in (-20, 1, 5, 15, 60):
            assert kept_cal.add_working_days(day, n) == plain.add_working_days(day, n)
        day += timedelta(days=3)
    for through in (date(2027, 12, 2), date(2100, 12, 31), date(2101, 1, 1)):
        assert kept_cal.covers(through) == plain.covers(through)


def test_the_runs_calendar_keeps_its_file_beside_the_store(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "partnership": {"mailbox": "a@example.gov.uk", "coordinators": ["b@example.gov.uk"]},
            "store": {"path": str(tmp_path / "store" / "cspr.json")},
            "calendar": {"closures": ["2026-12-29"], "cutoff": "16:00"},
        }
    )
    (tmp_path / "store").mkdir()
    cal = bankholidays.calendar(cfg)
    assert cal.closures == {date(2026, 12, 29)} and cal.cutoff == cfg.cutoff == time(16, 0)
    assert not cal.is_working_day(date(2026, 12, 25))
    assert (tmp_path / "store" / BANK_HOLIDAYS).exists()


def test_the_first_run_of_a_new_installation_keeps_the_file(tmp_path: Path) -> None:
    """The start-up check asks the package before the store (and its folder) exists; the run's
    calendar, made once the store is open, writes what it asked, so the second run reads the file
    and does not import the package (issue 15: bench/intake.py's first two runs both imported it)."""
    (tmp_path / "config.toml").write_text(
        "[partnership]\n"
        'mailbox = "cspr@example.gov.uk"\ncoordinators = ["coordinator@example.gov.uk"]\n'
        '[maildir]\npath = "maildir"\n[store]\npath = "store/cspr.json"\n',
        encoding="utf-8",
    )
    kept_at = tmp_path / "store" / BANK_HOLIDAYS
    assert not kept_at.parent.exists()

    def run_once() -> None:
        subprocess.run(
            [sys.executable, "-m", "cspr_mailbot", "-c", "config.toml", "run", "--once"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            check=True,
        )

    run_once()
    assert kept(kept_at)["holidays"] == VERSION
    assert stat.S_IMODE(kept_at.stat().st_mode) == 0o600
    before = kept_at.stat().st_mtime_ns
    run_once()
    assert kept_at.stat().st_mtime_ns == before  # read, not asked and written again


PROBE = """
import json, sys
from datetime import date
from pathlib import Path
from cspr_mailbot.adapters.bankholidays import HolidayTable
from cspr_mailbot.core.workdays import WorkingCalendar
cal = WorkingCalendar(bank_holidays=HolidayTable(Path(sys.argv[1])))
out = {"covers": cal.covers(date(2027, 12, 2)), "xmas": cal.is_working_day(date(2026, 12, 25))}
out["imported"] = "holidays" in sys.modules
print(json.dumps(out))
"""


def test_a_start_with_the_file_does_not_import_the_package(tmp_path: Path) -> None:
    path = tmp_path / BANK_HOLIDAYS

    def probe() -> dict[str, bool]:
        out = subprocess.run(
            [sys.executable, "-c", PROBE, str(path)],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
        got: dict[str, bool] = json.loads(out.stdout.splitlines()[-1])
        return got

    first = probe()
    assert first == {"covers": True, "xmas": False, "imported": True}  # the file made
    assert probe() == {"covers": True, "xmas": False, "imported": False}  # the file read


def test_the_installed_version_is_the_one_importlib_metadata_reads() -> None:
    assert bankholidays.installed_version() == importlib.metadata.version("holidays") == VERSION


def test_no_holidays_package_means_no_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert bankholidays.installed_version() is None


def test_a_process_reads_the_file_once_for_every_calendar(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "partnership": {"mailbox": "a@example.gov.uk", "coordinators": ["b@example.gov.uk"]},
            "store": {"path": str(tmp_path / "cspr.json")},
        }
    )
    first, second = bankholidays.calendar(cfg), bankholidays.calendar(cfg)
    assert first is not second and first.bank_holidays is second.bank_holidays
