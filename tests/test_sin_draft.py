"""The SIN draft (core/sin_draft.py): the National Panel notification's questions with the referral's answers."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest

from cspr_mailbot.core.clocks import Timescales
from cspr_mailbot.core.models import Case
from cspr_mailbot.core.pack import deadlines_of
from cspr_mailbot.core.sin_draft import (
    NOT_ON_REFERRAL,
    SIN_QUESTIONS,
    needs_sin_draft,
    sin_answers,
    sin_draft,
)
from cspr_mailbot.core.workdays import LONDON, WorkingCalendar

CAL = WorkingCalendar()
TS = Timescales()
CHILD = "Jessica Amelia Smith-Brown"

FULL_REFERRAL: dict[str, Any] = {
    "child_name": CHILD,
    "child_dob": "04/05/2019",  # UK-written: 4 May 2019
    "child_gender": "Female",
    "child_ethnicity": "White British",
    "child_nhs_number": "943 476 5919",
    "child_address": "1 High Street, Dudley",
    "child_postcode": "DY1 1AA",
    "legal_status": "child_protection_plan",
    "looked_after": False,
    "incident_date": "2026-11-26",
    "la_aware_date": "2026-11-27",
    "incident_type": "serious_harm",
    "abuse_or_neglect": "suspected",
    "incident_summary": "Bruising to the face and arm,\nseen at A&E.",
    "other_children_at_risk": "A brother, 2, staying with grandparents.",
    "household": [
        {"name": "Sarah Brown", "relationship": "mother", "dob": "1995-02-01"},
        {"name": "Leo Brown", "relationship": "brother", "dob": None},
    ],
    "police_investigation": True,
    "parallel_processes": "Family proceedings started",
    "agencies_involved": [
        {"name": "West Midlands Police", "contact_name": "DS Patel", "email": "p@example.org"},
        {"name": "Dudley Council Education", "contact_name": None, "email": None},
    ],
}


def make_case(referral: dict[str, Any], **kw: Any) -> Case:
    at = datetime(2026, 11, 27, 10, 0, tzinfo=LONDON)
    return Case(
        reference="DSPP-2026-0007",
        status="referral_received",
        received_at=at,
        received_on=date(2026, 11, 27),
        referral=referral,
        **kw,
    )


def answers(case: Case) -> dict[str, str]:
    return {q: a for _, rows in sin_answers(case) for q, a in rows}


def test_every_question_of_the_form_in_order_with_the_referrals_answers() -> None:
    got = answers(make_case(FULL_REFERRAL))
    assert list(got) == [q.question for q in SIN_QUESTIONS]
    assert got["Name"] == CHILD
    assert got["Date of birth"] == "Sat 4 May 2019"
    assert got["Age"] == "7 years at the incident"
    assert got["Gender"] == "Female"
    assert got["Ethnicity"] == "White British"
    assert got["Health (NHS number, disability, health needs)"] == (
        f"NHS number 943 476 5919; other health information {NOT_ON_REFERRAL}"
    )
    assert got["Where the child lives (address, postcode)"] == "1 High Street, Dudley, DY1 1AA"
    assert got["Legal status (child protection plan, child in need, looked after)"] == (
        "Child protection plan"
    )
    assert got["Date the local authority became aware"] == "Fri 27 Nov 2026"
    assert got["Date of the incident (and time if known)"] == (
        f"Thu 26 Nov 2026; time {NOT_ON_REFERRAL}"
    )
    assert got["What is being notified"] == (
        "Serious harm to a child where abuse or neglect is suspected."
    )
    assert (
        got["Did the child die or were they seriously harmed"] == "The child was seriously harmed"
    )
    assert got["Is abuse or neglect known or suspected"] == "Suspected"
    assert got["Case outline"] == "Bruising to the face and arm,\nseen at A&E."
    assert got["Family and household"] == (
        "Sarah Brown, mother, born Wed 1 Feb 1995\nLeo Brown, brother"
    )
    assert got["Police investigation"] == "Yes"
    assert got["Agencies involved with the child or family"] == (
        "West Midlands Police; Dudley Council Education"
    )


def test_what_the_referral_cannot_answer_says_so() -> None:
    got = answers(make_case(FULL_REFERRAL))
    missing = {q for q, a in got.items() if a == NOT_ON_REFERRAL}
    assert missing == {
        "Notifying local authority",
        "Your name and role",
        "Your phone number",
        "Your email address",
        "In the local authority's area, or outside England while normally resident in it",
        "Where it happened",
        "Documents to upload (legal documents, letters, forms)",
    }
    empty = answers(make_case({}))
    assert set(empty.values()) == {NOT_ON_REFERRAL}


def test_the_draft_as_text_to_paste() -> None:
    case = make_case(FULL_REFERRAL, aware_date=date(2026, 11, 27))
    dl = deadlines_of(case, CAL, TS)
    text = sin_draft(case, dl, partnership="Dudley Safeguarding People Partnership")
    lines = text.splitlines()
    assert lines[0] == (
        "DRAFT Serious Incident Notification to the Child Safeguarding Practice Review Panel"
    )
    assert "DSPP-2026-0007" in lines[1] and "coordinators only" in lines[1]
    assert "by Fri 4 Dec 2026." in text and "provisional" not in text.split("\n\n")[0]
    assert "20 minutes" in text
    assert "1. About the notification" in lines
    assert "Name:" in lines and f"    {CHILD}" in lines
    # A multi-line answer stays indented under its question.
    assert "    Bruising to the face and arm," in lines and "    seen at A&E." in lines
    assert text.endswith("\n")


def test_the_deadline_is_provisional_while_the_aware_date_is_unknown() -> None:
    referral = {k: v for k, v in FULL_REFERRAL.items() if k != "la_aware_date"}
    case = make_case(referral)
    text = sin_draft(case, deadlines_of(case, CAL, TS))
    assert "by Fri 4 Dec 2026 (provisional" in text
    assert answers(case)["Date the local authority became aware"] == NOT_ON_REFERRAL


def test_a_looked_after_childs_death_is_notified_whatever_the_abuse() -> None:
    referral = {"looked_after": True, "incident_type": "death", "abuse_or_neglect": "no"}
    case = make_case(referral)
    got = answers(case)
    assert got["What is being notified"] == (
        "The death of a looked-after child (notified to the Secretary of State and Ofsted)"
    )
    assert (
        got["Legal status (child protection plan, child in need, looked after)"] == "Looked after"
    )
    assert "Secretary of State and Ofsted" in sin_draft(case)


@pytest.mark.parametrize(
    ("dob", "incident", "age"),
    [
        ("2015-12-03", "2026-12-02", "10 years at the incident"),
        ("2015-12-03", "2026-12-03", "11 years at the incident"),
        ("2026-01-15", "2026-11-26", "10 months at the incident"),
        ("2026-11-20", "2026-11-26", "6 days at the incident"),
        ("2025-11-26", "2026-11-26", "1 year at the incident"),
        ("2026-12-01", "2026-11-26", NOT_ON_REFERRAL),  # born after the incident: not a guess
    ],
)
def test_age_at_the_incident(dob: str, incident: str, age: str) -> None:
    assert answers(make_case({"child_dob": dob, "incident_date": incident}))["Age"] == age


def test_the_draft_is_needed_until_a_sin_date_is_recorded() -> None:
    case = make_case(FULL_REFERRAL)
    assert needs_sin_draft(deadlines_of(case, CAL, TS))
    made = replace(case, notified_date=date(2026, 12, 1))
    assert not needs_sin_draft(deadlines_of(made, CAL, TS))
    on_form = make_case(
        FULL_REFERRAL | {"national_panel_notified": True, "notification_date": "2026-11-30"}
    )
    assert not needs_sin_draft(deadlines_of(on_form, CAL, TS))
