"""The case store on real files: round trips, transactions, file modes, locking, SIGKILLs."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cspr_mailbot.adapters.store import Store
from cspr_mailbot.core.models import Case
from cspr_mailbot.core.records import LedgerEntry, OutboxRecord
from cspr_mailbot.errors import StoreError, StoreLocked

FORK = multiprocessing.get_context("fork")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


T0 = at("2026-03-02T10:00:00+00:00")


def case(reference: str, status: str = "referral_received", **extra: Any) -> Case:
    """A case as the workflow would hand it over (built from its JSON shape)."""
    return Case.from_dict(
        {
            "reference": reference,
            "status": status,
            "received_at": "2026-03-02T10:00:00+00:00",
            "received_on": "2026-03-02",
            "referral": {"child_name": "Child Name", "agencies_involved": [{"name": "Police"}]},
            "events": [{"at": "2026-03-02T10:00:00+00:00", "kind": "received", "detail": ""}],
            "sent_keys": [],
            **extra,
        }
    )


def ledger(sha: str, message_id: str | None, reference: str | None = None) -> LedgerEntry:
    return LedgerEntry(
        sha256=sha,
        message_id=message_id,
        uid="7",
        outcome="referral",
        case_reference=reference,
        processed_at=T0,
        folder="Processed",
        moved=False,
    )


def outbox(key: str, created_at: datetime = T0, **extra: Any) -> OutboxRecord:
    fields: dict[str, Any] = {
        "key": key,
        "message_id": f"<{key}@dspp.example>",
        "case_reference": "DSPP-2026-0001",
        "to": ("someone@example.org",),
        "subject": "[DSPP-2026-0001] Referral received",
        "template": "acknowledgement",
        "raw": b"Raw message",
        "created_at": created_at,
    }
    return OutboxRecord(**{**fields, **extra})


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "cspr.json"


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    with Store(path) as s:
        yield s


# --------------------------------------------------------------------------- round trips


def test_everything_round_trips_through_a_reopen(path: Path) -> None:
    with Store(path) as s, s.transaction() as txn:
        txn.put_case(case("DSPP-2026-0001", agencies=[{"name": "Police", "due": "2026-03-09"}]))
        txn.ledger_put(ledger("aa" * 32, "<m1@sender.example>", "DSPP-2026-0001"))
        assert txn.outbox_put(outbox("ack:DSPP-2026-0001")) is True
        txn.index_message_id("<ack-1@dspp.example>", "DSPP-2026-0001")
        txn.meta_set("last_digest", {"on": "2026-03-02", "count": 3})

    with Store(path) as s:
        got = s.get_case("DSPP-2026-0001")
        assert got == case("DSPP-2026-0001", agencies=[{"name": "Police", "due": "2026-03-09"}])
        assert got.agencies[0].name == "Police"
        assert got.referral["agencies_involved"] == [{"name": "Police"}]
        assert s.ledger_get(None, "aa" * 32) == ledger(
            "aa" * 32, "<m1@sender.example>", "DSPP-2026-0001"
        )
        assert s.outbox_get("ack:DSPP-2026-0001") == outbox("ack:DSPP-2026-0001")
        assert s.case_for_message_id("<ack-1@dspp.example>") == "DSPP-2026-0001"
        assert s.case_for_message_id("ack-1@dspp.example") == "DSPP-2026-0001"
        assert s.case_for_message_id("<other@dspp.example>") is None
        assert s.meta_get("last_digest") == {"on": "2026-03-02", "count": 3}
        assert s.meta_get("missing", "default") == "default"
        assert s.get_case("DSPP-2026-0002") is None


# Documents as the store wrote them before it spoke typed records (a file on disk today).
OLD_CASE = {
    "reference": "DSPP-2026-0001",
    "status": "referral_received",
    "received_at": "2026-03-02T10:00:00+00:00",
    "received_on": "2026-03-02",
    "referral": {"child_name": "Child Name"},
    "events": [{"at": "2026-03-02T10:00:00+00:00", "kind": "received", "detail": ""}],
}
OLD_LEDGER = {  # as App.process_one wrote it; App._shunt's had "error" and no "fingerprint"
    "message_id": "<m1@sender.example>",
    "sha256": "aa" * 32,
    "fingerprint": "f" * 32,
    "uid": "7",
    "outcome": "referral",
    "case_reference": "DSPP-2026-0001",
    "processed_at": "2026-03-02T10:00:00+00:00",
    "folder": "Processed",
    "moved": True,
}
OLD_OUTBOX = {  # the 16 keys App._queue wrote
    "key": "DSPP-2026-0001:ack",
    "message_id": "<ack-1@dspp.example>",
    "case_reference": "DSPP-2026-0001",
    "template": "acknowledgement",
    "subject": "[DSPP-2026-0001] Referral received",
    "to": ["someone@example.org"],
    "cc": [],
    "recipients": ["someone@example.org"],
    "internal": False,
    "raw": "UmF3IG1lc3NhZ2U=",
    "created_at": "2026-03-02T10:00:00+00:00",
    "sent_at": None,
    "failed_at": None,
    "attempts": 1,
    "next_attempt_at": "2026-03-02T10:01:00+00:00",
    "last_error": "421 try later",
}


def test_store_files_from_before_typed_records_load_and_keep_their_keys(path: Path) -> None:
    path.parent.mkdir(parents=True)
    error_entry = {**OLD_LEDGER, "sha256": "bb" * 32, "message_id": None, "outcome": "error"}
    del error_entry["fingerprint"]
    error_entry["error"] = "ValueError"
    tables = {
        "cases": {"DSPP-2026-0001": OLD_CASE},
        "ledger": {"aa" * 32: OLD_LEDGER, "bb" * 32: error_entry},
        "outbox": {OLD_OUTBOX["key"]: OLD_OUTBOX},
    }
    path.write_text(
        json.dumps(
            {"format": "cspr-mailbot-store", "version": 1, "generation": 1, "tables": tables}
        )
    )
    with Store(path) as s:
        got = s.get_case("DSPP-2026-0001")
        assert got is not None and got.referral == {"child_name": "Child Name"}
        assert s.ledger_get("<m1@sender.example>", "") == LedgerEntry(
            sha256="aa" * 32,
            message_id="<m1@sender.example>",
            uid="7",
            outcome="referral",
            case_reference="DSPP-2026-0001",
            processed_at=T0,
            folder="Processed",
            moved=True,
            fingerprint="f" * 32,
        )
        failed = s.ledger_get(None, "bb" * 32)
        assert failed is not None and failed.error == "ValueError" and failed.fingerprint is None
        record = s.outbox_get(OLD_OUTBOX["key"])
        assert record is not None and record.raw == b"Raw message"
        assert record.created_at == T0 and record.next_attempt_at == at("2026-03-02T10:01:00Z")
        assert [r.key for r in s.outbox_pending()] == [OLD_OUTBOX["key"]]
        with s.transaction() as txn:  # written back: the same keys and values as before
            txn.outbox_update(record.key, lambda r: r)
            txn.ledger_update("aa" * 32, lambda e: e)
            txn.put_case(got)
        s.compact()
    on_disk = json.loads(path.read_text())["tables"]
    assert on_disk["outbox"][OLD_OUTBOX["key"]] == OLD_OUTBOX
    assert on_disk["ledger"]["aa" * 32] == {**OLD_LEDGER, "error": None}
    assert {
        k: v for k, v in on_disk["cases"]["DSPP-2026-0001"].items() if k in OLD_CASE
    } == OLD_CASE


def test_cases_are_ordered_by_reference_and_closed_ones_hidden(store: Store) -> None:
    with store.transaction() as txn:
        for ref in ("DSPP-2026-10000", "DSPP-2026-0010", "DSPP-2025-0100", "DSPP-2026-0009"):
            txn.put_case(case(ref))
        txn.put_case(case("DSPP-2026-0005", status="closed"))
    refs = [c.reference for c in store.cases()]
    assert refs == ["DSPP-2025-0100", "DSPP-2026-0009", "DSPP-2026-0010", "DSPP-2026-10000"]
    assert "DSPP-2026-0005" in [c.reference for c in store.cases(include_closed=True)]
    assert store.get_case("DSPP-2026-0005").status == "closed"  # type: ignore[union-attr]

    # Closing moves a case out of the open list; reopening brings it back, never both.
    with store.transaction() as txn:
        txn.put_case(case("DSPP-2026-0009", status="closed"))
        txn.put_case(case("DSPP-2026-0005", status="rapid_review"))
        assert txn.get_case("DSPP-2026-0009").status == "closed"  # type: ignore[union-attr]
    refs = [c.reference for c in store.cases()]
    assert refs == ["DSPP-2025-0100", "DSPP-2026-0005", "DSPP-2026-0010", "DSPP-2026-10000"]
    assert len(store.cases(include_closed=True)) == 5
    assert store.stats()["archive"] == 1


def test_documents_in_and_out_are_private_copies(store: Store) -> None:
    mine = case("DSPP-2026-0001")
    with store.transaction() as txn:
        txn.put_case(mine)
    mine.referral["agencies_involved"].append({"name": "sneaky"})  # a case's dicts can change
    mine.referral["child_name"] = "Changed"
    got = store.get_case("DSPP-2026-0001")
    assert got is not None and len(got.referral["agencies_involved"]) == 1
    got.referral["agencies_involved"].clear()
    got.referral["child_name"] = "Changed"
    again = store.get_case("DSPP-2026-0001")
    assert again is not None and len(again.referral["agencies_involved"]) == 1
    assert again.referral["child_name"] == "Child Name"


def test_values_that_are_not_json_are_refused_at_once(store: Store) -> None:
    with pytest.raises(TypeError), store.transaction() as txn:
        txn.put_case(case("DSPP-2026-0001", referral={"when": object()}))
    assert store.get_case("DSPP-2026-0001") is None


def test_a_transaction_that_raises_leaves_nothing(path: Path) -> None:
    with Store(path) as s:
        with s.transaction() as txn:
            txn.put_case(case(txn.next_reference(2026)))
        with pytest.raises(RuntimeError), s.transaction() as txn:
            ref = txn.next_reference(2026)
            assert ref == "DSPP-2026-0002"
            txn.put_case(case(ref))
            txn.put_case(case("DSPP-2026-0001", status="closed"))
            txn.ledger_put(ledger("bb" * 32, "<m2@x>", ref))
            txn.outbox_put(outbox("ack:2"))
            txn.index_message_id("<ack-2@dspp.example>", ref)
            txn.meta_set("x", 1)
            raise RuntimeError("the message could not be processed")
        with pytest.raises(StoreError):
            txn.put_case(case("DSPP-2026-0003"))  # a finished transaction cannot be used

        def nothing_from_the_failed_txn(st: Store) -> None:
            assert [c.reference for c in st.cases(include_closed=True)] == ["DSPP-2026-0001"]
            assert st.get_case("DSPP-2026-0001").status == "referral_received"  # type: ignore[union-attr]
            assert st.ledger_get("<m2@x>", "bb" * 32) is None
            assert st.outbox_get("ack:2") is None and st.outbox_pending() == []
            assert st.case_for_message_id("<ack-2@dspp.example>") is None
            assert st.meta_get("x") is None

        nothing_from_the_failed_txn(s)
    with Store(path) as s:
        nothing_from_the_failed_txn(s)
        with s.transaction() as txn:  # the aborted transaction's number is handed out again
            assert txn.next_reference(2026) == "DSPP-2026-0002"


# --------------------------------------------------------------------------- references


def test_next_reference_counts_per_year_and_never_reuses(path: Path) -> None:
    with Store(path, reference_prefix="WSCP") as s:
        with s.transaction() as txn:
            assert txn.next_reference(2026) == "WSCP-2026-0001"
            assert txn.next_reference(2026) == "WSCP-2026-0002"
            assert txn.next_reference(2027) == "WSCP-2027-0001"
        with s.transaction() as txn:
            assert txn.next_reference(2026) == "WSCP-2026-0003"
            txn.put_case(
                case("WSCP-2026-0004")
            )  # a case made some other way: its number is skipped
            assert txn.next_reference(2026) == "WSCP-2026-0005"
            txn.meta_set("reference_counter:WSCP:2025", 9998)
            assert txn.next_reference(2025) == "WSCP-2025-9999"
            assert txn.next_reference(2025) == "WSCP-2025-10000"
    with Store(path, reference_prefix="WSCP") as s, s.transaction() as txn:
        assert txn.next_reference(2026) == "WSCP-2026-0006"
        assert txn.next_reference(2027) == "WSCP-2027-0002"


# --------------------------------------------------------------------------- ledger and outbox


def test_ledger_is_found_by_message_id_or_by_hash(store: Store) -> None:
    with store.transaction() as txn:
        txn.ledger_put(ledger("11" * 32, "<first@sender.example>", "DSPP-2026-0001"))
        txn.ledger_put(ledger("22" * 32, None, "DSPP-2026-0002"))
        # Within the transaction its own writes are seen.
        assert txn.ledger_get("first@sender.example", "ff" * 32).sha256 == "11" * 32  # type: ignore[union-attr]
        txn.ledger_put(ledger("33" * 32, "<third@sender.example>"))
        assert txn.ledger_get("<third@sender.example>", "").sha256 == "33" * 32  # type: ignore[union-attr]

    by_id = store.ledger_get("<first@sender.example>", "99" * 32)  # same message, other bytes
    assert by_id is not None and by_id.case_reference == "DSPP-2026-0001"
    by_hash = store.ledger_get("<unrelated@sender.example>", "22" * 32)
    assert by_hash is not None and by_hash.case_reference == "DSPP-2026-0002"
    assert store.ledger_get(None, "44" * 32) is None
    assert store.ledger_get("<nobody@x>", "44" * 32) is None

    with store.transaction() as txn:
        txn.ledger_update("11" * 32, lambda e: replace(e.filed(), folder="Needs triage"))
        with pytest.raises(KeyError):
            txn.ledger_update("55" * 32, LedgerEntry.filed)
    entry = store.ledger_get(None, "11" * 32)
    assert entry is not None and entry.moved is True and entry.folder == "Needs triage"
    assert entry.message_id == "<first@sender.example>"


def test_a_second_copy_with_the_same_message_id_keeps_pointing_at_the_first(store: Store) -> None:
    with store.transaction() as txn:
        txn.ledger_put(ledger("11" * 32, "<dup@x>", "DSPP-2026-0001"))
    with store.transaction() as txn:
        txn.ledger_put(replace(ledger("12" * 32, "<dup@x>"), outcome="duplicate"))
    assert store.ledger_get("<dup@x>", "").case_reference == "DSPP-2026-0001"  # type: ignore[union-attr]
    assert store.ledger_get("<dup@x>", "12" * 32).outcome == "duplicate"  # type: ignore[union-attr]


def test_outbox_is_idempotent_and_tracks_what_was_sent(path: Path) -> None:
    with Store(path) as s:
        with s.transaction() as txn:
            assert txn.outbox_put(outbox("b", created_at=at("2026-03-02T10:05:00+00:00"))) is True
            assert txn.outbox_put(outbox("a", created_at=at("2026-03-02T10:00:00+00:00"))) is True
            assert txn.outbox_put(outbox("c", created_at=at("2026-03-02T10:09:00+00:00"))) is True
            assert txn.outbox_put(outbox("a", subject="changed")) is False  # same txn
        with s.transaction() as txn:
            assert txn.outbox_put(outbox("b", subject="changed")) is False  # committed earlier
        assert [r.key for r in s.outbox_pending()] == ["a", "b", "c"]
        assert s.outbox_get("b").subject == "[DSPP-2026-0001] Referral received"  # type: ignore[union-attr]

        def sent_at(when: str) -> Any:
            return lambda r: replace(r.mark_sent(at(when)), attempts=1)

        with s.transaction() as txn:
            txn.outbox_update("a", lambda r: replace(r, attempts=1, last_error="421 try later"))
            txn.outbox_update("b", sent_at("2026-03-02T23:30:00+00:00"))
            txn.outbox_update("c", sent_at("2026-03-03T00:30:00+01:00"))  # = 23:30Z
            with pytest.raises(KeyError):
                txn.outbox_update("zz", lambda r: replace(r, attempts=1))
        assert [r.key for r in s.outbox_pending()] == ["a"]
        sent = s.outbox_get("b")
        assert sent is not None and sent.raw is None and sent.subject and sent.to

    with Store(path) as s:
        assert [r.key for r in s.outbox_pending()] == ["a"]
        assert s.outbox_pending()[0].last_error == "421 try later"
        assert s.outbox_get("a") == replace(outbox("a"), attempts=1, last_error="421 try later")
        day = s.outbox_between(at("2026-03-02T00:00:00+00:00"), at("2026-03-03T00:00:00+00:00"))
        assert [r.key for r in day] == ["b", "c"]
        assert s.outbox_between(at("2026-03-02T23:30:00Z"), at("2026-03-02T23:30:00Z")) == []
        assert s.outbox_between(at("2026-03-03T00:00:00Z"), at("2026-03-04T00:00:00Z")) == []


# --------------------------------------------------------------------------- files


def test_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "new" / "deeper" / "cspr.json"
        with Store(path) as s, s.transaction() as txn:
            txn.put_case(case("DSPP-2026-0001"))
        with Store(path) as s:
            s.compact()  # the snapshot too
    finally:
        os.umask(old)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(tmp_path / "new") == 0o700
    assert mode(path.parent) == 0o700
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == [
        "cspr-committed.json",
        "cspr.json",
        "cspr.json.journal",
        "cspr.json.lock",
    ]  # no temp files left
    for p in path.parent.iterdir():
        assert mode(p) == 0o600, p


def test_a_torn_last_line_is_an_uncommitted_transaction(path: Path) -> None:
    with Store(path) as s, s.transaction() as txn:
        txn.put_case(case("DSPP-2026-0001"))
    journal = path.with_name("cspr.json.journal")
    whole = journal.read_bytes()
    daemon = Store(path)  # a long-lived reader
    with journal.open("ab") as f:  # a writer killed half way through its line
        f.write(b'0badc0de [["cases","DSPP-2026-0002",{"reference":"DSPP-20')
    assert [c.reference for c in daemon.cases()] == ["DSPP-2026-0001"]
    with Store(path) as s:
        assert [c.reference for c in s.cases()] == ["DSPP-2026-0001"]
        with s.transaction() as txn:  # the next writer cuts the torn line off before appending
            txn.put_case(case("DSPP-2026-0003"))
    assert journal.read_bytes().startswith(whole)
    assert [c.reference for c in daemon.cases()] == ["DSPP-2026-0001", "DSPP-2026-0003"]
    daemon.close()
    with Store(path) as s:
        assert [c.reference for c in s.cases()] == ["DSPP-2026-0001", "DSPP-2026-0003"]


def test_damage_inside_committed_data_is_refused(path: Path) -> None:
    with Store(path) as s:
        for n in (1, 2):
            with s.transaction() as txn:
                txn.put_case(case(f"DSPP-2026-000{n}"))
    journal = path.with_name("cspr.json.journal")
    data = bytearray(journal.read_bytes())
    data[data.index(b"DSPP-2026-0001")] ^= 0x20  # a flipped bit in the first transaction
    journal.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged"):
        Store(path)
    path.write_text("{not json")
    with pytest.raises(StoreError, match="cannot be read"):
        Store(path)


def test_a_crash_between_new_snapshot_and_new_journal_loses_and_repeats_nothing(
    path: Path,
) -> None:
    with Store(path) as s:
        for n in (1, 2):
            with s.transaction() as txn:
                txn.put_case(case(txn.next_reference(2026)))
                txn.outbox_put(outbox(f"k{n}"))
    journal = path.with_name("cspr.json.journal")
    old_journal = journal.read_bytes()
    with Store(path) as s:
        s.compact()
    journal.write_bytes(old_journal)  # as if killed after the snapshot's rename only
    with Store(path) as s:
        assert [c.reference for c in s.cases()] == ["DSPP-2026-0001", "DSPP-2026-0002"]
        with s.transaction() as txn:
            assert txn.next_reference(2026) == "DSPP-2026-0003"
            txn.put_case(case("DSPP-2026-0003"))
    with Store(path) as s:
        assert len(s.cases()) == 3 and len(s.outbox_pending()) == 2


def test_a_closed_store_refuses_use(path: Path) -> None:
    s = Store(path)
    s.close()
    s.close()  # twice is fine
    with pytest.raises(StoreError, match="closed"):
        s.get_case("DSPP-2026-0001")
    with pytest.raises(StoreError, match="closed"), s.transaction():
        pass


def test_no_nested_transactions(store: Store) -> None:
    with store.transaction(), pytest.raises(StoreError, match="already open"):
        with store.transaction():
            pass


# --------------------------------------------------------------------------- other processes


def _hold_lock(path: str, locked: Any, release: Any) -> None:
    with Store(path) as s, s.transaction() as txn:
        txn.put_case(case(txn.next_reference(2026)))
        locked.set()
        release.wait(10)


def test_a_second_process_waits_for_the_lock_or_gives_up(path: Path) -> None:
    reader = Store(path)  # opened before the other process writes: must catch up before writing
    locked, release = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold_lock, args=(str(path), locked, release))
    holder.start()
    try:
        assert locked.wait(10)
        impatient = Store(path, lock_timeout=0.3)
        t0 = time.monotonic()
        with pytest.raises(StoreLocked, match="locked by another process"):
            with impatient.transaction():
                pass
        assert 0.3 <= time.monotonic() - t0 < 2.0
        impatient.close()

        reader.lock_timeout = 10
        threading.Timer(0.3, release.set).start()
        t0 = time.monotonic()
        with reader.transaction() as txn:
            waited = time.monotonic() - t0
            assert txn.get_case("DSPP-2026-0001") is not None  # the other process's commit
            assert txn.next_reference(2026) == "DSPP-2026-0002"
        assert waited >= 0.2
    finally:
        release.set()
        holder.join(10)
        reader.close()
    assert holder.exitcode == 0


def _write_case(path: str, reference: str, compact: bool, lock_timeout: float = 30.0) -> None:
    with Store(path, lock_timeout=lock_timeout) as s:
        with s.transaction() as txn:
            txn.put_case(case(reference))
            txn.ledger_put(ledger(reference, f"<{reference}@x>", reference))
            txn.outbox_put(outbox(f"ack:{reference}"))
        if compact:
            s.compact()


def _run(target: Any, *args: Any) -> None:
    p = FORK.Process(target=target, args=args)
    p.start()
    p.join(20)
    assert p.exitcode == 0


def test_the_lock_is_released_when_a_transaction_fails(path: Path) -> None:
    with Store(path) as s:
        with pytest.raises(ValueError), s.transaction() as txn:
            txn.put_case(case("DSPP-2026-0001"))
            raise ValueError("bad form")
        _run(_write_case, str(path), "DSPP-2026-0002", False, 0.0)  # would raise StoreLocked
        assert [c.reference for c in s.cases()] == ["DSPP-2026-0002"]


def test_a_long_lived_store_sees_other_processes_commits(path: Path) -> None:
    with Store(path) as daemon:
        assert daemon.cases() == []
        _run(_write_case, str(path), "DSPP-2026-0001", False)  # journal grows: read incrementally
        assert [c.reference for c in daemon.cases()] == ["DSPP-2026-0001"]
        assert daemon.ledger_get("<DSPP-2026-0001@x>", "").case_reference == "DSPP-2026-0001"  # type: ignore[union-attr]
        assert [r.key for r in daemon.outbox_pending()] == ["ack:DSPP-2026-0001"]

        _run(_write_case, str(path), "DSPP-2026-0002", True)  # new snapshot: reloaded whole
        assert daemon.get_case("DSPP-2026-0002") is not None
        assert daemon.ledger_get("<DSPP-2026-0002@x>", "") is not None
        assert len(daemon.outbox_pending()) == 2

        with daemon.transaction() as txn:
            txn.put_case(case("DSPP-2026-0003"))
        _run(_write_case, str(path), "DSPP-2026-0004", False)
        assert [c.reference for c in daemon.cases()][-2:] == ["DSPP-2026-0003", "DSPP-2026-0004"]
    with Store(path) as s:
        assert len(s.cases()) == 4


# --------------------------------------------------------------------------- crashes

N_KILLS = 40


SENT_AT = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


def _writer(path: str, journal_limit: int, ready: Any) -> None:
    """Write transactions as fast as possible until killed; each one is checkable afterwards."""
    rng = random.Random(os.getpid())
    store = Store(path, journal_limit=journal_limit)
    ready.set()
    while True:
        with store.transaction() as txn:
            n = txn.meta_get("n", 0) + 1
            ref = txn.next_reference(2026)
            assert ref == f"DSPP-2026-{n:04d}"
            txn.put_case(case(ref, referral={"child_name": "Child Name", "n": n}))
            txn.ledger_put(replace(ledger(f"sha-{n}", f"<m{n}@x>", ref), uid=str(n)))
            txn.outbox_put(outbox(f"ack-{n}", attempts=n))
            if n > 1:
                txn.outbox_update(f"ack-{n - 1}", lambda r: r.mark_sent(SENT_AT))
                if n % 3 == 0:  # close the previous case: it moves to the archive table
                    prev = txn.get_case(f"DSPP-2026-{n - 1:04d}")
                    txn.put_case(replace(prev, status="closed"))  # type: ignore[type-var]
            txn.meta_set("n", n)
            # A value replaced each time, often large: long journal lines (so kills land inside
            # writes) while the snapshot stays small (so compactions are frequent and quick).
            size = rng.randint(50_000, 400_000) if rng.random() < 0.3 else rng.randint(0, 1000)
            txn.meta_set("blob", {"n": n, "data": "x" * size})


def _check_whole(store: Store) -> int:
    n = store.meta_get("n", 0)
    assert store.meta_get("blob", {"n": 0})["n"] == n
    for k in range(1, n + 1):
        ref = f"DSPP-2026-{k:04d}"
        c = store.get_case(ref)
        assert c is not None and c.referral["n"] == k
        assert c.status == ("closed" if (k + 1) % 3 == 0 and k < n else "referral_received")
        entry = store.ledger_get(f"<m{k}@x>", f"sha-{k}")
        assert entry is not None and entry.uid == str(k) and entry.case_reference == ref
        record = store.outbox_get(f"ack-{k}")
        assert record is not None and record.attempts == k
        assert (record.sent_at is None) == (k == n)
    assert store.get_case(f"DSPP-2026-{n + 1:04d}") is None
    assert store.ledger_get(f"<m{n + 1}@x>", f"sha-{n + 1}") is None
    assert store.outbox_get(f"ack-{n + 1}") is None
    assert len(store.cases(include_closed=True)) == n
    return n


def test_sigkill_at_any_instant_never_leaves_a_half_transaction(path: Path) -> None:
    rng = random.Random(20260302)
    last, progressed = 0, 0
    for _ in range(N_KILLS):
        ready = FORK.Event()
        # Small limit: compactions all the time, so kills land in them; large: torn journal
        # lines stay in the journal and later transactions are appended after them.
        limit = rng.choice((64 * 1024, 4 * 1024 * 1024))
        writer = FORK.Process(target=_writer, args=(str(path), limit, ready))
        writer.start()
        assert ready.wait(10)
        time.sleep(rng.uniform(0.0, 0.12))
        writer.kill()  # SIGKILL
        writer.join(10)
        assert writer.exitcode == -9
        with Store(path, journal_limit=1 << 40) as s:  # no compaction at close: leave the journal
            n = _check_whole(s)
        assert n >= last, "the counter went backwards"
        progressed += n > last
        last = n
    assert progressed >= N_KILLS // 2
    assert last > 100
