"""Data protection (issue 14): subject access export, backups taken while writing, retention, pruning.

The export is tested on the real Dovecot (the originals come back from the mailbox folders) and on
the embedded Maildir; backups against a writer in another thread; purge against a redelivered original.
"""

from __future__ import annotations

import email
import hashlib
import json
import mailbox
import stat
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from e2e import COORDINATOR, PROCESSED, REFERRER, SENT, make_bot, plain_mail, referral_mail
from servers import DovecotServer, SmtpServer
from sites import maildir_site

from cspr_mailbot.adapters.store import Store
from cspr_mailbot.cli import main
from cspr_mailbot.config import load_config
from cspr_mailbot.core import retention
from cspr_mailbot.core.models import Case
from cspr_mailbot.core.records import OutboxRecord
from cspr_mailbot.core.workdays import LONDON
from cspr_mailbot.dataprotection import daily_backup, prune, purge, purge_list, purged
from cspr_mailbot.wiring import build_app

CHILD = "Jamie Example"
BODY = f"""Referrer name: Sam Carter
Child's name: {CHILD}
Child's date of birth: 03/12/2015
Died or seriously harmed: serious harm
Summary of the incident: Jamie was found injured at home on 26/11/2026.
Date of the incident: 26/11/2026
Date the local authority became aware: 27/11/2026
Abuse or neglect: suspected
"""


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)  # type: ignore[misc]


def tree_modes(folder: Path) -> set[tuple[str, int]]:
    """Every file's and folder's permission bits under ``folder`` (folder itself included)."""
    out = {(".", stat.S_IMODE(folder.stat().st_mode))}
    for path in folder.rglob("*"):
        kind = "d" if path.is_dir() else "f"
        out.add((kind, stat.S_IMODE(path.stat().st_mode)))
    return out


# -- a site on the embedded Maildir -----------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Path:
    maildir_site(tmp_path, "[retention]\nclosed_case_years = 6\n[store]\nbackups = 3\n")
    return tmp_path


def deliver(site: Path, raw: bytes) -> None:
    mailbox.Maildir(site / "maildir").add(raw)


def run_pass(site: Path, now: datetime) -> None:
    cfg = load_config(site / "config.toml")
    with Store(cfg.store_path) as store:
        app = build_app(cfg, store)
        assert app.source is not None
        app.source.connect()
        app.run_once(now)


def body_referral(message_id: str = "<ref-1@example.police.uk>") -> bytes:
    return plain_mail(REFERRER, "Referral", BODY, message_id=message_id)


def cases_of(site: Path) -> list[str]:
    cfg = load_config(site / "config.toml")
    with Store(cfg.store_path) as store:
        return [c.reference for c in store.cases(include_closed=True)]


# -- export ---------------------------------------------------------------------------------------


@pytest.mark.dovecot
def test_export_holds_the_case_every_original_and_every_message_sent_private(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bot = make_bot(tmp_path, dovecot, smtp_server)
    dovecot.deliver(referral_mail(message_id="<first@example.police.uk>"))
    bot.run_once()
    ref = bot.cases()[0]["reference"]
    ack = next(m for m in smtp_server.messages if REFERRER in m.rcpt_tos)
    assert ack.message["Message-ID"]
    # A coordinator's command on the case, by mail: its answer is sent on the case too.
    dovecot.deliver(
        plain_mail(COORDINATOR, f"Re: [{ref}]", "notified: 30/11/2026", message_id="<c1@x.gov.uk>")
    )
    bot.run_once("2026-11-30T11:00")
    sent_on_case = bot.case(ref)
    assert any(e["kind"] == "command" for e in sent_on_case["events"])

    out = tmp_path / "sar"
    proc = bot.cli("export", ref, "-o", str(out))
    assert f"{ref}: 2 received" in proc.stdout

    # The case, all of it, with the audit of the command: who, when, the line.
    case = json.loads((out / "case.json").read_text())
    assert case["reference"] == ref and case["referral"]["child_name"]
    command = next(e for e in case["events"] if e["kind"] == "command")
    assert command["detail"] == "notified: 30/11/2026" and command["by"] == COORDINATOR
    assert json.loads((out / "record.json").read_text())["reference"] == ref

    # The originals, byte for byte as they sit in the mailbox's Processed folder.
    received = sorted((out / "received").iterdir())
    assert len(received) == 2
    in_processed = [raw for _uid, _flags, raw in dovecot.messages(PROCESSED)]
    assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in received} == {
        hashlib.sha256(raw).hexdigest() for raw in in_processed
    }
    # No file name repeats anything about the child (names are order, day and kind).
    assert all(CHILD.split()[0].lower() not in p.name.lower() for p in received)

    # What the bot sent on the case: the acknowledgement and the others, from the Sent folder.
    sent = [email.message_from_bytes(p.read_bytes()) for p in (out / "sent").iterdir()]
    ids = {m["Message-ID"] for m in sent}
    assert ack.message["Message-ID"] in ids
    in_sent = [email.message_from_bytes(raw) for _uid, _flags, raw in dovecot.messages(SENT)]
    on_case = {m["Message-ID"] for m in in_sent if m["X-CSPR-Mailbot"] != "digest"}
    assert ids == on_case and len(on_case) == 3  # ack, new-referral notice, command answer
    assert "received/" in (out / "README.txt").read_text()

    # Readable by the owner only.
    modes = tree_modes(out)
    assert modes <= {(".", 0o700), ("d", 0o700), ("f", 0o600)}, modes


def test_export_refuses_a_folder_in_use_and_an_unknown_case(site: Path) -> None:
    deliver(site, body_referral())
    run_pass(site, london(2026, 11, 30, 10))
    busy = site / "busy"
    busy.mkdir()
    (busy / "x").write_text("")
    cfg = str(site / "config.toml")
    assert main(["-c", cfg, "export", "DSPP-2026-0001", "-o", str(busy)]) == 2
    assert main(["-c", cfg, "export", "DSPP-2026-0099", "-o", str(site / "none")]) == 1
    assert main(["-c", cfg, "export", "DSPP-2026-0001", "-o", str(site / "ok")]) == 0
    assert len(list((site / "ok" / "received").iterdir())) == 1
    # With no [smtp] the bot's mail is written as .eml files: they are exported from there.
    assert len(list((site / "ok" / "sent").iterdir())) >= 1


# -- backup ---------------------------------------------------------------------------------------


def test_a_backup_taken_while_another_process_writes_restores_to_whole_cases(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store" / "cspr.json"
    stop = threading.Event()
    written: list[str] = []

    def writer() -> None:
        with Store(path, journal_limit=256 * 1024) as store:  # compactions happen meanwhile too
            while not stop.is_set():
                with store.transaction() as txn:
                    ref = txn.next_reference(2026)
                    case = Case(ref, "referral_received", datetime.now(UTC), date(2026, 11, 30))
                    for i in range(5):
                        case = case.with_event(datetime.now(UTC), "step", f"{i}")
                    txn.put_case(case)
                    txn.meta_set("last", ref)
                written.append(ref)
                stop.wait(0.002)  # a busy daemon, not a tight loop that never lets go of the lock

    thread = threading.Thread(target=writer)
    thread.start()
    backups = []
    try:
        with Store(path) as reader:
            for n in range(5):
                stop.wait(0.3)
                backups.append(reader.backup(tmp_path / f"b{n}" / "copy.json"))
    finally:
        stop.set()
        thread.join()
    sizes = []
    for target in backups:
        with Store(target) as copy:  # "[store] path" pointed at it
            refs = [c.reference for c in copy.cases()]
            # A consistent cut: the cases 1..k, each whole, and the meta written with the last.
            assert refs == [f"DSPP-2026-{n:04d}" for n in range(1, len(refs) + 1)]
            assert all(len(c.events) == 5 for c in copy.cases())
            assert copy.meta_get("last") == (refs[-1] if refs else None)
            sizes.append(len(refs))
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sizes == sorted(sizes) and 0 < sizes[-1] < len(written), (sizes, len(written))
    final = tmp_path / "final.json"
    with Store(path) as live:
        live.backup(final)
        expected = [c.to_dict() for c in live.cases()]
    with Store(final) as copy:
        assert [c.to_dict() for c in copy.cases()] == expected
        # A restored store goes on where the original was: no reference is handed out twice.
        with copy.transaction() as txn:
            assert txn.next_reference(2026) == f"DSPP-2026-{len(written) + 1:04d}"


def test_the_daemon_keeps_a_daily_backup_and_only_the_last_n(site: Path) -> None:
    deliver(site, body_referral())
    for day in (1, 2, 3, 4, 7):
        run_pass(site, london(2026, 12, day, 9))
        run_pass(site, london(2026, 12, day, 10))  # once a day, not once a pass
    kept = sorted(p.name for p in (site / "store" / "backups").glob("*.json"))
    assert kept == ["cspr-2026-12-03.json", "cspr-2026-12-04.json", "cspr-2026-12-07.json"]
    cfg = load_config(site / "config.toml")
    with Store(site / "store" / "backups" / kept[-1]) as copy:
        assert [c.reference for c in copy.cases()] == ["DSPP-2026-0001"]
    with Store(cfg.store_path) as store:
        assert daily_backup(cfg, store, london(2026, 12, 7, 12)) is None  # already today


def test_cli_backup_is_readable_by_pointing_the_store_path_at_it(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deliver(site, body_referral())
    run_pass(site, london(2026, 11, 30, 10))
    target = site / "elsewhere" / "copy.json"
    assert main(["-c", str(site / "config.toml"), "backup", "-o", str(target)]) == 0
    restored = site / "restored.toml"
    text = (
        (site / "config.toml")
        .read_text()
        .replace("[store]\nbackups = 3", f'[store]\nbackups = 3\npath = "{target}"')
    )
    restored.write_text(text)
    capsys.readouterr()
    assert main(["-c", str(restored), "cases", "--json"]) == 0
    assert [c["reference"] for c in json.loads(capsys.readouterr().out)] == ["DSPP-2026-0001"]


# -- retention ------------------------------------------------------------------------------------


def close_case(site: Path, reference: str, closed: date) -> None:
    cfg = load_config(site / "config.toml")
    with Store(cfg.store_path) as store, store.transaction() as txn:
        case = txn.get_case(reference)
        assert case is not None
        from dataclasses import replace

        txn.put_case(replace(case, status="closed", closed_on=closed))


def test_purge_lists_then_removes_a_case_past_retention_leaving_one_audit_line(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = body_referral()
    deliver(site, raw)
    deliver(site, body_referral("<ref-2@example.police.uk>").replace(b"Jamie", b"Robin"))
    run_pass(site, london(2026, 11, 30, 10))
    close_case(site, "DSPP-2026-0001", date(2026, 12, 14))
    cfg_path = str(site / "config.toml")

    # Six years after closing: listed, not yet removed.
    assert main(["-c", cfg_path, "purge", "--now", "2032-12-13T12:00"]) == 0
    assert "nothing is past retention" in capsys.readouterr().out
    assert main(["-c", cfg_path, "purge", "--now", "2032-12-14T12:00"]) == 0
    listed = capsys.readouterr().out
    assert "DSPP-2026-0001" in listed and "--apply" in listed and "0002" not in listed
    assert cases_of(site) == ["DSPP-2026-0001", "DSPP-2026-0002"]

    assert main(["-c", cfg_path, "purge", "--apply", "--now", "2032-12-14T12:00"]) == 0
    assert "DSPP-2026-0001" in capsys.readouterr().out
    assert cases_of(site) == ["DSPP-2026-0002"]
    cfg = load_config(site / "config.toml")
    with Store(cfg.store_path) as store:
        assert purged(store) == [
            {
                "reference": "DSPP-2026-0001",
                "received_on": "2026-11-30",
                "closed_on": "2026-12-14",
                "purged_on": "2032-12-14",
                "note": "purged",
            }
        ]
        assert store.outbox_for_case("DSPP-2026-0001") == []
        assert store.sent_message_ids("DSPP-2026-0001") == []
        entry = store.ledger_get(None, hashlib.sha256(raw).hexdigest())
        assert entry is not None and entry.case_reference is None and entry.outcome == "purged"
        # Nothing about the child is left anywhere in the store's files.
    blob = b"".join(p.read_bytes() for p in (site / "store").glob("cspr.json*"))
    assert b"Jamie" not in blob

    # The original is redelivered (a restore of the mailbox, a copy forwarded again): it is known,
    # filed, and does not come back as a new case or a second acknowledgement.
    deliver(site, raw)
    before = {p.name for p in (site / "store" / "outbox").iterdir()}
    run_pass(site, london(2032, 12, 15, 10))
    assert cases_of(site) == ["DSPP-2026-0002"]
    new = {p.name for p in (site / "store" / "outbox").iterdir()} - before
    assert not [n for n in new if "ack" in n or "new" in n], new  # no acknowledgement, no notice
    box = mailbox.Maildir(site / "maildir")
    assert len(box) == 0  # filed, with the first copy
    assert sum(len(box.get_folder(f)) for f in box.list_folders() if f != "Sent") == 3


def test_retention_zero_keeps_everything_and_open_cases_are_never_purged(site: Path) -> None:
    deliver(site, body_referral())
    run_pass(site, london(2026, 11, 30, 10))
    cfg = load_config(site / "config.toml")
    with Store(cfg.store_path) as store:
        assert purge_list(cfg, store, date(2099, 1, 1)) == []  # open: kept however old
    close_case(site, "DSPP-2026-0001", date(2026, 12, 1))
    keep_all = load_config(site / "config.toml")
    object.__setattr__(keep_all, "retention_years", 0)
    with Store(cfg.store_path) as store:
        assert purge(keep_all, store, date(2099, 1, 1)) == []
        assert [i.reference for i in purge_list(cfg, store, date(2099, 1, 1))] == ["DSPP-2026-0001"]


def test_the_retention_rule_by_hand() -> None:
    closed = Case(
        "DSPP-2026-0001",
        "closed",
        datetime(2026, 2, 1, tzinfo=UTC),
        date(2026, 2, 2),
        closed_on=date(2028, 2, 29),
    )
    assert retention.retention_ends(closed, 1) == date(2029, 2, 28)  # no 29 Feb: the month's end
    assert retention.purge_item(closed, date(2029, 2, 27), 1) is None
    item = retention.purge_item(closed, date(2029, 2, 28), 1)
    assert item is not None and item.closed_on == date(2028, 2, 29)
    assert retention.retention_ends(closed, 0) is None


# -- pruning --------------------------------------------------------------------------------------


def record(key: str, sent: datetime | None, failed: datetime | None = None) -> OutboxRecord:
    return OutboxRecord(
        key=key,
        message_id=f"<{key}@x>",
        template="acknowledgement",
        subject="s",
        to=("a@example.org",),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        raw=None if sent else b"raw",
        sent_at=sent,
        failed_at=failed,
    )


def test_pruning_drops_old_sent_mail_and_past_reply_counters_only(tmp_path: Path) -> None:
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    with Store(tmp_path / "s" / "cspr.json") as store:
        with store.transaction() as txn:
            txn.outbox_put(record("old-sent", now - timedelta(days=30)))
            txn.outbox_put(record("recent-sent", now - timedelta(days=2)))
            txn.outbox_put(record("pending", None))
            txn.outbox_put(record("refused", None, failed=now - timedelta(days=60)))
            txn.meta_set("replies:2026-11-30:a@example.org", 3)
            txn.meta_set("replies:2026-12-01:a@example.org", 1)
            txn.meta_set("digest_last_day", "2026-11-30")
        result = prune(store, now)
        assert (result.outbox, result.counters) == (1, 1)
        assert {
            k for k in ("old-sent", "recent-sent", "pending", "refused") if store.outbox_get(k)
        } == {
            "recent-sent",
            "pending",
            "refused",
        }
        assert store.meta_keys("replies:") == ["replies:2026-12-01:a@example.org"]
        assert store.meta_get("digest_last_day") == "2026-11-30"


def test_the_audit_names_who_gave_a_command_from_the_cli(site: Path) -> None:
    deliver(site, body_referral())
    run_pass(site, london(2026, 11, 30, 10))
    cfg_path = str(site / "config.toml")
    assert (
        main(
            [
                "-c",
                cfg_path,
                "command",
                "DSPP-2026-0001",
                "aware: 27/11/2026",
                "--now",
                "2026-11-30T11:00",
            ]
        )
        == 0
    )
    cfg = load_config(site / "config.toml")
    with Store(cfg.store_path) as store:
        case = store.get_case("DSPP-2026-0001")
    assert case is not None
    event = [e for e in case.events if e.kind == "command"][-1]
    assert event.detail == "aware: 27/11/2026" and event.by.startswith("cli:")
    assert event.at == london(2026, 11, 30, 11).astimezone(event.at.tzinfo)
