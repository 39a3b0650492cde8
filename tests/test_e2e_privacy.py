"""End to end, who is told who the child is (SPEC 5, 9; issue 13; issue 10 finding 7), on the real
Dovecot and aiosmtpd, reading every byte the SMTP server got.

A referral names five agencies: the police (in the directory, on a subdomain of a trusted domain),
Children's Services (in the directory, ``secure = true``), a GP (on ``nhs.net`` itself), a health trust
(on a subdomain of ``nhs.net``) and a school (untrusted). The coordinator starts the Rapid Review and adds,
by ``agency:``, an agency with a trusted-looking display name on a lookalike domain. Each message that
leaves the coordinators is decoded whole (headers, both text parts, attachment names, and the text of
every XML part of each attached .docx, ``word/document.xml`` among them): the trusted ones name the
child in the template and are tagged for encryption with nothing of the child in the subject; the others
carry nothing that identifies the child beyond initials. A second referral, sent as a PDF named after
the child, gets a triage reply that does not repeat the file name.
"""

from __future__ import annotations

import io
import re
import zipfile
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

import pytest
from e2e import (
    COORDINATOR,
    DOCX_TYPE,
    INBOX,
    REFERRAL,
    REFERRER,
    make_bot,
    plain_mail,
    referral_mail,
    template_of,
)
from servers import DovecotServer, Received, SmtpServer

pytestmark = pytest.mark.dovecot

REF = "DSPP-2026-0001"
POLICE = "pvp@example.police.uk"  # directory; police.uk is trusted, so by subdomain
CSC = "csc@example.gov.uk"  # directory, secure = true
GP = "practice@nhs.net"  # the trusted domain itself
HEALTH = "safeguarding@mail.nhs.net"  # a subdomain of it
SCHOOL = "dsl@oakfield.example.sch.uk"  # untrusted
LOOKALIKE = "safeguarding@evilnhs.net"  # added by agency:, with a trusted-looking display name
TRUSTED = {POLICE, CSC, GP, HEALTH}
TAG = "[encrypt]"

EXTRA = f"""
[privacy]
trusted_domains = ["nhs.net", "police.uk"]
encrypt_subject_tag = "{TAG}"

[[agencies]]
name = "Dudley Children's Services"
email = "{CSC}"
aliases = ["CSC"]
secure = true
"""

VALUES = {
    **REFERRAL,
    "agencies_involved": [
        {"name": "WMP", "contact_name": "DS Carter", "email": None},
        {"name": "CSC", "contact_name": "Duty social worker", "email": None},
        {"name": "Wrens Nest Surgery", "contact_name": "Dr Hale", "email": GP},
        {"name": "Black Country Healthcare", "contact_name": None, "email": HEALTH},
        {"name": "Oakfield Primary School", "contact_name": "Mrs Patel", "email": SCHOOL},
    ],
}
# REFERRAL's child: every way it could be written, none of which may reach an untrusted address.
IDENTIFYING = (
    "Jamie",
    "Quennell",
    "Wrenfield",
    "DY1 4QX",
    "12/04/2019",
    "12 Apr 2019",
    "12 April 2019",
    "2019-04-12",
)


def every_text(r: Received) -> tuple[str, str, list[str]]:
    """(the subject; every header, text part, file name and .docx XML text; the .docx texts)."""
    msg = r.message
    texts = [f"{k}: {v}" for k, v in msg.items()]
    docs: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        texts.extend(f"{k}: {v}" for k, v in part.items())
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        if part.get_content_type() == DOCX_TYPE:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                xml = {
                    n: zf.read(n).decode() for n in zf.namelist() if n.endswith((".xml", ".rels"))
                }
            assert "word/document.xml" in xml
            docs.append(" ".join(re.sub(r"<[^>]+>", " ", x) for x in xml.values()))
            texts.append(docs[-1])
        else:
            texts.append(data.decode(part.get_content_charset() or "utf-8", "replace"))
    return str(msg["Subject"]), " ".join(" ".join(texts).split()), docs


def found(text: str) -> list[str]:
    return [w for w in IDENTIFYING if w.casefold() in text.casefold()]


def recipients(r: Received) -> set[str]:
    return {
        a.lower()
        for _, a in getaddresses(r.message.get_all("To", []) + r.message.get_all("Cc", []))
    }


def test_trusted_agencies_are_told_who_the_child_is_and_nobody_else_is(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bot = make_bot(tmp_path, dovecot, smtp_server, EXTRA)
    dovecot.append(referral_mail(VALUES))
    bot.run_once("2026-11-30T10:00")
    notice = next(r for r in smtp_server.messages if template_of(r) == "new_referral")
    dovecot.append(
        plain_mail(
            COORDINATOR,
            f"RE: {notice.message['Subject']}",
            f"start rapid review\nagency: Black Country NHS (nhs.net) <{LOOKALIKE}>\n\nThanks",
            headers={"In-Reply-To": notice.message["Message-ID"]},
        )
    )
    bot.run_once("2026-11-30T11:00")
    assert dovecot.folder_count(INBOX) == 0

    requests: dict[str, Received] = {}
    outside = 0
    for r in smtp_server.messages:
        to = recipients(r)
        assert r.mail_from == "dsppb@example.gov.uk"
        if to <= {COORDINATOR}:
            continue  # the coordinators may see everything
        outside += 1
        subject, everything, docs = every_text(r)
        assert found(subject) == [], subject  # no subject ever names the child
        if template_of(r) == "scoping_request":
            (addr,) = to
            requests[addr] = r
        if to <= TRUSTED and template_of(r) == "scoping_request":
            assert subject.endswith(f" {TAG}"), subject
            (doc,) = docs
            for typed in ("Jamie Quennell", "12/04/2019", "14 Wrenfield Close", "DY1 4QX"):
                assert typed in doc, (to, typed)
            assert "Jamie Quennell" in everything
        else:
            assert TAG not in subject, subject
            assert found(everything) == [], (template_of(r), to, found(everything))
            assert "J.Q." in everything
    assert set(requests) == TRUSTED | {SCHOOL, LOOKALIKE}
    assert outside == len(requests) + 1  # and the acknowledgement to the referrer

    # Salutations: the person the mail is addressed to, or the team of a shared (directory) address.
    def greeting(addr: str) -> str:
        body = requests[addr].message.get_body(("plain",))
        assert isinstance(body, EmailMessage)
        return next(ln for ln in body.get_content().splitlines() if ln.startswith("Dear "))

    assert greeting(POLICE) == "Dear West Midlands Police team,"  # not "Dear DS Carter,"
    assert greeting(CSC) == "Dear Dudley Children's Services team,"
    assert greeting(GP) == "Dear Dr Hale,"
    assert greeting(SCHOOL) == "Dear Mrs Patel,"

    trusted = {a["email"]: a["trusted"] for a in bot.case(REF)["agencies"]}
    assert trusted == {
        POLICE: True,
        CSC: True,
        GP: True,
        HEALTH: True,
        SCHOOL: False,
        LOOKALIKE: False,
    }


def test_a_triage_reply_never_repeats_a_file_name_named_after_the_child(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bot = make_bot(tmp_path, dovecot, smtp_server, EXTRA)
    filename = "Jamie Quennell CSPR referral.pdf"
    dovecot.append(
        referral_mail(attachment=(filename, b"%PDF-1.4\n%\xe2\xe3\n", "application/pdf"))
    )
    bot.run_once("2026-11-30T10:00")
    replies = [r for r in smtp_server.messages if REFERRER in recipients(r)]
    assert [template_of(r) for r in replies] == ["triage_reply"]
    _, everything, _ = every_text(replies[0])
    assert found(everything) == [], found(everything)
    assert "the attached PDF" in everything.casefold().replace(
        "the attached pdf", "the attached PDF"
    )
    case = bot.case(REF)
    assert case["status"] == "needs_triage"
    assert any(
        filename in reason for reason in case["triage_reasons"]
    )  # the coordinators' view keeps it
