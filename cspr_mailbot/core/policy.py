"""The house rules the app applies around the workflow, as pure functions the wiring calls.

Which inbound message is a copy of one already taken in; how many automatic replies one sender gets in a
day; what the coordinators get instead of a message that would have named the child, or that could not be
delivered, or that could not be processed; when a failed send is tried again; when the digest has gone.
No I/O: the app loads what these need, calls them, and saves what they return.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from .backoff import backoff
from .digest import Digest, digest_context
from .models import Case, InboundMessage, OutboundMessage
from .records import LedgerEntry, OutboxRecord
from .workdays import LONDON

RETRY_FIRST_SECONDS = 60.0  # a failed send is tried again after 1 min, 2, 4 ... at most an hour
RETRY_MAX_SECONDS = 3600.0


# -- the same message twice ----------------------------------------------------------------------


def fingerprint(msg: InboundMessage) -> str:
    """What a second copy of a message keeps, though a gateway may add headers or a disclaimer."""
    when = msg.header("date") or ""
    return hashlib.sha256(f"{msg.from_addr}\n{msg.subject}\n{when}".encode()).hexdigest()[:32]


def same_message(entry: LedgerEntry | None, sha: str, print_: str) -> LedgerEntry | None:
    """The ledger entry if it is this message (hash ``sha``, fingerprint ``print_``) or a copy of it.

    A match by Message-ID alone (other bytes) is a copy only if sender, subject and Date agree:
    some mailers reuse Message-IDs, and a referral must never be filed away as someone else's copy.
    """
    if entry is None or entry.sha256 == sha:
        return entry
    return entry if entry.fingerprint is None or entry.fingerprint == print_ else None


# -- the per-sender reply limit ------------------------------------------------------------------


def reply_counter_keys(om: OutboundMessage, now: datetime) -> tuple[str, ...]:
    """The day's counters an automatic reply to outside counts against; () for mail that has none.

    Only replies (``auto-replied``) to people outside the coordinators are limited: the loop breaker
    for a sender, or a machine, that answers every answer.
    """
    if om.internal or om.auto_submitted != "auto-replied":
        return ()
    day = now.astimezone(LONDON).date().isoformat()
    return tuple(f"replies:{day}:{addr.lower()}" for addr in om.to)


def count_reply(
    keys: Sequence[str], counts: Mapping[str, int], limit: int
) -> tuple[bool, dict[str, int]]:
    """(over the limit, the counters to save). Every recipient's counter goes up, over or not."""
    new = {key: counts.get(key, 0) for key in keys}
    over = False
    for key in keys:
        if new[key] >= limit:
            over = True
        new[key] += 1
    return over, new


# -- notices instead of, or about, other mail -----------------------------------------------------


def withheld_notice(om: OutboundMessage, coordinators: Sequence[str]) -> OutboundMessage:
    """What the coordinators get instead of a message that would have named the child."""
    return OutboundMessage(
        key=f"{om.key}:withheld",
        template="withheld_notice",
        to=tuple(coordinators),
        subject="A message was withheld: it would have named the child",
        context={
            "reference": om.case_ref or "",
            "template": om.template,
            "recipients": len(om.to) + len(om.cc),
        },
        case_ref=om.case_ref,
        internal=True,
    )


def undeliverable_notice(
    record: OutboxRecord, refused: Sequence[str], error: str, coordinators: Sequence[str]
) -> OutboundMessage | None:
    """The coordinators' notice of mail for outside refused for good; None for their own mail.

    A referrer's acknowledgement or an agency's request that cannot be delivered needs a person to
    follow it up. Mail to the coordinators is not reported this way, or a refused notice would breed
    notices.
    """
    if record.internal:
        return None
    return OutboundMessage(
        key=f"{record.key}:undeliverable",
        template="undeliverable_notice",
        to=tuple(coordinators),
        subject="A message could not be delivered",
        context={
            "reference": record.case_reference or "",
            "template": record.template or "",
            "recipients": ", ".join(refused),
            "error": error,
        },
        case_ref=record.case_reference,
        internal=True,
    )


def error_notice(
    sha: str, uid: str, folder: str, error: str, coordinators: Sequence[str]
) -> OutboundMessage:
    """The coordinators' notice of a message that could not be processed and was filed in ``folder``.

    ``error`` is the exception's type only: its message may carry what the mail said.
    """
    return OutboundMessage(
        key=f"error:{sha[:16]}",
        template="error_notice",
        to=tuple(coordinators),
        subject="A message could not be processed",
        context={"folder": folder, "error": error, "uid": uid},
        internal=True,
    )


def log_queued(case: Case, queued: Sequence[OutboundMessage], now: datetime) -> Case:
    """The case with its log saying what was queued on it, and to whom."""
    for om in queued:
        who = "the coordinators" if om.internal else ", ".join(om.to)
        case = case.with_event(now, "message", f"{om.template} to {who}")
    return case


# -- the retry schedule --------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failed attempt a message is tried again."""
    return timedelta(seconds=backoff(attempts, RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS))


def after_send_failure(
    record: OutboxRecord, now: datetime, error: str, *, permanent: bool
) -> OutboxRecord:
    """The record after a failed attempt: counted, retried later, or (``permanent``) failed for good."""
    attempts = record.attempts + 1
    return replace(
        record,
        attempts=attempts,
        last_error=error,
        next_attempt_at=now + retry_delay(attempts),
        failed_at=now if permanent else record.failed_at,
    )


def due_for_sending(record: OutboxRecord, now: datetime, *, patient: bool) -> bool:
    """Whether to try ``record`` now; ``patient`` (the daemon) waits out its retry delay."""
    if record.failed_at is not None:
        return False
    due = record.next_attempt_at
    return not (patient and due is not None and due > now)


# -- the digest ------------------------------------------------------------------------------------


def digest_day(now: datetime) -> date:
    """The day a digest made at ``now`` is for (London)."""
    return now.astimezone(LONDON).date()


def digest_already_queued(last_day: date | None, now: datetime) -> bool:
    """True when today's digest has been queued already (by this process or another)."""
    return last_day == digest_day(now)


def digest_message(d: Digest, now: datetime, recipients: Sequence[str]) -> OutboundMessage:
    """The digest as a message to ``recipients``; its key is new each time (``--send`` may repeat)."""
    return OutboundMessage(
        key=f"digest:{d.day.isoformat()}:{now.isoformat()}",
        template="digest",
        to=tuple(recipients),
        subject=f"Daily digest {d.day_shown}",
        context=digest_context(d),
        internal=True,
    )
