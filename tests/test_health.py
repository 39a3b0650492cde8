"""Health (SPEC 10): the status file, `status`, and the coordinators told when mail fails for too long.

Driven as IT would see it: the CLI against the real Dovecot and SMTP server, ``run --once --now`` for
the clock, the IMAP password wrong or the SMTP server gone.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e import (
    COORDINATOR,
    INBOX,
    PROCESSED,
    REFERRER,
    TRIAGE,
    Bot,
    by_template,
    make_bot,
    referral_mail,
    sent_to,
)
from servers import DovecotServer, SmtpServer

from cspr_mailbot.cli import main
from cspr_mailbot.config import load_config
from cspr_mailbot.health import Health, Status, status_report
from cspr_mailbot.wiring import build_app

pytestmark = pytest.mark.dovecot

HEALTH = "[health]\nalert_after_minutes = 30\n"


@dataclass
class PasswordBot(Bot):
    """A bot whose IMAP password can be wrong, as after a password change nobody passed on."""

    password: str | None = None

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.password is not None:
            env["CSPR_TEST_IMAP_PASSWORD"] = self.password
        return env


def password_bot(tmp_path: Path, dovecot: DovecotServer, smtp: SmtpServer) -> PasswordBot:
    bot = make_bot(tmp_path, dovecot, smtp, HEALTH)
    return PasswordBot(bot.root, bot.config, dovecot, smtp)


def at(minutes: int) -> str:
    """``--now`` for 10:00 London on Monday 30 November 2026, plus ``minutes``."""
    return (datetime(2026, 11, 30, 10, 0) + timedelta(minutes=minutes)).isoformat(
        timespec="minutes"
    )


def health_notices(smtp: SmtpServer) -> list[str]:
    return [str(r.message["Subject"]) for r in by_template(smtp, "health_notice")]


def status_file(bot: Bot) -> dict[str, object]:
    return json.loads((bot.store_dir / "status.json").read_text())  # type: ignore[no-any-return]


def test_a_wrong_imap_password_is_told_once_and_its_recovery_once(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bot = password_bot(tmp_path, dovecot, smtp_server)
    bot.password = "changed-by-someone"
    dovecot.append(referral_mail())

    proc = bot.run_once(at(0), expect=1)
    assert "login refused" in proc.stderr
    # The mailbox is down, but the schedule runs: the day's digest (due from 08:00) still goes.
    assert by_template(smtp_server, "digest") and not health_notices(smtp_server)
    state = status_file(bot)
    assert state["mailbox"]["failing_since"] and state["last_error"] == "MailSourceError"  # type: ignore[index]

    bot.run_once(at(20), expect=1)
    assert not health_notices(smtp_server)

    proc = bot.run_once(at(31), expect=1)  # failing for 31 minutes: past alert_after_minutes
    (alert,) = health_notices(smtp_server)
    assert "stopped reading the mailbox" in alert
    assert sent_to(smtp_server, COORDINATOR)[-1].message["X-CSPR-Mailbot"] == "health_notice"
    assert "ERROR" in proc.stderr and "telling the coordinators" in proc.stderr

    bot.run_once(at(45), expect=1)  # still down: not told again
    assert len(health_notices(smtp_server)) == 1
    assert dovecot.folder_count(INBOX) == 1 and not sent_to(smtp_server, REFERRER)  # kept

    status = bot.cli("status", expect=1).stdout
    assert "FAILING: reading the mailbox since Mon 30 Nov 2026 10:00" in status
    assert "coordinators told" in status

    bot.password = None  # IT puts the right password in
    bot.run_once(at(50))
    notices = health_notices(smtp_server)
    assert len(notices) == 2 and "reading the mailbox again" in notices[1]
    assert dovecot.folder_count(PROCESSED) == 1 and len(sent_to(smtp_server, REFERRER)) == 1
    bot.run_once(at(60))
    assert len(health_notices(smtp_server)) == 2  # the recovery is told once too
    state = status_file(bot)
    assert state["mailbox"]["failing_since"] is None and not state["mailbox"]["alerted"]  # type: ignore[index]
    assert state["last_mailbox_read"] and state["last_send"] and state["queue"] == 0


def test_sending_down_is_told_in_the_mailbox(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bot = password_bot(tmp_path, dovecot, smtp_server)
    smtp_server.stop()
    dovecot.append(referral_mail())
    bot.run_once(at(0), expect=1)
    assert dovecot.folder_count(PROCESSED) == 1 and status_file(bot)["queue"] >= 1
    bot.run_once(at(31), expect=1)
    (notice,) = dovecot.messages(TRIAGE)
    assert b"stopped sending mail" in notice[2] and b"\\Flagged" in notice[1]
    bot.run_once(at(40), expect=1)
    assert len(dovecot.messages(TRIAGE)) == 1  # once
    smtp_server.start()
    bot.run_once(at(50))
    assert len(sent_to(smtp_server, REFERRER)) == 1  # what waited has gone
    assert any("sending mail again" in s for s in health_notices(smtp_server))


def test_the_daemon_alerts_within_alert_after(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real loop, a wrong password, and alert_after cut to 3 s: the alert comes on time."""
    from cspr_mailbot.adapters.store import Store
    from cspr_mailbot.daemon import run_forever

    bot = make_bot(tmp_path, dovecot, smtp_server)
    monkeypatch.setenv("CSPR_TEST_IMAP_PASSWORD", "wrong")
    cfg = load_config(bot.config)
    health = Health(cfg.status_file, timedelta(seconds=3))
    stop = threading.Event()
    with Store(cfg.store_path, reference_prefix="DSPP") as store:
        app = build_app(cfg, store)
        thread = threading.Thread(
            target=run_forever, args=(app, stop), kwargs={"poll_seconds": 1, "health": health}
        )
        began = time.monotonic()
        thread.start()
        try:
            deadline = began + 20
            while not health_notices(smtp_server) and time.monotonic() < deadline:
                time.sleep(0.02)
            told_at = time.time()
        finally:
            stop.set()
            thread.join(15)
    assert health_notices(smtp_server), "no alert"
    since = health.status.mailbox.failing_since
    assert since is not None
    latency = told_at - datetime.fromisoformat(since).timestamp()
    # Without the cut-short wait the back-off (1, 2, 4 s) would have made it about 7 s.
    assert 3.0 <= latency < 4.5, latency
    print(f"alert latency with alert_after = 3 s: {latency:.2f} s after the first failure")


def test_status_says_when_it_is_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(tz=UTC)
    path = tmp_path / "status.json"
    health = Health(path, timedelta(minutes=30), version="9.9", source="IMAP x", poll_seconds=60)
    health.ok("mailbox", now - timedelta(hours=2))
    health.write(now - timedelta(hours=2), queue=3)
    code, text = status_report(Status.from_json(json.loads(path.read_text())), path, now)
    assert code == 1 and "STALE" in text and "queued: 3" in text
    health.write(now, queue=0)
    code, text = status_report(Status.from_json(json.loads(path.read_text())), path, now)
    assert code == 0 and "STALE" not in text

    config = tmp_path / "config.toml"
    config.write_text(
        '[partnership]\nmailbox = "a@example.gov.uk"\ncoordinators = ["c@example.gov.uk"]\n'
        f'[health]\nstatus_file = "{path}"\n'
    )
    assert main(["-c", str(config), "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["stale"] is False and data["queue"] == 0 and data["version"] == "9.9"
    assert main(["-c", str(config), "status"]) == 0


def test_the_status_file_keeps_keys_it_does_not_own(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    path.write_text(json.dumps({"store_generation": 7}))
    Health(path, timedelta(minutes=30)).write(datetime.now(tz=UTC), queue=1)
    data = json.loads(path.read_text())
    assert data["store_generation"] == 7 and data["queue"] == 1
    assert path.stat().st_mode & 0o777 == 0o600


# --------------------------------------------------------------------------- running it as a service

ROOT = Path(__file__).resolve().parent.parent


def test_the_service_unit_is_hardened() -> None:
    import configparser
    import shutil
    import subprocess

    unit = ROOT / "contrib" / "cspr-mailbot.service"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(unit)
    service = parser["Service"]
    assert service["User"] == "cspr-mailbot" and service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict" and service["PrivateTmp"] == "yes"
    # The store (the state directory) is the only writable path.
    assert service["StateDirectory"] == "cspr-mailbot" and "ReadWritePaths" not in service
    assert service["Restart"] == "on-failure" and service["MemoryMax"].endswith("M")
    assert " run" in service["ExecStart"] and "--once" not in service["ExecStart"]
    if shutil.which("systemd-analyze"):
        proc = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True
        )
        assert "Unknown key" not in proc.stderr and "Invalid" not in proc.stderr, proc.stderr


def test_version_and_the_start_up_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from cspr_mailbot import __version__

    def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        return subprocess.run(
            [sys.executable, "-m", "cspr_mailbot", *args],
            cwd=tmp_path,
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert cli("--version").stdout.strip() == f"cspr-mailbot {__version__}"
    config = tmp_path / "config.toml"
    config.write_text(
        '[partnership]\nmailbox = "a@example.gov.uk"\ncoordinators = ["c@example.gov.uk"]\n'
        '[logging]\nlevel = "INFO"\n'
    )
    plain = cli("-c", str(config), "run", "--once").stderr.splitlines()
    start = next(line for line in plain if "starting" in line)
    assert f"cspr-mailbot {__version__} starting" in start
    assert str(config) in start and "reading Maildir" in start
    assert start[:4].isdigit()  # a timestamp of our own, off systemd
    journal = cli("-c", str(config), "run", "--once", JOURNAL_STREAM="8:12345").stderr
    assert all(line.startswith(("INFO", "WARNING", "ERROR")) for line in journal.splitlines())
    quiet = config.read_text().replace('level = "INFO"', 'level = "WARNING"')
    config.write_text(quiet)
    assert "starting" not in cli("-c", str(config), "run", "--once").stderr
