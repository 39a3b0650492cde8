"""Mail on a case (SPEC 3): machine mail, scoping returns, and anything else people write.

A bounce of a message we sent goes on its case; a completed scoping template records that agency's
return; a referral form on a case in triage completes it (``intake.complete``); other mail is kept on
the case and shown to the coordinators.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from . import intake
from .agencies import match_agency
from .classify import Classification
from .commands import parse_commands
from .deadlines import today_of
from .models import Agency, Case, OutboundMessage, Outcome
from .pack_mail import pack_message
from .reading import MIN_FORM_LABELS, ReadMessage
from .settings import Settings
from .views import base_context, internal_view, notice, reply_headers
from .workdays import WorkingCalendar


def on_automatic(
    read: ReadMessage, cls: Classification, case: Case | None, now: datetime, st: Settings
) -> Outcome:
    """Never answered. A bounce of a message we sent goes on its case and the coordinators hear of it."""
    msg = read.message
    if case is None or cls.bounce_of is None:
        return Outcome("ignored", "automatic", None, (), f"automatic: {cls.reasons[0]}")
    case = case.with_event(
        now, "bounce", f"uid {msg.uid}: our message {cls.bounce_of} was not delivered"
    )
    bounce = notice(
        case.reference,
        f"{case.reference}:notice:bounce:{msg.sha256[:16]}",
        "bounce_notice",
        "A message we sent was not delivered",
        {
            **base_context(case, st),
            "bounced_message_id": cls.bounce_of,
            "report_excerpt": msg.body_text[:2000],
        },
        st,
    )
    return Outcome("ignored", "automatic", case, (bounce,), f"{case.reference} bounce")


def on_correspondence(
    read: ReadMessage,
    cls: Classification,
    case: Case,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
) -> Outcome:
    """Mail on a case: a completed scoping template records a return; anything else is kept and shown.

    On a case in triage, a referral form (the referrer answering the triage reply) completes the case
    and is never taken as a scoping return.
    """
    msg = read.message
    if case.status == "needs_triage":
        completed = intake.complete(read, case, now, cal, st, "; ".join(cls.reasons))
        if completed is not None:
            return completed
    today = today_of(now)
    messages: list[OutboundMessage] = []
    returned: list[str] = []
    scoping = read.scoping
    problems = list(scoping.problems)
    for result in scoping.returns:
        ref = result.embedded_reference or result.fields.get("case_reference")
        if result.found_labels < MIN_FORM_LABELS or (ref and ref.upper() != case.reference):
            continue
        name = result.embedded_agency or result.fields.get("agency_name")
        index = match_agency(
            case, (result.embedded_agency, result.fields.get("agency_name")), msg.from_addr
        )
        if index is None:
            agency = Agency(
                name=name or msg.from_addr or "Unknown agency", email=msg.from_addr or None
            )
            case = replace(case, agencies=(*case.agencies, agency))
            index = len(case.agencies) - 1
            case = case.with_event(now, "agency_added", f"{agency.name} (from a returned template)")
        agency = case.agencies[index]
        if agency.returned_on:
            case = case.with_event(
                now, "return_updated", f"{agency.name}: a further return, uid {msg.uid}"
            )
        agencies = list(case.agencies)
        agencies[index] = replace(
            agency, returned_on=agency.returned_on or today, scoping=result.fields
        )
        case = replace(case, agencies=tuple(agencies))
        case = case.with_event(now, "scoping_returned", f"{agency.name}, uid {msg.uid}")
        returned.append(agency.name)

    if returned:
        if msg.from_addr:
            messages.append(
                OutboundMessage(
                    key=f"{case.reference}:return-ack:{msg.sha256[:16]}",
                    template="return_ack",
                    to=(msg.from_addr,),
                    subject="Scoping return received",
                    context={**base_context(case, st), "agencies": returned},
                    case_ref=case.reference,
                    auto_submitted="auto-replied",
                    **reply_headers(msg),
                )
            )
        requested = [a for a in case.agencies if a.requested_on]
        if requested and all(a.returned_on for a in requested):
            # The pack goes once per set of returns: a late return makes a new set (pack_mail).
            messages.append(pack_message(case, now, cal, st, requested=False))
        return Outcome(
            "processed", "return", case, tuple(messages), f"{case.reference} return {len(returned)}"
        )

    case = case.with_event(now, "correspondence", f"uid {msg.uid}; {'; '.join(cls.reasons)}")
    messages.append(
        notice(
            case.reference,
            f"{case.reference}:notice:mail:{msg.sha256[:16]}",
            "correspondence_notice",
            "Mail on the case",
            {
                **internal_view(case, cal, st, today),
                "sender": msg.from_addr,
                "mail_subject": msg.subject,
                "body_excerpt": msg.body_text[:4000],
                "attachment_names": [a.filename for a in msg.attachments],
                "problems": problems,
                "refused_commands": msg.from_addr not in st.coordinators
                and bool(parse_commands(msg.body_text).commands),
            },
            st,
        )
    )
    return Outcome(
        "processed", "correspondence", case, tuple(messages), f"{case.reference} correspondence"
    )
