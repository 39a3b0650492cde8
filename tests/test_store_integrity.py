"""A damaged store is never silently empty (SPEC 10, issue 10 finding 4).

On main, a journal emptied, cut or deleted was read as a short or empty store: `cases` said
"(no cases)", `run --once` exited 0, and the next referral got DSPP-2026-0001 again. Here each
damage is done to a real store on disk, then to a real installation (Dovecot and aiosmtpd on
127.0.0.1): the store refuses to open, `cases` and `run --once` exit 1 naming the store file, the
next referral is left in the inbox, and once the files are put back it gets the next reference.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e import INBOX, PROCESSED, Bot, make_bot, referral_mail
from servers import DovecotServer, SmtpServer

from cspr_mailbot.adapters.store import Store, evidence_path
from cspr_mailbot.core.models import Case
from cspr_mailbot.errors import StoreDamaged


def case(reference: str) -> Case:
    return Case.from_dict(
        {
            "reference": reference,
            "status": "referral_received",
            "received_at": "2026-03-02T10:00:00+00:00",
            "received_on": "2026-03-02",
            "referral": {"agencies_involved": []},
            "events": [],
            "sent_keys": [],
        }
    )


def latest_evidence(file: Path) -> dict[str, Any]:
    """The newest sound record of an evidence file: two 4 KiB slots, ``<crc32> <json>`` each."""
    data = file.read_bytes()
    records = [
        json.loads(slot.split(b" ", 1)[1])
        for at in range(0, len(data), 4096)
        if (slot := data[at : at + 4096].strip(b"\0 \n"))
    ]
    return max(records, key=lambda r: int(r["committed"]))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "cspr.json"


def five_cases(path: Path) -> None:
    with Store(path) as s:
        for _ in range(5):
            with s.transaction() as txn:
                txn.put_case(case(txn.next_reference(2026)))


def journal(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


def empty_journal(path: Path) -> None:
    journal(path).write_bytes(b"")


def cut_journal(path: Path) -> None:
    data = journal(path).read_bytes()
    journal(path).write_bytes(data[: len(data) // 2])


def delete_journal(path: Path) -> None:
    journal(path).unlink()


def delete_snapshot(path: Path) -> None:
    path.unlink()


def delete_store_files(path: Path) -> None:
    for p in path.parent.glob(path.name + "*"):  # the store's own files: not the evidence
        p.unlink()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "journal emptied": empty_journal,
    "journal cut in half": cut_journal,
    "journal deleted": delete_journal,
    "snapshot deleted": delete_snapshot,
    "every cspr.json* file deleted": delete_store_files,
}


# --------------------------------------------------------------------------- the store on disk


def test_the_first_transaction_writes_a_snapshot_and_the_evidence(path: Path) -> None:
    with Store(path) as s:
        assert s.is_new
        assert not path.exists()  # opening writes nothing but the lock
        with s.transaction() as txn:
            txn.put_case(case(txn.next_reference(2026)))
        assert not s.is_new
        assert path.exists(), "a new installation must not live in the journal alone"
        evidence = evidence_path(path)
        assert evidence.name == "cspr-committed.json"
        assert not evidence.name.startswith(path.name)  # survives rm cspr.json*
        record = latest_evidence(evidence)
        assert record["committed"] == 1 and record["references"] == {"DSPP:2026": 1}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_store_that_lost_committed_transactions_refuses_to_open(
    path: Path, damage: Callable[[Path], None]
) -> None:
    five_cases(path)
    damage(path)
    with pytest.raises(StoreDamaged) as info:
        Store(path)
    assert info.value.path == path
    assert str(path) in str(info.value)
    assert "backup" in str(info.value)


def test_a_torn_last_line_is_not_damage(path: Path) -> None:
    five_cases(path)
    with journal(path).open("ab") as f:  # a writer killed half way through its line
        f.write(b'0badc0de [["cases","DSPP-2026-0006",{"refer')
    with Store(path) as s, s.transaction() as txn:
        assert len(s.cases()) == 5
        assert txn.next_reference(2026) == "DSPP-2026-0006"


def test_a_lost_evidence_file_is_written_again_and_the_store_reads_as_it_is(path: Path) -> None:
    five_cases(path)
    evidence_path(path).unlink()
    with Store(path) as s:
        assert len(s.cases()) == 5 and not s.is_new
    assert evidence_path(path).exists()
    delete_journal(path)  # the rewritten evidence guards the store again
    with pytest.raises(StoreDamaged):
        Store(path)


def test_a_damaged_evidence_file_is_refused_not_ignored(path: Path) -> None:
    five_cases(path)
    evidence_path(path).write_bytes(b"\x01" * 100)
    with pytest.raises(StoreDamaged, match="cspr-committed.json"):
        Store(path)


def test_the_journal_cut_under_a_running_daemon_stops_it_for_good(path: Path) -> None:
    five_cases(path)
    daemon = Store(path)
    try:
        with daemon.transaction() as txn:
            txn.put_case(case(txn.next_reference(2026)))
        cut_journal(path)
        for _ in range(2):  # and again: it never carries on with what is left
            with pytest.raises(StoreDamaged):
                daemon.cases()
            with pytest.raises(StoreDamaged), daemon.transaction() as txn:
                txn.next_reference(2026)
    finally:
        daemon.close()


def test_a_compaction_by_another_process_is_not_damage(path: Path) -> None:
    five_cases(path)
    daemon = Store(path)
    try:
        with Store(path) as other:
            other.compact()
            with other.transaction() as txn:
                txn.put_case(case(txn.next_reference(2026)))
        assert len(daemon.cases()) == 6
    finally:
        daemon.close()
    with Store(path) as s:
        assert len(s.cases()) == 6


# --------------------------------------------------------------------------- a real installation


@pytest.fixture
def bot(tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer) -> Bot:
    return make_bot(tmp_path, dovecot, smtp_server)


def referral(i: int) -> bytes:
    return referral_mail(sender=f"referrer{i}@example.police.uk", subject=f"CSPR referral {i}")


def delete_store_folder(path: Path) -> None:
    shutil.rmtree(path.parent)


E2E_DAMAGE = {**DAMAGE, "the whole store folder deleted": delete_store_folder}


@pytest.mark.parametrize("damage", E2E_DAMAGE.values(), ids=E2E_DAMAGE.keys())
def test_a_damaged_store_stops_cases_and_run_and_no_reference_is_handed_out_twice(
    bot: Bot, dovecot: DovecotServer, damage: Callable[[Path], None]
) -> None:
    for i in (1, 2, 3):
        dovecot.append(referral(i))
    bot.run_once()
    assert [c["reference"] for c in bot.cases()] == [f"DSPP-2026-000{i}" for i in (1, 2, 3)]
    store_file = bot.store_dir / "cspr.json"
    backup = bot.root / "backup"
    shutil.copytree(bot.store_dir, backup)

    damage(store_file)
    dovecot.append(referral(4))
    for args in (("cases",), ("cases", "--json"), ("case", "DSPP-2026-0001")):
        out = bot.cli(*args, expect=1)
        assert str(store_file) in out.stderr, out.stderr
        assert out.stdout == ""
    out = bot.run_once(expect=1)
    assert str(store_file) in out.stderr, out.stderr
    assert "DSPP-2026-0001" not in out.stdout
    assert dovecot.folder_count(INBOX) == 1, "the referral behind the damage was processed"
    assert dovecot.folder_count(PROCESSED) == 3
    out = bot.run_once("2026-11-30T10:05", expect=1)  # and again: it never starts afresh
    assert dovecot.folder_count(INBOX) == 1

    # The store put back from the backup: the referral gets the next reference, not 0001.
    shutil.rmtree(bot.store_dir, ignore_errors=True)
    shutil.copytree(backup, bot.store_dir)
    out = bot.run_once("2026-11-30T10:10")
    assert out.stdout.splitlines()[-1] == "DSPP-2026-0004"
    refs = [c["reference"] for c in bot.cases()]
    assert refs == [f"DSPP-2026-000{i}" for i in (1, 2, 3, 4)]
    assert dovecot.folder_count(INBOX) == 0


def test_a_brand_new_installation_starts_empty(bot: Bot, dovecot: DovecotServer) -> None:
    assert bot.cli("cases").stdout.strip().endswith("(no cases)")
    dovecot.append(referral(1))
    out = bot.run_once()
    assert out.stdout.splitlines()[-1] == "DSPP-2026-0001"
    evidence = latest_evidence(bot.store_dir / "cspr-committed.json")
    assert evidence["references"] == {"DSPP:2026": 1} and evidence["cases"] == 1


def test_a_lost_store_that_only_sent_a_digest_meanwhile_is_still_refused(tmp_path: Path) -> None:
    """The store folder deleted, the mailbox down at the start: the daemon's schedule may send the
    day's digest (the store then holds something), but the first look at the mailbox refuses."""
    from cspr_mailbot.app import PassReport
    from cspr_mailbot.config import load_config
    from cspr_mailbot.wiring import build_app, open_store

    (tmp_path / "config.toml").write_text(
        '[partnership]\nmailbox = "dsppb@example.gov.uk"\n'
        'coordinators = ["coordinator@example.gov.uk"]\n'
    )
    cfg = load_config(tmp_path / "config.toml")
    assert cfg.maildir is not None
    processed = cfg.maildir / ".Processed" / "cur"  # the embedded default keeps it in store/
    processed.mkdir(parents=True)
    (processed / "1.referral:2,S").write_bytes(referral(1))  # what the lost store had filed
    with pytest.raises(StoreDamaged, match=r"Processed.* 1 message"):
        open_store(cfg)
    with open_store(cfg, check_mailbox=False) as store:  # as `run` opens it
        app = build_app(cfg, store)
        from datetime import UTC, datetime

        now = datetime(2026, 11, 30, 10, tzinfo=UTC)
        assert app.maybe_send_digest(now, PassReport())  # the mailbox was down: schedule only
        assert not store.is_new
        assert app.source is not None
        app.source.connect()
        with pytest.raises(StoreDamaged, match=str(cfg.store_path)):
            app.run_once(now)
        assert store.cases() == []


def test_the_latest_backup_copied_back_opens_and_an_older_one_is_refused(path: Path) -> None:
    five_cases(path)
    with Store(path) as s:
        old = s.backup(path.parent.parent / "old" / "cspr.json")
        with s.transaction() as txn:
            txn.put_case(case(txn.next_reference(2026)))
        latest = s.backup(path.parent.parent / "latest" / "cspr.json")

    def copy_back(backup: Path) -> None:
        for p in (backup, backup.with_name(backup.name + ".journal")):
            shutil.copyfile(p, path.parent / p.name)

    copy_back(old)
    with pytest.raises(StoreDamaged, match="older backup"):
        Store(path)
    copy_back(latest)
    with Store(path) as s, s.transaction() as txn:
        assert len(s.cases()) == 6
        assert txn.next_reference(2026) == "DSPP-2026-0007"


def test_a_commit_made_without_waiting_for_the_disk_is_synced_then_recorded(
    path: Path, fdatasyncs: list[int]
) -> None:
    """``transaction(durable=False)`` (a reply's record of being sent, issue 15): committed at once,
    seen by every reader, but no fdatasync and no evidence of it until ``sync()``; a second sync
    has nothing to do; closing syncs what is left, so the evidence never claims what a power cut
    could take back and never stays behind a clean close."""
    five_cases(path)
    synced = fdatasyncs
    synced.clear()
    with Store(path) as s:
        with s.transaction(durable=False) as txn:
            txn.put_case(case(txn.next_reference(2026)))
        assert synced == [] and len(s.cases()) == 6
        assert latest_evidence(evidence_path(path))["committed"] == 5
        s.sync()
        assert len(synced) == 1 and latest_evidence(evidence_path(path))["committed"] == 6
        s.sync()
        assert len(synced) == 1
        with s.transaction(durable=False) as txn:
            txn.put_case(case(txn.next_reference(2026)))
    assert len(synced) == 2  # at close
    assert latest_evidence(evidence_path(path))["committed"] == 7
    with Store(path) as s:
        assert len(s.cases()) == 7
