"""Case references: the app looks the next one up before deciding; the core never calls the store."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from cspr_mailbot.adapters.store import Store
from cspr_mailbot.core import workflow
from cspr_mailbot.core.models import Case
from cspr_mailbot.core.workdays import LONDON


def test_peek_does_not_take_a_reference_and_claim_does(tmp_path: Path) -> None:
    with Store(tmp_path / "s" / "cspr.json") as store:
        with store.transaction() as txn:
            assert txn.peek_reference(2026) == "DSPP-2026-0001"
            assert txn.peek_reference(2026) == "DSPP-2026-0001"  # nothing taken
        with store.transaction() as txn:
            ref = txn.peek_reference(2026)
            txn.claim_reference(ref)
            txn.put_case(Case(ref, "referral_received", datetime.now(UTC), date(2026, 11, 30)))
        with store.transaction() as txn:
            assert txn.peek_reference(2026) == "DSPP-2026-0002"
            assert txn.peek_reference(2027) == "DSPP-2027-0001"
            assert txn.next_reference(2026) == "DSPP-2026-0002"
            assert txn.peek_reference(2026) == "DSPP-2026-0003"


def test_the_years_a_message_may_count_in_span_the_new_year() -> None:
    new_year = datetime(2027, 1, 1, 0, 30, tzinfo=LONDON)
    assert workflow.reference_years(new_year) == (2026, 2027, 2028)
    # 31 December after the cut-off counts as received in the next year: its reference is there.
    late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert 2027 in workflow.reference_years(late)
