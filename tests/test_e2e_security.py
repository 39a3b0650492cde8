"""End to end, nothing forged steers a case (issue 10 findings 1-3; SPEC 3 "Who a message is from",
"Trusting a sender"; SPEC 9 ``[security]``), against the real Dovecot and aiosmtpd.

Each attack of the issue is replayed as an attacker sent it: a command with ``From:`` a coordinator
that the mail server did not vouch for, under both sender checks (and a pass written by another
server); a scoping return from a stranger; the three ambiguous ``From:`` shapes. Then the genuine
mail that must still work: an Outlook reply carrying what Exchange Online or the site's own mail
server writes, a return from the agency's domain or in the thread of its request, ``accept return``.
What counts is what a user sees: what the SMTP server received, and ``case --json``.
"""

from __future__ import annotations

import quopri
import re
from datetime import datetime
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path

import pytest
from e2e import (
    COORDINATOR,
    DOCX_TYPE,
    MAILBOX,
    PROCESSED,
    REFERRAL,
    REFERRER,
    TRIAGE,
    Days,
    make_bot,
    plain_mail,
    referral_mail,
    scoping_return,
    template_of,
    text_parts,
)
from servers import DovecotServer, Received, SmtpServer

from cspr_mailbot.core.workdays import LONDON

pytestmark = pytest.mark.dovecot

REF = "DSPP-2026-0001"
POLICE = "pvp@example.police.uk"  # West Midlands Police, from the directory
WMP = "West Midlands Police"
ATTACKER = "attacker@evil.example"
MALLORY = "mallory@evil.example"
AUTHSERV = "mx.example.gov.uk"
FIXTURES = Path(__file__).parent / "fixtures" / "html"
EXO_HOST = "LO2P265MB1234.GBRP265.PROD.OUTLOOK.COM"

EXCHANGE = 'sender_check = "exchange-internal"'
AUTHRES = f'sender_check = "authentication-results"\nauthserv_id = "{AUTHSERV}"'

# The forged mail: the server's own verdict says it failed.
FORGED_HEADERS = (
    ("Return-Path", f"<{ATTACKER}>"),
    (
        "Authentication-Results",
        f"{AUTHSERV}; spf=fail smtp.mailfrom=evil.example; dkim=none; dmarc=fail",
    ),
)
# What Exchange Online writes on mail from one of its own users (and strips from mail from outside).
EXCHANGE_INTERNAL = (
    ("X-MS-Exchange-Organization-AuthAs", "Internal"),
    ("X-MS-Exchange-Organization-AuthMechanism", "04"),
    ("X-MS-Exchange-Organization-AuthSource", EXO_HOST),
)
# What a site's receiving server (OpenDKIM + OpenDMARC) writes on a coordinator's genuine mail.
AUTHRES_PASS = (
    (
        "Authentication-Results",
        f"{AUTHSERV}; dkim=pass (2048-bit key; unprotected) header.d=example.gov.uk "
        "header.i=@example.gov.uk header.b=Yh3kq0Zs; dmarc=pass (p=quarantine dis=none) "
        "header.from=example.gov.uk",
    ),
)


def when(day: str, hh: int = 9) -> datetime:
    return datetime.fromisoformat(f"{day}T{hh:02d}:00").replace(tzinfo=LONDON)


def addrs(r: Received) -> set[str]:
    return {a.lower() for a in r.rcpt_tos}


def outlook_reply(
    subject: str, in_reply_to: str, day: str, headers: tuple[tuple[str, str], ...]
) -> bytes:
    """A coordinator's reply as Outlook desktop sends it through Exchange: HTML only, windows-1252,
    quoted-printable, Thread-Index, with the headers the server added. Its commands are the
    fixture's: ``notified: 10/12/2026`` and ``start rapid review``."""
    html = (FIXTURES / "outlook_desktop.html").read_text("utf-8")
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
    head = (
        f"{extra}From: Casey Coordinator <{COORDINATOR}>\r\nTo: DSPP Business Unit <{MAILBOX}>\r\n"
        f"Subject: {subject}\r\nThread-Topic: {subject}\r\nThread-Index: AQHbQ2x1c2VjdHJ1c3Q=\r\n"
        f"Date: {format_datetime(when(day))}\r\nMessage-ID: {make_msgid(domain=EXO_HOST)}\r\n"
        f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n"
        "Accept-Language: en-GB, en-US\r\nContent-Language: en-GB\r\nX-MS-Has-Attach:\r\n"
        "X-MS-TNEF-Correlator:\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/html; charset="windows-1252"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    body = quopri.encodestring(html.encode("windows-1252").replace(b"\n", b"\r\n"))
    return head.encode() + body


def with_from(raw: bytes, from_value: bytes) -> bytes:
    """``raw`` with its From: field replaced by ``from_value`` exactly as written."""
    new, n = re.subn(rb"^From: [^\r\n]*", b"From: " + from_value, raw, count=1, flags=re.M)
    assert n == 1
    return new


def completed(agency: str) -> bytes:
    return scoping_return(REF, agency)


class Bench(Days):
    """The bot, the servers, and what the SMTP server got since the last look."""

    def referral(self) -> Received:
        """Mon 30 Nov: the referral that makes DSPP-2026-0001; its new-referral notice."""
        got = self.run("2026-11-30", referral_mail(date=when("2026-11-30")))
        assert self.bot.case(REF)["status"] == "referral_received"
        (new,) = [r for r in got if template_of(r) == "new_referral"]
        return new


SCHEDULED = ("digest", "deadline_notice", "scoping_chaser")  # what a day brings whatever the mail


def caused(got: list[Received]) -> list[str]:
    """The templates of what the day's mail caused, sorted: the scheduled mail left out."""
    return sorted(t for r in got if (t := template_of(r)) not in SCHEDULED)


def only(got: list[Received], template: str) -> Received:
    found = [r for r in got if template_of(r) == template]
    assert len(found) == 1, [(template_of(r), sorted(addrs(r))) for r in got]
    return found[0]


# -- finding 1: forged commands ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("security", "genuine_headers"),
    [(EXCHANGE, EXCHANGE_INTERNAL), (AUTHRES, AUTHRES_PASS)],
    ids=["exchange-internal", "authentication-results"],
)
def test_forged_commands_are_filed_not_obeyed_and_genuine_ones_from_outlook_work(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    security: str,
    genuine_headers: tuple[tuple[str, str], ...],
) -> None:
    bench = Bench(make_bot(tmp_path, dovecot, smtp_server, security=security))
    new = bench.referral()

    # -- Tue 1 Dec: the attacker adds their own "agency" and starts the Rapid Review. -------------
    forged_start = plain_mail(
        COORDINATOR,
        f"Re: [{REF}]",
        f"agency: Evil Agency <{ATTACKER}>\nstart rapid review",
        date=when("2026-12-01"),
        headers=FORGED_HEADERS,
    )
    # A pass written by another server (the attacker's own) must not count either.
    other_server = plain_mail(
        COORDINATOR,
        f"Re: [{REF}] agencies",
        f"agency: Evil Two <{MALLORY}>",
        date=when("2026-12-01"),
        headers=(
            ("Authentication-Results", "mx.evil.example; dkim=pass header.d=example.gov.uk; "
             "dmarc=pass header.from=example.gov.uk"),
            ("Return-Path", f"<{MALLORY}>"),
        ),
    )  # fmt: skip
    got = bench.run("2026-12-01", forged_start, other_server)
    assert all(addrs(r) == {COORDINATOR} for r in got), [(template_of(r), addrs(r)) for r in got]
    assert caused(got) == ["unverified_notice", "unverified_notice"]
    for r in got:
        if template_of(r) == "unverified_notice":
            text = text_parts(r.message)["text/plain"]
            assert "could not be verified" in str(r.message["Subject"])
            assert "NOT carried out" in text and COORDINATOR in text
    forged_text = [
        text_parts(r.message)["text/plain"] for r in got if template_of(r) == "unverified_notice"
    ]
    assert any("start rapid review" in t and ATTACKER in t for t in forged_text), forged_text
    case = bench.bot.case(REF)
    assert case["status"] == "referral_received"
    assert [a["name"] for a in case["agencies"]] == [WMP]
    assert all(a["requested_on"] is None for a in case["agencies"])
    assert [e["kind"] for e in case["events"]].count("unverified_command") == 2
    assert bench.dovecot.folder_count(PROCESSED) == 3

    # -- Wed 2 Dec: the attacker closes the case. ------------------------------------------------
    got = bench.run(
        "2026-12-02",
        plain_mail(
            COORDINATOR,
            f"Re: [{REF}]",
            "decision: no review",
            date=when("2026-12-02"),
            headers=FORGED_HEADERS,
        ),
    )
    assert all(addrs(r) == {COORDINATOR} for r in got)
    assert "decision: no review" in text_parts(only(got, "unverified_notice").message)["text/plain"]
    case = bench.bot.case(REF)
    assert (case["status"], case["decision"], case["closed_on"]) == (
        "referral_received",
        None,
        None,
    )
    assert case["deadlines"]["sin"] is not None  # the SIN clock runs on, with its notices

    # -- Thu 10 Dec: the coordinator replies from Outlook to the new-referral notice. -------------
    genuine = outlook_reply(
        f"RE: {new.message['Subject']}", new.message["Message-ID"], "2026-12-10", genuine_headers
    )
    got = bench.run("2026-12-10", genuine)
    request = only(got, "scoping_request")
    assert addrs(request) == {POLICE}
    reply = text_parts(only(got, "command_reply").message)["text/plain"]
    assert "Rapid Review started" in reply and "National Panel notified on Thu 10 Dec 2026" in reply
    assert not [r for r in got if template_of(r) == "unverified_notice"]
    assert not [r for r in bench.smtp.messages if {ATTACKER, MALLORY} & addrs(r)]
    case = bench.bot.case(REF)
    assert case["status"] == "rapid_review" and case["notified_date"] == "2026-12-10"
    assert [a["email"] for a in case["agencies"]] == [POLICE]


def test_an_unverified_command_naming_no_case_goes_to_triage_unanswered(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bench = Bench(make_bot(tmp_path, dovecot, smtp_server, security=EXCHANGE))
    got = bench.run(
        "2026-11-30",
        plain_mail(
            COORDINATOR,
            "Re: [DSPP-2026-0099]",
            "decision: no review",
            date=when("2026-11-30"),
            headers=(("X-MS-Exchange-Organization-AuthAs", "Anonymous"),),
        ),
    )
    assert [template_of(r) for r in got if template_of(r) != "digest"] == ["unverified_notice"]
    assert all(addrs(r) == {COORDINATOR} for r in got)
    assert bench.dovecot.folder_count(TRIAGE) == 1
    assert bench.bot.cases() == []


# -- finding 2: forged returns ---------------------------------------------------------------------


def test_a_forged_return_is_held_until_a_coordinator_accepts_it(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bench = Bench(make_bot(tmp_path, dovecot, smtp_server))
    new = bench.referral()
    got = bench.run(
        "2026-11-30",
        plain_mail(
            COORDINATOR,
            f"RE: {new.message['Subject']}",
            "start rapid review",
            date=when("2026-11-30", 9),
            headers={"In-Reply-To": new.message["Message-ID"]},
        ),
    )
    assert addrs(only(got, "scoping_request")) == {POLICE}

    # -- Tue 1 Dec: Mallory sends the police's template, filled in, in a new thread. ---------------
    got = bench.run(
        "2026-12-01",
        plain_mail(
            MALLORY,
            "Initial Scoping return",
            "Our return is attached.",
            date=when("2026-12-01"),
            attachments=[("Initial Scoping WMP.docx", completed(WMP), DOCX_TYPE)],
        ),
    )
    assert caused(got) == ["held_return_notice"]
    assert all(addrs(r) == {COORDINATOR} for r in got)  # Mallory is not answered
    held = text_parts(only(got, "held_return_notice").message)["text/plain"]
    assert MALLORY in held and f"accept return: {WMP}" in held and "NOT recorded" in held
    case = bench.bot.case(REF)
    police = case["agencies"][0]
    assert (police["returned_on"], police["chasers_sent"]) == (None, 0)
    assert [(h["agency"], h["from"]) for h in case["held_returns"]] == [(WMP, MALLORY)]
    assert "return_held" in [e["kind"] for e in case["events"]]

    # -- Thu 3 Dec: the police are chased as if nothing had come (due Mon 7 Dec, 2 days before). --
    got = bench.run("2026-12-03")
    assert caused(got) == []
    assert addrs(only(got, "scoping_chaser")) == {POLICE}
    assert not [r for r in bench.smtp.messages if template_of(r) == "returns_complete"]

    # -- Fri 4 Dec: the coordinator checked with the police, and accepts it. ----------------------
    got = bench.run(
        "2026-12-04",
        plain_mail(
            COORDINATOR, f"[{REF}] return", f"accept return: {WMP}", date=when("2026-12-04")
        ),
    )
    reply = text_parts(only(got, "command_reply").message)["text/plain"]
    assert f"taken as {WMP}'s" in reply, reply
    case = bench.bot.case(REF)
    assert case["agencies"][0]["returned_on"] == "2026-12-01"
    assert case["held_returns"] == []


def test_genuine_returns_from_the_agency_domain_or_its_thread_are_recorded(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    school, oak = "dsl@oakfield.example.sch.uk", "Oakfield Primary School"
    values = {
        **REFERRAL,
        "agencies_involved": [
            {"name": "WMP", "contact_name": "DS Carter", "email": None},
            {"name": oak, "contact_name": "DSL", "email": school},
        ],
    }
    bench = Bench(make_bot(tmp_path, dovecot, smtp_server))
    got = bench.run("2026-11-30", referral_mail(values, date=when("2026-11-30")))
    new = only(got, "new_referral")
    got = bench.run(
        "2026-11-30",
        plain_mail(
            COORDINATOR,
            f"RE: {new.message['Subject']}",
            "start rapid review",
            date=when("2026-11-30"),
            headers={"In-Reply-To": new.message["Message-ID"]},
        ),
    )
    school_request = [r for r in got if template_of(r) == "scoping_request" and school in addrs(r)]
    (school_request_id,) = [r.message["Message-ID"] for r in school_request]

    # The police's analyst, another address on the police's domain, in a new thread; the school's
    # head teacher from her own (webmail) address, answering the school's request.
    head = "head.teacher@gmail.com"
    got = bench.run(
        "2026-12-01",
        plain_mail(
            "analyst@example.police.uk",
            "Scoping form",
            "Attached.",
            date=when("2026-12-01"),
            attachments=[("scoping.docx", completed(WMP), DOCX_TYPE)],
        ),
        plain_mail(
            head,
            "RE: Initial Scoping request",
            "Please see attached.",
            date=when("2026-12-01", 9),
            headers={"In-Reply-To": school_request_id, "References": school_request_id},
            attachments=[("scoping (2).docx", completed(oak), DOCX_TYPE)],
        ),
    )
    shapes = sorted(
        (template_of(r), tuple(sorted(addrs(r)))) for r in got if template_of(r) not in SCHEDULED
    )
    assert shapes == [
        ("return_ack", ("analyst@example.police.uk",)),
        ("return_ack", (head,)),
        ("returns_complete", (COORDINATOR,)),
    ], shapes
    case = bench.bot.case(REF)
    assert {a["name"]: a["returned_on"] for a in case["agencies"]} == {
        WMP: "2026-12-01",
        oak: "2026-12-01",
    }
    assert case["held_returns"] == []
    # A stranger on the same webmail domain, in a new thread, is not the school.
    got = bench.run(
        "2026-12-02",
        plain_mail(
            "someone.else@gmail.com",
            "Scoping form",
            "Attached.",
            date=when("2026-12-02"),
            attachments=[("scoping.docx", completed(oak), DOCX_TYPE)],
        ),
    )
    assert caused(got) == ["held_return_notice"]
    assert [h["from"] for h in bench.bot.case(REF)["held_returns"]] == ["someone.else@gmail.com"]


# -- finding 3: ambiguous and null senders ------------------------------------------------------------

AMBIGUOUS = [
    b"=?utf-8?q?Eve=0D=0ABcc:_evil@x.example?= <ref8@example.org>",
    b"coordinator@example.gov.uk <attacker@evil.example>",
    b"a:coordinator@example.gov.uk; <attacker@evil.example>",
]


@pytest.mark.parametrize("from_value", AMBIGUOUS, ids=["encoded-bcc", "address-as-name", "group"])
def test_ambiguous_senders_end_in_triage_unanswered(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer, from_value: bytes
) -> None:
    bench = Bench(make_bot(tmp_path, dovecot, smtp_server))
    bench.referral()
    # A referral with a readable form, and a "coordinator's" command on the open case.
    referral = with_from(referral_mail(date=when("2026-12-01")), from_value)
    command = with_from(
        plain_mail(REFERRER, f"Re: [{REF}]", "decision: no review", date=when("2026-12-01")),
        from_value,
    )
    got = bench.run("2026-12-01", referral, command)
    outside = [(template_of(r), addrs(r)) for r in got if addrs(r) != {COORDINATOR}]
    assert outside == []
    for r in got:  # nothing goes to any address the From: names, in any header
        named = {
            a.lower()
            for _, a in getaddresses(
                r.message.get_all("To", [])
                + r.message.get_all("Cc", [])
                + r.message.get_all("Bcc", [])
            )
        }
        assert named <= {COORDINATOR}, named
    assert caused(got) == ["ambiguous_sender_notice", "correspondence_notice"]
    assert "triage" in text_parts(only(got, "correspondence_notice").message)["text/plain"]
    assert bench.dovecot.folder_count(TRIAGE) == 2
    cases = bench.bot.cases()
    assert [c["reference"] for c in cases] == [REF]  # no case for the ambiguous referral
    assert (cases[0]["status"], cases[0]["decision"]) == ("referral_received", None)


def test_null_senders_are_never_answered(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bench = Bench(make_bot(tmp_path, dovecot, smtp_server))
    from_null = with_from(referral_mail(date=when("2026-11-30")), b"<>")
    return_path_null = plain_mail(
        REFERRER,
        "Re: [DSPP-2026-0001]",
        "Thanks",
        date=when("2026-11-30"),
        headers=(("Return-Path", "<>"),),
    )
    got = bench.run("2026-11-30", from_null, return_path_null)
    assert got and all(addrs(r) == {COORDINATOR} for r in got), [
        (template_of(r), addrs(r)) for r in got
    ]
    assert REFERRER not in {a for r in bench.smtp.messages for a in addrs(r)}
    assert MAILBOX not in {a for r in bench.smtp.messages for a in addrs(r)}
