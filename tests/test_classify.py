"""Classification rules (SPEC 3): machine mail first, then commands, correspondence, referrals."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from e2e import COORDINATOR, IGNORED, INBOX, make_bot, template_of
from servers import DovecotServer, SmtpServer

from cspr_mailbot import formgen
from cspr_mailbot.core import attachments, forms
from cspr_mailbot.core.classify import Classification, Context, automatic_reason, classify, lookups
from cspr_mailbot.core.clocks import Timescales
from cspr_mailbot.core.message import parse_message
from cspr_mailbot.core.models import InboundMessage
from cspr_mailbot.core.reading import read_message
from cspr_mailbot.core.settings import Settings

MAILBOX = "dsppb@example.gov.uk"
COORD = "coordinator@example.gov.uk"
CASES = {"DSPP-2026-0007"}
SENT = {"<sent-1@example.gov.uk>": "DSPP-2026-0007"}


ST = Settings(
    partnership_name="Dudley Safeguarding People Partnership",
    mailbox=MAILBOX,
    coordinators=(COORD,),
    timescales=Timescales(),
    limits=attachments.Limits(),
    labels=forms.Labels.load(),
)


def ctx() -> Context:
    """The context as the wiring builds it: the rules get values looked up from CASES and SENT."""
    return Context(mailbox=MAILBOX, coordinators=frozenset({COORD}), reference_prefix="DSPP")


def classify_read(msg: InboundMessage) -> Classification:
    """``classify`` with the context the wiring would give: the lookups answered from CASES, SENT."""
    read = read_message(msg, ST)
    wanted = lookups(read, ctx())
    found = Context(
        mailbox=MAILBOX,
        coordinators=frozenset({COORD}),
        reference_prefix="DSPP",
        cases=frozenset(r for r in wanted.references if r in CASES),
        sent={m: SENT[m] for m in wanted.message_ids if m in SENT},
    )
    return classify(read, found)


def mail(headers: str, body: str = "Hello\n", sender: str = "someone@example.org") -> bytes:
    head = (
        f"From: {sender}\r\nTo: {MAILBOX}\r\nSubject: Referral\r\nMessage-ID: <m1@example.org>\r\n"
    )
    return (head + headers + "\r\n" + body).encode()


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: auto-replied\r\n",
        "Auto-Submitted: auto-generated\r\n",
        "X-Auto-Response-Suppress: All\r\n",
        "Precedence: bulk\r\n",
        "Precedence: junk\r\n",
        "Precedence: list\r\n",
        "Precedence: auto_reply\r\n",
        "List-Id: <safeguarding.lists.example.org>\r\n",
        "List-Unsubscribe: <mailto:leave@example.org>\r\n",
        "Return-Path: <>\r\n",
        "X-Autoreply: yes\r\n",
        "X-Autorespond: yes\r\n",
        "X-CSPR-Mailbot: acknowledgement\r\n",
    ],
)
def test_every_machine_header_is_automatic(headers: str) -> None:
    msg = parse_message(mail(headers), "1")
    result = classify_read(msg)
    assert result.kind == "automatic"
    assert result.reasons and result.reasons[0]


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@example.org",
        "postmaster@example.org",
        "noreply@example.org",
        "no-reply@example.org",
        "do-not-reply@example.org",
        MAILBOX,
    ],
)
def test_machine_senders_and_our_own_address_are_automatic(sender: str) -> None:
    assert classify_read(parse_message(mail("", sender=sender), "1")).kind == "automatic"


def test_auto_submitted_no_is_a_person() -> None:
    msg = parse_message(mail("Auto-Submitted: no\r\n"), "1")
    assert automatic_reason(msg, ctx()) is None
    assert classify_read(msg).kind == "referral"


def test_out_of_office_subject_without_headers_is_automatic() -> None:
    raw = mail("").replace(b"Subject: Referral", b"Subject: Automatic reply: Referral")
    assert classify_read(parse_message(raw, "1")).kind == "automatic"


def test_coordinator_command_needs_a_case_and_a_command() -> None:
    raw = mail("", body="decision: cspr\r\n", sender=COORD).replace(
        b"Subject: Referral", b"Subject: RE: [DSPP-2026-0007] New referral"
    )
    result = classify_read(parse_message(raw, "1"))
    assert (result.kind, result.case_ref) == ("command", "DSPP-2026-0007")


def test_commands_from_anyone_else_are_correspondence() -> None:
    raw = mail("", body="decision: cspr\r\n", sender="someone@example.org").replace(
        b"Subject: Referral", b"Subject: RE: [DSPP-2026-0007] New referral"
    )
    result = classify_read(parse_message(raw, "1"))
    assert (result.kind, result.case_ref) == ("correspondence", "DSPP-2026-0007")


def test_coordinator_prose_on_a_case_is_correspondence() -> None:
    raw = mail("", body="Thanks, I will call the school.\r\n", sender=COORD).replace(
        b"Subject: Referral", b"Subject: RE: [DSPP-2026-0007] New referral"
    )
    assert classify_read(parse_message(raw, "1")).kind == "correspondence"


def test_reply_by_in_reply_to_names_the_case() -> None:
    raw = mail("In-Reply-To: <sent-1@example.gov.uk>\r\n")
    result = classify_read(parse_message(raw, "1"))
    assert (result.kind, result.case_ref) == ("correspondence", "DSPP-2026-0007")


def test_reply_by_references_names_the_case() -> None:
    raw = mail("References: <other@x.org> <sent-1@example.gov.uk>\r\n")
    assert classify_read(parse_message(raw, "1")).case_ref == "DSPP-2026-0007"


def test_embedded_template_reference_names_the_case() -> None:
    m = email.message_from_bytes(mail(""), policy=email.policy.default)
    assert isinstance(m, EmailMessage)
    m.add_attachment(
        formgen.prefilled_scoping("DSPP-2026-0007", "West Midlands Police", "DSPP"),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="Initial Scoping.docx",
    )
    result = classify_read(parse_message(m.as_bytes(), "1"))
    assert (result.kind, result.case_ref) == ("correspondence", "DSPP-2026-0007")


def test_unknown_reference_is_a_new_referral() -> None:
    raw = mail("").replace(b"Subject: Referral", b"Subject: [DSPP-2026-0999] Referral")
    assert classify_read(parse_message(raw, "1")).kind == "referral"
    assert classify_read(parse_message(mail("", sender=COORD), "1")).kind == "referral"


# -- machine mail in every shape (issue 12) ---------------------------------------------------------

MACHINE_MAIL = Path(__file__).parent / "corpus" / "machine-mail"
MACHINE_FILES = sorted(MACHINE_MAIL.glob("*.eml"))


@pytest.mark.parametrize(
    "sender",
    [
        "post_master@example.org",
        "Post.Master@example.org",
        "mailer_daemon@example.org",
        "Mailer-Daemon2@example.org",
        "no.reply@example.org",
        "no_reply@example.org",
        "NoReply-Alerts@example.org",
        "donotreply@example.org",
        "Do_Not_Reply@example.org",
        "bounces+8c8b98.c-user=aol.com@example.com",
        "list-bounces@lists.example.org",
        "owner-safeguarding@lists.example.org",
        "listserv@lists.example.org",
    ],
)
def test_machine_local_parts_in_every_spelling_are_automatic(sender: str) -> None:
    assert classify_read(parse_message(mail("", sender=sender), "1")).kind == "automatic"


@pytest.mark.parametrize(
    "sender",
    ["postman.pat@example.org", "noreen.ply@example.gov.uk", "master.chef@example.org"],
)
def test_people_whose_names_look_like_machines_are_people(sender: str) -> None:
    assert classify_read(parse_message(mail("", sender=sender), "1")).kind == "referral"


@pytest.mark.parametrize(
    "headers",
    [
        "List-Subscribe: <mailto:join@lists.example.org>\r\n",
        "List-Post: <mailto:list@lists.example.org>\r\n",
        "List-Help: <mailto:help@lists.example.org>\r\n",
        "List-Owner: <mailto:owner@lists.example.org>\r\n",
        "List-Archive: <https://lists.example.org/archive>\r\n",
        "X-ML-Name: safeguarding\r\n",
        "X-ML-Count: 1042\r\n",
        "X-MLServer: fml [fml 4.0.3]\r\n",
        "X-Mailman-Version: 2.1.39\r\n",
        "X-Mailing-List: <safeguarding@lists.example.org>\r\n",
        "Mailing-List: contact safeguarding-help@lists.example.org; run by ezmlm\r\n",
        "X-Ezmlm-Version: 0.53\r\n",
        "X-BeenThere: safeguarding@lists.example.org\r\n",
        "X-MS-Exchange-Message-Is-Ndr: \r\n",
        "Return-Path: < >\r\n",
        "Return-Path: <> (bounce)\r\n",
    ],
)
def test_list_headers_of_every_kind_and_null_paths_are_automatic(headers: str) -> None:
    assert classify_read(parse_message(mail(headers), "1")).kind == "automatic"


@pytest.mark.parametrize("sender", ["<>", '"Mail System" <>', "< >"])
def test_a_null_sender_in_any_form_is_automatic(sender: str) -> None:
    raw = mail("").replace(b"From: someone@example.org", f"From: {sender}".encode())
    assert classify_read(parse_message(raw, "1")).kind == "automatic"


@pytest.mark.parametrize(
    "part",
    ["message/delivery-status", "message/feedback-report", "message/disposition-notification"],
)
def test_a_report_part_anywhere_is_automatic(part: str) -> None:
    raw = (
        "From: reports@example.com\r\nTo: dsppb@example.gov.uk\r\nSubject: Notification\r\n"
        "Message-ID: <r1@example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nSee the report.\r\n"
        f"--b1\r\nContent-Type: {part}\r\n\r\nFeedback-Type: abuse\r\n\r\n--b1--\r\n"
    ).encode()
    result = classify_read(parse_message(raw, "1"))
    assert result.kind == "automatic" and part in result.reasons[0]
    assert classify_read(parse_message(b"\xef\xbb\xbf" + raw, "1")).kind == "automatic"


def test_a_person_writing_about_abuse_or_absence_is_not_a_machine() -> None:
    for subject in (b"Abuse report: referral", b"Referral (out of office next week)"):
        raw = mail("").replace(b"Subject: Referral", b"Subject: " + subject)
        assert classify_read(parse_message(raw, "1")).kind == "referral", subject


def test_the_machine_mail_corpus_is_all_there() -> None:
    assert len(MACHINE_FILES) >= 28
    assert (MACHINE_MAIL / "README.md").is_file()
    readme = (MACHINE_MAIL / "README.md").read_text()
    for path in MACHINE_FILES:  # every file's source is named in the README
        assert f"`{path.name}`" in readme, path.name


@pytest.mark.parametrize("path", MACHINE_FILES, ids=lambda p: p.name)
def test_every_message_of_the_machine_mail_corpus_is_automatic(path: Path) -> None:
    msg = parse_message(path.read_bytes(), path.name)
    assert automatic_reason(msg, ctx()), path.name
    assert classify_read(msg).kind == "automatic"


@pytest.mark.dovecot
def test_no_machine_mail_is_answered_or_becomes_a_case(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bot = make_bot(tmp_path, dovecot, smtp_server)
    for path in MACHINE_FILES:
        dovecot.append(path.read_bytes())
    bot.run_once()
    assert bot.cases() == []
    assert dovecot.folder_count(INBOX) == 0
    assert dovecot.folder_count(IGNORED) == len(MACHINE_FILES)
    answered = [r for r in smtp_server.messages if set(r.rcpt_tos) - {COORDINATOR}]
    assert answered == []
    # The coordinators hear of nothing but the digest: no bounce of ours, no triage, no error.
    assert {template_of(r) for r in smtp_server.messages} <= {"digest"}
