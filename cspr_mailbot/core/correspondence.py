"""Mail on a case (SPEC 3): machine mail, scoping returns, commands that could not be verified, and
anything else people write.

A bounce of a message we sent goes on its case. A completed scoping template records that agency's
return only when it comes from the agency's address or mail domain, or answers a message we sent the
agency; any other is held on the case until a coordinator's ``accept return: AGENCY``. A referral form
on a case in triage completes it (``intake.complete``). A command from a coordinator address that
fails the sender check is filed on the case, not carried out, and the coordinators are told. Mail
whose sender is ambiguous is filed in triage, unanswered. Other mail is kept on the case and shown
to the coordinators.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from . import intake
from .agencies import match_agency
from .classify import Classification
from .commands import parse_commands
from .deadlines import today_of
from .forms import FormResult
from .models import Agency, Case, HeldReturn, InboundMessage, OutboundMessage, Outcome
from .pack_mail import on_return
from .reading import MIN_FORM_LABELS, ReadMessage
from .settings import Settings
from .views import base_context, internal_view, notice, reply_headers
from .workdays import WorkingCalendar

# Mail domains shared by the public at large: an address there proves nothing about the agency.
SHARED_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "live.com",
        "live.co.uk",
        "msn.com",
        "yahoo.com",
        "yahoo.co.uk",
        "icloud.com",
        "me.com",
        "aol.com",
        "btinternet.com",
        "protonmail.com",
        "proton.me",
    }
)


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


def return_source(agency: Agency | None, msg: InboundMessage, cls: Classification) -> str | None:
    """Why a return from ``msg`` is ``agency``'s (SPEC 3), or None when nothing says it is."""
    if agency is None or msg.sender_ambiguous or not msg.from_addr:
        return None
    address = (agency.email or "").lower()
    if not address:
        return None
    if msg.from_addr == address:
        return "from the agency's address"
    domain = address.rpartition("@")[2]
    sender_domain = msg.from_addr.rpartition("@")[2]
    if domain not in SHARED_DOMAINS and (
        sender_domain == domain or sender_domain.endswith("." + domain)
    ):
        return "from the agency's mail domain"
    if address in cls.answers_to:
        return "a reply to a message we sent the agency"
    return None


def _held_why(agency: Agency | None, msg: InboundMessage) -> str:
    if msg.sender_ambiguous:
        return "the sender's address is ambiguous"
    if agency is None:
        return "the template names no agency on the case"
    if not agency.email:
        return f"{agency.name} has no address on the case to match the sender against"
    return (
        f"it is not from {agency.name}'s address or mail domain, nor a reply to our request to it"
    )


def _sender_shown(msg: InboundMessage) -> str:
    """The sender as the coordinators are shown it; an ambiguous From: as written (decoded)."""
    if msg.from_addr:
        return msg.from_addr
    raw = msg.header("from") or ""
    return f"(ambiguous sender: {raw[:200]})" if msg.sender_ambiguous else "(no sender address)"


def on_correspondence(
    read: ReadMessage,
    cls: Classification,
    case: Case,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
) -> Outcome:
    """Mail on a case: a completed scoping template records a return (or is held until accepted);
    anything else is kept and shown.

    On a case in triage, a referral form (the referrer answering the triage reply) completes the case
    and is never taken as a scoping return.
    """
    msg = read.message
    if case.status == "needs_triage" and not msg.sender_ambiguous:
        completed = intake.complete(read, case, now, cal, st, "; ".join(cls.reasons))
        if completed is not None:
            return completed
    today = today_of(now)
    messages: list[OutboundMessage] = []
    returned: list[str] = []
    held: list[dict[str, Any]] = []
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
        agency = case.agencies[index] if index is not None else None
        how = return_source(agency, msg, cls)
        if index is None or agency is None or how is None:
            case, shown = _hold(case, result, name, agency, msg, now)
            held.append(shown)
            continue
        if agency.returned_on:
            case = case.with_event(
                now, "return_updated", f"{agency.name}: a further return, uid {msg.uid}"
            )
        agencies = list(case.agencies)
        agencies[index] = replace(
            agency, returned_on=agency.returned_on or today, scoping=result.fields
        )
        case = replace(case, agencies=tuple(agencies))
        case = case.with_event(now, "scoping_returned", f"{agency.name}, uid {msg.uid}; {how}")
        returned.append(agency.name)

    if held:
        messages.append(
            notice(
                case.reference,
                f"{case.reference}:notice:held-return:{msg.sha256[:16]}",
                "held_return_notice",
                "A scoping return is held: who sent it is not proven",
                {
                    **internal_view(case, cal, st, today),
                    "sender": _sender_shown(msg),
                    "mail_subject": msg.subject,
                    "held": held,
                },
                st,
            )
        )
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
        messages.extend(on_return(case, now, cal, st))
    if returned or held:
        return Outcome(
            "triage" if msg.sender_ambiguous else "processed",
            "return",
            case,
            tuple(messages),
            f"{case.reference} return {len(returned)} held {len(held)}",
        )

    case = case.with_event(now, "correspondence", f"uid {msg.uid}; {'; '.join(cls.reasons)}")
    if msg.sender_ambiguous:
        case = case.with_event(now, "ambiguous_sender", f"uid {msg.uid}: filed in triage")
    messages.append(
        notice(
            case.reference,
            f"{case.reference}:notice:mail:{msg.sha256[:16]}",
            "correspondence_notice",
            "Mail on the case",
            {
                **internal_view(case, cal, st, today),
                "sender": _sender_shown(msg),
                "ambiguous_sender": msg.sender_ambiguous,
                "mail_subject": msg.subject,
                "body_excerpt": msg.body_text[:4000],
                "attachment_names": [a.filename for a in msg.attachments],
                "problems": problems,
                "refused_commands": msg.from_addr not in st.coordinators
                and bool(parse_commands(msg.body_text, st.commands).commands),
            },
            st,
        )
    )
    return Outcome(
        "triage" if msg.sender_ambiguous else "processed",
        "correspondence",
        case,
        tuple(messages),
        f"{case.reference} correspondence",
    )


def _hold(
    case: Case,
    result: FormResult,
    name: str | None,
    agency: Agency | None,
    msg: InboundMessage,
    now: datetime,
) -> tuple[Case, dict[str, Any]]:
    """The return held on the case (nothing recorded as returned), and what the notice says of it."""
    why = _held_why(agency, msg)
    named = agency.name if agency is not None else name
    held = HeldReturn(
        received_at=now,
        from_addr=msg.from_addr,
        agency_name=named,
        scoping=dict(result.fields),
        message_id=msg.message_id,
    )
    case = replace(case, held_returns=(*case.held_returns, held))
    case = case.with_event(
        now, "return_held", f"{named or 'no agency named'}, uid {msg.uid}: {why}"
    )
    return case, {"agency": named or "", "why": why}


def on_unverified_command(
    read: ReadMessage,
    cls: Classification,
    case: Case | None,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
) -> Outcome:
    """Commands from a coordinator address that failed the sender check (SPEC 3): none is carried
    out and the sender is not answered; the mail is filed on its case (in triage when it names
    none) and the coordinators are told at once that it could not be verified."""
    msg = read.message
    reason = cls.trust.reason if cls.trust is not None else "not verified"
    lines = [c.line for c in parse_commands(msg.body_text, st.commands).commands]
    context: dict[str, Any] = {
        "claimed_sender": msg.from_addr,
        "mail_subject": msg.subject,
        "reason": reason,
        "command_lines": lines[:20],
        "uid": msg.uid,
        "mailbox": st.mailbox,
        "phone": st.phone,
    }
    key = f"notice:unverified:{msg.sha256[:16]}"
    if case is None:
        return Outcome(
            "triage",
            "unverified_command",
            None,
            (
                OutboundMessage(
                    key=key,
                    template="unverified_notice",
                    to=st.coordinators,
                    subject="A message claiming to be from a coordinator could not be verified",
                    context={**context, "reference": "", "initials": ""},
                    internal=True,
                ),
            ),
            "unverified commands naming no known case",
        )
    case = case.with_event(
        now,
        "unverified_command",
        f"uid {msg.uid}: {len(lines)} command(s) from {msg.from_addr} not carried out: {reason}",
    )
    message = notice(
        case.reference,
        f"{case.reference}:{key}",
        "unverified_notice",
        "A message claiming to be from a coordinator could not be verified",
        {**internal_view(case, cal, st, today_of(now)), **context},
        st,
    )
    return Outcome(
        "processed",
        "unverified_command",
        case,
        (message,),
        f"{case.reference} unverified commands",
    )
