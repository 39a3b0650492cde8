"""Timeliness figures (SPEC 6b, SPEC 8 ``report``): how often each clock was met, from ONE definition.

Pure: cases, a period and the day they are counted on in; a Report value out, plus its text, CSV and
the digest's one-line year to date. ``report`` and the digest both call ``timeliness``, so they agree.

The definition. A case's clock (its SIN, its Rapid Review decision, its review, each agency's scoping
return) is counted in a period when it FELL DUE in that period (its due date is in it, both ends
included), whenever the clock started, and only once its outcome is known on ``today``:

- done (SIN date, decision date, completion date, return date given): met when done on or before the
  due date, late otherwise;
- not done and the due date is before ``today``: late (an overdue SIN not made, an undecided Rapid
  Review, an overdue review or return), unless the case was closed without a decision (a referral
  that did not go on: its clocks were dropped, not missed);
- not done and due on ``today`` or later: not yet due, not counted.

Deadlines come from ``core.deadlines`` (a provisional one, counted from the receipt date, counts as
it is shown). Medians are working days from the clock's start to when it was done, over the clocks
done. Each clock falls in exactly one period, so the figures of adjoining periods add up.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from .clocks import Timescales, agency_key, deadlines
from .deadlines import agency_due, case_dates
from .models import Case
from .workdays import WorkingCalendar, format_date

logger = logging.getLogger(__name__)

DEFAULT_YEAR_START: tuple[int, int] = (4, 1)  # partnerships report April to March


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
    today: date  # the day the outcomes are counted on: a clock due on or after it is not yet due
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
        from statistics import median  # statistics imports fractions, decimal: when first needed

        taken = float(median(self.days)) if self.days else None
        return Measure(self.name, self.met, self.total, taken)


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


@dataclass(frozen=True)
class Clock:
    """One clock of one case, as the figures see it: when it started, fell due and was done."""

    measure: str  # "sin" | "rapid_review" | "scoping" | "cspr" | "learning_review"
    start: date
    due: date
    done_on: date | None
    dropped: bool  # the case closed without a decision: an unmet clock is not counted
    agency: str | None = None  # for "scoping": the agency's name


def case_clocks(case: Case, cal: WorkingCalendar, ts: Timescales) -> list[Clock]:
    """Every clock of ``case`` that has a due date, from ``core.deadlines``."""
    if case.status == "needs_triage" and not case.referral:
        return []  # not a referral (yet): nothing started
    c = case_dates(case)
    dl = deadlines(c, cal, ts)
    dropped = case.status == "closed" and case.decision is None
    out: list[Clock] = []
    if dl.sin is not None:
        start = c.la_aware_date or c.received_on
        out.append(Clock("sin", start, dl.sin.due, dl.sin.met_on, dropped))
    if dl.rapid_review is not None:
        start = c.notified_date or c.received_on
        out.append(
            Clock("rapid_review", start, dl.rapid_review.due, dl.rapid_review.met_on, dropped)
        )
    if dl.review is not None and c.decision_date is not None:
        kind = "cspr" if c.decision == "cspr" else "learning_review"
        out.append(Clock(kind, c.decision_date, dl.review.due, dl.review.met_on, dropped))
    for a in case.agencies:
        due = agency_due(a, cal, ts)
        if a.requested_on is None or due is None:
            continue
        out.append(Clock("scoping", a.requested_on, due, a.returned_on, dropped, a.name))
    return out


def outcome(clock: Clock, today: date) -> bool | None:
    """True met, False late, None not counted (not yet due, or dropped with the case)."""
    if clock.done_on is not None:
        return clock.done_on <= clock.due
    if clock.due < today and not clock.dropped:
        return False
    return None


def timeliness(
    cases: Iterable[Case],
    start: date,
    end: date,
    cal: WorkingCalendar,
    ts: Timescales,
    *,
    today: date,
) -> Report:
    """The figures for clocks that fell due from ``start`` to ``end`` (both included), as of ``today``."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    tallies = {
        "sin": _Tally(f"SIN within {_plural(ts.sin_days, 'working day')}"),
        "rapid_review": _Tally(
            f"Rapid Review decision within {_plural(ts.rapid_review_days, 'working day')}"
        ),
        "scoping": _Tally(f"Scoping returns within {_plural(ts.scoping_days, 'working day')}"),
        "cspr": _Tally(f"CSPR completed within {_plural(ts.cspr_months, 'month')}"),
        "learning_review": _Tally(
            f"Learning review completed within {_plural(ts.learning_review_months, 'month')}"
        ),
    }
    agencies: dict[str, _Tally] = {}
    for case in cases:
        for clock in case_clocks(case, cal, ts):
            if not start <= clock.due <= end:
                continue
            met = outcome(clock, today)
            if met is None:
                continue
            taken = (
                cal.working_days_between(clock.start, clock.done_on)
                if clock.done_on is not None
                else None
            )
            tallies[clock.measure].add(met, taken)
            if clock.agency is not None:
                key = agency_key(clock.agency)
                agencies.setdefault(key, _Tally(clock.agency)).add(met, taken)
    by_agency = sorted((t.measure() for t in agencies.values()), key=lambda m: m.name.lower())
    return Report(
        start=start,
        end=end,
        today=today,
        measures=[t.measure() for t in tallies.values()],
        by_agency=by_agency,
    )


def year_start(today: date, month_day: tuple[int, int] = DEFAULT_YEAR_START) -> date:
    """The first day of the reporting year holding ``today`` (``[report] year_start``, 1 April by default)."""
    month, day = month_day
    this_year = date(today.year, month, day)
    return this_year if this_year <= today else date(today.year - 1, month, day)


def _median_shown(m: Measure) -> str:
    if m.median_working_days is None:
        return "-"
    return f"{m.median_working_days:g} working days"


def report_text(r: Report) -> str:
    """The report for a person in a fixed font: one aligned line per measure, then per agency."""
    lines = [
        f"Timeliness of clocks that fell due {format_date(r.start)} to {format_date(r.end)},"
        f" as of {format_date(r.today)}",
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


def ytd_line(
    cases: Iterable[Case],
    today: date,
    cal: WorkingCalendar,
    ts: Timescales,
    month_day: tuple[int, int] = DEFAULT_YEAR_START,
) -> str:
    """One line for the digest: the reporting year so far (``year_start`` to ``today``), every measure."""
    start = year_start(today, month_day)
    r = timeliness(cases, start, today, cal, ts, today=today)
    parts = ", ".join(f"{m.name} {m.shown()}" for m in r.measures)
    return (
        f"Year to date (clocks that fell due {format_date(start)} to {format_date(today)}): {parts}"
    )
