"""What happens to a case: (case, event, now) -> (new case, messages to send). No I/O, no clock.

The app hands in a classified message or a coordinator's commands or just the time, and gets back the case to
save, the folder for the message and the messages to send. Keys on messages and on ``Case.sent_keys`` make each
outcome happen once however often the same input is seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from . import attachments, forms
from .classify import Classification
from .clocks import (
    AgencyDates,
    CaseDates,
    Deadlines,
    Reminder,
    Timescales,
    deadlines,
    due_reminders,
    rag,
    scoping_due,
)
from .clocks import days_left as working_days_left
from .commands import Command, parse_commands
from .message import forwarded_messages
from .models import (
    REFERRAL_FIELDS,
    Agency,
    Attachment,
    Case,
    InboundMessage,
    OutAttachment,
    OutboundMessage,
    parse_iso_date,
)
from .screening import looked_after_death, screen
from .workdays import LONDON, WorkingCalendar, format_date

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MIN_FORM_LABELS = 3  # labelled fields a document or body needs before we call it a referral form


@dataclass(frozen=True)
class DirectoryAgency:
    name: str
    email: str | None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """What the core needs to know of the configuration."""

    partnership_name: str
    mailbox: str
    coordinators: tuple[str, ...]
    timescales: Timescales
    limits: attachments.Limits
    labels: forms.Labels
    directory: tuple[DirectoryAgency, ...] = ()
    phone: str = ""
    scoping_template: bytes | None = None  # the partnership's own ([forms] scoping), read at start


@dataclass(frozen=True)
class Outcome:
    folder: str  # "processed" | "triage" | "ignored"
    kind: str  # referral | triage | automatic | correspondence | return | command
    case: Case | None
    messages: tuple[OutboundMessage, ...] = ()
    summary: str = ""  # for the log: references and counts, never personal details


# -- small helpers -------------------------------------------------------------------------------


def today_of(now: datetime) -> date:
    return now.astimezone(LONDON).date()


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def resolve_agency(name: str, directory: Iterable[DirectoryAgency]) -> DirectoryAgency | None:
    """The directory entry whose name or alias matches ``name`` (case, punctuation and spacing aside)."""
    key = _norm(name)
    for entry in directory:
        if key in {_norm(entry.name), *(_norm(a) for a in entry.aliases)}:
            return entry
    return None


def case_dates(case: Case) -> CaseDates:
    r = case.referral
    aware = case.aware_date or r.get("la_aware_date")
    notified = case.notified_date
    if notified is None and r.get("national_panel_notified") is True:
        notified = r.get("notification_date")
    return CaseDates(
        received_on=date.fromisoformat(case.received_on),
        la_aware_date=parse_iso_date(aware),
        notified_date=parse_iso_date(notified),
        decision=case.decision,
        decision_date=parse_iso_date(case.decision_date),
        completed_on=parse_iso_date(case.completed_on),
        closed=case.status == "closed",
        agencies=tuple(
            AgencyDates(a.name, parse_iso_date(a.requested_on), parse_iso_date(a.returned_on))
            for a in case.agencies
        ),
    )


def case_deadlines(case: Case, cal: WorkingCalendar, ts: Timescales) -> Deadlines:
    return deadlines(case_dates(case), cal, ts)


def next_deadline(case: Case, cal: WorkingCalendar, ts: Timescales) -> tuple[str, date] | None:
    """The soonest deadline not yet met, with its name: what the digest shows per case."""
    if case.status == "closed":
        return None
    dl = case_deadlines(case, cal, ts)
    pending: list[tuple[date, str]] = []
    for label, d in (
        ("SIN", dl.sin),
        ("Rapid Review decision", dl.rapid_review),
        ("Review", dl.review),
    ):
        if d is not None and d.met_on is None:
            pending.append((d.due, label))
    for a in case.agencies if case.decision is None else ():  # chasing ends with the decision
        if a.due and not a.returned_on:
            pending.append((date.fromisoformat(a.due), f"Scoping return: {a.name}"))
    if not pending:
        return None
    due, label = min(pending)
    return label, due


def _notice(
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


def _reply_headers(msg: InboundMessage) -> dict[str, Any]:
    if not msg.message_id:
        return {}
    return {"in_reply_to": msg.message_id, "references": (*msg.references, msg.message_id)[-20:]}


def _base_context(case: Case, st: Settings) -> dict[str, Any]:
    """What every message may say: no child's name, address or date of birth."""
    return {
        "reference": case.reference,
        "initials": case.initials(),
        "partnership": st.partnership_name,
        "phone": st.phone,
        "mailbox": st.mailbox,
    }


def internal_view(case: Case, cal: WorkingCalendar, st: Settings, today: date) -> dict[str, Any]:
    """Everything the coordinators see of a case, dates written for people."""
    dl = case_deadlines(case, cal, st.timescales)

    def show(iso_text: Any) -> str:
        return (
            format_date(date.fromisoformat(iso_text))
            if isinstance(iso_text, str) and iso_text
            else ""
        )

    deadline_rows = []
    for label, d in (
        ("SIN", dl.sin),
        ("Rapid Review decision", dl.rapid_review),
        ("Review", dl.review),
    ):
        if d is None:
            continue
        deadline_rows.append(
            {
                "label": label,
                "due": format_date(d.due),
                "provisional": d.provisional,
                "met_on": format_date(d.met_on) if d.met_on else "",
                "days_left": working_days_left(d.due, today, cal),
                "rag": "met" if d.met_on else rag(d.due, today, cal, st.timescales),
            }
        )
    referral: dict[str, Any] = {k: None for k in REFERRAL_FIELDS} | dict(case.referral)
    for key in ("child_dob", "incident_date", "la_aware_date", "notification_date"):
        referral[key + "_shown"] = show(referral.get(key))
    return {
        **_base_context(case, st),
        "case": case.to_dict(),
        "referral": referral,
        "status": case.status.replace("_", " "),
        "criteria": case.criteria,
        "deadlines": deadline_rows,
        "received_on": show(case.received_on),
        "agencies": [
            {**a.to_dict(), "due_shown": show(a.due), "returned_shown": show(a.returned_on)}
            for a in case.agencies
        ],
        "triage_reasons": list(case.triage_reasons),
    }


# -- intake of a new referral --------------------------------------------------------------------


@dataclass(frozen=True)
class _Reading:
    form: forms.FormResult | None
    source: str  # "the attached form NAME" | "the message body"
    problems: tuple[str, ...]


def _docx_candidates(
    msg: InboundMessage, depth: int = 0
) -> list[tuple[Attachment, InboundMessage]]:
    found = [(a, msg) for a in msg.attachments if a.content_type != "message/rfc822"]
    if depth < 3:
        for inner in forwarded_messages(msg):
            found.extend(_docx_candidates(inner, depth + 1))
    return found


def read_referral(msg: InboundMessage, st: Settings) -> _Reading:
    """The best referral form in the message: an attached .docx, one in a forwarded message, or the body."""
    problems: list[str] = []
    best: tuple[forms.FormResult, str] | None = None
    for att, _ in _docx_candidates(msg):
        kind = attachments.kind_of(att)
        if kind in ("image", "other") and not att.filename.lower().endswith(
            (".docx", ".doc", ".pdf")
        ):
            continue  # a logo or a signature image is no attempt at a form
        try:
            data = attachments.check_docx(att, st.limits)
            result = forms.read_referral_docx(data, att.filename, st.labels)
        except attachments.UnreadableAttachment as exc:
            problems.append(f"{exc.filename}: {exc}")
            continue
        if result.found_labels >= MIN_FORM_LABELS and (
            best is None or result.found_labels > best[0].found_labels
        ):
            best = (result, f"the attached form {att.filename}")
        elif result.found_labels < MIN_FORM_LABELS:
            problems.append(
                f"{att.filename}: this document is not the referral form (no form fields found)"
            )
    if best is None:
        bodies = [msg.body_text, *(inner.body_text for inner in forwarded_messages(msg))]
        for text in bodies:
            result = forms.read_referral_text(text or "", st.labels)
            if result.found_labels >= MIN_FORM_LABELS and (
                best is None or result.found_labels > best[0].found_labels
            ):
                best = (result, "the message body")
    if best is None:
        return _Reading(None, "", tuple(problems))
    return _Reading(best[0], best[1], tuple(problems) + best[0].problems)


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
    msg: InboundMessage,
    cls: Classification,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
    new_reference: Callable[[int], str],
) -> Outcome:
    """A new referral becomes a case: readable (referral_received) or not (needs_triage)."""
    arrived = received_at(msg, now)
    received_on = cal.received_on(arrived)
    reference = new_reference(received_on.year)
    reading = read_referral(msg, st)
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
    status = "needs_triage" if triage else "referral_received"
    case = Case(
        reference=reference,
        status=status,
        received_at=arrived.isoformat(),
        received_on=received_on.isoformat(),
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
        if name and _norm(name) not in {_norm(a.name) for a in agencies}:
            agencies.append(_agency_from(name, entry.get("email"), entry.get("contact_name"), st))
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
        if status == "referral_received":
            messages.append(
                OutboundMessage(
                    key=f"{reference}:ack",
                    template="acknowledgement",
                    to=(msg.from_addr,),
                    subject="Referral received",
                    context={
                        **_base_context(case, st),
                        "received_on": format_date(received_on),
                        "decision_due": format_date(dl.rapid_review.due) if dl.rapid_review else "",
                    },
                    case_ref=reference,
                    auto_submitted="auto-replied",
                    **_reply_headers(msg),
                )
            )
        else:
            messages.append(
                OutboundMessage(
                    key=f"{reference}:triage-reply",
                    template="triage_reply",
                    to=(msg.from_addr,),
                    subject="Referral received: we could not read it all",
                    context={**_base_context(case, st), "problems": list(triage)},
                    case_ref=reference,
                    auto_submitted="auto-replied",
                    **_reply_headers(msg),
                )
            )
    messages.append(
        _notice(
            reference,
            f"{reference}:notice:new",
            "new_referral" if status == "referral_received" else "triage_notice",
            "New referral" if status == "referral_received" else "Referral needs triage",
            {**view, "source": reading.source, "sender": msg.from_addr},
            st,
        )
    )
    if looked_after_death(referral):
        messages.append(
            _notice(
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
        messages.append(_no_address_notice(case, no_address, st, view))
    folder = "triage" if triage else "processed"
    return Outcome(
        folder, "triage" if triage else "referral", case, tuple(messages), f"{reference} {status}"
    )


def _agency_from(name: str, email: str | None, contact: str | None, st: Settings) -> Agency:
    entry = resolve_agency(name, st.directory)
    if entry is not None:
        return Agency(name=entry.name, email=entry.email or email, contact_name=contact)
    return Agency(name=name, email=(email or None) and email.lower(), contact_name=contact)


def _no_address_notice(
    case: Case, names: list[str], st: Settings, view: dict[str, Any]
) -> OutboundMessage:
    return _notice(
        case.reference,
        f"{case.reference}:notice:no-address:{'|'.join(sorted(_norm(n) for n in names))}",
        "no_agency_address",
        "Agency without an email address",
        {**view, "names": names},
        st,
    )


# -- machine mail, correspondence and scoping returns --------------------------------------------


def on_automatic(
    msg: InboundMessage, cls: Classification, case: Case | None, now: datetime, st: Settings
) -> Outcome:
    """Never answered. A bounce of a message we sent goes on its case and the coordinators hear of it."""
    if case is None or cls.bounce_of is None:
        return Outcome("ignored", "automatic", None, (), f"automatic: {cls.reasons[0]}")
    case = case.with_event(
        now, "bounce", f"uid {msg.uid}: our message {cls.bounce_of} was not delivered"
    )
    notice = _notice(
        case.reference,
        f"{case.reference}:notice:bounce:{msg.sha256[:16]}",
        "bounce_notice",
        "A message we sent was not delivered",
        {
            **_base_context(case, st),
            "bounced_message_id": cls.bounce_of,
            "report_excerpt": msg.body_text[:2000],
        },
        st,
    )
    return Outcome("ignored", "automatic", case, (notice,), f"{case.reference} bounce")


def _match_agency(case: Case, names: Iterable[str | None], sender: str) -> int | None:
    keys = {_norm(n) for n in names if n}
    for i, a in enumerate(case.agencies):
        if _norm(a.name) in keys:
            return i
    for i, a in enumerate(case.agencies):
        if a.email and a.email.lower() == sender:
            return i
    return None


def on_correspondence(
    msg: InboundMessage,
    cls: Classification,
    case: Case,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
) -> Outcome:
    """Mail on a case: a completed scoping template records a return; anything else is kept and shown."""
    today = today_of(now)
    messages: list[OutboundMessage] = []
    returned: list[str] = []
    problems: list[str] = []
    for att, _ in _docx_candidates(msg):
        if attachments.kind_of(att) not in ("docx", "zip", "encrypted_office", "doc", "pdf"):
            continue
        try:
            data = attachments.check_docx(att, st.limits)
            result = forms.read_scoping_docx(data, att.filename, st.labels)
        except attachments.UnreadableAttachment as exc:
            problems.append(f"{exc.filename}: {exc}")
            continue
        ref = result.embedded_reference or result.fields.get("case_reference")
        if result.found_labels < MIN_FORM_LABELS or (ref and ref.upper() != case.reference):
            continue
        name = result.embedded_agency or result.fields.get("agency_name")
        index = _match_agency(
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
            agency, returned_on=agency.returned_on or today.isoformat(), scoping=result.fields
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
                    context={**_base_context(case, st), "agencies": returned},
                    case_ref=case.reference,
                    auto_submitted="auto-replied",
                    **_reply_headers(msg),
                )
            )
        requested = [a for a in case.agencies if a.requested_on]
        if requested and all(a.returned_on for a in requested):
            messages.append(
                _notice(
                    case.reference,
                    f"{case.reference}:notice:all-returns",
                    "returns_complete",
                    "All scoping returns are in",
                    internal_view(case, cal, st, today),
                    st,
                )
            )
        return Outcome(
            "processed", "return", case, tuple(messages), f"{case.reference} return {len(returned)}"
        )

    case = case.with_event(now, "correspondence", f"uid {msg.uid}; {'; '.join(cls.reasons)}")
    messages.append(
        _notice(
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


# -- coordinator commands ------------------------------------------------------------------------


def _scoping_request(
    case: Case, agency: Agency, st: Settings, today: date, due: date
) -> OutboundMessage:
    assert agency.email
    return OutboundMessage(
        key=f"{case.reference}:scoping-request:{_norm(agency.name)}",
        template="scoping_request",
        to=(agency.email,),
        subject="Initial Scoping request",
        context={
            **_base_context(case, st),
            "agency": agency.name,
            "contact_name": agency.contact_name or "",
            "due": format_date(due),
            "sent_on": format_date(today),
        },
        case_ref=case.reference,
        attachments=(_template_for(case, agency, st),),
    )


def _template_for(case: Case, agency: Agency, st: Settings) -> OutAttachment:
    from .. import formgen  # python-docx: loaded only when a template is made, not at every start

    data = formgen.prefilled_scoping(
        case.reference,
        agency.name,
        st.partnership_name,
        template=st.scoping_template,
        labels=st.labels,
    )
    return OutAttachment(
        f"Initial Scoping {case.reference} {_safe_name(agency.name)}.docx", DOCX_TYPE, data
    )


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9 _-]+", "", text).strip()[:60] or "agency"


def send_scoping_requests(
    case: Case, now: datetime, cal: WorkingCalendar, st: Settings
) -> tuple[Case, list[OutboundMessage], list[str]]:
    """A request to every agency with an address that has none yet; the names of those without an address."""
    today = today_of(now)
    messages: list[OutboundMessage] = []
    agencies = list(case.agencies)
    missing: list[str] = []
    for i, agency in enumerate(agencies):
        if agency.requested_on:
            continue
        if not agency.email:
            missing.append(agency.name)
            continue
        due = scoping_due(today, cal, st.timescales)
        agencies[i] = replace(agency, requested_on=today.isoformat(), due=due.isoformat())
        messages.append(_scoping_request(case, agencies[i], st, today, due))
    case = replace(case, agencies=tuple(agencies))
    for m in messages:
        case = case.with_event(now, "scoping_requested", m.context["agency"])
    return case, messages, missing


def apply_commands(
    case: Case, commands: Iterable[Command], now: datetime, cal: WorkingCalendar, st: Settings
) -> tuple[Case, list[OutboundMessage], list[str]]:
    """Apply parsed commands in order: the new case, messages to send, and what was done (one line each)."""
    today = today_of(now)
    done: list[str] = []
    messages: list[OutboundMessage] = []
    for cmd in commands:
        on = cmd.on.isoformat() if cmd.on else today.isoformat()
        if cmd.verb == "notified":
            case = replace(case, notified_date=on)
            done.append(f"National Panel notified on {format_date(date.fromisoformat(on))}")
        elif cmd.verb == "aware":
            case = replace(case, aware_date=on)
            done.append(f"Local authority aware on {format_date(date.fromisoformat(on))}")
        elif cmd.verb == "agency":
            name = cmd.agency_name or ""
            index = _match_agency(case, (name,), "")
            if index is None and (entry := resolve_agency(name, st.directory)):
                index = _match_agency(case, (entry.name,), "")
            if index is not None:
                known = case.agencies[index]
                if known.email or not cmd.agency_email:
                    done.append(f"{name} is already on the case")
                    continue
                # On the case without an address (the no-address notice asks for this line).
                agencies = list(case.agencies)
                agencies[index] = replace(known, email=cmd.agency_email)
                case = replace(case, agencies=tuple(agencies))
                done.append(f"Address for {known.name}: <{cmd.agency_email}>")
                if case.status == "rapid_review":
                    case, sent, _ = send_scoping_requests(case, now, cal, st)
                    messages.extend(sent)
                    done.extend(f"Scoping request sent to {m.context['agency']}" for m in sent)
                case = case.with_event(now, "command", cmd.line)
                continue
            agency = _agency_from(name, cmd.agency_email, None, st)
            case = replace(case, agencies=(*case.agencies, agency))
            done.append(
                f"Added {agency.name}" + (f" <{agency.email}>" if agency.email else " (no address)")
            )
            if case.status == "rapid_review":
                case, sent, missing = send_scoping_requests(case, now, cal, st)
                messages.extend(sent)
                done.extend(f"Scoping request sent to {m.context['agency']}" for m in sent)
        elif cmd.verb == "start_rapid_review":
            if case.status in ("needs_triage", "referral_received"):
                case = replace(case, status="rapid_review")
            case, sent, missing = send_scoping_requests(case, now, cal, st)
            messages.extend(sent)
            done.append("Rapid Review started")
            done.extend(f"Scoping request sent to {m.context['agency']}" for m in sent)
            done.extend(f"No address for {name}: no request sent" for name in missing)
            if not case.agencies:
                done.append("No agencies are on the case yet: add them with agency: Name <address>")
        elif cmd.verb == "decision":
            assert cmd.decision is not None
            status = {"cspr": "cspr", "learning_review": "learning_review", "no_review": "closed"}[
                cmd.decision
            ]
            case = replace(case, decision=cmd.decision, decision_date=on, status=status)
            if status == "closed":
                case = replace(case, closed_on=on)
            done.append(
                f"Decision: {cmd.decision.replace('_', ' ')} on {format_date(date.fromisoformat(on))}"
            )
        elif cmd.verb == "completed":
            case = replace(case, completed_on=on)
            done.append(f"Review completed on {format_date(date.fromisoformat(on))}")
        elif cmd.verb == "published":
            case = replace(case, published_on=on)
            done.append(f"Report published on {format_date(date.fromisoformat(on))}")
        elif cmd.verb == "close":
            case = replace(case, status="closed", closed_on=today.isoformat())
            done.append("Case closed")
        case = case.with_event(now, "command", cmd.line)
    return case, messages, done


def on_command_mail(
    msg: InboundMessage,
    cls: Classification,
    case: Case,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
) -> Outcome:
    """A coordinator's command mail: all its commands are applied, or none if any line is not understood."""
    parsed = parse_commands(msg.body_text)
    outcome = run_commands(
        case, parsed.commands, parsed.errors, now, cal, st, source=f"uid {msg.uid}"
    )
    reply = replace(
        outcome.messages[-1],
        key=f"{case.reference}:command-reply:{msg.sha256[:16]}",
        to=(msg.from_addr,),
        **_reply_headers(msg),
    )
    return replace(outcome, messages=(*outcome.messages[:-1], reply))


def on_command_without_case(msg: InboundMessage, now: datetime, st: Settings) -> Outcome:
    """A coordinator's commands that name no case we know: nothing is done, and they are told why."""
    reply = OutboundMessage(
        key=f"command-no-case:{msg.sha256[:16]}",
        template="command_no_case",
        to=(msg.from_addr,),
        subject="Commands not done: which case?",
        context={"mail_subject": msg.subject, "mailbox": st.mailbox, "phone": st.phone},
        auto_submitted="auto-replied",
        internal=True,
        **_reply_headers(msg),
    )
    return Outcome("processed", "command", None, (reply,), "commands naming no known case")


def run_commands(
    case: Case,
    commands: tuple[Command, ...],
    errors: tuple[tuple[str, str], ...],
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
    *,
    source: str,
) -> Outcome:
    """Commands from mail or the CLI. The last message of the outcome is the answer to whoever gave them."""
    done: list[str] = []
    messages: list[OutboundMessage] = []
    if errors:
        case = case.with_event(
            now, "command_refused", f"{source}: {len(errors)} line(s) not understood"
        )
    elif not commands:
        errors = (("(empty)", "no command found at the top of the message"),)
    else:
        case, messages, done = apply_commands(case, commands, now, cal, st)
    view = internal_view(case, cal, st, today_of(now))
    answer = _notice(
        case.reference,
        f"{case.reference}:command-reply:{now.isoformat()}",
        "command_reply",
        "Commands done" if not errors else "Commands not done",
        {**view, "done": done, "errors": [{"line": ln, "problem": p} for ln, p in errors]},
        st,
        auto_submitted="auto-replied",
    )
    kind = "command"
    return Outcome(
        "processed", kind, case, (*messages, answer), f"{case.reference} commands {len(done)}"
    )


# -- the schedule --------------------------------------------------------------------------------


def due_messages(
    case: Case, now: datetime, cal: WorkingCalendar, st: Settings
) -> tuple[Case, list[OutboundMessage]]:
    """Chasers and deadline notices that fall due by ``now`` and were not sent before; marks them sent."""
    today = today_of(now)
    if not cal.is_working_day(today) or case.status == "needs_triage" and not case.referral:
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
                if _norm(a.name) == _norm(reminder.agency or "")
                else a
                for a in case.agencies
            )
            case = replace(case, agencies=agencies)
        else:
            view = view or internal_view(case, cal, st, today)
            msg = _notice(
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
    index = _match_agency(case, (reminder.agency,), "")
    if index is None or not case.agencies[index].email:
        return None
    agency = case.agencies[index]
    return OutboundMessage(
        key=key,
        template="scoping_chaser",
        to=(agency.email or "",),
        cc=st.coordinators if reminder.copy_coordinators else (),
        subject="Initial Scoping return: reminder",
        context={
            **_base_context(case, st),
            "agency": agency.name,
            "due": format_date(reminder.deadline),
            "overdue": reminder.on > reminder.deadline,
            "label": reminder.label,
        },
        case_ref=case.reference,
        attachments=(_template_for(case, agency, st),),
    )
