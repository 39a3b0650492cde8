"""Messages the bot will not read (SPEC 3 "Poison messages and size"): what is said about them.

A message over ``[limits] max_message_bytes`` is not fetched or parsed; only its header section is,
so that the coordinators can be told and a human sender answered plainly. A message that was being
read when the bot died ``STARTS_BEFORE_TRIAGE`` times is not read again: the coordinators are told.
The counts live in the store's meta values under ``started_key``. No I/O.
"""

from __future__ import annotations

from .classify import Context, automatic_reason
from .models import InboundMessage, OutboundMessage
from .settings import Settings
from .views import reply_headers, salutation

# A message that was in progress when the bot stopped this many times is filed, not tried again.
STARTS_BEFORE_TRIAGE = 2
MIB = 1024 * 1024


def started_key(sha: str) -> str:
    """The meta key counting the starts on the message whose bytes hash to ``sha``."""
    return f"started:{sha}"


def stopped_the_bot(starts: int) -> bool:
    """Whether a message already started on ``starts`` times (never finished) is poison."""
    return starts >= STARTS_BEFORE_TRIAGE


def human_sender(msg: InboundMessage, st: Settings) -> str | None:
    """The address to answer a message that was not read, or None: a machine, no clear sender,
    or a coordinator (who has the notice)."""
    if msg.sender_ambiguous or msg.null_sender or not msg.from_addr:
        return None
    if msg.from_addr in {c.lower() for c in st.coordinators}:
        return None
    ctx = Context(
        mailbox=st.mailbox,
        coordinators=frozenset(st.coordinators),
        reference_prefix=st.reference_prefix,
        commands=st.commands,
    )
    return None if automatic_reason(msg, ctx) else msg.from_addr


def _megabytes(size: int) -> str:
    return f"{size / MIB:.1f} MB"


def too_large(
    headers: InboundMessage, size: int, limit: int, folder: str, st: Settings
) -> tuple[OutboundMessage, ...]:
    """The coordinators' notice of a message filed unread for its size, and the sender's reply.

    ``headers`` is the message's header section, parsed (its sender strictly); the reply says
    nothing of what the message was about, so it cannot name anyone.
    """
    key = f"too-large:{headers.sha256[:16]}"
    sender = human_sender(headers, st)
    notice = OutboundMessage(
        key=key,
        template="too_large_notice",
        to=tuple(st.coordinators),
        subject="A message was too large to read",
        context={
            "uid": headers.uid,
            "size": _megabytes(size),
            "limit": _megabytes(limit),
            "folder": folder,
            "sender": headers.from_addr,
            "message_subject": headers.subject,
            "replied": sender is not None,
        },
        internal=True,
    )
    if sender is None:
        return (notice,)
    reply = OutboundMessage(
        key=f"{key}:reply",
        template="too_large_reply",
        to=(sender,),
        subject="Your message was too large for us to read",
        context={
            "salutation": salutation(headers.from_name),
            "size": _megabytes(size),
            "limit": _megabytes(limit),
            "partnership": st.partnership_name,
            "phone": st.phone,
            "mailbox": st.mailbox,
        },
        auto_submitted="auto-replied",
        **reply_headers(headers),
    )
    return (notice, reply)
