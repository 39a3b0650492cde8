"""Build the project's own forms (.docx bytes): the CSPR referral form and the scoping template.

Blank forms are what ``cspr-mailbot forms referral|scoping`` writes; the pre-filled scoping
template is what the bot attaches to a scoping request, with the case reference and agency both
typed in the form and embedded as custom document properties (``cspr_case_reference``,
``cspr_agency``) so a return is matched to its case however it comes back. ``filled_*`` type values
in, for the demo and the tests.
Everything here returns bytes; writing files is the caller's business.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from datetime import date
from itertools import count
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt, RGBColor
from docx.table import Table, _Cell
from lxml import etree

__all__ = [
    "DEFAULT_PARTNERSHIP",
    "blank_referral",
    "blank_scoping",
    "prefilled_scoping",
    "filled_referral",
    "filled_scoping",
    "add_custom_properties",
    "REFERRAL_LAYOUT",
    "SCOPING_LAYOUT",
]

DEFAULT_PARTNERSHIP = "Dudley Safeguarding People Partnership"

W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
CHECKED, UNCHECKED = "☒", "☐"

# The options of each choice field: (value, the words on the form).
_YES_NO: tuple[tuple[Any, str], ...] = ((True, "Yes"), (False, "No"))
_OPTIONS: dict[str, tuple[tuple[Any, str], ...]] = {
    "safeguarding_lead_consulted": _YES_NO,
    "looked_after": _YES_NO,
    "national_panel_notified": _YES_NO,
    "records_secured": _YES_NO,
    "incident_type": (("death", "Death"), ("serious_harm", "Serious harm")),
    "abuse_or_neglect": (
        ("known", "Known"),
        ("suspected", "Suspected"),
        ("no", "No"),
        ("unknown", "Unknown"),
    ),
}
_DATE_FIELDS = frozenset(
    {
        "child_dob",
        "incident_date",
        "la_aware_date",
        "notification_date",
        "involvement_from",
        "involvement_to",
    }
)

# (section heading, [(field, label on the form)]). Labels must stay in data/labels.toml.
Layout = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

REFERRAL_LAYOUT: Layout = (
    (
        "1. Details of the referrer",
        (
            ("referrer_name", "Referrer's name"),
            ("referrer_role", "Referrer's role / job title"),
            ("referrer_agency", "Referrer's agency"),
            ("referrer_email", "Referrer's email address"),
            ("referrer_phone", "Referrer's telephone number"),
            ("safeguarding_lead_consulted", "Have you consulted your safeguarding lead?"),
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
            ("looked_after", "Is the child looked after?"),
        ),
    ),
    (
        "3. The incident",
        (
            ("incident_date", "Date of the incident (dd/mm/yyyy)"),
            ("la_aware_date", "Date the local authority became aware (dd/mm/yyyy)"),
            ("incident_type", "Has the child died or been seriously harmed?"),
            ("incident_summary", "Brief summary of the incident"),
            ("abuse_or_neglect", "Is abuse or neglect known or suspected?"),
            ("national_panel_notified", "Has the National Panel been notified?"),
            ("notification_date", "Date of notification to the National Panel (dd/mm/yyyy)"),
        ),
    ),
    ("4. Agencies involved with the child and family", ()),
    (
        "5. Rationale",
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
    (
        "2. Your agency's involvement",
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
    "beside your answer.",
)

_SCOPING_GUIDANCE = (
    "Your agency has been identified as involved with the child or family named in a referral "
    "for a Child Safeguarding Practice Review. Please complete this template from your agency's "
    "records and reply to the email it came with, attaching the completed template.",
    "Please do not change the case reference: it tells us which case your return belongs to. Write "
    "dates as day/month/year. Tick a box by clicking it, or type X beside your answer.",
)

_AGENCY_ROWS = 6
_LABEL_SHADE = "E7EEF5"


# --------------------------------------------------------------------------------------------------
# Public builders
# --------------------------------------------------------------------------------------------------


def blank_referral(partnership_name: str = DEFAULT_PARTNERSHIP) -> bytes:
    """The blank CSPR referral form."""
    return filled_referral({}, partnership_name)


def blank_scoping(partnership_name: str = DEFAULT_PARTNERSHIP) -> bytes:
    """The blank initial scoping template (no case reference, no agency)."""
    return _scoping({}, partnership_name, properties=None)


def prefilled_scoping(
    reference: str,
    agency_name: str,
    partnership_name: str = DEFAULT_PARTNERSHIP,
    identifiers: Mapping[str, Any] | None = None,
) -> bytes:
    """The scoping template for one agency on one case: both typed in the form and embedded.

    ``identifiers`` (referral keys: ``child_name``, ``child_dob``, ``child_address``,
    ``child_postcode``, ``child_nhs_number``) are typed in a block of their own only when given:
    pass them for a trusted agency alone (SPEC 5).
    """
    merged = {"case_reference": reference, "agency_name": agency_name}
    properties = {"cspr_case_reference": reference, "cspr_agency": agency_name}
    return _scoping(merged, partnership_name, properties, identifiers)


def filled_referral(
    values: Mapping[str, Any], partnership_name: str = DEFAULT_PARTNERSHIP
) -> bytes:
    """The referral form with ``values`` (SPEC 4 keys and value types) typed in."""
    doc = _new_document(f"{partnership_name}: CSPR referral form")
    doc.add_heading(partnership_name, level=0)
    doc.add_heading("Child Safeguarding Practice Review: referral form", level=1)
    for text in _REFERRAL_GUIDANCE:
        doc.add_paragraph(text)
    ids = count(1000)
    for heading, rows in REFERRAL_LAYOUT:
        doc.add_heading(heading, level=2)
        if rows:
            _label_table(doc, rows, values, ids)
        else:
            _agencies_table(doc, values.get("agencies_involved") or [])
    return _save(doc)


def filled_scoping(
    values: Mapping[str, Any],
    reference: str,
    agency_name: str,
    partnership_name: str = DEFAULT_PARTNERSHIP,
) -> bytes:
    """The scoping template for ``reference`` / ``agency_name`` with ``values`` typed in."""
    merged = {**values, "case_reference": reference, "agency_name": agency_name}
    properties = {"cspr_case_reference": reference, "cspr_agency": agency_name}
    return _scoping(merged, partnership_name, properties)


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


# The child's identifiers on the scoping template (referral keys): typed in for a trusted agency
# only. These are not scoping fields: the reader leaves them alone.
IDENTIFIERS_LAYOUT: tuple[tuple[str, str], ...] = (
    ("child_name", "Child's full name"),
    ("child_dob", "Child's date of birth"),
    ("child_address", "Child's address"),
    ("child_nhs_number", "Child's NHS number"),
)


def _identifier_values(identifiers: Mapping[str, Any]) -> dict[str, str]:
    """The child's block as text: the address with its postcode, the date of birth dd/mm/yyyy."""
    out: dict[str, str] = {}
    for key, _label in IDENTIFIERS_LAYOUT:
        value = identifiers.get(key)
        if value:
            out[key] = str(value)  # typed in by _label_table, the date of birth as dd/mm/yyyy
    postcode = str(identifiers.get("child_postcode") or "").strip()
    address = out.get("child_address", "")
    if postcode and postcode.replace(" ", "").upper() not in address.replace(" ", "").upper():
        out["child_address"] = f"{address}\n{postcode}" if address else postcode
    return out


def _scoping(
    values: Mapping[str, Any],
    partnership_name: str,
    properties: Mapping[str, str] | None,
    identifiers: Mapping[str, Any] | None = None,
) -> bytes:
    doc = _new_document(f"{partnership_name}: CSPR initial scoping template")
    doc.add_heading(partnership_name, level=0)
    doc.add_heading("Child Safeguarding Practice Review: initial scoping template", level=1)
    for text in _SCOPING_GUIDANCE:
        doc.add_paragraph(text)
    ids = count(2000)
    for heading, rows in SCOPING_LAYOUT:
        doc.add_heading(heading, level=2)
        _label_table(doc, rows, values, ids)
    if identifiers:
        doc.add_heading("The child (sent to your agency over secure email)", level=2)
        _label_table(doc, IDENTIFIERS_LAYOUT, _identifier_values(identifiers), ids)
    data = _save(doc)
    return add_custom_properties(data, properties) if properties else data


def _new_document(title: str) -> DocumentObject:
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2))
    normal = doc.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(11)
    doc.core_properties.title = title
    doc.core_properties.author = "cspr-mailbot"
    return doc


def _save(doc: DocumentObject) -> bytes:
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _label_table(
    doc: DocumentObject,
    rows: Sequence[tuple[str, str]],
    values: Mapping[str, Any],
    ids: count[int],
) -> Table:
    table = doc.add_table(rows=len(rows), cols=2)
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for row, (key, label) in zip(table.rows, rows, strict=True):
        label_cell, value_cell = row.cells
        label_cell.width, value_cell.width = Cm(6.5), Cm(10.5)
        label_cell.text = label
        label_cell.paragraphs[0].runs[0].bold = True
        _shade(label_cell, _LABEL_SHADE)
        value = values.get(key)
        if key in _OPTIONS:
            _checkbox_options(value_cell, _OPTIONS[key], value, ids)
        elif value is not None:
            value_cell.text = _display(key, value)
    return table


def _agencies_table(doc: DocumentObject, agencies: Sequence[Mapping[str, Any]]) -> Table:
    doc.add_paragraph(
        "List every agency involved with the child or family, with a contact and their email "
        "address if you know them."
    )
    count_rows = max(_AGENCY_ROWS, len(agencies) + 1)
    table = doc.add_table(rows=count_rows + 1, cols=3)
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, ("Agency", "Contact name", "Email"), strict=True):
        cell.text = text
        cell.paragraphs[0].runs[0].bold = True
        _shade(cell, _LABEL_SHADE)
    for row, agency in zip(table.rows[1:], agencies, strict=False):
        for cell, key in zip(row.cells, ("name", "contact_name", "email"), strict=True):
            if agency.get(key):
                cell.text = str(agency[key])
    return table


def _display(key: str, value: Any) -> str:
    if key in _DATE_FIELDS:
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:  # not an ISO date (a date of birth as the referral gave it): as given
            return str(value)
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
    """Clickable checkboxes (content controls) with the option's words after each."""
    paragraph = cell.paragraphs[0]
    for index, (option, words) in enumerate(options):
        paragraph._p.append(checkbox_sdt(value is not None and value == option, next(ids)))
        run = paragraph.add_run(f" {words}" + ("" if index == len(options) - 1 else "    "))
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
