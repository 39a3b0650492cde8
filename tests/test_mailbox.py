"""The mail sources against real mailboxes: ImapSource on a real Dovecot, MaildirSource on disk."""

from __future__ import annotations

import logging
import mailbox
import smtplib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import servers
from servers import DovecotServer, SmtpServer

from cspr_mailbot.adapters.mailbox import ImapSource, MaildirSource, MailSource
from cspr_mailbot.errors import MailSourceError


def message(n: int, subject: str = "Referral", sender: str = "jo.bloggs@example.org") -> bytes:
    return (
        f"From: Jo Bloggs <{sender}>\r\n"
        f"To: dsppb@example.gov.uk\r\n"
        f"Subject: {subject} {n}\r\n"
        f"Message-ID: <msg-{n}@example.org>\r\n"
        f"\r\n"
        f"Body of message {n}.\r\n"
    ).encode()


@dataclass
class Box:
    """One kind of mailbox: how to open a source on it and how others see and change it."""

    kind: str
    make: Callable[..., Any]  # (**options) -> a connected source
    deliver: Callable[[bytes], None]  # someone else puts a message in the inbox
    contents: Callable[[str], list[tuple[bool, bytes]]]  # folder -> [(seen, raw)], oldest first


def _maildir_contents(root: Path, folder: str) -> list[tuple[bool, bytes]]:
    directory = root if folder == "INBOX" else root / f".{folder}"
    files = (
        [p for sub in ("new", "cur") for p in (directory / sub).glob("*")]
        if directory.exists()
        else []
    )
    files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [("S" in p.name.partition(":2,")[2], p.read_bytes()) for p in files]


@pytest.fixture(params=["imap", "maildir"])
def box(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Box]:
    opened: list[Any] = []

    if request.param == "imap":
        dovecot: DovecotServer = request.getfixturevalue("dovecot")

        def make_imap(**options: Any) -> ImapSource:
            options.setdefault("poll_seconds", 0.2)
            source = ImapSource(
                dovecot.host, dovecot.port, "none", dovecot.user, dovecot.password, **options
            )
            source.connect()
            opened.append(source)
            return source

        def deliver_imap(raw: bytes) -> None:
            dovecot.append(raw)

        def imap_contents(folder: str) -> list[tuple[bool, bytes]]:
            return [(b"\\Seen" in flags, raw) for _uid, flags, raw in dovecot.messages(folder)]

        yield Box("imap", make_imap, deliver_imap, imap_contents)
    else:
        root = tmp_path / "Maildir"

        def make_maildir(**options: Any) -> MaildirSource:
            options.setdefault("poll_seconds", 0.1)
            source = MaildirSource(root, **options)
            source.connect()
            opened.append(source)
            return source

        def deliver_maildir(raw: bytes) -> None:
            mailbox.Maildir(root, create=True).add(raw)
            time.sleep(0.002)  # distinct delivery times, as real deliveries have

        yield Box("maildir", make_maildir, deliver_maildir, lambda f: _maildir_contents(root, f))
    for source in opened:
        source.close()


def later(seconds: float, action: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# -- behaviour both sources share ---------------------------------------------------------------


def test_fetch_new_returns_every_message_oldest_first_and_leaves_them_unread(box: Box) -> None:
    source = box.make()
    for n in range(1, 4):
        box.deliver(message(n))
    fetched = list(source.fetch_new())
    assert [m.raw for m in fetched] == [message(1), message(2), message(3)]
    assert len({m.uid for m in fetched}) == 3
    assert all(isinstance(m.uid, str) and m.uid for m in fetched)
    assert box.contents("INBOX") == [(False, message(n)) for n in (1, 2, 3)]  # not \Seen
    assert list(source.fetch_new()) == fetched  # still there until moved


def test_fetch_new_on_an_empty_inbox(box: Box) -> None:
    assert list(box.make().fetch_new()) == []


def test_move_to_processed_and_to_a_folder_with_a_space(box: Box) -> None:
    source = box.make()
    for n in range(1, 4):
        box.deliver(message(n))
    first, second, third = source.fetch_new()
    source.move(first.uid, "Processed")
    source.move(third.uid, "Needs triage")
    assert [raw for _seen, raw in box.contents("Processed")] == [message(1)]
    assert [raw for _seen, raw in box.contents("Needs triage")] == [message(3)]
    assert [raw for _seen, raw in box.contents("INBOX")] == [message(2)]
    assert [m.uid for m in source.fetch_new()] == [second.uid]


def test_move_is_idempotent_when_the_message_is_already_gone(box: Box) -> None:
    source = box.make()
    box.deliver(message(1))
    (only,) = source.fetch_new()
    source.move(only.uid, "Processed")
    source.move(only.uid, "Processed")  # a retry after a crash: not an error, no second copy
    source.move(only.uid, "Ignored")
    assert [raw for _seen, raw in box.contents("Processed")] == [message(1)]
    assert box.contents("Ignored") == []
    assert box.contents("INBOX") == []


def test_messages_moved_away_during_a_fetch_are_skipped(box: Box) -> None:
    source = box.make()
    if isinstance(source, ImapSource):
        source.batch_size = 1  # one FETCH per message, so message 2 is not read with message 1
    for n in range(1, 4):
        box.deliver(message(n))
    pending = source.fetch_new()
    first = next(pending)
    listing = [m.uid for m in box.make().fetch_new()]
    box.make().move(listing[1], "Processed")  # another process takes message 2
    assert [m.raw for m in pending] == [message(3)]
    assert first.raw == message(1)


def test_append_sent_keeps_a_read_copy(box: Box) -> None:
    source = box.make()
    source.append_sent(message(7, "Acknowledgement"))
    assert box.contents("Sent") == [(True, message(7, "Acknowledgement"))]
    assert box.contents("INBOX") == []


def test_append_sent_many_keeps_read_copies_in_order(box: Box) -> None:
    source = box.make()
    copies = [message(n, f"Reply {n}") for n in (1, 2, 3)]
    source.append_sent_many(copies)  # one MULTIAPPEND where the server has it (Dovecot does)
    assert box.contents("Sent") == [(True, raw) for raw in copies]
    source.append_sent_many([])
    assert len(box.contents("Sent")) == 3


def imap_source(dovecot: DovecotServer) -> ImapSource:
    source = ImapSource(dovecot.host, dovecot.port, "none", dovecot.user, dovecot.password)
    source.connect()
    return source


def test_copies_appended_meanwhile_are_in_before_the_connections_next_command(
    dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``append_sent_many(wait=False)`` (issue 15): the copies go from a thread of their own while
    the caller goes on; the next command on the connection (a fetch, the logout) waits for them, so
    two commands never share the wire, and the copies are in, in order."""
    from imapclient import IMAPClient

    release = threading.Event()
    events: list[str] = []
    real = IMAPClient.multiappend

    def held(self: IMAPClient, folder: str, msgs: Any) -> Any:
        events.append(f"append from {threading.current_thread().name}")
        release.wait(10)
        result = real(self, folder, msgs)
        events.append("appended")
        return result

    monkeypatch.setattr(IMAPClient, "multiappend", held)
    source = imap_source(dovecot)
    dovecot.append(message(1), "INBOX")
    copies = [message(n, f"Reply {n}") for n in (2, 3, 4)]
    source.append_sent_many(copies, wait=False)
    events.append("returned")  # while the append is held: the caller was not kept waiting
    threading.Timer(0.2, release.set).start()
    assert [m.raw for m in source.fetch_new()] == [message(1)]
    events.append("fetched")
    assert "append from sent-copies" in events
    assert events.index("returned") < events.index("appended") < events.index("fetched")
    assert dovecot.list_folder("Sent") == copies

    more = [message(n, f"Reply {n}") for n in (5, 6)]
    source.append_sent_many(more, wait=False)
    source.close()  # the logout waits for them too
    assert dovecot.list_folder("Sent") == copies + more


def test_a_copy_that_fails_meanwhile_is_logged_and_the_next_command_finds_the_connection_gone(
    dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from imapclient import IMAPClient

    real = IMAPClient.multiappend

    def cut(self: IMAPClient, folder: str, msgs: Any) -> Any:
        self.shutdown()  # the connection is lost as the copies go
        return real(self, folder, msgs)

    monkeypatch.setattr(IMAPClient, "multiappend", cut)
    source = imap_source(dovecot)
    source.append_sent_many([message(2), message(3)], wait=False)
    with pytest.raises(MailSourceError) as info:
        list(source.fetch_new())
    assert info.value.retryable  # as after any lost connection: the daemon connects again
    assert "2 message(s) sent, but no copy in the Sent folder" in caplog.text
    monkeypatch.setattr(IMAPClient, "multiappend", real)
    assert source.reconnect(max_attempts=1)
    source.append_sent_many([message(4)], wait=False)
    source.close()
    assert dovecot.list_folder("Sent") == [message(4)]


def test_append_sent_does_nothing_without_a_sent_folder(box: Box) -> None:
    source = box.make(sent_folder="")
    source.append_sent(message(7))
    assert box.contents("Sent") == []


def test_wait_wakes_when_mail_arrives(box: Box) -> None:
    source = box.make()
    assert list(source.fetch_new()) == []
    later(0.3, lambda: box.deliver(message(1)))
    began = time.monotonic()
    assert source.wait(10, threading.Event()) is True
    assert time.monotonic() - began < 2.5
    assert [m.raw for m in source.fetch_new()] == [message(1)]


def test_wait_times_out_without_mail(box: Box) -> None:
    source = box.make()
    list(source.fetch_new())
    began = time.monotonic()
    assert source.wait(0.7, threading.Event()) is False
    assert 0.6 < time.monotonic() - began < 2.0


def test_wait_ignores_messages_that_were_already_fetched(box: Box) -> None:
    source = box.make()
    box.deliver(message(1))
    assert len(list(source.fetch_new())) == 1  # still in the inbox (say the move failed)
    assert source.wait(0.5, threading.Event()) is False


def test_stop_event_ends_wait_quickly(box: Box) -> None:
    source = box.make()
    list(source.fetch_new())
    stop = threading.Event()
    later(0.2, stop.set)
    began = time.monotonic()
    assert source.wait(30, stop) is False
    assert time.monotonic() - began < 1.5


def test_wait_returns_at_once_for_mail_that_came_after_the_last_fetch(box: Box) -> None:
    source = box.make()
    list(source.fetch_new())
    box.deliver(message(1))  # arrived while the app was busy, before it started waiting
    began = time.monotonic()
    assert source.wait(30, threading.Event()) is True
    assert time.monotonic() - began < 1.0


def test_wait_before_any_fetch_says_look(box: Box) -> None:
    assert box.make().wait(30, threading.Event()) is True


def test_a_backlog_arrives_complete_and_in_order(box: Box) -> None:
    source = box.make()
    if isinstance(source, ImapSource):
        source.batch_size = 7  # several FETCH commands
    for n in range(40):
        box.deliver(message(n))
    assert [m.raw for m in source.fetch_new()] == [message(n) for n in range(40)]


def test_logs_name_uids_not_subjects_or_addresses(
    box: Box, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cspr_mailbot")
    source = box.make()
    box.deliver(message(1, subject="Concern about Amelia", sender="amelia.mum@example.org"))
    (only,) = source.fetch_new()
    source.move(only.uid, "Needs triage")
    source.append_sent(message(2, subject="Concern about Amelia"))
    source.wait(0.2, threading.Event())
    assert only.uid in caplog.text
    assert "Amelia" not in caplog.text
    assert "example.org" not in caplog.text
    assert "dsppb" not in caplog.text


def test_sources_satisfy_the_protocol(box: Box) -> None:
    source: MailSource = box.make()
    assert source.ensure_connected() is True


# -- IMAP only ----------------------------------------------------------------------------------


def imap(dovecot: DovecotServer, **options: Any) -> ImapSource:
    options.setdefault("security", "none")
    options.setdefault("backoff_initial", 0.05)
    options.setdefault("backoff_max", 0.2)
    security = options.pop("security")
    port = dovecot.ssl_port if security == "ssl" else dovecot.port
    return ImapSource(dovecot.host, port, security, dovecot.user, dovecot.password, **options)


def test_move_without_the_move_command_uses_copy_and_uid_expunge(dovecot: DovecotServer) -> None:
    source = imap(dovecot, use_move=False)
    source.connect()
    for n in range(1, 4):
        dovecot.append(message(n))
    dovecot.append(message(9), flags=(b"\\Deleted",))  # someone else's, flagged but not expunged
    first, second, third = source.fetch_new()  # \Deleted messages are not handed over
    source.move(second.uid, "Needs triage")
    source.move(second.uid, "Needs triage")  # idempotent here too
    assert dovecot.list_folder("Needs triage") == [message(2)]
    assert [(flags, raw) for _uid, flags, raw in dovecot.messages("INBOX")] == [
        ((), message(1)),
        ((), message(3)),
        ((b"\\Deleted",), message(9)),  # UID EXPUNGE left the other \Deleted message alone
    ]
    source.close()


def test_ssl_with_the_fixture_ca(dovecot: DovecotServer) -> None:
    source = imap(dovecot, security="ssl", ssl_context=dovecot.cert.client_context())
    source.connect()
    dovecot.append(message(1))
    assert [m.raw for m in source.fetch_new()] == [message(1)]
    source.close()


def test_starttls_with_the_fixture_ca(dovecot: DovecotServer) -> None:
    source = imap(dovecot, security="starttls", ssl_context=dovecot.cert.client_context())
    source.connect()
    source.append_sent(message(1))
    assert dovecot.folder_count("Sent") == 1
    source.close()


def test_an_untrusted_certificate_is_not_retried(dovecot: DovecotServer) -> None:
    source = imap(dovecot, security="ssl")  # the system CAs do not know the fixture's certificate
    with pytest.raises(MailSourceError) as caught:
        source.ensure_connected(threading.Event())
    assert caught.value.retryable is False
    assert "certificate" in str(caught.value)


def test_a_refused_login_is_not_retried(dovecot: DovecotServer) -> None:
    source = ImapSource(dovecot.host, dovecot.port, "none", dovecot.user, "wrong password")
    with pytest.raises(MailSourceError) as caught:
        source.ensure_connected(threading.Event())
    assert caught.value.retryable is False
    assert not source.connected


def test_uidvalidity_is_exposed(dovecot: DovecotServer) -> None:
    source = imap(dovecot)
    assert source.uidvalidity is None
    source.connect()
    with dovecot.session() as other:
        assert source.uidvalidity == other.select_folder("INBOX")[b"UIDVALIDITY"]
    source.close()


def test_a_changed_uidvalidity_is_logged_and_stale_uids_are_not_moved(
    dovecot: DovecotServer, caplog: pytest.LogCaptureFixture
) -> None:
    dovecot.append(message(1), folder="Intake")
    source = imap(dovecot, inbox="Intake")
    source.connect()
    (stale,) = source.fetch_new()
    before = source.uidvalidity
    with dovecot.session() as other:  # the folder is rebuilt behind our back
        other.delete_folder("Intake")
        other.create_folder("Intake")
    dovecot.append(message(2), folder="Intake")
    assert source.reconnect(threading.Event()) is True
    assert source.uidvalidity != before
    assert "UIDVALIDITY" in caplog.text
    with pytest.raises(MailSourceError) as caught:
        source.move(stale.uid, "Processed")
    assert caught.value.retryable is True
    assert dovecot.list_folder("Intake") == [message(2)]
    (fresh,) = source.fetch_new()
    source.move(fresh.uid, "Processed")
    assert dovecot.list_folder("Processed") == [message(2)]
    source.close()


def test_a_server_restart_is_reported_as_retryable_and_reconnect_recovers(
    dovecot: DovecotServer,
) -> None:
    source = imap(dovecot)
    source.connect()
    dovecot.append(message(1))
    (first,) = source.fetch_new()
    uidvalidity = source.uidvalidity
    dovecot.restart()
    with pytest.raises(MailSourceError) as caught:
        source.move(first.uid, "Processed")
    assert caught.value.retryable is True
    assert not source.connected
    assert source.reconnect(threading.Event()) is True
    assert source.uidvalidity == uidvalidity
    source.move(first.uid, "Processed")  # the UID is still good: same UIDVALIDITY
    assert dovecot.list_folder("Processed") == [message(1)]
    source.close()


def test_a_restart_during_idle_ends_wait_with_a_retryable_error(dovecot: DovecotServer) -> None:
    source = imap(dovecot)
    source.connect()
    list(source.fetch_new())
    later(0.3, dovecot.restart)
    began = time.monotonic()
    with pytest.raises(MailSourceError) as caught:
        source.wait(20, threading.Event())
    assert caught.value.retryable is True
    assert time.monotonic() - began < 5
    assert source.ensure_connected(threading.Event()) is True
    list(source.fetch_new())
    source.close()


def test_a_crash_during_idle_without_bye_ends_wait_promptly(dovecot: DovecotServer) -> None:
    source = imap(dovecot)
    source.connect()
    list(source.fetch_new())
    later(0.3, dovecot.crash)  # no BYE: the socket just reaches end-of-file
    began = time.monotonic()
    with pytest.raises(MailSourceError) as caught:
        source.wait(20, threading.Event())
    assert caught.value.retryable is True
    assert time.monotonic() - began < 3
    dovecot.start()
    assert source.ensure_connected(threading.Event()) is True
    source.close()


def test_reconnect_backs_off_until_the_server_is_back(dovecot: DovecotServer) -> None:
    source = imap(dovecot)
    dovecot.stop()
    assert source.ensure_connected(threading.Event(), max_attempts=3) is False
    later(0.5, dovecot.start)
    assert source.ensure_connected(threading.Event()) is True
    source.close()


def test_stop_ends_the_backoff(dovecot: DovecotServer) -> None:
    source = imap(dovecot, backoff_initial=5.0, backoff_max=60.0)
    dovecot.stop()
    stop = threading.Event()
    later(0.3, stop.set)
    began = time.monotonic()
    assert source.ensure_connected(stop) is False
    assert time.monotonic() - began < 2
    dovecot.start()


def test_operations_without_a_connection_are_retryable(dovecot: DovecotServer) -> None:
    source = imap(dovecot)
    with pytest.raises(MailSourceError) as caught:
        source.fetch_new()
    assert caught.value.retryable is True


def test_polling_when_idle_is_off(dovecot: DovecotServer) -> None:
    source = imap(dovecot, idle=False, poll_seconds=0.2)
    source.connect()
    list(source.fetch_new())
    assert source.wait(0.5, threading.Event()) is False
    later(0.3, lambda: dovecot.append(message(1)))
    began = time.monotonic()
    assert source.wait(10, threading.Event()) is True
    assert time.monotonic() - began < 2
    source.close()


def test_idle_is_reissued_within_a_long_wait(dovecot: DovecotServer) -> None:
    source = imap(dovecot)
    source.idle_refresh = 0.3  # stands in for the 10 minutes
    source.connect()
    list(source.fetch_new())
    client = source._client
    assert client is not None
    issued: list[float] = []
    real_idle = client.idle

    def counting_idle() -> Any:  # a spy: the real IDLE still goes to the real server
        issued.append(time.monotonic())
        return real_idle()

    client.idle = counting_idle  # type: ignore[method-assign]
    later(1.0, lambda: dovecot.append(message(1)))  # arrives during the third or fourth IDLE
    assert source.wait(10, threading.Event()) is True
    assert len(issued) >= 3
    assert source.wait(0.1, threading.Event()) is True  # not fetched yet
    source.close()


def test_mail_delivered_over_lmtp_is_fetched(dovecot: DovecotServer) -> None:
    source = imap(dovecot)
    source.connect()
    dovecot.deliver(message(1))
    (only,) = source.fetch_new()
    assert only.raw.endswith(message(1))
    assert b"Delivered-To: dsppb@example.gov.uk" in only.raw
    source.close()


# -- Maildir only -------------------------------------------------------------------------------


def test_maildir_folders_are_maildir_plus_plus(tmp_path: Path) -> None:
    root = tmp_path / "mail"
    source = MaildirSource(root)
    source.connect()
    mailbox.Maildir(root).add(message(1))
    (only,) = source.fetch_new()
    source.move(only.uid, "Needs triage")
    folder = root / ".Needs triage"
    assert (folder / "maildirfolder").exists()
    assert [p.read_bytes() for p in (folder / "new").iterdir()] == [message(1)]
    assert mailbox.Maildir(root).list_folders() == ["Needs triage"]


def test_maildir_inbox_can_be_a_subfolder(tmp_path: Path) -> None:
    root = tmp_path / "mail"
    source = MaildirSource(root, inbox="Intake")
    source.connect()
    mailbox.Maildir(root).get_folder("Intake").add(message(1))
    mailbox.Maildir(root).add(message(2))  # the root is not the inbox now
    (only,) = source.fetch_new()
    assert only.raw == message(1)


def test_maildir_refuses_folder_names_that_leave_the_maildir(tmp_path: Path) -> None:
    source = MaildirSource(tmp_path / "mail")
    source.connect()
    mailbox.Maildir(tmp_path / "mail").add(message(1))
    (only,) = source.fetch_new()
    with pytest.raises(MailSourceError) as caught:
        source.move(only.uid, "../../elsewhere")
    assert caught.value.retryable is False
    assert not (tmp_path / "elsewhere").exists()


# -- the test servers themselves (other test files rely on them) --------------------------------


def test_smtp_server_keeps_what_it_receives(smtp_server: SmtpServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.sendmail("dsppb@example.gov.uk", ["a@example.org", "b@example.org"], message(1))
    (received,) = smtp_server.wait_for(1)
    assert received.mail_from == "dsppb@example.gov.uk"
    assert received.rcpt_tos == ("a@example.org", "b@example.org")
    assert received.raw == message(1)
    assert received.message["Subject"] == "Referral 1"


def test_smtp_server_down_then_up(smtp_server: SmtpServer) -> None:
    smtp_server.stop()
    with pytest.raises(OSError):
        smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=2)
    smtp_server.start()
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.sendmail("dsppb@example.gov.uk", ["a@example.org"], message(1))
    assert len(smtp_server.wait_for(1)) == 1


def test_smtp_server_with_starttls_and_auth(make_smtp_server: Callable[..., SmtpServer]) -> None:
    server = make_smtp_server(auth=("bot", "pw"), starttls=True, require_starttls=True)
    assert server.cert is not None
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.starttls(context=server.cert.client_context())
        with pytest.raises(smtplib.SMTPAuthenticationError):  # refused, not hung
            client.login("bot", "wrong")
        client.login("bot", "pw")
        client.sendmail("dsppb@example.gov.uk", ["a@example.org"], message(1))
    (received,) = server.wait_for(1)
    assert received.login == "bot"


def test_smtp_server_can_forward_into_dovecot(
    dovecot: DovecotServer, make_smtp_server: Callable[..., SmtpServer]
) -> None:
    server = make_smtp_server(forward=True)
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.sendmail("x@example.org", [dovecot.user], message(1))
        client.sendmail(dovecot.user, ["referrer@example.org"], message(2))
    server.wait_for(2)
    assert [raw.endswith(message(1)) for raw in dovecot.list_folder()] == [True]
    assert [raw.endswith(message(2)) for raw in dovecot.list_folder(user=dovecot.other_user)] == [
        True
    ]


def test_dovecot_fixture_starts_empty_and_leaves_no_processes_behind(
    dovecot: DovecotServer,
) -> None:
    assert dovecot.folders() == ["INBOX"]
    assert dovecot.folder_count() == 0
    assert dovecot.startup_seconds is not None and dovecot.startup_seconds < 5
    group = dovecot.pid_group
    assert group is not None
    dovecot.stop()
    assert not servers._group_alive(group)
    dovecot.start()
