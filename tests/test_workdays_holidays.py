"""England's bank holidays read from the holidays package's United Kingdom module alone (issue 15).

``core/workdays.py`` executes only ``holidays/countries/united_kingdom.py`` instead of going through
the package's registry, whose first use imports all ~250 countries. These tests hold it to the
registry's answer for every year the data covers, check that the package is left as it was for
anyone else in the process, that another layout falls back to the registry, and that ``covers``
answers from the one year asked about exactly as ``holiday_data_ends`` does by probing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import holidays
import pytest

from cspr_mailbot.core import workdays
from cspr_mailbot.core.workdays import WorkingCalendar

ROOT = Path(__file__).resolve().parent.parent

# In a fresh interpreter: the direct load first (so that nothing has imported holidays.countries),
# then the registry, year by year, and what the package looks like afterwards.
COMPARE = """
import json, sys
from cspr_mailbot.core import workdays
cls = workdays._united_kingdom()
first, last = cls.start_year, workdays._data_end_year()
years = range(first - 2, last + 3)
direct = {y: sorted(d.isoformat() for d in workdays._bank_holidays(y)) for y in years}
untouched = "holidays.countries" not in sys.modules and (
    "holidays.countries.united_kingdom" not in sys.modules)
import holidays
registry = {
    y: sorted(d.isoformat() for d in holidays.country_holidays("GB", subdiv="ENG", years=y))
    for y in years
}
from holidays.countries.united_kingdom import UnitedKingdom
print(json.dumps({
    "first": first, "last": last, "untouched": untouched,
    "same": direct == registry, "holidays_2026": direct[2026],
    "differ": [y for y in years if direct[y] != registry[y]][:5],
    "germany": len(holidays.country_holidays("DE", years=2026)),
    "package_class": UnitedKingdom.__module__,
    "ours": cls.__module__,
}))
"""


def test_the_direct_load_equals_the_registry_for_every_year() -> None:
    out = subprocess.run(
        [sys.executable, "-c", COMPARE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["untouched"], "the fast path imported holidays.countries after all"
    assert got["differ"] == [] and got["same"]
    assert got["first"] <= 1900 and got["last"] >= 2100
    assert "2026-12-28" in got["holidays_2026"]  # a substitute day: the observed rule applied
    # The package itself is as it was: its own United Kingdom module and the other countries load.
    assert got["package_class"] == "holidays.countries.united_kingdom"
    assert got["ours"] != got["package_class"]
    assert got["germany"] > 0


@pytest.fixture
def fresh_loader() -> Iterator[None]:
    """Forget the loaded class and every year computed with it, before and after the test."""
    workdays._united_kingdom.cache_clear()
    workdays._bank_holidays.cache_clear()
    yield
    workdays._united_kingdom.cache_clear()
    workdays._bank_holidays.cache_clear()


def _registry_dates(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def test_a_missing_module_file_falls_back_to_the_registry(
    fresh_loader: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workdays, "_GB_PARTS", ("countries", "no_such_country.py"))
    cls = workdays._united_kingdom()
    assert issubclass(cls, holidays.countries.united_kingdom.UnitedKingdom)
    assert workdays._bank_holidays(2027) == _registry_dates(2027)


def test_a_module_without_the_class_falls_back_to_the_registry(
    fresh_loader: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workdays, "_GB_PARTS", ("countries", "germany.py"))
    cls = workdays._united_kingdom()
    assert issubclass(cls, holidays.countries.united_kingdom.UnitedKingdom)
    assert workdays._bank_holidays(2026) == _registry_dates(2026)
    assert workdays._GB_PRIVATE_NAME not in sys.modules  # the failed load is not left behind


def test_a_class_for_another_country_falls_back_to_the_registry(
    fresh_loader: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    impostor = tmp_path / "united_kingdom.py"
    impostor.write_text("class UnitedKingdom:\n    country = 'DE'\n")
    monkeypatch.setattr(workdays, "_GB_PARTS", (str(impostor),))  # an absolute part wins
    cls = workdays._united_kingdom()
    assert issubclass(cls, holidays.countries.united_kingdom.UnitedKingdom)
    assert workdays._bank_holidays(2028) == _registry_dates(2028)
    assert workdays._GB_PRIVATE_NAME not in sys.modules


def test_the_direct_load_is_the_one_used(fresh_loader: None) -> None:
    cls = workdays._united_kingdom()
    assert cls.__module__ == workdays._GB_PRIVATE_NAME
    assert cls.country == "GB"
    assert sys.modules[workdays._GB_PRIVATE_NAME].UnitedKingdom is cls


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
