"""End to end, intake (SPEC 3, 5, 8): mail APPENDed to a real Dovecot, the CLI as a subprocess,
replies read off a real SMTP server, and each original looked for in the folder it was filed in.

Each test acts as the people do: a referrer sends mail, the bot runs a pass, someone looks at the
mailbox folders, the mail that went out, and ``cspr-mailbot case --json``.
"""

from __future__ import annotations

import email
import email.policy
import stat
import struct
from email.utils import make_msgid, parseaddr
from pathlib import Path

import pytest
from e2e import (
    COORDINATOR,
    DOCX_TYPE,
    IGNORED,
    INBOX,
    MAILBOX,
    PROCESSED,
    REFERRAL,
    REFERRER,
    SENT,
    TRIAGE,
    Bot,
    by_template,
    make_bot,
    plain_mail,
    referral_mail,
    sent_to,
    template_of,
    text_parts,
)
from servers import DovecotServer, SmtpServer

pytestmark = pytest.mark.dovecot

REF = "DSPP-2026-0001"
# Every way the child of REFERRAL could be named in mail to an outsider.
CHILD_DETAILS = (
    "Jamie",
    "Quennell",
    "2019-04-12",
    "12/04/2019",
    "12 April 2019",
    "12 Apr 2019",
    "Wrenfield",
    "DY1 4QX",
)


@pytest.fixture
def bot(tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer) -> Bot:
    return make_bot(tmp_path, dovecot, smtp_server)


def message_ids(dovecot: DovecotServer, folder: str) -> list[str]:
    out = []
    for raw in dovecot.list_folder(folder):
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        out.append(str(msg["Message-ID"]).strip())
    return out


def cfb_encrypted() -> bytes:
    """A password-protected Word file as Office writes it: an OLE compound file (CFB v3) whose
    directory holds EncryptionInfo and EncryptedPackage (the streams themselves left empty)."""
    names = ["\x06DataSpaces", "EncryptionInfo", "EncryptedPackage"]
    entries = ["Root Entry", *names]
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<I", header, 0x2C, 1)  # one FAT sector (sector 0)
    struct.pack_into("<I", header, 0x30, 1)  # the directory in sector 1
    struct.pack_into("<I", header, 0x38, 0x1000)
    struct.pack_into("<IIII", header, 0x3C, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
    struct.pack_into("<109I", header, 0x4C, 0, *([0xFFFFFFFF] * 108))
    fat = [0xFFFFFFFD, 0xFFFFFFFE] + [0xFFFFFFFF] * 126
    directory = bytearray(512)
    for i, name in enumerate(entries):
        entry = bytearray(128)
        encoded = name.encode("utf-16-le")
        entry[: len(encoded)] = encoded
        struct.pack_into("<HBB", entry, 0x40, len(encoded) + 2, 5 if i == 0 else 2, 1)
        sibling = i + 1 if 0 < i < len(entries) - 1 else 0xFFFFFFFF
        child = 1 if i == 0 else 0xFFFFFFFF
        struct.pack_into("<III", entry, 0x44, 0xFFFFFFFF, sibling, child)
        struct.pack_into("<IQ", entry, 0x74, 0xFFFFFFFE, 0)
        directory[i * 128 : (i + 1) * 128] = entry
    return bytes(header) + struct.pack("<128I", *fat) + bytes(directory)


PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


# --------------------------------------------------------------------------- 1. a readable referral


def test_a_referral_with_its_form_becomes_a_case_and_the_referrer_is_acknowledged(
    bot: Bot, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    referral_id = make_msgid(domain="example.police.uk")
    dovecot.append(referral_mail(message_id=referral_id))

    out = bot.run_once()
    assert REF in out.stdout.split()

    # The case, as SPEC 8 shapes it.
    case = bot.case(REF)
    for key in ("reference", "status", "received_at", "referral", "criteria", "deadlines"):
        assert key in case, key
    assert case["reference"] == REF
    assert case["status"] == "referral_received"
    assert case["received_at"].startswith("2026-11-30")
    referral = case["referral"]
    for key in (
        "referrer_name",
        "referrer_email",
        "child_name",
        "child_dob",
        "child_address",
        "incident_date",
        "la_aware_date",
        "incident_type",
        "abuse_or_neglect",
        "looked_after",
    ):
        assert referral[key] == REFERRAL[key], key
    assert case["criteria"]["result"] == "met"
    assert isinstance(case["criteria"]["reasons"], list) and case["criteria"]["reasons"]
    # SIN: 5 working days from the LA-aware date, Thu 26 Nov -> Thu 3 Dec. Rapid Review: 15 working
    # days from the receipt date while no SIN date is known, Mon 30 Nov -> Mon 21 Dec.
    assert case["deadlines"] == {"sin": "2026-12-03", "rapid_review": "2026-12-21", "review": None}
    assert case["agencies"] == [
        {
            "name": "West Midlands Police",
            "email": "pvp@example.police.uk",  # from the directory, not the form
            "requested_on": None,
            "due": None,
            "returned_on": None,
            "chasers_sent": 0,
            "trusted": False,  # SPEC 5, 8: no [privacy] and not secure
            "return": None,  # SPEC 8: the returned template, once it is in
        }
    ]
    events = case["events"]
    assert events and [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert "received" in {e["kind"] for e in events}

    # The acknowledgement, as the referrer's mail server received it.
    acks = sent_to(smtp_server, REFERRER)
    assert len(acks) == 1, [r.message["Subject"] for r in acks]
    ack = acks[0]
    assert template_of(ack) == "acknowledgement"
    msg = ack.message
    assert parseaddr(str(msg["From"]))[1] == MAILBOX
    assert ack.mail_from == MAILBOX
    subject = str(msg["Subject"])
    assert subject.startswith(f"OFFICIAL-SENSITIVE [{REF}] ")
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert str(msg["In-Reply-To"]).strip() == referral_id
    assert referral_id in str(msg["References"])
    parts = text_parts(msg)
    assert set(parts) == {"text/plain", "text/html"}
    assert REF in parts["text/plain"] and REF in parts["text/html"]
    assert "J.Q." in parts["text/plain"]  # the child is identified by initials only
    for where, text in (("subject", subject), *parts.items()):
        for detail in CHILD_DETAILS:
            assert detail.lower() not in text.lower(), (
                f"{detail!r} in the acknowledgement's {where}"
            )

    # The coordinators hear of it (and may see the child's details).
    notices = by_template(smtp_server, "new_referral")
    assert len(notices) == 1
    assert notices[0].rcpt_tos == (COORDINATOR,)
    assert REF in str(notices[0].message["Subject"])
    assert "Jamie Quennell" in text_parts(notices[0].message)["text/plain"]
    # Nothing else went to anyone outside the coordinators.
    assert {a for r in smtp_server.messages for a in r.rcpt_tos} == {REFERRER, COORDINATOR}

    # The original is filed, nothing is left in the inbox, and a copy of each reply is in Sent.
    assert dovecot.folder_count(INBOX) == 0
    assert message_ids(dovecot, PROCESSED) == [referral_id]
    sent_ids = sorted(str(r.message["Message-ID"]) for r in smtp_server.messages)
    assert sorted(message_ids(dovecot, SENT)) == sent_ids

    # The store holds the child's details: readable by its owner only.
    files = [p for p in bot.store_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(bot.store_dir.stat().st_mode) == 0o700


# --------------------------------------------------------------------------- 2. unreadable referrals


@pytest.mark.parametrize(
    ("filename", "data", "ctype", "said"),
    [
        ("CSPR referral form.pdf", PDF, "application/pdf", "PDF"),
        ("CSPR referral form.docx", cfb_encrypted(), DOCX_TYPE, "password"),
    ],
    ids=["pdf", "encrypted-docx"],
)
def test_an_unreadable_referral_needs_triage_and_the_sender_is_told_what_to_do(
    bot: Bot,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    filename: str,
    data: bytes,
    ctype: str,
    said: str,
) -> None:
    referral_id = make_msgid(domain="example.police.uk")
    dovecot.append(referral_mail(message_id=referral_id, attachment=(filename, data, ctype)))

    bot.run_once()

    case = bot.case(REF)
    assert case["status"] == "needs_triage"
    assert any(filename in reason for reason in case["triage_reasons"]), case["triage_reasons"]

    replies = sent_to(smtp_server, REFERRER)
    assert len(replies) == 1
    reply = replies[0].message
    assert template_of(replies[0]) == "triage_reply"
    assert str(reply["Subject"]).startswith(f"OFFICIAL-SENSITIVE [{REF}] ")
    assert reply["Auto-Submitted"] == "auto-replied"
    assert str(reply["In-Reply-To"]).strip() == referral_id
    text = text_parts(reply)["text/plain"]
    assert filename not in text  # issue 10 finding 7: people name files after the child
    assert "attached" in text  # what could not be read, told without its name
    assert said in text  # why
    assert ".docx" in text and "What to do" in text  # and what to do about it

    notices = by_template(smtp_server, "triage_notice")
    assert len(notices) == 1 and notices[0].rcpt_tos == (COORDINATOR,)
    assert REF in str(notices[0].message["Subject"])

    assert dovecot.folder_count(INBOX) == 0
    assert message_ids(dovecot, TRIAGE) == [referral_id]
    assert dovecot.folder_count(PROCESSED) == 0


# --------------------------------------------------------------------------- 3. machine mail


def _form() -> tuple[str, bytes, str]:
    from cspr_mailbot import formgen

    return ("CSPR referral form.docx", formgen.filled_referral(REFERRAL), DOCX_TYPE)


def _dsn(
    original_headers: str,
    *,
    as_rfc822: bool,
    sender: str = "Mail Delivery System <MAILER-DAEMON@mx.example.police.uk>",
    subject: str = "Undelivered Mail Returned to Sender",
    auto_submitted: bool = True,
) -> bytes:
    """A delivery status notification (RFC 3464) as an MTA writes it."""
    returned = (
        "Content-Type: message/rfc822\r\n\r\n" + original_headers + "\r\nThe message body.\r\n"
        if as_rfc822
        else "Content-Type: text/rfc822-headers\r\n\r\n" + original_headers
    )
    return (
        f"From: {sender}\r\n"
        f"To: {MAILBOX}\r\n"
        f"Subject: {subject}\r\n"
        "Date: Mon, 30 Nov 2026 09:30:00 +0000\r\n"
        f"Message-ID: {make_msgid(domain='mx.example.police.uk')}\r\n"
        + ("Auto-Submitted: auto-replied\r\n" if auto_submitted else "")
        + "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="DSN"\r\n'
        "\r\n"
        "--DSN\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system at host mx.example.police.uk.\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "<sam.carter@example.police.uk>: mailbox unavailable\r\n"
        "--DSN\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.police.uk\r\n\r\n"
        "Final-Recipient: rfc822; sam.carter@example.police.uk\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 mailbox unavailable\r\n"
        "--DSN\r\n" + returned + "\r\n--DSN--\r\n"
    ).encode()


def machine_mail() -> dict[str, bytes]:
    """One message of each kind SPEC 3 calls automatic; each carries a readable referral form."""
    form = [_form()]

    def mail(sender: str = "jo.bloggs@example.org", **headers: str) -> bytes:
        return plain_mail(
            sender,
            "CSPR referral",
            "Referral form attached.",
            headers={k.replace("_", "-"): v for k, v in headers.items()},
            attachments=form,
        )

    unrelated = (
        "From: dsppb@example.gov.uk\r\nTo: someone@example.org\r\nSubject: hello\r\n"
        "Message-ID: <not-one-of-ours@example.gov.uk>\r\n"
    )
    return {
        "auto-submitted": mail(Auto_Submitted="auto-replied"),
        "auto-generated": mail(Auto_Submitted="auto-generated"),
        "x-auto-response-suppress": mail(X_Auto_Response_Suppress="OOF, AutoReply"),
        "precedence-bulk": mail(Precedence="bulk"),
        "precedence-junk": mail(Precedence="junk"),
        "precedence-list": mail(Precedence="list"),
        "precedence-auto_reply": mail(Precedence="auto_reply"),
        "list-id": mail(List_Id="Safeguarding news <news.example.org>"),
        "list-unsubscribe": mail(List_Unsubscribe="<mailto:leave@example.org>"),
        "empty-return-path": mail(Return_Path="<>"),
        "mailer-daemon": mail("MAILER-DAEMON@mx.example.org"),
        "postmaster": mail("postmaster@example.org"),
        "noreply": mail("noreply@example.org"),
        "no-reply": mail("no-reply@example.org"),
        # Nothing but its content type gives this one away.
        "multipart-report": _dsn(
            unrelated,
            as_rfc822=True,
            sender="Mail Gateway <gateway@example.org>",
            subject="Report",
            auto_submitted=False,
        ),
        "x-autoreply": mail(X_Autoreply="yes"),
        "x-autorespond": mail(X_Autorespond="yes"),
        "our-own-address": mail(MAILBOX),
    }


def test_machine_mail_of_every_kind_is_never_answered_and_filed_in_ignored(
    bot: Bot, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    messages = machine_mail()
    for raw in messages.values():
        dovecot.append(raw)

    bot.run_once()

    # Nobody was answered; the coordinators got their digest and nothing else.
    assert [template_of(r) for r in smtp_server.messages] == ["digest"]
    assert all(r.rcpt_tos == (COORDINATOR,) for r in smtp_server.messages)
    assert bot.cases() == []
    assert dovecot.folder_count(INBOX) == 0
    assert dovecot.folder_count(PROCESSED) == 0
    assert dovecot.folder_count(TRIAGE) == 0
    filed = sorted(message_ids(dovecot, IGNORED))
    wanted = sorted(
        str(email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"])
        for raw in messages.values()
    )
    assert filed == wanted


# --------------------------------------------------------------------------- 4. bounces


@pytest.mark.parametrize("as_rfc822", [True, False], ids=["message-rfc822", "rfc822-headers"])
def test_a_bounce_of_our_acknowledgement_goes_on_the_case_and_the_coordinators_are_told(
    bot: Bot, dovecot: DovecotServer, smtp_server: SmtpServer, as_rfc822: bool
) -> None:
    dovecot.append(referral_mail())
    bot.run_once()
    (ack,) = sent_to(smtp_server, REFERRER)
    ack_id = str(ack.message["Message-ID"]).strip()
    headers = ack.raw.split(b"\r\n\r\n", 1)[0].decode("ascii") + "\r\n"
    assert ack_id in headers
    smtp_server.clear()

    dsn = _dsn(headers, as_rfc822=as_rfc822)
    dovecot.append(dsn)
    bot.run_once("2026-11-30T11:00")

    assert len(bot.cases()) == 1  # no new case
    case = bot.case(REF)
    bounces = [e for e in case["events"] if e["kind"] == "bounce"]
    assert len(bounces) == 1 and ack_id in bounces[0]["detail"]

    # The coordinators are told; the bounce's sender, and the referrer, hear nothing.
    assert [template_of(r) for r in smtp_server.messages] == ["bounce_notice"]
    notice = smtp_server.messages[0]
    assert notice.rcpt_tos == (COORDINATOR,)
    assert REF in str(notice.message["Subject"])
    assert ack_id in text_parts(notice.message)["text/plain"]
    assert dovecot.folder_count(INBOX) == 0
    assert len(dovecot.list_folder(IGNORED)) == 1


# --------------------------------------------------------------------------- 5. twice over


def test_a_second_pass_and_second_copies_change_nothing(
    bot: Bot, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    raw = referral_mail()
    dovecot.append(raw)
    bot.run_once()
    first = bot.cases()
    assert [c["reference"] for c in first] == [REF]
    sent_first = len(smtp_server.messages)
    assert len(sent_to(smtp_server, REFERRER)) == 1

    # A second pass over the same mailbox: nothing new.
    bot.run_once("2026-11-30T10:05")
    assert bot.cases() == first
    assert len(smtp_server.messages) == sent_first

    # The same message again, byte for byte, and a second copy that came by another route
    # (same Message-ID, one more Received header): filed, no case, no reply.
    dovecot.append(raw)
    dovecot.append(
        b"Received: from relay.example.org by mx.example.gov.uk; Mon, 30 Nov 2026\r\n" + raw
    )
    out = bot.run_once("2026-11-30T10:10")
    assert "new cases 0" in out.stdout
    assert [c["reference"] for c in bot.cases()] == [REF]
    assert len(smtp_server.messages) == sent_first
    assert len(sent_to(smtp_server, REFERRER)) == 1
    assert dovecot.folder_count(INBOX) == 0
    assert dovecot.folder_count(PROCESSED) == 3
