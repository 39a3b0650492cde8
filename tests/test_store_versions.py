"""The store keeps cases decoded and writes again only what changed: what it hands out must still be
exactly what a fresh read from disk gives, a private copy, and never stale."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cspr_mailbot.adapters.store import Store
from cspr_mailbot.core import samechild
from cspr_mailbot.core.models import Agency, Case, Event, HeldReturn

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
REFERRAL = {
    "child_name": "Jamie Example",
    "child_dob": "12/04/2019",
    "child_address": "1 Road, Dudley DY1 1AA",
    "agencies_involved": [{"name": "Police", "email": None}],
}
KEYS = samechild.query_keys(REFERRAL, "someone@example.org")


def case(reference: str, **extra: Any) -> Case:
    fields: dict[str, Any] = {
        "reference": reference,
        "status": "referral_received",
        "received_at": T0,
        "received_on": date(2026, 3, 2),
        "referrer_email": "referrer@example.org",
        "referral": {**REFERRAL, "agencies_involved": [{"name": "Police", "email": None}]},
        "agencies": (Agency("Police", "pvp@example.org", due=date(2026, 3, 9)),),
        "events": (Event(T0, "received", "uid 1"),),
    }
    return Case(**{**fields, **extra})


def from_disk(path: Path, reference: str) -> Case | None:
    with Store(path) as fresh:
        return fresh.get_case(reference)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "cspr.json"


def test_a_case_written_again_reads_back_as_from_disk_in_the_txn_and_after(path: Path) -> None:
    """Every kind of change, each compared with what a store freshly opened on the files reads."""
    changes = [
        lambda c: c.with_event(T0 + timedelta(hours=1), "linked", "the same child as X"),
        lambda c: replace(c, linked_cases=(*c.linked_cases, "DSPP-2026-0009")),
        lambda c: replace(c, referral={**c.referral, "child_name": "Jamie Other"}),
        lambda c: replace(c, referral={**c.referral, "looked_after": True}),
        lambda c: replace(c, referral={**c.referral, "looked_after": 1}),  # == True, not the same
        lambda c: replace(c, criteria={"result": "met", "reasons": ("a", "b")}),  # a tuple: a list
        lambda c: replace(c, agencies=(*c.agencies, Agency("CSC", scoping={"n": 1.0}))),
        lambda c: replace(c, agencies=(replace(c.agencies[-1], scoping={"n": 1}),)),
        lambda c: replace(c, held_returns=(HeldReturn(T0, "a@example.org", "CSC", {"x": 1}),)),
        lambda c: replace(c, decision="cspr", decision_date=date(2026, 4, 1)),
        # A zone's time reads back as a fixed offset, in memory as on disk.
        lambda c: c.with_event(datetime(2026, 7, 1, 9, tzinfo=ZoneInfo("Europe/London")), "x"),
        lambda c: c.with_event(datetime(2026, 7, 1, 9, tzinfo=timezone(timedelta(hours=2))), "y"),
        lambda c: replace(c, events=c.events[1:]),  # taken away: the rest still known
        lambda c: replace(c, events=tuple(reversed(c.events))),
        lambda c: replace(c, status="closed", closed_on=date(2026, 5, 1)),
        lambda c: replace(c, status="cspr", closed_on=None),
        lambda c: replace(c, sent_keys=(*c.sent_keys, "ack:1")),
    ]
    with Store(path) as store:
        with store.transaction() as txn:
            txn.put_case(case("DSPP-2026-0001"))
        for change in changes:
            with store.transaction() as txn:
                current = txn.get_case("DSPP-2026-0001")
                assert current is not None
                put = change(current)
                txn.put_case(put)
                in_txn = txn.get_case("DSPP-2026-0001")
            after = store.get_case("DSPP-2026-0001")
            disk = from_disk(path, "DSPP-2026-0001")
            assert in_txn == after == disk
            assert repr(disk) == repr(Case.from_dict(json.loads(json.dumps(put.to_dict()))))
            assert disk is not None and after is not None and in_txn is not None
            # Equal is not enough (1 == True == 1.0): the very types, as JSON gives them back.
            assert repr(in_txn) == repr(after) == repr(disk)
            assert [e.at.tzinfo for e in after.events] == [e.at.tzinfo for e in disk.events]


def test_several_puts_in_one_transaction_build_on_each_other(path: Path) -> None:
    with Store(path) as store, store.transaction() as txn:
        txn.put_case(case("DSPP-2026-0001"))
        for n in range(5):
            got = txn.get_case("DSPP-2026-0001")
            assert got is not None and len(got.events) == 1 + n
            txn.put_case(got.with_event(T0, f"e{n}"))
    disk = from_disk(path, "DSPP-2026-0001")
    assert disk is not None and [e.kind for e in disk.events][-2:] == ["e3", "e4"]


def test_cases_handed_out_are_private_copies_in_a_transaction_too(path: Path) -> None:
    with Store(path) as store:
        with store.transaction() as txn:
            txn.put_case(
                case("DSPP-2026-0001", agencies=(Agency("CSC", scoping={"risks": ["a"]}),))
            )
        with store.transaction() as txn:
            for got in (txn.get_case("DSPP-2026-0001"), txn.cases_for_child(KEYS)[0]):
                assert got is not None
                got.referral["agencies_involved"].append({"name": "sneaky"})
                got.referral["child_name"] = "Changed"
                got.criteria["result"] = "changed"
                assert got.agencies[0].scoping is not None
                got.agencies[0].scoping["risks"].append("b")
            again = txn.get_case("DSPP-2026-0001")
            assert again is not None
            # Changed in place and written back: what was written is what was put, then.
            mine = replace(again, referral={**again.referral, "child_name": "Put"})
            txn.put_case(mine)
            mine.referral["child_name"] = "Changed after the put"
        again = store.get_case("DSPP-2026-0001")
        assert again is not None
        assert again.referral["child_name"] == "Put"
        assert len(again.referral["agencies_involved"]) == 1
        assert again.criteria["result"] == "unclear"
        assert again.agencies[0].scoping == {"risks": ["a"]}
        assert again == from_disk(path, "DSPP-2026-0001")


def test_a_savepoint_takes_back_a_case_and_what_it_is_found_by(path: Path) -> None:
    with Store(path) as store:
        with store.transaction() as txn:
            txn.put_case(case("DSPP-2026-0001"))
        with store.transaction() as txn:
            with pytest.raises(RuntimeError), txn.savepoint():
                got = txn.get_case("DSPP-2026-0001")
                assert got is not None
                txn.put_case(replace(got, referral={"child_name": "Someone Else"}))
                txn.put_case(case("DSPP-2026-0002"))
                assert [c.reference for c in txn.cases_for_child(KEYS)] == ["DSPP-2026-0002"]
                raise RuntimeError("this message failed")
            found = txn.cases_for_child(KEYS)
            assert [c.reference for c in found] == ["DSPP-2026-0001"]
            assert found[0].referral["child_name"] == "Jamie Example"
            assert not txn.has_case("DSPP-2026-0002")


def test_cases_for_child_follows_the_cases_written_in_the_transaction(path: Path) -> None:
    with Store(path) as store:
        with store.transaction() as txn:
            txn.put_case(case("DSPP-2026-0001"))
            txn.put_case(case("DSPP-2026-0002", referral={"child_name": "Other Child"}))
        with store.transaction() as txn:
            assert [c.reference for c in txn.cases_for_child(KEYS)] == ["DSPP-2026-0001"]
            txn.put_case(case("DSPP-2026-0003"))  # a new case about the child
            moved = case("DSPP-2026-0002")  # now about the child too
            txn.put_case(moved)
            refs = [c.reference for c in txn.cases_for_child(KEYS)]
            assert refs == ["DSPP-2026-0001", "DSPP-2026-0002", "DSPP-2026-0003"]
            first = txn.get_case("DSPP-2026-0001")
            assert first is not None
            txn.put_case(replace(first, status="closed"))  # closed: no longer found
            txn.delete_case("DSPP-2026-0003")
            assert [c.reference for c in txn.cases_for_child(KEYS)] == ["DSPP-2026-0002"]
        with store.transaction() as txn:
            assert [c.reference for c in txn.cases_for_child(KEYS)] == ["DSPP-2026-0002"]


def test_a_case_another_process_changed_is_read_again(path: Path) -> None:
    with Store(path) as daemon:
        with daemon.transaction() as txn:
            txn.put_case(case("DSPP-2026-0001"))
        assert daemon.get_case("DSPP-2026-0001") is not None  # decoded and kept
        with Store(path) as cli, cli.transaction() as txn:  # another writer, as the CLI is
            got = txn.get_case("DSPP-2026-0001")
            assert got is not None
            txn.put_case(got.with_event(T0, "note", "by the CLI"))
        got = daemon.get_case("DSPP-2026-0001")
        assert got is not None and got.events[-1].detail == "by the CLI"
        with daemon.transaction() as txn:
            found = txn.cases_for_child(KEYS)
            assert found[0].events[-1].detail == "by the CLI"
            txn.put_case(found[0].with_event(T0, "note", "by the daemon"))
        disk = from_disk(path, "DSPP-2026-0001")
        assert disk is not None and [e.detail for e in disk.events][-2:] == [
            "by the CLI",
            "by the daemon",
        ]


def test_a_value_that_is_not_json_is_refused_even_when_the_rest_is_known(path: Path) -> None:
    with Store(path) as store:
        with store.transaction() as txn:
            txn.put_case(case("DSPP-2026-0001"))
        with store.transaction() as txn:
            got = txn.get_case("DSPP-2026-0001")
            assert got is not None
            with pytest.raises(TypeError):
                txn.put_case(replace(got, referral={**got.referral, "when": object()}))
            with pytest.raises(ValueError):
                txn.put_case(replace(got, criteria={"score": float("nan")}))
            with pytest.raises(TypeError):
                txn.put_case(replace(got, linked_cases=(object(),)))  # type: ignore[arg-type]
        assert store.get_case("DSPP-2026-0001") == from_disk(path, "DSPP-2026-0001")


def test_a_compaction_joins_known_texts_only_for_the_very_documents_held(path: Path) -> None:
    """The snapshot is joined from the JSON text of the cases this process put; a case another
    process changed since (or one read from disk) is serialised afresh, never written stale."""
    with Store(path) as daemon:
        with daemon.transaction() as txn:
            for n in range(1, 4):
                txn.put_case(case(f"DSPP-2026-000{n}", referral={**REFERRAL, "note": "café ✓"}))
        with Store(path) as cli, cli.transaction() as txn:  # another writer, as the CLI is
            got = txn.get_case("DSPP-2026-0002")
            assert got is not None
            txn.put_case(got.with_event(T0, "note", "by the CLI"))
        with daemon.transaction() as txn:  # catches up with the CLI's commit, then writes again
            got = txn.get_case("DSPP-2026-0003")
            assert got is not None
            txn.put_case(replace(got, referral={**got.referral, "child_name": "Jamie Second"}))
        daemon.compact()
    raw = path.read_bytes()
    # Byte for byte what serialising the whole snapshot at once gives.
    whole = json.dumps(json.loads(raw), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    assert raw == whole.encode()
    cases = json.loads(raw)["tables"]["cases"]
    assert [e["detail"] for e in cases["DSPP-2026-0002"]["events"]][-1] == "by the CLI"
    assert cases["DSPP-2026-0003"]["referral"]["child_name"] == "Jamie Second"
    assert cases["DSPP-2026-0001"]["referral"]["note"] == "café ✓"
    with Store(path) as fresh:
        assert [c.reference for c in fresh.cases()] == [f"DSPP-2026-000{n}" for n in range(1, 4)]


def test_a_case_read_then_reloaded_from_a_new_snapshot_is_read_again(path: Path) -> None:
    """Another process's compaction replaces every document: what was decoded before is dropped."""
    with Store(path) as daemon:
        with daemon.transaction() as txn:
            txn.put_case(case("DSPP-2026-0001"))
        assert daemon.get_case("DSPP-2026-0001") is not None  # decoded and kept
        with Store(path) as cli:
            with cli.transaction() as txn:
                got = txn.get_case("DSPP-2026-0001")
                assert got is not None
                txn.put_case(replace(got, referral={**got.referral, "child_name": "Renamed"}))
            cli.compact()
        got = daemon.get_case("DSPP-2026-0001")
        assert got is not None and got.referral["child_name"] == "Renamed"
        daemon.compact()
    disk = from_disk(path, "DSPP-2026-0001")
    assert disk is not None and disk.referral["child_name"] == "Renamed"
