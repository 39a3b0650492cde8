"""Timeliness figures (core/report.py), checked against arithmetic done by hand on a few cases.

England's 2026 bank holidays that matter here: Fri 3 Apr (Good Friday), Mon 6 Apr (Easter
Monday), Mon 4 May, Mon 25 May, Mon 31 Aug, Fri 25 Dec and Mon 28 Dec (Boxing Day's substitute).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

import pytest

from cspr_mailbot.core.clocks import Timescales
from cspr_mailbot.core.models import Agency, Case
from cspr_mailbot.core.report import (
    Measure,
    report_csv,
    report_text,
    timeliness,
    ytd_line,
)
from cspr_mailbot.core.workdays import LONDON, WorkingCalendar

CAL = WorkingCalendar()
TS = Timescales()


def make_case(reference: str, received: str, **kw: Any) -> Case:
    at = datetime.fromisoformat(received).replace(hour=10, tzinfo=LONDON)
    return Case(
        reference=reference,
        status=kw.pop("status", "rapid_review"),
        received_at=at,
        received_on=at.date(),
        referral=kw.pop("referral", {"child_name": "Sam Taylor"}),
        **kw,
    )


CASES = [
    # A. Aware Mon 2 Mar, SIN Fri 6 Mar: 4 wd (3,4,5,6 Mar); due Mon 9 Mar -> met.
    #    RR from Fri 6 Mar, decided Fri 20 Mar: 10 wd; due 15 wd = Fri 27 Mar -> met.
    #    CSPR due 20 Mar + 6 months = Sun 20 Sep; completed Fri 18 Sep -> met.
    #      Mon 23 Mar..Fri 18 Sep is 26 whole weeks = 130 weekdays, less 5 bank holidays
    #      (3 Apr, 6 Apr, 4 May, 25 May, 31 Aug) = 125 wd.
    #    Police: requested Mon 9 Mar, due Mon 16 Mar, returned Fri 13 Mar: 4 wd -> on time.
    make_case(
        "DSPP-2026-0001",
        "2026-03-02",
        status="cspr",
        aware_date=date(2026, 3, 2),
        notified_date=date(2026, 3, 6),
        decision="cspr",
        decision_date=date(2026, 3, 20),
        completed_on=date(2026, 9, 18),
        agencies=(
            Agency(
                "West Midlands Police",
                requested_on=date(2026, 3, 9),
                due=date(2026, 3, 16),
                returned_on=date(2026, 3, 13),
            ),
        ),
    ),
    # B. Aware Wed 1 Apr, SIN Fri 10 Apr: Thu 2, Tue 7, Wed 8, Thu 9, Fri 10 = 5 wd (Good Friday
    #    and Easter Monday skipped); due is that same 5th day, Fri 10 Apr -> met on the day.
    #    RR from Fri 10 Apr, decided Fri 8 May: 3 whole weeks (15) to Fri 1 May, then Tue 5 - Fri 8
    #    (4; Mon 4 May a bank holiday) = 19 wd; due the 15th, Fri 1 May -> late.
    #    Learning review due 8 May + 3 months = Sat 8 Aug; completed Mon 10 Aug -> late.
    #      Mon 11 May..Fri 7 Aug = 13 weeks = 65 weekdays, less 25 May = 64; + Mon 10 Aug = 65 wd.
    make_case(
        "DSPP-2026-0002",
        "2026-04-01",
        status="learning_review",
        aware_date=date(2026, 4, 1),
        notified_date=date(2026, 4, 10),
        decision="learning_review",
        decision_date=date(2026, 5, 8),
        completed_on=date(2026, 8, 10),
    ),
    # C. Aware Mon 1 Jun, SIN Wed 10 Jun: 2,3,4,5,8,9,10 = 7 wd; due Mon 8 Jun -> late.
    #    No decision: no RR figure. Scoping requested Mon 15 Jun, due Mon 22 Jun (16,17,18,19,22):
    #    Police back Mon 22 Jun (5 wd, on time); Health back Wed 24 Jun (7 wd, late);
    #    Education never back and due long before the range ends (late, no days to count);
    #    Children's Social Care asked Tue 29 Dec, due Wed 6 Jan 2027 (30, 31 Dec, 4, 5, 6 Jan;
    #    1 Jan a bank holiday): not back, not late by 31 Dec, so no outcome yet: left out.
    make_case(
        "DSPP-2026-0003",
        "2026-06-01",
        aware_date=date(2026, 6, 1),
        notified_date=date(2026, 6, 10),
        agencies=(
            Agency(
                "West Midlands Police",
                requested_on=date(2026, 6, 15),
                due=date(2026, 6, 22),
                returned_on=date(2026, 6, 22),
            ),
            Agency(
                "Health",
                requested_on=date(2026, 6, 15),
                due=date(2026, 6, 22),
                returned_on=date(2026, 6, 24),
            ),
            Agency("Education", requested_on=date(2026, 6, 15), due=date(2026, 6, 22)),
            Agency("Children's Social Care", requested_on=date(2026, 12, 29), due=date(2027, 1, 6)),
        ),
    ),
    # D. Everything started in 2025: aware Mon 15 Dec, SIN Tue 16 Dec, RR clock from 16 Dec.
    #    Decided 5 Jan 2026 (in range) but the review is not completed: no review figure either.
    make_case(
        "DSPP-2025-0009",
        "2025-12-16",
        status="cspr",
        aware_date=date(2025, 12, 15),
        notified_date=date(2025, 12, 16),
        decision="cspr",
        decision_date=date(2026, 1, 5),
    ),
    # E. Dates from the referral form, not commands: LA aware Tue 30 Jun, National Panel
    #    notified Thu 2 Jul: 2 wd -> met. RR from Thu 2 Jul, "no review" decided Fri 3 Jul: 1 wd.
    make_case(
        "DSPP-2026-0005",
        "2026-07-01",
        status="closed",
        referral={
            "child_name": "Kim Lee",
            "la_aware_date": "2026-06-30",
            "national_panel_notified": True,
            "notification_date": "2026-07-02",
        },
        decision="no_review",
        decision_date=date(2026, 7, 3),
        closed_on=date(2026, 7, 3),
    ),
    # F. Needs triage, nothing known: no figure anywhere.
    make_case("DSPP-2026-0006", "2026-07-06", status="needs_triage", referral={}),
]

YEAR = (date(2026, 1, 1), date(2026, 12, 31))


def by_name(measures: list[Measure]) -> dict[str, Measure]:
    return {m.name: m for m in measures}


def test_the_year_by_hand() -> None:
    r = timeliness(CASES, *YEAR, CAL, TS)
    assert r.measures == [
        # A 4 met, B 5 met, C 7 late, E 2 met: 3/4; median of 2, 4, 5, 7 = 4.5.
        Measure("SIN within 5 working days", 3, 4, 4.5),
        # A 10 met, B 19 late, E 1 met (D started in 2025): 2/3; median of 1, 10, 19 = 10.
        Measure("Rapid Review decision within 15 working days", 2, 3, 10.0),
        # A police 4 on time, C police 5 on time, health 7 late, education late: 2/4;
        # median of the returns received 4, 5, 7 = 5 (CSC not due yet: left out).
        Measure("Scoping returns within 5 working days", 2, 4, 5.0),
        Measure("CSPR completed within 6 months", 1, 1, 125.0),  # A
        Measure("Learning review completed within 3 months", 0, 1, 65.0),  # B
    ]
    assert r.by_agency == [
        Measure("Education", 0, 1, None),
        Measure("Health", 0, 1, 7.0),
        Measure("West Midlands Police", 2, 2, 4.5),  # 4 and 5 wd
    ]
    assert by_name(r.measures)["SIN within 5 working days"].share == 0.75


def test_a_month_counts_only_clocks_that_started_in_it() -> None:
    r = timeliness(CASES, date(2026, 3, 1), date(2026, 3, 31), CAL, TS)
    assert [(m.met, m.total, m.median_working_days) for m in r.measures] == [
        (1, 1, 4.0),  # A's SIN
        (1, 1, 10.0),  # A's Rapid Review
        (1, 1, 4.0),  # A's police return
        (1, 1, 125.0),  # A's CSPR, decided 20 Mar
        (0, 0, None),  # no learning review decided in March
    ]
    assert r.measures[4].share is None
    # January: only D's decision (5 Jan), and it has no completion yet -> nothing at all.
    jan = timeliness(CASES, date(2026, 1, 1), date(2026, 1, 31), CAL, TS)
    assert all(m.total == 0 for m in jan.measures) and jan.by_agency == []


def test_an_unreturned_request_counts_only_once_it_is_late() -> None:
    # C's education request was due Mon 22 Jun: a range ending that day has no outcome for it;
    # one ending Tue 23 Jun counts it late. Police (back 22 Jun) counts in both.
    on_due = timeliness(CASES, date(2026, 6, 15), date(2026, 6, 22), CAL, TS)
    assert by_name(on_due.by_agency).keys() == {"West Midlands Police", "Health"}
    after = timeliness(CASES, date(2026, 6, 15), date(2026, 6, 23), CAL, TS)
    assert by_name(after.by_agency)["Education"] == Measure("Education", 0, 1, None)


def test_other_timescales_change_the_figures_and_the_names() -> None:
    # With 6 working days for the SIN, C (7 wd) is still late, all others still met.
    ts = Timescales(sin_days=6, rapid_review_days=20)
    r = timeliness(CASES, *YEAR, CAL, ts)
    assert r.measures[0] == Measure("SIN within 6 working days", 3, 4, 4.5)
    # RR due 20 wd: B's 19 wd is now in time -> 3/3.
    assert r.measures[1] == Measure("Rapid Review decision within 20 working days", 3, 3, 10.0)


def test_a_backwards_range_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        timeliness(CASES, date(2026, 2, 1), date(2026, 1, 1), CAL, TS)


def test_csv() -> None:
    text = report_csv(timeliness(CASES, *YEAR, CAL, TS))
    assert text == (
        "measure,met,total,share,median_working_days\n"
        "SIN within 5 working days,3,4,0.7500,4.5\n"
        "Rapid Review decision within 15 working days,2,3,0.6667,10\n"
        "Scoping returns within 5 working days,2,4,0.5000,5\n"
        "CSPR completed within 6 months,1,1,1.0000,125\n"
        "Learning review completed within 3 months,0,1,0.0000,65\n"
        "Scoping returns: Education,0,1,0.0000,\n"
        "Scoping returns: Health,0,1,0.0000,7\n"
        "Scoping returns: West Midlands Police,2,2,1.0000,4.5\n"
    )
    # A name with a comma is quoted, and the whole thing reads back.
    odd = [
        make_case(
            "DSPP-2026-0010",
            "2026-02-02",
            agencies=(
                Agency(
                    "Dudley Group NHS, Foundation Trust",
                    requested_on=date(2026, 2, 2),
                    due=date(2026, 2, 9),
                    returned_on=date(2026, 2, 9),
                ),
            ),
        ),
    ]
    rows = list(csv.DictReader(io.StringIO(report_csv(timeliness(odd, *YEAR, CAL, TS)))))
    assert rows[-1] == {
        "measure": "Scoping returns: Dudley Group NHS, Foundation Trust",
        "met": "1",
        "total": "1",
        "share": "1.0000",
        "median_working_days": "5",
    }
    assert rows[0]["share"] == "" and rows[0]["median_working_days"] == ""  # nothing measured


def test_text() -> None:
    text = report_text(timeliness(CASES, *YEAR, CAL, TS))
    lines = text.splitlines()
    assert lines[0] == "Timeliness of clocks that started Thu 1 Jan 2026 to Thu 31 Dec 2026"
    assert any(
        ln.startswith("SIN within 5 working days")
        and "3/4 (75%)" in ln
        and ln.endswith("4.5 working days")
        for ln in lines
    )
    assert any(
        "Learning review completed within 3 months" in ln and "0/1 (0%)" in ln for ln in lines
    )
    assert any(ln.startswith("  Education") and ln.rstrip().endswith("-") for ln in lines)
    # The figures column lines up.
    figures = [ln for ln in lines if "/" in ln and "(" in ln]
    assert len({ln.index(")") for ln in figures}) == 1


def test_ytd_line_says_which_year_and_every_measure() -> None:
    line = ytd_line(CASES, date(2026, 12, 31), CAL, TS)
    assert line.startswith(
        "Year to date (clocks started Thu 1 Jan 2026 to Thu 31 Dec 2026): "
        "SIN within 5 working days 3/4 (75%), "
        "Rapid Review decision within 15 working days 2/3 (67%), "
        "Scoping returns within 5 working days 2/4 (50%), "
        "CSPR completed within 6 months 1/1 (100%), "
        "Learning review completed within 3 months 0/1 (0%)"
    )
    # Early January 2027: nothing has started yet this year.
    assert ytd_line(CASES, date(2027, 1, 4), CAL, TS).endswith(
        "Learning review completed within 3 months none yet"
    )
