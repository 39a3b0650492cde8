"""parse_message, forwarded_messages and original_message_id_of_bounce on hand-made messages."""

from __future__ import annotations

import base64
import hashlib
import quopri
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cspr_mailbot.core.message import (
    forwarded_messages,
    html_to_text,
    original_message_id_of_bounce,
    parse_message,
)

FIXTURES = Path(__file__).parent / "fixtures" / "html"


def mail(headers: str, body: str | bytes = "Hello.\r\n") -> bytes:
    head = headers.strip().replace("\n", "\r\n").encode("utf-8", "surrogateescape")
    tail = body if isinstance(body, bytes) else body.encode()
    return head + b"\r\n\r\n" + tail


BASIC = """From: "Sam Referrer" <Sam.Referrer@Example.ORG>
To: DSPPB@example.gov.uk, other@example.gov.uk
Cc: Lead <lead@example.org>
Subject: Referral
Date: Thu, 03 Dec 2026 16:30:00 +0000
Message-ID: <abc.123@example.org>"""


# --------------------------------------------------------------------------- headers


def test_basic_fields() -> None:
    raw = mail(
        BASIC + "\nIn-Reply-To: <out.1@dsppb>\nReferences: <a@x> <out.1@dsppb>\n <c@y>\n"
        "Received: from a\nReceived: from b\nAuto-Submitted: no\nX-Custom: 1"
    )
    msg = parse_message(raw, "17")
    assert msg.uid == "17"
    assert len(msg.sha256) == 64 and msg.sha256 == __import__("hashlib").sha256(raw).hexdigest()
    assert msg.from_addr == "sam.referrer@example.org"
    assert msg.from_name == "Sam Referrer"
    assert msg.to == ("dsppb@example.gov.uk", "other@example.gov.uk")
    assert msg.cc == ("lead@example.org",)
    assert msg.subject == "Referral"
    assert msg.date == datetime(2026, 12, 3, 16, 30, tzinfo=UTC)
    assert msg.message_id == "<abc.123@example.org>"
    assert msg.in_reply_to == "<out.1@dsppb>"
    assert msg.references == ("<a@x>", "<out.1@dsppb>", "<c@y>")
    assert msg.body_text == "Hello.\r\n"
    assert msg.content_type == "text/plain" and msg.report_type is None
    names = [name for name, _ in msg.headers]
    assert names == [
        "from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references",
        "received", "received", "auto-submitted", "x-custom",
    ]  # fmt: skip
    assert msg.header("AUTO-SUBMITTED") == "no"
    assert [v for k, v in msg.headers if k == "received"] == ["from a", "from b"]


def test_missing_fields_are_empty_not_errors() -> None:
    msg = parse_message(b"Subject: only this\r\n\r\nbody", "1")
    assert (msg.from_addr, msg.from_name, msg.to, msg.cc) == ("", "", (), ())
    assert msg.message_id is None and msg.date is None and msg.in_reply_to is None
    assert msg.references == ()


def test_message_id_without_brackets_gets_them() -> None:
    msg = parse_message(mail("Message-ID: bare.id@example.org\nFrom: a@b.c"), "1")
    assert msg.message_id == "<bare.id@example.org>"


def test_dates() -> None:
    def date_of(value: str) -> datetime | None:
        return parse_message(mail(f"From: a@b.c\nDate: {value}"), "1").date

    assert date_of("Mon, 4 Jan 2027 09:15:00 -0500") == datetime(
        2027, 1, 4, 9, 15, tzinfo=timezone(timedelta(hours=-5))
    )
    assert date_of("Mon, 4 Jan 2027 09:15:00 -0000") == datetime(2027, 1, 4, 9, 15, tzinfo=UTC)
    assert date_of("yesterday-ish") is None
    assert date_of("Wed, 15 Dec 2010    59:10 -0500") is None


def test_rfc2047_encoded_words() -> None:
    # "Référral – Dudley" split so that the en dash's three bytes fall across two encoded-words.
    dash = "–".encode()
    word1 = base64.b64encode("Référral ".encode() + dash[:1]).decode()
    word2 = base64.b64encode(dash[1:] + b" Dudley").decode()
    raw = mail(
        f"From: =?iso-8859-1?Q?Ren=E9e_Smith?= <renee@example.org>\n"
        f"Subject: =?utf-8?B?{word1}?=\n =?utf-8?B?{word2}?= [DSPP-2026-0007]\n"
        "X-Note: plain =?utf-8?Q?caf=C3=A9?= and =?bogus-charset?Q?=E9t=E9?= end"
    )
    msg = parse_message(raw, "1")
    assert msg.subject == "Référral – Dudley [DSPP-2026-0007]"
    assert msg.from_name == "Renée Smith"
    assert msg.header("x-note") == "plain café and été end"


def test_undeclared_8bit_subject_utf8_then_cp1252() -> None:
    utf8 = parse_message(b"From: a@b.c\r\nSubject: Caf\xc3\xa9 referral\r\n\r\nx", "1")
    assert utf8.subject == "Café referral"
    cp1252 = parse_message(b"From: a@b.c\r\nSubject: Caf\xe9 \x93quoted\x94 \x81\r\n\r\nx", "2")
    assert cp1252.subject == "Café “quoted” \ufffd"


def test_utf8_addresses_rfc6532() -> None:
    raw = "From: Jöhn <jdöe@mächine.example>\r\nTo: märy@exämple.net\r\n\r\nbody".encode()
    msg = parse_message(raw, "1")
    assert (msg.from_name, msg.from_addr, msg.to) == (
        "Jöhn",
        "jdöe@mächine.example",
        ("märy@exämple.net",),
    )


# --------------------------------------------------------------------------- bodies and charsets


def test_unknown_charset_falls_back_to_utf8_then_cp1252() -> None:
    headers = 'From: a@b.c\nContent-Type: text/plain; charset="x-unknown"'
    assert parse_message(mail(headers, "Zoë".encode()), "1").body_text == "Zoë"
    msg = parse_message(mail(headers, b"Zo\xeb \x96 ok"), "2")
    assert msg.body_text == "Zoë – ok"
    assert any("x-unknown" in d for d in msg.defects)


def test_wrong_declared_charset_is_replaced_not_raised() -> None:
    headers = "From: a@b.c\nContent-Type: text/plain; charset=utf-8"
    assert parse_message(mail(headers, b"caf\xe9"), "1").body_text == "café"


def test_html_only_body_becomes_text() -> None:
    html = (
        "<html><head><title>t</title><style>p {color: red}</style></head><body>"
        "<p>Child&#39;s initials: A.&nbsp;B.</p><script>alert(1)</script>"
        "<div>Incident date: 03/12/2026<br>Summary: fell</div>"
        "<table><tr><td>Agency</td><td>Police</td></tr></table></body></html>"
    )
    msg = parse_message(mail("From: a@b.c\nContent-Type: text/html; charset=utf-8", html), "1")
    lines = msg.body_text.splitlines()
    assert lines[0] == "Child's initials: A. B."
    assert "Incident date: 03/12/2026" in lines and "Summary: fell" in lines
    assert "Agency\tPolice" in lines  # table cells stay apart, so the reader sees label and value
    assert "alert" not in msg.body_text and "color" not in msg.body_text
    assert msg.attachments == ()


def test_alternative_prefers_plain() -> None:
    body = (
        "--B\r\nContent-Type: text/plain\r\n\r\nplain words\r\n"
        "--B\r\nContent-Type: text/html\r\n\r\n<p>html words</p>\r\n--B--\r\n"
    )
    msg = parse_message(
        mail("From: a@b.c\nContent-Type: multipart/alternative; boundary=B", body), "1"
    )
    assert msg.body_text.strip() == "plain words"
    assert msg.attachments == ()


def test_html_to_text_survives_hostile_markup() -> None:
    assert html_to_text("<p>a<<<</p><!--- unclosed <b>b").startswith("a")


# --------------------------------------------------------------------------- broken MIME


def test_multipart_without_boundary() -> None:
    raw = mail("From: a@b.c\nContent-Type: multipart/mixed", "Just text, no parts.\r\n")
    msg = parse_message(raw, "1")
    assert msg.content_type == "multipart/mixed"
    assert "Just text, no parts." in msg.body_text
    assert "NoBoundaryInMultipartDefect" in msg.defects


def test_boundary_that_never_appears() -> None:
    raw = mail("From: a@b.c\nContent-Type: multipart/mixed; boundary=NOPE", "Only this text.\r\n")
    msg = parse_message(raw, "1")
    assert "Only this text." in msg.body_text
    assert "BrokenMultipart" in msg.defects


def test_bad_base64_attachment() -> None:
    body = (
        "--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        "--B\r\nContent-Type: application/octet-stream; name=x.docx\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nUEsDB!!!BAo=A\r\n--B--\r\n"
    )
    msg = parse_message(mail("From: a@b.c\nContent-Type: multipart/mixed; boundary=B", body), "1")
    (att,) = msg.attachments
    assert att.filename == "x.docx" and isinstance(att.data, bytes)
    assert any("Base64" in d for d in msg.defects)
    assert msg.body_text.strip() == "see attached"


def test_invalid_multipart_content_transfer_encoding() -> None:
    body = "--B\r\nContent-Type: text/plain\r\n\r\ninside\r\n--B--\r\n"
    headers = (
        "From: a@b.c\nContent-Type: multipart/mixed; boundary=B\nContent-Transfer-Encoding: base64"
    )
    msg = parse_message(mail(headers, body), "1")
    assert "InvalidMultipartContentTransferEncodingDefect" in msg.defects
    assert msg.body_text.strip() == "inside"


def test_hostile_inputs_never_raise() -> None:
    deep = "".join(
        f"--B{i}\r\nContent-Type: multipart/mixed; boundary=B{i + 1}\r\n\r\n" for i in range(3000)
    )
    cases = [
        b"",
        b"\r\n\r\n",
        b"\x00\xff\xfe garbage with no headers",
        mail("Content-Type: multipart/mixed; boundary=B0", deep),
        mail("From: <<<@@@>>>\nTo: ,,,;;;\nDate: 99 Foo 99999\nContent-Type: ;;;=;"),
        mail("Content-Type: text/plain; charset=rot13", b"abc"),
        mail("Content-Type: text/plain; charset=zlib_codec", b"abc"),
        mail("Subject: =?utf-8?B?####?= =?x?Q?=ZZ?= =?utf-8?B?\n"),
    ]
    for i, raw in enumerate(cases):
        msg = parse_message(raw, str(i))
        assert isinstance(msg.subject, str) and isinstance(msg.body_text, str)
        assert len(msg.sha256) == 64


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_parse(raw: bytes) -> None:
    assert parse_message(b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n" + raw, "x")
    assert parse_message(raw, "x").uid == "x"


# --------------------------------------------------------------------------- forwards


FORWARDED = (
    "From: Original Sender <orig@example.org>\r\nSubject: the original\r\n"
    "Message-ID: <orig.1@example.org>\r\n\r\nOriginal words.\r\n"
)


def test_forwarded_message_as_rfc822() -> None:
    body = (
        "--B\r\nContent-Type: text/plain\r\n\r\nFYI, see below.\r\n"
        "--B\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
        + FORWARDED
        + "--B--\r\n"
    )
    msg = parse_message(mail(BASIC + "\nContent-Type: multipart/mixed; boundary=B", body), "9")
    assert msg.body_text.strip() == "FYI, see below."
    (att,) = msg.attachments
    assert att.content_type == "message/rfc822" and att.filename == "attachment-1.eml"
    assert b"Original words." in att.data
    (inner,) = forwarded_messages(msg)
    assert inner.uid == "9/1"
    assert inner.subject == "the original" and inner.from_addr == "orig@example.org"
    assert inner.message_id == "<orig.1@example.org>"
    assert inner.body_text.strip() == "Original words."


def test_base64_wrapped_rfc822_is_unwrapped() -> None:
    wrapped = base64.encodebytes(FORWARDED.encode()).decode()
    body = (
        "--B\r\nContent-Type: message/rfc822; name=fwd.eml\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{wrapped}--B--\r\n"
    )
    msg = parse_message(mail("From: a@b.c\nContent-Type: multipart/mixed; boundary=B", body), "3")
    (inner,) = forwarded_messages(msg)
    assert inner.subject == "the original"
    assert msg.attachments[0].filename == "fwd.eml"


def test_forwarded_messages_stop_at_depth_three() -> None:
    raw = mail("From: l0@x.org\nSubject: level 0", "innermost")
    for level in range(1, 6):
        raw = mail(
            f"From: l{level}@x.org\nSubject: level {level}\nContent-Type: message/rfc822",
            raw,
        )
    msg = parse_message(raw, "u")
    found = forwarded_messages(msg)
    assert [m.subject for m in found] == ["level 4", "level 3", "level 2"]
    assert [m.uid for m in found] == ["u/1", "u/1/1", "u/1/1/1"]


# --------------------------------------------------------------------------- bounces


def dsn(returned: str) -> bytes:
    body = (
        "--R\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.gov.uk\r\n\r\n"
        "Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--R\r\n{returned}--R--\r\n"
    )
    headers = (
        "From: Mail Delivery System <MAILER-DAEMON@example.gov.uk>\n"
        "Subject: Undelivered Mail Returned to Sender\nMessage-ID: <dsn.1@mx>\n"
        'Content-Type: multipart/report; report-type="delivery-status"; boundary=R'
    )
    return mail(headers, body)


def test_dsn_with_the_original_attached() -> None:
    original = (
        "Content-Type: message/rfc822\r\n\r\n"
        "From: dsppb@example.gov.uk\r\nMessage-ID: <ack.7@dsppb.example.gov.uk>\r\n"
        "Subject: [DSPP-2026-0007] Acknowledgement\r\n\r\nThanks.\r\n"
    )
    msg = parse_message(dsn(original), "5")
    assert msg.content_type == "multipart/report"
    assert msg.report_type == "delivery-status"
    assert msg.from_addr == "mailer-daemon@example.gov.uk"
    assert msg.body_text.strip() == "Your message could not be delivered."
    assert [a.content_type for a in msg.attachments] == [
        "message/delivery-status",
        "message/rfc822",
    ]
    assert b"Status: 5.1.1" in msg.attachments[0].data
    assert original_message_id_of_bounce(msg) == "<ack.7@dsppb.example.gov.uk>"


def test_dsn_with_returned_headers_only() -> None:
    headers_only = (
        "Content-Type: text/rfc822-headers\r\n\r\n"
        "From: dsppb@example.gov.uk\r\nMessage-ID:\r\n <chase.3@dsppb.example.gov.uk>\r\n"
    )
    msg = parse_message(dsn(headers_only), "6")
    assert msg.attachments[-1].content_type == "text/rfc822-headers"
    assert original_message_id_of_bounce(msg) == "<chase.3@dsppb.example.gov.uk>"


def test_classic_bounce_quoting_the_original() -> None:
    body = (
        "This is the mail system. Delivery failed.\r\n\r\n"
        "------ This is a copy of the message, including all the headers. ------\r\n"
        "From: dsppb@example.gov.uk\r\n"
        "Message-Id: <digest.2026-12-04@dsppb.example.gov.uk>\r\n"
        "Subject: Daily digest\r\n"
    )
    raw = mail(
        "From: MAILER-DAEMON@old.example\nMessage-ID: <bounce.9@old>\nSubject: failure", body
    )
    msg = parse_message(raw, "7")
    assert original_message_id_of_bounce(msg) == "<digest.2026-12-04@dsppb.example.gov.uk>"


def test_a_message_that_is_no_bounce_has_no_original() -> None:
    assert original_message_id_of_bounce(parse_message(mail(BASIC), "8")) is None


# --------------------------------------------------------------------------- the sender (SPEC 3)


def sender_of(from_value: str, extra: str = "") -> tuple[str, str, bool]:
    msg = parse_message(mail(f"From: {from_value}\nSubject: x{extra}"), "1")
    return msg.from_addr, msg.from_name, msg.sender_ambiguous


def test_an_encoded_word_decoding_to_a_line_break_is_ambiguous() -> None:
    # Issue 10: this sent the acknowledgement to "_evil@x.example?=".
    raw = mail("From: =?utf-8?q?Eve=0D=0ABcc:_evil@x.example?= <ref8@example.org>\nSubject: x")
    msg = parse_message(raw, "1")
    assert msg.sender_ambiguous
    assert (msg.from_addr, msg.from_name) == ("", "")
    from_header = msg.header("from") or ""
    assert "\r" not in from_header and "\n" not in from_header  # nothing downstream gets a CR/LF


def test_an_address_as_the_display_name_is_ambiguous() -> None:
    # Issue 10: this was taken as the coordinator.
    assert sender_of("coordinator@example.gov.uk <attacker@evil.example>") == ("", "", True)


def test_a_group_with_the_coordinator_in_it_is_ambiguous() -> None:
    # Issue 10: this was taken as the coordinator too.
    assert sender_of("a:coordinator@example.gov.uk; <attacker@evil.example>") == ("", "", True)


@pytest.mark.parametrize(
    "from_value",
    [
        "jo@example.org, attacker@evil.example",
        "jo@example.org attacker@evil.example",
        '"coordinator@example.gov.uk" <attacker@evil.example>',
        "attacker@evil.example (coordinator@example.gov.uk)",
        "=?utf-8?q?coordinator=40example.gov.uk?= <attacker@evil.example>",
        "Jo <=?utf-8?q?coordinator=40example.gov.uk?=>",
        "=?utf-8?b?Sm8NCg==?= <jo@example.org>",  # "Jo\r\n"
        "Team: coordinator@example.gov.uk;",
        "<coordinator@example.gov.uk> <attacker@evil.example>",
    ],
)
def test_other_ambiguous_senders(from_value: str) -> None:
    assert sender_of(from_value) == ("", "", True)


def test_two_from_fields_are_ambiguous() -> None:
    assert sender_of("coordinator@example.gov.uk", "\nFrom: attacker@evil.example")[2]


@pytest.mark.parametrize(
    ("from_value", "addr", "name"),
    [
        ("Jo Bloggs <Jo.Bloggs@Example.ORG>", "jo.bloggs@example.org", "Jo Bloggs"),
        ('"Bloggs, Jo" <jo@example.org>', "jo@example.org", "Bloggs, Jo"),
        ('"jo@example.org" <jo@example.org>', "jo@example.org", "jo@example.org"),
        ("jo@example.org (Jo Bloggs)", "jo@example.org", "Jo Bloggs"),
        ("=?utf-8?q?Zo=C3=AB_Smith?= <zoe@example.org>", "zoe@example.org", "Zoë Smith"),
        (
            "=?utf-8?b?Wm/Dqw==?=\n =?utf-8?b?IFNtaXRo?= <zoe@example.org>",
            "zoe@example.org",
            "Zoë Smith",
        ),
        ("John Q. Public <jqp@example.org>", "jqp@example.org", "John Q. Public"),
        ("<jo@example.org>", "jo@example.org", ""),
    ],
)
def test_plain_senders_are_not_ambiguous(from_value: str, addr: str, name: str) -> None:
    assert sender_of(from_value) == (addr, name, False)


@pytest.mark.parametrize(
    "headers",
    [
        "From: <>",
        'From: "Mail Delivery System" <>',
        "From: postmaster@example.org\nReturn-Path: <>",
        "From: postmaster@example.org\nReturn-Path: < >",
        "From: postmaster@example.org\nReturn-Path: <> (bounce)",
        "From: postmaster@example.org\nReturn-Path: <bounce@example.org>\nReturn-Path: <>",
    ],
)
def test_null_senders_in_any_form(headers: str) -> None:
    msg = parse_message(mail(headers), "1")
    assert msg.null_sender and not msg.sender_ambiguous


def test_a_person_is_no_null_sender() -> None:
    msg = parse_message(mail(BASIC + "\nReturn-Path: <sam.referrer@example.org>"), "1")
    assert not msg.null_sender and not msg.sender_ambiguous


def test_encoded_line_breaks_never_reach_a_header_value() -> None:
    msg = parse_message(mail("From: a@b.c\nSubject: =?utf-8?q?Hi=0D=0ABcc:_x@y.z?="), "1")
    assert msg.subject == "Hi  Bcc: x@y.z"


# --------------------------------------------------------------------------- HTML-only replies


def html_mail(name: str, charset: str = "utf-8", cte: str = "8bit") -> bytes:
    html = (FIXTURES / name).read_text(encoding="utf-8").encode(charset)
    body = quopri.encodestring(html) if cte == "quoted-printable" else html
    headers = (
        "From: Jo Bloggs <jo.bloggs@example.gov.uk>\nSubject: RE: [DSPP-2026-0001] New referral\n"
        f'MIME-Version: 1.0\nContent-Type: text/html; charset="{charset}"\n'
        f"Content-Transfer-Encoding: {cte}"
    )
    return mail(headers, body)


def test_outlook_desktop_html_only_reply_reads_line_by_line() -> None:
    # Outlook desktop: windows-1252, quoted-printable, a p.MsoNormal per line, <o:p>&nbsp;</o:p>.
    msg = parse_message(html_mail("outlook_desktop.html", "windows-1252", "quoted-printable"), "1")
    assert msg.body_text.splitlines()[:12] == [
        "notified: 10/12/2026",
        "start rapid review",
        "",
        "Jo’s team & I will follow up.",
        "",
        "Thanks,",
        "Jo",
        "",
        "From: DSPP Business Unit <dsppb@example.gov.uk>",
        "Sent: 09 December 2026 16:05",
        "To: Jo Bloggs <jo.bloggs@example.gov.uk>",
        "Subject: [DSPP-2026-0001] New referral received",
    ]
    assert "mso" not in msg.body_text and "font-family" not in msg.body_text


def test_outlook_on_the_web_reply_one_line_per_div() -> None:
    msg = parse_message(html_mail("outlook_web.html", "iso-8859-1"), "1")
    assert msg.body_text.splitlines()[:6] == [
        "agency: West Midlands Police <pvp@example.police.uk>",
        "agency: Dudley Council Children's Services <mash@example.gov.uk>",
        "agency: Black Country Healthcare <safeguarding@example.nhs.uk>",
        "",
        "Sam",
        "From: DSPP Business Unit <dsppb@example.gov.uk>",
    ]


def test_gmail_reply_with_a_greeting() -> None:
    msg = parse_message(html_mail("gmail.html"), "1")
    assert msg.body_text.splitlines()[:9] == [
        "Hi all,",
        "",
        "notified: 04/12/2026",
        "aware: 30/11/2026",
        "",
        "Thanks,",
        "Jane",
        "",
        "On Wed, 9 Dec 2026 at 16:05, DSPP Business Unit <dsppb@example.gov.uk> wrote:",
    ]


def test_apple_mail_reply_with_blank_lines() -> None:
    msg = parse_message(html_mail("apple_mail.html", "us-ascii", "quoted-printable"), "1")
    assert msg.body_text.splitlines()[:6] == [
        "decision: cspr",
        "",
        "completed: 01/06/2027",
        "",
        "Dr A. Patel",
        "",
    ]


def test_outlook_com_reply_one_line_per_div() -> None:
    text = html_to_text((FIXTURES / "outlook_com.html").read_text(encoding="utf-8"))
    assert text.splitlines()[:5] == ["Hi. I am fine.", "", "Thanks,", "Alex", ""]
    assert "Date: Thu, 26 Jun 2014 13:53:45 +0400" in text.splitlines()


def test_html_whitespace_never_runs_away() -> None:
    html = (
        "<div>notified:&nbsp;&nbsp; 10/12/2026 \n\n\t </div>"
        "<p>&nbsp;</p><p>&nbsp;</p><p>&nbsp;</p><p></p><div> </div>"
        "<div>start&#160;rapid\n   review</div><p>&nbsp;</p>"
    )
    assert html_to_text(html) == "notified: 10/12/2026\n\nstart rapid review"


def test_text_after_the_closing_html_tag_is_kept() -> None:
    # List servers append their footer after </html>; browsers show it.
    assert html_to_text("<html><body><p>Hello</p></body></html>\n-- \nList footer") == (
        "Hello\n-- List footer"
    )


# --------------------------------------------------------------------------- machine mail facts


def test_part_types_name_every_part() -> None:
    body = (
        "--M\r\nContent-Type: multipart/alternative; boundary=A\r\n\r\n"
        "--A\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
        "--A\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--A--\r\n"
        "--M\r\nContent-Type: message/rfc822\r\n\r\n"
        + FORWARDED
        + "--M\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF\r\n--M--\r\n"
    )
    msg = parse_message(mail("From: a@b.c\nContent-Type: multipart/mixed; boundary=M", body), "1")
    assert msg.part_types == (
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "message/rfc822",  # an attached message is one part; its own parts are its own
        "application/pdf",
    )
    assert parse_message(mail(BASIC), "2").part_types == ("text/plain",)


@pytest.mark.parametrize("machine_type", ["message/delivery-status", "message/feedback-report"])
def test_machine_parts_outside_multipart_report_are_visible(machine_type: str) -> None:
    body = (
        "--M\r\nContent-Type: text/plain\r\n\r\nThis is a report.\r\n"
        f"--M\r\nContent-Type: {machine_type}\r\n\r\n"
        "Feedback-Type: abuse\r\nReporting-MTA: dns; mx.example.org\r\n\r\n--M--\r\n"
    )
    msg = parse_message(mail("From: <>\nContent-Type: multipart/mixed; boundary=M", body), "1")
    assert msg.content_type == "multipart/mixed"
    assert machine_type in msg.part_types
    assert msg.null_sender


@pytest.mark.parametrize(
    ("bom", "codec"),
    [(b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")],
)
def test_a_leading_byte_order_mark_is_tolerated(bom: bytes, codec: str) -> None:
    original = dsn("Content-Type: text/rfc822-headers\r\n\r\nMessage-ID: <ack.1@dsppb>\r\n")
    raw = bom + original.decode("utf-8").encode(codec)
    msg = parse_message(raw, "1")
    assert msg.from_addr == "mailer-daemon@example.gov.uk"
    assert msg.content_type == "multipart/report" and msg.report_type == "delivery-status"
    assert "message/delivery-status" in msg.part_types
    assert msg.sha256 == hashlib.sha256(raw).hexdigest()
    assert "LeadingByteOrderMark" in msg.defects
