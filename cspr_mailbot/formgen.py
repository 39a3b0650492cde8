"""Build the project's own forms (.docx bytes): the CSPR referral form and the scoping template.

Blank forms are what ``cspr-mailbot forms referral|scoping`` writes; the pre-filled scoping
template is what the bot attaches to a scoping request, with the case reference and agency both
typed in the form and embedded as custom document properties (``cspr_case_reference``,
``cspr_agency``) so a return is matched to its case however it comes back, and, for a trusted agency
(SPEC 5), the child's identifiers typed in. ``filled_*`` type values in, for the demo and the tests.
A partnership's own replacement template is pre-filled the same way, by label (``fill_by_label``).
Everything here returns bytes; reading and writing files is the caller's business.

What the referral form asks, and in what order, follows published English partnerships' forms
(read in 2026; wording is ours):
- Kent KSCMP "Make a referral" (CSPR criteria, agreement of the agency's safeguarding lead),
  Darlington "Local CSPR" referral guidance (who may refer, the rationale for the criteria);
- Lambeth multi-agency referral form (date of referral, DSL consulted and the DSL's name),
  Lancashire referral form (NHS number, postcode), West Berkshire / Bracknell CAF-style referral
  ("Composition of family and who else lives at the child's address": name, relationship, D.O.B.),
  Ofsted's serious childcare incident notification (parents' and siblings' names, linked cases);
- the National Panel's incident notification and local SIN procedures (Birmingham, North Yorkshire):
  child protection plan / child in need / looked after / care leaver, other children in the family;
- SCIE's quality markers on parallel processes (police/CPS, coroner, child death review, family
  court) for "who else knows". The scoping chronology (date, event, what the agency did) is the
  usual shape of Rapid Review agency information requests (e.g. Croydon's).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from datetime import date
from itertools import count
from typing import Any, Protocol
from xml.sax.saxutils import escape, quoteattr

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.table import WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt, RGBColor
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from lxml import etree

from .core.forms.fields import DATE_FIELDS

__all__ = [
    "DEFAULT_PARTNERSHIP",
    "DEFAULT_MARKING",
    "blank_referral",
    "blank_scoping",
    "prefilled_scoping",
    "filled_referral",
    "filled_scoping",
    "fill_by_label",
    "add_custom_properties",
    "REFERRAL_LAYOUT",
    "SCOPING_LAYOUT",
    "IDENTIFIERS_LAYOUT",
    "HOUSEHOLD_COLUMNS",
    "CHRONOLOGY_COLUMNS",
]

DEFAULT_PARTNERSHIP = "Dudley Safeguarding People Partnership"
DEFAULT_MARKING = "OFFICIAL-SENSITIVE"

W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
CHECKED, UNCHECKED = "☒", "☐"

# The options of each choice field: (value, the words on the form).
_YES_NO: tuple[tuple[Any, str], ...] = ((True, "Yes"), (False, "No"))
_OPTIONS: dict[str, tuple[tuple[Any, str], ...]] = {
    "safeguarding_lead_consulted": _YES_NO,
    "looked_after": _YES_NO,
    "national_panel_notified": _YES_NO,
    "police_investigation": _YES_NO,
    "records_secured": _YES_NO,
    "incident_type": (("death", "Death"), ("serious_harm", "Serious harm")),
    "abuse_or_neglect": (
        ("known", "Known"),
        ("suspected", "Suspected"),
        ("no", "No"),
        ("unknown", "Unknown"),
    ),
    "legal_status": (
        ("child_protection_plan", "Child protection plan"),
        ("child_in_need", "Child in need"),
        ("looked_after", "Looked after"),
        ("care_leaver", "Care leaver"),
        ("none", "None of these"),
        ("unknown", "Not known"),
    ),
}
# Choices with this many options get one line each: easier to read and to tick.
_OPTIONS_PER_LINE = 4
# Where people write prose: the value cell is a tall box (its height in cm, at least).
_TALL: dict[str, float] = {
    "child_address": 1.6,
    "incident_summary": 6.0,
    "other_children_at_risk": 3.5,
    "parallel_processes": 3.0,
    "rationale": 6.0,
    "involvement_summary": 6.0,
    "risks_identified": 3.5,
    "good_practice": 3.0,
    "learning": 3.5,
    "immediate_actions": 3.0,
}

# (section heading, [(field, label on the form)]). Labels must stay in data/labels.toml. A section
# with no rows is a table (see _TABLE_SECTIONS); its heading is then the table's label.
Layout = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

REFERRAL_LAYOUT: Layout = (
    (
        "1. Details of the referrer",
        (
            ("referral_date", "Date of referral (dd/mm/yyyy)"),
            ("referrer_name", "Referrer's name"),
            ("referrer_role", "Referrer's role / job title"),
            ("referrer_agency", "Referrer's agency"),
            ("referrer_email", "Referrer's email address"),
            ("referrer_phone", "Referrer's telephone number"),
            ("safeguarding_lead_consulted", "Have you consulted your safeguarding lead?"),
            ("safeguarding_lead_name", "Name of your safeguarding lead"),
        ),
    ),
    (
        "2. Details of the child",
        (
            ("child_name", "Child's full name"),
            ("child_dob", "Child's date of birth (dd/mm/yyyy)"),
            ("child_gender", "Child's gender"),
            ("child_ethnicity", "Child's ethnicity"),
            ("child_address", "Child's address"),
            ("child_postcode", "Child's postcode"),
            ("child_nhs_number", "Child's NHS number"),
            ("child_school", "Child's school, college or nursery"),
            ("legal_status", "The child's legal status at the time (tick one)"),
            ("looked_after", "Is the child looked after?"),
        ),
    ),
    ("3. The child's household", ()),
    (
        "4. The incident",
        (
            ("incident_date", "Date of the incident (dd/mm/yyyy)"),
            ("la_aware_date", "Date the local authority became aware (dd/mm/yyyy)"),
            ("incident_type", "Has the child died or been seriously harmed?"),
            ("abuse_or_neglect", "Is abuse or neglect known or suspected?"),
            ("incident_summary", "Brief summary of the incident"),
            (
                "other_children_at_risk",
                "Are other children at risk? (who they are, and how they are kept safe now)",
            ),
        ),
    ),
    (
        "5. Who else knows",
        (
            ("national_panel_notified", "Has the National Panel been notified?"),
            ("notification_date", "Date of notification to the National Panel (dd/mm/yyyy)"),
            ("police_investigation", "Is there a police investigation?"),
            (
                "parallel_processes",
                "Other processes under way (coroner, child death review, criminal or family "
                "proceedings)",
            ),
        ),
    ),
    ("Agencies involved with the child and family", ()),
    (
        "6. Rationale",
        (("rationale", "Why do you think this case meets the criteria for a CSPR?"),),
    ),
)

SCOPING_LAYOUT: Layout = (
    (
        "1. About this return",
        (
            ("case_reference", "Case reference"),
            ("agency_name", "Agency"),
            ("completed_by", "Completed by"),
            ("role", "Role / job title"),
            ("email", "Email address"),
            ("phone", "Telephone number"),
        ),
    ),
    ("2. The child", ()),
    (
        "3. Your agency's involvement",
        (
            ("involvement_from", "Involvement from (dd/mm/yyyy)"),
            ("involvement_to", "Involvement to (dd/mm/yyyy)"),
            (
                "involvement_summary",
                "Summary of your agency's involvement with the child and family",
            ),
            ("risks_identified", "Risks identified"),
            ("good_practice", "Good practice identified"),
            ("learning", "Learning identified"),
            ("immediate_actions", "Immediate actions taken"),
            ("records_secured", "Have your agency's records been secured?"),
        ),
    ),
    ("4. Chronology of your agency's involvement", ()),
)

# The child's identifiers on the scoping template (referral keys): typed in for a trusted agency
# only. These are not scoping fields: the reader leaves them alone.
IDENTIFIERS_LAYOUT: tuple[tuple[str, str], ...] = (
    ("child_name", "Child's full name"),
    ("child_dob", "Child's date of birth"),
    ("child_address", "Child's address"),
    ("child_nhs_number", "Child's NHS number"),
)

# The list tables: (key in each entry, column header). The reader must know these headers.
HOUSEHOLD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Person's full name"),
    ("relationship", "Relationship to the child"),
    ("dob", "Their date of birth (dd/mm/yyyy)"),
)
CHRONOLOGY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("date", "Date (dd/mm/yyyy)"),
    ("event", "What happened"),
    ("agency", "What your agency did"),
)
_AGENCY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Agency"),
    ("contact_name", "Contact name"),
    ("email", "Email"),
)

_REFERRAL_GUIDANCE = (
    "Use this form to refer a child for consideration of a Child Safeguarding Practice Review "
    "(CSPR). Please talk to your agency's safeguarding lead first, then email the completed form "
    "to the partnership's business unit.",
    "A case meets the criteria for a CSPR when abuse or neglect of a child is known or suspected, "
    "and the child has died or been seriously harmed (serious and/or long-term impairment of "
    "physical or mental health, or of intellectual, emotional, social or behavioural development).",
    "The death of a looked-after child must also be notified to the Secretary of State and Ofsted, "
    "whether or not abuse or neglect is suspected.",
    "Write dates as day/month/year (for example 03/12/2026). Tick a box by clicking it, or type X "
    "beside your answer. The boxes grow as you type; leave blank anything you do not know.",
)

_SCOPING_GUIDANCE = (
    "Your agency has been identified as involved with a child or family referred for a Child "
    "Safeguarding Practice Review. Please search your agency's records for the child named in "
    "section 2, complete this template from them and reply to the email it came with, attaching "
    "the completed template.",
    "Please do not change the case reference: it tells us which case your return belongs to. Write "
    "dates as day/month/year. Tick a box by clicking it, or type X beside your answer.",
)

_HOUSEHOLD_NOTE = (
    "Parents, carers, brothers and sisters, and any other adult significant in the child's life "
    "(a partner, a relative who cares for the child), whether or not they live with the child. "
    "Add rows as you need them (press Tab in the last cell)."
)
_IDENTIFIERS_NOTE = (
    "Section 2 is filled in by the business unit when the template is sent to your agency over "
    "secure email. If it is blank, please ask the business unit for the child's details."
)
_CHRONOLOGY_NOTE = (
    "One row for each contact or event, oldest first. Add rows as you need them (press Tab in the "
    "last cell)."
)
_AGENCIES_NOTE = (
    "List every agency involved with the child or family, with a contact and their email address "
    "if you know them."
)

_AGENCY_ROWS = 6
_HOUSEHOLD_ROWS = 6
_CHRONOLOGY_ROWS = 8
_LABEL_SHADE = "E7EEF5"
_LABEL_WIDTH, _VALUE_WIDTH = Cm(6.5), Cm(10.5)


class LabelMatcher(Protocol):
    """What ``fill_by_label`` needs of the reader's labels (``core.forms.Labels``)."""

    def match(self, form: str, label: str, section: str | None = None) -> str | None: ...

    def is_placeholder(self, text: str) -> bool: ...


# --------------------------------------------------------------------------------------------------
# Public builders
# --------------------------------------------------------------------------------------------------


def blank_referral(
    partnership_name: str = DEFAULT_PARTNERSHIP, marking: str = DEFAULT_MARKING
) -> bytes:
    """The blank CSPR referral form."""
    return filled_referral({}, partnership_name, marking)


def blank_scoping(
    partnership_name: str = DEFAULT_PARTNERSHIP, marking: str = DEFAULT_MARKING
) -> bytes:
    """The blank initial scoping template (no case reference, no agency, no child)."""
    return _scoping({}, None, partnership_name, marking, properties=None)


def prefilled_scoping(
    reference: str,
    agency_name: str,
    partnership_name: str = DEFAULT_PARTNERSHIP,
    identifiers: Mapping[str, Any] | None = None,
    *,
    marking: str = DEFAULT_MARKING,
    template: bytes | None = None,
    labels: LabelMatcher | None = None,
) -> bytes:
    """The scoping template for one agency on one case: both typed in the form and embedded.

    ``identifiers`` (referral keys: ``child_name``, ``child_dob``, ``child_address``,
    ``child_postcode``, ``child_nhs_number``) are typed in only when given: pass them for a trusted
    agency alone (SPEC 5); without them the child's block is left blank. ``template`` is a
    partnership's own scoping template (``[forms] scoping``): it is filled by label instead, with
    ``labels`` (the reader's, so the partnership's own synonyms count).
    """
    if template is not None:
        values = {"case_reference": reference, "agency_name": agency_name}
        return fill_by_label(
            template,
            values,
            _identifier_values(identifiers),
            labels,
            properties={"cspr_case_reference": reference, "cspr_agency": agency_name},
        )
    return filled_scoping({}, reference, agency_name, partnership_name, identifiers, marking)


def filled_referral(
    values: Mapping[str, Any],
    partnership_name: str = DEFAULT_PARTNERSHIP,
    marking: str = DEFAULT_MARKING,
) -> bytes:
    """The referral form with ``values`` (SPEC 4 keys and value types) typed in."""
    title = f"{partnership_name}: CSPR referral form"
    doc = _new_document(
        title, partnership_name, marking, "Child Safeguarding Practice Review referral"
    )
    doc.add_heading(partnership_name, level=0)
    doc.add_heading("Child Safeguarding Practice Review: referral form", level=1)
    for text in _REFERRAL_GUIDANCE:
        doc.add_paragraph(text)
    ids = count(1000)
    for heading, rows in REFERRAL_LAYOUT:
        if rows:
            doc.add_heading(heading, level=2)
            _label_table(doc, rows, values, ids)
        elif heading.startswith("Agencies"):
            doc.add_heading(heading, level=3)
            doc.add_paragraph(_AGENCIES_NOTE)
            _list_table(doc, _AGENCY_COLUMNS, values.get("agencies_involved") or [], _AGENCY_ROWS)
        else:
            # The heading is the household's label: the table follows it at once, the note after
            # (a paragraph between them would be read as the household's value).
            doc.add_heading(heading, level=2)
            _list_table(doc, HOUSEHOLD_COLUMNS, values.get("household") or [], _HOUSEHOLD_ROWS)
            _note(doc, _HOUSEHOLD_NOTE)
    return _save(doc)


def filled_scoping(
    values: Mapping[str, Any],
    reference: str,
    agency_name: str,
    partnership_name: str = DEFAULT_PARTNERSHIP,
    identifiers: Mapping[str, Any] | None = None,
    marking: str = DEFAULT_MARKING,
) -> bytes:
    """The scoping template for ``reference`` / ``agency_name`` with ``values`` typed in."""
    merged = {**values, "case_reference": reference, "agency_name": agency_name}
    properties = {"cspr_case_reference": reference, "cspr_agency": agency_name}
    return _scoping(merged, identifiers, partnership_name, marking, properties)


def fill_by_label(
    docx_bytes: bytes,
    scoping_values: Mapping[str, str],
    identifier_values: Mapping[str, str] | None = None,
    labels: LabelMatcher | None = None,
    *,
    properties: Mapping[str, str] | None = None,
) -> bytes:
    """A partnership's own scoping template with values typed beside the labels that name them.

    A label cell's value goes in the empty cell to its right; a ``Label:`` paragraph with nothing
    after the colon gets the value after it. Scoping fields are found by the scoping labels,
    identifiers by the referral's (``Child's name``, ``NHS number``). When the template has no
    place for the case reference or the agency, they are typed at the top, so a person sees them
    too. ``properties`` are embedded as custom document properties.
    """
    if labels is None:
        from .core.forms import Labels  # the reader's labels: only when a template is filled

        labels = Labels.load()
    wanted: dict[tuple[str, str], str] = {("scoping", k): v for k, v in scoping_values.items() if v}
    for key, value in (identifier_values or {}).items():
        if value:
            wanted[("referral", key)] = value
    doc = Document(io.BytesIO(docx_bytes))
    filled: set[tuple[str, str]] = set()

    def field_of(text: str) -> tuple[str, str] | None:
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
        for form in ("scoping", "referral"):
            key = labels.match(form, first)
            if key is not None and (form, key) in wanted and (form, key) not in filled:
                return form, key
        return None

    def empty(cell: _Cell) -> bool:
        text = cell.text.strip()
        return not text or labels.is_placeholder(text)

    for table in _all_tables(doc):
        for row in table.rows:
            cells = _distinct_cells(row.cells)
            for label_cell, value_cell in zip(cells, cells[1:], strict=False):
                found = field_of(label_cell.text)
                if found is not None and empty(value_cell):
                    value_cell.text = wanted[found]
                    filled.add(found)
    for paragraph in list(doc.paragraphs):
        label, colon, rest = paragraph.text.partition(":")
        if colon and not rest.strip():
            found = field_of(label)
            if found is not None:
                paragraph.add_run(f" {wanted[found]}")
                filled.add(found)
    missing = [k for k in ("case_reference", "agency_name") if ("scoping", k) in wanted]
    missing = [k for k in missing if ("scoping", k) not in filled]
    if missing:
        words = {"case_reference": "Case reference", "agency_name": "Agency"}
        first = doc.paragraphs[0] if doc.paragraphs else doc.add_paragraph()
        for key in missing:
            line = first.insert_paragraph_before(f"{words[key]}: {wanted[('scoping', key)]}")
            line.runs[0].bold = True
    data = _save(doc)
    return add_custom_properties(data, properties) if properties else data


def add_custom_properties(docx_bytes: bytes, properties: Mapping[str, str]) -> bytes:
    """The same package with ``docProps/custom.xml`` holding ``properties`` as text properties.

    python-docx cannot write custom properties, so the zip is rewritten: the part, its content
    type override and the package relationship to it.
    """
    fmtid = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"
    props = "".join(
        f"<property fmtid={quoteattr(fmtid)} pid={quoteattr(str(pid))} name={quoteattr(name)}>"
        f"<vt:lpwstr>{escape(value)}</vt:lpwstr></property>"
        for pid, (name, value) in enumerate(properties.items(), start=2)
    )
    custom_xml = (
        "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"
        "<Properties "
        'xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
        'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
        f"{props}</Properties>"
    ).encode()
    ct_ns = "http://schemas.openxmlformats.org/package/2006/content-types"
    rel_ns = "http://schemas.openxmlformats.org/package/2006/relationships"
    rel_type = (
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
    )
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(docx_bytes)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for item in src.infolist():
            if item.filename == "docProps/custom.xml":
                continue
            data = src.read(item.filename)
            if item.filename == "[Content_Types].xml":
                root = etree.fromstring(data, parser)
                for old in root.findall(f"{{{ct_ns}}}Override"):
                    if old.get("PartName") == "/docProps/custom.xml":
                        root.remove(old)
                override = etree.SubElement(root, f"{{{ct_ns}}}Override")
                override.set("PartName", "/docProps/custom.xml")
                override.set(
                    "ContentType",
                    "application/vnd.openxmlformats-officedocument.custom-properties+xml",
                )
                data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
            elif item.filename == "_rels/.rels":
                root = etree.fromstring(data, parser)
                rels = root.findall(f"{{{rel_ns}}}Relationship")
                for old in rels:
                    if old.get("Type") == rel_type:
                        root.remove(old)
                used = {r.get("Id") for r in rels}
                rid = next(f"rId{n}" for n in count(1) if f"rId{n}" not in used)
                rel = etree.SubElement(root, f"{{{rel_ns}}}Relationship")
                rel.set("Id", rid)
                rel.set("Type", rel_type)
                rel.set("Target", "docProps/custom.xml")
                data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
            dst.writestr(item, data)
        dst.writestr("docProps/custom.xml", custom_xml)
    return out.getvalue()


# --------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------


def _scoping(
    values: Mapping[str, Any],
    identifiers: Mapping[str, Any] | None,
    partnership_name: str,
    marking: str,
    properties: Mapping[str, str] | None,
) -> bytes:
    title = f"{partnership_name}: CSPR initial scoping template"
    doc = _new_document(
        title, partnership_name, marking, "Child Safeguarding Practice Review scoping"
    )
    doc.add_heading(partnership_name, level=0)
    doc.add_heading("Child Safeguarding Practice Review: initial scoping template", level=1)
    for text in _SCOPING_GUIDANCE:
        doc.add_paragraph(text)
    ids = count(2000)
    for heading, rows in SCOPING_LAYOUT:
        doc.add_heading(heading, level=2)
        if rows:
            _label_table(doc, rows, values, ids)
        elif heading.startswith("2."):
            doc.add_paragraph(_IDENTIFIERS_NOTE)
            _label_table(doc, IDENTIFIERS_LAYOUT, _identifier_values(identifiers), ids)
        else:
            # As for the household: the heading labels the table, so the note comes after it.
            _list_table(doc, CHRONOLOGY_COLUMNS, values.get("chronology") or [], _CHRONOLOGY_ROWS)
            _note(doc, _CHRONOLOGY_NOTE)
    data = _save(doc)
    return add_custom_properties(data, properties) if properties else data


def _identifier_values(identifiers: Mapping[str, Any] | None) -> dict[str, str]:
    """The child's block as text: the address with its postcode, the date of birth dd/mm/yyyy."""
    if not identifiers:
        return {}
    out: dict[str, str] = {}
    for key, _label in IDENTIFIERS_LAYOUT:
        value = identifiers.get(key)
        if value:
            out[key] = _display(key, value)
    postcode = str(identifiers.get("child_postcode") or "").strip()
    address = out.get("child_address", "")
    if postcode and postcode.replace(" ", "").upper() not in address.replace(" ", "").upper():
        out["child_address"] = f"{address}\n{postcode}" if address else postcode
    return out


def _new_document(title: str, partnership_name: str, marking: str, subject: str) -> DocumentObject:
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2))
    section.header_distance = section.footer_distance = Cm(1)
    normal = doc.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(11)
    props = doc.core_properties
    props.title = title
    props.subject = subject
    props.author = partnership_name
    props.last_modified_by = partnership_name
    props.comments = f"{marking} when completed." if marking else ""
    props.keywords = "CSPR; Child Safeguarding Practice Review"
    props.category = marking
    if marking:
        header = section.header.paragraphs[0]
        header.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = header.add_run(marking)
        run.bold = True
        run.font.size = Pt(12)
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run(f"{title}    Page ")
    _field(footer, "PAGE", "1")
    footer.add_run(" of ")
    _field(footer, "NUMPAGES", "1")
    for run in footer.runs:
        run.font.size = Pt(9)
    return doc


def _field(paragraph: Paragraph, instruction: str, shown: str) -> None:
    """A Word field (PAGE, NUMPAGES) as begin / instruction / separate / result / end runs."""
    parts: list[tuple[str, str | None]] = [
        ("begin", None),
        ("instr", f" {instruction} "),
        ("separate", None),
        ("text", shown),
        ("end", None),
    ]
    for kind, text in parts:
        run = paragraph.add_run()
        if kind == "instr":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = text
            run._r.append(instr)
        elif kind == "text":
            run.text = text or ""
        else:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            run._r.append(char)


def _save(doc: DocumentObject) -> bytes:
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _note(doc: DocumentObject, text: str) -> None:
    paragraph = doc.add_paragraph()
    run = paragraph.add_run(text)
    run.italic = True
    run.font.size = Pt(9.5)


def _label_table(
    doc: DocumentObject,
    rows: Sequence[tuple[str, str]],
    values: Mapping[str, Any],
    ids: count[int],
) -> Table:
    table: Table = doc.add_table(rows=len(rows), cols=2)
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for row, (key, label) in zip(table.rows, rows, strict=True):
        label_cell, value_cell = row.cells
        label_cell.width, value_cell.width = _LABEL_WIDTH, _VALUE_WIDTH
        label_cell.text = label
        label_cell.paragraphs[0].runs[0].bold = True
        _shade(label_cell, _LABEL_SHADE)
        if key in _TALL:
            row.height = Cm(_TALL[key])
            row.height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
        value = values.get(key)
        if key in _OPTIONS:
            _checkbox_options(value_cell, _OPTIONS[key], value, ids)
        elif value is not None:
            value_cell.text = _display(key, value)
    return table


def _list_table(
    doc: DocumentObject,
    columns: Sequence[tuple[str, str]],
    entries: Sequence[Mapping[str, Any]],
    minimum_rows: int,
) -> Table:
    """A header row of column names over rows of entries, with empty rows to write in."""
    count_rows = max(minimum_rows, len(entries) + 1)
    table: Table = doc.add_table(rows=count_rows + 1, cols=len(columns))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _repeat_as_header(table.rows[0]._tr)
    for cell, (_key, text) in zip(table.rows[0].cells, columns, strict=True):
        cell.text = text
        cell.paragraphs[0].runs[0].bold = True
        _shade(cell, _LABEL_SHADE)
    for row in table.rows[1:]:
        row.height = Cm(0.9)
        row.height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
    for row, entry in zip(table.rows[1:], entries, strict=False):
        for cell, (key, _text) in zip(row.cells, columns, strict=True):
            value = entry.get(key)
            if value:
                cell.text = _display("child_dob" if key in {"dob", "date"} else key, value)
    return table


def _repeat_as_header(tr: Any) -> None:
    """The header row repeats on every page the table runs over."""
    pr = tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    pr.append(header)


def _all_tables(doc: DocumentObject) -> list[Table]:
    out: list[Table] = []
    stack = list(doc.tables)
    while stack:
        table = stack.pop(0)
        out.append(table)
        for row in table.rows:
            for cell in _distinct_cells(row.cells):
                stack.extend(cell.tables)
    return out


def _distinct_cells(cells: Sequence[_Cell]) -> list[_Cell]:
    """A row's cells with a merged cell once (python-docx repeats it for each grid column)."""
    out: list[_Cell] = []
    for cell in cells:
        if not out or cell._tc is not out[-1]._tc:
            out.append(cell)
    return out


def _display(key: str, value: Any) -> str:
    if key in DATE_FIELDS:
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:
            return str(value)  # already as a person wrote it
        return day.strftime("%d/%m/%Y")
    return str(value)


def _shade(cell: _Cell, fill: str) -> None:
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    cell._tc.get_or_add_tcPr().append(shd)


def _checkbox_options(
    cell: _Cell, options: Sequence[tuple[Any, str]], value: Any, ids: count[int]
) -> None:
    """Clickable checkboxes (content controls) with the option's words after each.

    Up to ``_OPTIONS_PER_LINE`` options share a line; more get one line each.
    """
    one_per_line = len(options) > _OPTIONS_PER_LINE
    paragraph = cell.paragraphs[0]
    for index, (option, words) in enumerate(options):
        if one_per_line and index:
            paragraph = cell.add_paragraph()
        paragraph._p.append(checkbox_sdt(value is not None and value == option, next(ids)))
        last = one_per_line or index == len(options) - 1
        run = paragraph.add_run(f" {words}" + ("" if last else "    "))
        run.font.color.rgb = RGBColor(0, 0, 0)


def checkbox_sdt(checked: bool, sdt_id: int) -> Any:
    """A Word 2010 content-control checkbox (w14:checkbox) showing ☒ or ☐."""
    sdt = OxmlElement("w:sdt")
    pr = OxmlElement("w:sdtPr")
    rpr = OxmlElement("w:rPr")
    rpr.append(_gothic())
    pr.append(rpr)
    ident = OxmlElement("w:id")
    ident.set(qn("w:val"), str(sdt_id))
    pr.append(ident)
    box = etree.SubElement(pr, f"{{{W14}}}checkbox")
    etree.SubElement(box, f"{{{W14}}}checked").set(f"{{{W14}}}val", "1" if checked else "0")
    for tag, code in (("checkedState", "2612"), ("uncheckedState", "2610")):
        state = etree.SubElement(box, f"{{{W14}}}{tag}")
        state.set(f"{{{W14}}}val", code)
        state.set(f"{{{W14}}}font", "MS Gothic")
    sdt.append(pr)
    content = OxmlElement("w:sdtContent")
    run = OxmlElement("w:r")
    run_pr = OxmlElement("w:rPr")
    run_pr.append(_gothic())
    run.append(run_pr)
    text = OxmlElement("w:t")
    text.text = CHECKED if checked else UNCHECKED
    run.append(text)
    content.append(run)
    sdt.append(content)
    return sdt


def _gothic() -> Any:
    fonts = OxmlElement("w:rFonts")
    for attr in ("w:ascii", "w:eastAsia", "w:hAnsi"):
        fonts.set(qn(attr), "MS Gothic")
    return fonts
