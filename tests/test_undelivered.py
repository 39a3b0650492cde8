"""Mail refused for good is never lost (SPEC 5, 6, 8; issue 10 finding 5).

On main, with the relay answering 550 (at RCPT or at DATA) for a while, the acknowledgement, the
new-referral notice and the undeliverable notice meant to report it were all marked failed for good;
after the relay recovered nothing was retried, the digest said nothing, and nothing could resend it.

Here a real aiosmtpd relay refuses, then recovers: the coordinators' own mail is retried until it
goes, what was refused for outside shows as ``undelivered`` in ``case --json``, in ``case`` and in
the digest, and ``cspr-mailbot resend`` or the coordinators' ``resend`` command sends it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e import (
    COORDINATOR,
    INBOX,
    PASSWORD_ENV,
    REFERRER,
    by_template,
    make_bot,
    plain_mail,
    referral_mail,
    sent_to,
    template_of,
)
from servers import DovecotServer, Received, SmtpServer

REF = "DSPP-2026-0001"


class FlakyRelay(SmtpServer):
    """The test relay, but while ``refusing_data`` it answers every DATA with a 554."""

    refusing_data = False

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        relay = self

        class Handler:
            async def handle_RCPT(
                self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
            ) -> str:
                if address.lower() in relay.refuse:
                    return "550 5.1.1 no such user here"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if relay.refusing_data:
                    return "554 5.7.1 message refused by policy"
                raw = bytes(envelope.original_content or envelope.content)
                relay._record(Received(envelope.mail_from, tuple(envelope.rcpt_tos), raw))
                return "250 OK"

        if self._controller is None:
            self._controller = Controller(Handler(), hostname=self.host, port=self.port)
            self._controller.start()


@pytest.fixture
def relay() -> Any:
    server = FlakyRelay()
    server.start()
    yield server
    server.stop()


def templates(received: list[Received]) -> list[str]:
    return sorted(template_of(r) for r in received)


def test_a_relay_refusing_at_rcpt_then_recovering_loses_nothing_and_resend_sends_it(
    tmp_path: Path, dovecot: DovecotServer, relay: FlakyRelay
) -> None:
    bot = make_bot(tmp_path, dovecot, relay)
    relay.refuse = {REFERRER, COORDINATOR}  # the relay refuses everyone, for a while
    dovecot.append(referral_mail())
    out = bot.run_once(expect=1)  # 1: the coordinators' notices wait to be retried
    assert "new cases 1" in out.stdout
    assert relay.messages == []
    assert "configuration" not in out.stdout
    assert "coordinators' mail was refused for good" in out.stderr  # logged at ERROR
    assert " ERROR " in next(
        line for line in out.stderr.splitlines() if "coordinators' mail was refused" in line
    )

    case = bot.case(REF)
    (undelivered,) = case["undelivered"]
    assert undelivered["to"] == [REFERRER]
    assert f"[{REF}]" in undelivered["subject"]
    assert undelivered["refused_at"].startswith("2026-11-30T10:00")
    assert "550" in undelivered["reason"]
    assert "Jamie" not in str(undelivered)  # the subject never names the child
    text = bot.cli("case", REF).stdout
    assert f"UNDELIVERED {undelivered['subject']} to {REFERRER}" in text
    assert f"cspr-mailbot resend {REF}" in text
    assert [c["undelivered"] for c in bot.cases()] == [case["undelivered"]]

    # Still refusing: the next pass tries the coordinators' mail again, never gives it up.
    bot.run_once("2026-11-30T10:05", expect=1)
    assert relay.messages == []

    # The relay recovers: the coordinators get what was kept for them, once each; the referrer's
    # acknowledgement waits for a person (resend), and the digest says so.
    relay.refuse = set()
    bot.run_once("2026-11-30T10:10")
    got = relay.messages
    assert templates(got) == ["digest", "new_referral", "undeliverable_notice"]
    assert all(r.rcpt_tos == (COORDINATOR,) for r in got)
    # The day's digest, made after the acknowledgement was refused, lists it.
    sent_digest = by_template(relay, "digest")[0].message.get_body(("plain",))
    assert "UNDELIVERED MAIL (1)" in sent_digest.get_content()  # type: ignore[union-attr]
    notice = by_template(relay, "undeliverable_notice")[0].message.get_body(("plain",))
    assert REFERRER in notice.get_content()  # type: ignore[union-attr]
    bot.run_once("2026-11-30T10:15")
    assert len(relay.messages) == 3, "something was sent twice"
    assert sent_to(relay, REFERRER) == []

    digest = bot.cli("digest", "--now", "2026-12-01T08:30").stdout
    assert "UNDELIVERED MAIL (1)" in digest
    section = digest.split("UNDELIVERED MAIL (1)", 1)[1].split("\n\n", 1)[0]
    line = next(line for line in section.splitlines() if REFERRER in line)
    assert REF in line and "Referral received" in line
    assert "550" in section

    out = bot.cli("resend", REF, "--now", "2026-11-30T10:20")
    assert "1 message(s)" in out.stdout and ": sent" in out.stdout
    (ack,) = sent_to(relay, REFERRER)
    assert template_of(ack) == "acknowledgement"
    assert ack.rcpt_tos == (REFERRER,)
    case = bot.case(REF)
    assert case["undelivered"] == []
    assert "resend" in [e["kind"] for e in case["events"]]
    assert "UNDELIVERED MAIL (0)" in bot.cli("digest", "--now", "2026-12-01T08:30").stdout
    # Nothing is left to resend, and a pass sends nothing again.
    assert "nothing refused for good" in bot.cli("resend", "all").stdout
    bot.run_once("2026-11-30T10:25")
    assert len(sent_to(relay, REFERRER)) == 1


def test_a_relay_refusing_at_data_then_the_coordinators_resend_command_sends_it(
    tmp_path: Path, dovecot: DovecotServer, relay: FlakyRelay
) -> None:
    bot = make_bot(tmp_path, dovecot, relay)
    relay.refusing_data = True
    dovecot.append(referral_mail())
    bot.run_once(expect=1)
    assert relay.messages == []
    (undelivered,) = bot.case(REF)["undelivered"]
    assert undelivered["to"] == [REFERRER] and "554" in undelivered["reason"]

    relay.refusing_data = False
    bot.run_once("2026-11-30T10:05")
    assert templates(relay.messages) == ["digest", "new_referral", "undeliverable_notice"]

    # A coordinator answers the notice with "resend": the acknowledgement goes at once.
    dovecot.append(
        plain_mail(
            COORDINATOR,
            f"RE: OFFICIAL-SENSITIVE [{REF}] A message could not be delivered",
            "resend\n\nThanks",
        )  # fmt: skip
    )
    bot.run_once("2026-11-30T10:10")
    assert dovecot.folder_count(INBOX) == 0
    (ack,) = sent_to(relay, REFERRER)
    assert template_of(ack) == "acknowledgement"
    assert bot.case(REF)["undelivered"] == []
    assert len(by_template(relay, "command_reply")) == 1


def test_resend_refused_again_is_still_undelivered_and_told_again(
    tmp_path: Path, dovecot: DovecotServer, relay: FlakyRelay
) -> None:
    bot = make_bot(tmp_path, dovecot, relay)
    relay.refuse = {REFERRER}
    dovecot.append(referral_mail())
    bot.run_once()  # exit 0: the coordinators got theirs; the refusal is recorded on the case
    assert len(by_template(relay, "undeliverable_notice")) == 1

    out = bot.cli("resend", "all", expect=1)
    assert "refused again" in out.stdout
    (undelivered,) = bot.case(REF)["undelivered"]
    assert undelivered["to"] == [REFERRER]
    assert len(by_template(relay, "undeliverable_notice")) == 2  # the second refusal is told too
    assert bot.cli("resend", "DSPP-2026-0099", expect=1).stderr.strip().endswith("0099")


def test_resend_of_a_message_refused_for_one_recipient_goes_to_that_one_only(
    tmp_path: Path, dovecot: DovecotServer, relay: FlakyRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An after-due chaser goes to the agency, copied to the coordinators; the agency's address is
    refused while the coordinators' is taken: only the agency is sent it again."""
    from datetime import UTC, datetime

    from cspr_mailbot.app import PassReport
    from cspr_mailbot.config import load_config
    from cspr_mailbot.core.models import OutboundMessage
    from cspr_mailbot.wiring import build_app, open_store

    bot = make_bot(tmp_path, dovecot, relay)
    agency = "gone@agency.example.org"
    relay.refuse = {agency}
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    cfg = load_config(bot.config)
    now = datetime(2026, 12, 8, 10, tzinfo=UTC)
    chaser = OutboundMessage(
        key=f"{REF}:scoping:agency:after1",
        template="scoping_chaser",
        to=(agency,),
        cc=(COORDINATOR,),
        subject="Initial Scoping return: reminder",
        context={
            "reference": REF,
            "initials": "J.Q.",
            "partnership": "P",
            "phone": "",
            "mailbox": "dsppb@example.gov.uk",
            "agency": "Agency",
            "due": "Mon 7 Dec 2026",
            "overdue": True,
            "label": "",
        },
        case_ref=REF,
    )
    with open_store(cfg) as store:
        app = build_app(cfg, store, with_source=False)
        with store.transaction() as txn:
            app._queue(txn, (chaser,), None, now)
        report = PassReport()
        app.flush_outbox(now, report)
        assert (report.sent, report.undeliverable) == (1, 1)
        (record,) = store.outbox_undelivered(REF)
        assert record.refused_to == (agency,) and record.raw is not None
        relay.refuse = set()
        keys, _ = app.resend(REF, now)
        assert keys == [chaser.key]
        assert store.outbox_undelivered() == []
    chasers = by_template(relay, "scoping_chaser")
    assert [c.rcpt_tos for c in chasers] == [(COORDINATOR,), (agency,)]
