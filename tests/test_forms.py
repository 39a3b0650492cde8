"""The form reader (SPEC 4) against every layout and trap, and the project's own forms read back."""

from __future__ import annotations

import io
import time
import zipfile
from typing import Any

import pytest
from docx import Document
from hypothesis import given, settings
from hypothesis import strategies as st

from cspr_mailbot import formgen
from cspr_mailbot.core.forms import (
    FormResult,
    Labels,
    missing_key_fields,
    normalise_label,
    read_custom_properties,
    read_referral_docx,
    read_referral_text,
    read_scoping_docx,
)
from cspr_mailbot.core.forms.labels import FUZZY_THRESHOLD
from cspr_mailbot.core.models import REFERRAL_FIELDS, SCOPING_FIELDS
from cspr_mailbot.errors import ConfigError, UnreadableAttachment
from tests import docxfactory as f

LABELS = Labels.load()

FULL_REFERRAL: dict[str, Any] = {
    **dict.fromkeys(REFERRAL_FIELDS),  # SPEC 4's later fields: see tests/test_formgen.py
    "referrer_name": "Jo Bloggs",
    "referrer_role": "Social worker",
    "referrer_agency": "Dudley Children's Services",
    "referrer_email": "jo.bloggs@dudley.gov.uk",
    "referrer_phone": "01384 123456",
    "safeguarding_lead_consulted": True,
    "child_name": "Amy Example",
    "child_dob": "2015-02-28",
    "child_gender": "Female",
    "child_ethnicity": "White British",
    "child_address": "1 High Street\nDudley\nDY1 1AA",
    "incident_date": "2026-12-03",
    "la_aware_date": "2026-12-04",
    "incident_type": "serious_harm",
    "incident_summary": "Admitted to hospital with unexplained injuries.\nSiblings are safe.",
    "abuse_or_neglect": "suspected",
    "looked_after": False,
    "national_panel_notified": True,
    "notification_date": "2026-12-08",
    "agencies_involved": [
        {"name": "West Midlands Police", "contact_name": "DC Smith", "email": "pvp@police.example"},
        {"name": "Health Visiting", "contact_name": None, "email": None},
        {"name": "Oak Primary School", "contact_name": "Mrs Khan", "email": "dsl@oak.example"},
    ],
    "rationale": "Serious injury; neglect suspected; agencies missed signs.",
}

FULL_SCOPING: dict[str, Any] = {
    "completed_by": "Sam Patel",
    "role": "Named nurse",
    "email": "sam.patel@nhs.example",
    "phone": "01384 999999",
    "involvement_from": "2024-01-15",
    "involvement_to": "2026-12-03",
    "involvement_summary": "Health visiting contacts at 6 weeks and 1 year.\nMissed 2-year check.",
    "risks_identified": "Parental substance misuse.",
    "good_practice": "Prompt referral to children's services.",
    "learning": "Follow-up of missed appointments.",
    "immediate_actions": "Records reviewed and secured.",
    "records_secured": True,
}


def read(data: bytes) -> FormResult:
    return read_referral_docx(data, "referral.docx", LABELS)


# --------------------------------------------------------------------------------------------------
# The project's own forms
# --------------------------------------------------------------------------------------------------


def test_filled_referral_reads_back_exactly() -> None:
    result = read(formgen.filled_referral(FULL_REFERRAL))
    assert result.fields == FULL_REFERRAL
    assert result.problems == ()
    assert result.found_labels == len(REFERRAL_FIELDS)


@pytest.mark.parametrize("incident_type", ["death", "serious_harm"])
@pytest.mark.parametrize("abuse", ["known", "suspected", "no", "unknown"])
def test_filled_referral_every_option_reads_back(incident_type: str, abuse: str) -> None:
    values = {**FULL_REFERRAL, "incident_type": incident_type, "abuse_or_neglect": abuse}
    values["looked_after"] = abuse == "no"
    assert read(formgen.filled_referral(values)).fields == values


def test_partly_filled_referral_leaves_the_rest_none() -> None:
    values = {"child_name": "Amy Example", "looked_after": True, "incident_date": "2026-12-03"}
    result = read(formgen.filled_referral(values))
    assert result.fields == {key: values.get(key) for key in REFERRAL_FIELDS}


def test_blank_referral_is_recognised_and_empty() -> None:
    result = read(formgen.blank_referral())
    assert result.fields == {key: None for key in REFERRAL_FIELDS}
    assert result.found_labels == len(REFERRAL_FIELDS)
    assert result.problems == ()


def test_blank_referral_names_the_partnership_and_the_criteria() -> None:
    doc = Document(io.BytesIO(formgen.blank_referral("Testshire Safeguarding Partnership")))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "Testshire Safeguarding Partnership" in text
    assert "abuse or neglect" in text and "died or been seriously harmed" in text


def test_filled_scoping_reads_back_exactly_with_embedded_reference() -> None:
    data = formgen.filled_scoping(FULL_SCOPING, "DSPP-2026-0007", "West Midlands Police")
    result = read_scoping_docx(data, "scoping.docx", LABELS)
    expected = {
        **FULL_SCOPING,
        "case_reference": "DSPP-2026-0007",
        "agency_name": "West Midlands Police",
        "chronology": None,  # read once the reader reads tables of entries (tests/test_formgen.py)
    }
    assert result.fields == expected
    assert result.embedded_reference == "DSPP-2026-0007"
    assert result.embedded_agency == "West Midlands Police"
    assert result.problems == ()
    assert result.found_labels == len(SCOPING_FIELDS)


def test_blank_scoping_is_recognised_and_empty() -> None:
    result = read_scoping_docx(formgen.blank_scoping(), "scoping.docx", LABELS)
    assert result.fields == {key: None for key in SCOPING_FIELDS}
    assert result.found_labels == len(SCOPING_FIELDS)
    assert result.embedded_reference is None and result.embedded_agency is None


def test_prefilled_scoping_carries_reference_in_table_and_properties() -> None:
    data = formgen.prefilled_scoping("DSPP-2026-0042", "Health Visiting & School Nursing")
    props = read_custom_properties(data)
    assert props == {
        "cspr_case_reference": "DSPP-2026-0042",
        "cspr_agency": "Health Visiting & School Nursing",
    }
    result = read_scoping_docx(data, "scoping.docx", LABELS)
    assert result.fields["case_reference"] == "DSPP-2026-0042"
    assert result.fields["agency_name"] == "Health Visiting & School Nursing"
    # Word still opens it as a document with the part declared properly.
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "/docProps/custom.xml" in zf.read("[Content_Types].xml").decode()
        assert "docProps/custom.xml" in zf.read("_rels/.rels").decode()
    Document(io.BytesIO(data))


def test_scoping_reference_survives_when_the_typed_one_is_deleted() -> None:
    data = f.build(
        f.table([("Case reference", ""), ("Agency", ""), ("Completed by", "Sam Patel")]),
        custom_properties={"cspr_case_reference": "DSPP-2026-0007", "cspr_agency": "WMP"},
    )
    result = read_scoping_docx(data, "return.docx", LABELS)
    assert result.embedded_reference == "DSPP-2026-0007"
    assert result.embedded_agency == "WMP"
    assert result.fields["completed_by"] == "Sam Patel"


def test_scoping_without_properties_falls_back_to_the_typed_reference() -> None:
    data = f.build(f.table([("Case reference", "[DSPP-2026-0009]"), ("Agency", "Police")]))
    result = read_scoping_docx(data, "return.docx", LABELS)
    assert result.embedded_reference == "DSPP-2026-0009"
    assert result.embedded_agency == "Police"
    assert result.fields["case_reference"] == "DSPP-2026-0009"


def test_scoping_typed_reference_that_differs_is_a_problem() -> None:
    data = formgen.filled_scoping({}, "DSPP-2026-0007", "Police")
    doc = Document(io.BytesIO(data))
    doc.tables[0].rows[0].cells[1].text = "DSPP-2026-0008"
    out = io.BytesIO()
    doc.save(out)
    result = read_scoping_docx(out.getvalue(), "return.docx", LABELS)
    assert result.embedded_reference == "DSPP-2026-0007"
    assert any("DSPP-2026-0008" in p and "DSPP-2026-0007" in p for p in result.problems)


def test_reading_a_form_is_fast() -> None:
    data = formgen.filled_referral(FULL_REFERRAL)
    start = time.perf_counter()
    for _ in range(10):
        read(data)
    assert (time.perf_counter() - start) / 10 < 0.5


# --------------------------------------------------------------------------------------------------
# Layouts
# --------------------------------------------------------------------------------------------------

BASIC = {
    "Referrer's name": "Jo Bloggs",
    "Child's name": "Amy Example",
    "Date of birth": "28/02/2015",
    "Date of incident": "3 December 2026",
    "Incident type": "Serious harm",
    "Summary of incident": "Admitted to hospital.",
}
BASIC_EXPECTED = {
    "referrer_name": "Jo Bloggs",
    "child_name": "Amy Example",
    "child_dob": "2015-02-28",
    "incident_date": "2026-12-03",
    "incident_type": "serious_harm",
    "incident_summary": "Admitted to hospital.",
}


def subset(result: FormResult, expected: dict[str, Any]) -> dict[str, Any]:
    return {key: result.fields[key] for key in expected}


@pytest.mark.parametrize(
    "builder",
    [
        f.two_column,
        f.four_column,
        f.paragraphs,
        lambda pairs: f.paragraphs(pairs, next_line=True),
        f.label_above,
        f.columns_header,
        f.content_controls,
        f.legacy_fields,
    ],
    ids=[
        "2-col",
        "4-col",
        "paragraphs",
        "next-paragraph",
        "label-above",
        "header-row",
        "content-controls",
        "legacy-fields",
    ],
)
def test_every_layout_reads_the_same(builder: Any) -> None:
    result = read(builder(BASIC))
    assert subset(result, BASIC_EXPECTED) == BASIC_EXPECTED
    assert result.found_labels == len(BASIC)
    assert result.problems == ()
    assert all(result.fields[k] is None for k in REFERRAL_FIELDS if k not in BASIC_EXPECTED)


def test_four_columns_with_empty_values() -> None:
    data = f.build(
        f.table(
            [
                ("Child's name", "Amy", "Date of birth", ""),
                ("Gender", "", "Ethnicity", "White British"),
            ]
        )
    )
    result = read(data)
    assert subset(
        result, {"child_name": 0, "child_dob": 0, "child_gender": 0, "child_ethnicity": 0}
    ) == {
        "child_name": "Amy",
        "child_dob": None,
        "child_gender": None,
        "child_ethnicity": "White British",
    }
    assert result.found_labels == 4


def test_label_and_value_in_one_cell() -> None:
    data = f.build(
        f.table(
            [
                (f.Lines(("Child's name:", "Amy Example")),),
                ("Referrer's name: Jo Bloggs",),
            ]
        )
    )
    assert subset(read(data), {"child_name": 0, "referrer_name": 0}) == {
        "child_name": "Amy Example",
        "referrer_name": "Jo Bloggs",
    }


def test_multi_paragraph_value_after_a_label_paragraph() -> None:
    data = f.build(
        f.para("Brief summary of the incident:"),
        f.para("First paragraph."),
        f.para("Second paragraph."),
        f.para("Child's name: Amy"),
    )
    result = read(data)
    assert result.fields["incident_summary"] == "First paragraph.\nSecond paragraph."
    assert result.fields["child_name"] == "Amy"


def test_content_control_placeholders_are_empty() -> None:
    data = f.content_controls(
        {
            "Child's name": None,
            "Referrer's name": f.Control(None, placeholder_style=False),
            "Incident type": f.DropDown(None, ("Death", "Serious harm")),
            "Date of incident": f.DatePicker(None),
            "Summary of incident": "Click or tap here to enter text.",
        }
    )
    result = read(data)
    assert result.fields == {key: None for key in REFERRAL_FIELDS}
    assert result.found_labels == 5
    assert result.problems == ()


def test_date_picker_uses_the_picked_date_not_the_displayed_format() -> None:
    # A US-format picker displays 12/3/2026 for 3 December: the stored fullDate is the truth.
    data = f.content_controls(
        {
            "Date of incident": f.DatePicker("2026-12-03", "12/3/2026", "M/d/yyyy"),
            "Date of birth": f.DatePicker("2015-02-28", "28 February 2015", "d MMMM yyyy"),
            "Incident type": f.DropDown("Death", ("Death", "Serious harm")),
        }
    )
    result = read(data)
    assert subset(result, {"incident_date": 0, "child_dob": 0, "incident_type": 0}) == {
        "incident_date": "2026-12-03",
        "child_dob": "2015-02-28",
        "incident_type": "death",
    }


def test_whole_table_inside_a_content_control() -> None:
    data = f.build(f.table([(k, v) for k, v in BASIC.items()], in_control=True))
    assert subset(read(data), BASIC_EXPECTED) == BASIC_EXPECTED


def test_nested_table_is_read() -> None:
    inner = f.Table((("Child's name", "Amy Example"),), nested_in="Child")
    result = read(f.build(inner))
    assert result.fields["child_name"] == "Amy Example"


def test_legacy_fields_text_checkbox_and_dropdown() -> None:
    data = f.legacy_fields(
        {
            "Child's name": "Amy Example",
            "Referrer's name": "",  # five en spaces: empty
            "Incident type": f.legacy_options(["Death", "Serious harm"], ["Death"]),
            "Is the child looked after?": [
                f.FormCheckbox(None, default=True),
                " Yes  ",
                f.FormCheckbox(None, default=False),
                " No",
            ],
            "Safeguarding lead consulted": [
                "Yes ",
                f.FormCheckbox(True, checked_without_val=True),
                " No ",
                f.FormCheckbox(False),
            ],
            "Abuse or neglect": f.FormDropDown(("Choose an item.", "Known", "Suspected"), 2),
            "National Panel notified": f.FormDropDown(("Yes", "No")),  # no result: first entry
        }
    )
    result = read(data)
    assert subset(
        result,
        {
            "child_name": 0,
            "referrer_name": 0,
            "incident_type": 0,
            "looked_after": 0,
            "safeguarding_lead_consulted": 0,
            "abuse_or_neglect": 0,
            "national_panel_notified": 0,
        },
    ) == {
        "child_name": "Amy Example",
        "referrer_name": None,
        "incident_type": "death",
        "looked_after": True,  # w:default val=1 and no w:checked
        "safeguarding_lead_consulted": True,
        "abuse_or_neglect": "suspected",
        "national_panel_notified": True,
    }


def test_w14_checkboxes_follow_the_checked_state_not_the_glyph() -> None:
    data = f.content_controls(
        {
            "Incident type": f.w14_options(["Death", "Serious harm"], ["Serious harm"]),
            "Abuse or neglect": f.w14_options(["Known", "Suspected", "No", "Unknown"], []),
            "Looked after": [
                f.W14Checkbox(True, shown="☐"),  # stale glyph; w14:checked says ticked
                " Yes ",
                f.W14Checkbox(False),
                " No",
            ],
        }
    )
    result = read(data)
    assert result.fields["incident_type"] == "serious_harm"
    assert result.fields["abuse_or_neglect"] is None  # nothing ticked: unanswered
    assert result.fields["looked_after"] is True
    assert result.problems == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Death ☒ Serious harm ☐", "death"),
        ("Death ☐ Serious harm ☒", "serious_harm"),
        ("☒ Death ☐ Serious harm", "death"),
        ("☐ Death   ☒ Serious harm", "serious_harm"),
        ("[x] Death [ ] Serious harm", "death"),
        ("[ ] Death [X] Serious harm", "serious_harm"),
        ("Death X   Serious harm", "death"),
        ("Death     Serious harm X", "serious_harm"),
        ("X Serious harm", "serious_harm"),
        ("Death ☑ Serious harm ☐", "death"),
        ("Serious harm", "serious_harm"),
        ("The child died", "death"),
        ("seriously injured - fractured skull", "serious_harm"),
        ("Death / Serious harm", None),  # the unanswered prompt
        ("☐ Death ☐ Serious harm", None),
        ([f.Symbol("F0FE"), " Death ", f.Symbol("F0A8"), " Serious harm"], "death"),
    ],
)
def test_typed_marks_for_incident_type(value: Any, expected: str | None) -> None:
    result = read(f.build(f.table([("Incident type", value)])))
    assert result.fields["incident_type"] == expected
    assert result.problems == ()


def test_options_spread_over_cells() -> None:
    data = f.build(
        f.table(
            [
                ("Incident type", "Death", "", "Serious harm", "X"),
                ("Child's name", "Amy", "", "", ""),
            ]
        )
    )
    result = read(data)
    assert result.fields["incident_type"] == "serious_harm"
    assert result.fields["child_name"] == "Amy"


def test_two_boxes_ticked_is_a_problem_not_a_guess() -> None:
    result = read(f.build(f.table([("Incident type", "☒ Death ☒ Serious harm")])))
    assert result.fields["incident_type"] is None
    assert any("type of incident" in p and "more than one" in p for p in result.problems)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Known", "known"),
        ("suspected", "suspected"),
        ("No", "no"),
        ("Not known", "unknown"),  # never "known"
        ("Unknown", "unknown"),
        ("Known ☐ Suspected ☒ No ☐ Unknown ☐", "suspected"),
        ("☐ Known ☐ Suspected ☐ No ☒ Unknown", "unknown"),
        ("☐ Known ☐ Suspected ☒ No ☐ Unknown", "no"),
        ("Known / Suspected / No / Unknown", None),
    ],
)
def test_abuse_or_neglect_answers(value: str, expected: str | None) -> None:
    result = read(f.build(f.table([("Is abuse or neglect known or suspected?", value)])))
    assert result.fields["abuse_or_neglect"] == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Yes", True),
        ("Y", True),
        ("yes - on 3/12", True),
        ("No", False),
        ("N", False),
        ("No, not yet", False),
        ("Yes ☒ No ☐", True),
        ("Yes ☐ No ☒", False),
        ("☐ Yes ☒ No", False),
        ("Yes [ ] No [x]", False),
        ("Yes / No", None),
        ("Yes ☐ No ☐", None),
        ("", None),
    ],
)
def test_yes_no_answers(value: str, expected: bool | None) -> None:
    result = read(f.build(f.table([("Is the child looked after?", value)])))
    assert result.fields["looked_after"] is expected


def test_yes_no_options_after_the_label_in_one_cell() -> None:
    result = read(f.build(f.para("Is the child looked after?  ☐ Yes  ☒ No")))
    assert result.fields["looked_after"] is False


def test_an_answer_that_is_not_an_option_is_a_problem() -> None:
    result = read(f.build(f.table([("National Panel notified", "Awaiting manager")])))
    assert result.fields["national_panel_notified"] is None
    assert any("National Panel" in p for p in result.problems)


def test_a_bad_date_is_none_and_a_problem() -> None:
    result = read(f.two_column({"Child's name": "Amy", "Date of birth": "31/02/2020"}))
    assert result.fields["child_dob"] is None
    assert "The date of birth '31/02/2020' is not a date we can read" in result.problems


def test_a_date_with_no_year_is_not_guessed() -> None:
    result = read(f.two_column({"Date of incident": "3rd December", "Child's name": "A"}))
    assert result.fields["incident_date"] is None
    assert any("date of the incident" in p for p in result.problems)


# --------------------------------------------------------------------------------------------------
# Labels: synonyms, drift and traps
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "field"),
    [
        ("Child's name", "child_name"),
        ("CHILD’S NAME:", "child_name"),
        ("Name of child/young person *", "child_name"),
        ("  child  name ?", "child_name"),
        ("1. Full name of child", "child_name"),
        ("Child's name (in full)", "child_name"),
        ("Date of birth", "child_dob"),
        ("Date of birth (dd/mm/yyyy):", "child_dob"),
        ("D.O.B.", "child_dob"),
        ("Date of incident", "incident_date"),
        ("Date the LA became aware", "la_aware_date"),
        ("Date of notification to the National Panel", "notification_date"),
        ("National Panel notified date", "notification_date"),
        ("Has the National Panel been notified?", "national_panel_notified"),
        ("Referrer's email", "referrer_email"),
        ("Email address (secure)", "referrer_email"),
        ("Is the child a Looked After Child?", "looked_after"),
        ("Brief summary of the incident including injuries", "incident_summary"),
    ],
)
def test_label_matching(label: str, field: str) -> None:
    assert LABELS.match("referral", label) == field


@pytest.mark.parametrize(
    "label",
    ["Date", "Name", "Date of review meeting", "Agency email", "Name of child's school", "Notes"],
)
def test_labels_that_match_nothing(label: str) -> None:
    assert LABELS.match("referral", label) is None


def test_date_of_birth_is_not_the_incident_date() -> None:
    data = f.two_column(
        {"Date of birth": "01/01/2016", "Date": "03/12/2026", "Date of incident": "02/12/2026"}
    )
    result = read(data)
    assert result.fields["child_dob"] == "2016-01-01"
    assert result.fields["incident_date"] == "2026-12-02"
    assert result.fields["la_aware_date"] is None


def test_relabelled_form_reads_by_synonyms() -> None:
    data = f.two_column(
        {
            "Name of person making the referral": "Jo Bloggs",
            "Your job title": "Health visitor",
            "Name of child/young person": "Amy Example",
            "D.O.B.": "28.02.15",
            "Date of death/serious harm": "Thu 3rd Dec. 2026",
            "Nature of incident": "Child died",
            "What happened?": "Found unresponsive.",
            "Is the child in care?": "N",
            "Reason for referral": "Neglect known.",
        }
    )
    result = read(data)
    assert subset(
        result,
        {
            "referrer_name": 0,
            "referrer_role": 0,
            "child_name": 0,
            "child_dob": 0,
            "incident_date": 0,
            "incident_type": 0,
            "incident_summary": 0,
            "looked_after": 0,
            "rationale": 0,
        },
    ) == {
        "referrer_name": "Jo Bloggs",
        "referrer_role": "Health visitor",
        "child_name": "Amy Example",
        "child_dob": "2015-02-28",
        "incident_date": "2026-12-03",
        "incident_type": "death",
        "incident_summary": "Found unresponsive.",
        "looked_after": False,
        "rationale": "Neglect known.",
    }


def test_partnership_synonyms_from_config() -> None:
    data = f.two_column(
        {"Referrer's name": "Jo", "Young person": "Amy Example", "Concern level": "Concerns"}
    )
    assert read(data).fields["child_name"] is None
    labels = Labels.load(
        {
            "referral.child_name": ["young person"],
            "referral": {"abuse_or_neglect": ["concern level"]},
            "answers.abuse_or_neglect.suspected": ["concerns"],
        }
    )
    result = read_referral_docx(data, "r.docx", labels)
    assert result.fields["child_name"] == "Amy Example"
    assert result.fields["abuse_or_neglect"] == "suspected"


@pytest.mark.parametrize(
    "extra",
    [{"referral.childs_name": ["x"]}, {"answers.bool.maybe": ["x"]}, {"referral.child_name": "x"}],
)
def test_unknown_synonym_keys_are_refused_naming_the_key(extra: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        Labels.load(extra)
    assert info.value.key.startswith("labels.")


def test_no_synonym_names_two_fields() -> None:
    for form, fields in LABELS.fields.items():
        seen: dict[str, str] = {}
        for key, synonyms in fields.items():
            assert synonyms, f"{form}.{key} has no labels"
            for syn in synonyms:
                assert seen.setdefault(syn, key) == key, f"{form}: '{syn}' names two fields"


def test_every_field_has_labels_and_a_name() -> None:
    assert set(LABELS.fields["referral"]) == set(REFERRAL_FIELDS)
    assert set(LABELS.fields["scoping"]) == set(SCOPING_FIELDS)
    for form in ("referral", "scoping"):
        for key in LABELS.fields[form]:
            assert LABELS.name(form, key) != key


def test_the_forms_labels_are_known_words() -> None:
    for layout, form in (
        (formgen.REFERRAL_LAYOUT, "referral"),
        (formgen.SCOPING_LAYOUT, "scoping"),
    ):
        for _heading, rows in layout:
            for key, label in rows:
                assert LABELS.match(form, label) == key, label


def test_normalise_label() -> None:
    assert normalise_label("  Child’s  Name (in full)*: ") == "childs name"
    assert normalise_label("Q3. Date of birth?") == "date of birth"


def test_generic_labels_under_section_headings() -> None:
    data = f.build(
        f.heading("Section 1: Referrer details"),
        f.table([("Name", "Jo Bloggs"), ("Email", "jo@dudley.example"), ("Role", "Teacher")]),
        f.heading("Section 2: Details of the child"),
        f.table([("Name", "Amy Example"), ("Address", "1 High St"), ("Email", "x@y.example")]),
        f.heading("Section 3: Incident"),
        f.table([("Name", "Someone"), ("Date of incident", "03/12/2026")]),
    )
    result = read(data)
    assert subset(
        result,
        {
            "referrer_name": 0,
            "referrer_email": 0,
            "referrer_role": 0,
            "child_name": 0,
            "child_address": 0,
            "incident_date": 0,
        },
    ) == {
        "referrer_name": "Jo Bloggs",
        "referrer_email": "jo@dudley.example",
        "referrer_role": "Teacher",
        "child_name": "Amy Example",
        "child_address": "1 High St",
        "incident_date": "2026-12-03",
    }


def test_section_heading_in_a_full_width_row() -> None:
    data = f.build(
        f.table(
            [
                ("Details of the child",),
                ("Name", "Amy Example"),
                ("About you",),
                ("Name", "Jo Bloggs"),
            ],
            merge_first_row=False,
        )
    )
    result = read(data)
    assert result.fields["child_name"] == "Amy Example"
    assert result.fields["referrer_name"] == "Jo Bloggs"


def test_conflicting_values_keep_the_first_and_say_so() -> None:
    data = f.build(
        f.table([("Child's name", "Amy Example")]),
        f.table([("Name of child", "Amy Other")]),
    )
    result = read(data)
    assert result.fields["child_name"] == "Amy Example"
    assert any("child's name" in p for p in result.problems)


# --------------------------------------------------------------------------------------------------
# Agencies
# --------------------------------------------------------------------------------------------------


def test_agencies_table_with_referrer_email_not_confused() -> None:
    data = f.two_column(
        {"Referrer's email": "jo@dudley.example", "Child's name": "Amy"},
        f.para("Agencies involved"),
        f.agencies_table(
            [
                ("West Midlands Police", "DC Smith", "PVP <pvp@police.example>"),
                ("Health Visiting", "", ""),
                ("GP", "Dr Jones", "Click or tap here to enter text."),
            ]
        ),
    )
    result = read(data)
    assert result.fields["referrer_email"] == "jo@dudley.example"
    assert result.fields["agencies_involved"] == [
        {"name": "West Midlands Police", "contact_name": "DC Smith", "email": "pvp@police.example"},
        {"name": "Health Visiting", "contact_name": None, "email": None},
        {"name": "GP", "contact_name": "Dr Jones", "email": None},
    ]
    assert result.problems == ()


def test_agencies_table_other_headers_and_following_rows() -> None:
    data = f.build(
        f.table(
            [
                ("Agencies involved with the child and family",),
                ("Organisation", "Named contact", "Email address", "Nature of involvement"),
                ("Police", "DS Brown", "brown@police.example", "Attended the home"),
                ("School", "", "not known", ""),
                ("Rationale", "Missed signs."),
            ]
        )
    )
    result = read(data)
    assert result.fields["agencies_involved"] == [
        {"name": "Police", "contact_name": "DS Brown", "email": "brown@police.example"},
        {"name": "School", "contact_name": None, "email": None},
    ]
    assert result.fields["rationale"] == "Missed signs."
    assert any("School" in p and "not an email address" in p for p in result.problems)


def test_agencies_as_a_text_list() -> None:
    data = f.two_column({"Agencies involved": "Police (pvp@police.example); Health Visiting; GP"})
    assert read(data).fields["agencies_involved"] == [
        {"name": "Police", "contact_name": None, "email": "pvp@police.example"},
        {"name": "Health Visiting", "contact_name": None, "email": None},
        {"name": "GP", "contact_name": None, "email": None},
    ]


# --------------------------------------------------------------------------------------------------
# Unreadable files
# --------------------------------------------------------------------------------------------------


def test_not_a_docx_is_corrupt() -> None:
    with pytest.raises(UnreadableAttachment) as info:
        read_referral_docx(b"PK\x03\x04 this is not really a zip", "broken.docx", LABELS)
    assert info.value.code == "corrupt"
    assert info.value.filename == "broken.docx"
    assert "broken.docx" in str(info.value)


def test_zip_that_is_not_a_word_document_is_corrupt() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("hello.txt", "hello")
    with pytest.raises(UnreadableAttachment) as info:
        read_referral_docx(out.getvalue(), "hello.docx", LABELS)
    assert info.value.code == "corrupt"


def test_a_letter_is_not_a_form() -> None:
    data = f.build(f.para("Dear colleague,"), f.para("Please find my concerns below. Thanks."))
    with pytest.raises(UnreadableAttachment) as info:
        read_referral_docx(data, "letter.docx", LABELS)
    assert info.value.code == "not_a_form"


def test_odd_xml_does_not_crash() -> None:
    data = f.build(
        f.table([("Child's name", f.Control("Amy")), ("Incident type", "")]),
        f.para(f.FormDropDown((), 7)),  # result index out of range
        f.para(f.Symbol("ZZZZ")),
    )
    doc = Document(io.BytesIO(data))
    body = doc.element.body
    # An sdt with no sdtPr and no content, and a stray fldChar end.
    from docx.oxml import parse_xml

    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    body.insert(0, parse_xml(f"<w:sdt {w}/>"))
    body.insert(0, parse_xml(f'<w:p {w}><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'))
    out = io.BytesIO()
    doc.save(out)
    result = read(out.getvalue())
    assert result.fields["child_name"] == "Amy"


# --------------------------------------------------------------------------------------------------
# Email bodies
# --------------------------------------------------------------------------------------------------

BODY = """Hello,

Please accept this CSPR referral.

Referrer's name: Jo Bloggs
Role: Social worker
Referrer's email: jo.bloggs@dudley.gov.uk
Safeguarding lead consulted: yes - on 3/12
Child's name: Amy Example
Date of birth: 28/02/2015
Date of incident: 3rd December 2026
Date LA became aware: 04/12/2026
Incident type: Serious harm
Summary of incident: Amy was admitted to hospital with injuries that
do not match the explanation given.
Abuse or neglect: Suspected
Looked after: N
National Panel notified: No
Agencies involved: West Midlands Police; Health Visiting <hv@nhs.example>; Oak School

Kind regards
Jo
"""


def test_body_referral() -> None:
    result = read_referral_text(BODY, LABELS)
    assert subset(
        result,
        {
            "referrer_name": 0,
            "referrer_email": 0,
            "safeguarding_lead_consulted": 0,
            "child_name": 0,
            "child_dob": 0,
            "incident_date": 0,
            "la_aware_date": 0,
            "incident_type": 0,
            "incident_summary": 0,
            "abuse_or_neglect": 0,
            "looked_after": 0,
            "national_panel_notified": 0,
            "agencies_involved": 0,
            "rationale": 0,
        },
    ) == {
        "referrer_name": "Jo Bloggs",
        "referrer_email": "jo.bloggs@dudley.gov.uk",
        "safeguarding_lead_consulted": True,
        "child_name": "Amy Example",
        "child_dob": "2015-02-28",
        "incident_date": "2026-12-03",
        "la_aware_date": "2026-12-04",
        "incident_type": "serious_harm",
        "incident_summary": "Amy was admitted to hospital with injuries that\n"
        "do not match the explanation given.",
        "abuse_or_neglect": "suspected",
        "looked_after": False,
        "national_panel_notified": False,
        "agencies_involved": [
            {"name": "West Midlands Police", "contact_name": None, "email": None},
            {"name": "Health Visiting", "contact_name": None, "email": "hv@nhs.example"},
            {"name": "Oak School", "contact_name": None, "email": None},
        ],
        "rationale": None,
    }
    assert result.problems == ()
    assert missing_key_fields(result.fields) == []


def test_body_label_then_value_on_following_lines() -> None:
    body = "Child's name:\nAmy Example\n\nSummary of incident:\nLine one\nline two\n\nThanks\n"
    result = read_referral_text(body, LABELS)
    assert result.fields["child_name"] == "Amy Example"
    assert result.fields["incident_summary"] == "Line one\nline two"


def test_forwarded_quoted_body_is_read_when_nothing_else_is() -> None:
    body = (
        "FYI - see below\n\n> Child's name: Amy Example\n> Incident type: Death\n"
        ">> Date of incident: 03/12/2026\n"
    )
    result = read_referral_text(body, LABELS)
    assert subset(result, {"child_name": 0, "incident_type": 0, "incident_date": 0}) == {
        "child_name": "Amy Example",
        "incident_type": "death",
        "incident_date": "2026-12-03",
    }


def test_quoted_text_is_ignored_when_the_body_has_its_own_answers() -> None:
    body = (
        "Child's name: Amy Example\n\nOn Mon, Jo wrote:\n"
        "> Child's name: Old Name\n> Incident type: Death\n"
    )
    result = read_referral_text(body, LABELS)
    assert result.fields["child_name"] == "Amy Example"
    assert result.fields["incident_type"] is None
    assert result.problems == ()


def test_body_with_no_labels_reads_nothing() -> None:
    result = read_referral_text("Please see attached.\n\nThanks, Jo", LABELS)
    assert result.found_labels == 0
    assert result.fields == {key: None for key in REFERRAL_FIELDS}


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_body_text_gives_a_result(text: str) -> None:
    result = read_referral_text(text, LABELS)
    assert set(result.fields) == set(REFERRAL_FIELDS)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Child's name",
                "Incident type",
                "Yes",
                "☒",
                "X",
                ":",
                "\n",
                "Date of birth",
                "31/02",
                " ",
                "Death",
                "[x]",
                "Summary",
            ]
        ),
        max_size=30,
    )
)
def test_label_soup_never_crashes(parts: list[str]) -> None:
    result = read_referral_text("".join(parts), LABELS)
    assert set(result.fields) == set(REFERRAL_FIELDS)


# --------------------------------------------------------------------------------------------------
# Key fields
# --------------------------------------------------------------------------------------------------


def test_missing_key_fields() -> None:
    assert missing_key_fields(FULL_REFERRAL) == []
    assert missing_key_fields({}) == [
        "referrer_name",
        "child_name",
        "incident_type",
        "incident_summary",
        "incident_date",
    ]
    only_email = {**FULL_REFERRAL, "referrer_name": None, "incident_date": None}
    assert missing_key_fields(only_email) == []  # email stands for the referrer, LA date for a date
    no_dates = {**FULL_REFERRAL, "incident_date": None, "la_aware_date": None}
    assert missing_key_fields(no_dates) == ["incident_date"]


def test_agencies_as_label_value_rows_under_their_heading() -> None:
    data = f.build(
        f.table([("Referrer's name", "Jo Bloggs"), ("Email", "jo@dudley.example")]),
        f.heading("Agencies involved"),
        f.table(
            [
                ("Agency", "West Midlands Police", "Contact", "DC Smith"),
                ("Email", "pvp@police.example", "", ""),
                ("Agency", "Health Visiting", "Contact", ""),
            ]
        ),
        f.heading("Rationale"),
        f.table([("Reason for referral", "Missed signs.")]),
    )
    result = read(data)
    assert result.fields["referrer_email"] == "jo@dudley.example"
    assert result.fields["agencies_involved"] == [
        {"name": "West Midlands Police", "contact_name": "DC Smith", "email": "pvp@police.example"},
        {"name": "Health Visiting", "contact_name": None, "email": None},
    ]
    assert result.fields["rationale"] == "Missed signs."


def test_body_with_dashes_bullets_and_bold_markers() -> None:
    body = (
        "*Child's name:* Amy Example\n"
        "- Date of incident - 03/12/2026\n"
        "Incident type – Death\n"
        "Referrer\tJo Bloggs\n"
    )
    result = read_referral_text(body, LABELS)
    assert subset(
        result, {"child_name": 0, "incident_date": 0, "incident_type": 0, "referrer_name": 0}
    ) == {
        "child_name": "Amy Example",
        "incident_date": "2026-12-03",
        "incident_type": "death",
        "referrer_name": "Jo Bloggs",
    }


@pytest.mark.parametrize("answer", ["N/A", "Not known", "TBC", "-"])
def test_not_given_dates_are_none_without_a_problem(answer: str) -> None:
    result = read(f.two_column({"Child's name": "Amy", "Date of notification": answer}))
    assert result.fields["notification_date"] is None
    assert result.problems == ()


def test_questions_styled_as_headings_are_still_labels() -> None:
    data = f.build(
        f.heading("Details of the child", 1),
        f.heading("Name", 3),
        f.para("Amy Example"),
        f.heading("Brief summary of the incident", 3),
        f.para("Found unresponsive."),
        f.heading("Next steps", 2),
        f.para("Name: not the child"),
    )
    result = read(data)
    assert result.fields["child_name"] == "Amy Example"
    assert result.fields["incident_summary"] == "Found unresponsive."


def test_text_matches_finds_a_reference_split_across_runs_and_in_properties() -> None:
    import re

    from cspr_mailbot import formgen
    from cspr_mailbot.core.forms import text_matches

    pattern = re.compile(r"DSPP-\d{4}-\d{4,}")
    assert text_matches(
        formgen.prefilled_scoping("DSPP-2026-0007", "West Midlands Police"), pattern
    ) == ("DSPP-2026-0007")
    assert text_matches(formgen.blank_referral(), pattern) is None
    # Word splits text into runs at will: the reference must be found across them.
    split = docx_with_runs(["Case reference: DSPP-", "2026", "-0042"])
    assert text_matches(split, pattern) == "DSPP-2026-0042"


def docx_with_runs(runs: list[str]) -> bytes:
    import io

    import docx

    document = docx.Document()
    paragraph = document.add_paragraph()
    for text in runs:
        paragraph.add_run(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --------------------------------------------------------------------------------------------------
# Read once: a .docx that passed check_docx is read from the parts the check kept
# --------------------------------------------------------------------------------------------------


def _vetted(data: bytes, filename: str = "form.docx") -> bytes:
    from cspr_mailbot.core.attachments import Limits, check_docx
    from cspr_mailbot.core.models import Attachment

    return check_docx(Attachment(filename, "application/octet-stream", data), Limits())


def _no_zip(monkeypatch: pytest.MonkeyPatch) -> None:
    from cspr_mailbot.core.forms import package

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the zip was opened again")

    monkeypatch.setattr(package.zipfile, "ZipFile", refuse)


def test_a_vetted_form_reads_as_the_bytes_do_without_opening_the_zip_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import re

    from cspr_mailbot.core.forms import text_matches

    referral = formgen.filled_referral(FULL_REFERRAL)
    scoping = formgen.filled_scoping(FULL_SCOPING, "DSPP-2026-0007", "West Midlands Police")
    pattern = re.compile(r"DSPP-\d{4}-\d{4,}")
    expected = (
        read(referral),
        read_scoping_docx(scoping, "s.docx", LABELS),
        read_custom_properties(scoping),
        text_matches(scoping, pattern),
        text_matches(referral, pattern),
    )
    vetted_referral, vetted_scoping = _vetted(referral), _vetted(scoping)
    _no_zip(monkeypatch)
    assert (
        read(vetted_referral),
        read_scoping_docx(vetted_scoping, "s.docx", LABELS),
        read_custom_properties(vetted_scoping),
        text_matches(vetted_scoping, pattern),
        text_matches(vetted_referral, pattern),
    ) == expected
    assert expected[3] == "DSPP-2026-0007" and expected[4] is None


def test_a_vetted_form_whose_relationships_name_another_main_part_is_read_from_it() -> None:
    data = f.two_column({"Child's name": "Amy Example", "Incident type": "Death"})
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        members = {info.filename: src.read(info.filename) for info in src.infolist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, body in members.items():
            if name == "_rels/.rels":
                body = body.replace(b'Target="word/document.xml"', b'Target="/word/main.xml"')
            dst.writestr(name, body)
        # The main part the relationships name; word/document.xml stays as a decoy.
        dst.writestr("word/main.xml", members["word/document.xml"].replace(b"Amy", b"Ben"))
    result = read(_vetted(out.getvalue()))
    assert result.fields["child_name"] == "Ben Example"
    assert result.fields["incident_type"] == "death"


# --------------------------------------------------------------------------------------------------
# Tables of entries: the household and the chronology (SPEC 4)
# --------------------------------------------------------------------------------------------------


def test_a_chronology_row_that_starts_like_a_label_is_data() -> None:
    data = f.build(
        f.heading("Chronology of key events"),
        f.table(
            [
                ("Date", "Event", "Action taken"),
                (
                    "3rd Jan 2026",
                    "Risks identified at the home visit",
                    "Records secured; MASH told",
                ),
                ("about March 2026", "Immediate actions taken by school", "none"),
                ("", "", ""),
            ]
        ),
        f.table([("Learning identified", "Follow up missed visits.")]),
    )
    result = read_scoping_docx(data, "return.docx", LABELS)
    assert result.fields["chronology"] == [
        {
            "date": "2026-01-03",
            "event": "Risks identified at the home visit",
            "agency": "Records secured; MASH told",
        },
        {
            "date": "about March 2026",
            "event": "Immediate actions taken by school",
            "agency": "none",
        },
    ]
    assert result.fields["risks_identified"] is None
    assert result.fields["immediate_actions"] is None
    assert result.fields["records_secured"] is None
    assert result.fields["learning"] == "Follow up missed visits."


def test_a_family_composition_table_with_more_columns_reads_the_household() -> None:
    data = f.two_column(
        {"Name of child": "Amy Example"},
        f.heading("Family composition / significant others"),
        f.table(
            [
                ("Name", "Relationship to child", "D.O.B.", "Address", "Legal status"),
                ("Kelly Example", "Mother", "12.05.94", "Same as child", ""),
                ("Dean Smith", "Partner of mother", "not known", "", ""),
            ]
        ),
    )
    result = read(data)
    assert result.fields["child_name"] == "Amy Example"
    assert result.fields["household"] == [
        {"name": "Kelly Example", "relationship": "Mother", "dob": "1994-05-12"},
        {"name": "Dean Smith", "relationship": "Partner of mother", "dob": "not known"},
    ]
    assert result.fields["agencies_involved"] is None


def test_a_partnerships_own_column_names_from_config() -> None:
    labels = Labels.load({"chronology_columns": {"event": ["incident or contact"]}})
    data = f.build(f.table([("Date", "Incident or contact"), ("01/02/2026", "Seen at A&E")]))
    result = read_scoping_docx(data, "return.docx", labels)
    assert result.fields["chronology"] == [
        {"date": "2026-02-01", "event": "Seen at A&E", "agency": None}
    ]
    with pytest.raises(ConfigError, match="labels.household_columns.colour"):
        Labels.load({"household_columns": {"colour": ["eyes"]}})


def test_household_typed_in_a_body() -> None:
    body = (
        "Child's name: Amy Example\n"
        "Household: Kelly Example, mother, 12/05/1994; Leo Example (brother) 01/08/2022\n"
    )
    assert read_referral_text(body, LABELS).fields["household"] == [
        {"name": "Kelly Example", "relationship": "mother", "dob": "1994-05-12"},
        {"name": "Leo Example", "relationship": "brother", "dob": "2022-08-01"},
    ]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Child protection plan", "child_protection_plan"),
        ("CIN", "child_in_need"),
        ("☐ Child in need ☒ Looked after", "looked_after"),
        ("Care leaver", "care_leaver"),
        ("None of these", "none"),
        ("Not known", "unknown"),
    ],
)
def test_legal_status_as_typed(typed: str, expected: str) -> None:
    result = read(f.two_column({"Legal status": typed}))
    assert result.fields["legal_status"] == expected
    assert result.problems == ()


def test_the_new_typed_fields_in_a_body() -> None:
    body = (
        "Date of referral: 4th December 2026\nChild's name: Amy Example\n"
        "Is there a police investigation? Yes\nNHS number: 943 476 5919\n"
    )
    fields = read_referral_text(body, LABELS).fields
    assert fields["referral_date"] == "2026-12-04"
    assert fields["police_investigation"] is True
    assert fields["child_nhs_number"] == "943 476 5919"


# --------------------------------------------------------------------------------------------------
# Forms by meaning (issue 12): the fuzzy threshold, measured on the golden corpus
# --------------------------------------------------------------------------------------------------


def golden_wordings() -> list[tuple[str, str]]:
    """Every (label, field) of every golden referral form and body, and of the project's form."""
    from tests.golden import make_corpus as corpus

    corpus.WORDINGS.clear()
    for build in corpus.CASES.values():
        build()  # each case notes its labels as it builds its form
    own = [(label, key) for _h, rows in formgen.REFERRAL_LAYOUT for key, label in rows]
    return list(dict.fromkeys([*corpus.WORDINGS, *corpus.OLDER_WORDINGS, *own]))


def test_fuzzy_threshold_is_measured_on_the_corpus() -> None:
    """Every golden label reads as its own field; the nearest wrong field scores below the
    threshold for every one of them; each label only meaning reads scores at least the threshold."""
    wordings = golden_wordings()
    assert len(wordings) >= 150
    by_meaning: list[float] = []
    nearest_wrong: list[tuple[float, str, str]] = []
    for label, key in wordings:
        assert LABELS.match("referral", label) == key, label
        scores = LABELS.fuzzy_scores("referral", normalise_label(label))
        wrong = max(((s, k) for k, s in scores.items() if k != key), default=(0.0, ""))
        nearest_wrong.append((wrong[0], label, wrong[1]))
        found = LABELS.match_how("referral", label)
        assert found is not None
        if found[2]:
            by_meaning.append(scores[key])
    worst = max(nearest_wrong)
    assert worst[0] < FUZZY_THRESHOLD, worst
    assert min(by_meaning) >= FUZZY_THRESHOLD
    assert len(by_meaning) >= 15, "the corpus must exercise matching by meaning"


@pytest.mark.parametrize(
    ("label", "field"),
    [
        ("Died or seriously harmed", "incident_type"),
        ("Reporter Tel No", "referrer_phone"),
        ("Patient Date of Birth", "child_dob"),
        (
            "Notification to the Child Safeguarding Practice Review Panel made?",
            "national_panel_notified",
        ),
        ("Which agencies are involved?", "agencies_involved"),
        ("Police investigating", "police_investigation"),
    ],
)
def test_labels_read_by_meaning(label: str, field: str) -> None:
    assert LABELS.match("referral", label) == field


@pytest.mark.parametrize(
    "label",
    [
        "Their date of birth",
        "What your agency did",
        "Date of the review meeting",
        "Child's dentist",
    ],
)
def test_meaning_does_not_stretch_to_other_things(label: str) -> None:
    assert LABELS.match("referral", label) is None


def test_questions_answered_after_the_question_mark() -> None:
    body = (
        "Child's name: Amy Example\n"
        "Has the child died or been seriously harmed? Serious harm\n"
        "Is abuse or neglect known or suspected? Suspected\n"
        "Are other children at risk? (who they are)\n"
    )
    fields = read_referral_text(body, LABELS).fields
    assert (fields["incident_type"], fields["abuse_or_neglect"]) == ("serious_harm", "suspected")
    assert fields["other_children_at_risk"] is None


def test_agency_lines_name_contact_and_email() -> None:
    body = (
        "Child's name: Amy Example\n"
        "Agencies involved:\n"
        "West Midlands Police (DS Patel)\n"
        "Oak Primary School\n"
        "dsl@oak.example.sch.uk\n"
        "Children's Social Care - mash@dudley.example\n"
    )
    assert read_referral_text(body, LABELS).fields["agencies_involved"] == [
        {"name": "West Midlands Police", "contact_name": "DS Patel", "email": None},
        {"name": "Oak Primary School", "contact_name": None, "email": "dsl@oak.example.sch.uk"},
        {"name": "Children's Social Care", "contact_name": None, "email": "mash@dudley.example"},
    ]


def test_a_scoping_answer_that_starts_with_a_label_word_is_the_answer() -> None:
    data = f.two_column(
        {
            "Immediate actions taken": "Records secured; staff briefed.",
            "Learning identified": "Risks identified earlier were not shared.",
        }
    )
    fields = read_scoping_docx(data, "return.docx", LABELS).fields
    assert fields["immediate_actions"] == "Records secured; staff briefed."
    assert fields["learning"] == "Risks identified earlier were not shared."
    assert fields["records_secured"] is None and fields["risks_identified"] is None


def test_a_forwarded_referrals_own_lines_are_kept_apart_from_the_summary() -> None:
    body = (
        "---------- Forwarded message ---------\nFrom: A <a@b.example>\n\n"
        "Name of child: Amy Example\n"
        "Summary: Admitted with a head injury.\n"
        "Died or seriously harmed: serious harm\n"
        "Police investigating: yes\n"
    )
    fields = read_referral_text(body, LABELS).fields
    assert fields["incident_summary"] == "Admitted with a head injury."
    assert fields["incident_type"] == "serious_harm"
    assert fields["police_investigation"] is True
