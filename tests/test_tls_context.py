"""The TLS context is made only for a connection that uses TLS (issue 15: the fixed cost of a run).

Loading the system's CA certificates (``ssl.create_default_context``) takes tens of milliseconds.
A plain (``none``) IMAP or SMTP connection must not pay it; ``ssl`` and ``starttls`` still get the
given context, or the system's defaults when none is given, against real servers.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import pytest
from servers import DovecotServer, SmtpServer

from cspr_mailbot.adapters.mailbox import ImapSource
from cspr_mailbot.adapters.smtp import SmtpSender

RAW = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\n\r\nhello\r\n"


class Counting:
    """Stands in for ``ssl.create_default_context``: counts calls, hands out a given context."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.context = context
        self.calls = 0

    def __call__(self, *args: object, **kwargs: object) -> ssl.SSLContext:
        self.calls += 1
        if self.context is None:
            raise AssertionError("a TLS context was made for a plain connection")
        return self.context


def test_a_plain_imap_connection_makes_no_tls_context(
    dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = Counting()
    monkeypatch.setattr(ssl, "create_default_context", made)
    source = ImapSource(dovecot.host, dovecot.port, "none", dovecot.user, dovecot.password)
    source.connect()
    dovecot.append(RAW)
    assert [m.raw for m in source.fetch_new()] == [RAW]
    source.close()
    assert made.calls == 0


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_imap_tls_without_a_given_context_uses_the_system_defaults(
    dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch, security: str
) -> None:
    made = Counting(dovecot.cert.client_context())  # made before the stand-in is in place
    monkeypatch.setattr(ssl, "create_default_context", made)
    port = dovecot.ssl_port if security == "ssl" else dovecot.port
    source = ImapSource(dovecot.host, port, security, dovecot.user, dovecot.password)  # type: ignore[arg-type]
    source.connect()
    source.append_sent(RAW)
    source.close()
    assert dovecot.folder_count("Sent") == 1
    assert made.calls == 1


def test_a_plain_smtp_sender_makes_no_tls_context(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = Counting()
    monkeypatch.setattr(ssl, "create_default_context", made)
    sender = SmtpSender(smtp_server.host, smtp_server.port, "none")
    assert sender.send("dsppb@example.gov.uk", ["a@example.org"], RAW, "k1") == []
    sender.close()
    assert len(smtp_server.wait_for(1)) == 1
    assert made.calls == 0


def test_smtp_starttls_makes_the_default_context_once_for_the_senders_life(
    make_smtp_server: Callable[..., SmtpServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_smtp_server(starttls=True, require_starttls=True)
    assert server.cert is not None
    made = Counting(server.cert.client_context())
    monkeypatch.setattr(ssl, "create_default_context", made)
    sender = SmtpSender(server.host, server.port, "starttls")
    assert made.calls == 0  # not with the sender: a run that sends nothing never makes it
    sender.send("dsppb@example.gov.uk", ["a@example.org"], RAW, "k1")
    sender.close()
    sender.send("dsppb@example.gov.uk", ["b@example.org"], RAW, "k2")  # a second connection
    sender.close()
    assert len(server.wait_for(2)) == 2
    assert made.calls == 1


def test_smtp_starttls_without_a_trusted_certificate_is_refused(
    make_smtp_server: Callable[..., SmtpServer],
) -> None:
    """The lazily made context is the system's, which does not trust the fixture's certificate."""
    from cspr_mailbot.errors import SendError

    server = make_smtp_server(starttls=True, require_starttls=True)
    sender = SmtpSender(server.host, server.port, "starttls")
    with pytest.raises(SendError, match="certificate"):
        sender.send("dsppb@example.gov.uk", ["a@example.org"], RAW, "k1")
    sender.close()
