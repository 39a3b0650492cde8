"""A case's dates and deadlines: the only place they are computed from a ``Case`` (SPEC 2).

``clocks`` holds the arithmetic over plain dates; this module says which of a case's dates feed it.
The workflow, the digest, the report and the CLI all ask here.
"""

from __future__ import annotations

from datetime import date, datetime

from .clocks import AgencyDates, CaseDates, Deadlines, Timescales, deadlines, scoping_due
from .models import Agency, Case, parse_iso_date
from .workdays import LONDON, WorkingCalendar

DEADLINE_LABELS = (("sin", "SIN"), ("rapid_review", "Rapid Review decision"), ("review", "Review"))


def today_of(now: datetime) -> date:
    """The London day of ``now``."""
    return now.astimezone(LONDON).date()


def case_dates(case: Case) -> CaseDates:
    """What the clocks need of a case: the coordinators' dates, else the referral's."""
    r = case.referral
    aware = case.aware_date or parse_iso_date(r.get("la_aware_date"))
    notified = case.notified_date
    if notified is None and r.get("national_panel_notified") is True:
        notified = parse_iso_date(r.get("notification_date"))
    return CaseDates(
        received_on=case.received_on,
        la_aware_date=aware,
        notified_date=notified,
        decision=case.decision,
        decision_date=case.decision_date,
        completed_on=case.completed_on,
        closed=case.status == "closed",
        agencies=tuple(AgencyDates(a.name, a.requested_on, a.returned_on) for a in case.agencies),
    )


def case_deadlines(case: Case, cal: WorkingCalendar, ts: Timescales) -> Deadlines:
    """The case's three statutory deadlines (SIN, Rapid Review, review)."""
    return deadlines(case_dates(case), cal, ts)


def agency_due(agency: Agency, cal: WorkingCalendar, ts: Timescales) -> date | None:
    """When the agency's scoping return is due: as recorded, else from its request; None if not asked."""
    if agency.requested_on is None:
        return None
    return agency.due or scoping_due(agency.requested_on, cal, ts)


def next_deadline(case: Case, cal: WorkingCalendar, ts: Timescales) -> tuple[str, date] | None:
    """The soonest deadline not yet met, with its name: what the digest shows per case."""
    if case.status == "closed":
        return None
    dl = case_deadlines(case, cal, ts)
    pending: list[tuple[date, str]] = []
    for attr, label in DEADLINE_LABELS:
        d = getattr(dl, attr)
        if d is not None and d.met_on is None:
            pending.append((d.due, label))
    for a in case.agencies if case.decision is None else ():  # chasing ends with the decision
        if a.due and not a.returned_on:
            pending.append((a.due, f"Scoping return: {a.name}"))
    if not pending:
        return None
    due, label = min(pending)
    return label, due
