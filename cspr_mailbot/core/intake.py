"""A new referral becomes a case (SPEC 3): readable (``referral_received``) or not (``needs_triage``).

The referral's form was read by ``reading``; here it is screened, its agencies are resolved against the
directory, and the acknowledgement (or the triage reply) and the coordinators' notices are written.
A message whose sender is ambiguous (SPEC 3 "Who a message is from") makes no case and is never
answered: it is filed in triage and the coordinators are told.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from . import forms
from .agencies import agency_from, norm
from .classify import Classification
from .deadlines import case_deadlines, today_of
from .models import REFERRAL_FIELDS, Agency, Case, InboundMessage, OutboundMessage, Outcome, Status
from .reading import ReadMessage
from .screening import looked_after_death, screen
from .settings import Settings
from .sin_draft import needs_sin_draft, sin_draft
from .views import (
    base_context,
    internal_view,
    notice,
    person_name,
    reply_headers,
    salutation,
    without_file_names,
)
from .workdays import WorkingCalendar, format_date

FIELD_NAMES = {
    "referrer_name": "your name",
    "referrer_email": "your email address",
    "child_name": "the child's name",
    "incident_type": "whether the child died or was seriously harmed",
    "incident_summary": "a summary of the incident",
    "incident_date": "the date of the incident",
    "la_aware_date": "the date the local authority became aware",
}


def received_at(msg: InboundMessage, now: datetime) -> datetime:
    """When the message arrived: its Date when that is plausible (not ahead of us, under a week old)."""
    if msg.date is not None and msg.date <= now and (now - msg.date).days < 7:
        return msg.date
    return now


def intake(
    read: ReadMessage,
    cls: Classification,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
    new_reference: Callable[[int], str],
) -> Outcome:
    """A new referral becomes a case: readable (referral_received) or not (needs_triage)."""
    msg = read.message
    if msg.sender_ambiguous:
        return ambiguous_sender(msg, st)
    arrived = received_at(msg, now)
    received_on = cal.received_on(arrived)
    reference = new_reference(received_on.year)
    reading = read.referral
    # SPEC 8: the referral always carries every section 4 key; unread ones are null.
    referral: dict[str, Any] = {k: None for k in REFERRAL_FIELDS}
    if reading.form:
        referral.update(reading.form.fields)
    if reading.form and not referral.get("referrer_email") and msg.from_addr:
        referral["referrer_email"] = msg.from_addr
    triage: list[str] = []
    if reading.form is None:
        triage.extend(reading.problems)
        if not reading.problems:
            triage.append("no referral form was attached and the message has no referral details")
    else:
        missing = forms.missing_key_fields(referral)
        if missing:
            triage.append(
                "these details are missing from the form: "
                + ", ".join(FIELD_NAMES.get(m, m) for m in missing)
            )
    status: Status = "needs_triage" if triage else "referral_received"
    case = Case(
        reference=reference,
        status=status,
        received_at=arrived,
        received_on=received_on,
        referrer_email=msg.from_addr,
        source_message_id=msg.message_id,
        referral=referral,
        criteria=screen(referral)
        if reading.form
        else {"result": "unclear", "reasons": ["no referral form could be read"]},
        triage_reasons=tuple(triage),
    )
    agencies: list[Agency] = []
    for entry in referral.get("agencies_involved") or []:
        name = (entry.get("name") or "").strip()
        if name and norm(name) not in {norm(a.name) for a in agencies}:
            agencies.append(agency_from(name, entry.get("email"), entry.get("contact_name"), st))
    case = replace(case, agencies=tuple(agencies))
    case = case.with_event(now, "received", f"uid {msg.uid}; {'; '.join(cls.reasons)}")
    case = case.with_event(
        now,
        "read",
        f"read from {reading.source}" if reading.form else "no form could be read",
    )
    case = case.with_event(now, "screened", f"criteria {case.criteria['result']}")
    if triage:
        case = case.with_event(now, "needs_triage", " / ".join(triage))

    messages: list[OutboundMessage] = []
    view = internal_view(case, cal, st, today_of(now))
    dl = case_deadlines(case, cal, st.timescales)
    if msg.from_addr:
        greeting = salutation(_sender_name(msg, referral))
        if status == "referral_received":
            messages.append(
                OutboundMessage(
                    key=f"{reference}:ack",
                    template="acknowledgement",
                    to=(msg.from_addr,),
                    subject="Referral received",
                    context={
                        **base_context(case, st),
                        "salutation": greeting,
                        "received_on": format_date(received_on),
                        "decision_due": format_date(dl.rapid_review.due) if dl.rapid_review else "",
                    },
                    case_ref=reference,
                    auto_submitted="auto-replied",
                    **reply_headers(msg),
                )
            )
        else:
            messages.append(
                OutboundMessage(
                    key=f"{reference}:triage-reply",
                    template="triage_reply",
                    to=(msg.from_addr,),
                    subject="Referral received: we could not read it all",
                    context={
                        **base_context(case, st),
                        "salutation": greeting,
                        # Issue 10 finding 7: people name files after the child, so the sender
                        # (whose From: may be forged) is told "the attached PDF", never its name.
                        "problems": without_file_names(
                            triage, ((d.attachment.filename, d.kind) for d in read.documents)
                        ),
                    },
                    case_ref=reference,
                    auto_submitted="auto-replied",
                    **reply_headers(msg),
                )
            )
    messages.append(
        notice(
            reference,
            f"{reference}:notice:new",
            "new_referral" if status == "referral_received" else "triage_notice",
            "New referral" if status == "referral_received" else "Referral needs triage",
            {
                **view,
                "source": reading.source,
                "sender": msg.from_addr,
                # SPEC 6a: while no SIN date is recorded, the notification's answers to paste.
                "sin_draft": sin_draft(case, dl, partnership=st.partnership_name)
                if needs_sin_draft(dl)
                else None,
            },
            st,
        )
    )
    if looked_after_death(referral):
        messages.append(
            notice(
                reference,
                f"{reference}:notice:lac-death",
                "lac_notice",
                "Looked-after child's death: notify the Secretary of State and Ofsted",
                view,
                st,
            )
        )
        case = case.with_event(
            now, "lac_death", "Secretary of State and Ofsted notification raised"
        )
    no_address = [a.name for a in case.agencies if not a.email]
    if no_address:
        messages.append(no_address_notice(case, no_address, st, view))
    return Outcome(
        "triage" if triage else "processed",
        "triage" if triage else "referral",
        case,
        tuple(messages),
        f"{reference} {status}",
    )


def ambiguous_sender(msg: InboundMessage, st: Settings) -> Outcome:
    """No case, no answer: the message goes to triage and the coordinators are told (SPEC 3).

    Answering would send mail to whichever address a forger put in the display name or an
    encoded-word; taking the message as a referral would let a forged sender open cases.
    """
    message = OutboundMessage(
        key=f"notice:ambiguous-sender:{msg.sha256[:16]}",
        template="ambiguous_sender_notice",
        to=st.coordinators,
        subject="A message with an unclear sender was filed in triage",
        context={
            "uid": msg.uid,
            "from_header": (msg.header("from") or "")[:300],
            "mail_subject": msg.subject[:300],
            "attachments": len(msg.attachments),
            "mailbox": st.mailbox,
            "phone": st.phone,
        },
        internal=True,
    )
    return Outcome("triage", "ambiguous_sender", None, (message,), "ambiguous sender: triage")


def _sender_name(msg: InboundMessage, referral: dict[str, Any]) -> str:
    """Whom a reply to the sender greets: the form's referrer when the form gives this very address."""
    email = str(referral.get("referrer_email") or "").strip().lower()
    name = person_name(str(referral.get("referrer_name") or ""))
    if name and email == msg.from_addr:
        return name
    return person_name(msg.from_name)


def no_address_notice(
    case: Case, names: list[str], st: Settings, view: dict[str, Any]
) -> OutboundMessage:
    """The coordinators are told of agencies on the case with no address (they can reply with one)."""
    return notice(
        case.reference,
        f"{case.reference}:notice:no-address:{'|'.join(sorted(norm(n) for n in names))}",
        "no_agency_address",
        "Agency without an email address",
        {**view, "names": names},
        st,
    )
