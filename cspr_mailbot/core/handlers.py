"""What each coordinator command does to a case (SPEC 7): the table ``HANDLERS``, verb -> handler.

``commands`` reads the lines; a handler here carries one out, or refuses it when it makes no sense on the
case (a date after today, ``published`` before ``completed``...). A new command is its words in
``data/commands.toml`` and one entry in ``HANDLERS``. A mail with any line not understood or refused
executes nothing.

The contract. A handler takes the case, the command and a ``Step`` (the clock, the calendar, the settings
and ``others``: the cases the commands name, which the app looked up first, so no handler does I/O) and
returns ``Applied`` or ``Refused``. ``Applied.others`` are other cases it changed (``link:`` changes both
cases, ``duplicate of:`` the case the copy joins): the app saves them with the case. ``Applied.actions``
asks the app for work done after saving, on this case: ``"resend"``, ``"pack"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from .agencies import agency_from, match_agency, norm, resolve_agency, send_scoping_requests
from .classify import Classification
from .commands import Command, parse_commands
from .deadlines import today_of
from .models import Case, OutboundMessage, Outcome, Status
from .pack_mail import on_return
from .reading import ReadMessage
from .screening import screen
from .settings import Settings
from .ukdates import parse_uk_date
from .views import internal_view, notice, reply_headers
from .workdays import LONDON, WorkingCalendar, format_date


@dataclass(frozen=True)
class Step:
    """What a handler is given besides the case and the command."""

    now: datetime
    today: date
    cal: WorkingCalendar
    st: Settings
    others: Mapping[str, Case] = field(default_factory=dict)  # the cases the commands name


@dataclass(frozen=True)
class Applied:
    """What one command did: the case after it, a line for the answer each, the mail it causes."""

    case: Case
    done: tuple[str, ...]
    messages: tuple[OutboundMessage, ...] = ()
    logged: bool = True  # False when the command changed nothing: no "command" event on the case
    others: tuple[Case, ...] = ()  # other cases it changed, saved with this one
    actions: tuple[str, ...] = ()  # for the app, after saving: "resend" | "pack"


@dataclass(frozen=True)
class Refused:
    """A command that makes no sense on the case: why, for the answer. Nothing of the mail is done."""

    problem: str


Handler = Callable[[Case, Command, Step], Applied | Refused]


def _on(cmd: Command, step: Step) -> date:
    return cmd.on or step.today


def _not_after_today(on: date, step: Step) -> Refused | None:
    if on > step.today:
        return Refused(f"{format_date(on)} is after today ({format_date(step.today)})")
    return None


def _notified(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    on = _on(cmd, step)
    if refused := _not_after_today(on, step):
        return refused
    return Applied(
        replace(case, notified_date=on), (f"National Panel notified on {format_date(on)}",)
    )


def _aware(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    on = _on(cmd, step)
    if refused := _not_after_today(on, step):
        return refused
    return Applied(replace(case, aware_date=on), (f"Local authority aware on {format_date(on)}",))


def _requests(case: Case, step: Step) -> tuple[Case, list[OutboundMessage], list[str]]:
    """During the Rapid Review, requests go at once to agencies added or given an address."""
    if case.status != "rapid_review":
        return case, [], []
    case, sent, _ = send_scoping_requests(case, step.now, step.cal, step.st)
    return case, sent, [f"Scoping request sent to {m.context['agency']}" for m in sent]


def _find_agency(case: Case, name: str, step: Step) -> int | None:
    index = match_agency(case, (name,), "")
    if index is None and (entry := resolve_agency(name, step.st.directory)):
        index = match_agency(case, (entry.name,), "")
    return index


def _agency(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    name = cmd.agency_name or ""
    index = _find_agency(case, name, step)
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


def _remove_agency(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    name = cmd.agency_name or ""
    index = _find_agency(case, name, step)
    if index is None:
        on_case = ", ".join(a.name for a in case.agencies) or "none"
        return Refused(f"{name} is not on the case (agencies on it: {on_case})")
    agency = case.agencies[index]
    if agency.requested_on is not None:
        return Refused(
            f"{agency.name} was sent its scoping request on {format_date(agency.requested_on)}: "
            "an agency already asked stays on the case"
        )
    agencies = case.agencies[:index] + case.agencies[index + 1 :]
    return Applied(replace(case, agencies=agencies), (f"Removed {agency.name}",))


def _start_rapid_review(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    if case.status == "closed":
        return Refused("the case is closed: reopen it first (reopen)")
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


def _accept_return(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    name = cmd.agency_name or ""
    if not case.held_returns:
        return Refused("no return is held on this case")
    index = _find_agency(case, name, step)
    if index is None:
        return Refused(f"{name} is not on the case: add it first (agency: {name} <address>)")
    agency = case.agencies[index]
    if agency.returned_on is not None:
        return Refused(f"{agency.name} already returned on {format_date(agency.returned_on)}")
    named = [
        i
        for i, h in enumerate(case.held_returns)
        if h.agency_name and norm(h.agency_name) in (norm(name), norm(agency.name))
    ]
    if not named and len(case.held_returns) == 1:
        named = [0]
    if len(named) != 1:
        return Refused(
            f"{len(case.held_returns)} returns are held and "
            + ("none" if not named else "more than one")
            + f" names {agency.name}"
        )
    held = case.held_returns[named[0]]
    returned_on = held.received_at.astimezone(LONDON).date()
    agencies = list(case.agencies)
    agencies[index] = replace(agency, returned_on=returned_on, scoping=dict(held.scoping))
    rest = case.held_returns[: named[0]] + case.held_returns[named[0] + 1 :]
    case = replace(case, agencies=tuple(agencies), held_returns=rest)
    case = case.with_event(step.now, "scoping_returned", f"{agency.name}, accepted by command")
    pack = on_return(case, step.now, step.cal, step.st)
    return Applied(
        case,
        (
            f"Return from {held.from_addr} taken as {agency.name}'s, received {format_date(returned_on)}",
            *(["All scoping returns are in: the Rapid Review pack is on its way"] if pack else []),
        ),
        pack,
    )


_DECISION_STATUS: dict[str, Status] = {
    "cspr": "cspr",
    "learning_review": "learning_review",
    "no_review": "closed",
}


def _shown(decision: str) -> str:
    return decision.replace("_", " ")


def _decision(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    assert cmd.decision is not None
    on = _on(cmd, step)
    if refused := _not_after_today(on, step):
        return refused
    if on < case.received_on:
        return Refused(
            f"{format_date(on)} is before the case was received ({format_date(case.received_on)})"
        )
    status = _DECISION_STATUS[cmd.decision]
    done = f"Decision: {_shown(cmd.decision)} on {format_date(on)}"
    if case.decision is not None and case.decision_date is not None:
        if (case.decision, case.decision_date) == (cmd.decision, on):
            return Applied(case, (f"{done}, as already recorded",), logged=False)
        done += f" (replaces {_shown(case.decision)} of {format_date(case.decision_date)})"
    case = replace(
        case,
        decision=cmd.decision,
        decision_date=on,
        status=status,
        closed_on=on if status == "closed" else None,
    )
    return Applied(case, (done,))


def _review_decided(case: Case) -> Refused | None:
    if case.decision in (None, "no_review"):
        return Refused(
            "no review has been decided on this case (decision: cspr or learning review)"
        )
    return None


def _completed(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    on = _on(cmd, step)
    if refused := _not_after_today(on, step) or _review_decided(case):
        return refused
    if case.decision_date and on < case.decision_date:
        return Refused(
            f"{format_date(on)} is before the decision ({format_date(case.decision_date)})"
        )
    return Applied(replace(case, completed_on=on), (f"Review completed on {format_date(on)}",))


def _published(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    on = _on(cmd, step)
    if refused := _not_after_today(on, step) or _review_decided(case):
        return refused
    if case.completed_on is None:
        return Refused("the review is not completed yet (completed: DATE first)")
    if on < case.completed_on:
        return Refused(
            f"{format_date(on)} is before the review was completed ({format_date(case.completed_on)})"
        )
    return Applied(replace(case, published_on=on), (f"Report published on {format_date(on)}",))


# ---- set FIELD: value: converted as the form reader converts what it reads (SPEC 4)

_DATE_FIELDS = frozenset(
    {"child_dob", "incident_date", "la_aware_date", "notification_date", "referral_date"}
)
_BOOL_FIELDS = frozenset(
    {
        "safeguarding_lead_consulted",
        "looked_after",
        "national_panel_notified",
        "police_investigation",
    }
)
_CHOICES: dict[str, tuple[str, ...]] = {
    "incident_type": ("death", "serious_harm"),
    "abuse_or_neglect": ("known", "suspected", "no", "unknown"),
    "legal_status": (
        "child_protection_plan",
        "child_in_need",
        "looked_after",
        "care_leaver",
        "none",
        "unknown",
    ),
}
_SCREENED = frozenset({"incident_type", "abuse_or_neglect"})


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z' ]+", " ", text.replace("\u2019", "'").casefold()).split())


def _option(
    key: str, text: str, answers: Mapping[str, tuple[str, ...]], options: Iterable[str]
) -> str | None:
    said = _words(text)
    for option in options:
        if said in (_words(option.replace("_", " ")), *answers.get(option, ())):
            return option
    return None


def _field_value(key: str, text: str, step: Step) -> Any | Refused:
    answers = step.st.labels.answers
    if key in _DATE_FIELDS:
        on = parse_uk_date(text)
        if on is None:
            return Refused(
                f"{text!r} is not a date I can read (day first: 3/12/2026, or 2026-12-03)"
            )
        return _not_after_today(on, step) or on.isoformat()
    if key in _BOOL_FIELDS:
        option = _option(key, text, answers.get("bool", {}), ("true", "false"))
        if option is None:
            return Refused(f"{key} is yes or no, not {text!r}")
        return option == "true"
    if key in _CHOICES:
        option = _option(key, text, answers.get(key, {}), _CHOICES[key])
        if option is None:
            shown = " | ".join(o.replace("_", " ") for o in _CHOICES[key])
            return Refused(f"{key} is one of {shown}, not {text!r}")
        return option
    if key == "household":
        people = []
        for part in filter(None, (p.strip() for p in text.split(";"))):
            name, *rest = [w.strip() for w in re.split(r"[,()]", part) if w.strip()]
            dob = next((d for w in rest if (d := parse_uk_date(w))), None)
            relationship = next((w for w in rest if parse_uk_date(w) is None), None)
            people.append(
                {
                    "name": name,
                    "relationship": relationship,
                    "dob": dob.isoformat() if dob else None,
                }
            )
        return people
    return text


def _shown_value(value: Any) -> str:
    if value is None:
        return "not given"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return format_date(date.fromisoformat(value))
    if isinstance(value, str):
        return value.replace("_", " ") if value.islower() else value
    return str(value)


def _set(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    assert cmd.key is not None and cmd.text is not None
    value = _field_value(cmd.key, cmd.text, step)
    if isinstance(value, Refused):
        return value
    before = case.referral.get(cmd.key)
    if before == value:
        return Applied(case, (f"{cmd.key} is already {_shown_value(value)}",), logged=False)
    referral = {**case.referral, cmd.key: value}
    case = replace(case, referral=referral)
    done = [f"{cmd.key} set to {_shown_value(value)} (was {_shown_value(before)})"]
    if cmd.key in _SCREENED:
        criteria = screen(referral)
        if criteria["result"] != case.criteria.get("result"):
            done.append(f"Screened again: criteria {criteria['result'].replace('_', ' ')}")
        case = replace(case, criteria=criteria)
    return Applied(case, tuple(done))


# ---- other cases: link:, duplicate of:


def _other(case: Case, cmd: Command, step: Step) -> Case | Refused:
    ref = cmd.reference or ""
    if ref == case.reference:
        return Refused(f"{ref} is this case")
    other = step.others.get(ref)
    if other is None:
        return Refused(f"there is no case {ref}")
    return other


def _link(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    other = _other(case, cmd, step)
    if isinstance(other, Refused):
        return other
    if other.reference in case.linked_cases and case.reference in other.linked_cases:
        return Applied(case, (f"Already linked to {other.reference}",), logged=False)
    case = replace(case, linked_cases=tuple(dict.fromkeys((*case.linked_cases, other.reference))))
    other = replace(other, linked_cases=tuple(dict.fromkeys((*other.linked_cases, case.reference))))
    other = other.with_event(step.now, "linked", f"to {case.reference} by command")
    return Applied(case, (f"Linked to {other.reference}, both ways",), others=(other,))


def _duplicate_of(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    target = _other(case, cmd, step)
    if isinstance(target, Refused):
        return target
    if case.duplicate_of is not None:
        return Refused(f"this case is already a duplicate of {case.duplicate_of}")
    if target.duplicate_of is not None:
        return Refused(
            f"{target.reference} is itself a duplicate of {target.duplicate_of}: "
            f"write duplicate of: {target.duplicate_of}"
        )
    moved = [a for a in case.agencies if match_agency(target, (a.name,), "") is None]
    kept = [a.name for a in case.agencies if a not in moved]
    events = tuple(sorted((*target.events, *case.events), key=lambda e: e.at))
    target = replace(
        target,
        agencies=(*target.agencies, *moved),
        events=events,
        linked_cases=tuple(
            r
            for r in dict.fromkeys((*target.linked_cases, *case.linked_cases))
            if r != target.reference
        ),
        held_returns=(*target.held_returns, *case.held_returns),
    ).with_event(
        step.now,
        "duplicate_joined",
        f"{case.reference}: {len(moved)} agencies, {len(case.events)} events",
    )
    case = replace(
        case,
        status="closed",
        closed_on=step.today,
        duplicate_of=target.reference,
        agencies=(),
        held_returns=(),
    )
    done = [f"Marked a duplicate of {target.reference} and closed"]
    if moved:
        done.append(f"Agencies moved to {target.reference}: " + ", ".join(a.name for a in moved))
    if kept:
        done.append(f"Already on {target.reference}: " + ", ".join(kept))
    done.append(
        f"Its events are on {target.reference} too; mail about it now goes to {target.reference}"
    )
    return Applied(case, tuple(done), others=(target,))


# ---- the case's state


def _reopened_status(case: Case) -> Status:
    if case.decision in ("cspr", "learning_review"):
        return _DECISION_STATUS[case.decision]
    if any(a.requested_on for a in case.agencies):
        return "rapid_review"
    return "referral_received" if case.referral else "needs_triage"


def _reopen(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    if case.status != "closed":
        return Refused("the case is not closed")
    done = []
    if case.decision == "no_review":
        assert case.decision_date is not None
        done.append(f"The decision no review of {format_date(case.decision_date)} no longer stands")
        case = replace(case, decision=None, decision_date=None)
    if case.duplicate_of:
        done.append(
            f"No longer a duplicate of {case.duplicate_of} (what joined it stays there too)"
        )
        case = replace(case, duplicate_of=None)
    case = replace(case, status=_reopened_status(case), closed_on=None)
    return Applied(case, (f"Case reopened: {case.status.replace('_', ' ')}", *done))


def _close(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    if case.status == "closed":
        return Applied(case, ("The case is already closed",), logged=False)
    return Applied(replace(case, status="closed", closed_on=step.today), ("Case closed",))


def _pack(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    return Applied(
        case,
        ("The Rapid Review pack will be built and sent to the coordinators",),
        actions=("pack",),
    )


def _resend(case: Case, cmd: Command, step: Step) -> Applied | Refused:
    return Applied(
        case, ("What was refused for good on this case will be sent again",), actions=("resend",)
    )


HANDLERS: dict[str, Handler] = {
    "notified": _notified,
    "aware": _aware,
    "agency": _agency,
    "remove_agency": _remove_agency,
    "start_rapid_review": _start_rapid_review,
    "accept_return": _accept_return,
    "decision": _decision,
    "completed": _completed,
    "published": _published,
    "set": _set,
    "link": _link,
    "duplicate_of": _duplicate_of,
    "reopen": _reopen,
    "close": _close,
    "pack": _pack,
    "resend": _resend,
}


@dataclass(frozen=True)
class Result:
    """All the commands of one mail, carried out in order, or the lines refused (then nothing is done)."""

    case: Case
    done: tuple[str, ...]
    messages: tuple[OutboundMessage, ...]
    others: tuple[Case, ...]
    actions: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]  # (line, why)


def apply_commands(
    case: Case,
    commands: Iterable[Command],
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
    others: Mapping[str, Case] | None = None,
    by: str = "",
) -> Result:
    """Apply parsed commands in order, each seeing what the ones before it did."""
    others = dict(others or {})
    step = Step(now, today_of(now), cal, st, others)
    done: list[str] = []
    messages: list[OutboundMessage] = []
    actions: list[str] = []
    changed: dict[str, Case] = {}
    refused: list[tuple[str, str]] = []
    for cmd in commands:
        outcome = HANDLERS[cmd.verb](case, cmd, step)
        if isinstance(outcome, Refused):
            refused.append((cmd.line, outcome.problem))
            continue
        case = outcome.case
        done.extend(outcome.done)
        messages.extend(outcome.messages)
        actions.extend(a for a in outcome.actions if a not in actions)
        for other in outcome.others:
            others[other.reference] = changed[other.reference] = other
        if outcome.logged:
            case = case.with_event(now, "command", cmd.line, by=by)
    return Result(
        case, tuple(done), tuple(messages), tuple(changed.values()), tuple(actions), tuple(refused)
    )


def run_commands(
    case: Case,
    commands: tuple[Command, ...],
    errors: tuple[tuple[str, str], ...],
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
    *,
    source: str,
    others: Mapping[str, Case] | None = None,
    by: str = "",
) -> Outcome:
    """Commands from mail or the CLI. The last message of the outcome is the answer to whoever gave them.

    ``others`` are the cases the commands name (``ParseResult.references``), as the app found them.
    A line not understood (``errors``) or refused by its handler: nothing is done, the answer names it.
    """
    done: tuple[str, ...] = ()
    messages: tuple[OutboundMessage, ...] = ()
    changed: tuple[Case, ...] = ()
    actions: tuple[str, ...] = ()
    if not commands and not errors:
        errors = (("(empty)", "no command found at the top of the message"),)
    elif commands:
        result = apply_commands(case, commands, now, cal, st, others, by)
        errors = (*errors, *result.refused)
        if not errors:
            case, done, messages = result.case, result.done, result.messages
            changed, actions = result.others, result.actions
    if errors:
        case = case.with_event(
            now, "command_refused", f"{source}: {len(errors)} line(s) not done", by=by
        )
    view = internal_view(case, cal, st, today_of(now))
    answer = notice(
        case.reference,
        f"{case.reference}:command-reply:{now.isoformat()}",
        "command_reply",
        "Commands done" if not errors else "Commands not done",
        {**view, "done": list(done), "errors": [{"line": ln, "problem": p} for ln, p in errors]},
        st,
        auto_submitted="auto-replied",
    )
    return Outcome(
        "processed",
        "command",
        case,
        (*messages, answer),
        f"{case.reference} commands {len(done)}, not done {len(errors)}",
        others=changed,
        actions=actions,
    )


def on_command_mail(
    read: ReadMessage,
    cls: Classification,
    case: Case,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
    others: Mapping[str, Case] | None = None,
) -> Outcome:
    """A coordinator's command mail: all its commands are applied, or none if any line is not understood
    or makes no sense on the case. ``others``: the cases its commands name (``command_references``)."""
    msg = read.message
    parsed = parse_commands(msg.body_text, st.commands)
    outcome = run_commands(
        case,
        parsed.commands,
        parsed.errors,
        now,
        cal,
        st,
        source=f"uid {msg.uid}",
        others=others,
        by=msg.from_addr,
    )
    reply = replace(
        outcome.messages[-1],
        key=f"{case.reference}:command-reply:{msg.sha256[:16]}",
        to=(msg.from_addr,),
        **reply_headers(msg),
    )
    return replace(outcome, messages=(*outcome.messages[:-1], reply))


def command_references(read: ReadMessage, st: Settings) -> tuple[str, ...]:
    """The other cases a command mail names (``link:``, ``duplicate of:``): the app looks them up."""
    return parse_commands(read.message.body_text, st.commands).references()


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
