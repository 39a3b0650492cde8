"""Timeliness figures (core/report.py, SPEC 6b), checked against arithmetic done by hand on a dozen cases.

One definition: a clock counts in the period it FELL DUE in, whenever it started; done -> met or late by
its date; not done and past due -> late; not yet due (or due today) -> not counted; a case closed without a
decision drops its unmet clocks. ``report`` and the digest's year to date both use it.

England's bank holidays that matter here: 2026: Fri 3 Apr, Mon 6 Apr, Mon 4 May, Mon 25 May, Mon 31 Aug,
Fri 25 Dec, Mon 28 Dec. TODAY is Mon 14 Dec 2026 (the day of the issue's digest); the reporting year
starts on 1 April, so the year to date is Wed 1 Apr to Mon 14 Dec 2026.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest

from cspr_mailbot.core.clocks import Timescales
from cspr_mailbot.core.digest import build_digest
from cspr_mailbot.core.models import Agency, Case
from cspr_mailbot.core.report import (
    Measure,
    report_csv,
    report_text,
    timeliness,
    year_start,
    ytd_line,
)
from cspr_mailbot.core.workdays import LONDON, WorkingCalendar

CAL = WorkingCalendar()
TS = Timescales()
TODAY = date(2026, 12, 14)
YTD = (date(2026, 4, 1), TODAY)
POLICE, HEALTH, EDUCATION = "West Midlands Police", "Health", "Education"
DCS = "Dudley Children's Services"


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


def decided(
    reference: str, aware: str, made: str, review: str, on: str, completed: str | None = None
) -> Case:
    """A case received the day the LA became aware, its SIN made on ``made``, the Rapid Review's
    decision ``review`` (the case's status since) on ``on``, that review completed on ``completed``.
    """
    day = date.fromisoformat
    return make_case(
        reference,
        aware,
        status=review,
        aware_date=day(aware),
        notified_date=day(made),
        decision=review,
        decision_date=day(on),
        completed_on=day(completed) if completed else None,
    )


def asked(name: str, on: date, back: date | None = None) -> Agency:
    return Agency(name, requested_on=on, returned_on=back)


# decided(reference, aware = received, SIN made, decision, decided on, review completed)
CASES = [
    # A. SIN: aware Mon 1 Jun, due Mon 8 Jun (2,3,4,5,8); made Thu 4 Jun: 3 wd, met.
    #    RR from Thu 4 Jun, due Thu 25 Jun (5 | 8-12 | 15-19 | 22,23,24,25 = 15); decided Fri 19 Jun:
    #    5, 8-12, 15-19 = 11 wd, met. Learning review due 19 Jun + 3 months = Sat 19 Sep; completed
    #    Fri 18 Sep: Mon 22 Jun..Fri 18 Sep is 13 weeks = 65 weekdays, less 31 Aug = 64 wd, met.
    decided(
        "DSPP-2026-0001", "2026-06-01", "2026-06-04", "learning_review", "2026-06-19", "2026-09-18"
    ),
    # B. The SIN made 8 working days late whose clock started before the period: aware Fri 27 Mar,
    #    due Tue 7 Apr (30, 31 Mar, 1, 2 Apr, then Good Friday and Easter Monday, 7 Apr); made Fri 17 Apr
    #    (8,9,10,13,14,15,16,17 = 8 wd late): 4 + 9 = 13 wd, late. It fell due in the year: counted.
    #    RR from Fri 17 Apr, due Mon 11 May (20-24 | 27 Apr-1 May | 5-8 May, 4 May a bank holiday |
    #    11 May = 15); decided that day, 15 wd, met. CSPR due Wed 11 Nov, not completed: late.
    decided("DSPP-2026-0002", "2026-03-27", "2026-04-17", "cspr", "2026-05-11"),
    # C. An overdue SIN never made: aware Mon 23 Nov, due Mon 30 Nov (24,25,26,27,30): late.
    #    RR, provisional from receipt Mon 23 Nov: due Mon 14 Dec (24-27 | 30 Nov-4 Dec | 7-11 | 14),
    #    TODAY and undecided: not yet late, not counted.
    #    Scoping: Police asked Mon 30 Nov, due Mon 7 Dec (1,2,3,4,7), not back: late. Health asked the
    #    same day, back Thu 3 Dec: 3 wd, on time. Dudley Children's Services asked TODAY, minutes ago
    #    (the "0/1"): not due until Mon 21 Dec, not counted.
    make_case(
        "DSPP-2026-0003",
        "2026-11-23",
        aware_date=date(2026, 11, 23),
        agencies=(
            asked(POLICE, date(2026, 11, 30)),
            asked(HEALTH, date(2026, 11, 30), date(2026, 12, 3)),
            asked(DCS, TODAY),
        ),
    ),
    # D. A second overdue SIN never made, provisional (no aware date): from receipt Wed 2 Dec, due
    #    Wed 9 Dec (3,4,7,8,9): late. RR provisional, due Wed 23 Dec: not yet due.
    make_case("DSPP-2026-0004", "2026-12-02", status="referral_received"),
    # E. An undecided Rapid Review past its deadline: aware Mon 2 Nov, SIN due Mon 9 Nov, made Wed 4 Nov:
    #    2 wd, met. RR from Wed 4 Nov, due Wed 25 Nov (5,6 | 9-13 | 16-20 | 23,24,25 = 15): late.
    #    Scoping asked Thu 5 Nov, due Thu 12 Nov (6,9,10,11,12): Police back Mon 16 Nov, 7 wd, late;
    #    Education back Thu 12 Nov, 5 wd, on the day: on time.
    make_case(
        "DSPP-2026-0005",
        "2026-11-02",
        aware_date=date(2026, 11, 2),
        notified_date=date(2026, 11, 4),
        agencies=(
            asked(POLICE, date(2026, 11, 5), date(2026, 11, 16)),
            asked(EDUCATION, date(2026, 11, 5), date(2026, 11, 12)),
        ),
    ),
    # F. SIN: aware Mon 7 Sep, due Mon 14 Sep, made Fri 11 Sep: 4 wd, met. RR from Fri 11 Sep, due
    #    Fri 2 Oct; decided Wed 30 Sep: 14-18 | 21-25 | 28,29,30 = 13 wd, met. CSPR due Tue 30 Mar
    #    2027: not yet due, not counted (in the year to date or the whole year).
    decided("DSPP-2026-0006", "2026-09-07", "2026-09-11", "cspr", "2026-09-30"),
    # G. An overdue review: SIN aware Wed 8 Apr, due Wed 15 Apr, made Thu 9 Apr: 1 wd, met.
    #    RR from Thu 9 Apr, due Thu 30 Apr (10 | 13-17 | 20-24 | 27,28,29,30); decided Fri 1 May:
    #    16 wd, late. Learning review due Sat 1 Aug, not completed: late.
    decided("DSPP-2026-0007", "2026-04-08", "2026-04-09", "learning_review", "2026-05-01"),
    # H. Started and fell due before the period except its review: SIN aware Mon 16 Feb, due Mon 23 Feb,
    #    made Tue 17 Feb: 1 wd. RR from Tue 17 Feb, due Tue 10 Mar; decided Mon 2 Mar (18,19,20 |
    #    23-27 | 2 Mar = 9 wd). Neither is in the year to date. CSPR due Wed 2 Sep, completed Tue 1 Sep:
    #    Tue 3 Mar..Mon 31 Aug is 26 weeks = 130 weekdays, + Tue 1 Sep = 131, less 3 Apr, 6 Apr, 4 May,
    #    25 May and 31 Aug = 126 wd, met.
    decided("DSPP-2026-0008", "2026-02-16", "2026-02-17", "cspr", "2026-03-02", "2026-09-01"),
    # K. Closed without a decision (criteria not met): its SIN (due Mon 13 Jul) was never needed. Dropped.
    make_case(
        "DSPP-2026-0009",
        "2026-07-06",
        status="closed",
        aware_date=date(2026, 7, 6),
        closed_on=date(2026, 7, 8),
    ),
    # L. In triage with no referral read: not a case yet, no clocks.
    make_case("DSPP-2026-0010", "2026-07-06", status="needs_triage", referral={}),
    # N. Dates from the referral form, not commands, and a "no review" decision that closed it:
    #    LA aware Tue 30 Jun, notified Thu 2 Jul: 2 wd (due Tue 7 Jul), met. RR from Thu 2 Jul, due
    #    Thu 23 Jul; "no review" decided Fri 3 Jul: 1 wd, met.
    make_case(
        "DSPP-2026-0011",
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
]

# The year to date, by hand:
EXPECTED_YTD = [
    # met A 3, E 2, F 4, G 1, N 2; late B 13, C (not made), D (not made): 5/8;
    # median over those made: 1, 2, 2, 3, 4, 13 -> 2.5. (H fell due in February; K dropped.)
    Measure("SIN within 5 working days", 5, 8, 2.5),
    # met A 11, B 15, F 13, N 1; late E (undecided), G 16: 4/6; median 1, 11, 13, 15, 16 -> 13.
    # (C due today and D due 23 Dec: not yet due.)
    Measure("Rapid Review decision within 15 working days", 4, 6, 13.0),
    # C: Police late (not back), Health 3 on time; E: Police 7 late, Education 5 on time: 2/4;
    # median 3, 5, 7 -> 5. (DCS asked today: not counted.)
    Measure("Scoping returns within 5 working days", 2, 4, 5.0),
    # H 126 met; B late (due 11 Nov, not completed): 1/2. (F due next March.)
    Measure("CSPR completed within 6 months", 1, 2, 126.0),
    # A 64 met; G late (due 1 Aug, not completed): 1/2.
    Measure("Learning review completed within 3 months", 1, 2, 64.0),
]


def by_name(measures: list[Measure]) -> dict[str, Measure]:
    return {m.name: m for m in measures}


def test_the_year_to_date_by_hand() -> None:
    r = timeliness(CASES, *YTD, CAL, TS, today=TODAY)
    assert r.measures == EXPECTED_YTD
    assert r.by_agency == [
        Measure(EDUCATION, 1, 1, 5.0),
        Measure(HEALTH, 1, 1, 3.0),
        Measure(POLICE, 0, 2, 7.0),  # C's not back (no days), E's 7 wd
    ]
    assert by_name(r.measures)["SIN within 5 working days"].share == 5 / 8


def test_a_request_sent_minutes_ago_is_not_counted_late() -> None:
    # The issue: report --from 2019-01-01 --to 2027-12-31 showed "Dudley Children's Services 0/1
    # (0%)" for a request sent minutes earlier: it compared the due date with the range's end.
    r = timeliness(CASES, date(2019, 1, 1), date(2027, 12, 31), CAL, TS, today=TODAY)
    assert DCS not in by_name(r.by_agency)
    # Once its due date (Mon 21 Dec) has passed with no return, it is late.
    later = timeliness(
        CASES, date(2019, 1, 1), date(2027, 12, 31), CAL, TS, today=date(2026, 12, 22)
    )
    assert by_name(later.by_agency)[DCS] == Measure(DCS, 0, 1, None)


def test_overdue_sins_rapid_reviews_and_reviews_not_done_count_as_late() -> None:
    # The 14 Dec digest showed two SINs overdue and "SIN within 5 working days 1/1 (100%)".
    sin, rr, _, cspr, learning = timeliness(CASES, *YTD, CAL, TS, today=TODAY).measures
    assert (sin.total - sin.met) == 3  # C and D never made, B made late
    assert (rr.total - rr.met) == 2  # E undecided past its deadline, G decided late
    assert (cspr.total - cspr.met, learning.total - learning.met) == (1, 1)  # B, G not completed


def test_a_late_sin_counts_whenever_its_clock_started() -> None:
    # B's clock started Fri 27 Mar, before the year; it fell due Tue 7 Apr, in it.
    b = [c for c in CASES if c.reference == "DSPP-2026-0002"]
    sin = timeliness(b, *YTD, CAL, TS, today=TODAY).measures[0]
    assert sin == Measure("SIN within 5 working days", 0, 1, 13.0)
    # The year before (to 31 Mar) does not count it: each clock is in one period only.
    before = timeliness(b, date(2025, 4, 1), date(2026, 3, 31), CAL, TS, today=TODAY)
    assert before.measures[0].total == 0


def test_a_clock_due_today_is_not_yet_late_and_tomorrow_it_is() -> None:
    c = [x for x in CASES if x.reference == "DSPP-2026-0003"]
    assert timeliness(c, *YTD, CAL, TS, today=TODAY).measures[1].total == 0
    tomorrow = date(2026, 12, 15)
    rr = timeliness(c, YTD[0], tomorrow, CAL, TS, today=tomorrow).measures[1]
    assert rr == Measure("Rapid Review decision within 15 working days", 0, 1, None)


def test_a_case_closed_without_a_decision_drops_its_clocks() -> None:
    k = [c for c in CASES if c.reference == "DSPP-2026-0009"]
    assert all(m.total == 0 for m in timeliness(k, *YTD, CAL, TS, today=TODAY).measures)


def test_months_add_up_to_the_year() -> None:
    months = [(date(2026, m, 1), date(2026, m + 1, 1)) for m in range(4, 12)]
    totals = [0] * 5
    mets = [0] * 5
    from datetime import timedelta

    for first, next_first in [*months, (date(2026, 12, 1), date(2027, 1, 1))]:
        r = timeliness(
            CASES, first, min(next_first - timedelta(days=1), TODAY), CAL, TS, today=TODAY
        )
        for i, m in enumerate(r.measures):
            totals[i] += m.total
            mets[i] += m.met
    assert totals == [m.total for m in EXPECTED_YTD]
    assert mets == [m.met for m in EXPECTED_YTD]
    # November alone: SIN C late, E met; RR E late; scoping E's two; CSPR B late.
    nov = timeliness(CASES, date(2026, 11, 1), date(2026, 11, 30), CAL, TS, today=TODAY)
    assert [(m.met, m.total) for m in nov.measures] == [(1, 2), (0, 1), (1, 2), (0, 1), (0, 0)]


def test_other_timescales_change_the_figures_and_the_names() -> None:
    # 20 working days for the Rapid Review: G's 16 wd is in time, E (from Wed 4 Nov, due Thu 3 Dec)
    # still late; C's and D's are further off.
    ts = Timescales(rapid_review_days=20)
    rr = timeliness(CASES, *YTD, CAL, ts, today=TODAY).measures[1]
    assert rr == Measure("Rapid Review decision within 20 working days", 5, 6, 13.0)


def test_a_backwards_range_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        timeliness(CASES, date(2026, 2, 1), date(2026, 1, 1), CAL, TS, today=TODAY)


@pytest.mark.parametrize(
    ("today", "month_day", "start"),
    [
        (date(2026, 12, 14), (4, 1), date(2026, 4, 1)),
        (date(2026, 4, 1), (4, 1), date(2026, 4, 1)),
        (date(2026, 3, 31), (4, 1), date(2025, 4, 1)),
        (date(2026, 12, 14), (1, 1), date(2026, 1, 1)),
        (date(2026, 8, 31), (9, 1), date(2025, 9, 1)),
    ],
)
def test_year_start(today: date, month_day: tuple[int, int], start: date) -> None:
    assert year_start(today, month_day) == start


def test_the_digest_and_the_report_agree() -> None:
    now = datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
    d = build_digest(CASES, [], now, CAL, TS, None, year_start=(4, 1))
    r = timeliness(CASES, *YTD, CAL, TS, today=TODAY)
    assert d.ytd == ytd_line(CASES, TODAY, CAL, TS, (4, 1))
    assert d.ytd is not None
    assert d.ytd.startswith(
        "Year to date (clocks that fell due Wed 1 Apr 2026 to Mon 14 Dec 2026): "
    )
    for m in r.measures:
        assert f"{m.name} {m.shown()}" in d.ytd
    assert "SIN within 5 working days 5/8 (62%)" in d.ytd


def test_ytd_follows_year_start() -> None:
    line = ytd_line(CASES, TODAY, CAL, TS, (1, 1))
    assert line.startswith("Year to date (clocks that fell due Thu 1 Jan 2026 to Mon 14 Dec 2026)")
    # From 1 January, H's SIN (Feb) and RR (Mar) come in: SIN 6/9, RR 5/7.
    assert "SIN within 5 working days 6/9 (67%)" in line
    assert "Rapid Review decision within 15 working days 5/7 (71%)" in line


def test_csv() -> None:
    text = report_csv(timeliness(CASES, *YTD, CAL, TS, today=TODAY))
    assert text == (
        "measure,met,total,share,median_working_days\n"
        "SIN within 5 working days,5,8,0.6250,2.5\n"
        "Rapid Review decision within 15 working days,4,6,0.6667,13\n"
        "Scoping returns within 5 working days,2,4,0.5000,5\n"
        "CSPR completed within 6 months,1,2,0.5000,126\n"
        "Learning review completed within 3 months,1,2,0.5000,64\n"
        "Scoping returns: Education,1,1,1.0000,5\n"
        "Scoping returns: Health,1,1,1.0000,3\n"
        "Scoping returns: West Midlands Police,0,2,0.0000,7\n"
    )
    # A name with a comma is quoted, and the whole thing reads back.
    odd = [
        make_case(
            "DSPP-2026-0012",
            "2026-02-02",
            agencies=(
                asked("Dudley Group NHS, Foundation Trust", date(2026, 2, 2), date(2026, 2, 9)),
            ),
        ),
    ]
    year = (date(2026, 1, 1), date(2026, 12, 31))
    rows = list(
        csv.DictReader(io.StringIO(report_csv(timeliness(odd, *year, CAL, TS, today=TODAY))))
    )
    assert rows[-1] == {
        "measure": "Scoping returns: Dudley Group NHS, Foundation Trust",
        "met": "1",
        "total": "1",
        "share": "1.0000",
        "median_working_days": "5",
    }
    assert rows[3]["share"] == "" and rows[3]["median_working_days"] == ""  # no CSPR measured


def test_text() -> None:
    text = report_text(timeliness(CASES, *YTD, CAL, TS, today=TODAY))
    lines = text.splitlines()
    assert lines[0] == (
        "Timeliness of clocks that fell due Wed 1 Apr 2026 to Mon 14 Dec 2026, as of Mon 14 Dec 2026"
    )
    assert any(
        ln.startswith("SIN within 5 working days")
        and "5/8 (62%)" in ln
        and ln.endswith("2.5 working days")
        for ln in lines
    )
    assert any(ln.startswith("  West Midlands Police") and "0/2 (0%)" in ln for ln in lines)
    figures = [ln for ln in lines if "/" in ln and "(" in ln]
    assert len({ln.index(")") for ln in figures}) == 1  # the figures column lines up
