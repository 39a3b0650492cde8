"""``Txn.outbox_mark_sent`` writes what ``outbox_update(key, mark_sent)`` wrote, without decoding the
message's bytes it drops (issue 15: flush_outbox marks every message it sends)."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest
from test_store import at, outbox

from cspr_mailbot.adapters import store as store_module
from cspr_mailbot.adapters.store import Store
from cspr_mailbot.core.records import OutboxRecord

SENT = at("2026-11-30T10:00:05+00:00")


def records() -> list[OutboxRecord]:
    return [
        outbox("plain"),
        replace(outbox("retried"), attempts=2, last_error="421 later", next_attempt_at=SENT),
        replace(outbox("resent"), resends=1, cc=("cc@example.org",), raw=b"x" * 70_000),
        replace(outbox("internal"), internal=True, case_reference=None),
    ]


def test_mark_sent_writes_what_outbox_update_wrote(tmp_path: Path) -> None:
    written = {}
    for way in ("update", "mark"):
        with Store(tmp_path / way / "cspr.json") as s:
            with s.transaction() as txn:
                for r in records():
                    txn.outbox_put(r)
            with s.transaction() as txn:
                for r in records():
                    if way == "update":
                        got = txn.outbox_update(r.key, lambda x: x.mark_sent(SENT))
                    else:
                        got = txn.outbox_mark_sent(r.key, SENT)
                    assert got == r.mark_sent(SENT)
            written[way] = [s.outbox_get(r.key) for r in records()]
        with Store(tmp_path / way / "cspr.json") as again:  # and as read back from the disk
            assert [again.outbox_get(r.key) for r in records()] == written[way]
    assert written["mark"] == written["update"]
    assert all(r is not None and r.raw is None and r.sent_at == SENT for r in written["mark"])


def test_mark_sent_decodes_no_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(tmp_path / "cspr.json") as s:
        with s.transaction() as txn:
            txn.outbox_put(outbox("a"))
        decoded: list[object] = []
        real = base64.b64decode

        def counting(data: object, *args: object, **kwargs: object) -> bytes:
            decoded.append(data)
            return real(data, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(store_module.base64, "b64decode", counting)
        with s.transaction() as txn:
            txn.outbox_mark_sent("a", SENT)
        assert decoded == []
        with pytest.raises(KeyError), s.transaction() as txn:
            txn.outbox_mark_sent("no such key", SENT)
