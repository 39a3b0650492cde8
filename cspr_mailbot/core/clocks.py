"""The statutory clocks of SPEC 2 and the reminder schedule of SPEC 5, as pure functions of dates.

Nothing here reads the clock: ``today`` is always given. ``core.deadlines`` builds a ``CaseDates`` from a
case; ``deadlines`` gives the dates to show and ``due_reminders`` the notices and chasers to send.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from cspr_mailbot.core.workdays import WorkingCalendar, add_months

logger = logging.getLogger(__name__)

REVIEW_DECISIONS: tuple[str, ...] = ("cspr", "learning_review")
DECISIONS: tuple[str, ...] = ("cspr", "learning_review", "no_review")


@dataclass(frozen=True)
class Timescales:
    """Clock lengths and reminder points (SPEC 2 and 5); the defaults are the SPEC's.

    Raises ValueError naming the field when a value makes no sense, so config can name the key.
    """

    sin_days: int = 5  # working days from the LA-aware date
    scoping_days: int = 5  # working days from the scoping request
    rapid_review_days: int = 15  # working days from the SIN date, provisionally from receipt
    cspr_months: int = 6
    learning_review_months: int = 3
    sin_notice_days: tuple[int, ...] = (3, 5)  # working days after the LA-aware date
    rapid_review_notice_days: tuple[int, ...] = (10, 13, 15)
    scoping_chaser_before: int = 2  # working days before due
    scoping_chaser_every: int = 2  # after the first working day after due, every N wd
    review_notice_before_months: int = 1
    review_notice_before_weeks: int = 2
    amber_days: int = 2  # digest: due within this many working days is amber

    def __post_init__(self) -> None:
        for name in (
            "sin_days",
            "scoping_days",
            "rapid_review_days",
            "cspr_months",
            "learning_review_months",
            "scoping_chaser_every",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        for name in (
            "scoping_chaser_before",
            "review_notice_before_months",
            "review_notice_before_weeks",
            "amber_days",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative, got {getattr(self, name)}")
        for name in ("sin_notice_days", "rapid_review_notice_days"):
            days = getattr(self, name)
            if any(k < 1 for k in days) or len(set(days)) != len(days):
                raise ValueError(f"{name}: must be distinct working-day counts of 1 or more")


@dataclass(frozen=True)
class AgencyDates:
    name: str
    requested_on: date | None
    returned_on: date | None


@dataclass(frozen=True)
class CaseDates:
    """Everything the clocks need about a case, as dates (``deadlines.case_dates`` builds it from a ``Case``)."""

    received_on: date
    la_aware_date: date | None
    notified_date: date | None  # SIN date: when the National Panel was notified
    decision: str | None  # "cspr" | "learning_review" | "no_review" | None
    decision_date: date | None
    completed_on: date | None
    closed: bool
    agencies: tuple[AgencyDates, ...] = ()


@dataclass(frozen=True)
class Deadline:
    due: date
    provisional: bool  # True when computed from a stand-in start (the receipt date)
    met_on: date | None  # when the thing was done (notified / decided / completed), else None


@dataclass(frozen=True)
class Deadlines:
    sin: Deadline | None
    rapid_review: Deadline | None
    review: Deadline | None

    def as_json(self) -> dict[str, str | None]:
        """The SPEC 8 ``deadlines`` object: each an ISO date or null."""
        return {
            "sin": self.sin.due.isoformat() if self.sin else None,
            "rapid_review": self.rapid_review.due.isoformat() if self.rapid_review else None,
            "review": self.review.due.isoformat() if self.review else None,
        }


def scoping_due(requested_on: date, cal: WorkingCalendar, ts: Timescales) -> date:
    """When an agency's scoping return is due: ``scoping_days`` working days from the request."""
    return cal.add_working_days(requested_on, ts.scoping_days)


def review_months(decision: str | None, ts: Timescales) -> int | None:
    """How many calendar months a review decision gives, or None for no review / no decision."""
    if decision == "cspr":
        return ts.cspr_months
    if decision == "learning_review":
        return ts.learning_review_months
    return None


def deadlines(c: CaseDates, cal: WorkingCalendar, ts: Timescales) -> Deadlines:
    """The case's three statutory deadlines (SPEC 2).

    - SIN: ``sin_days`` working days from the LA-aware date; from the receipt date, provisionally,
      while that is unknown. Met on the SIN (notified) date.
    - Rapid Review: ``rapid_review_days`` working days from the SIN date; from the receipt date,
      provisionally, while that is unknown. Met on the decision date.
    - Review: the decision date plus ``cspr_months`` (cspr) or ``learning_review_months``
      (learning_review), a calendar date that may fall on a non-working day; None for no decision, a
      "no_review" decision, or a decision without a date. Met on the completion date.
    """
    sin_start = c.la_aware_date or c.received_on
    sin = Deadline(
        due=cal.add_working_days(sin_start, ts.sin_days),
        provisional=c.la_aware_date is None,
        met_on=c.notified_date,
    )
    rr_start = c.notified_date or c.received_on
    rapid_review = Deadline(
        due=cal.add_working_days(rr_start, ts.rapid_review_days),
        provisional=c.notified_date is None,
        met_on=c.decision_date if c.decision is not None else None,
    )
    review: Deadline | None = None
    months = review_months(c.decision, ts)
    if months is not None and c.decision_date is not None:
        review = Deadline(
            due=add_months(c.decision_date, months), provisional=False, met_on=c.completed_on
        )
    return Deadlines(sin=sin, rapid_review=rapid_review, review=review)


def days_left(deadline: date, today: date, cal: WorkingCalendar) -> int:
    """Working days from ``today`` to ``deadline``: 0 when due today, negative when overdue.

    Before the deadline it is the number of working days in ``(today, deadline]`` (so the last
    working day before a Saturday deadline shows 0). After it, minus the working days in
    ``(deadline, today]``, and never more than -1: a deadline that has passed is overdue even on
    the weekend straight after it.
    """
    if today <= deadline:
        return cal.working_days_between(today, deadline)
    return -max(1, cal.working_days_between(deadline, today))


def rag(deadline: date, today: date, cal: WorkingCalendar, ts: Timescales) -> str:
    """The digest's colour (SPEC 6): red when overdue, amber when due within ``amber_days`` working
    days (0 = due today), green otherwise."""
    left = days_left(deadline, today, cal)
    if left < 0:
        return "red"
    if left <= ts.amber_days:
        return "amber"
    return "green"


ReminderKind = Literal["sin_notice", "rapid_review_notice", "scoping_chaser", "review_notice"]


@dataclass(frozen=True)
class Reminder:
    """A notice or chaser that has fallen due. ``key`` is stable and unique within the case."""

    key: str  # e.g. "sin:day3", "rr:overdue", "scoping:west midlands police:after3", "review:2w"
    kind: str  # "sin_notice" | "rapid_review_notice" | "scoping_chaser" | "review_notice"
    on: date  # the working day it falls due
    deadline: date  # the deadline it is about
    agency: str | None = None
    to_coordinators: bool = True  # False for scoping chasers: they go to the agency
    copy_coordinators: bool = False  # True for the first scoping chaser after the due date
    label: str = ""  # words for a person, as of the day it is produced


def _plural(n: int) -> str:
    return f"{n} working day" if n == 1 else f"{n} working days"


_PROVISIONAL = " (provisional, counted from the receipt date)"


def _label(
    what: str, deadline: date, today: date, cal: WorkingCalendar, provisional: bool = False
) -> str:
    left = days_left(deadline, today, cal)
    if left > 0:
        text = f"{what} due in {_plural(left)}"
    elif left == 0:
        text = f"{what} due today" if today == deadline else f"{what} due by the end of today"
    else:
        text = f"{what} overdue by {_plural(-left)}"
    return text + (_PROVISIONAL if provisional else "")


def agency_key(name: str) -> str:
    """The agency's part of a scoping chaser key: its name, lower case, spaces collapsed."""
    return " ".join(name.split()).lower()


# One point of a series before it is turned into a Reminder: (key, on).
_Point = tuple[str, date]


def _latest(points: list[_Point], today: date) -> _Point | None:
    """The last point on or before ``today``; of points on the same day, the later in the list."""
    best: _Point | None = None
    for point in points:
        if point[1] <= today and (best is None or point[1] >= best[1]):
            best = point
    return best


def _notice_series(
    prefix: str,
    kind: str,
    what: str,
    start: date,
    notice_days: Iterable[int],
    deadline: Deadline,
    today: date,
    cal: WorkingCalendar,
) -> Reminder | None:
    """Notices on working days N after ``start``, then one on the first working day overdue."""
    points = [(f"{prefix}:day{k}", cal.add_working_days(start, k)) for k in sorted(notice_days)]
    points.append((f"{prefix}:overdue", cal.next_working_day(deadline.due)))
    chosen = _latest(points, today)
    if chosen is None:
        return None
    return Reminder(
        key=chosen[0],
        kind=kind,
        on=chosen[1],
        deadline=deadline.due,
        label=_label(what, deadline.due, today, cal, deadline.provisional),
    )


def _sin_reminder(
    c: CaseDates, d: Deadlines, today: date, cal: WorkingCalendar, ts: Timescales
) -> Reminder | None:
    if c.closed or c.notified_date is not None or c.decision is not None or d.sin is None:
        return None
    start = c.la_aware_date or c.received_on
    return _notice_series("sin", "sin_notice", "SIN", start, ts.sin_notice_days, d.sin, today, cal)


def _rapid_review_reminder(
    c: CaseDates, d: Deadlines, today: date, cal: WorkingCalendar, ts: Timescales
) -> Reminder | None:
    if c.closed or c.decision is not None or d.rapid_review is None:
        return None
    return _notice_series(
        "rr",
        "rapid_review_notice",
        "Rapid Review decision",
        c.notified_date or c.received_on,
        ts.rapid_review_notice_days,
        d.rapid_review,
        today,
        cal,
    )


def _scoping_reminder(
    agency: AgencyDates, today: date, cal: WorkingCalendar, ts: Timescales
) -> Reminder | None:
    if agency.requested_on is None or agency.returned_on is not None:
        return None
    due = scoping_due(agency.requested_on, cal, ts)
    prefix = f"scoping:{agency_key(agency.name)}"
    points: list[_Point] = []
    before = cal.add_working_days(due, -ts.scoping_chaser_before)
    if ts.scoping_chaser_before > 0 and before > agency.requested_on:
        points.append((f"{prefix}:before", before))
    points.append((f"{prefix}:due", due))
    if today > due:
        # after1, then every `scoping_chaser_every` working days: only the latest can be chosen.
        after = cal.working_days_between(due, today)
        if after >= 1:
            m = 1 + ts.scoping_chaser_every * ((after - 1) // ts.scoping_chaser_every)
            points.append((f"{prefix}:after{m}", cal.add_working_days(due, m)))
    chosen = _latest(points, today)
    if chosen is None:
        return None
    return Reminder(
        key=chosen[0],
        kind="scoping_chaser",
        on=chosen[1],
        deadline=due,
        agency=agency.name,
        to_coordinators=False,
        copy_coordinators=chosen[0] == f"{prefix}:after1",
        label=_label("Scoping return", due, today, cal),
    )


def _review_reminder(
    c: CaseDates, d: Deadlines, today: date, cal: WorkingCalendar, ts: Timescales
) -> Reminder | None:
    if c.closed or c.completed_on is not None or d.review is None or c.decision_date is None:
        return None
    due = d.review.due
    points: list[_Point] = []
    if ts.review_notice_before_months > 0:
        points.append(
            ("review:1m", cal.on_or_after(add_months(due, -ts.review_notice_before_months)))
        )
    if ts.review_notice_before_weeks > 0:
        points.append(
            ("review:2w", cal.on_or_after(due - timedelta(weeks=ts.review_notice_before_weeks)))
        )
    # Early notices that land on or before the decision itself would be noise: drop them.
    points = [p for p in points if p[1] > c.decision_date]
    due_notice = cal.on_or_after(due)
    points.append(("review:due", due_notice))
    points.append(("review:overdue", cal.next_working_day(due_notice)))
    chosen = _latest(points, today)
    if chosen is None:
        return None
    what = "CSPR completion" if c.decision == "cspr" else "Learning review completion"
    return Reminder(
        key=chosen[0],
        kind="review_notice",
        on=chosen[1],
        deadline=due,
        label=_label(what, due, today, cal),
    )


def due_reminders(
    c: CaseDates, today: date, cal: WorkingCalendar, ts: Timescales
) -> list[Reminder]:
    """The notices and chasers due on ``today`` for case ``c`` (SPEC 5), in a stable order.

    Series and when each point falls (all on working days):

    - SIN (``sin:dayK``, ``sin:overdue``): working days ``sin_notice_days`` after the LA-aware date
      (the receipt date while that is unknown), then once on the first working day after the SIN
      deadline. Stops once the SIN date is set, a decision is made, or the case is closed.
    - Rapid Review (``rr:dayK``, ``rr:overdue``): working days ``rapid_review_notice_days`` from the
      SIN date (the receipt date while that is unknown), then once overdue. Stops once a decision
      is made or the case is closed.
    - Scoping chasers, per agency with a request and no return (``scoping:<agency>:before``,
      ``:due``, ``:after1``, ``:after3``, ``:after5``, ... counted in working days after the due
      date): ``scoping_chaser_before`` working days before due, on the due date, on the first
      working day after it (``copy_coordinators``), then every ``scoping_chaser_every`` working days
      while outstanding. They go to the agency (``to_coordinators`` False). Stop once the agency
      returns, a decision is made, or the case is closed.
    - Review (``review:1m``, ``review:2w``, ``review:due``, ``review:overdue``) for a cspr or
      learning_review decision: a month and two weeks before the due date, on it, and once on the
      working day after the due notice. A notice that would fall on a non-working day moves to the
      next working day (a Saturday due date gives its due notice on Monday, its overdue one on
      Tuesday). Stops once the review is completed or the case is closed.

    Catch-up: after downtime this does not return a burst of stale reminders. Within each series it
    returns only the latest point whose day is on or before ``today``; the points it skipped are
    never sent. The caller drops any reminder whose key it has already sent (each key goes once,
    ever), so calling this every pass is safe. Keys do not depend on ``today`` or on later facts, so
    a notice already sent stays sent even if, say, a SIN date given later moves the Rapid Review
    deadline.

    Nothing is due on a day that is not a working day (an empty list): what fell due stays due and
    is returned on the next working day unless a later point of its series has replaced it.
    Labels are written as of ``today``.
    """
    if not cal.is_working_day(today):
        return []
    d = deadlines(c, cal, ts)
    found: list[Reminder | None] = [
        _sin_reminder(c, d, today, cal, ts),
        _rapid_review_reminder(c, d, today, cal, ts),
    ]
    if not c.closed and c.decision is None:
        found.extend(_scoping_reminder(a, today, cal, ts) for a in c.agencies)
    found.append(_review_reminder(c, d, today, cal, ts))
    return [r for r in found if r is not None]
