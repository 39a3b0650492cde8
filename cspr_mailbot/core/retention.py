"""How long the store keeps things: the retention schedule for closed cases, and what can be pruned.

Pure rules over values (SPEC 9 ``[retention]``, issue 14); ``dataprotection`` applies them to the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .models import Case
from .records import OutboxRecord
from .workdays import add_months

# Sent mail older than this is no longer needed by the digest ("what the bot sent yesterday", at
# most a long weekend and a run of bank holidays back) nor by the retry schedule.
SENT_KEPT = timedelta(days=14)

REPLY_COUNTER = re.compile(r"^replies:(\d{4}-\d{2}-\d{2}):")


@dataclass(frozen=True)
class PurgeItem:
    """A closed case past its retention: what ``purge`` lists and, applied, the audit line it leaves."""

    reference: str
    received_on: date
    closed_on: date
    retention_ended: date

    def audit(self, purged_on: date) -> dict[str, str]:
        """The one line kept: the reference and dates only, never anything about the child."""
        return {
            "reference": self.reference,
            "received_on": self.received_on.isoformat(),
            "closed_on": self.closed_on.isoformat(),
            "purged_on": purged_on.isoformat(),
            "note": "purged",
        }


def _closed(case: Case) -> date:
    return case.closed_on or case.decision_date or case.received_on


def retention_ends(case: Case, years: int) -> date | None:
    """The day a closed case's retention ends (``years`` after it closed); None: kept for now."""
    if years <= 0 or case.status != "closed":
        return None
    return add_months(_closed(case), 12 * years)


def purge_item(case: Case, today: date, years: int) -> PurgeItem | None:
    """The purge of ``case`` if its retention has ended by ``today``, else None."""
    ends = retention_ends(case, years)
    if ends is None or ends > today:
        return None
    return PurgeItem(case.reference, case.received_on, _closed(case), ends)


def keep_outbox_record(record: OutboxRecord, now: datetime) -> bool:
    """Whether the store still needs an outbox record: unsent and refused mail always, sent for a while.

    Undelivered mail (``failed_at``) stays until it is sent again: the digest lists it and ``resend``
    needs its bytes. The ledger and the cases' own keys keep each outcome from being sent twice, so a
    pruned record cannot come back as a second message.
    """
    if record.sent_at is None:
        return True
    return now - record.sent_at < SENT_KEPT


def stale_reply_counter(key: str, today: date) -> bool:
    """Whether a per-sender reply counter (``replies:DAY:ADDRESS``) is of a day before ``today``."""
    match = REPLY_COUNTER.match(key)
    return match is not None and date.fromisoformat(match.group(1)) < today
