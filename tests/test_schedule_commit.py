"""The schedule's notices and chasers of a pass are queued in one commit, each exactly once (SPEC 3, 5).

``App.run_schedule`` finds the cases with something due outside the store's lock, then queues every
one of them in ONE transaction (it was one transaction, and one fdatasync, per case). Each case's
messages and the ``sent_keys`` that say they went are written together, so whatever the process dies
at, a notice is queued once. A case that fails takes back only its own writes: the cases before it
are committed, as with a transaction per case, and the error goes on up.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sites import maildir_site
from test_schedule_hours import rapid_review_case

from cspr_mailbot.adapters.store import Store
from cspr_mailbot.app import App, PassReport
from cspr_mailbot.config import load_config
from cspr_mailbot.core.models import Case
from cspr_mailbot.core.workdays import LONDON
from cspr_mailbot.wiring import build_app

NOW = datetime(2026, 12, 18, 10, 0, tzinfo=LONDON)  # a Friday, in working hours
CASES = 4


def case(i: int) -> Case:
    """Received and aware Fri 4 Dec 2026, no SIN date: the SIN overdue notice, the Rapid Review's
    day-10 notice and two agencies' "due" chasers fall due by Fri 18 Dec."""
    return rapid_review_case(f"DSPP-2026-{i:04d}", f"Jamie Example{i}")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    maildir_site(tmp_path)
    with Store(tmp_path / "store" / "cspr.json") as store, store.transaction() as txn:
        for i in range(1, CASES + 1):
            txn.put_case(case(i))
        # The digest and the daily upkeep are not this test's: done for the day already.
        txn.meta_set("digest_last_day", NOW.date().isoformat())
        txn.meta_set("upkeep_last_day", NOW.date().isoformat())
    return tmp_path


def app_of(site: Path, store: Store) -> App:
    return build_app(load_config(site / "config.toml"), store, with_source=False)


def queued(store: Store) -> Counter[str]:
    """Outbox keys queued per case reference (every record, sent or not)."""
    return Counter(r.case_reference or "" for r in store.outbox_pending())


def commits(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the transactions that commit something (each is one journal line, one fdatasync)."""
    counted: list[int] = []
    storage = store._storage
    real = storage.append

    def append(*args: Any, **kwargs: Any) -> Any:
        counted.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(storage, "append", append)
    return counted


def test_the_notices_of_every_case_go_in_one_commit_and_once(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(site / "store" / "cspr.json") as store:
        app = app_of(site, store)
        counted = commits(store, monkeypatch)
        app.run_schedule(NOW, PassReport())
        assert len(counted) == 1  # one commit for the notices and chasers of all the cases
        per_case = queued(store)
        assert sorted(per_case) == [f"DSPP-2026-{i:04d}" for i in range(1, CASES + 1)]
        assert len(set(per_case.values())) == 1 and min(per_case.values()) >= 3
        for c in store.cases():
            assert len(c.sent_keys) == per_case[c.reference]  # recorded with the messages
        keys = {r.key for r in store.outbox_pending()}
        app.run_schedule(NOW, PassReport())  # again: nothing new, no commit at all
        assert {r.key for r in store.outbox_pending()} == keys
        assert len(counted) == 1


def test_a_case_that_fails_takes_back_only_its_own_writes(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(site / "store" / "cspr.json") as store:
        app = app_of(site, store)
        real = App._queue
        calls: list[str] = []

        def failing(self: App, txn: Any, messages: Any, case: Any, now: Any) -> Any:
            calls.append(case.reference)
            out = real(self, txn, messages, case, now)  # written, then taken back by the failure
            if case.reference == "DSPP-2026-0002":
                raise RuntimeError("a bug in one case")
            return out

        monkeypatch.setattr(App, "_queue", failing)
        with pytest.raises(RuntimeError, match="a bug in one case"):
            app.run_schedule(NOW, PassReport())
        assert calls == ["DSPP-2026-0001", "DSPP-2026-0002"]  # the cases after it wait
        assert sorted(queued(store)) == ["DSPP-2026-0001"]  # committed, as its own txn was
        cases = {c.reference: c for c in store.cases()}
        assert cases["DSPP-2026-0001"].sent_keys
        assert not cases["DSPP-2026-0002"].sent_keys and not cases["DSPP-2026-0003"].sent_keys

        monkeypatch.setattr(App, "_queue", real)  # fixed: the next pass queues the rest, once each
        first = {r.key for r in store.outbox_pending()}
        app.run_schedule(NOW, PassReport())
        per_case = queued(store)
        assert sorted(per_case) == [f"DSPP-2026-{i:04d}" for i in range(1, CASES + 1)]
        assert len(set(per_case.values())) == 1
        assert first <= {r.key for r in store.outbox_pending()}


def test_a_case_changed_by_another_process_meanwhile_is_worked_out_again(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the look outside the lock and the transaction, another writer sent one case's notices
    (a daemon and a ``run --once`` at the same time): that case gets nothing twice."""
    with Store(site / "store" / "cspr.json") as store:
        app = app_of(site, store)
        cases = store.cases()

        def and_meanwhile(include_closed: bool = False) -> list[Case]:
            with Store(site / "store" / "cspr.json") as other:
                app_of(site, other).run_schedule(NOW, PassReport())  # takes every case's notices
            return cases  # as this process read them, before

        monkeypatch.setattr(store, "cases", and_meanwhile)
        app.run_schedule(NOW, PassReport())
        monkeypatch.undo()
        keys = [r.key for r in store.outbox_pending()]
        assert len(keys) == len(set(keys))
        per_case = queued(store)
        assert len(per_case) == CASES and len(set(per_case.values())) == 1
        for c in store.cases():
            assert len(c.sent_keys) == len(set(c.sent_keys)) == per_case[c.reference]
