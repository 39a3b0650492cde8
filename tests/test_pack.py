"""The Rapid Review pack (SPEC 6a): its content as values (core/pack.py) and as a .docx (adapters/packdoc.py)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest
from docx import Document

from cspr_mailbot.adapters.packdoc import pack_docx, pack_filename
from cspr_mailbot.core import pack as packmod
from cspr_mailbot.core.clocks import Timescales
from cspr_mailbot.core.models import Agency, Case
from cspr_mailbot.core.pack import (
    DUPLICATE_THRESHOLD,
    ChronologyEntry,
    as_date,
    build_pack,
    deadlines_of,
    integrated_chronology,
    pack_for,
    same_event,
)
from cspr_mailbot.core.workdays import LONDON, WorkingCalendar

CAL = WorkingCalendar()
TS = Timescales()
TODAY = date(2026, 12, 10)
PARTNERSHIP = "Dudley Safeguarding People Partnership"
CHILD = "Jessica Amelia Smith-Brown"
POLICE = "West Midlands Police"
HEALTH = "Black Country Healthcare NHS Foundation Trust"
EDUCATION = "Dudley Council Education"

POLICE_ROWS: list[dict[str, Any]] = [
    {
        "date": "14/11/2026",
        "event": "Domestic incident: police called to the home address",
        "agency": "Officers attended; DASH risk assessment: medium",
    },
    {
        "date": "2026-11-02",
        "event": "Neighbour reported shouting at the address",
        "agency": "Welfare check, no one answered",
    },
    {
        "date": "Thursday 26th November 2026",
        "event": "Child seen at A&E with bruising to the face",
        "agency": "Officers spoke to mother at the hospital",
    },
    {
        "date": "early 2025",
        "event": "Previous callout to a former address",
        "agency": "No further action",
    },
]
HEALTH_ROWS: list[dict[str, Any]] = [
    {
        "date": "26 Nov 2026",
        "event": "Child seen at A&E, bruising to face and arm",
        "agency": "Paediatric review; referral to children's social care",
    },
    {
        "date": "1/10/26",
        "event": "Health visitor home visit: no concerns",
        "agency": "Routine contact",
    },
    {
        "date": "Nov 20th, 2026",
        "event": "Missed immunisation appointment",
        "agency": "Letter sent to mother",
    },
]


def make_case(**kw: Any) -> Case:
    at = datetime(2026, 11, 27, 10, 0, tzinfo=LONDON)
    referral = {
        "child_name": CHILD,
        "child_dob": "2019-05-04",
        "child_address": "1 High Street, Dudley",
        "incident_type": "serious_harm",
        "abuse_or_neglect": "suspected",
        "incident_date": "2026-11-26",
        "la_aware_date": "2026-11-27",
        "incident_summary": "Bruising to the face and arm, seen at A&E.",
        "looked_after": False,
        "agencies_involved": [
            {"name": POLICE, "contact_name": "DS Patel", "email": "pvp@example.org"},
            {"name": HEALTH, "contact_name": None, "email": "safeguarding@example.nhs.uk"},
            {"name": EDUCATION, "contact_name": None, "email": None},
        ],
    }
    agencies = (
        Agency(
            POLICE,
            "pvp@example.org",
            requested_on=date(2026, 11, 30),
            due=date(2026, 12, 7),
            returned_on=date(2026, 12, 4),
            scoping={
                "agency_name": POLICE,
                "completed_by": "DS Patel",
                "records_secured": True,
                "involvement_summary": "Two callouts in November.",
                "chronology": POLICE_ROWS,
            },
        ),
        Agency(
            HEALTH,
            "safeguarding@example.nhs.uk",
            requested_on=date(2026, 11, 30),
            due=date(2026, 12, 7),
            returned_on=date(2026, 12, 7),
            scoping={
                "agency_name": HEALTH,
                "completed_by": "Named Nurse",
                "records_secured": False,
                "learning": "Missed appointments were not followed up.",
                "chronology": HEALTH_ROWS,
            },
        ),
        Agency(
            EDUCATION,
            "edu@example.org",
            requested_on=date(2026, 11, 30),
            due=date(2026, 12, 7),
            chasers_sent=2,
        ),
    )
    base: dict[str, Any] = {
        "reference": "DSPP-2026-0007",
        "status": "rapid_review",
        "received_at": at,
        "received_on": date(2026, 11, 27),
        "referral": referral,
        "criteria": {
            "result": "met",
            "reasons": ["abuse or neglect is suspected", "the child has been seriously harmed"],
        },
        "agencies": agencies,
        "aware_date": date(2026, 11, 27),
    }
    base.update(kw)
    return Case(**base)


def docx_text(data: bytes) -> tuple[list[str], list[list[list[str]]]]:
    """The document's paragraphs and its tables (rows of cell texts)."""
    doc = Document(io.BytesIO(data))
    paragraphs = [p.text for p in doc.paragraphs]
    tables = [[[c.text for c in row.cells] for row in t.rows] for t in doc.tables]
    return paragraphs, tables


CHRONOLOGY_HEAD = ["Date", "Agency", "What happened", "What the agency did"]
MISSING_HEAD = ["Agency", "Requested", "Due", "Chasers sent"]
DEADLINES_HEAD = ["Deadline", "Due", "Status"]


def table_with_header(tables: list[list[list[str]]], head: list[str]) -> list[list[str]]:
    found = [t for t in tables if t and t[0] == head]
    assert len(found) == 1, f"one table headed {head!r}"
    return found[0]


# -- the done-when of issue 16 --------------------------------------------------------------------------


def test_two_returns_one_missing_every_entry_in_order_with_its_agency_and_the_missing_agency() -> (
    None
):
    case = make_case()
    pack = build_pack(
        case, deadlines_of(case, CAL, TS), today=TODAY, partnership=PARTNERSHIP, cal=CAL
    )

    assert [r.agency for r in pack.returns] == [POLICE, HEALTH]
    assert [o.agency for o in pack.outstanding] == [EDUCATION]
    assert pack.outstanding[0].chasers_sent == 2
    assert len(pack.chronology) == len(POLICE_ROWS) + len(HEALTH_ROWS)
    assert [(e.when, e.agency, e.event) for e in pack.chronology] == [
        (date(2026, 10, 1), HEALTH, "Health visitor home visit: no concerns"),
        (date(2026, 11, 2), POLICE, "Neighbour reported shouting at the address"),
        (date(2026, 11, 14), POLICE, "Domestic incident: police called to the home address"),
        (date(2026, 11, 20), HEALTH, "Missed immunisation appointment"),
        (date(2026, 11, 26), POLICE, "Child seen at A&E with bruising to the face"),
        (date(2026, 11, 26), HEALTH, "Child seen at A&E, bruising to face and arm"),
        (None, POLICE, "Previous callout to a former address"),  # undated: last, as written
    ]
    assert pack.chronology[-1].date_shown == "early 2025"

    data = pack_docx(pack)
    paragraphs, tables = docx_text(data)
    chronology = table_with_header(tables, CHRONOLOGY_HEAD)
    body = chronology[1:]
    assert len(body) == len(pack.chronology)
    for row, entry in zip(body, pack.chronology, strict=True):
        assert row[0] == entry.date_shown
        assert row[1].splitlines()[0] == entry.agency
        assert row[2] == entry.event
        assert row[3] == entry.action
    assert [r[0] for r in body] == [
        "Thu 1 Oct 2026", "Mon 2 Nov 2026", "Sat 14 Nov 2026", "Fri 20 Nov 2026",
        "Thu 26 Nov 2026", "Thu 26 Nov 2026", "early 2025",
    ]  # fmt: skip

    missing = table_with_header(tables, MISSING_HEAD)
    assert missing[1][0] == EDUCATION and missing[1][3] == "2"
    assert any(EDUCATION in p for p in paragraphs if p.startswith("Returns in: 2 of 3"))


def test_the_pack_docx_marking_page_numbers_title_properties_and_returns_in_full() -> None:
    case = make_case()
    pack = build_pack(
        case, deadlines_of(case, CAL, TS), today=TODAY, partnership=PARTNERSHIP, cal=CAL
    )
    data = pack_docx(pack)
    doc = Document(io.BytesIO(data))
    section = doc.sections[0]
    assert section.header.paragraphs[0].text == "OFFICIAL-SENSITIVE"
    footer_xml = section.footer._element.xml
    assert "PAGE" in footer_xml and "NUMPAGES" in footer_xml and "fldChar" in footer_xml
    assert doc.paragraphs[0].text == "Rapid Review pack: DSPP-2026-0007"
    props = doc.core_properties
    assert props.author == PARTNERSHIP
    assert "DSPP-2026-0007" in props.title and "DSPP-2026-0007" in props.keywords
    assert props.category == "OFFICIAL-SENSITIVE"

    paragraphs, tables = docx_text(data)
    labels = {row[0]: row[1] for t in tables for row in t if len(row) == 2}
    assert labels["Child's name"] == CHILD  # coordinators only: the child may be named
    assert labels["Agencies involved"].splitlines()[0] == f"{POLICE} (DS Patel, pvp@example.org)"
    assert labels["Learning"] == "Missed appointments were not followed up."
    assert labels["Completed by"] in {"DS Patel", "Named Nurse"}
    assert "Criteria for a CSPR: Met" in paragraphs
    assert "the child has been seriously harmed" in paragraphs
    headings = [p for p in paragraphs if p[:2] in {"1.", "2.", "3.", "4.", "5.", "6.", "7."}]
    assert headings[:3] == ["1. The referral", "2. Screening", "3. Deadlines"]
    assert f"4.1 {POLICE} (returned Fri 4 Dec 2026)" in paragraphs
    assert f"4.2 {HEALTH} (returned Mon 7 Dec 2026)" in paragraphs
    deadlines = table_with_header(tables, DEADLINES_HEAD)
    by_label = {row[0]: row for row in deadlines[1:]}
    assert by_label["SIN"][1] == "Fri 4 Dec 2026"
    assert by_label["SIN"][2] == "overdue by 4 working days"
    assert by_label["Rapid Review decision (provisional)"][2].endswith("left")
    assert by_label[f"Scoping return: {POLICE}"][2] == "met on Fri 4 Dec 2026"
    assert by_label[f"Scoping return: {EDUCATION}"][2] == "overdue by 3 working days"
    assert pack_filename(pack) == "DSPP-2026-0007 Rapid Review pack.docx"
    assert CHILD not in pack_filename(pack)


# -- duplicates ---------------------------------------------------------------------------------------------


def test_two_agencies_giving_the_same_date_and_event_are_both_marked_and_shown() -> None:
    case = make_case()
    pack = build_pack(case, deadlines_of(case, CAL, TS), today=TODAY, partnership=PARTNERSHIP)
    marked = {(e.agency, e.also_given_by) for e in pack.chronology if e.also_given_by}
    assert marked == {(POLICE, (HEALTH,)), (HEALTH, (POLICE,))}

    _, tables = docx_text(pack_docx(pack))
    rows = table_with_header(tables, CHRONOLOGY_HEAD)[1:]
    shown = [r[1] for r in rows if "also given by" in r[1]]
    assert shown == [f"{POLICE}\nalso given by {HEALTH}", f"{HEALTH}\nalso given by {POLICE}"]


def entry(agency: str, when: date | None, event: str) -> ChronologyEntry:
    return ChronologyEntry(when, when.isoformat() if when else "", agency, event, "")


def test_duplicates_need_the_same_date_and_two_different_agencies() -> None:
    d1, d2 = date(2026, 11, 26), date(2026, 11, 27)
    out = integrated_chronology(
        [
            (POLICE, [entry(POLICE, d1, "Strategy meeting held"),
                      entry(POLICE, d1, "Strategy meeting held"),  # the same agency twice: not marked
                      entry(POLICE, None, "Home visit")]),
            (HEALTH, [entry(HEALTH, d2, "Strategy meeting held"),  # another day: not marked
                      entry(HEALTH, None, "Home visit")]),  # undated: never marked
        ]
    )  # fmt: skip
    assert all(not e.also_given_by for e in out)
    assert [e.when for e in out] == [d1, d1, d2, None, None]
    assert [e.agency for e in out[-2:]] == [POLICE, HEALTH]  # undated keep the returns' order


def test_three_agencies_at_one_strategy_meeting() -> None:
    d = date(2026, 11, 28)
    out = integrated_chronology(
        [
            (POLICE, [entry(POLICE, d, "Strategy meeting")]),
            (HEALTH, [entry(HEALTH, d, "Strategy meeting held (police, health, social care)")]),
            (EDUCATION, [entry(EDUCATION, d, "Strategy meeting: school attended")]),
        ]
    )
    assert [e.also_given_by for e in out] == [
        tuple(sorted((HEALTH, EDUCATION))),
        tuple(sorted((POLICE, EDUCATION))),
        tuple(sorted((POLICE, HEALTH))),
    ]


# Why DUPLICATE_THRESHOLD is 90: the same event, as two agencies write it, on the left; two different
# events of the same day that share most of their words, on the right. The scores are rapidfuzz
# token_set_ratio over the words less the little ones ("at", "the", "by"...).
SAME_EVENT = [
    ("Child seen at A&E with bruising to the face", "Child seen at A&E, bruising to face and arm"),
    ("Home visit by health visitor", "Health visitor home visit: no concerns"),
    ("Referral to MASH from school", "MASH referral received from school"),
    ("Strategy meeting", "Strategy meeting held (police, health, social care)"),
    ("Initial child protection conference", "Initial child protection conference; child made subject of a plan"),
    ("Stratagy meeting held", "Strategy meeting held"),  # a misspelling
]  # fmt: skip
DIFFERENT_EVENTS = [
    ("Initial child protection conference", "Review child protection conference"),  # 89
    ("Mother seen by GP", "Father seen by GP"),  # 86
    ("Child seen at A&E", "Child seen at school"),  # 83
    ("Child seen by GP for a cough", "Child seen by GP for bruising"),  # 81
    ("Child admitted to hospital", "Child discharged from hospital"),  # 79
    ("Health visitor home visit", "Social worker home visit"),
    ("Strategy meeting held", "Home visit by social worker"),
    ("Missed health appointment", "Missed school"),
]


@pytest.mark.parametrize(("a", "b"), SAME_EVENT)
def test_near_duplicates_are_the_same_event(a: str, b: str) -> None:
    assert same_event(a, b) and same_event(b, a)


@pytest.mark.parametrize(("a", "b"), DIFFERENT_EVENTS)
def test_different_events_sharing_words_are_not(a: str, b: str) -> None:
    assert not same_event(a, b) and not same_event(b, a)


def test_the_threshold_sits_between_the_two_lists() -> None:
    from rapidfuzz import fuzz

    def score(a: str, b: str) -> float:
        return float(fuzz.token_set_ratio(a, b, processor=packmod._words))

    lowest_same = min(score(a, b) for a, b in SAME_EVENT)
    highest_different = max(score(a, b) for a, b in DIFFERENT_EVENTS)
    assert highest_different < DUPLICATE_THRESHOLD <= lowest_same
    assert not same_event("", "") and not same_event("Home visit", "  ")


# -- dates --------------------------------------------------------------------------------------------------

UK_FORMS: list[Any] = [
    "03/12/2026", "3/12/2026", "3/12/26", "03.12.2026", "3.12.26", "03-12-2026", "2026-12-03",
    "3 December 2026", "3rd December 2026", "3rd of December 2026", "3 Dec 2026", "3 Dec. 2026",
    "Thursday 3rd December 2026", "Thu 3 Dec 2026", "December 3, 2026", "Dec 3rd 2026",
    "  03/12/2026 ", date(2026, 12, 3),
]  # fmt: skip


@pytest.mark.parametrize("written", UK_FORMS)
def test_chronology_dates_in_every_common_uk_form(written: Any) -> None:
    agency = Agency(POLICE, scoping={"chronology": [{"date": written, "event": "x", "agency": ""}]})
    (got,) = packmod._entries_of(agency)
    assert got.when == date(2026, 12, 3)


def test_unreadable_dates_come_last_as_written_in_the_returns_order() -> None:
    rows = [
        {"date": "31/02/2026", "event": "impossible date"},
        {"date": "Monday 3 December 2026", "event": "weekday contradicts the date"},
        {"date": "", "event": "no date"},
        {"date": "3/12/2026", "event": "readable"},
        {"date": "early December", "event": "no year"},
    ]
    case = make_case(agencies=(Agency(POLICE, returned_on=date(2026, 12, 4),
                                      scoping={"chronology": rows}),))  # fmt: skip
    pack = build_pack(case, deadlines_of(case, CAL, TS), today=TODAY, partnership=PARTNERSHIP)
    assert [e.event for e in pack.chronology] == [
        "readable", "impossible date", "weekday contradicts the date", "no date", "no year",
    ]  # fmt: skip
    assert [e.date_shown for e in pack.chronology] == [
        "Thu 3 Dec 2026", "31/02/2026", "Monday 3 December 2026", "(no date)", "early December",
    ]  # fmt: skip


def test_as_date_reads_dates_iso_strings_and_datetimes() -> None:
    assert as_date(date(2026, 12, 3)) == date(2026, 12, 3)
    assert as_date("2026-12-03") == date(2026, 12, 3)
    assert as_date("2026-12-03T09:00:00+00:00") == date(2026, 12, 3)
    assert as_date(datetime(2026, 12, 3, 23, 0)) == date(2026, 12, 3)
    assert as_date(None) is None and as_date("") is None and as_date("soon") is None


def test_a_case_holding_date_objects_builds_the_same_pack() -> None:
    """The restructured Case keeps dates as ``date``: the pack reads both."""
    case = make_case()
    dl = deadlines_of(case, CAL, TS)
    as_dates = replace(
        case,
        agencies=tuple(
            replace(
                a,
                requested_on=as_date(a.requested_on),  # type: ignore[arg-type]
                due=as_date(a.due),  # type: ignore[arg-type]
                returned_on=as_date(a.returned_on),  # type: ignore[arg-type]
            )
            for a in case.agencies
        ),
    )
    one = build_pack(case, dl, today=TODAY, partnership=PARTNERSHIP, cal=CAL)
    two = build_pack(as_dates, dl, today=TODAY, partnership=PARTNERSHIP, cal=CAL)
    assert one == two


# -- what the agency did, the SIN draft, an empty pack ---------------------------------------------------------


def test_what_the_agency_did_comes_from_action_involvement_or_agency() -> None:
    rows = [
        {"date": "2026-11-01", "event": "a", "action": "did A"},
        {"date": "2026-11-02", "event": "b", "involvement": "did B"},
        {"date": "2026-11-03", "event": "c", "agency": "did C"},
        {"date": "2026-11-04", "event": "d", "agency": "West Midlands Police"},  # just its own name
        {"date": "", "event": "", "agency": ""},  # an empty template row: dropped
    ]
    got = packmod._entries_of(Agency(POLICE, scoping={"chronology": rows}))
    assert [(e.agency, e.action) for e in got] == [
        (POLICE, "did A"), (POLICE, "did B"), (POLICE, "did C"), (POLICE, ""),
    ]  # fmt: skip


def test_pack_for_carries_the_sin_draft_until_the_sin_is_made() -> None:
    case = make_case()
    pack = pack_for(case, CAL, TS, today=TODAY, partnership=PARTNERSHIP)
    assert pack.sin_draft is not None and "Serious Incident Notification" in pack.sin_draft
    paragraphs, _ = docx_text(pack_docx(pack))
    assert "7. Draft National Panel notification (SIN)" in paragraphs
    assert f"    {CHILD}" in paragraphs

    notified = pack_for(replace(case, notified_date=date(2026, 12, 1)), CAL, TS, today=TODAY,
                        partnership=PARTNERSHIP)  # fmt: skip
    assert notified.sin_draft is None
    paragraphs, _ = docx_text(pack_docx(notified))
    assert not any(p.startswith("7.") for p in paragraphs)


def test_a_pack_with_no_returns_and_no_agencies() -> None:
    case = make_case(agencies=(), referral={})
    pack = build_pack(case, deadlines_of(case, CAL, TS), today=TODAY, partnership=PARTNERSHIP)
    assert pack.returns == () and pack.outstanding == () and pack.chronology == ()
    assert pack.child_name == "" and pack.initials == "(initials not given)"
    paragraphs, tables = docx_text(pack_docx(pack))
    assert "No agency has returned its scoping template yet." in paragraphs
    assert "Every agency on the case has returned." in paragraphs
    assert "No return has given any chronology entries yet." in paragraphs
    labels = {row[0]: row[1] for t in tables for row in t if len(row) == 2}
    assert labels["Child's name"] == "(not given)"


def test_the_same_pack_gives_the_same_document() -> None:
    case = make_case()
    pack = build_pack(case, deadlines_of(case, CAL, TS), today=TODAY, partnership=PARTNERSHIP)
    assert docx_text(pack_docx(pack)) == docx_text(pack_docx(pack))
    doc = Document(io.BytesIO(pack_docx(pack)))
    assert doc.core_properties.created is not None
    assert doc.core_properties.created.date() == TODAY
