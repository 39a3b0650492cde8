"""A referral becomes a case (SPEC 3): readable (``referral_received``) or not (``needs_triage``).

The referral's form was read by ``reading``; here it is screened, its agencies are resolved against the
directory, and the acknowledgement (or the triage reply) and the coordinators' notices are written.

A referral about the child of an open case (``samechild``) is not a stranger: from that case's own
sender it is filed on that case, and its form completes a case in triage; from anyone else it becomes
its own case, linked both ways, and the coordinators are told both references. ``complete`` is also
how a form sent in answer to the triage reply completes its case (``correspondence`` calls it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from . import forms, samechild
from .agencies import agency_from, norm
from .classify import Classification
from .deadlines import case_deadlines, today_of
from .models import (
    REFERRAL_FIELDS,
    Agency,
    Case,
    DocumentRequest,
    InboundMessage,
    OutboundMessage,
    Outcome,
    Status,
)
from .reading import ReadMessage, ReferralReading
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

BLANK_FORM_NAME = "CSPR referral form.docx"

# What to do about each kind of unreadable attachment (UnreadableAttachment.code): only the advice
# that fits what went wrong is given.
_ADVICE = {
    "pdf": "Send the referral form as a Word document (.docx), not as a PDF.",
    "legacy_doc": "Send the referral form as a Word document (.docx), not as an old .doc file: "
    "in Word, use Save As and choose Word Document (*.docx).",
    "corrupt": "The file could not be opened: save it again as a Word document (.docx) and send it.",
    "unsupported": "The file could not be opened: save it again as a Word document (.docx) and "
    "send it.",
    "too_large": "The file was too large to open safely: save the form again without pictures "
    "and send it.",
    "zip_bomb": "The file could not be opened safely: save the form again as a plain Word "
    "document (.docx) and send it.",
    "xml_bomb": "The file could not be opened safely: save the form again as a plain Word "
    "document (.docx) and send it.",
    "not_a_form": "The document you sent is not the referral form: please fill in the blank "
    "form attached to this message.",
}


def received_at(msg: InboundMessage, now: datetime) -> datetime:
    """When the message arrived: its Date when that is plausible (not ahead of us, under a week old)."""
    if msg.date is not None and msg.date <= now and (now - msg.date).days < 7:
        return msg.date
    return now


def lookup_keys(read: ReadMessage) -> tuple[str, ...]:
    """What the app looks up before a new referral is decided: the open cases about its child
    (``samechild.query_keys``), handed back to ``intake`` as ``candidates``."""
    form = read.referral.form
    return samechild.query_keys(form.fields if form else {}, read.message.from_addr)


def _fields(reading: ReferralReading) -> dict[str, Any]:
    return dict(reading.form.fields) if reading.form else {}


def intake(
    read: ReadMessage,
    cls: Classification,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
    new_reference: Callable[[int], str],
    candidates: Mapping[str, Case] | None = None,
) -> Outcome:
    """A new referral: filed on its sender's open case about the same child, or a case of its own
    (linked to any other open case about the child)."""
    msg = read.message
    fields = _fields(read.referral)
    matched = [
        (case, how)
        for case in (candidates or {}).values()
        if (how := samechild.match(fields, msg.from_addr, case)) is not None
    ]
    own = [
        (case, how)
        for case, how in matched
        if msg.from_addr and case.referrer_email.lower() == msg.from_addr
    ]
    if own:
        # Prefer the case still in triage (the form it lacked), then the latest.
        case, how = max(own, key=lambda m: (m[0].status == "needs_triage", m[0].received_at))
        return file_on_case(read, cls, case, how, now, cal, st)
    others = [case for case, how in matched if how == "child"]
    return new_case(read, cls, now, cal, st, new_reference, others)


def new_case(
    read: ReadMessage,
    cls: Classification,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
    new_reference: Callable[[int], str],
    linked: list[Case] | None = None,
) -> Outcome:
    """A case of its own: readable (referral_received) or not (needs_triage)."""
    msg = read.message
    arrived = received_at(msg, now)
    received_on = cal.received_on(arrived)
    reference = new_reference(received_on.year)
    reading = read.referral
    # SPEC 8: the referral always carries every section 4 key; unread ones are null.
    referral: dict[str, Any] = {k: None for k in REFERRAL_FIELDS}
    referral.update(_fields(reading))
    if reading.form and not referral.get("referrer_email") and msg.from_addr:
        referral["referrer_email"] = msg.from_addr
    triage = triage_reasons(reading, referral)
    status: Status = "needs_triage" if triage else "referral_received"
    linked = linked or []
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
        linked_cases=tuple(c.reference for c in linked),
    )
    case = replace(case, agencies=_with_agencies((), referral, st))
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
        if status == "referral_received":
            messages.append(acknowledgement(case, msg, cal, st))
        else:
            messages.append(
                triage_reply(case, read, reading, triage, st, f"{reference}:triage-reply")
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
    others: list[Case] = []
    for other in linked:
        case = case.with_event(now, "linked", f"the same child as {other.reference}")
        others.append(
            replace(other, linked_cases=(*other.linked_cases, reference)).with_event(
                now, "linked", f"the same child as {reference} (a referral from another sender)"
            )
        )
    if linked:
        messages.append(linked_notice(case, linked, msg, st, view))
    case, more = _statutory_notices(case, now, st, view)
    messages.extend(more)
    return Outcome(
        "triage" if triage else "processed",
        "triage" if triage else "referral",
        case,
        tuple(messages),
        f"{reference} {status}"
        + (f", linked to {', '.join(c.reference for c in linked)}" if linked else ""),
        others=tuple(others),
    )


def file_on_case(
    read: ReadMessage,
    cls: Classification,
    case: Case,
    how: samechild.How,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
) -> Outcome:
    """A referral from the sender of an open case about the same child: no new case. Its form
    completes the case when the case lacked one or was in triage; otherwise it is kept and shown."""
    msg = read.message
    why = (
        "the same child and the same sender as its referral"
        if how == "child"
        else "the same sender, whose referral had no child's details"
    )
    if case.status == "needs_triage" or not case.referral.get("child_name"):
        done = complete(read, case, now, cal, st, f"filed on {case.reference}: {why}")
        if done is not None:
            return done
    case = case.with_event(now, "further_referral", f"uid {msg.uid}; {why}")
    today = today_of(now)
    reading = read.referral
    shown = notice(
        case.reference,
        f"{case.reference}:notice:mail:{msg.sha256[:16]}",
        "correspondence_notice",
        "Another referral on the case",
        {
            **internal_view(case, cal, st, today),
            "sender": msg.from_addr,
            "mail_subject": msg.subject,
            "body_excerpt": msg.body_text[:4000],
            "attachment_names": [a.filename for a in msg.attachments],
            "problems": list(reading.problems),
            "refused_commands": False,
        },
        st,
    )
    return Outcome(
        "processed", "correspondence", case, (shown,), f"{case.reference} further referral ({how})"
    )


def complete(
    read: ReadMessage, case: Case, now: datetime, cal: WorkingCalendar, st: Settings, how: str
) -> Outcome | None:
    """The referral form in ``read`` completes ``case`` (in triage, or without a form), or None when
    the message has no referral form (it is then ordinary mail on the case).

    The form's values fill the referral (a value it leaves empty keeps the one the case had); when no
    key field is missing any more the case is ``referral_received``, screened, and its sender is
    acknowledged. Otherwise it stays in triage and the sender is told what is still missing.
    """
    msg = read.message
    reading = read.referral
    if reading.form is None or read.template_reference:
        # No form, or a scoping template carrying a case reference: a return, not a referral.
        return None
    referral: dict[str, Any] = {k: None for k in REFERRAL_FIELDS} | dict(case.referral)
    referral.update({k: v for k, v in reading.form.fields.items() if v not in (None, "", [], {})})
    if not referral.get("referrer_email") and msg.from_addr:
        referral["referrer_email"] = msg.from_addr
    triage = triage_reasons(reading, referral)
    status: Status = case.status
    if case.status == "needs_triage" and not triage:
        status = "referral_received"
    case = replace(
        case,
        status=status,
        referral=referral,
        criteria=screen(referral),
        triage_reasons=tuple(triage),
        referrer_email=case.referrer_email or msg.from_addr,
        agencies=_with_agencies(case.agencies, referral, st),
    )
    case = case.with_event(now, "read", f"uid {msg.uid}: read from {reading.source}; {how}")
    case = case.with_event(now, "screened", f"criteria {case.criteria['result']}")
    view = internal_view(case, cal, st, today_of(now))
    messages: list[OutboundMessage] = []
    key = msg.sha256[:16]
    if triage:
        case = case.with_event(now, "needs_triage", " / ".join(triage))
        if msg.from_addr:
            messages.append(
                triage_reply(
                    case, read, reading, triage, st, f"{case.reference}:triage-reply:{key}"
                )
            )
        messages.append(
            notice(
                case.reference,
                f"{case.reference}:notice:triage:{key}",
                "triage_notice",
                "Referral still needs triage",
                {**view, "source": reading.source, "sender": msg.from_addr},
                st,
            )
        )
        return Outcome(
            "triage", "triage", case, tuple(messages), f"{case.reference} still needs triage"
        )
    case = case.with_event(now, "triage_completed", f"the case is {status.replace('_', ' ')}")
    if msg.from_addr:
        messages.append(acknowledgement(case, msg, cal, st))
    messages.append(
        notice(
            case.reference,
            f"{case.reference}:notice:completed:{key}",
            "new_referral",
            "Referral completed: the form has been read",
            {**view, "source": reading.source, "sender": msg.from_addr},
            st,
        )
    )
    case, more = _statutory_notices(case, now, st, view)
    messages.extend(more)
    return Outcome(
        "processed", "referral_completed", case, tuple(messages), f"{case.reference} {status}"
    )


def triage_reasons(reading: ReferralReading, referral: Mapping[str, Any]) -> list[str]:
    """What could not be read, in sentences a referrer can act on; empty when the referral is readable."""
    if reading.form is None:
        if reading.problems:
            return list(reading.problems)
        return ["no referral form was attached and the message has no referral details"]
    missing = forms.missing_key_fields(referral)
    if not missing:
        return []
    where = "the form" if reading.source.startswith("the attached form") else "your message"
    return [
        f"these details are missing from {where}: "
        + ", ".join(FIELD_NAMES.get(m, m) for m in missing)
    ]


def advice(reading: ReferralReading, st: Settings) -> list[str]:
    """What the referrer should do, for what actually went wrong (and nothing else)."""
    out: list[str] = []
    for code in reading.problem_codes:
        if code == "encrypted":
            out.append(
                "The form is protected by a password: save it as a Word document (.docx) without "
                "the password and send it again, or call us"
                + (f" on {st.phone}" if st.phone else "")
                + " and tell us the password; do not email it."
            )
        elif code in _ADVICE:
            out.append(_ADVICE[code])
    if reading.form is not None:
        out.append(
            "Add the missing details listed above, on the form (the blank form is attached) or "
            "in your reply, and send them, replying to this message so they join the same case."
        )
    elif not reading.problem_codes:
        out.append(
            "Fill in the blank referral form attached to this message and send it back, replying "
            "to this message so it joins the same case."
        )
    else:
        out.append("Reply to this message with the form, so it joins the same case.")
    return list(dict.fromkeys(out))


def acknowledgement(
    case: Case, msg: InboundMessage, cal: WorkingCalendar, st: Settings
) -> OutboundMessage:
    """The referrer's acknowledgement: the reference and when the decision is due."""
    dl = case_deadlines(case, cal, st.timescales)
    return OutboundMessage(
        key=f"{case.reference}:ack",
        template="acknowledgement",
        to=(msg.from_addr,),
        subject="Referral received",
        context={
            **base_context(case, st),
            "salutation": salutation(_sender_name(msg, case.referral)),
            "received_on": format_date(case.received_on),
            "decision_due": format_date(dl.rapid_review.due) if dl.rapid_review else "",
        },
        case_ref=case.reference,
        auto_submitted="auto-replied",
        **reply_headers(msg),
    )


def triage_reply(
    case: Case,
    read: ReadMessage,
    reading: ReferralReading,
    problems: list[str],
    st: Settings,
    key: str,
) -> OutboundMessage:
    """The referrer is told what could not be read and what to do, with the blank form attached.

    Issue 10 finding 7: people name files after the child, so the sender (whose From: may be
    forged) is told "the attached PDF", never the file's name.
    """
    msg = read.message
    files = ((d.attachment.filename, d.kind) for d in read.documents)
    return OutboundMessage(
        key=key,
        template="triage_reply",
        to=(msg.from_addr,),
        subject="Referral received: we could not read it all",
        context={
            **base_context(case, st),
            "salutation": salutation(_sender_name(msg, case.referral)),
            "problems": without_file_names(problems, files),
            "advice": advice(reading, st),
        },
        case_ref=case.reference,
        auto_submitted="auto-replied",
        documents=(
            DocumentRequest(
                kind="referral_blank",
                filename=BLANK_FORM_NAME,
                reference=case.reference,
                agency="",
                partnership=st.partnership_name,
            ),
        ),
        **reply_headers(msg),
    )


def linked_notice(
    case: Case, linked: list[Case], msg: InboundMessage, st: Settings, view: dict[str, Any]
) -> OutboundMessage:
    """The coordinators are told that a new case is about the child of open cases, naming both."""
    return notice(
        case.reference,
        f"{case.reference}:notice:linked",
        "linked_referral",
        "A referral about the same child as an open case",
        {
            **view,
            "sender": msg.from_addr,
            "linked": [
                {
                    "reference": c.reference,
                    "status": c.status.replace("_", " "),
                    "sender": c.referrer_email,
                }
                for c in linked
            ],
        },
        st,
    )


def _with_agencies(
    agencies: tuple[Agency, ...], referral: Mapping[str, Any], st: Settings
) -> tuple[Agency, ...]:
    """The case's agencies and those the referral names that it does not have yet."""
    out = list(agencies)
    for entry in referral.get("agencies_involved") or []:
        name = (entry.get("name") or "").strip()
        if name and norm(name) not in {norm(a.name) for a in out}:
            out.append(agency_from(name, entry.get("email"), entry.get("contact_name"), st))
    return tuple(out)


def _statutory_notices(
    case: Case, now: datetime, st: Settings, view: dict[str, Any]
) -> tuple[Case, list[OutboundMessage]]:
    """A looked-after child's death, and agencies with no address: the coordinators are told."""
    messages: list[OutboundMessage] = []
    if looked_after_death(case.referral) and not case.has_sent(
        f"{case.reference}:notice:lac-death"
    ):
        messages.append(
            notice(
                case.reference,
                f"{case.reference}:notice:lac-death",
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
    return case, messages


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
