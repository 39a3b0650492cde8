"""The one back-off rule: how long to wait after failures in a row (the daemon, the mailbox, the outbox)."""

from __future__ import annotations


def backoff(failures: int, first: float, maximum: float) -> float:
    """Seconds to wait after ``failures`` failures in a row: ``first``, twice that, 4x ... at most ``maximum``.

    ``failures`` below 1 counts as 1.
    """
    doublings = min(max(failures, 1) - 1, 64)  # 2**64 times any sane ``first`` is past any maximum
    return float(min(first * 2**doublings, maximum))
