"""Write the Rapid Review pack (``core.pack.Pack``) as a .docx with python-docx.

One job: lay out a pack that ``core.pack.build_pack`` has already decided. A title with the reference, the
protective marking in the header, "Page N of M" in the footer, then: the referral, the screening, the
deadlines, each agency's return as a label/value table, the agencies that have not returned, the integrated
chronology as one table (date, agency, what happened, what the agency did; an entry another agency also
gives is shaded and says "also given by ..."), and the SIN draft when the pack carries one. The core
properties name the partnership. The pack names the child: it goes to the coordinators only.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Length, Mm, Pt
from docx.table import Table

from ..core.pack import ChronologyEntry, Field, Pack
from ..core.workdays import format_date

__all__ = ["DOCX_TYPE", "pack_docx", "pack_filename"]

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_LABEL_SHADE = "E7E6E6"
_DUPLICATE_SHADE = "FFF2CC"
_RESULT_WORDS = {"met": "Met", "not_met": "Not met", "unclear": "Unclear"}


def pack_filename(pack: Pack) -> str:
    """A file name for the pack: the reference, never the child's name."""
    return f"{pack.reference} Rapid Review pack.docx"


def pack_docx(pack: Pack, *, marking: str = "OFFICIAL-SENSITIVE") -> bytes:
    """The pack as .docx bytes. Built the same way for the same pack (the dates come from the pack)."""
    doc = Document()
    _page_setup(doc, marking)
    _properties(doc, pack, marking)

    doc.add_heading(pack.title, level=0)
    doc.add_paragraph(
        f"{pack.partnership}. Built on {format_date(pack.built_on)}. Case status: {pack.status}. "
        "For the coordinators only: this pack names the child."
    )
    total = len(pack.returns) + len(pack.outstanding)
    summary = f"Returns in: {len(pack.returns)} of {total}."
    if pack.outstanding:
        summary += " Not returned: " + ", ".join(o.agency for o in pack.outstanding) + "."
    doc.add_paragraph(summary)

    doc.add_heading("1. The referral", level=1)
    _label_table(doc, pack.referral)

    doc.add_heading("2. Screening", level=1)
    result = _RESULT_WORDS.get(pack.screening_result, pack.screening_result)
    doc.add_paragraph().add_run(f"Criteria for a CSPR: {result}").bold = True
    for reason in pack.screening_reasons:
        doc.add_paragraph(reason, style="List Bullet")
    if pack.looked_after_death:
        doc.add_paragraph(
            "A looked-after child has died: the Secretary of State and Ofsted must be notified too, "
            "whether or not abuse or neglect is known or suspected."
        )

    doc.add_heading("3. Deadlines", level=1)
    rows = [
        (
            d.label + (" (provisional)" if d.provisional else ""),
            format_date(d.due),
            d.state,
        )
        for d in pack.deadlines
    ]
    _grid(doc, ("Deadline", "Due", "Status"), rows, (Cm(7), Cm(4), Cm(6)))

    doc.add_heading("4. The agencies' returns", level=1)
    if not pack.returns:
        doc.add_paragraph("No agency has returned its scoping template yet.")
    for n, ret in enumerate(pack.returns, start=1):
        when = f" (returned {format_date(ret.returned_on)})" if ret.returned_on else ""
        doc.add_heading(f"4.{n} {ret.agency}{when}", level=2)
        _label_table(doc, ret.fields)
        count = len(ret.chronology)
        doc.add_paragraph(
            f"Chronology: {count} entr{'y' if count == 1 else 'ies'}, all in the integrated "
            "chronology (section 6)."
            if count
            else "Chronology: no entries given."
        )

    doc.add_heading("5. Agencies that have not returned", level=1)
    if pack.outstanding:
        _grid(
            doc,
            ("Agency", "Requested", "Due", "Chasers sent"),
            [
                (
                    o.agency,
                    format_date(o.requested_on) if o.requested_on else "not requested yet",
                    format_date(o.due) if o.due else "",
                    str(o.chasers_sent),
                )
                for o in pack.outstanding
            ],
            (Cm(7), Cm(3.7), Cm(3.7), Cm(2.6)),
        )
    else:
        doc.add_paragraph("Every agency on the case has returned.")

    doc.add_heading("6. Integrated multi-agency chronology", level=1)
    doc.add_paragraph(
        "Every entry of every return, in date order; entries whose date could not be read come last, "
        "as written. A shaded entry is given by more than one agency for the same date and event."
    )
    _chronology(doc, pack.chronology)

    if pack.sin_draft:
        doc.add_heading("7. Draft National Panel notification (SIN)", level=1)
        for line in pack.sin_draft.rstrip("\n").split("\n"):
            paragraph = doc.add_paragraph()
            paragraph.paragraph_format.space_after = Pt(0)
            run = paragraph.add_run(line)
            if line[:2] in {"1.", "2.", "3.", "4."} or line.startswith("DRAFT"):
                run.bold = True

    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# -- layout ------------------------------------------------------------------------------------------


def _page_setup(doc: Any, marking: str) -> None:
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2))
    normal = doc.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(10)
    header = section.header.paragraphs[0]
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    header.add_run(marking).bold = True
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run(f"{marking}    Page ")
    _field(footer, "PAGE")
    footer.add_run(" of ")
    _field(footer, "NUMPAGES")


def _field(paragraph: Any, instruction: str) -> None:
    """A Word field (PAGE, NUMPAGES) that Word fills in when it lays out the pages."""
    run = paragraph.add_run()
    for kind, text in (("begin", None), ("instr", instruction), ("separate", None), ("end", None)):
        if kind == "instr":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = f" {text} "
            run._r.append(instr)
            continue
        char = OxmlElement("w:fldChar")
        char.set(qn("w:fldCharType"), kind)
        run._r.append(char)
        if kind == "separate":
            placeholder = OxmlElement("w:t")
            placeholder.text = "1"
            run._r.append(placeholder)


def _properties(doc: Any, pack: Pack, marking: str) -> None:
    props = doc.core_properties
    props.title = pack.title
    props.subject = f"Child Safeguarding Practice Review: {pack.reference}"
    props.author = pack.partnership
    props.last_modified_by = pack.partnership
    props.keywords = f"{pack.reference}; Rapid Review"
    props.category = marking
    props.comments = f"Built by cspr-mailbot for {pack.partnership}. {marking}."
    stamp = datetime.combine(pack.built_on, time(0, 0), tzinfo=UTC)
    props.created = stamp
    props.modified = stamp
    props.revision = 1


@dataclass(frozen=True)
class _Cell:
    """One table cell to write: its text (lines split on newlines) and how it looks."""

    text: str
    bold: bool = False
    fill: str | None = None
    note: str = ""  # a second paragraph, in italics


# The tables are written as WordprocessingML directly: python-docx's cell API looks each cell up with
# XPath, which for the chronology's 400 rows is most of the pack's time (bench/pack.py).


def _w(tag: str, parent: Any = None, **attrs: str) -> Any:
    element = OxmlElement(f"w:{tag}")
    for name, value in attrs.items():
        element.set(qn(f"w:{name}"), value)
    if parent is not None:
        parent.append(element)
    return element


def _paragraph(tc: Any, text: str, *, bold: bool = False, italic: bool = False) -> None:
    run = _w("r", _w("p", tc))
    if bold or italic:
        rpr = _w("rPr", run)
        if bold:
            _w("b", rpr)
        if italic:
            _w("i", rpr)
    for index, line in enumerate(text.split("\n")):
        if index:
            _w("br", run)
        t = _w("t", run)
        t.set(qn("xml:space"), "preserve")
        t.text = line


def _tr(cells: Sequence[_Cell], twips: Sequence[int], *, header: bool = False) -> Any:
    tr = _w("tr")
    pr = _w("trPr", tr)
    _w("cantSplit", pr)  # a row stays on one page
    if header:
        _w("tblHeader", pr, val="true")  # and the header row repeats on every page
    for cell, width in zip(cells, twips, strict=True):
        tc = _w("tc", tr)
        tc_pr = _w("tcPr", tc)
        _w("tcW", tc_pr, w=str(width), type="dxa")
        if cell.fill:
            _w("shd", tc_pr, val="clear", color="auto", fill=cell.fill)
        _paragraph(tc, cell.text, bold=cell.bold)
        if cell.note:
            _paragraph(tc, cell.note, italic=True)
    return tr


def _table(
    doc: Any, widths: Sequence[Any], rows: Sequence[Sequence[_Cell]], head: Sequence[str] = ()
) -> Table:
    """A bordered table of fixed column widths (Word reads them from the cells, LibreOffice from the
    grid), with an optional header row that repeats on each page."""
    table: Table = doc.add_table(rows=0, cols=len(widths))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    twips = [int(Length(w).twips) for w in widths]
    tbl = table._tbl
    if head:
        tbl.append(_tr([_Cell(h, bold=True, fill=_LABEL_SHADE) for h in head], twips, header=True))
    for row in rows:
        tbl.append(_tr(row, twips))
    return table


def _label_table(doc: Any, fields: Sequence[Field]) -> Table:
    rows = [
        (_Cell(f.label, bold=True, fill=_LABEL_SHADE), _Cell(f.value or "(not given)"))
        for f in fields
    ]
    return _table(doc, (Cm(6), Cm(11)), rows)


def _grid(
    doc: Any, heads: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[Any]
) -> Table:
    return _table(doc, widths, [[_Cell(text) for text in row] for row in rows], heads)


def _chronology(doc: Any, entries: Sequence[ChronologyEntry]) -> None:
    if not entries:
        doc.add_paragraph("No return has given any chronology entries yet.")
        return
    rows = []
    for e in entries:
        fill = _DUPLICATE_SHADE if e.also_given_by else None
        note = "also given by " + ", ".join(e.also_given_by) if e.also_given_by else ""
        rows.append(
            (
                _Cell(e.date_shown, fill=fill),
                _Cell(e.agency, fill=fill, note=note),
                _Cell(e.event, fill=fill),
                _Cell(e.action, fill=fill),
            )
        )
    _table(
        doc,
        (Cm(2.8), Cm(3.4), Cm(5.6), Cm(5.2)),
        rows,
        ("Date", "Agency", "What happened", "What the agency did"),
    )
