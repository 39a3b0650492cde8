"""OAuth2 (SPEC 9, 10): app-only tokens from Entra through real MSAL, used for IMAP and SMTP XOAUTH2.

All offline: ``FakeEntra`` (tests/msstandins.py) on 127.0.0.1 over TLS, a Dovecot that checks the JWTs
itself, and an aiosmtpd server with AUTH XOAUTH2. The clock is injected, so hours pass in seconds.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e import COORDINATOR, INBOX, NOW, PROCESSED, REFERRAL, REFERRER, referral_mail, sent_to
from msstandins import (
    CLIENT_ID,
    CLIENT_SECRET,
    GRAPH,
    KEY,
    OUTLOOK,
    TENANT,
    MicrosoftStandins,
    make_jwt,
    make_oauth_bot,
    token_checker,
)
from servers import BOT_USER, DovecotServer, SmtpServer

from cspr_mailbot.adapters.oauth import (
    GRAPH_SCOPE,
    OUTLOOK_SCOPE,
    CommandTokenSource,
    MsalTokenSource,
    TokenError,
)
from cspr_mailbot.cli import parse_now
from cspr_mailbot.config import OAuth2, load_config
from cspr_mailbot.wiring import build_app

pytestmark = pytest.mark.dovecot

START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


class Clock:
    """An injected clock that a test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def settings(ms: MicrosoftStandins, **kw: object) -> OAuth2:
    base: dict[str, object] = dict(
        provider="microsoft",
        tenant=TENANT,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authority=ms.entra.url,
        graph_url=ms.graph.url,
        cafile=Path(ms.cert.cert),
        timeout=10.0,
    )
    base.update(kw)
    return OAuth2(**base)  # type: ignore[arg-type]


@pytest.fixture
def xoauth_smtp(make_smtp_server: object) -> SmtpServer:
    return make_smtp_server(xoauth2=token_checker(KEY))  # type: ignore[operator,no-any-return]


def numbered_referral(i: int) -> bytes:
    who = f"referrer{i:02d}@example.org"
    return referral_mail({**REFERRAL, "referrer_email": who}, sender=who)


# --------------------------------------------------------------------------- the token source


def test_a_token_is_reused_until_near_expiry_then_renewed(ms: MicrosoftStandins) -> None:
    clock = Clock(START)
    tokens = MsalTokenSource(settings(ms), clock=clock)
    first = tokens.token(OUTLOOK_SCOPE)
    for minutes in (1, 20, 54):  # Entra's tokens live 3600 s; renewed 5 minutes before
        clock.now = START + timedelta(minutes=minutes)
        assert tokens.token(OUTLOOK_SCOPE) == first
    assert ms.entra.granted(OUTLOOK_SCOPE) == 1
    clock.now = START + timedelta(minutes=56)
    second = tokens.token(OUTLOOK_SCOPE)
    assert second != first and ms.entra.granted(OUTLOOK_SCOPE) == 2
    tokens.token(GRAPH_SCOPE)  # another scope is another token, from the same client
    assert ms.entra.granted(GRAPH_SCOPE) == 1
    assert ms.entra.discoveries == 1  # one MSAL client for the life of the process
    assert tokens.renew(OUTLOOK_SCOPE) != second and ms.entra.granted(OUTLOOK_SCOPE) == 3


def test_a_short_lived_token_is_renewed_before_it_runs_out(ms: MicrosoftStandins) -> None:
    ms.entra.expires_in = 600
    clock = Clock(START)
    tokens = MsalTokenSource(settings(ms), clock=clock)
    first = tokens.token(OUTLOOK_SCOPE)
    clock.now = START + timedelta(minutes=4, seconds=59)
    assert tokens.token(OUTLOOK_SCOPE) == first
    clock.now = START + timedelta(minutes=5, seconds=1)  # within 5 minutes of its expiry
    assert tokens.token(OUTLOOK_SCOPE) != first
    assert ms.entra.granted(OUTLOOK_SCOPE) == 2


def test_a_wrong_secret_is_a_clear_error_naming_the_key(ms: MicrosoftStandins) -> None:
    tokens = MsalTokenSource(settings(ms, client_secret="not-the-secret"))
    with pytest.raises(TokenError) as caught:
        tokens.token(OUTLOOK_SCOPE)
    assert caught.value.key == "oauth2.client_secret_env" and not caught.value.retryable
    assert "client secret was refused" in str(caught.value)
    assert "AADSTS7000215" in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value) and "not-the-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"tenant": "someone-else.onmicrosoft.com"}, "oauth2.tenant"),
        ({"client_id": "99999999-0000-0000-0000-000000000000"}, "oauth2.client_id"),
        ({"client_secret": None, "credential_key": "oauth2.client_secret_file"}, None),
    ],
)
def test_each_refusal_names_its_key(
    ms: MicrosoftStandins, change: dict[str, object], key: str | None
) -> None:
    tokens = MsalTokenSource(settings(ms, **change))
    with pytest.raises(TokenError) as caught:
        tokens.token(OUTLOOK_SCOPE)
    assert caught.value.key == (key or "oauth2.client_secret_file")
    assert not caught.value.retryable


def test_entra_down_is_worth_trying_again(ms: MicrosoftStandins) -> None:
    ms.entra.fail_with = 503
    tokens = MsalTokenSource(settings(ms))
    with pytest.raises(TokenError) as caught:
        tokens.token(OUTLOOK_SCOPE)
    assert caught.value.retryable and caught.value.key == "oauth2.authority"


def test_a_certificate_credential(ms: MicrosoftStandins, tmp_path: Path) -> None:
    pem, thumbprint, cert = rsa_certificate(tmp_path)
    ms.entra.certificate = cert
    tokens = MsalTokenSource(
        settings(
            ms,
            client_secret=None,
            certificate_file=pem,
            certificate_thumbprint=thumbprint,
            credential_key="oauth2.certificate_file",
        )
    )
    assert tokens.token(OUTLOOK_SCOPE)
    # Another certificate (an old one, say) is refused, naming the key.
    other_pem, other_thumbprint, _ = rsa_certificate(tmp_path / "other")
    refused = MsalTokenSource(
        settings(
            ms,
            client_secret=None,
            certificate_file=other_pem,
            certificate_thumbprint=other_thumbprint,
            credential_key="oauth2.certificate_file",
        )
    )
    with pytest.raises(TokenError) as caught:
        refused.token(OUTLOOK_SCOPE)
    assert caught.value.key == "oauth2.certificate_file"
    assert "certificate was refused" in str(caught.value)


def rsa_certificate(directory: Path) -> tuple[Path, str, object]:
    """An RSA key and self-signed certificate in one PEM (as Entra's app registration takes)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import load_pem_x509_certificate
    from servers import Certificate

    directory.mkdir(parents=True, exist_ok=True)
    key, crt = directory / "app.key", directory / "app.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(crt), "-subj", "/CN=cspr-mailbot"],
        check=True, capture_output=True,
    )  # fmt: skip
    both = directory / "app.pem"
    both.write_text(key.read_text() + crt.read_text())
    cert = load_pem_x509_certificate(crt.read_bytes())
    return both, cert.fingerprint(hashes.SHA1()).hex().upper(), Certificate(crt, key)


def test_a_token_command(tmp_path: Path) -> None:
    script = tmp_path / "token.sh"
    script.write_text('#!/bin/sh\necho "token-$(cat $0.count 2>/dev/null)"\necho x >> $0.count\n')
    script.chmod(0o755)
    clock = Clock(START)
    tokens = CommandTokenSource(OAuth2(provider="command", token_command=str(script)), clock=clock)
    first = tokens.token(OUTLOOK_SCOPE)
    assert tokens.token(OUTLOOK_SCOPE) == first and tokens.fetches == 1
    assert tokens.renew(OUTLOOK_SCOPE) != first and tokens.fetches == 2
    failing = CommandTokenSource(OAuth2(provider="command", token_command="echo nope >&2; exit 3"))
    with pytest.raises(TokenError) as caught:
        failing.token(OUTLOOK_SCOPE)
    assert caught.value.key == "oauth2.token_command" and "nope" in str(caught.value)


# --------------------------------------------------------------------------- the bot, end to end


def test_a_referral_is_acknowledged_over_imap_and_smtp_xoauth2(
    tmp_path: Path, oauth_dovecot: DovecotServer, xoauth_smtp: SmtpServer, ms: MicrosoftStandins
) -> None:
    bot = make_oauth_bot(tmp_path, oauth_dovecot, xoauth_smtp, ms)
    oauth_dovecot.append(referral_mail())
    bot.run_once()
    assert oauth_dovecot.folder_count(INBOX) == 0 and oauth_dovecot.folder_count(PROCESSED) == 1
    ack = sent_to(xoauth_smtp, REFERRER)
    assert len(ack) == 1 and ack[0].login == BOT_USER
    assert sent_to(xoauth_smtp, COORDINATOR)
    # One token served the IMAP login and every SMTP session of the pass.
    assert ms.entra.granted(OUTLOOK_SCOPE) == 1 and ms.entra.granted() == 1
    assert xoauth_smtp.xoauth2_logins >= 1 and xoauth_smtp.xoauth2_refused == 0


def test_tokens_are_fetched_once_an_hour_not_once_a_pass(
    tmp_path: Path,
    oauth_dovecot: DovecotServer,
    xoauth_smtp: SmtpServer,
    ms: MicrosoftStandins,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three hours of passes every 5 minutes, a referral every 15: 3 token fetches, not 36."""
    bot = make_oauth_bot(tmp_path, oauth_dovecot, xoauth_smtp, ms)
    monkeypatch.setenv("CSPR_TEST_OAUTH_SECRET", CLIENT_SECRET)
    cfg = load_config(bot.config)
    start = parse_now(NOW)
    clock = Clock(start)
    tokens = MsalTokenSource(cfg.oauth2, clock=clock)  # type: ignore[arg-type]
    from cspr_mailbot.adapters.store import Store

    with Store(cfg.store_path, reference_prefix="DSPP") as store:
        app = build_app(cfg, store, tokens=tokens)
        app.source.connect()
        passes = 0
        try:
            for minute in range(0, 180, 5):
                clock.now = start + timedelta(minutes=minute)
                if minute % 15 == 0:
                    oauth_dovecot.append(numbered_referral(minute // 15))
                if minute == 90:  # the connection drops: a new login, with the token held
                    app.source.reconnect()
                app.run_once(clock.now)
                passes += 1
        finally:
            app.source.close()
    acks = [r for r in xoauth_smtp.messages if r.rcpt_tos[0].startswith("referrer")]
    assert len(acks) == 12 and passes == 36
    # Fetched at 0, 60 and 120 minutes: each token (3600 s) served until a send needed one within
    # 5 minutes of its expiry; the reconnect at 90 minutes used the one held.
    assert ms.entra.granted(OUTLOOK_SCOPE) == 3, [r.scope for r in ms.entra.requests]
    assert xoauth_smtp.xoauth2_refused == 0


def test_a_wrong_secret_exits_1_naming_the_key_and_loses_nothing(
    tmp_path: Path, oauth_dovecot: DovecotServer, xoauth_smtp: SmtpServer, ms: MicrosoftStandins
) -> None:
    bot = make_oauth_bot(tmp_path, oauth_dovecot, xoauth_smtp, ms)
    bot.secret = "an-old-secret"
    oauth_dovecot.append(referral_mail())
    proc = bot.run_once(expect=1)
    assert "oauth2.client_secret_env" in proc.stderr and "AADSTS7000215" in proc.stderr
    assert "an-old-secret" not in proc.stderr + proc.stdout
    assert oauth_dovecot.folder_count(INBOX) == 1 and not xoauth_smtp.messages
    bot.secret = (
        CLIENT_SECRET  # IT puts the right one in: the referral is taken as if nothing happened
    )
    bot.run_once()
    assert oauth_dovecot.folder_count(PROCESSED) == 1 and len(sent_to(xoauth_smtp, REFERRER)) == 1


def test_entra_5xx_backs_off_and_loses_nothing(
    tmp_path: Path, oauth_dovecot: DovecotServer, xoauth_smtp: SmtpServer, ms: MicrosoftStandins
) -> None:
    bot = make_oauth_bot(tmp_path, oauth_dovecot, xoauth_smtp, ms)
    oauth_dovecot.append(referral_mail())
    ms.entra.fail_with = 500
    proc = bot.run_once(expect=1)
    assert "oauth2.authority" in proc.stderr and "cannot be reached" in proc.stderr
    assert oauth_dovecot.folder_count(INBOX) == 1 and not xoauth_smtp.messages
    ms.entra.fail_with = None
    bot.run_once()
    assert oauth_dovecot.folder_count(PROCESSED) == 1 and len(sent_to(xoauth_smtp, REFERRER)) == 1


def test_the_daemon_backs_off_while_entra_is_down(
    tmp_path: Path,
    oauth_dovecot: DovecotServer,
    xoauth_smtp: SmtpServer,
    ms: MicrosoftStandins,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In the daemon a 5xx is retried with growing waits (1, 2, 4 s ...), then the mail goes."""
    import threading
    import time

    from cspr_mailbot.adapters.store import Store
    from cspr_mailbot.daemon import run_forever

    bot = make_oauth_bot(tmp_path, oauth_dovecot, xoauth_smtp, ms)
    monkeypatch.setenv("CSPR_TEST_OAUTH_SECRET", CLIENT_SECRET)
    cfg = load_config(bot.config)
    oauth_dovecot.append(referral_mail())
    ms.entra.fail_with = 503
    stop = threading.Event()
    with Store(cfg.store_path, reference_prefix="DSPP") as store:
        app = build_app(cfg, store)
        thread = threading.Thread(target=run_forever, args=(app, stop), kwargs={"poll_seconds": 1})
        thread.start()
        try:
            time.sleep(3.5)
            failed = [r.at for r in ms.entra.requests]
            ms.entra.fail_with = None
            deadline = time.monotonic() + 30
            while not sent_to(xoauth_smtp, REFERRER) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            thread.join(15)
    assert sent_to(xoauth_smtp, REFERRER), "the referral was never acknowledged"
    # Tried at 0, 1, 3 s: MSAL itself also holds a 5xx for 5 s, so Entra saw one or two of them.
    assert 1 <= len(failed) <= 3, failed


def test_a_token_command_logs_in(
    tmp_path: Path, oauth_dovecot: DovecotServer, xoauth_smtp: SmtpServer, ms: MicrosoftStandins
) -> None:
    """provider = "command": another identity provider's token, from a program's stdout."""
    token = make_jwt(
        KEY,
        {"aud": OUTLOOK, "sub": "x", "email": BOT_USER, "exp": 2**31 - 1, "iat": 1, "nbf": 1},
    )
    (tmp_path / "token").write_text(token + "\n")
    bot = make_oauth_bot(tmp_path, oauth_dovecot, xoauth_smtp, ms)
    text = bot.config.read_text()
    start = text.index("[oauth2]")
    end = text.index("[store]")
    bot.config.write_text(
        text[:start]
        + '[oauth2]\nprovider = "command"\ntoken_command = "cat token"\n\n'
        + text[end:]
    )
    oauth_dovecot.append(referral_mail())
    bot.run_once()
    assert oauth_dovecot.folder_count(PROCESSED) == 1 and len(sent_to(xoauth_smtp, REFERRER)) == 1
    assert ms.entra.granted() == 0
    assert GRAPH  # (the Graph audience is tested in test_graph.py)


# --------------------------------------------------------------------------- the config keys

BASE = {"partnership": {"mailbox": "dsppb@example.gov.uk", "coordinators": ["c@example.gov.uk"]}}
IMAP = {"host": "outlook.office365.com", "username": "dsppb@example.gov.uk", "auth": "oauth2"}
OAUTH = {
    "tenant": "example.onmicrosoft.com",
    "client_id": CLIENT_ID,
    "client_secret_env": "X_SECRET",
}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"imap": {**IMAP, "auth": "kerberos"}, "oauth2": OAUTH}, "imap.auth"),
        ({"imap": IMAP}, "oauth2"),
        ({"smtp": {"transport": "graph"}}, "oauth2"),
        ({"imap": {**IMAP, "password_env": "P"}, "oauth2": OAUTH}, "imap.password_env"),
        ({"smtp": {"transport": "carrier-pigeon"}}, "smtp.transport"),
        ({"imap": IMAP, "oauth2": {**OAUTH, "provider": "google"}}, "oauth2.provider"),
        (
            {"imap": IMAP, "oauth2": {"client_id": CLIENT_ID, "client_secret_env": "X"}},
            "oauth2.tenant",
        ),
        (
            {"imap": IMAP, "oauth2": {**OAUTH, "client_secret_env": "UNSET_VAR"}},
            "oauth2.client_secret_env",
        ),
        (
            {"imap": IMAP, "oauth2": {**OAUTH, "client_secret_file": "/nonexistent/secret"}},
            "oauth2.client_secret_file",
        ),
        (
            {"imap": IMAP, "oauth2": {**OAUTH, "certificate_file": "app.pem"}},
            "oauth2.certificate_file",
        ),
        (
            {"imap": IMAP, "oauth2": {**OAUTH, "authority": "http://login.example"}},
            "oauth2.authority",
        ),
        ({"imap": IMAP, "oauth2": {**OAUTH, "tenant_id": "x"}}, "oauth2.tenant_id"),
        ({"imap": IMAP, "oauth2": {"provider": "command"}}, "oauth2.token_command"),
        ({"health": {"alert_after_minutes": 0}}, "health.alert_after_minutes"),
        ({"logging": {"level": "LOUD"}}, "logging.level"),
    ],
)
def test_a_bad_new_key_is_named(
    data: dict[str, object], key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cspr_mailbot.config import parse_config
    from cspr_mailbot.errors import ConfigError

    monkeypatch.setenv("X_SECRET", "s")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    with pytest.raises(ConfigError) as caught:
        parse_config({**BASE, **data}, base=Path("/nonexistent"))
    assert caught.value.key == key, caught.value


def test_a_certificate_without_its_thumbprint_is_refused(tmp_path: Path) -> None:
    from cspr_mailbot.config import parse_config
    from cspr_mailbot.errors import ConfigError

    pem, thumbprint, _ = rsa_certificate(tmp_path)
    oauth = {"tenant": "t.example", "client_id": CLIENT_ID, "certificate_file": str(pem)}
    with pytest.raises(ConfigError) as caught:
        parse_config({**BASE, "imap": IMAP, "oauth2": oauth})
    assert caught.value.key == "oauth2.certificate_thumbprint"
    spaced = " ".join(thumbprint[i : i + 2] for i in range(0, 40, 2)).lower()
    cfg = parse_config(
        {
            **BASE,
            "imap": IMAP,
            "oauth2": {**oauth, "certificate_thumbprint": spaced},
            "security": {"sender_check": "exchange-internal"},
        }
    )
    assert cfg.oauth2 is not None and cfg.oauth2.certificate_thumbprint == thumbprint
    assert cfg.oauth2.credential_key == "oauth2.certificate_file"


def test_the_example_config_documents_microsoft_365(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every new key is in config.example.toml; uncommented for Microsoft 365, it loads."""
    import re

    from cspr_mailbot.config import parse_config

    text = (Path(__file__).resolve().parent.parent / "config.example.toml").read_text()
    for key in ("auth", "transport", "provider", "tenant", "client_id", "client_secret_env",
                "client_secret_file", "certificate_file", "certificate_thumbprint", "authority",
                "graph_url", "cafile", "token_command", "alert_after_minutes", "status_file",
                "level", "timeout_seconds"):  # fmt: skip
        assert re.search(rf"^#? ?{key} = ", text, re.M), key
    text = re.sub(
        r"^# (\[oauth2\]$|(provider|tenant|client_id|client_secret_env) =)", r"\1", text, flags=re.M
    )
    text = (
        text.replace('auth = "password"', 'auth = "oauth2"')
        .replace('password_env = "CSPR_IMAP_PASSWORD"', "")
        .replace('password_env = "CSPR_SMTP_PASSWORD"', "")
    )
    import tomllib

    monkeypatch.setenv("CSPR_OAUTH_SECRET", "s")
    cfg = parse_config(tomllib.loads(text), base=Path("/srv/cspr"))
    assert cfg.imap is not None and cfg.imap.auth == "oauth2" and cfg.oauth2 is not None
    assert cfg.status_file == Path("/srv/cspr/store/status.json") and cfg.log_level == "INFO"


@pytest.mark.parametrize(
    ("smtp", "appended_to"),
    [
        # Exchange Online saves what SMTP AUTH submission sends in Sent Items: a copy of ours would
        # be a second one, in a "Sent" folder of its own beside Sent Items.
        (
            {"host": "smtp.office365.com", "username": "dsppb@example.gov.uk", "auth": "oauth2"},
            None,
        ),
        (
            {"host": "SMTP.Office365.com", "username": "dsppb@example.gov.uk", "auth": "oauth2"},
            None,
        ),
        ({"transport": "graph"}, None),
        (
            {"host": "smtp.example.gov.uk", "username": "dsppb@example.gov.uk", "auth": "oauth2"},
            "Sent",
        ),
    ],
)
def test_no_sent_copy_is_appended_where_exchange_keeps_one(
    smtp: dict[str, str], appended_to: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cspr_mailbot.adapters.mailbox import ImapSource
    from cspr_mailbot.config import parse_config
    from cspr_mailbot.wiring import mail_source, token_source

    monkeypatch.setenv("X_SECRET", "s")
    data = {"imap": IMAP, "smtp": smtp, "oauth2": OAUTH, "security": {"sender_check": "none"}}
    cfg = parse_config({**BASE, **data}, base=Path("/x"))
    assert cfg.folders.sent == "Sent"  # the key's default is unchanged
    source = mail_source(cfg, token_source(cfg))
    assert isinstance(source, ImapSource) and source.sent_folder == appended_to
