"""The project's own forms, filled in the way Word would and read back with the reader.

Filling happens on the generated file with python-docx: text typed into the value cells, content-
control checkboxes ticked, rows of the household and chronology tables written in. Nothing here
goes through ``formgen.filled_*``, so the tests check the blank documents a person receives.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from docx.document import Document as DocumentObject
from docx.table import Table, _Cell

from cspr_mailbot import formgen
from cspr_mailbot.config import parse_config
from cspr_mailbot.core.forms import (
    Labels,
    normalise_label,
    read_custom_properties,
    read_referral_docx,
    read_scoping_docx,
)
from cspr_mailbot.core.models import REFERRAL_FIELDS, SCOPING_FIELDS
from cspr_mailbot.errors import ConfigError
from tests import docxfactory as f

LABELS = Labels.load()
W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


# What a person types, as text, and what the reader must give back (SPEC 4 types).
REFERRAL_TYPED: dict[str, tuple[str, Any]] = {
    "referral_date": ("04/12/2026", "2026-12-04"),
    "referrer_name": ("Jo Bloggs", "Jo Bloggs"),
    "referrer_role": ("Social worker", "Social worker"),
    "referrer_agency": ("Dudley Children's Services", "Dudley Children's Services"),
    "referrer_email": ("jo.bloggs@dudley.example", "jo.bloggs@dudley.example"),
    "referrer_phone": ("01384 123456", "01384 123456"),
    "safeguarding_lead_name": ("Sam Khan", "Sam Khan"),
    "child_name": ("Amy Example", "Amy Example"),
    "child_dob": ("28/02/2015", "2015-02-28"),
    "child_gender": ("Female", "Female"),
    "child_ethnicity": ("White British", "White British"),
    "child_address": ("1 High Street\nNetherton\nDudley", "1 High Street\nNetherton\nDudley"),
    "child_postcode": ("DY1 1AA", "DY1 1AA"),
    "child_nhs_number": ("943 476 5919", "943 476 5919"),
    "child_school": ("Oak Primary School", "Oak Primary School"),
    "incident_date": ("03/12/2026", "2026-12-03"),
    "la_aware_date": ("04/12/2026", "2026-12-04"),
    "incident_summary": (
        "Admitted to hospital with unexplained injuries.\nBruising of different ages.",
        "Admitted to hospital with unexplained injuries.\nBruising of different ages.",
    ),
    "other_children_at_risk": (
        "A brother, aged 4.\nHe is staying with his grandmother under a safety plan.",
        "A brother, aged 4.\nHe is staying with his grandmother under a safety plan.",
    ),
    "notification_date": ("08/12/2026", "2026-12-08"),
    "parallel_processes": (
        "Criminal investigation by West Midlands Police; family court hearing on 10/12/2026.",
        "Criminal investigation by West Midlands Police; family court hearing on 10/12/2026.",
    ),
    "rationale": (
        "Serious injury; neglect suspected; agencies missed signs.",
        "Serious injury; neglect suspected; agencies missed signs.",
    ),
}
# Ticked boxes: field -> (the words beside the box to tick, the value read back).
REFERRAL_TICKED: dict[str, tuple[str, Any]] = {
    "safeguarding_lead_consulted": ("Yes", True),
    "looked_after": ("No", False),
    "incident_type": ("Serious harm", "serious_harm"),
    "abuse_or_neglect": ("Suspected", "suspected"),
    "national_panel_notified": ("Yes", True),
}
# The new typed fields, which the reader must learn to convert.
REFERRAL_TYPED_NEW: dict[str, tuple[str, Any]] = {"referral_date": ("04/12/2026", "2026-12-04")}
REFERRAL_TICKED_NEW: dict[str, tuple[str, Any]] = {
    "police_investigation": ("Yes", True),
    "legal_status": ("Child in need", "child_in_need"),
}
HOUSEHOLD = [
    {"name": "Kelly Example", "relationship": "Mother", "dob": "1994-05-12"},
    {"name": "Dean Smith", "relationship": "Mother's partner", "dob": "1990-01-30"},
    {"name": "Leo Example", "relationship": "Brother", "dob": "2022-08-01"},
]
AGENCIES = [
    {"name": "West Midlands Police", "contact_name": "DC Smith", "email": "pvp@police.example"},
    {"name": "Oak Primary School", "contact_name": "Mrs Khan", "email": "dsl@oak.example"},
]

SCOPING_TYPED: dict[str, tuple[str, Any]] = {
    "completed_by": ("Sam Patel", "Sam Patel"),
    "role": ("Named nurse", "Named nurse"),
    "email": ("sam.patel@nhs.example", "sam.patel@nhs.example"),
    "phone": ("01384 999999", "01384 999999"),
    "involvement_from": ("15/01/2024", "2024-01-15"),
    "involvement_to": ("3 December 2026", "2026-12-03"),
    "involvement_summary": (
        "Health visiting contacts at 6 weeks and 1 year.\nMissed 2-year check.",
        "Health visiting contacts at 6 weeks and 1 year.\nMissed 2-year check.",
    ),
    "risks_identified": ("Parental substance misuse.", "Parental substance misuse."),
    "good_practice": (
        "Prompt referral to children's services.",
        "Prompt referral to children's services.",
    ),
    "learning": ("Follow-up of missed appointments.", "Follow-up of missed appointments."),
    "immediate_actions": ("Records reviewed and secured.", "Records reviewed and secured."),
}
CHRONOLOGY = [
    {"date": "2024-01-15", "event": "New birth visit", "agency": "Advice on safe sleep given"},
    {"date": "2025-02-02", "event": "2-year check missed", "agency": "Letter sent; no reply"},
    {"date": "2026-12-03", "event": "Told of admission to hospital", "agency": "Referred to MASH"},
]


# --------------------------------------------------------------------------------------------------
# Filling in, as a person does in Word
# --------------------------------------------------------------------------------------------------


def open_doc(data: bytes) -> DocumentObject:
    return Document(io.BytesIO(data))


def save(doc: DocumentObject) -> bytes:
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def value_cell(doc: DocumentObject, label: str) -> _Cell:
    """The cell to the right of the label cell whose text is ``label``."""
    for table in doc.tables:
        for row in table.rows:
            if len(row.cells) == 2 and row.cells[0].text == label:
                return row.cells[1]
    raise AssertionError(f"no row labelled {label!r}")


def label_of(layout: formgen.Layout, key: str) -> str:
    for _heading, rows in layout:
        for k, label in rows:
            if k == key:
                return label
    raise AssertionError(key)


def type_into(cell: _Cell, text: str) -> None:
    """Typing in Word: one paragraph per line (Enter), in the cell's existing first paragraph."""
    lines = text.split("\n")
    cell.paragraphs[0].add_run(lines[0])
    for line in lines[1:]:
        cell.add_paragraph(line)


def tick(cell: _Cell, words: str) -> None:
    """Click the content-control checkbox just before ``words`` (Word sets w14:checked and the glyph)."""
    boxes = cell._tc.findall(f".//{{{W}}}sdt")
    for sdt in boxes:
        after = sdt.getnext()
        text = "".join(t.text or "" for t in after.iter(f"{{{W}}}t")) if after is not None else ""
        if text.strip() == words:
            sdt.find(f".//{{{W14}}}checked").set(f"{{{W14}}}val", "1")
            sdt.find(f".//{{{W}}}sdtContent//{{{W}}}t").text = formgen.CHECKED
            return
    raise AssertionError(f"no box for {words!r}")


def list_table(doc: DocumentObject, first_header: str) -> Table:
    for table in doc.tables:
        if table.rows[0].cells[0].text == first_header:
            return table
    raise AssertionError(first_header)


def write_rows(
    table: Table, columns: tuple[tuple[str, str], ...], entries: list[dict[str, str]]
) -> None:
    for row, entry in zip(table.rows[1:], entries, strict=False):
        for cell, (key, _header) in zip(row.cells, columns, strict=True):
            value = entry[key]
            type_into(cell, uk(value) if key in {"dob", "date"} else value)


def uk(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{d}/{m}/{y}"


def fill_referral(
    typed: dict[str, tuple[str, Any]], ticked: dict[str, tuple[str, Any]], **tables: Any
) -> bytes:
    doc = open_doc(formgen.blank_referral())
    for key, (text, _) in typed.items():
        type_into(value_cell(doc, label_of(formgen.REFERRAL_LAYOUT, key)), text)
    for key, (words, _) in ticked.items():
        tick(value_cell(doc, label_of(formgen.REFERRAL_LAYOUT, key)), words)
    if "household" in tables:
        write_rows(
            list_table(doc, formgen.HOUSEHOLD_COLUMNS[0][1]),
            formgen.HOUSEHOLD_COLUMNS,
            tables["household"],
        )
    if "agencies" in tables:
        write_rows(
            list_table(doc, "Agency"),
            (("name", "Agency"), ("contact_name", "Contact name"), ("email", "Email")),
            tables["agencies"],
        )
    return save(doc)


def fill_scoping(data: bytes, typed: dict[str, tuple[str, Any]], **tables: Any) -> bytes:
    doc = open_doc(data)
    for key, (text, _) in typed.items():
        type_into(value_cell(doc, label_of(formgen.SCOPING_LAYOUT, key)), text)
    tick(value_cell(doc, label_of(formgen.SCOPING_LAYOUT, "records_secured")), "Yes")
    if "chronology" in tables:
        write_rows(
            list_table(doc, formgen.CHRONOLOGY_COLUMNS[0][1]),
            formgen.CHRONOLOGY_COLUMNS,
            tables["chronology"],
        )
    return save(doc)


def read_referral(data: bytes) -> dict[str, Any]:
    result = read_referral_docx(data, "referral.docx", LABELS)
    assert result.problems == ()
    return result.fields


# --------------------------------------------------------------------------------------------------
# The referral form
# --------------------------------------------------------------------------------------------------


def test_every_referral_field_has_a_place_on_the_form() -> None:
    on_form = {k for _h, rows in formgen.REFERRAL_LAYOUT for k, _label in rows}
    assert on_form | {"household", "agencies_involved"} == set(REFERRAL_FIELDS)
    result = read_referral_docx(formgen.blank_referral(), "referral.docx", LABELS)
    assert result.found_labels == len(REFERRAL_FIELDS)


def test_every_scalar_field_typed_and_ticked_in_word_reads_back_exactly() -> None:
    typed = {k: v for k, v in REFERRAL_TYPED.items() if k not in REFERRAL_TYPED_NEW}
    fields = read_referral(fill_referral(typed, REFERRAL_TICKED, agencies=AGENCIES))
    expected = {k: v for k, (_, v) in (typed | REFERRAL_TICKED).items()}
    assert {k: fields[k] for k in expected} == expected
    assert fields["agencies_involved"] == AGENCIES


def test_the_new_typed_fields_read_back_as_dates_bools_and_choices() -> None:
    fields = read_referral(fill_referral(REFERRAL_TYPED_NEW, REFERRAL_TICKED_NEW))
    assert {k: fields[k] for k in ("referral_date", "police_investigation", "legal_status")} == {
        "referral_date": "2026-12-04",
        "police_investigation": True,
        "legal_status": "child_in_need",
    }


def test_the_blank_form_reads_as_nothing() -> None:
    result = read_referral_docx(formgen.blank_referral(), "referral.docx", LABELS)
    assert result.fields == dict.fromkeys(REFERRAL_FIELDS)


@pytest.mark.parametrize("status", [v for v, _w in formgen._OPTIONS["legal_status"]])
def test_legal_status_has_a_box_for_each_spec_value(status: str) -> None:
    words = dict(formgen._OPTIONS["legal_status"])[status]
    doc = open_doc(formgen.blank_referral())
    tick(value_cell(doc, label_of(formgen.REFERRAL_LAYOUT, "legal_status")), words)


def test_the_household_table_reads_back_as_entries() -> None:
    fields = read_referral(fill_referral({}, {}, household=HOUSEHOLD))
    assert fields["household"] == HOUSEHOLD


def test_the_household_table_does_not_disturb_the_childs_fields() -> None:
    typed = {k: REFERRAL_TYPED[k] for k in ("child_name", "child_dob")}
    fields = read_referral(fill_referral(typed, {}, household=HOUSEHOLD))
    assert fields["child_name"] == "Amy Example" and fields["child_dob"] == "2015-02-28"


def test_the_forms_new_labels_are_known_words() -> None:
    for label in (h for _, h in formgen.HOUSEHOLD_COLUMNS):
        assert LABELS.match("referral", label) is None, label  # column names, not fields
    assert LABELS.match("referral", "3. The child's household") == "household"
    assert LABELS.match("scoping", "4. Chronology of your agency's involvement") == "chronology"
    for label in (h for _, h in formgen.CHRONOLOGY_COLUMNS):
        assert LABELS.match("scoping", label) is None, label
    for key, label in formgen.IDENTIFIERS_LAYOUT:
        assert LABELS.match("scoping", label) is None, label
        assert LABELS.match("referral", label) == key, label


def test_prose_fields_are_tall_boxes() -> None:
    doc = open_doc(formgen.blank_referral())
    for key in ("incident_summary", "other_children_at_risk", "parallel_processes", "rationale"):
        label = label_of(formgen.REFERRAL_LAYOUT, key)
        row = next(r for t in doc.tables for r in t.rows if r.cells[0].text == label)
        assert row.height is not None and row.height.cm >= 3, key


@pytest.mark.parametrize("make", [formgen.blank_referral, formgen.blank_scoping])
def test_marking_header_page_numbers_and_properties(make: Any) -> None:
    data = make("Testshire Safeguarding Partnership", "OFFICIAL-SENSITIVE")
    doc = open_doc(data)
    section = doc.sections[0]
    assert section.header.paragraphs[0].text == "OFFICIAL-SENSITIVE"
    footer_xml = section.footer._element.xml
    assert " PAGE " in footer_xml and " NUMPAGES " in footer_xml
    props = doc.core_properties
    assert props.author == "Testshire Safeguarding Partnership"
    assert props.title.startswith("Testshire Safeguarding Partnership: CSPR")
    assert props.subject.startswith("Child Safeguarding Practice Review")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert b"python-docx" not in zf.read("docProps/core.xml")


def test_no_marking_means_an_empty_header() -> None:
    doc = open_doc(formgen.blank_referral(marking=""))
    assert doc.sections[0].header.paragraphs[0].text == ""


# --------------------------------------------------------------------------------------------------
# The scoping template
# --------------------------------------------------------------------------------------------------


def test_scoping_typed_in_word_reads_back_exactly_with_embedded_reference() -> None:
    data = fill_scoping(
        formgen.prefilled_scoping("DSPP-2026-0007", "Health Visiting"), SCOPING_TYPED
    )
    result = read_scoping_docx(data, "return.docx", LABELS)
    expected = {k: v for k, (_, v) in SCOPING_TYPED.items()}
    expected |= {"case_reference": "DSPP-2026-0007", "agency_name": "Health Visiting"}
    expected |= {"records_secured": True, "chronology": None}
    assert result.fields == expected
    assert result.problems == ()
    assert (result.embedded_reference, result.embedded_agency) == (
        "DSPP-2026-0007",
        "Health Visiting",
    )
    assert result.found_labels == len(SCOPING_FIELDS)


def test_the_chronology_reads_back_as_dated_entries() -> None:
    data = fill_scoping(
        formgen.prefilled_scoping("DSPP-2026-0007", "Health Visiting"), {}, chronology=CHRONOLOGY
    )
    result = read_scoping_docx(data, "return.docx", LABELS)
    assert result.fields["chronology"] == CHRONOLOGY


def test_the_chronology_does_not_disturb_the_other_fields() -> None:
    data = fill_scoping(
        formgen.prefilled_scoping("DSPP-2026-0007", "Police"), SCOPING_TYPED, chronology=CHRONOLOGY
    )
    result = read_scoping_docx(data, "return.docx", LABELS)
    assert result.fields["involvement_summary"] == SCOPING_TYPED["involvement_summary"][1]
    assert result.problems == ()


IDENTIFIERS = {
    "child_name": "Amy Example",
    "child_dob": "2015-02-28",
    "child_address": "1 High Street, Netherton, Dudley",
    "child_postcode": "DY1 1AA",
    "child_nhs_number": "943 476 5919",
}


def test_identifiers_are_typed_in_only_when_given() -> None:
    trusted = open_doc(
        formgen.prefilled_scoping("DSPP-2026-0007", "Police", identifiers=IDENTIFIERS)
    )
    shown = {key: value_cell(trusted, label).text for key, label in formgen.IDENTIFIERS_LAYOUT}
    assert shown == {
        "child_name": "Amy Example",
        "child_dob": "28/02/2015",
        "child_address": "1 High Street, Netherton, Dudley\nDY1 1AA",
        "child_nhs_number": "943 476 5919",
    }
    for data in (
        formgen.prefilled_scoping("DSPP-2026-0007", "Police"),
        formgen.blank_scoping(),
    ):
        doc = open_doc(data)
        assert all(value_cell(doc, label).text == "" for _k, label in formgen.IDENTIFIERS_LAYOUT)
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            body = b"".join(zf.read(n) for n in zf.namelist())
        assert b"Amy" not in body and b"943 476" not in body


def test_identifiers_leave_the_return_as_it_was() -> None:
    plain = formgen.prefilled_scoping("DSPP-2026-0007", "Police")
    trusted = formgen.prefilled_scoping("DSPP-2026-0007", "Police", identifiers=IDENTIFIERS)
    assert read_custom_properties(plain) == read_custom_properties(trusted)
    a = read_scoping_docx(plain, "a.docx", LABELS)
    b = read_scoping_docx(trusted, "b.docx", LABELS)
    assert a == b


def test_identifiers_do_not_match_scoping_labels() -> None:
    for _key, label in formgen.IDENTIFIERS_LAYOUT:
        assert normalise_label(label) not in {
            s for syns in LABELS.fields["scoping"].values() for s in syns
        }


# --------------------------------------------------------------------------------------------------
# A partnership's own templates
# --------------------------------------------------------------------------------------------------


def own_template() -> bytes:
    return f.build(
        f.heading("Testshire Safeguarding Children Partnership: agency information request"),
        f.table(
            [("Our reference", ""), ("Organisation", ""), ("Name of child", ""), ("NHS No", "")]
        ),
        f.para("Person completing this form:"),
        f.table([("Summary of involvement", "")]),
    )


def test_own_scoping_template_is_filled_by_label() -> None:
    data = formgen.prefilled_scoping(
        "DSPP-2026-0007", "West Midlands Police", template=own_template(), identifiers=IDENTIFIERS
    )
    doc = open_doc(data)
    cells = {row.cells[0].text: row.cells[1].text for row in doc.tables[0].rows}
    assert cells == {
        "Our reference": "DSPP-2026-0007",
        "Organisation": "West Midlands Police",
        "Name of child": "Amy Example",
        "NHS No": "943 476 5919",
    }
    assert read_custom_properties(data) == {
        "cspr_case_reference": "DSPP-2026-0007",
        "cspr_agency": "West Midlands Police",
    }
    result = read_scoping_docx(data, "return.docx", LABELS)
    assert result.embedded_reference == "DSPP-2026-0007"
    assert result.fields["agency_name"] == "West Midlands Police"


def test_own_template_without_identifiers_names_no_child() -> None:
    data = formgen.prefilled_scoping("DSPP-2026-0007", "Police", template=own_template())
    doc = open_doc(data)
    cells = {row.cells[0].text: row.cells[1].text for row in doc.tables[0].rows}
    assert cells["Name of child"] == "" and cells["NHS No"] == ""


def test_own_template_with_no_place_for_the_reference_gets_it_at_the_top() -> None:
    bare = f.build(f.para("Please tell us about your involvement."), f.table([("Summary", "")]))
    data = formgen.prefilled_scoping("DSPP-2026-0007", "Police", template=bare)
    doc = open_doc(data)
    assert [p.text for p in doc.paragraphs[:2]] == [
        "Case reference: DSPP-2026-0007",
        "Agency: Police",
    ]
    assert read_scoping_docx(data, "r.docx", LABELS).fields["case_reference"] == "DSPP-2026-0007"


def minimal_config(tmp_path: Path, forms: dict[str, str]) -> dict[str, Any]:
    return {
        "partnership": {"mailbox": "b@example.gov.uk", "coordinators": ["c@example.gov.uk"]},
        "forms": forms,
    }


def test_config_forms_keys(tmp_path: Path) -> None:
    (tmp_path / "ours.docx").write_bytes(own_template())
    cfg = parse_config(minimal_config(tmp_path, {"scoping": "ours.docx"}), base=tmp_path)
    assert cfg.forms.scoping == (tmp_path / "ours.docx").resolve()
    assert cfg.forms.referral is None
    assert parse_config(minimal_config(tmp_path, {}), base=tmp_path).forms.scoping is None


@pytest.mark.parametrize(
    ("write", "problem"),
    [
        (None, "does not exist"),
        (b"not a zip", "is not a Word (.docx) document"),
    ],
)
def test_config_forms_refuses_what_is_not_a_docx(
    tmp_path: Path, write: bytes | None, problem: str
) -> None:
    if write is not None:
        (tmp_path / "ours.docx").write_bytes(write)
    with pytest.raises(ConfigError) as err:
        parse_config(minimal_config(tmp_path, {"referral": "ours.docx"}), base=tmp_path)
    assert "forms.referral" in str(err.value) and problem in str(err.value)


def test_config_forms_refuses_unknown_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(minimal_config(tmp_path, {"referal": "x.docx"}), base=tmp_path)
    assert "forms.referal" in str(err.value)


def test_cli_forms_writes_the_partnerships_own_form(tmp_path: Path) -> None:
    from cspr_mailbot.cli import main

    ours = own_template()  # built once: a .docx built again a second later differs in its zip times
    (tmp_path / "ours.docx").write_bytes(ours)
    config = tmp_path / "config.toml"
    config.write_text(
        '[partnership]\nname = "Testshire Partnership"\nmailbox = "b@example.gov.uk"\n'
        'coordinators = ["c@example.gov.uk"]\n[forms]\nscoping = "ours.docx"\n'
    )
    assert main(["-c", str(config), "forms", "scoping", "-o", str(tmp_path / "s.docx")]) == 0
    assert (tmp_path / "s.docx").read_bytes() == ours
    assert main(["-c", str(config), "forms", "referral", "-o", str(tmp_path / "r.docx")]) == 0
    doc = open_doc((tmp_path / "r.docx").read_bytes())
    assert doc.core_properties.author == "Testshire Partnership"


def test_the_scoping_request_uses_the_partnerships_template(tmp_path: Path) -> None:
    from cspr_mailbot.adapters.documents import DocumentBuilder
    from cspr_mailbot.core.models import DocumentRequest

    (tmp_path / "ours.docx").write_bytes(own_template())
    request = DocumentRequest(
        kind="scoping",
        filename="Initial Scoping DSPP-2026-0007 WMP.docx",
        reference="DSPP-2026-0007",
        agency="West Midlands Police",
        partnership="Testshire Partnership",
    )
    cfg = parse_config(minimal_config(tmp_path, {"scoping": "ours.docx"}), base=tmp_path)
    built = DocumentBuilder.from_config(cfg).build(request)
    text = "\n".join(p.text for p in open_doc(built.data).paragraphs)
    assert "Testshire Safeguarding Children Partnership: agency information request" in text
    assert built.filename == request.filename
    ours = DocumentBuilder.from_config(parse_config(minimal_config(tmp_path, {}))).build(request)
    text = "\n".join(p.text for p in open_doc(ours.data).paragraphs)
    assert "agency information request" not in text
