"""The app's promises that need no mail server: a real Maildir in, .eml files out, a real store."""

from __future__ import annotations

import logging
import mailbox
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from sites import maildir_site

from cspr_mailbot.adapters.store import Store
from cspr_mailbot.cli import main
from cspr_mailbot.config import load_config
from cspr_mailbot.core import intake
from cspr_mailbot.core.workdays import LONDON
from cspr_mailbot.wiring import build_app

CHILD = "Jamie Example"
BODY = f"""Referrer name: Sam Carter
Child's name: {CHILD}
Date of birth: 12/04/2019
Incident type: Death
Date of incident: 25/11/2026
Summary of incident: Sudden death at home.
Abuse or neglect: Suspected
"""


def london(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON).astimezone(UTC)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return maildir_site(tmp_path, "[intake]\nreply_limit_per_sender = 3\n")


def deliver(site: Path, body: str = BODY, sender: str = "sam.carter@example.police.uk") -> str:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "dsppb@example.gov.uk"
    msg["Subject"] = "Referral"
    msg["Message-ID"] = mid = make_msgid(domain="example.org")
    msg.set_content(body)
    mailbox.Maildir(site / "maildir").add(msg.as_bytes())
    return mid


def run_pass(site: Path, now: datetime):  # type: ignore[no-untyped-def]
    cfg = load_config(site / "config.toml")
    with Store(cfg.store_path) as store:
        app = build_app(cfg, store)
        app.source.connect()
        return app.run_once(now)


def folder(site: Path, name: str) -> int:
    return len(mailbox.Maildir(site / "maildir").get_folder(name))


def outbox(site: Path) -> list[str]:
    return sorted(p.name for p in (site / "store" / "outbox").glob("*.eml"))


def test_one_bad_message_never_stops_the_loop_nor_leaks_into_the_log(
    site: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    deliver(site, sender="first@example.org")
    deliver(site, sender="second@example.org")
    real_intake = intake.intake
    calls: list[str] = []

    def intake_with_a_bug(read, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(read.message.from_addr)
        if read.message.from_addr == "first@example.org":
            raise ValueError(f"a bug that quotes data: {CHILD}")
        return real_intake(read, *args, **kwargs)

    monkeypatch.setattr(intake, "intake", intake_with_a_bug)
    caplog.set_level(logging.DEBUG)
    report = run_pass(site, london(2026, 11, 30))
    assert sorted(calls) == ["first@example.org", "second@example.org"]
    assert (report.failed, report.processed) == (1, 1)
    assert folder(site, "Needs triage") == 1 and folder(site, "Processed") == 1
    assert len(mailbox.Maildir(site / "maildir")) == 0  # nothing left behind
    assert any(name.startswith("error_") for name in outbox(site))  # the coordinators are told
    assert CHILD not in caplog.text and "ValueError" in caplog.text
    # The failed message is in the ledger: a second pass does not try it again or tell anyone twice.
    before = outbox(site)
    assert run_pass(site, london(2026, 11, 30, 11)).processed == 0
    assert outbox(site) == before


def test_the_digest_goes_once_a_working_day_across_restarts(site: Path) -> None:
    deliver(site)
    assert run_pass(site, london(2026, 11, 30, 7, 59)).digest_sent is False  # before 08:00
    assert run_pass(site, london(2026, 11, 30, 8, 0)).digest_sent is True
    assert run_pass(site, london(2026, 11, 30, 8, 1)).digest_sent is False  # a restart: not again
    assert run_pass(site, london(2026, 12, 5, 9, 0)).digest_sent is False  # Saturday
    assert run_pass(site, london(2026, 12, 28, 9, 0)).digest_sent is False  # Boxing Day substitute
    assert (
        run_pass(site, london(2026, 12, 1, 16, 0)).digest_sent is True
    )  # down at 08:00: sent late
    digests = [n for n in outbox(site) if n.startswith("digest_")]
    assert len(digests) == 2


def test_the_reply_limit_breaks_a_loop_with_one_sender(site: Path) -> None:
    for i in range(5):  # five children: the same child again would be filed on its case (SPEC 3)
        deliver(site, BODY.replace(CHILD, f"{CHILD}-{'ABCDE'[i]}son"), sender="loopy@example.org")
    run_pass(site, london(2026, 11, 30))
    acks = [n for n in outbox(site) if n.endswith("_ack.eml")]
    assert len(acks) == 3  # reply_limit_per_sender = 3
    # A case's log says only what was really queued: the held-back replies are not claimed.
    cfg = load_config(site / "config.toml")
    with Store(cfg.store_path) as store:
        claimed = [
            any(e.detail.startswith("acknowledgement to") for e in c.events) for c in store.cases()
        ]
    assert claimed == [True, True, True, False, False]
    assert (
        len([n for n in outbox(site) if n.endswith("_notice_new.eml")]) == 5
    )  # coordinators see all


def test_outside_mail_that_would_name_the_child_is_withheld_and_reported(site: Path) -> None:
    own = site / "templates"
    own.mkdir()
    # A partnership's own acknowledgement that (wrongly) tries to show more than the initials.
    (own / "acknowledgement.txt").write_text(
        "Case {{ reference }} about {{ initials }}: " + CHILD + "\n"
    )
    (own / "acknowledgement.html").write_text("<p>{{ reference }}</p>\n")
    with (site / "config.toml").open("a") as fh:
        fh.write('[templates]\ndir = "templates"\n')
    deliver(site)
    run_pass(site, london(2026, 11, 30))
    names = outbox(site)
    assert not any(n.endswith("_ack.eml") for n in names)
    withheld = (site / "store" / "outbox" / "DSPP-2026-0001_ack_withheld.eml").read_text()
    # The notice goes to the coordinators, never to the outside sender, and does not repeat the name.
    assert "X-Envelope-To: coordinator@example.gov.uk\n" in withheld.replace("\r\n", "\n")
    assert "sam.carter" not in withheld and CHILD not in withheld


def test_cli_case_json_has_the_spec_shape(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    deliver(site)
    run_pass(site, london(2026, 11, 30))
    assert main(["-c", str(site / "config.toml"), "case", "DSPP-2026-0001", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {
        "reference",
        "status",
        "received_at",
        "referral",
        "criteria",
        "deadlines",
        "agencies",
        "events",
    } <= set(out)
    assert out["status"] == "referral_received"
    assert out["criteria"]["result"] == "met"
    # Received Mon 30 Nov; no LA-aware date: SIN 5 and Rapid Review 15 working days from receipt.
    assert out["deadlines"] == {"sin": "2026-12-07", "rapid_review": "2026-12-21", "review": None}
    # The log says what was sent, and to whom.
    sent = [e["detail"] for e in out["events"] if e["kind"] == "message"]
    assert sent == [
        "acknowledgement to sam.carter@example.police.uk",
        "new_referral to the coordinators",
    ]
    # For a person: London time, dates written like Mon 7 Dec 2026, provisional clocks marked.
    assert main(["-c", str(site / "config.toml"), "case", "DSPP-2026-0001"]) == 0
    text = capsys.readouterr().out
    assert "referral received  received Mon 30 Nov 2026 10:00" in text
    assert "SIN due: Mon 7 Dec 2026 (provisional)" in text
    assert "Review due: -" in text
    assert main(["-c", str(site / "config.toml"), "case", "DSPP-2026-9999"]) == 1


def test_a_coordinators_commands_naming_no_case_get_an_error_not_a_case(site: Path) -> None:
    msg = EmailMessage()
    msg["From"] = "coordinator@example.gov.uk"
    msg["To"] = "dsppb@example.gov.uk"
    msg["Subject"] = "RE: [DSPP-2026-0099] New referral"  # a case that does not exist
    msg["Message-ID"] = make_msgid(domain="example.gov.uk")
    msg.set_content("decision: cspr\n")
    mailbox.Maildir(site / "maildir").add(msg.as_bytes())
    report = run_pass(site, london(2026, 11, 30))
    assert report.cases_created == [] and report.outcomes == {"command": 1}
    replies = [n for n in outbox(site) if n.startswith("command-no-case_")]
    assert len(replies) == 1
    assert (
        "X-Envelope-To: coordinator@example.gov.uk"
        in (site / "store" / "outbox" / replies[0]).read_text()
    )
    assert folder(site, "Processed") == 1


def test_uidvalidity_is_remembered_across_restarts(tmp_path: Path, dovecot) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "config.toml").write_text(
        f"""
[partnership]
mailbox = "dsppb@example.gov.uk"
coordinators = ["coordinator@example.gov.uk"]
[imap]
host = "127.0.0.1"
port = {dovecot.port}
security = "none"
username = "{dovecot.user}"
password = "{dovecot.password}"
[security]
sender_check = "none"
"""
    )
    run_pass(tmp_path, london(2026, 11, 30))
    cfg = load_config(tmp_path / "config.toml")
    with Store(cfg.store_path) as store:
        assert (
            store.meta_get("uidvalidity")
            == dovecot.client().folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"]
        )


def test_a_reply_refused_for_good_is_reported_to_the_coordinators(
    site: Path, make_smtp_server
) -> None:  # type: ignore[no-untyped-def]
    smtp = make_smtp_server(refuse=("gone@example.org",))
    with (site / "config.toml").open("a") as fh:
        fh.write(f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\n')
    deliver(site, sender="gone@example.org")
    report = run_pass(site, london(2026, 11, 30))
    assert report.undeliverable == 1
    received = {(m.rcpt_tos, m.message["X-CSPR-Mailbot"]) for m in smtp.messages}
    assert (("coordinator@example.gov.uk",), "undeliverable_notice") in received
    assert not any("gone@example.org" in m.rcpt_tos for m in smtp.messages)
    # Recorded on the case, and never retried nor reported twice.
    again = run_pass(site, london(2026, 11, 30, 11))
    assert again.send_failures == 0 and again.sent == 0
    cfg = load_config(site / "config.toml")
    with Store(cfg.store_path) as store:
        case = store.get_case("DSPP-2026-0001")
        assert case is not None
        events = [e.kind for e in case.events]
    assert "send_failed" in events


def test_a_copy_is_filed_but_another_message_reusing_its_message_id_is_not_lost(site: Path) -> None:
    def mail(subject: str, date: str, extra: str = "") -> bytes:
        return (
            f"{extra}From: Sam Carter <sam.carter@example.police.uk>\r\nTo: dsppb@example.gov.uk\r\n"
            f"Subject: {subject}\r\nDate: {date}\r\nMessage-ID: <same@mailer.example>\r\n\r\n"
            + BODY.replace("\n", "\r\n")
        ).encode()

    box = mailbox.Maildir(site / "maildir")
    box.add(mail("Referral", "Mon, 30 Nov 2026 09:00:00 +0000"))
    run_pass(site, london(2026, 11, 30))
    # The same message again by another route: an extra Received header. A copy: no new case.
    box.add(mail("Referral", "Mon, 30 Nov 2026 09:00:00 +0000", "Received: from relay.example\r\n"))
    copy = run_pass(site, london(2026, 11, 30, 11))
    assert (copy.duplicates, copy.cases_created) == (1, [])
    # A different referral (another child) from a mailer that reuses its Message-ID: a case of its own.
    box.add(
        mail("Second referral", "Tue, 01 Dec 2026 09:00:00 +0000").replace(
            CHILD.encode(), b"Robin Other"
        )
    )
    other = run_pass(site, london(2026, 12, 1))
    assert (other.duplicates, other.cases_created) == (0, ["DSPP-2026-0002"])
    assert len(box) == 0 and folder(site, "Processed") == 3


def test_tls_both_ways_from_the_config(
    tmp_path: Path, dovecot, make_smtp_server, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """IMAP over SSL and SMTP with STARTTLS and AUTH, trusting the site's own CA via cafile."""
    smtp = make_smtp_server(
        auth=("dsppb", "smtp-pw"), starttls=True, require_starttls=True, cert=dovecot.cert
    )
    monkeypatch.setenv("TEST_IMAP_PW", dovecot.password)
    monkeypatch.setenv("TEST_SMTP_PW", "smtp-pw")
    (tmp_path / "config.toml").write_text(
        f"""
[partnership]
mailbox = "dsppb@example.gov.uk"
coordinators = ["coordinator@example.gov.uk"]
[imap]
host = "localhost"
port = {dovecot.ssl_port}
security = "ssl"
username = "{dovecot.user}"
password_env = "TEST_IMAP_PW"
cafile = "{dovecot.cafile}"
[security]
sender_check = "none"
[smtp]
host = "localhost"
port = {smtp.port}
security = "starttls"
username = "dsppb"
password_env = "TEST_SMTP_PW"
cafile = "{dovecot.cafile}"
"""
    )
    msg = EmailMessage()
    msg["From"] = "sam.carter@example.police.uk"
    msg["To"] = "dsppb@example.gov.uk"
    msg["Subject"] = "Referral"
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content(BODY)
    dovecot.append(msg.as_bytes())
    report = run_pass(tmp_path, london(2026, 11, 30))
    assert report.cases_created == ["DSPP-2026-0001"] and report.send_failures == 0
    logins = {m.login for m in smtp.messages}
    assert logins == {"dsppb"} and len(smtp.messages) >= 2
    assert dovecot.folder_count("Processed") == 1


def test_a_recipient_refused_while_the_others_take_it_is_reported(
    site: Path, make_smtp_server
) -> None:  # type: ignore[no-untyped-def]
    """An after-due chaser goes to the agency, copied to the coordinators; the agency's address
    is refused, the coordinators' taken: the message counts as sent, and the refusal is told."""
    from cspr_mailbot.app import PassReport
    from cspr_mailbot.core.models import OutboundMessage

    smtp = make_smtp_server(refuse=("gone@agency.example.org",))
    with (site / "config.toml").open("a") as fh:
        fh.write(f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\n')
    cfg = load_config(site / "config.toml")
    now = london(2026, 12, 8, 9)
    with Store(cfg.store_path) as store:
        app = build_app(cfg, store, with_source=False)
        chaser = OutboundMessage(
            key="DSPP-2026-0001:scoping:agency:after1",
            template="scoping_chaser",
            to=("gone@agency.example.org",),
            cc=("coordinator@example.gov.uk",),
            subject="Initial Scoping return: reminder",
            context={
                "reference": "DSPP-2026-0001",
                "initials": "J.E.",
                "partnership": "P",
                "phone": "",
                "mailbox": "dsppb@example.gov.uk",
                "agency": "Agency",
                "due": "Mon 7 Dec 2026",
                "overdue": True,
                "label": "",
            },
            case_ref="DSPP-2026-0001",
        )
        with store.transaction() as txn:
            app._queue(txn, (chaser,), None, now)
        report = PassReport()
        app.flush_outbox(now, report)
        assert (report.sent, report.undeliverable) == (1, 1)  # the chaser, partly refused
        record = store.outbox_get(chaser.key)
        assert record is not None and record.sent_at is not None  # sent: not retried
        later = PassReport()
        app.flush_outbox(now, later)  # the notice queued meanwhile goes with the next flush
        assert (later.sent, later.undeliverable) == (1, 0)
        assert store.outbox_pending() == []
    kinds = [(m.rcpt_tos, m.message["X-CSPR-Mailbot"]) for m in smtp.messages]
    assert kinds == [
        (("coordinator@example.gov.uk",), "scoping_chaser"),
        (("coordinator@example.gov.uk",), "undeliverable_notice"),
    ]
    notice = smtp.messages[1].message.get_body(("plain",)).get_content()
    assert "gone@agency.example.org" in notice


def test_the_documents_fill_templates_by_the_apps_own_labels(site: Path) -> None:
    """The config's synonyms are read once a start, and the .docx builder labels by the same."""
    cfg = load_config(site / "config.toml")
    with Store(cfg.store_path) as store:
        app = build_app(cfg, store)
        assert app.renderer.documents is not None
        assert app.renderer.documents.labels is app.settings.labels
