"""``doctor`` (SPEC 8): one line per live check, OK or FAIL with the setting to change; exit 0 only if all pass.

Against the real Dovecot and SMTP server and the Microsoft stand-ins, on good configs and on the
mistakes IT makes: a wrong password or secret, a wrong port, an untrusted certificate, a store
folder owned by someone else.
"""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

import pytest
from e2e import PASSWORD_ENV, make_bot, referral_mail
from msstandins import (
    CLIENT_SECRET,
    KEY,
    SECRET_ENV,
    MicrosoftStandins,
    make_oauth_bot,
    token_checker,
)
from servers import DovecotServer, SmtpServer

from cspr_mailbot.cli import main

pytestmark = pytest.mark.dovecot


def doctor(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["-c", str(config), "doctor", *args])
    return code, capsys.readouterr().out.splitlines()


# What a real installation sets (SPEC 3): the fixtures' mail is never judged by it here, doctor only
# reports it. Microsoft 365 installs take Exchange's own mark.
CHECKED = 'sender_check = "authentication-results"\nauthserv_id = "mx.dudley.example.gov.uk"'
EXCHANGE = 'sender_check = "exchange-internal"'


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, dovecot: DovecotServer) -> pytest.MonkeyPatch:
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    return monkeypatch


def test_a_good_password_config_passes_and_sends_nothing(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bot = make_bot(tmp_path, dovecot, smtp_server, security=CHECKED)
    code, lines = doctor(bot.config, capsys)
    assert code == 0, lines
    names = [line.split(":")[0] for line in lines[:-1]]
    assert names == [
        "OK   config",
        "OK   imap reachable",
        "OK   imap tls",
        "OK   imap login",
        "OK   imap folder INBOX",
        "OK   imap folder Processed",
        "OK   imap folder Needs triage",
        "OK   imap folder Ignored",
        "OK   imap folder Sent",
        "OK   sender check",
        "OK   smtp login",
        "OK   store folder",
        "OK   store contents",
        "OK   templates",
        "OK   bank holidays",
    ]
    assert "Processed: created" in lines[5]  # as the bot would at first use
    assert not smtp_server.messages  # no mail without --send-test


def test_oauth2_with_smtp_and_send_test(
    tmp_path: Path,
    oauth_dovecot: DovecotServer,
    make_smtp_server: object,
    ms: MicrosoftStandins,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    smtp = make_smtp_server(xoauth2=token_checker(KEY))  # type: ignore[operator]
    bot = make_oauth_bot(tmp_path, oauth_dovecot, smtp, ms, security=EXCHANGE)
    code, lines = doctor(bot.config, capsys, "--send-test", "it@example.gov.uk")
    assert code == 0, lines
    assert any(line.startswith("OK   imap login") and "XOAUTH2" in line for line in lines)
    assert any(line.startswith("OK   smtp login") and "XOAUTH2" in line for line in lines)
    (test,) = smtp.messages
    assert (
        test.rcpt_tos == ("it@example.gov.uk",) and test.message["X-CSPR-Mailbot"] == "doctor_test"
    )


def test_graph_and_send_test(
    tmp_path: Path,
    oauth_dovecot: DovecotServer,
    ms: MicrosoftStandins,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bot = make_oauth_bot(tmp_path, oauth_dovecot, None, ms, transport="graph", security=EXCHANGE)
    code, lines = doctor(bot.config, capsys)
    assert code == 0, lines
    assert not any("imap folder Sent" in line for line in lines)  # Graph keeps Sent Items itself
    assert not ms.graph.sent
    code, lines = doctor(bot.config, capsys, "--send-test", "it@example.gov.uk")
    assert code == 0 and len(ms.graph.sent) == 1


def test_a_wrong_secret_names_the_key_and_the_fix(
    tmp_path: Path,
    oauth_dovecot: DovecotServer,
    ms: MicrosoftStandins,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env.setenv(SECRET_ENV, "expired-secret")
    bot = make_oauth_bot(tmp_path, oauth_dovecot, None, ms, transport="graph", security=EXCHANGE)
    code, lines = doctor(bot.config, capsys)
    assert code == 1
    (imap, graph) = failures(lines)
    assert imap.startswith("FAIL imap login: no OAuth2 token: oauth2.client_secret_env:")
    assert "AADSTS7000215" in imap and "Value, not its Secret ID" in imap
    assert graph.startswith("FAIL graph token: oauth2.client_secret_env")
    assert "expired-secret" not in "\n".join(lines)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("password", ("FAIL imap login: refused", "imap.password_env")),
        ("port", ("FAIL imap reachable", "imap.port")),
        ("tls", ("FAIL imap tls: the server's certificate is not trusted", "imap.cafile")),
        ("smtp", ("FAIL smtp login", "smtp.password_env")),
    ],
)
def test_a_bad_setting_is_named(
    tmp_path: Path,
    dovecot: DovecotServer,
    make_smtp_server: object,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: str,
    expected: tuple[str, str],
) -> None:
    smtp = make_smtp_server(auth=("bot", "smtp-secret"))  # type: ignore[operator]
    bot = make_bot(tmp_path, dovecot, smtp, security=CHECKED)
    text = bot.config.read_text().replace(
        'security = "none"\n\n[store]',
        'security = "none"\nusername = "bot"\npassword_env = "SMTP_PW"\n\n[store]',
    )
    env.setenv("SMTP_PW", "smtp-secret")
    if change == "password":
        env.setenv(PASSWORD_ENV, "not-it")
    elif change == "port":
        from servers import free_port

        text = text.replace(f"port = {dovecot.port}", f"port = {free_port()}")
    elif change == "tls":
        text = text.replace(
            f'port = {dovecot.port}\nsecurity = "none"',
            f'port = {dovecot.ssl_port}\nsecurity = "ssl"',
        )
    else:
        env.setenv("SMTP_PW", "wrong")
    bot.config.write_text(text)
    code, lines = doctor(bot.config, capsys)
    assert code == 1
    bad = failures(lines)
    assert len(bad) == 1, lines
    assert bad[0].startswith(expected[0]) and expected[1] in bad[0], bad[0]


def test_a_store_folder_owned_by_someone_else(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bot = make_bot(tmp_path, dovecot, smtp_server, security=CHECKED)
    store = tmp_path / "store"
    store.mkdir()
    other = pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else None
    if other is None:
        pytest.skip("needs root to give a folder away")
    os.chown(store, other, -1)
    code, lines = doctor(bot.config, capsys)
    assert code == 1
    (bad,) = failures(lines)
    assert bad.startswith("FAIL store folder") and "belongs to nobody" in bad and "chown" in bad


def test_no_sender_check_on_a_real_mailbox_fails_and_says_what_to_set(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bot = make_bot(tmp_path, dovecot, smtp_server)  # sender_check = "none" with [imap]
    code, lines = doctor(bot.config, capsys)
    assert code == 1
    (bad,) = failures(lines)
    assert bad.startswith("FAIL sender check: none: anyone who writes a coordinator's address")
    assert 'sender_check = "exchange-internal"' in bad and "authentication-results" in bad


def test_the_store_contents_are_counted_and_a_lost_store_fails(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bot = make_bot(tmp_path, dovecot, smtp_server, security=CHECKED)
    dovecot.deliver(referral_mail())
    bot.run_once()
    code, lines = doctor(bot.config, capsys)
    assert code == 0, lines
    (contents,) = [line for line in lines if line.startswith("OK   store contents")]
    assert "1 case(s), 1 open; 1 message(s) taken in" in contents

    # The store's folder deleted (a rebuilt server, a wrong [store] path): Processed still holds
    # what the bot filed, so doctor says the store was lost, as the daemon would refuse to start.
    shutil.rmtree(bot.store_dir)
    code, lines = doctor(bot.config, capsys)
    assert code == 1
    (bad,) = failures(lines)
    assert bad.startswith("FAIL store contents:") and "hold 1 message(s) the bot filed" in bad
    assert "restore the store folder from the latest backup" in bad
    assert not bot.store_dir.exists()  # doctor made nothing in its place
