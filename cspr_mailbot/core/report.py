"""Timeliness for a date range (SPEC 2 clocks, SPEC 8 ``report``): how often each clock was met.

Pure: cases and dates in, a Report value out, plus its text, CSV and one-line year-to-date forms.
Each measure counts the cases whose clock STARTED in the range (so a range's figures do not change
when later ranges are added), and only those whose outcome is known:

- SIN within ``sin_days`` working days: LA-aware date in range and a SIN (notified) date given;
  met when notified on or before the SIN deadline. Median: working days aware -> notified.
- Rapid Review decision within ``rapid_review_days``: a decision with a date, clock start (the SIN
  date, or the receipt date when there is none) in range; met when decided by the deadline.
- Scoping returns on time, overall and per agency: each agency whose request date is in range and
  that has returned, or whose due date is before the range's end without a return (late for
  sure); met when returned on or before the due date. Median over the returns received.
- CSPRs within ``cspr_months`` and learning reviews within ``learning_review_months``: decided in
  range and completed; met when completed on or before the due date.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from statistics import median

from .clocks import Timescales, agency_key, deadlines
from .deadlines import agency_due, case_dates
from .models import Case
from .workdays import WorkingCalendar, format_date

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Measure:
    name: str
    met: int
    total: int
    median_working_days: float | None

    @property
    def share(self) -> float | None:
        """``met / total``, or None when nothing was measured."""
        return self.met / self.total if self.total else None

    def shown(self) -> str:
        """``4/5 (80%)``, or ``none yet`` when nothing was measured."""
        if self.share is None:
            return "none yet"
        return f"{self.met}/{self.total} ({self.share:.0%})"


@dataclass(frozen=True)
class Report:
    start: date
    end: date
    measures: list[Measure]
    by_agency: list[Measure]  # scoping returns on time, one per agency, by name


class _Tally:
    """Outcomes of one measure as they are found: met or not, and the working days taken."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.met = 0
        self.total = 0
        self.days: list[int] = []

    def add(self, met: bool, days: int | None) -> None:
        self.total += 1
        self.met += int(met)
        if days is not None:
            self.days.append(days)

    def measure(self) -> Measure:
        taken = float(median(self.days)) if self.days else None
        return Measure(self.name, self.met, self.total, taken)


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def timeliness(
    cases: Iterable[Case], start: date, end: date, cal: WorkingCalendar, ts: Timescales
) -> Report:
    """The figures for clocks that started from ``start`` to ``end``, both days included."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    sin = _Tally(f"SIN within {_plural(ts.sin_days, 'working day')}")
    rr = _Tally(f"Rapid Review decision within {_plural(ts.rapid_review_days, 'working day')}")
    scoping = _Tally(f"Scoping returns within {_plural(ts.scoping_days, 'working day')}")
    cspr = _Tally(f"CSPR completed within {_plural(ts.cspr_months, 'month')}")
    learning = _Tally(
        f"Learning review completed within {_plural(ts.learning_review_months, 'month')}"
    )
    agencies: dict[str, _Tally] = {}

    def in_range(d: date | None) -> bool:
        return d is not None and start <= d <= end

    for case in cases:
        c = case_dates(case)
        dl = deadlines(c, cal, ts)
        if c.la_aware_date and c.notified_date and in_range(c.la_aware_date) and dl.sin:
            sin.add(
                c.notified_date <= dl.sin.due,
                cal.working_days_between(c.la_aware_date, c.notified_date),
            )
        rr_start = c.notified_date or c.received_on
        if c.decision and c.decision_date and in_range(rr_start) and dl.rapid_review:
            rr.add(
                c.decision_date <= dl.rapid_review.due,
                cal.working_days_between(rr_start, c.decision_date),
            )
        if dl.review and c.decision_date and c.completed_on and in_range(c.decision_date):
            tally = cspr if c.decision == "cspr" else learning
            tally.add(
                c.completed_on <= dl.review.due,
                cal.working_days_between(c.decision_date, c.completed_on),
            )
        for a in case.agencies:
            requested, due, returned = a.requested_on, agency_due(a, cal, ts), a.returned_on
            if requested is None or due is None or not in_range(requested):
                continue
            if returned is None and due >= end:
                continue  # not back, but not late yet either: no outcome to count
            on_time = returned is not None and returned <= due
            taken = cal.working_days_between(requested, returned) if returned else None
            scoping.add(on_time, taken)
            agencies.setdefault(agency_key(a.name), _Tally(a.name)).add(on_time, taken)

    by_agency = sorted((t.measure() for t in agencies.values()), key=lambda m: m.name.lower())
    return Report(
        start=start,
        end=end,
        measures=[m.measure() for m in (sin, rr, scoping, cspr, learning)],
        by_agency=by_agency,
    )


def _median_shown(m: Measure) -> str:
    if m.median_working_days is None:
        return "-"
    return f"{m.median_working_days:g} working days"


def report_text(r: Report) -> str:
    """The report for a person in a fixed font: one aligned line per measure, then per agency."""
    lines = [
        f"Timeliness of clocks that started {format_date(r.start)} to {format_date(r.end)}",
        "",
    ]
    width = max(len(m.name) for m in [*r.measures, *r.by_agency])
    header = f"{'Measure':<{width}}  {'On time':>14}  Median"
    lines += [header, "-" * len(header)]
    for m in r.measures:
        lines.append(f"{m.name:<{width}}  {m.shown():>14}  {_median_shown(m)}")
    lines += ["", "Scoping returns on time, by agency:"]
    if not r.by_agency:
        lines.append("  none in this range")
    for m in r.by_agency:
        lines.append(f"{'  ' + m.name:<{width}}  {m.shown():>14}  {_median_shown(m)}")
    return "\n".join(lines) + "\n"


def report_csv(r: Report) -> str:
    """CSV: ``measure,met,total,share,median_working_days``; agencies as ``Scoping returns: NAME``.

    ``share`` is a fraction to 4 places; it and the median are empty when nothing was measured.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["measure", "met", "total", "share", "median_working_days"])
    rows = [
        *r.measures,
        *(
            Measure(f"Scoping returns: {m.name}", m.met, m.total, m.median_working_days)
            for m in r.by_agency
        ),
    ]
    for m in rows:
        share = "" if m.share is None else f"{m.share:.4f}"
        taken = "" if m.median_working_days is None else f"{m.median_working_days:g}"
        writer.writerow([m.name, m.met, m.total, share, taken])
    return out.getvalue()


def ytd_line(cases: Iterable[Case], today: date, cal: WorkingCalendar, ts: Timescales) -> str:
    """One line for the digest: the calendar year so far (1 January to ``today``), every measure."""
    start = date(today.year, 1, 1)
    r = timeliness(cases, start, today, cal, ts)
    parts = ", ".join(f"{m.name} {m.shown()}" for m in r.measures)
    return f"Year to date (clocks started {format_date(start)} to {format_date(today)}): {parts}"
