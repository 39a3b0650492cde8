"""What the templates see: the contexts and headers of the messages the workflow sends.

Only ``internal_view`` (for the coordinators) may name the child; ``base_context`` is what every message
may say. Dates here are written for people (``Mon 4 Jan 2027``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from .clocks import days_left, rag
from .deadlines import DEADLINE_LABELS, case_deadlines
from .models import REFERRAL_FIELDS, Case, InboundMessage, OutboundMessage
from .settings import Settings
from .workdays import WorkingCalendar, format_date

# Referral fields that are dates: shown to the coordinators as ``<key>_shown`` too.
_REFERRAL_DATES = ("child_dob", "incident_date", "la_aware_date", "notification_date")


def notice(
    reference: str,
    key: str,
    template: str,
    subject: str,
    context: dict[str, Any],
    st: Settings,
    **more: Any,
) -> OutboundMessage:
    """A message to the coordinators about a case (internal: it may name the child)."""
    return OutboundMessage(
        key=key,
        template=template,
        to=st.coordinators,
        subject=subject,
        context=context,
        case_ref=reference,
        internal=True,
        **more,
    )


def reply_headers(msg: InboundMessage) -> dict[str, Any]:
    """``In-Reply-To`` and ``References`` for an answer to ``msg`` (none if it has no Message-ID)."""
    if not msg.message_id:
        return {}
    return {"in_reply_to": msg.message_id, "references": (*msg.references, msg.message_id)[-20:]}


def base_context(case: Case, st: Settings) -> dict[str, Any]:
    """What every message may say: no child's name, address or date of birth."""
    return {
        "reference": case.reference,
        "initials": case.initials(),
        "partnership": st.partnership_name,
        "phone": st.phone,
        "mailbox": st.mailbox,
    }


def _shown(d: date | None) -> str:
    return format_date(d) if d else ""


def _shown_iso(value: Any) -> str:
    return format_date(date.fromisoformat(value)) if isinstance(value, str) and value else ""


def internal_view(case: Case, cal: WorkingCalendar, st: Settings, today: date) -> dict[str, Any]:
    """Everything the coordinators see of a case, dates written for people."""
    dl = case_deadlines(case, cal, st.timescales)
    deadline_rows = []
    for attr, label in DEADLINE_LABELS:
        d = getattr(dl, attr)
        if d is None:
            continue
        deadline_rows.append(
            {
                "label": label,
                "due": format_date(d.due),
                "provisional": d.provisional,
                "met_on": format_date(d.met_on) if d.met_on else "",
                "days_left": days_left(d.due, today, cal),
                "rag": "met" if d.met_on else rag(d.due, today, cal, st.timescales),
            }
        )
    referral: dict[str, Any] = {k: None for k in REFERRAL_FIELDS} | dict(case.referral)
    for key in _REFERRAL_DATES:
        referral[key + "_shown"] = _shown_iso(referral.get(key))
    return {
        **base_context(case, st),
        "case": case.to_dict(),
        "referral": referral,
        "status": case.status.replace("_", " "),
        "criteria": case.criteria,
        "deadlines": deadline_rows,
        "received_on": _shown(case.received_on),
        "agencies": [
            {**a.to_dict(), "due_shown": _shown(a.due), "returned_shown": _shown(a.returned_on)}
            for a in case.agencies
        ],
        "triage_reasons": list(case.triage_reasons),
    }
