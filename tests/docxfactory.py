"""Build .docx bytes in every layout the form reader must handle (tests and the golden corpus).

A document is a list of blocks: ``para(...)``, ``heading(...)``, ``table(...)``. A paragraph or a
cell is made of pieces: plain strings, or the controls Word puts in real forms, written as raw XML
because python-docx has no API for them: ``Control`` (plain-text content control, or its
placeholder), ``DatePicker`` (with ``w:fullDate``), ``DropDown``, ``FormText`` / ``FormCheckbox``
/ ``FormDropDown`` (legacy form fields), ``W14Checkbox`` (content-control checkbox) and ``Symbol``
(a Wingdings box).

Short-hands build a whole form from ``{label: value}`` in one layout: ``two_column``,
``four_column``, ``paragraphs``, ``label_above``, ``columns_header``, ``content_controls``,
``legacy_fields``.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from lxml import etree

W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
PLACEHOLDER_TEXT = "Click or tap here to enter text."
PLACEHOLDER_DATE = "Click or tap to enter a date."
PLACEHOLDER_ITEM = "Choose an item."

_ids = count(5000)


# --------------------------------------------------------------------------------------------------
# Pieces
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    """A plain-text content control; ``text=None`` shows Word's placeholder."""

    text: str | None
    placeholder: str = PLACEHOLDER_TEXT
    placeholder_style: bool = True  # the placeholder run has the PlaceholderText style


@dataclass(frozen=True)
class DatePicker:
    """A date-picker content control. ``full_date`` is ISO; ``display`` what Word shows."""

    full_date: str | None
    display: str | None = None
    date_format: str = "dd/MM/yyyy"


@dataclass(frozen=True)
class DropDown:
    chosen: str | None
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormText:
    """A legacy FORMTEXT field; empty shows Word's five en spaces."""

    value: str = ""


@dataclass(frozen=True)
class FormCheckbox:
    """A legacy FORMCHECKBOX. ``checked=None`` leaves out w:checked so w:default decides."""

    checked: bool | None
    default: bool = False
    checked_without_val: bool = False  # <w:checked/> with no w:val means checked


@dataclass(frozen=True)
class FormDropDown:
    entries: tuple[str, ...]
    result: int | None = None


@dataclass(frozen=True)
class W14Checkbox:
    checked: bool
    shown: str | None = None  # the character shown (default matches the state)


@dataclass(frozen=True)
class Symbol:
    """A w:sym character, e.g. Wingdings F0FE (ticked box) or F0A8 (empty box)."""

    char: str
    font: str = "Wingdings"


@dataclass(frozen=True)
class Break:
    """A line break inside a paragraph."""


Piece = (
    str
    | Control
    | DatePicker
    | DropDown
    | FormText
    | FormCheckbox
    | FormDropDown
    | W14Checkbox
    | Symbol
    | Break
)


@dataclass(frozen=True)
class Lines:
    """A cell of several paragraphs, each a piece or a list of pieces."""

    paragraphs: tuple[Any, ...]


# --------------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Para:
    pieces: tuple[Any, ...]
    style: str | None = None


@dataclass(frozen=True)
class Table:
    rows: tuple[tuple[Any, ...], ...]
    in_control: bool = False  # wrap the whole table in a block-level content control
    merge_first_row: bool = False  # first row is one cell spanning all columns
    nested_in: str | None = None  # put this table inside a one-cell table with this label


@dataclass
class Doc:
    blocks: list[Para | Table] = field(default_factory=list)
    custom_properties: dict[str, str] = field(default_factory=dict)


def para(*pieces: Any, style: str | None = None) -> Para:
    return Para(tuple(pieces), style)


def heading(text: str, level: int = 2) -> Para:
    return Para((text,), f"Heading {level}")


def table(rows: Iterable[Sequence[Any]], **kw: Any) -> Table:
    return Table(tuple(tuple(r) for r in rows), **kw)


def build(*blocks: Para | Table, custom_properties: Mapping[str, str] | None = None) -> bytes:
    """The .docx bytes of ``blocks``."""
    doc = Document()
    for block in blocks:
        if isinstance(block, Para):
            p = doc.add_paragraph(style=block.style)
            _fill_paragraph(p._p, block.pieces)
        else:
            _add_table(doc, block)
    out = io.BytesIO()
    doc.save(out)
    data = out.getvalue()
    if custom_properties:
        from cspr_mailbot.formgen import add_custom_properties

        data = add_custom_properties(data, custom_properties)
    return data


def _add_table(doc: Any, spec: Table) -> None:
    width = max(len(r) for r in spec.rows)
    tbl = doc.add_table(rows=len(spec.rows), cols=width)
    tbl.style = doc.styles["Table Grid"]
    for r_index, (row, row_spec) in enumerate(zip(tbl.rows, spec.rows, strict=True)):
        cells = row.cells
        if spec.merge_first_row and r_index == 0 and width > 1:
            merged = cells[0].merge(cells[-1])
            _fill_cell(merged._tc, row_spec[0])
            continue
        for c_index, cell_spec in enumerate(row_spec):
            _fill_cell(cells[c_index]._tc, cell_spec)
    element = tbl._tbl
    if spec.in_control:
        sdt = OxmlElement("w:sdt")
        pr = OxmlElement("w:sdtPr")
        ident = OxmlElement("w:id")
        ident.set(qn("w:val"), str(next(_ids)))
        pr.append(ident)
        sdt.append(pr)
        content = OxmlElement("w:sdtContent")
        sdt.append(content)
        element.addprevious(sdt)
        content.append(element)
    if spec.nested_in is not None:
        outer = doc.add_table(rows=1, cols=2)
        label_tc, holder_tc = outer.rows[0].cells[0]._tc, outer.rows[0].cells[1]._tc
        _fill_cell(label_tc, spec.nested_in)
        target = sdt if spec.in_control else element
        holder_tc.insert(len(holder_tc) - 0, target)
        # A cell must end with a paragraph.
        holder_tc.append(OxmlElement("w:p"))


def _fill_cell(tc: Any, spec: Any) -> None:
    paragraphs = spec.paragraphs if isinstance(spec, Lines) else (spec,)
    first = tc.find(qn("w:p"))
    for index, pieces in enumerate(paragraphs):
        p = first if index == 0 else OxmlElement("w:p")
        if index:
            tc.append(p)
        _fill_paragraph(p, pieces if isinstance(pieces, list | tuple) else (pieces,))


# --------------------------------------------------------------------------------------------------
# Raw XML for the pieces
# --------------------------------------------------------------------------------------------------


def _run(text: str, *, style: str | None = None, font: str | None = None) -> Any:
    r = OxmlElement("w:r")
    if style or font:
        rpr = OxmlElement("w:rPr")
        if style:
            st = OxmlElement("w:rStyle")
            st.set(qn("w:val"), style)
            rpr.append(st)
        if font:
            fonts = OxmlElement("w:rFonts")
            fonts.set(qn("w:ascii"), font)
            fonts.set(qn("w:hAnsi"), font)
            rpr.append(fonts)
        r.append(rpr)
    parts = text.split("\t")
    for index, part in enumerate(parts):
        if index:
            r.append(OxmlElement("w:tab"))
        if part:
            t = OxmlElement("w:t")
            t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
            t.text = part
            r.append(t)
    return r


def _sdt(pr_children: Sequence[Any], content_runs: Sequence[Any]) -> Any:
    sdt = OxmlElement("w:sdt")
    pr = OxmlElement("w:sdtPr")
    ident = OxmlElement("w:id")
    ident.set(qn("w:val"), str(next(_ids)))
    pr.append(ident)
    for child in pr_children:
        pr.append(child)
    sdt.append(pr)
    content = OxmlElement("w:sdtContent")
    for run in content_runs:
        content.append(run)
    sdt.append(content)
    return sdt


def _el(tag: str, **attrs: str) -> Any:
    el = OxmlElement(tag)
    for key, value in attrs.items():
        el.set(qn(f"w:{key}"), value)
    return el


def _fld(kind: str, ff: Any = None) -> Any:
    r = OxmlElement("w:r")
    fc = _el("w:fldChar", fldCharType=kind)
    if ff is not None:
        fc.append(ff)
    r.append(fc)
    return r


def _instr(text: str) -> Any:
    r = OxmlElement("w:r")
    it = OxmlElement("w:instrText")
    it.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
    it.text = text
    r.append(it)
    return r


def _ff_data(name: str, *children: Any) -> Any:
    ff = OxmlElement("w:ffData")
    ff.append(_el("w:name", val=name))
    ff.append(OxmlElement("w:enabled"))
    ff.append(_el("w:calcOnExit", val="0"))
    for child in children:
        ff.append(child)
    return ff


def _fill_paragraph(p: Any, pieces: Sequence[Any]) -> None:
    for piece in pieces:
        for element in _piece(piece):
            p.append(element)


def _piece(piece: Any) -> list[Any]:
    if isinstance(piece, str):
        return [_run(piece)] if piece else []
    if isinstance(piece, Break):
        r = OxmlElement("w:r")
        r.append(OxmlElement("w:br"))
        return [r]
    if isinstance(piece, Control):
        if piece.text is None:
            style = "PlaceholderText" if piece.placeholder_style else None
            return [_sdt([OxmlElement("w:showingPlcHdr")], [_run(piece.placeholder, style=style)])]
        return [_sdt([OxmlElement("w:text")], [_run(piece.text)])]
    if isinstance(piece, DatePicker):
        date_el = OxmlElement("w:date")
        if piece.full_date:
            date_el.set(qn("w:fullDate"), f"{piece.full_date}T00:00:00Z")
        date_el.append(_el("w:dateFormat", val=piece.date_format))
        date_el.append(_el("w:lid", val="en-GB"))
        if piece.full_date is None:
            return [
                _sdt(
                    [OxmlElement("w:showingPlcHdr"), date_el],
                    [_run(PLACEHOLDER_DATE, style="PlaceholderText")],
                )
            ]
        return [_sdt([date_el], [_run(piece.display or piece.full_date)])]
    if isinstance(piece, DropDown):
        dd = OxmlElement("w:dropDownList")
        for item in piece.items:
            dd.append(_el("w:listItem", displayText=item, value=item))
        if piece.chosen is None:
            return [
                _sdt(
                    [OxmlElement("w:showingPlcHdr"), dd],
                    [_run(PLACEHOLDER_ITEM, style="PlaceholderText")],
                )
            ]
        return [_sdt([dd], [_run(piece.chosen)])]
    if isinstance(piece, FormText):
        ff = _ff_data(f"Text{next(_ids)}", OxmlElement("w:textInput"))
        shown = piece.value or "\u2002" * 5
        return [
            _fld("begin", ff),
            _instr(" FORMTEXT "),
            _fld("separate"),
            _run(shown),
            _fld("end"),
        ]
    if isinstance(piece, FormCheckbox):
        box = OxmlElement("w:checkBox")
        box.append(OxmlElement("w:sizeAuto"))
        box.append(_el("w:default", val="1" if piece.default else "0"))
        if piece.checked is not None:
            if piece.checked_without_val and piece.checked:
                box.append(OxmlElement("w:checked"))
            else:
                box.append(_el("w:checked", val="1" if piece.checked else "0"))
        ff = _ff_data(f"Check{next(_ids)}", box)
        return [_fld("begin", ff), _instr(" FORMCHECKBOX "), _fld("end")]
    if isinstance(piece, FormDropDown):
        dd = OxmlElement("w:ddList")
        if piece.result is not None:
            dd.append(_el("w:result", val=str(piece.result)))
        for entry in piece.entries:
            dd.append(_el("w:listEntry", val=entry))
        ff = _ff_data(f"Drop{next(_ids)}", dd)
        return [_fld("begin", ff), _instr(" FORMDROPDOWN "), _fld("end")]
    if isinstance(piece, W14Checkbox):
        box = etree.Element(f"{{{W14}}}checkbox")
        etree.SubElement(box, f"{{{W14}}}checked").set(
            f"{{{W14}}}val", "1" if piece.checked else "0"
        )
        for tag, code in (("checkedState", "2612"), ("uncheckedState", "2610")):
            state = etree.SubElement(box, f"{{{W14}}}{tag}")
            state.set(f"{{{W14}}}val", code)
            state.set(f"{{{W14}}}font", "MS Gothic")
        shown = piece.shown if piece.shown is not None else ("☒" if piece.checked else "☐")
        return [_sdt([box], [_run(shown, font="MS Gothic")])]
    if isinstance(piece, Symbol):
        r = OxmlElement("w:r")
        r.append(_el("w:sym", font=piece.font, char=piece.char))
        return [r]
    raise TypeError(f"not a piece: {piece!r}")


# --------------------------------------------------------------------------------------------------
# Whole forms in one layout, from {label: value}
# --------------------------------------------------------------------------------------------------

Pairs = Mapping[str, Any]


def two_column(pairs: Pairs, *extra: Para | Table, title: str = "CSPR referral form") -> bytes:
    """Label | value rows in one table."""
    return build(heading(title, 1), table([(k, v) for k, v in pairs.items()]), *extra)


def four_column(pairs: Pairs, *extra: Para | Table) -> bytes:
    """Label | value | label | value rows (an odd one out pads with empty cells)."""
    items = list(pairs.items())
    rows = []
    for i in range(0, len(items), 2):
        left = items[i]
        right = items[i + 1] if i + 1 < len(items) else ("", "")
        rows.append((left[0], left[1], right[0], right[1]))
    return build(heading("Referral", 1), table(rows), *extra)


def paragraphs(pairs: Pairs, *extra: Para | Table, next_line: bool = False) -> bytes:
    """``Label: value`` paragraphs, or ``Label:`` with the value in the next paragraph."""
    blocks: list[Para | Table] = [heading("CSPR referral", 1)]
    for label, value in pairs.items():
        values = value if isinstance(value, list | tuple) else (value,)
        if next_line:
            blocks.append(para(f"{label}:"))
            blocks.append(para(*values))
        else:
            blocks.append(para(f"{label}: ", *values))
    return build(*blocks, *extra)


def label_above(pairs: Pairs) -> bytes:
    """Each label in a full-width row with its value in the full-width row below."""
    rows: list[tuple[Any, ...]] = []
    for label, value in pairs.items():
        rows.append((label,))
        rows.append((value,))
    return build(heading("Referral", 1), table(rows))


def columns_header(pairs: Pairs) -> bytes:
    """One row of labels over one row of values."""
    return build(table([tuple(pairs.keys()), tuple(pairs.values())]))


def content_controls(pairs: Pairs) -> bytes:
    """Label | content control rows: strings become plain-text controls, None a placeholder."""
    rows = []
    for label, value in pairs.items():
        if value is None:
            rows.append((label, Control(None)))
        elif isinstance(value, str):
            rows.append((label, Control(value)))
        else:
            rows.append((label, value))
    return build(table(rows))


def legacy_fields(pairs: Pairs) -> bytes:
    """Label | legacy form field rows: strings become FORMTEXT fields."""
    rows = []
    for label, value in pairs.items():
        rows.append((label, FormText(value) if isinstance(value, str) else value))
    return build(table(rows))


def agencies_table(
    agencies: Sequence[Sequence[str]],
    header: Sequence[str] = ("Agency", "Contact name", "Email"),
    blank_rows: int = 2,
) -> Table:
    """An agencies table block: a header row, one row per agency, then empty rows."""
    width = len(header)
    rows = [tuple(header), *(tuple(a) for a in agencies)]
    rows += [("",) * width] * blank_rows
    return table(rows)


def w14_options(options: Sequence[str], checked: Iterable[str]) -> list[Any]:
    """Pieces for "☐ Death ☒ Serious harm" made of content-control checkboxes."""
    ticked = set(checked)
    pieces: list[Any] = []
    for option in options:
        pieces += [W14Checkbox(option in ticked), f" {option}   "]
    return pieces


def legacy_options(options: Sequence[str], checked: Iterable[str]) -> list[Any]:
    """Pieces for options with legacy FORMCHECKBOX fields before each."""
    ticked = set(checked)
    pieces: list[Any] = []
    for option in options:
        pieces += [FormCheckbox(option in ticked), f" {option}   "]
    return pieces


def cfb(names: Sequence[str]) -> bytes:
    """A minimal OLE compound file (CFB v3, 512-byte sectors) whose directory holds ``names``:
    with "EncryptedPackage" it is what Word makes of a password-protected .docx.

    Sector 0 is the FAT, sectors 1..k the directory chain; streams are empty.
    """
    entries = ["Root Entry", *names]
    dir_sectors = (len(entries) + 3) // 4
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the OLE (CFB) magic
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<I", header, 0x2C, 1)  # one FAT sector
    struct.pack_into("<I", header, 0x30, 1)  # the directory starts at sector 1
    struct.pack_into("<I", header, 0x38, 0x1000)
    struct.pack_into("<IIII", header, 0x3C, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
    struct.pack_into("<109I", header, 0x4C, 0, *([0xFFFFFFFF] * 108))
    fat = [0xFFFFFFFD] + [i + 2 for i in range(dir_sectors - 1)] + [0xFFFFFFFE]
    fat += [0xFFFFFFFF] * (128 - len(fat))
    directory = bytearray(dir_sectors * 512)
    for i, name in enumerate(entries):
        entry = bytearray(128)
        encoded = name.encode("utf-16-le")
        entry[: len(encoded)] = encoded
        struct.pack_into("<HBB", entry, 0x40, len(encoded) + 2, 5 if i == 0 else 2, 1)
        sibling = i + 1 if 0 < i < len(entries) - 1 else 0xFFFFFFFF
        child = 1 if i == 0 and len(entries) > 1 else 0xFFFFFFFF
        struct.pack_into("<III", entry, 0x44, 0xFFFFFFFF, sibling, child)
        struct.pack_into("<IQ", entry, 0x74, 0xFFFFFFFE, 0)
        directory[i * 128 : (i + 1) * 128] = entry
    return bytes(header) + struct.pack("<128I", *fat) + bytes(directory)
