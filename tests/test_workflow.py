"""The case workflow as pure functions: intake, returns, commands (core/handlers.py), schedule.

No servers and no clock: messages are parsed from bytes built here, ``now`` is given, and what the
workflow decides (the new case and the messages with their keys) is checked directly. The dates are
worked out by hand in the comments; SPEC 2 and 5 are the contract.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest

from cspr_mailbot import formgen
from cspr_mailbot.adapters import documents
from cspr_mailbot.core import (
    attachments,
    correspondence,
    deadlines,
    forms,
    handlers,
    schedule,
    views,
)
from cspr_mailbot.core.agencies import send_scoping_requests
from cspr_mailbot.core.classify import Classification
from cspr_mailbot.core.clocks import Timescales
from cspr_mailbot.core.commands import parse_commands
from cspr_mailbot.core.intake import intake
from cspr_mailbot.core.message import parse_message
from cspr_mailbot.core.models import Case, InboundMessage, OutboundMessage, Outcome
from cspr_mailbot.core.reading import read_message
from cspr_mailbot.core.settings import DirectoryAgency, Settings
from cspr_mailbot.core.workdays import LONDON, WorkingCalendar

MAILBOX = "dsppb@example.gov.uk"
COORDINATOR = "coordinator@example.gov.uk"
REFERRER = "sam.carter@example.police.uk"
POLICE = "pvp@example.police.uk"
SCHOOL = "dsl@oakfield.example.sch.uk"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

CLOSURES = (date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31))
CAL = WorkingCalendar(closures=CLOSURES)
ST = Settings(
    partnership_name="Dudley Safeguarding People Partnership",
    mailbox=MAILBOX,
    coordinators=(COORDINATOR,),
    timescales=Timescales(),
    limits=attachments.Limits(),
    labels=forms.Labels.load(),
    directory=(
        DirectoryAgency("West Midlands Police", POLICE, ("WMP", "Police")),
        DirectoryAgency(
            "Dudley Children's Services", "childrens.services@example.gov.uk", ("CSC",)
        ),
    ),
)

REFERRAL: dict[str, Any] = {
    "referrer_name": "Sam Carter",
    "referrer_role": "Detective Sergeant",
    "referrer_agency": "West Midlands Police",
    "referrer_email": REFERRER,
    "referrer_phone": "0121 000 0000",
    "safeguarding_lead_consulted": True,
    "child_name": "Jamie Example",
    "child_dob": "2019-04-12",
    "child_gender": "Male",
    "child_ethnicity": "White British",
    "child_address": "1 Sample Street, Dudley, DY1 1AA",
    "incident_date": "2026-12-17",
    "la_aware_date": "2026-12-18",
    "incident_type": "death",
    "incident_summary": "Sudden unexpected death at home; concerns about neglect.",
    "abuse_or_neglect": "suspected",
    "looked_after": False,
    "national_panel_notified": False,
    "notification_date": None,
    "agencies_involved": [
        {"name": "WMP", "contact_name": "DS Carter", "email": None},
        {"name": "Oakfield Primary School", "contact_name": "DSL", "email": SCHOOL.upper()},
        {"name": "Dudley Housing", "contact_name": "Housing officer", "email": None},
    ],
    "rationale": "Neglect suspected; the child has died.",
}


def at(day: date, hh: int = 10, mm: int = 0) -> datetime:
    """A London wall-clock time, as the app hands ``now`` in."""
    return datetime.combine(day, time(hh, mm), tzinfo=LONDON)


def mail(
    sender: str,
    subject: str,
    body: str,
    when: datetime,
    *,
    attach: tuple[str, bytes] | None = None,
    in_reply_to: str | None = None,
    uid: str = "1",
) -> InboundMessage:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = MAILBOX
    m["Subject"] = subject
    m["Date"] = format_datetime(when)
    m["Message-ID"] = make_msgid(domain=sender.split("@")[-1])
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
        m["References"] = in_reply_to
    m.set_content(body)
    if attach:
        m.add_attachment(
            attach[1], maintype="application", subtype=DOCX.split("/")[1], filename=attach[0]
        )
    return parse_message(m.as_bytes(), uid)


def referral_case(
    day: date = date(2026, 12, 21), values: dict[str, Any] | None = None
) -> tuple[Case, Outcome]:
    msg = mail(
        REFERRER,
        "CSPR referral",
        "Referral form attached.",
        at(day, 9, 5),
        attach=("CSPR referral form.docx", formgen.filled_referral(values or REFERRAL)),
    )
    out = intake(
        read_message(msg, ST),
        Classification("referral", ("no case named",)),
        at(day, 9, 6),
        CAL,
        ST,
        lambda year: f"DSPP-{year}-0001",
    )
    assert out.case is not None
    return out.case, out


def command(case: Case, text: str, when: datetime) -> Outcome:
    parsed = parse_commands(text)
    return handlers.run_commands(case, parsed.commands, parsed.errors, when, CAL, ST, source="t")


def started(day: date = date(2026, 12, 23)) -> Case:
    """The referral case with the Rapid Review started (and the SIN made the day before)."""
    case, _ = referral_case()
    out = command(case, "start rapid review\nnotified: 2026-12-22", at(day))
    assert out.case is not None
    return out.case


def by_agency(case: Case) -> dict[str, Any]:
    return {a.name: a for a in case.agencies}


# -- intake ----------------------------------------------------------------------------------------


def test_intake_resolves_agencies_and_tells_the_coordinators_of_one_without_an_address() -> None:
    case, out = referral_case()
    assert (out.folder, out.kind, case.status) == ("processed", "referral", "referral_received")
    assert case.reference == "DSPP-2026-0001"
    assert case.received_on == date(2026, 12, 21)
    agencies = by_agency(case)
    # "WMP" is an alias in the directory: the directory's name and address win.
    assert agencies["West Midlands Police"].email == POLICE
    # Not in the directory: the address on the form, lower-cased.
    assert agencies["Oakfield Primary School"].email == SCHOOL
    assert agencies["Dudley Housing"].email is None
    assert all(a.requested_on is None for a in case.agencies)  # nothing is requested before the RR

    keys = {m.key: m for m in out.messages}
    assert set(keys) == {
        "DSPP-2026-0001:ack",
        "DSPP-2026-0001:notice:new",
        "DSPP-2026-0001:notice:no-address:dudley housing",
    }
    ack = keys["DSPP-2026-0001:ack"]
    assert ack.to == (REFERRER,) and not ack.internal and ack.auto_submitted == "auto-replied"
    assert ack.in_reply_to is not None
    # What leaves the coordinators identifies the child by initials only.
    assert "Jamie" not in repr(ack.context) and ack.context["initials"] == "J.E."
    notice = keys["DSPP-2026-0001:notice:no-address:dudley housing"]
    assert notice.to == (COORDINATOR,) and notice.internal
    assert notice.context["names"] == ["Dudley Housing"]
    assert keys["DSPP-2026-0001:notice:new"].to == (COORDINATOR,)


def test_intake_of_a_referral_after_the_cutoff_on_christmas_eve_is_received_in_january() -> None:
    # Thu 24 Dec 2026 17:30 is after the cut-off; 25 and 28 Dec are bank holidays, 29-31 Dec
    # closures, 1 Jan a bank holiday: the next working day is Mon 4 Jan 2027, and the reference
    # is 2027's.
    msg = mail(
        REFERRER,
        "CSPR referral",
        "Form attached.",
        at(date(2026, 12, 24), 17, 30),
        attach=("f.docx", formgen.filled_referral(REFERRAL)),
    )
    out = intake(
        read_message(msg, ST),
        Classification("referral", ("x",)),
        at(date(2026, 12, 24), 17, 31),
        CAL,
        ST,
        lambda year: f"DSPP-{year}-0001",
    )
    assert out.case is not None
    assert out.case.received_on == date(2027, 1, 4)
    assert out.case.reference == "DSPP-2027-0001"


# -- commands --------------------------------------------------------------------------------------


def test_start_rapid_review_over_christmas_sends_requests_with_the_embedded_template() -> None:
    case, _ = referral_case()
    out = command(case, "start rapid review\nnotified: 2026-12-22", at(date(2026, 12, 23)))
    case = out.case
    assert case is not None and case.status == "rapid_review"
    # Requested Wed 23 Dec 2026. Working days after it: Thu 24 Dec (1); Fri 25 Dec and Mon 28 Dec
    # are bank holidays, Tue 29 - Thu 31 Dec closures, Fri 1 Jan a bank holiday; Mon 4 Jan (2),
    # Tue 5 (3), Wed 6 (4), Thu 7 Jan (5): due Thu 7 Jan 2027.
    agencies = by_agency(case)
    for name in ("West Midlands Police", "Oakfield Primary School"):
        assert (agencies[name].requested_on, agencies[name].due) == (
            date(2026, 12, 23),
            date(2027, 1, 7),
        )
    assert agencies["Dudley Housing"].requested_on is None

    *requests, answer = out.messages
    assert {(m.template, m.to) for m in requests} == {
        ("scoping_request", (POLICE,)),
        ("scoping_request", (SCHOOL,)),
    }
    for m in requests:
        assert not m.internal and m.context["due"] == "Thu 7 Jan 2027"
        (att,) = [documents.DocumentBuilder().build(d) for d in m.documents]
        assert att.filename.endswith(".docx")
        props = forms.read_custom_properties(att.data)
        assert props["cspr_case_reference"] == "DSPP-2026-0001"
        assert props["cspr_agency"] == m.context["agency"]
        read = forms.read_scoping_docx(att.data, att.filename, ST.labels)
        assert read.embedded_reference == "DSPP-2026-0001"
        assert read.embedded_agency == m.context["agency"]
    assert answer.template == "command_reply" and answer.context["errors"] == []
    done = answer.context["done"]
    assert "Rapid Review started" in done
    assert "Scoping request sent to West Midlands Police" in done
    assert "Scoping request sent to Oakfield Primary School" in done
    assert "No address for Dudley Housing: no request sent" in done
    assert "National Panel notified on Tue 22 Dec 2026" in done

    # Starting again sends nothing new: every agency with an address already has its request.
    again = command(case, "start rapid review", at(date(2026, 12, 24)))
    assert [m.template for m in again.messages] == ["command_reply"]
    assert again.case is not None and by_agency(again.case) == agencies


def test_without_closures_the_spec_example_holds() -> None:
    # SPEC 2: 5 working days from Wed 2026-12-23 is Mon 2027-01-04 with bank holidays alone.
    case, _ = referral_case()
    st_cal = WorkingCalendar()
    case, sent, missing = send_scoping_requests(case, at(date(2026, 12, 23)), st_cal, ST)
    assert {a.due for a in case.agencies if a.requested_on} == {date(2027, 1, 4)}
    assert len(sent) == 2 and missing == ["Dudley Housing"]


def test_a_command_mail_with_one_bad_line_does_nothing_and_names_the_line() -> None:
    case, out = referral_case()
    notice_id = "<notice-1@example.gov.uk>"
    msg = mail(
        COORDINATOR,
        "RE: [DSPP-2026-0001] New referral",
        "start rapid review\nnotifed: 2026-12-22\ndecision: cspr\n\n> quoted notice",
        at(date(2026, 12, 23)),
        in_reply_to=notice_id,
    )
    result = handlers.on_command_mail(
        read_message(msg, ST),
        Classification("command", ("x",), case_ref=case.reference),
        case,
        at(date(2026, 12, 23)),
        CAL,
        ST,
    )
    assert result.case is not None
    assert result.case.status == "referral_received"  # nothing was done, not even line 1
    assert result.case.notified_date is None and result.case.decision is None
    assert all(a.requested_on is None for a in result.case.agencies)
    (reply,) = result.messages
    assert reply.template == "command_reply" and reply.subject == "Commands not done"
    assert reply.to == (COORDINATOR,) and reply.in_reply_to == msg.message_id
    assert [e["line"] for e in reply.context["errors"]] == ["notifed: 2026-12-22"]
    assert reply.context["done"] == []
    assert result.case.events[-1].kind == "command_refused"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("decision: maybe", "the decision must be cspr, learning review or no review"),
        ("notified: soon", "not a date"),
        ("agency: pvp@example.org", "name as well as its address"),
    ],
)
def test_each_bad_line_is_refused_with_its_reason(line: str, problem: str) -> None:
    case, _ = referral_case()
    out = command(case, f"start rapid review\n{line}", at(date(2026, 12, 23)))
    assert out.case is not None and out.case.status == "referral_received"
    (answer,) = out.messages
    (error,) = answer.context["errors"]
    assert error["line"] == line and problem in error["problem"]


def test_agency_command_adds_an_agency_and_during_the_rapid_review_requests_at_once() -> None:
    case, _ = referral_case()
    # Before the Rapid Review: added, nothing sent.
    out = command(case, "agency: Dudley Children's Services", at(date(2026, 12, 22)))
    assert out.case is not None
    added = by_agency(out.case)["Dudley Children's Services"]
    assert added.email == "childrens.services@example.gov.uk" and added.requested_on is None
    assert [m.template for m in out.messages] == ["command_reply"]

    # During it: an agency not in the directory, with its address, gets its request that day.
    case = started()
    out = command(
        case, "agency: Dudley Food Bank <Help@FoodBank.example.org>", at(date(2027, 1, 4))
    )
    assert out.case is not None
    bank = by_agency(out.case)["Dudley Food Bank"]
    # Requested Mon 4 Jan 2027: Tue 5 (1), Wed 6 (2), Thu 7 (3), Fri 8 (4), Mon 11 Jan (5).
    assert (bank.email, bank.requested_on, bank.due) == (
        "help@foodbank.example.org",
        date(2027, 1, 4),
        date(2027, 1, 11),
    )
    request, answer = out.messages
    assert (request.template, request.to) == ("scoping_request", ("help@foodbank.example.org",))
    props = forms.read_custom_properties(
        documents.DocumentBuilder().build(request.documents[0]).data
    )
    assert props == {"cspr_case_reference": "DSPP-2026-0001", "cspr_agency": "Dudley Food Bank"}
    assert "Added Dudley Food Bank <help@foodbank.example.org>" in answer.context["done"]
    assert "Scoping request sent to Dudley Food Bank" in answer.context["done"]
    # The agencies already requested are not asked again.
    assert [m for m in out.messages if m.to in ((POLICE,), (SCHOOL,))] == []

    # An agency already on the case is not added twice, by its name or a directory alias.
    again = command(out.case, "agency: WMP\nagency: dudley food bank", at(date(2027, 1, 4)))
    assert again.case is not None and len(again.case.agencies) == len(out.case.agencies)
    assert [m.template for m in again.messages] == ["command_reply"]


def test_agency_command_gives_an_address_to_an_agency_that_had_none() -> None:
    # The no-address notice tells the coordinator to reply "agency: Dudley Housing <address>".
    # Doing so must record the address and, during the Rapid Review, send the request.
    case = started()
    assert by_agency(case)["Dudley Housing"].email is None
    out = command(case, "agency: Dudley Housing <housing@example.gov.uk>", at(date(2027, 1, 4)))
    assert out.case is not None
    assert len(out.case.agencies) == 3
    housing = by_agency(out.case)["Dudley Housing"]
    assert (housing.email, housing.requested_on, housing.due) == (
        "housing@example.gov.uk",
        date(2027, 1, 4),
        date(2027, 1, 11),
    )
    assert [(m.template, m.to) for m in out.messages[:-1]] == [
        ("scoping_request", ("housing@example.gov.uk",))
    ]
    assert (
        "Address for Dudley Housing: <housing@example.gov.uk>" in out.messages[-1].context["done"]
    )
    # The same line before the Rapid Review records the address; the start then asks all three.
    case, _ = referral_case()
    out = command(case, "agency: Dudley Housing <housing@example.gov.uk>", at(date(2026, 12, 22)))
    assert out.case is not None and [m.template for m in out.messages] == ["command_reply"]
    assert by_agency(out.case)["Dudley Housing"].requested_on is None
    out = command(out.case, "start rapid review", at(date(2026, 12, 23)))
    assert sorted(m.to[0] for m in out.messages[:-1]) == [
        "dsl@oakfield.example.sch.uk",
        "housing@example.gov.uk",
        "pvp@example.police.uk",
    ]
    # An agency that has an address keeps it: the line only says it is already on the case.
    again = command(out.case, "agency: WMP <other@example.org>", at(date(2026, 12, 24)))
    assert again.case is not None
    assert by_agency(again.case)["West Midlands Police"].email == POLICE
    assert again.messages[-1].context["done"] == ["WMP is already on the case"]


def test_close_and_decisions() -> None:
    case = started()
    out = command(case, "close", at(date(2027, 1, 5)))
    assert out.case is not None
    assert (out.case.status, out.case.closed_on) == ("closed", date(2027, 1, 5))
    assert deadlines.next_deadline(out.case, CAL, ST.timescales) is None
    # Nothing more is due on a closed case: no chaser, no notice.
    assert schedule.due_messages(out.case, at(date(2027, 1, 7)), CAL, ST) == (out.case, [])

    # A CSPR decided on a month-end date: 6 months later, clamped to February's end. (A decision
    # before the case was received is refused (SPEC 7), so this case came in in August.)
    case = replace(case, received_on=date(2026, 8, 3))
    out = command(case, "decision: cspr 2026-08-31", at(date(2027, 1, 5)))
    assert out.case is not None and out.case.status == "cspr"
    dl = deadlines.case_deadlines(out.case, CAL, ST.timescales)
    assert dl.review is not None and dl.review.due == date(2027, 2, 28)
    # A learning review: 3 months. 2026-11-30 -> 2027-02-28.
    out = command(case, "decision: learning review 30/11/2026", at(date(2027, 1, 5)))
    assert out.case is not None and out.case.status == "learning_review"
    dl = deadlines.case_deadlines(out.case, CAL, ST.timescales)
    assert dl.review is not None and dl.review.due == date(2027, 2, 28)
    assert dl.rapid_review is not None and dl.rapid_review.met_on == date(2026, 11, 30)
    # No review: closed, with no review deadline.
    out = command(case, "decision: no review", at(date(2027, 1, 5)))
    assert out.case is not None and (out.case.status, out.case.closed_on) == (
        "closed",
        date(2027, 1, 5),
    )
    assert deadlines.case_deadlines(out.case, CAL, ST.timescales).review is None


def test_notified_and_aware_turn_provisional_deadlines_firm() -> None:
    values = {**REFERRAL, "la_aware_date": None}
    case, _ = referral_case(values=values)
    dl = deadlines.case_deadlines(case, CAL, ST.timescales)
    assert dl.sin is not None and dl.rapid_review is not None
    # Both from the receipt date, Mon 21 Dec 2026, provisionally.
    # SIN: Tue 22 (1), Wed 23 (2), Thu 24 (3), Mon 4 Jan (4), Tue 5 Jan (5).
    assert (dl.sin.due, dl.sin.provisional) == (date(2027, 1, 5), True)
    # RR: 22, 23, 24 Dec (3), 4-8 Jan (8), 11-15 Jan (13), Mon 18 (14), Tue 19 Jan (15).
    assert (dl.rapid_review.due, dl.rapid_review.provisional) == (date(2027, 1, 19), True)
    view = views.internal_view(case, CAL, ST, date(2026, 12, 21))
    assert [row["provisional"] for row in view["deadlines"]] == [True, True]

    out = command(case, "aware: 18/12/2026\nnotified: 2026-12-22", at(date(2026, 12, 23)))
    assert out.case is not None
    dl = deadlines.case_deadlines(out.case, CAL, ST.timescales)
    assert dl.sin is not None and dl.rapid_review is not None
    # SIN from Fri 18 Dec: 21, 22, 23, 24 Dec (4), Mon 4 Jan (5); met on the 22nd.
    assert (dl.sin.due, dl.sin.provisional, dl.sin.met_on) == (
        date(2027, 1, 4),
        False,
        date(2026, 12, 22),
    )
    # RR from Tue 22 Dec: 23, 24 Dec (2), 4-8 Jan (7), 11-15 Jan (12), 18, 19, Wed 20 Jan (15).
    assert (dl.rapid_review.due, dl.rapid_review.provisional) == (date(2027, 1, 20), False)
    (answer,) = out.messages
    rows = {r["label"]: r for r in answer.context["deadlines"]}
    assert rows["Rapid Review decision"]["due"] == "Wed 20 Jan 2027"
    assert rows["Rapid Review decision"]["provisional"] is False
    assert rows["SIN"]["met_on"] == "Tue 22 Dec 2026"


# -- returns and correspondence --------------------------------------------------------------------


def returned(reference: str, agency: str) -> bytes:
    return formgen.filled_scoping(
        {
            "completed_by": "Jane Officer",
            "role": "Safeguarding lead",
            "email": "jane.officer@example.org",
            "involvement_summary": "Known to the agency since 2025.",
            "records_secured": True,
        },
        reference,
        agency,
    )


def test_returns_by_reply_and_from_another_address_and_all_in() -> None:
    case = started()
    # The police reply to the request from the directory address.
    police = mail(
        POLICE,
        "RE: OFFICIAL-SENSITIVE [DSPP-2026-0001] Initial Scoping request",
        "Attached.",
        at(date(2027, 1, 4)),
        attach=("scoping.docx", returned("DSPP-2026-0001", "West Midlands Police")),
        in_reply_to="<request-1@example.gov.uk>",
    )
    cls = Classification("correspondence", ("x",), case_ref="DSPP-2026-0001")
    out = correspondence.on_correspondence(
        read_message(police, ST), cls, case, at(date(2027, 1, 4)), CAL, ST
    )
    assert (out.kind, out.folder) == ("return", "processed")
    assert out.case is not None
    case = out.case
    agencies = by_agency(case)
    assert agencies["West Midlands Police"].returned_on == date(2027, 1, 4)
    assert agencies["West Midlands Police"].scoping is not None
    assert agencies["West Midlands Police"].scoping["completed_by"] == "Jane Officer"
    assert agencies["Oakfield Primary School"].returned_on is None
    (ack,) = out.messages
    assert (ack.template, ack.to, ack.in_reply_to) == ("return_ack", (POLICE,), police.message_id)
    assert ack.context["agencies"] == ["West Midlands Police"]

    # The school's return comes from a colleague's address, in a new thread, under a new subject:
    # only the embedded template says whose it is.
    school = mail(
        "head@oakfield.example.sch.uk",
        "Our form",
        "Here it is.",
        at(date(2027, 1, 8)),
        attach=("Oakfield.docx", returned("DSPP-2026-0001", "Oakfield Primary School")),
    )
    out = correspondence.on_correspondence(
        read_message(school, ST), cls, case, at(date(2027, 1, 8)), CAL, ST
    )
    assert out.case is not None and out.kind == "return"
    assert by_agency(out.case)["Oakfield Primary School"].returned_on == date(2027, 1, 8)
    assert len(out.case.agencies) == 3  # matched, not added
    assert {m.template: m.to for m in out.messages} == {
        "return_ack": ("head@oakfield.example.sch.uk",),
        "returns_complete": (COORDINATOR,),  # every requested agency has returned
    }
    # From then on no chaser goes to anyone on the case.
    for offset in range(0, 20):
        day = date(2027, 1, 8) + timedelta(days=offset)
        assert [
            m
            for m in schedule.due_messages(out.case, at(day), CAL, ST)[1]
            if m.template == "scoping_chaser"
        ] == []


def test_a_template_for_another_case_is_not_taken_as_a_return() -> None:
    case = started()
    msg = mail(
        POLICE,
        "RE: [DSPP-2026-0001] Initial Scoping request",
        "Attached.",
        at(date(2027, 1, 4)),
        attach=("scoping.docx", returned("DSPP-2026-0099", "West Midlands Police")),
    )
    cls = Classification("correspondence", ("x",), case_ref="DSPP-2026-0001")
    out = correspondence.on_correspondence(
        read_message(msg, ST), cls, case, at(date(2027, 1, 4)), CAL, ST
    )
    assert out.kind == "correspondence" and out.case is not None
    assert by_agency(out.case)["West Midlands Police"].returned_on is None
    (notice,) = out.messages
    assert notice.template == "correspondence_notice" and notice.to == (COORDINATOR,)


def test_commands_from_a_non_coordinator_are_kept_and_shown_not_executed() -> None:
    case = started()
    msg = mail(
        SCHOOL,
        "RE: OFFICIAL-SENSITIVE [DSPP-2026-0001] Initial Scoping request",
        "decision: no review\nclose",
        at(date(2027, 1, 5)),
    )
    cls = Classification("correspondence", ("case reference in the subject",), "DSPP-2026-0001")
    out = correspondence.on_correspondence(
        read_message(msg, ST), cls, case, at(date(2027, 1, 5)), CAL, ST
    )
    assert out.case is not None and out.kind == "correspondence"
    assert out.case.status == "rapid_review" and out.case.decision is None
    assert out.case.events[-1].kind == "correspondence"
    (notice,) = out.messages
    assert notice.to == (COORDINATOR,) and notice.internal
    assert notice.context["refused_commands"] is True
    assert notice.context["sender"] == SCHOOL
    assert "decision: no review" in notice.context["body_excerpt"]


# -- the schedule ----------------------------------------------------------------------------------


def run_days(
    case: Case, first: date, last: date
) -> tuple[Case, list[tuple[date, OutboundMessage]]]:
    """Call due_messages once each calendar day at 10:00, carrying the case forward."""
    sent: list[tuple[date, OutboundMessage]] = []
    day = first
    while day <= last:
        case, messages = schedule.due_messages(case, at(day), CAL, ST)
        sent.extend((day, m) for m in messages)
        day += timedelta(days=1)
    return case, sent


def test_chasers_fall_on_the_spec_dates_and_each_key_goes_once() -> None:
    case = started()  # requested Wed 23 Dec 2026, due Thu 7 Jan 2027
    case, sent = run_days(case, date(2026, 12, 23), date(2027, 1, 19))
    chasers = [
        (d, m.key.split(":", 1)[1], m.to, m.cc) for d, m in sent if m.template == "scoping_chaser"
    ]
    ref = "DSPP-2026-0001"
    expected = []
    for name, addr in (("west midlands police", POLICE), ("oakfield primary school", SCHOOL)):
        expected += [
            # 2 working days before Thu 7 Jan: Wed 6 (1), Tue 5 Jan (2).
            (date(2027, 1, 5), f"scoping:{name}:before", (addr,), ()),
            (date(2027, 1, 7), f"scoping:{name}:due", (addr,), ()),
            # The first working day after the due date, copied to the coordinators.
            (date(2027, 1, 8), f"scoping:{name}:after1", (addr,), (COORDINATOR,)),
            # Then every 2 working days: Fri 8 (1), Mon 11 (2), Tue 12 (3); Wed 13 (4), Thu 14 (5);
            # Fri 15 (6), Mon 18 (7).
            (date(2027, 1, 12), f"scoping:{name}:after3", (addr,), ()),
            (date(2027, 1, 14), f"scoping:{name}:after5", (addr,), ()),
            (date(2027, 1, 18), f"scoping:{name}:after7", (addr,), ()),
        ]
    assert sorted(chasers) == sorted(expected)
    assert {a.name: a.chasers_sent for a in case.agencies} == {
        "West Midlands Police": 6,
        "Oakfield Primary School": 6,
        "Dudley Housing": 0,
    }
    # Deadline notices to the coordinators: the SIN was made, so only the Rapid Review's, counted
    # from the SIN date Tue 22 Dec: day 10 is Wed 13 Jan, day 13 Mon 18 Jan (day 15 is Wed 20 Jan).
    notices = [(d, m.key) for d, m in sent if m.template == "deadline_notice"]
    assert notices == [
        (date(2027, 1, 13), f"{ref}:rr:day10"),
        (date(2027, 1, 18), f"{ref}:rr:day13"),
    ]
    # Every key once, and every key remembered on the case.
    keys = [m.key for _, m in sent]
    assert len(keys) == len(set(keys)) and set(keys) <= set(case.sent_keys)
    # Calling again on any of those days sends nothing more.
    for day in {d for d, _ in sent}:
        assert schedule.due_messages(case, at(day, 16), CAL, ST)[1] == []


@pytest.mark.parametrize(
    "day",
    [
        date(2027, 1, 9),  # Saturday
        date(2027, 1, 10),  # Sunday
        date(2026, 12, 28),  # bank holiday (substitute for Boxing Day)
        date(2026, 12, 30),  # a closure day
        date(2027, 1, 1),  # New Year's Day
    ],
)
def test_nothing_is_due_on_a_non_working_day(day: date) -> None:
    case = started()
    # Even with chasers overdue from earlier days, nothing goes on a non-working day.
    late = replace(
        case,
        agencies=tuple(
            replace(a, requested_on=date(2026, 12, 1), due=date(2026, 12, 8))
            for a in case.agencies
            if a.email
        ),
    )
    assert schedule.due_messages(late, at(day), CAL, ST) == (late, [])
    assert schedule.due_messages(late, at(date(2027, 1, 11)), CAL, ST)[1] != []


def test_a_chaser_already_in_sent_keys_is_never_repeated() -> None:
    case = started()
    ref = "DSPP-2026-0001"
    keys = (f"{ref}:scoping:west midlands police:due", f"{ref}:scoping:oakfield primary school:due")
    case = replace(case, sent_keys=keys)
    updated, messages = schedule.due_messages(case, at(date(2027, 1, 7)), CAL, ST)
    assert messages == [] and updated == case


def test_catch_up_after_downtime_sends_only_the_latest_chaser() -> None:
    case = started()
    # Down from Mon 4 Jan to Mon 11 Jan: only the after1 (Fri 8 Jan) is due, not before/due as well.
    case, messages = schedule.due_messages(case, at(date(2027, 1, 11)), CAL, ST)
    chasers = sorted(m.key for m in messages if m.template == "scoping_chaser")
    assert chasers == [
        "DSPP-2026-0001:scoping:oakfield primary school:after1",
        "DSPP-2026-0001:scoping:west midlands police:after1",
    ]
    assert all(m.cc == (COORDINATOR,) for m in messages if m.template == "scoping_chaser")


def test_next_deadline_is_the_soonest_unmet() -> None:
    case, _ = referral_case()
    # SIN from the aware date Fri 18 Dec: Mon 4 Jan 2027, before the provisional RR (Tue 19 Jan).
    assert deadlines.next_deadline(case, CAL, ST.timescales) == ("SIN", date(2027, 1, 4))
    case = started()  # SIN made; scoping returns due Thu 7 Jan come before the RR (Wed 20 Jan)
    label, due = deadlines.next_deadline(case, CAL, ST.timescales) or ("", None)
    assert due == date(2027, 1, 7) and label.startswith("Scoping return: ")
    returned_all = replace(
        case,
        agencies=tuple(
            replace(a, returned_on=date(2027, 1, 6)) if a.email else a for a in case.agencies
        ),
    )
    assert deadlines.next_deadline(returned_all, CAL, ST.timescales) == (
        "Rapid Review decision",
        date(2027, 1, 20),
    )
    decided = command(case, "decision: cspr 2027-01-15", at(date(2027, 1, 15))).case
    assert decided is not None
    # Decided: the scoping returns no longer count, the review is due 6 months on.
    assert deadlines.next_deadline(decided, CAL, ST.timescales) == ("Review", date(2027, 7, 15))


# -- the core's boundary ---------------------------------------------------------------------------


def test_the_core_imports_no_adapter_no_wiring_and_no_python_docx() -> None:
    # Issue 9: the data path is one way. Documents are built by adapters/documents.py from the
    # DocumentRequest the core puts on a message, never inside the core.
    import ast
    from pathlib import Path

    import cspr_mailbot.core

    forbidden = ("cspr_mailbot.adapters", "cspr_mailbot.formgen", "cspr_mailbot.wiring", "docx")
    for path in Path(cspr_mailbot.core.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [
                    ("cspr_mailbot." if node.level == 2 else "") + (node.module or ""),
                    *(
                        f"cspr_mailbot.{a.name}"
                        for a in node.names
                        if node.level == 2 and not node.module
                    ),
                ]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"
