"""Walk a .docx body's XML into paragraphs and table rows of visible text.

Our own lxml walker, not python-docx's ``.text``: it sees inside content controls (and leaves
their placeholder text out), reads legacy form fields (checkboxes, drop-downs), w14 and Symbol-font
checkboxes (as ☒/☐), date pickers, and skips deleted, moved-from and field-instruction text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from lxml import etree

__all__ = ["CHECKED", "UNCHECKED", "Para", "Row", "TableEnd", "Block", "blocks", "w"]

CHECKED = "☒"
UNCHECKED = "☐"

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"


def w(tag: str) -> str:
    """A WordprocessingML tag in Clark notation."""
    return f"{{{W}}}{tag}"


_T, _P, _R, _TBL, _TR, _TC = w("t"), w("p"), w("r"), w("tbl"), w("tr"), w("tc")
_SDT, _SDT_CONTENT, _SDT_PR = w("sdt"), w("sdtContent"), w("sdtPr")
_VAL = w("val")
_RPR, _RSTYLE, _RFONTS, _ASCII, _HANSI = w("rPr"), w("rStyle"), w("rFonts"), w("ascii"), w("hAnsi")
_SHOWING_PLACEHOLDER = w("showingPlcHdr")
_WRAPPERS = frozenset({w("customXml"), w("smartTag")})  # looked through to the blocks inside
_HEADING_STYLE = f"{w('pPr')}/{w('pStyle')}"
_VMERGE = f"{w('tcPr')}/{w('vMerge')}"
_SKIP_TAGS = frozenset(
    {
        w("del"),
        w("moveFrom"),
        w("instrText"),
        w("delText"),
        w("drawing"),
        w("pict"),
        w("object"),
        w("rPr"),
        w("pPr"),
        w("tblPr"),
        w("trPr"),
        w("tcPr"),
        w("sectPr"),
        w("tblGrid"),
        w("fldData"),
        f"{{{MC}}}AlternateContent",
    }
)
# Elements that stand for one character of text.
_CHAR_TAGS = {
    w("tab"): "\t",
    w("ptab"): "\t",
    w("br"): "\n",
    w("cr"): "\n",
    w("noBreakHyphen"): "-",
}
# Symbol-font characters Word uses for ticked and empty boxes.
_SYMBOL_MARKS = {
    "F0FE": CHECKED,
    "F0FD": CHECKED,
    "F078": CHECKED,
    "F0FB": CHECKED,
    "F0A8": UNCHECKED,
    "F06F": UNCHECKED,
    "F071": UNCHECKED,
}
_WINGDINGS_TEXT = {"þ": CHECKED, "ý": CHECKED, "x": CHECKED, "¨": UNCHECKED, "o": UNCHECKED}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _on(el: etree._Element | None, attr: str = _VAL) -> bool:
    """A WordprocessingML on/off element: present without val means on."""
    if el is None:
        return False
    value = el.get(attr)
    return value is None or value.lower() in {"1", "true", "on"}


@dataclass
class Para:
    text: str
    heading: bool = False


@dataclass
class Row:
    cells: list[str]


@dataclass
class TableEnd:
    pass


Block = Para | Row | TableEnd


class _TextWalker:
    """The visible text of a paragraph, with checkboxes as ☒/☐ and placeholders left out."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.in_instruction = False

    def walk(self, el: etree._Element) -> None:
        for child in el:
            tag = child.tag
            if not isinstance(tag, str) or tag in _SKIP_TAGS:
                continue
            if tag == _T:
                if not self.in_instruction and child.text:
                    self.out.append(child.text)
            elif tag in _CHAR_TAGS:
                self.out.append(_CHAR_TAGS[tag])
            else:
                _HANDLERS.get(tag, _TextWalker.walk)(self, child)

    def _run(self, run: etree._Element) -> None:
        rpr = run.find(_RPR)
        if rpr is not None:
            style = rpr.find(_RSTYLE)
            if style is not None and (style.get(_VAL) or "").lower() == "placeholdertext":
                return
            if _font(rpr).lower().startswith("wingdings"):
                for t in run.iter(_T):
                    self.out.append("".join(_WINGDINGS_TEXT.get(c, "") for c in t.text or ""))
                return
        self.walk(run)

    def _sym(self, el: etree._Element) -> None:
        self.out.append(_SYMBOL_MARKS.get((el.get(w("char")) or "").upper(), ""))

    def _fld_char(self, el: etree._Element) -> None:
        kind = el.get(w("fldCharType"))
        if kind == "begin":
            self.in_instruction = True
            ff = el.find(w("ffData"))
            if ff is not None:
                self.out.append(_form_field_text(ff))
        elif kind in {"separate", "end"}:
            self.in_instruction = False

    def _sdt(self, sdt: etree._Element) -> None:
        pr = sdt.find(_SDT_PR)
        if pr is not None:
            shown = _sdt_properties_text(pr)
            if shown is not None:
                self.out.append(shown)
                return
        content = sdt.find(_SDT_CONTENT)
        if content is not None:
            self.walk(content)

    def text(self) -> str:
        return "".join(self.out)


_HANDLERS: dict[str, Callable[[_TextWalker, etree._Element], None]] = {
    _R: _TextWalker._run,
    _SDT: _TextWalker._sdt,
    w("sym"): _TextWalker._sym,
    w("fldChar"): _TextWalker._fld_char,
}


def _font(rpr: etree._Element) -> str:
    fonts = rpr.find(_RFONTS)
    if fonts is None:
        return ""
    return fonts.get(_ASCII) or fonts.get(_HANSI) or ""


def _form_field_text(ff: etree._Element) -> str:
    """A legacy form field's answer: its checkbox as ☒/☐, its drop-down's chosen entry, or ""."""
    box = ff.find(w("checkBox"))
    if box is not None:
        checked = box.find(w("checked"))
        state = _on(checked) if checked is not None else _on(box.find(w("default")))
        return CHECKED if state else UNCHECKED
    dd = ff.find(w("ddList"))
    if dd is None:
        return ""
    entries = [e.get(_VAL) or "" for e in dd.findall(w("listEntry"))]
    chosen = dd.find(w("result"))
    if chosen is None:
        chosen = dd.find(w("default"))
    index = int(chosen.get(_VAL) or 0) if chosen is not None else 0
    return entries[index] if 0 <= index < len(entries) else ""


def _sdt_properties_text(pr: etree._Element) -> str | None:
    """What a content control shows when its properties decide it, or None to read its content.

    A checkbox is ☒/☐, a placeholder showing is nothing, a date picker is its picked date in ISO
    form (whatever format it displays in).
    """
    box = pr.find(f"{{{W14}}}checkbox")
    if box is not None:
        checked = box.find(f"{{{W14}}}checked")
        state = checked is not None and _on(checked, f"{{{W14}}}val")
        return CHECKED if state else UNCHECKED
    if pr.find(_SHOWING_PLACEHOLDER) is not None:
        return ""
    picker = pr.find(w("date"))
    full: str | None = picker.get(w("fullDate")) if picker is not None else None
    if full and _ISO_DATE.match(full):
        return full[:10]
    return None


def _para_text(p: etree._Element) -> str:
    walker = _TextWalker()
    walker.walk(p)
    return walker.text()


def _is_heading(p: etree._Element) -> bool:
    return _heading_name(p.find(_HEADING_STYLE))


def _heading_name(style: etree._Element | None) -> bool:
    name = (style.get(_VAL) or "").lower() if style is not None else ""
    return name.startswith("heading") or name in {"title", "subtitle"}


def _is_merged_continuation(tc: etree._Element) -> bool:
    return _continues(tc.find(_VMERGE))


def _continues(vmerge: etree._Element | None) -> bool:
    return vmerge is not None and (vmerge.get(_VAL) or "continue") == "continue"


class _Walk:
    """What a block needs from its element, found by walking it (``find`` and ``_TextWalker``)."""

    def children(self, el: etree._Element) -> Iterable[etree._Element]:
        return _children(el)

    def text(self, p: etree._Element) -> str:
        return _para_text(p)

    def heading(self, p: etree._Element) -> bool:
        return _is_heading(p)

    def merged(self, tc: etree._Element) -> bool:
        return _is_merged_continuation(tc)


_PSTYLE, _PPR, _VMERGE_TAG, _TCPR = w("pStyle"), w("pPr"), w("vMerge"), w("tcPr")
_SPECIAL = (w("fldChar"), w("sym"))  # a paragraph holding one is walked (and one holding an sdt)
# Every element the index looks at, found in one pass of lxml's C iterator.
_INDEXED = (_T, *_CHAR_TAGS, _SDT, *_WRAPPERS, *_SPECIAL, _RSTYLE, _RFONTS, _PSTYLE, _VMERGE_TAG)
# The paragraphs inside a paragraph (in a text box, or in odd XML): one location path, which
# libxml2 walks without the node set per paragraph that a predicate ([.//w:p]) costs.
_NESTED_PARAGRAPHS = etree.XPath("descendant-or-self::w:p//w:p", namespaces={"w": W})


def _holding_paragraphs(container: etree._Element) -> set[etree._Element]:
    """The paragraphs with a paragraph inside them."""
    holding: set[etree._Element] = set()
    for inner in _NESTED_PARAGRAPHS(container):
        for outer in inner.iterancestors():
            if outer.tag == _P:
                holding.add(outer)
            if outer is container:
                break
    return holding


class _Index(_Walk):
    """The same answers as ``_Walk`` from one pass over the container (lxml's C iterator picks the
    few elements that matter), so most paragraphs are never walked element by element.

    A paragraph is plain when its text is exactly its own runs' w:t and one-character elements
    (p/r/t, p/r/tab...) in order: it holds no content control, field character or symbol, no run
    style that could be the placeholder style, no Wingdings font, no text anywhere but directly in
    a run directly in it, and no paragraph inside it. Any other paragraph is walked as before
    (``_TextWalker``); ``tests/test_docxtext.py`` holds the two to the same text on every form.
    """

    def __init__(self, container: etree._Element) -> None:
        self._texts: dict[etree._Element, list[str]] = {}
        self._walked: set[etree._Element] = _holding_paragraphs(container)
        self._wrapping: set[etree._Element] = set()  # elements with an sdt or wrapper child
        self._headings: dict[etree._Element, bool] = {}
        self._merged: dict[etree._Element, bool] = {}
        for el in container.iter(*_INDEXED):
            tag = el.tag
            if tag == _T or tag in _CHAR_TAGS:
                run = el.getparent()
                p = run.getparent() if run is not None and run.tag == _R else None
                if p is not None and p.tag == _P:
                    self._texts.setdefault(p, []).append(
                        (el.text or "") if tag == _T else _CHAR_TAGS[tag]
                    )
                else:
                    self._walk_around(el)
            elif tag == _PSTYLE:
                ppr = el.getparent()
                p = ppr.getparent() if ppr is not None and ppr.tag == _PPR else None
                if p is not None and p.tag == _P and p not in self._headings:
                    self._headings[p] = _heading_name(el)  # the first, as find() finds it
            elif tag == _VMERGE_TAG:
                tcpr = el.getparent()
                tc = tcpr.getparent() if tcpr is not None and tcpr.tag == _TCPR else None
                if tc is not None and tc.tag == _TC and tc not in self._merged:
                    self._merged[tc] = _continues(el)
            elif tag == _RSTYLE:
                if (el.get(_VAL) or "").lower() == "placeholdertext":
                    self._walk_around(el)
            elif tag == _RFONTS:
                fonts = ((el.get(_ASCII) or "") + " " + (el.get(_HANSI) or "")).lower()
                if "wingdings" in fonts:
                    self._walk_around(el)
            else:  # content control, wrapper, field character, symbol
                parent = el.getparent()
                if parent is not None:
                    self._wrapping.add(parent)
                if tag not in _WRAPPERS:
                    self._walk_around(el)

    def _walk_around(self, el: etree._Element) -> None:
        """The paragraph holding ``el`` is walked (any paragraph holding that one already is)."""
        parent = el.getparent()
        while parent is not None:
            if parent.tag == _P:
                self._walked.add(parent)
                return
            parent = parent.getparent()

    def children(self, el: etree._Element) -> Iterable[etree._Element]:
        return _children(el) if el in self._wrapping else el

    def text(self, p: etree._Element) -> str:
        if p in self._walked:
            return _para_text(p)
        return "".join(self._texts.get(p, ()))

    def heading(self, p: etree._Element) -> bool:
        return self._headings.get(p, False)

    def merged(self, tc: etree._Element) -> bool:
        return self._merged.get(tc, False)


def _children(el: etree._Element) -> Iterator[etree._Element]:
    """Block children, looking through content controls and custom XML wrappers."""
    for child in el:
        tag = child.tag
        if tag == _SDT:
            pr = child.find(_SDT_PR)
            if pr is not None and pr.find(_SHOWING_PLACEHOLDER) is not None:
                continue
            content = child.find(_SDT_CONTENT)
            if content is not None:
                yield from _children(content)
        elif tag in _WRAPPERS:
            yield from _children(child)
        else:
            yield child


def _cell_text(tc: etree._Element, nested: list[etree._Element], look: _Walk) -> str:
    lines: list[str] = []
    for child in look.children(tc):
        if child.tag == _P:
            lines.append(look.text(child))
        elif child.tag == _TBL:
            nested.append(child)
    return "\n".join(lines)


def blocks(container: etree._Element) -> Iterator[Block]:
    """The body's paragraphs and table rows in order; a table's nested tables follow its end."""
    return _blocks(container, _Index(container))


def _blocks(container: etree._Element, look: _Walk) -> Iterator[Block]:
    for child in look.children(container):
        if child.tag == _P:
            yield Para(look.text(child), look.heading(child))
        elif child.tag == _TBL:
            yield from _table_blocks(child, look)


def _table_blocks(tbl: etree._Element, look: _Walk) -> Iterator[Block]:
    nested: list[etree._Element] = []
    for tr in look.children(tbl):
        if tr.tag != _TR:
            continue
        cells: list[str] = []
        for tc in look.children(tr):
            if tc.tag == _TC:
                if look.merged(tc):
                    cells.append("")
                else:
                    cells.append(_cell_text(tc, nested, look))
        yield Row(cells)
    yield TableEnd()
    for inner in nested:
        yield from _table_blocks(inner, look)
