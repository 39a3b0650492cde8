"""What each coordinator command does to a case (core/handlers.py, SPEC 7), as pure functions.

Each impossible command of issue 12 is refused with nothing done; the new commands change the case (and
the other cases they name) as SPEC 7 and 8 say. Today is Mon 14 Dec 2026 throughout.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from typing import Any, get_args

import pytest

from cspr_mailbot.core import attachments, forms, handlers
from cspr_mailbot.core.clocks import Timescales
from cspr_mailbot.core.commands import DEFAULT_GRAMMAR, Verb, parse_commands
from cspr_mailbot.core.models import Agency, Case, Event, HeldReturn, Outcome
from cspr_mailbot.core.settings import DirectoryAgency, Settings
from cspr_mailbot.core.workdays import LONDON, WorkingCalendar

CAL = WorkingCalendar(closures=(date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)))
POLICE = "pvp@example.police.uk"
ST = Settings(
    partnership_name="Dudley Safeguarding People Partnership",
    mailbox="dsppb@example.gov.uk",
    coordinators=("coordinator@example.gov.uk",),
    timescales=Timescales(),
    limits=attachments.Limits(),
    labels=forms.Labels.load(),
    directory=(DirectoryAgency("West Midlands Police", POLICE, ("WMP", "Police")),),
)
TODAY = date(2026, 12, 14)
NOW = datetime.combine(TODAY, time(10, 0), tzinfo=LONDON)


def case(ref: str = "DSPP-2026-0002", **changes: Any) -> Case:
    base = Case(
        reference=ref,
        status="referral_received",
        received_at=datetime(2026, 12, 7, 9, 5, tzinfo=LONDON),
        received_on=date(2026, 12, 7),
        referral={
            "child_name": "Jamie Example",
            "child_dob": "2019-04-12",
            "incident_type": "death",
            "abuse_or_neglect": "unknown",
            "looked_after": False,
        },
        criteria={"result": "unclear", "reasons": []},
        agencies=(
            Agency("West Midlands Police", POLICE),
            Agency("Oakfield Primary School", "dsl@oakfield.example.sch.uk"),
        ),
        events=(Event(datetime(2026, 12, 7, 9, 6, tzinfo=LONDON), "created", "referral"),),
    )
    return replace(base, **changes)


def run(c: Case, text: str, others: dict[str, Case] | None = None) -> Outcome:
    parsed = parse_commands(text)
    return handlers.run_commands(
        c, parsed.commands, parsed.errors, NOW, CAL, ST, source="test", others=others
    )


def done(out: Outcome) -> list[str]:
    return list(out.messages[-1].context["done"])


def refused(out: Outcome) -> list[tuple[str, str]]:
    return [(e["line"], e["problem"]) for e in out.messages[-1].context["errors"]]


def assert_nothing_done(before: Case, out: Outcome, line: str, problem: str) -> None:
    assert out.case is not None
    assert replace(out.case, events=before.events) == before
    assert [e.kind for e in out.case.events[len(before.events) :]] == ["command_refused"]
    assert [m.template for m in out.messages] == ["command_reply"]
    assert out.others == () and out.actions == ()
    errors = refused(out)
    assert [ln for ln, _ in errors] == [line], errors
    assert problem in errors[0][1], errors


DECIDED = {"decision": "cspr", "decision_date": date(2026, 12, 10), "status": "cspr"}


@pytest.mark.parametrize(
    ("changes", "text", "line", "problem"),
    [
        ({}, "notified: 2027-05-01", "notified: 2027-05-01", "after today"),
        ({}, "aware: 15/12/2026", "aware: 15/12/2026", "after today"),
        (
            {},
            "decision: cspr 2020-01-01",
            "decision: cspr 2020-01-01",
            "before the case was received",
        ),
        ({}, "decision: cspr 2027-01-05", "decision: cspr 2027-01-05", "after today"),
        ({}, "completed: 2026-12-11", "completed: 2026-12-11", "no review has been decided"),
        ({}, "published: 2026-12-11", "published: 2026-12-11", "no review has been decided"),
        (
            {"decision": "no_review", "decision_date": date(2026, 12, 10), "status": "closed"},
            "completed: 2026-12-11",
            "completed: 2026-12-11",
            "no review has been decided",
        ),
        (DECIDED, "published: 2026-12-11", "published: 2026-12-11", "not completed yet"),
        (
            {**DECIDED, "completed_on": date(2026, 12, 12)},
            "published: 2026-12-11",
            "published: 2026-12-11",
            "before the review was completed",
        ),
        (DECIDED, "completed: 2026-12-09", "completed: 2026-12-09", "before the decision"),
        (
            {"status": "closed", "closed_on": date(2026, 12, 10)},
            "start rapid review",
            "start rapid review",
            "the case is closed",
        ),
        ({}, "reopen", "reopen", "not closed"),
        ({}, "set child_dob: 01/01/2027", "set child_dob: 01/01/2027", "after today"),
        ({}, "set looked_after: perhaps", "set looked_after: perhaps", "yes or no"),
        ({}, "set incident_type: bruising", "set incident_type: bruising", "death | serious harm"),
        ({}, "remove agency: Dudley Housing", "remove agency: Dudley Housing", "not on the case"),
        ({}, "link: DSPP-2026-0009", "link: DSPP-2026-0009", "no case DSPP-2026-0009"),
        ({}, "link: DSPP-2026-0002", "link: DSPP-2026-0002", "is this case"),
        ({}, "accept return: WMP", "accept return: WMP", "no return is held"),
    ],
)
def test_an_impossible_command_is_refused_and_nothing_is_done(
    changes: dict[str, Any], text: str, line: str, problem: str
) -> None:
    before = case(**changes)
    assert_nothing_done(before, run(before, text), line, problem)


def test_remove_agency_of_an_agency_already_asked_is_refused() -> None:
    started = run(case(), "start rapid review").case
    assert started is not None and all(a.requested_on == TODAY for a in started.agencies)
    assert_nothing_done(
        started, run(started, "remove agency: WMP"), "remove agency: WMP", "scoping request on"
    )


def test_one_refused_line_and_the_good_ones_are_not_done_either() -> None:
    before = case()
    out = run(before, "notified: 10/12/2026\nstart rapid review\ncompleted: 11/12/2026\n")
    assert_nothing_done(before, out, "completed: 11/12/2026", "no review has been decided")


def test_a_near_miss_does_nothing() -> None:
    before = case()
    out = run(before, "Hi all,\nnotified: 10/12/2026\nStart rapid review.\n")
    assert_nothing_done(before, out, "Start rapid review.", "alone on its line")


def test_a_changed_decision_says_what_it_replaced_each_time() -> None:
    c = case()
    out = run(c, "decision: cspr 10/12/2026")
    assert out.case is not None and out.case.status == "cspr"
    assert done(out) == ["Decision: cspr on Thu 10 Dec 2026"]
    out = run(out.case, "decision: nfa 11/12/2026")
    assert out.case is not None
    assert (out.case.status, out.case.closed_on) == ("closed", date(2026, 12, 11))
    assert done(out) == [
        "Decision: no review on Fri 11 Dec 2026 (replaces cspr of Thu 10 Dec 2026)"
    ]
    out = run(out.case, "decision: lcspr")
    assert out.case is not None
    assert (out.case.status, out.case.closed_on, out.case.decision) == ("cspr", None, "cspr")
    assert done(out) == [
        "Decision: cspr on Mon 14 Dec 2026 (replaces no review of Fri 11 Dec 2026)"
    ]


def test_the_answer_gives_the_resulting_deadlines() -> None:
    out = run(case(), "decision: cspr 10/12/2026")
    rows = out.messages[-1].context["deadlines"]
    assert any("Review" in str(row) and "Thu 10 Jun 2027" in str(row) for row in rows), rows


@pytest.mark.parametrize(
    ("text", "key", "value", "said"),
    [
        ("set child_dob: 03/12/2015", "child_dob", "2015-12-03", "Thu 3 Dec 2015"),
        ("set looked_after: Yes", "looked_after", True, "yes"),
        ("set legal status: child protection plan", "legal_status", "child_protection_plan", None),
        ("set child_school: Oakfield Primary", "child_school", "Oakfield Primary", None),
    ],
)
def test_set_converts_the_value_as_the_form_reader_does(
    text: str, key: str, value: Any, said: str | None
) -> None:
    out = run(case(), text)
    assert out.case is not None and out.case.referral[key] == value
    assert done(out)[0].startswith(f"{key} set to")
    if said:
        assert said in done(out)[0]


def test_set_of_a_screened_field_screens_again() -> None:
    out = run(case(), "set abuse_or_neglect: suspected")
    assert out.case is not None and out.case.criteria["result"] == "met"
    assert "Screened again: criteria met" in done(out)


def test_remove_agency_before_its_request() -> None:
    out = run(case(), "remove agency: Oakfield Primary School")
    assert out.case is not None
    assert [a.name for a in out.case.agencies] == ["West Midlands Police"]
    # The directory's alias finds it too.
    out = run(case(), "remove agency: WMP")
    assert out.case is not None
    assert [a.name for a in out.case.agencies] == ["Oakfield Primary School"]


def test_link_gives_both_cases_each_other() -> None:
    other = case("DSPP-2026-0004")
    out = run(case(), "link: DSPP-2026-0004", {"DSPP-2026-0004": other})
    assert out.case is not None and out.case.linked_cases == ("DSPP-2026-0004",)
    assert [o.reference for o in out.others] == ["DSPP-2026-0004"]
    assert out.others[0].linked_cases == ("DSPP-2026-0002",)
    assert out.case.to_dict()["linked_cases"] == ["DSPP-2026-0004"]


def test_duplicate_of_joins_that_case_and_closes_this_one() -> None:
    target = case(
        "DSPP-2026-0001",
        agencies=(Agency("West Midlands Police", POLICE),),
        events=(Event(datetime(2026, 12, 1, 9, 0, tzinfo=LONDON), "created", "referral"),),
    )
    copy = case(
        linked_cases=("DSPP-2026-0003",),
        held_returns=(HeldReturn(NOW, "someone@example.org", "Oakfield Primary School"),),
    )
    out = run(copy, "duplicate of: DSPP-2026-0001", {"DSPP-2026-0001": target})
    assert out.case is not None
    assert (out.case.status, out.case.closed_on, out.case.duplicate_of) == (
        "closed",
        TODAY,
        "DSPP-2026-0001",
    )
    assert out.case.to_dict()["duplicate_of"] == "DSPP-2026-0001"
    assert out.case.agencies == () and out.case.held_returns == ()
    (joined,) = out.others
    assert [a.name for a in joined.agencies] == ["West Midlands Police", "Oakfield Primary School"]
    assert [e.at for e in joined.events] == sorted(e.at for e in joined.events)
    assert {e.kind for e in joined.events} >= {"created", "duplicate_joined"}
    assert len([e for e in joined.events if e.kind == "created"]) == 2
    assert joined.linked_cases == ("DSPP-2026-0003",)
    assert len(joined.held_returns) == 1
    # A duplicate of a duplicate is refused: name the case it joined.
    again = run(
        case("DSPP-2026-0005"), "duplicate of: DSPP-2026-0002", {"DSPP-2026-0002": out.case}
    )
    assert "itself a duplicate of DSPP-2026-0001" in refused(again)[0][1]


def test_reopen_a_closed_case() -> None:
    closed = run(case(), "decision: no review 10/12/2026").case
    assert closed is not None and closed.status == "closed"
    out = run(closed, "reopen")
    assert out.case is not None
    assert (out.case.status, out.case.closed_on, out.case.decision) == (
        "referral_received",
        None,
        None,
    )
    assert any("no longer stands" in d for d in done(out))
    # Then the Rapid Review can start.
    out = run(out.case, "start rapid review")
    assert out.case is not None and out.case.status == "rapid_review"


def test_accept_return_takes_the_held_return_as_that_agencys() -> None:
    held = HeldReturn(
        datetime(2026, 12, 11, 15, 0, tzinfo=LONDON),
        "j.smith@gmail.example",
        "West Midlands Police",
        {"agency_name": "West Midlands Police", "completed_by": "DC Smith"},
        "<r1@gmail.example>",
    )
    started = run(case(held_returns=(held,)), "start rapid review").case
    assert started is not None
    out = run(started, "accept return: WMP")
    assert out.case is not None and out.case.held_returns == ()
    police = out.case.agencies[0]
    assert (police.returned_on, police.scoping) == (date(2026, 12, 11), held.scoping)
    assert "scoping_returned" in [e.kind for e in out.case.events]


@pytest.mark.parametrize("verb", ["pack", "resend"])
def test_pack_and_resend_ask_the_app(verb: str) -> None:
    out = run(case(), verb)
    assert out.actions == (verb,)
    assert out.case is not None and out.case.events[-1].detail == verb


def test_a_mail_with_an_error_asks_for_no_action() -> None:
    out = run(case(), "pack\nnotified: 2027-05-01\n")
    assert out.actions == ()


def test_every_command_has_a_handler() -> None:
    assert set(handlers.HANDLERS) == set(get_args(Verb)) == set(DEFAULT_GRAMMAR.aliases.values())


def test_the_new_case_fields_survive_the_store() -> None:
    held = HeldReturn(NOW, "x@example.org", None, {"completed_by": "A"}, None)
    c = case(linked_cases=("DSPP-2026-0004",), duplicate_of="DSPP-2026-0001", held_returns=(held,))
    d = c.to_dict()
    assert d["linked_cases"] == ["DSPP-2026-0004"] and d["duplicate_of"] == "DSPP-2026-0001"
    assert d["held_returns"][0]["received_at"] == NOW.isoformat()
    assert Case.from_dict(d) == c
    # A case stored before these fields existed reads as none of them.
    old = {k: v for k, v in d.items() if k not in ("linked_cases", "duplicate_of", "held_returns")}
    assert (Case.from_dict(old).linked_cases, Case.from_dict(old).duplicate_of) == ((), None)


def _held_from_gmail(agency: str) -> HeldReturn:
    return HeldReturn(
        datetime(2026, 12, 11, 15, 0, tzinfo=LONDON),
        "j.smith@gmail.example",
        agency,
        {"agency_name": agency, "completed_by": "J Smith"},
        "<r1@gmail.example>",
    )


def test_accepting_the_last_return_sends_the_pack_as_a_return_from_the_agency_would() -> None:
    started = run(
        case(held_returns=(_held_from_gmail("West Midlands Police"),)), "start rapid review"
    ).case
    assert started is not None
    school = replace(started.agencies[1], returned_on=date(2026, 12, 10), scoping={"x": "y"})
    started = replace(started, agencies=(started.agencies[0], school))
    out = run(started, "accept return: WMP")
    assert [m.template for m in out.messages] == ["returns_complete", "command_reply"]
    assert out.messages[0].documents[0].kind == "pack"
    assert any("pack is on its way" in d for d in done(out))


def test_accepting_a_return_while_others_are_outstanding_sends_no_pack() -> None:
    started = run(
        case(held_returns=(_held_from_gmail("West Midlands Police"),)), "start rapid review"
    ).case
    assert started is not None
    out = run(started, "accept return: WMP")
    assert [m.template for m in out.messages] == ["command_reply"]
