"""The schedule (SPEC 5): chasers to agencies and deadline notices to the coordinators, each sent once.

``clocks.due_reminders`` says what has fallen due; this module writes the messages and marks them sent
on the case, so that running again (or after a restart) sends nothing twice. Scheduled mail goes only in
working hours (``in_working_hours``): on a working day from ``send_from`` to the cut-off; what falls due
outside them waits. Mail caused by a message or a command never passes through here: it goes at once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from typing import Any

from .agencies import match_agency, norm, scoping_chaser
from .clocks import Reminder, due_reminders
from .deadlines import case_dates, today_of
from .models import Case, OutboundMessage
from .settings import Settings
from .views import internal_view, notice
from .workdays import LONDON, WorkingCalendar, format_date

DEFAULT_SEND_FROM = time(8, 0)  # [calendar] send_from


def in_working_hours(
    now: datetime, cal: WorkingCalendar, send_from: time = DEFAULT_SEND_FROM
) -> bool:
    """True on a working day (London) from ``send_from`` up to, not including, the cut-off (SPEC 5)."""
    local = now.astimezone(LONDON)
    at = local.time().replace(tzinfo=None)
    return cal.is_working_day(local.date()) and send_from <= at < cal.cutoff


def due_messages(
    case: Case,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
    *,
    send_from: time = DEFAULT_SEND_FROM,
) -> tuple[Case, list[OutboundMessage]]:
    """Chasers and deadline notices that fall due by ``now`` and were not sent before; marks them sent.

    Outside working hours nothing is due: the same reminders are found at the next ``send_from``.
    """
    today = today_of(now)
    if not in_working_hours(now, cal, send_from):
        return case, []
    if case.status == "needs_triage" and not case.referral:
        return case, []
    messages: list[OutboundMessage] = []
    view: dict[str, Any] | None = None
    for reminder in due_reminders(case_dates(case), today, cal, st.timescales):
        key = f"{case.reference}:{reminder.key}"
        if case.has_sent(key):
            continue
        if reminder.kind == "scoping_chaser":
            msg = _chaser(case, reminder, key, st, today)
            if msg is None:
                continue
            agencies = tuple(
                replace(a, chasers_sent=a.chasers_sent + 1)
                if norm(a.name) == norm(reminder.agency or "")
                else a
                for a in case.agencies
            )
            case = replace(case, agencies=agencies)
        else:
            view = view or internal_view(case, cal, st, today)
            msg = notice(
                case.reference,
                key,
                "deadline_notice",
                reminder.label or "Deadline",
                {
                    **view,
                    "label": reminder.label,
                    "deadline_shown": format_date(reminder.deadline),
                    "kind": reminder.kind,
                },
                st,
            )
        messages.append(msg)
        case = replace(case, sent_keys=(*case.sent_keys, key)).with_event(
            now, reminder.kind, reminder.key
        )
    return case, messages


def _chaser(
    case: Case, reminder: Reminder, key: str, st: Settings, today: date
) -> OutboundMessage | None:
    index = match_agency(case, (reminder.agency,), "")
    if index is None or not case.agencies[index].email:
        return None
    return scoping_chaser(
        case,
        case.agencies[index],
        st,
        key=key,
        due=reminder.deadline,
        overdue=reminder.on > reminder.deadline,
        label=reminder.label,
        copy_coordinators=reminder.copy_coordinators,
    )
