"""End to end, commands as coordinators write them (issue 12; SPEC 7) against the real Dovecot and
aiosmtpd: one ``run --once --now`` per simulated day.

Each client's reply is built from its real markup (tests/fixtures/html) and sent the way that client
sends it: Outlook on the web and Outlook desktop HTML only (desktop in windows-1252, quoted-printable),
Gmail as text and HTML with a greeting, Apple Mail with blank lines between the commands. Each executes
exactly its commands. Near-misses and impossible commands are answered with an error naming the line,
and change nothing. Then a second referral about the same child is marked ``duplicate of:``.
"""

from __future__ import annotations

import quopri
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
from e2e import (
    COORDINATOR,
    MAILBOX,
    REFERRAL,
    Days,
    make_bot,
    plain_mail,
    referral_mail,
    template_of,
    text_parts,
)
from servers import DovecotServer, SmtpServer

from cspr_mailbot.core.workdays import LONDON

pytestmark = pytest.mark.dovecot

FIXTURES = Path(__file__).parent / "fixtures" / "html"
REF, COPY = "DSPP-2026-0001", "DSPP-2026-0002"
POLICE, CSC, HEALTH = (
    "pvp@example.police.uk",
    "mash@example.gov.uk",
    "safeguarding@example.nhs.uk",
)


def when(day: str, hh: int = 9) -> datetime:
    return datetime.fromisoformat(f"{day}T{hh:02d}:00").replace(tzinfo=LONDON)


def html_only(html: str, charset: str, subject: str, day: str, *, qp: bool = False) -> bytes:
    """An HTML-only reply, as Outlook desktop and Outlook on the web send one."""
    head = (
        f"From: Coordinator <{COORDINATOR}>\r\nTo: {MAILBOX}\r\nSubject: {subject}\r\n"
        f"Date: {format_datetime(when(day))}\r\nMessage-ID: {make_msgid(domain='example.gov.uk')}\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: text/html; charset="{charset}"\r\n'
    )
    data = html.encode(charset)
    if qp:
        body = quopri.encodestring(data.replace(b"\n", b"\r\n"))
        return (head + "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode() + body
    return (head + "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + data


def alternative(text: str, html: str, subject: str, day: str) -> bytes:
    """Text and HTML, as Gmail and Apple Mail send a reply."""
    msg = EmailMessage()
    msg["From"] = COORDINATOR
    msg["To"] = MAILBOX
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when(day))
    msg["Message-ID"] = make_msgid(domain="example.gov.uk")
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


class Replies(Days):
    def replies(self, day: str, *mails: bytes) -> list[str]:
        """The text of each command reply the day's mail got, in the order the mail was sent."""
        got = self.run(day, *mails)
        replies = [
            text_parts(r.message)["text/plain"] for r in got if template_of(r) == "command_reply"
        ]
        assert len(replies) == len(mails), [template_of(r) for r in got]
        return replies


def refused(reply: str, line: str, problem: str) -> None:
    assert "Nothing was done" in reply, reply
    assert f'"{line}": ' in reply and problem in reply, reply


def test_commands_as_people_write_them(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bot = make_bot(tmp_path, dovecot, smtp_server)
    days = Replies(bot)
    subject = f"RE: OFFICIAL-SENSITIVE [{REF}] New referral received"

    # -- Mon 7 Dec 2026: the referral, naming West Midlands Police only. ---------------------------
    days.run("2026-12-07", referral_mail(REFERRAL, date=when("2026-12-07")))
    assert bot.case(REF)["status"] == "referral_received"

    # -- Tue 8 Dec: Outlook on the web, HTML only, one <div> per line: three agencies. ------------
    owa = (FIXTURES / "outlook_web.html").read_text("utf-8")
    (reply,) = days.replies("2026-12-08", html_only(owa, "iso-8859-1", subject, "2026-12-08"))
    assert "West Midlands Police is already on the case" in reply, reply
    assert f"Added Dudley Council Children's Services <{CSC}>" in reply, reply
    assert f"Added Black Country Healthcare <{HEALTH}>" in reply, reply
    case = bot.case(REF)
    assert [a["email"] for a in case["agencies"]] == [POLICE, CSC, HEALTH]

    # -- Wed 9 Dec: Gmail with a greeting: both dates. Then near-misses: each an error, nothing done.
    gmail_html = (FIXTURES / "gmail.html").read_text("utf-8")
    gmail_text = (
        "Hi all,\n\nnotified: 04/12/2026\naware: 30/11/2026\n\nThanks,\nJane\n\n"
        "On Wed, 9 Dec 2026 at 16:05, DSPP Business Unit <dsppb@example.gov.uk> wrote:\n\n"
        "> A new referral has been received.\n"
    )
    near = [
        ("Hi all,\n\nnotified 10/12/2026\n\nThanks, Jane\n", "notified 10/12/2026", "colon"),
        ("Notified - 10/12/2026\n", "Notified - 10/12/2026", "colon"),
        ("Start rapid review.\n", "Start rapid review.", "alone on its line"),
        ("decison: cspr\n", "decison: cspr", "did you mean 'decision:'?"),
    ]
    replies = days.replies(
        "2026-12-09",
        alternative(gmail_text, gmail_html, subject, "2026-12-09"),
        *(plain_mail(COORDINATOR, subject, body, date=when("2026-12-09")) for body, _, _ in near),
    )
    assert "National Panel notified on Fri 4 Dec 2026" in replies[0], replies[0]
    assert "Local authority aware on Mon 30 Nov 2026" in replies[0], replies[0]
    for reply, (_, line, problem) in zip(replies[1:], near, strict=True):
        refused(reply, line, problem)
    case = bot.case(REF)
    assert (case["notified_date"], case["aware_date"], case["status"]) == (
        "2026-12-04",
        "2026-11-30",
        "referral_received",
    )

    # -- Thu 10 Dec: Outlook desktop, HTML only, windows-1252, quoted-printable: both commands. ----
    desktop = (FIXTURES / "outlook_desktop.html").read_text("utf-8")
    got = days.run("2026-12-10", html_only(desktop, "windows-1252", subject, "2026-12-10", qp=True))
    requests = sorted(r.rcpt_tos[0] for r in got if template_of(r) == "scoping_request")
    assert requests == sorted([POLICE, CSC, HEALTH])
    (reply,) = [
        text_parts(r.message)["text/plain"] for r in got if template_of(r) == "command_reply"
    ]
    assert "National Panel notified on Thu 10 Dec 2026" in reply and "Rapid Review started" in reply
    case = bot.case(REF)
    assert (case["notified_date"], case["status"]) == ("2026-12-10", "rapid_review")

    # -- Fri 11 Dec: impossible commands: an error each, and nothing done. ------------------------
    apple = (FIXTURES / "apple_mail.html").read_text(
        "utf-8"
    )  # decision: cspr, completed: 01/06/2027
    impossible = [
        ("remove agency: Black Country Healthcare", "was sent its scoping request"),
        ("notified: 2027-05-01", "after today"),
        ("decision: cspr 2020-01-01", "before the case was received"),
        ("published: 11/12/2026", "no review has been decided"),
    ]
    replies = days.replies(
        "2026-12-11",
        html_only(apple, "us-ascii", subject, "2026-12-11"),
        *(
            plain_mail(COORDINATOR, subject, line, date=when("2026-12-11"))
            for line, _ in impossible
        ),
    )
    refused(replies[0], "completed: 01/06/2027", "after today")
    for reply, (line, problem) in zip(replies[1:], impossible, strict=True):
        refused(reply, line, problem)
    after = bot.case(REF)
    assert {k: after[k] for k in after if k != "events"} == {
        k: case[k] for k in case if k != "events"
    }

    # -- Mon 14 Dec: Apple Mail with blank lines between: the decision and a corrected field. ------
    apple = apple.replace("decision: cspr", "decision: lcspr 11/12/2026").replace(
        "completed: 01/06/2027", "set child_school: Oakfield Primary"
    )
    apple_text = "decision: lcspr 11/12/2026\n\nset child_school: Oakfield Primary\n\nDr A. Patel\n"
    (reply,) = days.replies("2026-12-14", alternative(apple_text, apple, subject, "2026-12-14"))
    assert "Decision: cspr on Fri 11 Dec 2026" in reply, reply
    assert "child_school set to Oakfield Primary" in reply, reply
    case = bot.case(REF)
    assert (case["status"], case["decision_date"], case["referral"]["child_school"]) == (
        "cspr",
        "2026-12-11",
        "Oakfield Primary",
    )
    # Then no review, then a CSPR again: each answer says what it replaced.
    (reply,) = days.replies(
        "2026-12-15", plain_mail(COORDINATOR, subject, "decision: nfa", date=when("2026-12-15"))
    )
    assert "Decision: no review on Tue 15 Dec 2026 (replaces cspr of Fri 11 Dec 2026)" in reply
    (reply,) = days.replies(
        "2026-12-16", plain_mail(COORDINATOR, subject, "decision: cspr", date=when("2026-12-16"))
    )
    assert "Decision: cspr on Wed 16 Dec 2026 (replaces no review of Tue 15 Dec 2026)" in reply
    assert bot.case(REF)["status"] == "cspr"

    # -- Thu 17 Dec: the same child referred again by the school; the coordinator marks it a copy. --
    school: dict[str, Any] = {
        **REFERRAL,
        "referrer_name": "Alex Head",
        "referrer_email": "head@oakfield.example.sch.uk",
        "agencies_involved": [
            {
                "name": "Oakfield Primary School",
                "contact_name": "DSL",
                "email": "dsl@oakfield.example.sch.uk",
            }
        ],
    }
    days.run(
        "2026-12-17",
        referral_mail(school, sender="head@oakfield.example.sch.uk", date=when("2026-12-17")),
    )
    assert bot.case(COPY)["status"] == "referral_received"
    copy_subject = f"RE: OFFICIAL-SENSITIVE [{COPY}] New referral received"
    (reply,) = days.replies(
        "2026-12-18",
        plain_mail(
            COORDINATOR,
            copy_subject,
            f"Morning,\n\nduplicate of: {REF}\n\nJo",
            date=when("2026-12-18"),
        ),
    )
    assert f"Marked a duplicate of {REF} and closed" in reply, reply
    copy, case = bot.case(COPY), bot.case(REF)
    assert (copy["status"], copy["duplicate_of"], copy["agencies"]) == ("closed", REF, [])
    assert "Oakfield Primary School" in [a["name"] for a in case["agencies"]]
    assert any(e["kind"] == "duplicate_joined" for e in case["events"])
    # The copy's own events (its intake) are on the case now.
    assert len([e for e in case["events"] if e["kind"] == "screened"]) == 2
