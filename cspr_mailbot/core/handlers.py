"""What each coordinator command does to a case (SPEC 7): the table ``HANDLERS``, verb -> handler.

``commands`` parses the lines; a handler here carries one out. A new command is its grammar in
``commands`` and one entry in ``HANDLERS``. A mail with any line not understood executes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime

from .agencies import agency_from, match_agency, resolve_agency, send_scoping_requests
from .classify import Classification
from .commands import Command, parse_commands
from .deadlines import today_of
from .models import Case, OutboundMessage, Outcome, Status
from .reading import ReadMessage
from .settings import Settings
from .views import internal_view, notice, reply_headers
from .workdays import WorkingCalendar, format_date


@dataclass(frozen=True)
class Step:
    """What a handler is given besides the case and the command."""

    now: datetime
    today: date
    cal: WorkingCalendar
    st: Settings


@dataclass(frozen=True)
class Applied:
    """What one command did: the case after it, a line for the answer each, the mail it causes."""

    case: Case
    done: tuple[str, ...]
    messages: tuple[OutboundMessage, ...] = ()
    logged: bool = True  # False when the command changed nothing: no "command" event on the case


Handler = Callable[[Case, Command, Step], Applied]


def _on(cmd: Command, step: Step) -> date:
    return cmd.on or step.today


def _notified(case: Case, cmd: Command, step: Step) -> Applied:
    on = _on(cmd, step)
    return Applied(
        replace(case, notified_date=on), (f"National Panel notified on {format_date(on)}",)
    )


def _aware(case: Case, cmd: Command, step: Step) -> Applied:
    on = _on(cmd, step)
    return Applied(replace(case, aware_date=on), (f"Local authority aware on {format_date(on)}",))


def _requests(case: Case, step: Step) -> tuple[Case, list[OutboundMessage], list[str]]:
    """During the Rapid Review, requests go at once to agencies added or given an address."""
    if case.status != "rapid_review":
        return case, [], []
    case, sent, _ = send_scoping_requests(case, step.now, step.cal, step.st)
    return case, sent, [f"Scoping request sent to {m.context['agency']}" for m in sent]


def _agency(case: Case, cmd: Command, step: Step) -> Applied:
    name = cmd.agency_name or ""
    index = match_agency(case, (name,), "")
    if index is None and (entry := resolve_agency(name, step.st.directory)):
        index = match_agency(case, (entry.name,), "")
    if index is not None:
        known = case.agencies[index]
        if known.email or not cmd.agency_email:
            return Applied(case, (f"{name} is already on the case",), logged=False)
        # On the case without an address (the no-address notice asks for this line).
        agencies = list(case.agencies)
        agencies[index] = replace(known, email=cmd.agency_email)
        case = replace(case, agencies=tuple(agencies))
        case, sent, done = _requests(case, step)
        return Applied(
            case, (f"Address for {known.name}: <{cmd.agency_email}>", *done), tuple(sent)
        )
    agency = agency_from(name, cmd.agency_email, None, step.st)
    case = replace(case, agencies=(*case.agencies, agency))
    added = f"Added {agency.name}" + (f" <{agency.email}>" if agency.email else " (no address)")
    case, sent, done = _requests(case, step)
    return Applied(case, (added, *done), tuple(sent))


def _start_rapid_review(case: Case, cmd: Command, step: Step) -> Applied:
    if case.status in ("needs_triage", "referral_received"):
        case = replace(case, status="rapid_review")
    case, sent, missing = send_scoping_requests(case, step.now, step.cal, step.st)
    done = [
        "Rapid Review started",
        *(f"Scoping request sent to {m.context['agency']}" for m in sent),
        *(f"No address for {name}: no request sent" for name in missing),
    ]
    if not case.agencies:
        done.append("No agencies are on the case yet: add them with agency: Name <address>")
    return Applied(case, tuple(done), tuple(sent))


_DECISION_STATUS: dict[str, Status] = {
    "cspr": "cspr",
    "learning_review": "learning_review",
    "no_review": "closed",
}


def _decision(case: Case, cmd: Command, step: Step) -> Applied:
    assert cmd.decision is not None
    on = _on(cmd, step)
    status = _DECISION_STATUS[cmd.decision]
    case = replace(case, decision=cmd.decision, decision_date=on, status=status)
    if status == "closed":
        case = replace(case, closed_on=on)
    return Applied(case, (f"Decision: {cmd.decision.replace('_', ' ')} on {format_date(on)}",))


def _completed(case: Case, cmd: Command, step: Step) -> Applied:
    on = _on(cmd, step)
    return Applied(replace(case, completed_on=on), (f"Review completed on {format_date(on)}",))


def _published(case: Case, cmd: Command, step: Step) -> Applied:
    on = _on(cmd, step)
    return Applied(replace(case, published_on=on), (f"Report published on {format_date(on)}",))


def _close(case: Case, cmd: Command, step: Step) -> Applied:
    return Applied(replace(case, status="closed", closed_on=step.today), ("Case closed",))


HANDLERS: dict[str, Handler] = {
    "notified": _notified,
    "aware": _aware,
    "agency": _agency,
    "start_rapid_review": _start_rapid_review,
    "decision": _decision,
    "completed": _completed,
    "published": _published,
    "close": _close,
}


def apply_commands(
    case: Case, commands: Iterable[Command], now: datetime, cal: WorkingCalendar, st: Settings
) -> tuple[Case, list[OutboundMessage], list[str]]:
    """Apply parsed commands in order: the new case, messages to send, and what was done (one line each)."""
    step = Step(now, today_of(now), cal, st)
    done: list[str] = []
    messages: list[OutboundMessage] = []
    for cmd in commands:
        applied = HANDLERS[cmd.verb](case, cmd, step)
        case = applied.case
        done.extend(applied.done)
        messages.extend(applied.messages)
        if applied.logged:
            case = case.with_event(now, "command", cmd.line)
    return case, messages, done


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
    answer = notice(
        case.reference,
        f"{case.reference}:command-reply:{now.isoformat()}",
        "command_reply",
        "Commands done" if not errors else "Commands not done",
        {**view, "done": done, "errors": [{"line": ln, "problem": p} for ln, p in errors]},
        st,
        auto_submitted="auto-replied",
    )
    return Outcome(
        "processed", "command", case, (*messages, answer), f"{case.reference} commands {len(done)}"
    )


def on_command_mail(
    read: ReadMessage,
    cls: Classification,
    case: Case,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
) -> Outcome:
    """A coordinator's command mail: all its commands are applied, or none if any line is not understood."""
    msg = read.message
    parsed = parse_commands(msg.body_text)
    outcome = run_commands(
        case, parsed.commands, parsed.errors, now, cal, st, source=f"uid {msg.uid}"
    )
    reply = replace(
        outcome.messages[-1],
        key=f"{case.reference}:command-reply:{msg.sha256[:16]}",
        to=(msg.from_addr,),
        **reply_headers(msg),
    )
    return replace(outcome, messages=(*outcome.messages[:-1], reply))


def on_command_without_case(read: ReadMessage, now: datetime, st: Settings) -> Outcome:
    """A coordinator's commands that name no case we know: nothing is done, and they are told why."""
    msg = read.message
    reply = OutboundMessage(
        key=f"command-no-case:{msg.sha256[:16]}",
        template="command_no_case",
        to=(msg.from_addr,),
        subject="Commands not done: which case?",
        context={"mail_subject": msg.subject, "mailbox": st.mailbox, "phone": st.phone},
        auto_submitted="auto-replied",
        internal=True,
        **reply_headers(msg),
    )
    return Outcome("processed", "command", None, (reply,), "commands naming no known case")
