"""The store's own records besides cases: the ledger of inbound messages and the outbox of messages to send.

Plain frozen values with datetimes, no I/O; the store owns how they are written to disk.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class LedgerEntry:
    """One inbound message the bot has taken in, keyed by the sha256 of its exact bytes.

    ``outcome`` is the workflow's kind (``referral``, ``triage``, ``command`` ...) or ``error`` for a
    message that could not be processed (``error`` then names the exception type). ``moved`` says
    whether the message has reached ``folder``; ``fingerprint`` (sender, subject, Date) tells a copy of
    it from another message that reuses its Message-ID.
    """

    sha256: str
    message_id: str | None
    uid: str
    outcome: str
    case_reference: str | None
    processed_at: datetime
    folder: str
    moved: bool = False
    fingerprint: str | None = None
    error: str | None = None

    def filed(self) -> LedgerEntry:
        """The entry once the message has been moved to its folder."""
        return replace(self, moved=True)

    def forgotten(self) -> LedgerEntry:
        """What is kept once its case is purged: the hash of its bytes (a redelivered original is
        known again and filed, not made a new case), its folder, and nothing of the case."""
        return replace(
            self,
            message_id=None,
            fingerprint=None,
            uid="",
            outcome="purged",
            case_reference=None,
            error=None,
        )


@dataclass(frozen=True)
class OutboxRecord:
    """One rendered message to send, keyed by the OutboundMessage's key (each is sent once).

    ``raw`` is the whole MIME message until it is sent (None after). ``recipients`` are the envelope
    addresses (To and Cc). ``failed_at`` is set when the server refused it for good; until then a failed
    attempt sets ``next_attempt_at``.
    """

    key: str
    message_id: str
    template: str
    subject: str
    to: tuple[str, ...]
    created_at: datetime
    raw: bytes | None = None
    case_reference: str | None = None
    cc: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    internal: bool = False
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None

    @property
    def pending(self) -> bool:
        """Not sent yet and not refused for good."""
        return self.sent_at is None and self.failed_at is None

    def mark_sent(self, at: datetime) -> OutboxRecord:
        """The record once the server has taken it: its bytes are no longer kept."""
        return replace(self, sent_at=at, raw=None, last_error=None)
