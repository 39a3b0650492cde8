"""End to end, the Rapid Review by email (issue 5; SPEC 2, 5, 7): a simulated month against the real
Dovecot and aiosmtpd, one ``run --once --now`` per simulated day.

A referral names three agencies: one in the [[agencies]] directory by its alias, one with an address
only on the form, one with no address. The coordinator starts the Rapid Review by replying to the
new-referral notice, gives the third agency an address by mail, the agencies return (one by reply,
one from another address in a new thread, one by reply after a kill -9 of the bot mid-pass), a
non-coordinator's "decision" is refused, and the coordinator decides. On every simulated day the
test asserts exactly which messages went out, to whom, with which template attached; the dates are
worked out by hand below.
"""

from __future__ import annotations

import select
import socket
from collections import Counter
from datetime import datetime
from email.utils import getaddresses, make_msgid
from pathlib import Path

import pytest
from e2e import (
    COORDINATOR,
    DOCX_TYPE,
    INBOX,
    MAILBOX,
    PROCESSED,
    REFERRAL,
    REFERRER,
    Bot,
    Days,
    make_bot,
    plain_mail,
    referral_mail,
    scoping_return,
    template_of,
    text_parts,
    wait_until,
)
from servers import DovecotServer, Received, SmtpServer

from cspr_mailbot.core import forms
from cspr_mailbot.core.workdays import LONDON

pytestmark = pytest.mark.dovecot

REF = "DSPP-2026-0001"
POLICE = "pvp@example.police.uk"  # West Midlands Police, from the directory (the form says "WMP")
SCHOOL = "dsl@oakfield.example.sch.uk"  # Oakfield Primary School: only on the form
HOUSING = "housing@example.gov.uk"  # Dudley Housing: no address anywhere until the coordinator
HEAD = "head@oakfield.example.sch.uk"  # returns the school's template from another address
OUTSIDER = "advocate@example.org"  # not a coordinator
WMP, OAK, DH = "West Midlands Police", "Oakfield Primary School", "Dudley Housing"
CHILD = ("Jamie", "Quennell", "Wrenfield", "DY1 4QX", "12/04/2019", "2019-04-12")

CALENDAR = """
[calendar]
closures = ["2026-12-29", "2026-12-30", "2026-12-31"]
"""

VALUES = {
    **REFERRAL,
    "incident_date": "2026-12-17",
    "la_aware_date": "2026-12-18",
    "agencies_involved": [
        {"name": "WMP", "contact_name": "DS Carter", "email": None},
        {"name": OAK, "contact_name": "DSL", "email": SCHOOL},
        {"name": DH, "contact_name": "Housing officer", "email": None},
    ],
}

# What one message looks like for the day-by-day comparison: (template, To, Cc).
Sent = tuple[str, tuple[str, ...], tuple[str, ...]]


def to(template: str, *addrs: str, cc: tuple[str, ...] = ()) -> Sent:
    return (template, tuple(sorted(addrs)), tuple(sorted(cc)))


def shape(r: Received) -> Sent:
    def addrs(name: str) -> tuple[str, ...]:
        return tuple(sorted(a.lower() for _, a in getaddresses(r.message.get_all(name, [])) if a))

    return (template_of(r), addrs("To"), addrs("Cc"))


def when(day: str, hh: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hh:02d}:00").replace(tzinfo=LONDON)


def only(received: list[Received], template: str, addr: str | None = None) -> Received:
    found = [
        r for r in received if template_of(r) == template and (addr is None or addr in shape(r)[1])
    ]
    assert len(found) == 1, f"{len(found)} {template} to {addr}: {[shape(r) for r in received]}"
    return found[0]


def template_props(r: Received) -> dict[str, str]:
    """The custom properties of the one scoping template attached to a message the bot sent."""
    docs = [p for p in r.message.iter_attachments() if p.get_content_type() == DOCX_TYPE]
    assert len(docs) == 1, f"{len(docs)} .docx attached to {shape(r)}"
    data = docs[0].get_content()
    read = forms.read_scoping_docx(data, docs[0].get_filename() or "t.docx", forms.Labels.load())
    assert read.embedded_reference == REF
    props = forms.read_custom_properties(data)
    assert props["cspr_case_reference"] == REF
    assert read.embedded_agency == props["cspr_agency"]
    return props


def completed(agency: str) -> bytes:
    return scoping_return(
        REF,
        agency,
        phone="0121 000 0001",
        involvement_to="2026-12-17",
        good_practice="Prompt information sharing.",
        learning="Escalation when families disengage.",
        immediate_actions="Records secured; staff debriefed.",
        chronology=[
            {"date": "14/03/2025", "event": "Home visit", "agency": "Concerns recorded"},
            {"date": "2 June 2026", "event": "Missed appointment", "agency": "Letter sent"},
        ],
    )


class Fortnight(Days):
    """The bot, the servers and what went out on each simulated day."""

    def __init__(self, bot: Bot) -> None:
        super().__init__(bot)
        self.log: list[tuple[str, Sent]] = []  # every message the SMTP server got, with its day

    def deliver(self, raw: bytes) -> None:
        self.dovecot.append(raw)

    def day(self, day: str, expected: list[Sent], *, passes: int = 1) -> list[Received]:
        """``passes`` passes at 10:00 on ``day``; exactly ``expected`` must go out, in any order."""
        for _ in range(passes):
            self.bot.run_once(f"{day}T10:00")
        return self.check(day, expected)

    def check(self, day: str, expected: list[Sent]) -> list[Received]:
        got = self.new_mail()
        self.log.extend((day, shape(r)) for r in got)
        assert Counter(shape(r) for r in got) == Counter(expected), (
            f"{day}: sent {sorted(shape(r) for r in got)}, expected {sorted(expected)}"
        )
        assert self.dovecot.folder_count(INBOX) == 0, f"{day}: mail left in the INBOX"
        for r in got:
            assert r.mail_from == MAILBOX
            subject = str(r.message["Subject"])
            assert subject.startswith("OFFICIAL-SENSITIVE "), subject
            if template_of(r) != "digest":
                assert f"[{REF}]" in subject, subject
            if COORDINATOR not in shape(r)[1] + shape(r)[2]:
                # Mail that leaves the coordinators never names the child.
                text = " ".join(text_parts(r.message).values()) + subject
                assert not [w for w in CHILD if w in text], (shape(r), text)
        return got


DIGEST = to("digest", COORDINATOR)


def test_rapid_review_by_email_over_christmas(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bot = make_bot(tmp_path, dovecot, smtp_server, CALENDAR)
    f = Fortnight(bot)

    # -- Mon 21 Dec 2026: the referral. -----------------------------------------------------------
    f.deliver(referral_mail(VALUES, date=when("2026-12-21", 9)))
    got = f.day(
        "2026-12-21",
        [
            to("acknowledgement", REFERRER),
            to("new_referral", COORDINATOR),
            to("no_agency_address", COORDINATOR),  # Dudley Housing: no address anywhere
            DIGEST,
        ],
    )
    notice = only(got, "new_referral")
    assert DH in text_parts(only(got, "no_agency_address").message)["text/plain"]
    case = bot.case(REF)
    assert case["status"] == "referral_received"
    assert [(a["name"], a["email"]) for a in case["agencies"]] == [
        (WMP, POLICE),  # "WMP" is an alias in the directory
        (OAK, SCHOOL),
        (DH, None),
    ]
    # SIN from the LA-aware date Fri 18 Dec: Mon 21 (1), Tue 22 (2), Wed 23 (3), Thu 24 (4);
    # 25 and 28 Dec bank holidays, 29-31 Dec closures, 1 Jan a bank holiday; Mon 4 Jan (5).
    assert case["deadlines"]["sin"] == "2027-01-04"

    # -- Tue 22 Dec: nothing due (the SIN's day-3 notice would be tomorrow). -----------------------
    f.day("2026-12-22", [DIGEST])

    # -- Wed 23 Dec: the coordinator replies to the new-referral notice. ---------------------------
    f.deliver(
        plain_mail(
            COORDINATOR,
            f"RE: {notice.message['Subject']}",
            "start rapid review\nnotified: 2026-12-22\n\nThanks\n\n> New referral ...",
            date=when("2026-12-23", 9),
            headers={"In-Reply-To": notice.message["Message-ID"]},
        )
    )
    got = f.day(
        "2026-12-23",
        [
            to("scoping_request", POLICE),  # the directory's address
            to("scoping_request", SCHOOL),  # the form's address
            to("command_reply", COORDINATOR),
            DIGEST,
            # No SIN notice: its day-3 point is today, but the SIN date came in first.
        ],
    )
    for addr, agency in ((POLICE, WMP), (SCHOOL, OAK)):
        request = only(got, "scoping_request", addr)
        assert template_props(request)["cspr_agency"] == agency
        # Requested Wed 23 Dec: Thu 24 Dec (1); then nothing until Mon 4 Jan (2), Tue 5 (3),
        # Wed 6 (4), Thu 7 Jan (5).
        assert "Thu 7 Jan 2027" in text_parts(request.message)["text/plain"]
    reply = only(got, "command_reply")
    assert reply.message["In-Reply-To"]
    body = text_parts(reply.message)["text/plain"]
    for line in (
        "Rapid Review started",
        f"Scoping request sent to {WMP}",
        f"Scoping request sent to {OAK}",
        f"No address for {DH}: no request sent",
        "National Panel notified on Tue 22 Dec 2026",
        # The Rapid Review decision, now firm, 15 working days from the SIN date Tue 22 Dec:
        # 23, 24 Dec (2); 4-8 Jan (7); 11-15 Jan (12); Mon 18 (13), Tue 19 (14), Wed 20 Jan (15).
        "Rapid Review decision: Wed 20 Jan 2027",
    ):
        assert line in body, (line, body)
    case = bot.case(REF)
    requests = {a["name"]: a for a in case["agencies"]}
    assert (case["status"], case["deadlines"]["rapid_review"]) == ("rapid_review", "2027-01-20")
    for name in (WMP, OAK):
        assert (requests[name]["requested_on"], requests[name]["due"]) == (
            "2026-12-23",
            "2027-01-07",
        )
    assert requests[DH]["requested_on"] is None
    scoping_ids = {
        addr: only(got, "scoping_request", addr).message["Message-ID"] for addr in (POLICE, SCHOOL)
    }

    # -- Thu 24 Dec: nothing due. Tue 29 Dec, a closure day: nothing at all, not even a digest. -
    f.day("2026-12-24", [DIGEST])
    f.day("2026-12-29", [])

    # -- Mon 4 Jan 2027: the coordinator gives Dudley Housing an address, in a new thread. ---------
    f.deliver(
        plain_mail(
            COORDINATOR,
            f"[{REF}] housing",
            f"agency: {DH} <{HOUSING}>",
            date=when("2027-01-04", 9),
        )
    )
    got = f.day(
        "2027-01-04",
        [to("scoping_request", HOUSING), to("command_reply", COORDINATOR), DIGEST],
    )
    assert template_props(only(got, "scoping_request", HOUSING))["cspr_agency"] == DH
    housing = {a["name"]: a for a in bot.case(REF)["agencies"]}[DH]
    # Requested Mon 4 Jan: Tue 5 (1), Wed 6 (2), Thu 7 (3), Fri 8 (4), Mon 11 Jan (5).
    assert (housing["email"], housing["requested_on"], housing["due"]) == (
        HOUSING,
        "2027-01-04",
        "2027-01-11",
    )
    assert len(bot.case(REF)["agencies"]) == 3

    # -- Tue 5 Jan: 2 working days before Thu 7 Jan (Wed 6 is 1, Tue 5 is 2): the first chasers. ---
    got = f.day(
        "2027-01-05",
        [to("scoping_chaser", POLICE), to("scoping_chaser", SCHOOL), DIGEST],
    )
    for addr, agency in ((POLICE, WMP), (SCHOOL, OAK)):
        assert template_props(only(got, "scoping_chaser", addr))["cspr_agency"] == agency

    # -- Wed 6 Jan: the police reply to their request with the completed template. ----------------
    police_return_id = make_msgid(domain="example.police.uk")
    f.deliver(
        plain_mail(
            POLICE,
            "RE: Initial Scoping request",
            "Our return is attached.\n\nPVP Unit",
            message_id=police_return_id,
            date=when("2027-01-06", 9),
            headers={"In-Reply-To": scoping_ids[POLICE], "References": scoping_ids[POLICE]},
            attachments=[("Initial Scoping WMP.docx", completed(WMP), DOCX_TYPE)],
        )
    )
    got = f.day("2027-01-06", [to("return_ack", POLICE), DIGEST])
    assert only(got, "return_ack").message["In-Reply-To"] == police_return_id
    agencies = {a["name"]: a for a in bot.case(REF)["agencies"]}
    assert agencies[WMP]["returned_on"] == "2027-01-06"
    assert agencies[OAK]["returned_on"] is None
    # SPEC 8: the return in full, its chronology as dated entries (UK dates read as ISO).
    returned = agencies[WMP]["return"]
    assert returned["completed_by"] == "Jane Officer" and returned["records_secured"] is True
    assert returned["chronology"] == [
        {"date": "2025-03-14", "event": "Home visit", "agency": "Concerns recorded"},
        {"date": "2026-06-02", "event": "Missed appointment", "agency": "Letter sent"},
    ]
    assert agencies[OAK]["return"] is None

    # -- Thu 7 Jan: the school's due-date chaser, Housing's 2-days-before one (Mon 11 - 2 = Thu 7);
    # none to the police, who have returned. An outsider mails a "decision" on the case. ----------
    f.deliver(
        plain_mail(
            OUTSIDER,
            f"[{REF}] decision",
            "decision: no review\n\nRegards",
            date=when("2027-01-07", 9),
        )
    )
    got = f.day(
        "2027-01-07",
        [
            to("scoping_chaser", SCHOOL),
            to("scoping_chaser", HOUSING),
            to("correspondence_notice", COORDINATOR),  # shown to the coordinators, not answered
            DIGEST,
        ],
    )
    assert template_props(only(got, "scoping_chaser", HOUSING))["cspr_agency"] == DH
    shown = text_parts(only(got, "correspondence_notice").message)["text/plain"]
    assert "NOT carried out" in shown and "decision: no review" in shown and OUTSIDER in shown
    case = bot.case(REF)
    assert (case["status"], case["deadlines"]["review"]) == ("rapid_review", None)
    assert any(e["kind"] == "correspondence" for e in case["events"])

    # -- Fri 8 Jan: the first working day after the due date, copied to the coordinators. Two passes
    # with the same clock (a restart): the second sends nothing. ---------------------------------
    f.day("2027-01-08", [to("scoping_chaser", SCHOOL, cc=(COORDINATOR,)), DIGEST], passes=2)

    # -- Mon 11 Jan: Housing's due date; the school's next chaser is after3 (Tue 12). -------------
    f.day("2027-01-11", [to("scoping_chaser", HOUSING), DIGEST])

    # -- Tue 12 Jan: the school's after3 (Fri 8 is 1, Mon 11 is 2, Tue 12 is 3); Housing's after1,
    # copied to the coordinators. ---------------------------------------------------------------
    f.day(
        "2027-01-12",
        [
            to("scoping_chaser", SCHOOL),
            to("scoping_chaser", HOUSING, cc=(COORDINATOR,)),
            DIGEST,
        ],
    )

    # -- Wed 13 Jan: Housing replies to its chaser. The bot is killed (-9) mid-pass, stuck sending
    # the acknowledgement to an SMTP server that never answers; a fresh pass finishes the day. The
    # Rapid Review's day-10 notice is today (23, 24 Dec, 4-8 Jan, 11, 12, 13 Jan).
    housing_chaser = [r for r in f.smtp.messages if shape(r) == to("scoping_chaser", HOUSING)][-1]
    f.deliver(
        plain_mail(
            HOUSING,
            "RE: reminder",
            "Sorry for the delay.",
            date=when("2027-01-13", 9),
            headers={"In-Reply-To": housing_chaser.message["Message-ID"]},
            attachments=[("housing.docx", completed(DH), DOCX_TYPE)],
        )
    )
    kill_mid_pass(bot, smtp_server, "2027-01-13T10:00")
    assert f.smtp.messages[f.seen :] == []  # nothing reached the server while it hung
    assert dovecot.folder_count(PROCESSED) == 6  # the return was taken in before the kill
    f.day(
        "2027-01-13",
        [to("return_ack", HOUSING), to("deadline_notice", COORDINATOR), DIGEST],
    )
    assert {a["name"]: a["returned_on"] for a in bot.case(REF)["agencies"]} == {
        WMP: "2027-01-06",
        OAK: None,
        DH: "2027-01-13",
    }

    # -- Thu 14 Jan: the school's after5 (Wed 13 is 4, Thu 14 is 5); Housing has returned. --------
    f.day("2027-01-14", [to("scoping_chaser", SCHOOL), DIGEST])

    # -- Fri 15 Jan: the school's head teacher returns it from her own address, in a new thread,
    # under a new subject: only the embedded template says which case and agency. All are in. -----
    f.deliver(
        plain_mail(
            HEAD,
            "Scoping form",
            "Please see attached.",
            date=when("2027-01-15", 9),
            attachments=[("scoping (2).docx", completed(OAK), DOCX_TYPE)],
        )
    )
    got = f.day(
        "2027-01-15",
        [to("return_ack", HEAD), to("returns_complete", COORDINATOR), DIGEST],
    )
    case = bot.case(REF)
    assert {a["name"]: a["returned_on"] for a in case["agencies"]} == {
        WMP: "2027-01-06",
        OAK: "2027-01-15",
        DH: "2027-01-13",
    }
    assert len(case["agencies"]) == 3  # matched, not added as a new agency
    assert {a["name"]: a["chasers_sent"] for a in case["agencies"]} == {WMP: 1, OAK: 5, DH: 3}
    all_in = only(got, "returns_complete")

    # -- Mon 18 Jan: no chaser (the school's after7 would have been today); the RR day-13 notice
    # (Thu 14 is 11, Fri 15 is 12, Mon 18 is 13). -----------------------------------------------
    f.day("2027-01-18", [to("deadline_notice", COORDINATOR), DIGEST])

    # -- Tue 19 Jan: the coordinator decides, replying to the all-returns notice. A CSPR decided on
    # Thu 31 Dec 2026: 6 months on is 31 Jun 2027, which does not exist: Wed 30 Jun 2027. (A date
    # before the case was received, Mon 21 Dec, would be refused: SPEC 7.) -----------------------
    f.deliver(
        plain_mail(
            COORDINATOR,
            f"RE: {all_in.message['Subject']}",
            "decision: cspr 2026-12-31",
            date=when("2027-01-19", 9),
            headers={"In-Reply-To": all_in.message["Message-ID"]},
        )
    )
    got = f.day("2027-01-19", [to("command_reply", COORDINATOR), DIGEST])
    body = text_parts(only(got, "command_reply").message)["text/plain"]
    assert "Decision: cspr on Thu 31 Dec 2026" in body and "Wed 30 Jun 2027" in body
    case = bot.case(REF)
    assert (case["status"], case["deadlines"]["review"]) == ("cspr", "2027-06-30")

    # -- Wed 20 Jan: changed to a learning review decided Wed 30 Dec 2026: 3 months on is
    # Tue 30 Mar 2027. No Rapid Review notice (day 15 was today): it is decided. ----------------
    f.deliver(
        plain_mail(
            COORDINATOR,
            f"[{REF}] decision",
            "decision: learning review 30/12/2026",
            date=when("2027-01-20", 9),
        )
    )
    f.day("2027-01-20", [to("command_reply", COORDINATOR), DIGEST])
    case = bot.case(REF)
    assert (case["status"], case["deadlines"]["review"]) == ("learning_review", "2027-03-30")

    # Nothing was ever sent twice: each (template, recipients) that should go once went once, and
    # every inbound message was filed in Processed.
    once = [s for _, s in f.log if s[0] not in ("digest", "deadline_notice", "command_reply")]
    assert [s for s, n in Counter(once).items() if n > 1 and s[0] != "scoping_chaser"] == []
    digests = [d for d, s in f.log if s == DIGEST]
    assert len(digests) == len(set(digests)) == 17  # every simulated working day, once
    assert dovecot.folder_count(PROCESSED) == 9 and dovecot.folder_count(INBOX) == 0


def kill_mid_pass(bot: Bot, smtp: SmtpServer, now: str) -> None:
    """Run a pass against an SMTP port that accepts connections but never answers; kill -9 it once
    it is stuck sending, then bring the real SMTP server back on the same port."""
    smtp.stop()
    hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hole.bind((smtp.host, smtp.port))
    hole.listen(8)  # the kernel completes the handshake; nobody ever says 220
    proc = bot.popen("run", "--once", "--now", now)
    try:
        readable, _, _ = select.select([hole], [], [], 60)
        assert readable, "the pass never tried to send"
        assert proc.poll() is None, "the pass ended instead of waiting for the SMTP banner"
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.communicate()
        hole.close()
    smtp.start()
    wait_until(lambda: smtp.running, what="the SMTP server back")
