"""Classify an inbound message (SPEC 3): small ordered rules, the first that matches wins, each says why.

1. automatic mail (never answered), 2. a coordinator command, 3. correspondence on a case, 4. a new referral.

A command mail from a coordinator address that fails the sender check (``trust``, SPEC 3 "Trusting a
sender") is ``unverified_command``: never carried out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .commands import DEFAULT_GRAMMAR, Grammar, looks_like_commands
from .models import InboundMessage
from .reading import ReadMessage
from .sender_check import SenderCheck, SenderTrust, check_sender

Kind = Literal["automatic", "command", "unverified_command", "correspondence", "referral"]

# The header we put on every message we send, so our own mail is recognised whatever the server does to it.
OUR_HEADER = "x-cspr-mailbot"

_MACHINE_LOCALPARTS = re.compile(
    r"^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?|"
    r"auto[-_.]?(reply|responder|confirm)|notifications?|listserv|majordomo|owner-.*|.*-bounces?|"
    r"microsoftexchange[0-9a-f]*)$"
)
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?reply|out of (the )?office|delivery status notification|"
    r"undeliver(able|ed)|mail delivery (failed|failure|system)|returned mail|"
    r"delivery (has )?failed|failure notice|non[- ]?delivery)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Classification:
    kind: Kind
    reasons: tuple[str, ...]
    case_ref: str | None = None
    bounce_of: str | None = None  # for automatic mail: the Message-ID of our message that bounced
    # For mail from a coordinator address with commands: what the sender check said.
    trust: SenderTrust | None = None
    # The addresses our messages that this one answers (In-Reply-To, References) were sent to: a
    # scoping return in the thread of the request to an agency is that agency's (SPEC 3).
    answers_to: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Context:
    """What the rules need to know of the world, as values.

    The wiring fills ``cases``, ``sent`` and ``sent_to`` from the store first, for what ``lookups`` says
    the message names; the rules never call back into the store.
    """

    mailbox: str
    coordinators: frozenset[str]
    reference_prefix: str
    cases: frozenset[str] = frozenset()  # of the references the message names, those that are cases
    sent: Mapping[str, str] = field(default_factory=dict)  # a Message-ID we sent -> its case
    commands: Grammar = DEFAULT_GRAMMAR  # the words for each command, to tell a command mail
    # a Message-ID we sent -> whom it went to
    sent_to: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sender_check: SenderCheck = "none"  # [security] (SPEC 9): what proves a coordinator's From:
    authserv_id: str = ""

    def reference_pattern(self) -> re.Pattern[str]:
        return re.compile(
            rf"\b({re.escape(self.reference_prefix)}-\d{{4}}-\d{{4,}})\b", re.IGNORECASE
        )


@dataclass(frozen=True)
class Lookups:
    """What classifying a message needs from the store: which references are cases, whose ids are ours."""

    references: tuple[str, ...] = ()
    message_ids: tuple[str, ...] = ()


def lookups(read: ReadMessage, ctx: Context) -> Lookups:
    """The case references and Message-IDs the message names, for the wiring to look up."""
    msg = read.message
    if automatic_reason(msg, ctx):
        bounce = read.bounced_message_id
        return Lookups(message_ids=(bounce,) if bounce else ())
    refs = [m.group(1).upper() for m in ctx.reference_pattern().finditer(msg.subject)]
    if read.template_reference:
        refs.append(read.template_reference)
    ids = [mid for mid in (msg.in_reply_to, *reversed(msg.references)) if mid]
    return Lookups(tuple(dict.fromkeys(refs)), tuple(dict.fromkeys(ids)))


def automatic_reason(msg: InboundMessage, ctx: Context) -> str | None:
    """Why this message was sent by a machine, or None. A pure header check, as django-helpdesk does."""
    auto = (msg.header("auto-submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    if msg.header(OUR_HEADER) is not None:
        return "mail we sent ourselves"
    if msg.from_addr and msg.from_addr == ctx.mailbox.lower():
        return "from our own mailbox address"
    if msg.header("x-auto-response-suppress") is not None:
        return "X-Auto-Response-Suppress present"
    precedence = (msg.header("precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("list-id", "list-unsubscribe"):
        if msg.header(name) is not None:
            return f"{name} present (mailing list)"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-failed-recipients"):
        if msg.header(name) is not None:
            return f"{name} present"
    return_path = msg.header("return-path")
    if return_path is not None and return_path.strip() in ("<>", ""):
        return "empty Return-Path"
    if msg.content_type == "multipart/report":
        return f"delivery report ({msg.report_type or 'multipart/report'})"
    local = msg.from_addr.split("@", 1)[0]
    if local and _MACHINE_LOCALPARTS.match(local):
        return f"machine sender ({local}@...)"
    if _AUTO_SUBJECT.match(msg.subject):
        return "subject of an automatic reply"
    return None


def _reference_in_subject(msg: InboundMessage, ctx: Context) -> str | None:
    for match in ctx.reference_pattern().finditer(msg.subject):
        ref = match.group(1).upper()
        if ref in ctx.cases:
            return ref
    return None


def _reference_by_thread(msg: InboundMessage, ctx: Context) -> str | None:
    for mid in (msg.in_reply_to, *reversed(msg.references)):
        if mid:
            ref = ctx.sent.get(mid)
            if ref:
                return ref
    return None


def case_reference(read: ReadMessage, ctx: Context) -> tuple[str | None, str]:
    """The case a message is about and how we know, trying the subject, the thread and attached templates."""
    msg = read.message
    ref = _reference_in_subject(msg, ctx)
    if ref:
        return ref, "case reference in the subject"
    ref = _reference_by_thread(msg, ctx)
    if ref:
        return ref, "a reply to a message we sent"
    ref = read.template_reference
    if ref and ref in ctx.cases:
        return ref, "case reference embedded in the attached scoping template"
    return None, ""


def classify(read: ReadMessage, ctx: Context) -> Classification:
    """The first rule that matches: automatic mail, a command, correspondence, a new referral."""
    msg = read.message
    reason = automatic_reason(msg, ctx)
    if reason:
        bounce = read.bounced_message_id
        ref = ctx.sent.get(bounce) if bounce else None
        return Classification("automatic", (reason,), case_ref=ref, bounce_of=bounce)
    ref, how = case_reference(read, ctx)
    answers_to = _answers_to(msg, ctx)
    commands = msg.from_addr in ctx.coordinators and looks_like_commands(
        msg.body_text, ctx.commands
    )
    if commands:
        trust = check_sender(msg, ctx.sender_check, ctx.authserv_id)
        if not trust.verified:
            return Classification(
                "unverified_command",
                (f"from a coordinator address with commands, but not verified: {trust.reason}",),
                case_ref=ref,
                trust=trust,
                answers_to=answers_to,
            )
        if ref:
            return Classification(
                "command", (f"from a coordinator with commands; {how}",), case_ref=ref, trust=trust
            )
        # Commands that name no case we know (a mistyped reference): an error for the coordinator,
        # not a new referral with a triage reply.
        return Classification(
            "command", ("from a coordinator with commands, but no known case named",), trust=trust
        )
    if ref:
        return Classification("correspondence", (how,), case_ref=ref, answers_to=answers_to)
    return Classification("referral", ("no case named: a new referral",))


def _answers_to(msg: InboundMessage, ctx: Context) -> frozenset[str]:
    """Whom the messages of ours that ``msg`` answers were sent to."""
    out: set[str] = set()
    for mid in (msg.in_reply_to, *msg.references):
        if mid:
            out.update(a.lower() for a in ctx.sent_to.get(mid, ()))
    return frozenset(out)
