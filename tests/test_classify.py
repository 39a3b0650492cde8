"""Classification rules (SPEC 3): machine mail first, then commands, correspondence, referrals."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from email.message import EmailMessage

import pytest

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


# -- the sender check on coordinator commands (SPEC 3 "Trusting a sender") --------------------------


def classify_with(msg: InboundMessage, **security: str) -> Classification:
    """``classify`` as the wiring calls it, with a ``[security]`` setting and SENT_TO looked up."""
    read = read_message(msg, ST)
    base = Context(
        mailbox=MAILBOX,
        coordinators=frozenset({COORD}),
        reference_prefix="DSPP",
        **security,  # type: ignore[arg-type]
    )
    wanted = lookups(read, base)
    return classify(
        read,
        replace(
            base,
            cases=frozenset(r for r in wanted.references if r in CASES),
            sent={m: SENT[m] for m in wanted.message_ids if m in SENT},
            sent_to={m: SENT_TO[m] for m in wanted.message_ids if m in SENT_TO},
        ),
    )


SENT_TO = {"<sent-1@example.gov.uk>": ("pvp@example.police.uk",)}


def command_mail(headers: str, body: str = "decision: no review\r\n") -> InboundMessage:
    raw = mail(headers, body=body, sender=COORD).replace(
        b"Subject: Referral", b"Subject: Re: [DSPP-2026-0007]"
    )
    return parse_message(raw, "1")


@pytest.mark.parametrize(
    ("security", "headers"),
    [
        ({"sender_check": "exchange-internal"}, ""),
        ({"sender_check": "exchange-internal"}, "X-MS-Exchange-Organization-AuthAs: Anonymous\r\n"),
        (
            {"sender_check": "authentication-results", "authserv_id": "mx.example.gov.uk"},
            "Return-Path: <attacker@evil.example>\r\n"
            "Authentication-Results: mx.example.gov.uk; spf=fail; dkim=none; dmarc=fail\r\n",
        ),
        (
            {"sender_check": "authentication-results", "authserv_id": "mx.example.gov.uk"},
            "Authentication-Results: mx.evil.example; dmarc=pass header.from=example.gov.uk\r\n",
        ),
    ],
)
def test_a_command_that_fails_the_sender_check_is_unverified(
    security: dict[str, str], headers: str
) -> None:
    result = classify_with(command_mail(headers), **security)
    assert (result.kind, result.case_ref) == ("unverified_command", "DSPP-2026-0007")
    assert result.trust is not None and not result.trust.verified
    assert "not verified" in result.reasons[0]
    # Naming no known case, it is still not a command to answer.
    raw = mail(headers, body="close\r\n", sender=COORD)
    assert classify_with(parse_message(raw, "2"), **security).kind == "unverified_command"


@pytest.mark.parametrize(
    ("security", "headers"),
    [
        ({}, ""),  # the embedded default: no check
        ({"sender_check": "exchange-internal"}, "X-MS-Exchange-Organization-AuthAs: Internal\r\n"),
        (
            {"sender_check": "authentication-results", "authserv_id": "mx.example.gov.uk"},
            "Authentication-Results: mx.example.gov.uk; dkim=pass header.d=example.gov.uk; "
            "dmarc=pass header.from=example.gov.uk\r\n",
        ),
    ],
)
def test_a_verified_command_is_a_command(security: dict[str, str], headers: str) -> None:
    result = classify_with(command_mail(headers), **security)
    assert (result.kind, result.case_ref) == ("command", "DSPP-2026-0007")
    assert result.trust is not None and result.trust.verified


def test_prose_from_a_coordinator_address_is_correspondence_whatever_the_check() -> None:
    msg = command_mail("", body="Thanks, I will call the school.\r\n")
    assert classify_with(msg, sender_check="exchange-internal").kind == "correspondence"


def test_an_ambiguous_sender_is_never_a_coordinator() -> None:
    raw = (
        mail("", body="decision: no review\r\n", sender="x")
        .replace(b"From: x", b"From: coordinator@example.gov.uk <attacker@evil.example>")
        .replace(b"Subject: Referral", b"Subject: Re: [DSPP-2026-0007]")
    )
    msg = parse_message(raw, "1")
    assert msg.sender_ambiguous
    assert classify_with(msg).kind == "correspondence"


def test_a_reply_says_whom_the_message_it_answers_went_to() -> None:
    result = classify_with(parse_message(mail("In-Reply-To: <sent-1@example.gov.uk>\r\n"), "1"))
    assert result.answers_to == frozenset({"pvp@example.police.uk"})
    assert classify_with(parse_message(mail(""), "1")).answers_to == frozenset()
