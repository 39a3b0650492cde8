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

    @classmethod
    def unread(
        cls,
        sha256: str,
        uid: str,
        outcome: str,
        folder: str,
        processed_at: datetime,
        error: str | None = None,
    ) -> LedgerEntry:
        """A message filed without being read into a case (too large, failed, or one the bot died
        on): only its hash is kept, so a readable copy with the same Message-ID is still read."""
        return cls(sha256, None, uid, outcome, None, processed_at, folder, error=error)

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
    addresses (To and Cc). ``failed_at`` is set when the server refused it for good (a 5xx: SPEC 5
    *undelivered*), ``refused_to`` then says to whom, and ``raw`` is kept for ``resend``; until then a
    failed attempt sets ``next_attempt_at``. A message taken for some recipients and refused for others
    has both ``sent_at`` and ``failed_at``. ``resends`` counts the times it was queued again.
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
    refused_to: tuple[str, ...] = ()
    resends: int = 0

    @property
    def pending(self) -> bool:
        """Not sent yet and not refused for good."""
        return self.sent_at is None and self.failed_at is None

    @property
    def undelivered(self) -> bool:
        """Refused for good (for all its recipients or some) and not queued again since."""
        return self.failed_at is not None

    def mark_sent(self, at: datetime) -> OutboxRecord:
        """The record once the server has taken it: its bytes are no longer kept."""
        return replace(self, sent_at=at, raw=None, last_error=None)

    def mark_refused(self, at: datetime, refused: tuple[str, ...], error: str) -> OutboxRecord:
        """Refused for good for ``refused`` (all of ``recipients``, or those the server would not
        take while it took the rest): its bytes are kept so that ``resend`` can send it again."""
        return replace(self, failed_at=at, refused_to=refused, last_error=error)

    def for_resend(self) -> OutboxRecord:
        """Queued again, for those who were refused, as a coordinator's ``resend`` asks."""
        return replace(
            self,
            recipients=self.refused_to or self.recipients,
            refused_to=(),
            sent_at=None,
            failed_at=None,
            attempts=0,
            next_attempt_at=None,
            resends=self.resends + 1,
        )
