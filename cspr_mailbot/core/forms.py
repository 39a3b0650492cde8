"""Read a referral form or scoping return (.docx bytes or an email body) into SPEC 4 values.

The reader is driven by labels, not positions: it turns the document into a stream of paragraphs
and table rows (walking the XML itself, so content controls, legacy form fields and checkboxes are
seen), finds the labels it knows (``labels.toml`` plus the partnership's own synonyms) and reads
the value beside, below or after each one. A value it cannot read is None, never a guess; a value
it could not parse is None plus a problem sentence a person can act on.
"""

from __future__ import annotations

import io
import logging
import re
import tomllib
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from lxml import etree

from cspr_mailbot.core.models import REFERRAL_FIELDS, SCOPING_FIELDS
from cspr_mailbot.core.ukdates import parse_uk_date
from cspr_mailbot.errors import ConfigError, UnreadableAttachment

__all__ = [
    "FormResult",
    "Labels",
    "missing_key_fields",
    "read_referral_docx",
    "read_referral_text",
    "read_scoping_docx",
    "read_custom_properties",
    "normalise_label",
    "CHECKED",
    "UNCHECKED",
]

logger = logging.getLogger(__name__)

CHECKED = "☒"
UNCHECKED = "☐"

FORMS: dict[str, tuple[str, ...]] = {"referral": REFERRAL_FIELDS, "scoping": SCOPING_FIELDS}

# How each field's text becomes a value. Anything not listed is text.
_DATE_FIELDS = frozenset(
    {"child_dob", "incident_date", "la_aware_date", "notification_date"}
    | {"involvement_from", "involvement_to"}
)
_BOOL_FIELDS = frozenset(
    {"safeguarding_lead_consulted", "looked_after", "national_panel_notified", "records_secured"}
)
_CHOICE_FIELDS: dict[str, str] = {
    "incident_type": "incident_type",
    "abuse_or_neglect": "abuse_or_neglect",
}
_LIST_FIELDS = frozenset({"agencies_involved"})
# Fields whose value may run over several lines or paragraphs.
_LONG_FIELDS = frozenset(
    {"incident_summary", "rationale", "child_address", "agencies_involved"}
    | {"involvement_summary", "risks_identified", "good_practice", "learning", "immediate_actions"}
)
_BOOL_OPTIONS = {"true": True, "false": False}

# --------------------------------------------------------------------------------------------------
# Label normalisation and the Labels data
# --------------------------------------------------------------------------------------------------

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u02bc": "'", "`": "'"})
_BRACKETS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_NUMBERING = re.compile(r"^\s*(?:(?:section|part|q|question)\s*)?\d+[a-z]?(?:\.\d+)*[.):]?\s+")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise_label(text: str) -> str:
    """Lower-case words only: no brackets, punctuation, apostrophes, numbering or extra spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    text = text.replace("'", "").replace("&", " and ")
    previous = None
    while previous != text:  # nested brackets
        previous, text = text, _BRACKETS.sub(" ", text)
    text = _NUMBERING.sub("", text)
    return _NON_WORD.sub(" ", text).strip()


@dataclass(frozen=True)
class _Section:
    headings: tuple[str, ...]
    fields: dict[str, tuple[str, ...]]  # field -> normalised generic labels


@dataclass(frozen=True, eq=False)
class Labels:
    """The label synonyms, answer words and placeholders the reader uses (``data/labels.toml``).

    Build it with ``Labels.load(extra)``; ``extra`` maps dotted keys to more synonyms, e.g.
    ``{"referral.child_name": ["young person"]}`` or ``{"referral": {"child_name": [...]}}``.
    """

    fields: dict[str, dict[str, tuple[str, ...]]]  # form -> field -> normalised synonyms
    names: dict[str, dict[str, str]]  # form -> field -> how a person names it
    sections: dict[str, dict[str, _Section]]  # form -> section -> headings and generic labels
    answers: dict[str, dict[str, tuple[str, ...]]]  # kind -> option -> words (lower-case)
    agency_columns: dict[str, tuple[str, ...]]  # name | contact_name | email -> normalised
    placeholders: tuple[str, ...]  # normalised
    _exact: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    # Synonyms a label may start with, by their first word, longest first: a label can only
    # start with a synonym that starts with its own first word.
    _prefix_by_word: dict[str, dict[str, list[tuple[str, str]]]] = field(
        default_factory=dict, repr=False
    )
    _generic: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    # ---- building ---------------------------------------------------------------------------

    @classmethod
    def load(cls, extra: Mapping[str, Any] | None = None) -> Labels:
        """The shipped synonyms, plus ``extra`` from the config. Unknown keys raise ConfigError."""
        text = resources.files("cspr_mailbot.data").joinpath("labels.toml").read_text("utf-8")
        data = tomllib.loads(text)
        for key, words in _flatten(extra or {}).items():
            _merge(data, key, words)
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Labels:
        fields_: dict[str, dict[str, tuple[str, ...]]] = {}
        names: dict[str, dict[str, str]] = {}
        for form, keys in FORMS.items():
            table = data.get(form, {})
            fields_[form] = {}
            names[form] = {}
            for key in keys:
                entry = table.get(key, {})
                fields_[form][key] = _norm_all(entry.get("labels", []))
                names[form][key] = str(entry.get("name", key.replace("_", " ")))
        sections: dict[str, dict[str, _Section]] = {}
        for form, table in data.get("sections", {}).items():
            sections[form] = {
                name: _Section(
                    headings=_norm_all(sec.get("headings", [])),
                    fields={k: _norm_all(v) for k, v in sec.get("fields", {}).items()},
                )
                for name, sec in table.items()
            }
        answers = {
            kind: {opt: tuple(_answer_norm(w) for w in words) for opt, words in opts.items()}
            for kind, opts in data.get("answers", {}).items()
        }
        columns = {k: _norm_all(v) for k, v in data.get("agency_columns", {}).items()}
        placeholders = _norm_all(data.get("placeholders", {}).get("texts", []))
        labels = cls(fields_, names, sections, answers, columns, placeholders)
        labels._index()
        return labels

    def _index(self) -> None:
        for form, table in self.fields.items():
            exact: dict[str, str] = {}
            prefix: list[tuple[str, str]] = []
            for key, synonyms in table.items():
                for syn in synonyms:
                    exact.setdefault(syn, key)
                    if " " in syn:
                        prefix.append((syn, key))
            prefix.sort(key=lambda item: len(item[0]), reverse=True)
            self._exact[form] = exact
            by_word: dict[str, list[tuple[str, str]]] = {}
            for syn, key in prefix:
                by_word.setdefault(syn.split()[0], []).append((syn, key))
            self._prefix_by_word[form] = by_word
            generic: set[str] = set()
            for sec in self.sections.get(form, {}).values():
                for words in sec.fields.values():
                    generic.update(words)
            self._generic[form] = frozenset(generic)

    # ---- matching ---------------------------------------------------------------------------

    def match(self, form: str, label: str, section: str | None = None) -> str | None:
        """The field ``label`` names on ``form`` (under ``section``), or None."""
        found = self.match_prefix(form, label, section)
        return found[0] if found else None

    def match_prefix(
        self, form: str, label: str, section: str | None = None
    ) -> tuple[str, int] | None:
        """(field, how many words of the normalised label the synonym used), or None."""
        norm = normalise_label(label)
        if not norm:
            return None
        words = len(norm.split())
        if section is not None:
            sec = self.sections.get(form, {}).get(section)
            if sec is not None:
                for key, synonyms in sec.fields.items():
                    if norm in synonyms:
                        return key, words
        if norm in self._exact[form]:
            key = self._exact[form][norm]
            # Under a section a generic word ("name", "email") belongs to that section alone.
            if section is not None and norm in self._generic.get(form, frozenset()):
                return None
            return key, words
        for syn, key in self._prefix_by_word[form].get(norm.split()[0], ()):
            if norm.startswith(syn + " "):
                rest = norm[len(syn) + 1 :]
                if key not in _DATE_FIELDS and rest.split()[0] in {"date", "when", "dates"}:
                    continue  # "National Panel notified - date" is the date, not the yes/no
                return key, len(syn.split())
        return None

    def section_for(self, form: str, heading: str) -> str | None:
        """The section a heading opens ("Details of the child" -> "child"), or None."""
        norm = normalise_label(heading)
        for name, sec in self.sections.get(form, {}).items():
            for h in sec.headings:
                if norm == h or (" " in h and norm.startswith(h + " ")):
                    return name
        return None

    def is_placeholder(self, text: str) -> bool:
        norm = normalise_label(text)
        return bool(norm) and norm in self.placeholders

    def name(self, form: str, key: str) -> str:
        return self.names.get(form, {}).get(key, key.replace("_", " "))

    def agency_column(self, header: str) -> str | None:
        norm = normalise_label(header)
        if not norm:
            return None
        for col, synonyms in self.agency_columns.items():
            if norm in synonyms:
                return col
        best: tuple[int, str] | None = None
        for col, synonyms in self.agency_columns.items():
            for syn in synonyms:
                if " " in syn and norm.startswith(syn + " "):
                    if best is None or len(syn) > best[0]:
                        best = (len(syn), col)
        return best[1] if best else None


def _norm_all(words: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for word in words:
        norm = normalise_label(str(word))
        if norm and norm not in out:
            out.append(norm)
    return tuple(out)


def _answer_norm(word: str) -> str:
    text = unicodedata.normalize("NFKC", word).translate(_QUOTES).casefold()
    return " ".join(re.sub(r"[^0-9a-z' ]+", " ", text).split())


def _flatten(extra: Mapping[str, Any], prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in extra.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, dotted + "."))
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            out[dotted] = list(value)
        else:
            raise ConfigError(f"labels.{dotted}", "must be a list of strings")
    return out


def _merge(data: dict[str, Any], key: str, words: list[str]) -> None:
    """Add ``words`` to the toml data at dotted ``key``, refusing keys the reader does not know."""
    parts = key.split(".")
    head = parts[0]
    target: list[Any] | None = None
    if head in FORMS and len(parts) == 2 and parts[1] in FORMS[head]:
        target = data.setdefault(head, {}).setdefault(parts[1], {}).setdefault("labels", [])
    elif head == "answers" and len(parts) == 3 and parts[1] in data.get("answers", {}):
        if parts[2] in data["answers"][parts[1]]:
            target = data["answers"][parts[1]][parts[2]]
    elif head == "agency_columns" and len(parts) == 2 and parts[1] in data.get(head, {}):
        target = data[head][parts[1]]
    elif head == "placeholders" and len(parts) == 1:
        target = data.setdefault("placeholders", {}).setdefault("texts", [])
    elif head == "sections" and len(parts) == 4 and parts[1] in data.get("sections", {}):
        sec = data["sections"][parts[1]].get(parts[2])
        if sec is not None and parts[3] == "headings":
            target = sec.setdefault("headings", [])
        elif sec is not None and parts[3] in FORMS.get(parts[1], ()):
            target = sec.setdefault("fields", {}).setdefault(parts[3], [])
    if target is None:
        raise ConfigError(f"labels.{key}", "is not a field, answer or column the form reader knows")
    target.extend(words)


# --------------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormResult:
    """What a form said: every field key present (None when not read), and what went wrong."""

    fields: dict[str, Any]
    found_labels: int
    problems: tuple[str, ...]
    embedded_reference: str | None = None
    embedded_agency: str | None = None


def missing_key_fields(fields: Mapping[str, Any]) -> list[str]:
    """The key fields a referral lacks (SPEC 3: "key fields missing" sends it to triage).

    A referral needs the referrer (name or email), the child's name, the type of incident, a summary
    and some date (the incident's, or the date the local authority became aware). For the pairs the
    missing key reported is ``referrer_name`` and ``incident_date``.
    """
    missing: list[str] = []
    if not fields.get("referrer_name") and not fields.get("referrer_email"):
        missing.append("referrer_name")
    for key in ("child_name", "incident_type", "incident_summary"):
        if not fields.get(key):
            missing.append(key)
    if not fields.get("incident_date") and not fields.get("la_aware_date"):
        missing.append("incident_date")
    return missing


# --------------------------------------------------------------------------------------------------
# Walking the .docx XML
# --------------------------------------------------------------------------------------------------

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"


def _w(tag: str) -> str:
    return f"{{{W}}}{tag}"


_T, _P, _R, _TBL, _TR, _TC = _w("t"), _w("p"), _w("r"), _w("tbl"), _w("tr"), _w("tc")
_SDT, _SDT_CONTENT, _SDT_PR = _w("sdt"), _w("sdtContent"), _w("sdtPr")
_VAL = _w("val")
_SKIP_TAGS = frozenset(
    {
        _w("del"),
        _w("moveFrom"),
        _w("instrText"),
        _w("delText"),
        _w("drawing"),
        _w("pict"),
        _w("object"),
        _w("rPr"),
        _w("pPr"),
        _w("tblPr"),
        _w("trPr"),
        _w("tcPr"),
        _w("sectPr"),
        _w("tblGrid"),
        _w("fldData"),
        f"{{{MC}}}AlternateContent",
    }
)
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


def _on(el: etree._Element | None, attr: str = _VAL) -> bool:
    """A WordprocessingML on/off element: present without val means on."""
    if el is None:
        return False
    value = el.get(attr)
    return value is None or value.lower() in {"1", "true", "on"}


@dataclass
class _Para:
    text: str
    heading: bool = False


@dataclass
class _Row:
    cells: list[str]


@dataclass
class _TableEnd:
    pass


_Block = _Para | _Row | _TableEnd


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
            elif tag == _R:
                self._run(child)
            elif tag == _SDT:
                self._sdt(child)
            elif tag in (_w("tab"), _w("ptab")):
                self.out.append("\t")
            elif tag in (_w("br"), _w("cr")):
                self.out.append("\n")
            elif tag == _w("noBreakHyphen"):
                self.out.append("-")
            elif tag == _w("sym"):
                self.out.append(_SYMBOL_MARKS.get((child.get(_w("char")) or "").upper(), ""))
            elif tag == _w("fldChar"):
                self._fld_char(child)
            else:
                self.walk(child)

    def _run(self, run: etree._Element) -> None:
        rpr = run.find(_w("rPr"))
        if rpr is not None:
            style = rpr.find(_w("rStyle"))
            if style is not None and (style.get(_VAL) or "").lower() == "placeholdertext":
                return
            fonts = rpr.find(_w("rFonts"))
            font = (
                (fonts.get(_w("ascii")) or fonts.get(_w("hAnsi")) or "")
                if fonts is not None
                else ""
            )
            if font.lower().startswith("wingdings"):
                for t in run.iter(_T):
                    self.out.append("".join(_WINGDINGS_TEXT.get(c, "") for c in t.text or ""))
                return
        self.walk(run)

    def _fld_char(self, el: etree._Element) -> None:
        kind = el.get(_w("fldCharType"))
        if kind == "begin":
            self.in_instruction = True
            ff = el.find(_w("ffData"))
            if ff is None:
                return
            box = ff.find(_w("checkBox"))
            if box is not None:
                checked = box.find(_w("checked"))
                state = _on(checked) if checked is not None else _on(box.find(_w("default")))
                self.out.append(CHECKED if state else UNCHECKED)
                return
            dd = ff.find(_w("ddList"))
            if dd is not None:
                entries = [e.get(_VAL) or "" for e in dd.findall(_w("listEntry"))]
                chosen = dd.find(_w("result"))
                if chosen is None:
                    chosen = dd.find(_w("default"))
                index = int(chosen.get(_VAL) or 0) if chosen is not None else 0
                if 0 <= index < len(entries):
                    self.out.append(entries[index])
        elif kind in {"separate", "end"}:
            self.in_instruction = False

    def _sdt(self, sdt: etree._Element) -> None:
        pr = sdt.find(_SDT_PR)
        content = sdt.find(_SDT_CONTENT)
        if pr is not None:
            box = pr.find(f"{{{W14}}}checkbox")
            if box is not None:
                checked = box.find(f"{{{W14}}}checked")
                state = checked is not None and _on(checked, f"{{{W14}}}val")
                self.out.append(CHECKED if state else UNCHECKED)
                return
            if pr.find(_w("showingPlcHdr")) is not None:
                return
            picker = pr.find(_w("date"))
            full = picker.get(_w("fullDate")) if picker is not None else None
            if full and re.match(r"\d{4}-\d{2}-\d{2}", full):
                self.out.append(full[:10])  # the picked date, whatever format it displays in
                return
        if content is not None:
            self.walk(content)

    def text(self) -> str:
        return "".join(self.out)


def _para_text(p: etree._Element) -> str:
    walker = _TextWalker()
    walker.walk(p)
    return walker.text()


def _is_heading(p: etree._Element) -> bool:
    style = p.find(f"{_w('pPr')}/{_w('pStyle')}")
    name = (style.get(_VAL) or "").lower() if style is not None else ""
    return name.startswith("heading") or name in {"title", "subtitle"}


def _children(el: etree._Element) -> Iterator[etree._Element]:
    """Block children, looking through content controls and custom XML wrappers."""
    for child in el:
        if child.tag == _SDT:
            pr = child.find(_SDT_PR)
            if pr is not None and pr.find(_w("showingPlcHdr")) is not None:
                continue
            content = child.find(_SDT_CONTENT)
            if content is not None:
                yield from _children(content)
        elif child.tag in (_w("customXml"), _w("smartTag")):
            yield from _children(child)
        else:
            yield child


def _cell_text(tc: etree._Element, nested: list[etree._Element]) -> str:
    lines: list[str] = []
    for child in _children(tc):
        if child.tag == _P:
            lines.append(_para_text(child))
        elif child.tag == _TBL:
            nested.append(child)
    return "\n".join(lines)


def _blocks(container: etree._Element) -> Iterator[_Block]:
    for child in _children(container):
        if child.tag == _P:
            yield _Para(_para_text(child), _is_heading(child))
        elif child.tag == _TBL:
            yield from _table_blocks(child)


def _table_blocks(tbl: etree._Element) -> Iterator[_Block]:
    nested: list[etree._Element] = []
    for tr in _children(tbl):
        if tr.tag != _TR:
            continue
        cells: list[str] = []
        for tc in _children(tr):
            if tc.tag == _TC:
                if _is_merged_continuation(tc):
                    cells.append("")
                else:
                    cells.append(_cell_text(tc, nested))
        yield _Row(cells)
    yield _TableEnd()
    for inner in nested:
        yield from _table_blocks(inner)


def _is_merged_continuation(tc: etree._Element) -> bool:
    vmerge = tc.find(f"{_w('tcPr')}/{_w('vMerge')}")
    return vmerge is not None and (vmerge.get(_VAL) or "continue") == "continue"


# --------------------------------------------------------------------------------------------------
# From blocks to raw field text
# --------------------------------------------------------------------------------------------------

_MARK_TOKENS = re.compile(
    r"\[\s*[xX✓✔]\s*\]|\(\s*[xX✓✔]\s*\)|\[\s*\]|\(\s*\)|[☒☑✓✔■⊠✗✘▣]|[☐□❑❒▢]|(?<![\w'])[xX](?![\w'])"
)
_HAS_MARK = re.compile(r"[☒☐☑□■⊠❑❒▢]|\[\s*[xX ]?\s*\]")
_EMAIL = re.compile(r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")


_DASH_SPLIT = re.compile(r"\s+[-–—=]+\s+")


def _label_splits(text: str) -> list[tuple[str, str]]:
    """Ways to split "Label: value": at the first ':' outside brackets, a tab, or " - "."""
    out: list[tuple[str, str]] = []
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch == ":" and depth == 0:
            if text[i + 1 : i + 3] == "//":
                continue  # a URL, not a label
            out.append((text[:i], text[i + 1 :]))
            break
    if "\t" in text:
        label, _, value = text.partition("\t")
        out.append((label, value))
    dash = _DASH_SPLIT.search(text)
    if dash is not None:
        out.append((text[: dash.start()], text[dash.end() :]))
    return out


@dataclass(frozen=True)
class _Hit:
    key: str
    value: str  # the value found on the same line ("" when it is to come)
    inline: bool  # the value came from the same line


class _Collector:
    """Walks blocks, keeping the current section and the text found for each field."""

    def __init__(self, labels: Labels, form: str, *, body: bool = False) -> None:
        self.labels = labels
        self.form = form
        self.body = body
        self.section: str | None = None
        self.raw: dict[str, list[str]] = {}
        self.found: set[str] = set()
        self.agency_rows: list[dict[str, str]] = []
        self.problems: list[str] = []
        # The field whose value is expected on the next line(s), and what has been read for it.
        self.pending: str | None = None
        self.pending_lines: list[str] = []
        self.pending_open = False  # a long field still taking continuation lines
        self.in_cell = False  # reading a table cell's lines: no headings there
        self._memo: dict[tuple[str, str | None], _Hit | None] = {}
        self.agency: dict[str, str] | None = None  # an agency given as label/value rows
        # Table state.
        self.agency_cols: dict[str, int] | None = None
        self.rows: list[list[str]] = []

    # ---- labels --------------------------------------------------------------------------------

    def hit(self, line: str) -> _Hit | None:
        """The field a line labels and the value that follows it on the line, if any."""
        text = line.strip()
        if not text:
            return None
        memo_key = (text, self.section)
        if memo_key not in self._memo:
            self._memo[memo_key] = self._hit(text)
        return self._memo[memo_key]

    def _hit(self, text: str) -> _Hit | None:
        for label, value in _label_splits(text):
            key = self.labels.match(self.form, label, self.section)
            if key is not None:
                return _Hit(key, value.strip().lstrip("*_").strip(), True)
        found = self.labels.match_prefix(self.form, text, self.section)
        if found is None:
            return None
        key, used = found
        rest = _after_words(text, used)
        # Options typed after the label ("Looked after? ☐ Yes ☒ No") are its value.
        if rest and _HAS_MARK.search(rest):
            return _Hit(key, rest, True)
        return _Hit(key, "", False)

    def is_label_cell(self, cell: str) -> bool:
        first = next((ln for ln in cell.splitlines() if ln.strip()), "")
        return bool(first) and self.hit(first) is not None

    def record(self, key: str, value: str) -> None:
        self.found.add(key)
        self.raw.setdefault(key, []).append(value)

    # ---- line streams (paragraphs, cell lines, body lines) -------------------------------------

    def flush(self) -> None:
        if self.pending is not None:
            self.record(self.pending, "\n".join(self.pending_lines).strip())
        self.pending = None
        self.pending_lines = []
        self.pending_open = False

    def line(self, text: str, heading: bool = False) -> None:
        stripped = text.strip()
        if not stripped:
            if self.body and self.pending is not None and self.pending_lines:
                self.flush()  # in mail a blank line ends a value
            return
        if heading:
            # A heading opens a section; a form that styles its questions as headings still
            # has them read as labels.
            section = self.labels.section_for(self.form, stripped)
            if section is not None:
                self.flush()
                self.section = section
                self.agency = None
                return
        hit = self.hit(stripped)
        if hit is None and self.section == "agencies" and self._agency_pair_line(stripped):
            return
        if hit is not None:
            if not self.in_cell:
                self.section = self.labels.section_for(self.form, stripped) or self.section
            self.flush()
            self.pending = hit.key
            self.pending_lines = [hit.value] if hit.value else []
            self.pending_open = not hit.value or hit.key in _LONG_FIELDS
            if hit.value and not self.pending_open:
                self.flush()
            return
        if self.pending is not None and self.pending_open and not heading:
            if self.pending in _LONG_FIELDS or not self.pending_lines:
                self.pending_lines.append(stripped)
                if self.pending not in _LONG_FIELDS:
                    self.flush()
                return
        self.flush()
        if not self.in_cell:
            self.heading(stripped, force=heading)

    def _agency_pair_line(self, text: str) -> bool:
        """Under an agencies heading, "Agency: Police" / "Email: ..." lines describe agencies."""
        for label, value in _label_splits(text):
            col = self.labels.agency_column(label)
            if col is not None:
                self.flush()
                self._agency_pair(col, value)
                return True
        return False

    def _agency_pair(self, col: str, value: str) -> None:
        if self.agency is None or col == "name" or col in self.agency:
            self.agency = {}
            self.agency_rows.append(self.agency)
            self.found.add("agencies_involved")
        self.agency[col] = value.strip()

    def heading(self, text: str, force: bool = False) -> None:
        """A line that is not a label: maybe a section heading."""
        section = self.labels.section_for(self.form, text)
        self.agency = None
        if section is not None:
            self.section = section
        elif force or (len(text.split()) <= 8 and not text.rstrip().endswith((".", ","))):
            self.section = None

    # ---- tables --------------------------------------------------------------------------------

    def row(self, cells: list[str]) -> None:
        self.flush()
        self.rows.append(cells)

    def table_end(self) -> None:
        rows, self.rows = self.rows, []
        self.agency_cols = None
        i = 0
        while i < len(rows):
            i = self._row(rows, i)
        self.flush()

    def _row(self, rows: list[list[str]], i: int) -> int:
        cells = rows[i]
        nonempty = [c for c in cells if c.strip()]
        if not nonempty:
            return i + 1
        cols = self._agency_header(cells)
        if cols is not None:
            self.agency_cols = cols
            self.found.add("agencies_involved")
            return i + 1
        if self.agency_cols is not None:
            if not self.is_label_cell(nonempty[0]):
                self._agency_row(cells)
                return i + 1
            self.agency_cols = None
        if self.section == "agencies" and len(cells) >= 2:
            pairs = [(cells[k], cells[k + 1]) for k in range(0, len(cells) - 1, 2)]
            pair_cols = [self.labels.agency_column(label) for label, _ in pairs]
            if pair_cols[0] is not None and not self.is_label_cell(cells[0]):
                for col, (_, value) in zip(pair_cols, pairs, strict=True):
                    if col is not None:
                        self._agency_pair(col, value)
                return i + 1
        # A row of labels over a row of values (and a full-width label over a full-width box).
        if all(c.strip() and self._pure_label(c) for c in cells) and i + 1 < len(rows):
            below = rows[i + 1]
            if (
                len(below) == len(cells)
                and not any(c.strip() and self.is_label_cell(c) for c in below)
                and self._agency_header(below) is None
            ):
                for label_cell, value in zip(cells, below, strict=True):
                    hit = self.hit(label_cell.strip().splitlines()[0])
                    if hit is not None:
                        self.record(hit.key, value)
                return i + 2
        if len(nonempty) == 1:
            section = self.labels.section_for(self.form, nonempty[0].strip())
            if section is not None:
                self.section = section
        if len(nonempty) == 1 and not self.is_label_cell(nonempty[0]):
            # A full-width row that is not a label: a heading (or a stray note).
            for line in nonempty[0].splitlines():
                if line.strip():
                    self.heading(line.strip())
                    break
            return i + 1
        self._pairs(cells)
        return i + 1

    def _pure_label(self, cell: str) -> bool:
        lines = [ln for ln in cell.splitlines() if ln.strip()]
        if len(lines) != 1:
            return False
        hit = self.hit(lines[0])
        return hit is not None and not hit.value

    def _pairs(self, cells: list[str]) -> None:
        """Label cells with their values in the cells to the right (2 or 4 columns, or more)."""
        j = 0
        while j < len(cells):
            awaiting = self._cell_lines(cells[j])
            j += 1
            if awaiting is None:
                continue
            if j < len(cells) and (
                not self._pure_label(cells[j])
                or (awaiting not in _TEXT_FIELDS and _HAS_MARK.search(cells[j]))
            ):
                parts = [cells[j]]
                j += 1
                # Options spread over cells ("Death | ☒ | Serious harm | ☐") belong together.
                if awaiting not in _TEXT_FIELDS:
                    while j < len(cells) and not self.is_label_cell(cells[j]):
                        parts.append(cells[j])
                        j += 1
                self.record(awaiting, " ".join(p.strip() for p in parts if p.strip()))
            else:
                self.record(awaiting, "")

    def _cell_lines(self, cell: str) -> str | None:
        """Read one cell as lines; returns a field still waiting for its value, if any."""
        self.flush()
        self.in_cell = True
        try:
            for line in cell.splitlines():
                self.line(line)
        finally:
            self.in_cell = False
        if self.pending is not None and not self.pending_lines:
            key = self.pending
            self.pending = None
            self.pending_open = False
            return key
        self.flush()
        return None

    def _agency_header(self, cells: list[str]) -> dict[str, int] | None:
        cols: dict[str, int] = {}
        nonempty = 0
        for index, cell in enumerate(cells):
            if not cell.strip():
                continue
            nonempty += 1
            col = self.labels.agency_column(cell) if len(cell) <= 60 else None
            if col is not None and col not in cols:
                cols[col] = index
        # Most of the row must be column names: "Agency | Police | Contact | DC Smith" is data.
        unmatched = nonempty - len(cols)
        if (
            "name" in cols
            and len(cols) >= 2
            and (unmatched == 0 or (len(cols) >= 3 and unmatched == 1))
        ):
            return cols
        return None

    def _agency_row(self, cells: list[str]) -> None:
        assert self.agency_cols is not None
        row = {
            col: cells[index] if index < len(cells) else ""
            for col, index in self.agency_cols.items()
        }
        self.agency_rows.append(row)


_TEXT_FIELDS = frozenset(
    k for k in (*REFERRAL_FIELDS, *SCOPING_FIELDS) if k not in _BOOL_FIELDS | set(_CHOICE_FIELDS)
)


def _after_words(text: str, words: int) -> str:
    """What follows the first ``words`` normalised words of ``text``, in the original text."""
    spans = [m.end() for m in re.finditer(r"[^\s]+", text)]
    for end in spans:
        if len(normalise_label(text[:end]).split()) >= words:
            rest = text[end:]
            return rest.strip(" \t:*?-–—")
    return ""


# --------------------------------------------------------------------------------------------------
# From raw text to values
# --------------------------------------------------------------------------------------------------


def _clean_text(text: str | None, labels: Labels) -> str | None:
    if text is None:
        return None
    lines = [ln.strip() for ln in text.replace("\r", "").replace("\t", " ").split("\n")]
    lines = [ln for ln in lines if ln and not labels.is_placeholder(ln)]
    for placeholder in _PLACEHOLDER_PHRASES:
        lines = [placeholder.sub("", ln).strip() for ln in lines]
    lines = [re.sub(r"[ \u00a0\u2002\u2003]+", " ", ln) for ln in lines if ln]
    value = "\n".join(lines).strip()
    if not value or labels.is_placeholder(value):
        return None
    return value


_PLACEHOLDER_PHRASES = (
    re.compile(r"click or tap (?:here )?to enter (?:text|a date)\.?", re.IGNORECASE),
    re.compile(r"click here to enter (?:text|a date)\.?", re.IGNORECASE),
    re.compile(r"choose an item\.?", re.IGNORECASE),
)


def _options_regex(
    options: Mapping[str, tuple[str, ...]],
) -> tuple[re.Pattern[str], dict[str, str]]:
    by_words: dict[str, str] = {}
    for option, words in options.items():
        for w in words:
            by_words.setdefault(w, option)
    ordered = sorted(by_words, key=len, reverse=True)
    parts = [r"[\s/\-]+".join(re.escape(t).replace("'", "'?") for t in w.split()) for w in ordered]
    pattern = re.compile(r"(?<![\w'])(?:" + "|".join(parts) + r")(?![\w'])")
    return pattern, by_words


def _choose(text: str, options: Mapping[str, tuple[str, ...]]) -> tuple[str | None, str | None]:
    """(option, problem): which option ``text`` picks, by ticked box or by words."""
    plain = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    marked = _MARK_TOKENS.sub(lambda m: _mark_of(m.group(0)), plain).casefold()
    pattern, by_words = _options_regex(options)
    tokens: list[tuple[int, str, str]] = []  # (position, "mark"|"option", value)
    for m in pattern.finditer(marked):
        words = " ".join(re.sub(r"[\s/\-]+", " ", m.group(0)).split())
        option = by_words.get(words) or by_words.get(words.replace("'", ""))
        if option is None:
            for w, opt in by_words.items():
                if w.replace("'", "") == words.replace("'", ""):
                    option = opt
                    break
        if option is not None:
            tokens.append((m.start(), "option", option))
    for m in re.finditer(f"[{CHECKED}{UNCHECKED}]", marked):
        tokens.append((m.start(), "mark", m.group(0)))
    tokens.sort()
    marks = [t for t in tokens if t[1] == "mark"]
    chosen: list[str] = []
    if marks:
        if not any(t[1] == "option" for t in tokens):
            return None, None
        mark_first = tokens[0][1] == "mark"
        for idx, (_, kind, value) in enumerate(tokens):
            if kind != "option":
                continue
            neighbour = tokens[idx - 1] if mark_first and idx > 0 else None
            if not mark_first and idx + 1 < len(tokens):
                neighbour = tokens[idx + 1]
            if neighbour is not None and neighbour[1] == "mark" and neighbour[2] == CHECKED:
                chosen.append(value)
        distinct = sorted(set(chosen))
        if len(distinct) == 1:
            return distinct[0], None
        if not distinct:
            return None, None
        return None, "more than one box is ticked"
    distinct = sorted({t[2] for t in tokens})
    if len(distinct) == 1:
        return distinct[0], None
    if not distinct:
        return None, "it is not one of the expected answers"
    leftover = pattern.sub(" ", marked)
    if re.sub(r"[\s/\-,|or]+", "", leftover) == "":
        return None, None  # the unanswered prompt, e.g. "Yes / No"
    return None, "it gives more than one answer"


def _mark_of(token: str) -> str:
    inner = token.strip("[]() ")
    if token in "☐□❑❒▢" or not inner:
        return f" {UNCHECKED} "
    return f" {CHECKED} "


def _agency_from_text(item: str) -> dict[str, Any] | None:
    item = re.sub(r"^\s*(?:[-*•·]|\d+[.)])\s*", "", item).strip()
    if not item:
        return None
    email_match = _EMAIL.search(item)
    email = email_match.group(0) if email_match else None
    name = _EMAIL.sub("", item) if email else item
    name = re.sub(r"[<>()\[\]]", " ", name)
    name = " ".join(name.split()).strip(" -–,:;")
    return {"name": name or None, "contact_name": None, "email": email}


class _Converter:
    def __init__(self, labels: Labels, form: str) -> None:
        self.labels = labels
        self.form = form
        self.problems: list[str] = []

    def value(self, key: str, raw: str) -> Any:
        name = self.labels.name(self.form, key)
        text = _clean_text(raw, self.labels)
        if text is None:
            return None
        not_given = _answer_norm(text) in self.labels.answers.get("not_given", {}).get("words", ())
        if key in _DATE_FIELDS:
            parsed = parse_uk_date(text)
            if parsed is None:
                if not not_given:
                    self.problems.append(f"The {name} '{_short(text)}' is not a date we can read")
                return None
            return parsed.isoformat()
        if key in _BOOL_FIELDS:
            words = self.labels.answers.get("bool", {})
            if not_given and _answer_norm(text) not in {w for ws in words.values() for w in ws}:
                return None  # "N/A", "N/K": no answer, not the "N" of "No"
            option, problem = _choose(text, words)
            if problem and not not_given:
                self.problems.append(f"The answer for {name} ('{_short(text)}'): {problem}")
            return _BOOL_OPTIONS.get(option) if option else None
        if key in _CHOICE_FIELDS:
            option, problem = _choose(text, self.labels.answers.get(_CHOICE_FIELDS[key], {}))
            if problem and not not_given:
                self.problems.append(f"The answer for {name} ('{_short(text)}'): {problem}")
            return option
        if key in _LIST_FIELDS:
            parts = re.split(r"[;\n]", text) if re.search(r"[;\n]", text) else text.split(",")
            agencies = [a for a in (_agency_from_text(p) for p in parts) if a is not None]
            return agencies or None
        return text

    def agencies(self, rows: list[dict[str, str]]) -> list[dict[str, Any]] | None:
        out: list[dict[str, Any]] = []
        for row in rows:
            name = _clean_text(row.get("name"), self.labels)
            contact = _clean_text(row.get("contact_name"), self.labels)
            email_text = _clean_text(row.get("email"), self.labels)
            if not (name or contact or email_text):
                continue
            email = None
            if email_text:
                found = _EMAIL.search(email_text)
                if found:
                    email = found.group(0)
                else:
                    who = name or contact or "an agency"
                    self.problems.append(
                        f"The email given for {who} ('{_short(email_text)}') "
                        "is not an email address"
                    )
            out.append({"name": name, "contact_name": contact, "email": email})
        return out or None


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
    return bool(a == b)


def _result(collector: _Collector, labels: Labels, form: str) -> FormResult:
    converter = _Converter(labels, form)
    values: dict[str, Any] = {key: None for key in FORMS[form]}
    for key, raws in collector.raw.items():
        chosen: Any = None
        for raw in raws:
            value = converter.value(key, raw)
            if value is None:
                continue
            if chosen is None:
                chosen = value
            elif not _same(chosen, value):
                converter.problems.append(
                    f"The form gives more than one {labels.name(form, key)}; the first is used"
                )
                break
        values[key] = chosen
    if form == "referral" and collector.agency_rows:
        table = converter.agencies(collector.agency_rows)
        if table:
            values["agencies_involved"] = table
    problems = tuple(dict.fromkeys([*collector.problems, *converter.problems]))
    return FormResult(values, len(collector.found), problems)


# --------------------------------------------------------------------------------------------------
# Public readers
# --------------------------------------------------------------------------------------------------


_OFFICE_DOCUMENT = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
)
_SAFE_XML = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False
)


def _open_body(data: bytes, filename: str) -> etree._Element:
    """The body of the main document part, parsed straight from the package.

    The reader walks the XML itself (python-docx's .text misses content controls), so it needs
    only this one part; python-docx's Document() would load every part of the package first,
    about half the cost of reading a form. The parser resolves no entities and fetches nothing.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            part = "word/document.xml"
            names = set(zf.namelist())
            if "_rels/.rels" in names:
                rels = etree.fromstring(zf.read("_rels/.rels"), _SAFE_XML)
                for rel in rels.iter(f"{{{_REL_NS}}}Relationship"):
                    if rel.get("Type") == _OFFICE_DOCUMENT and rel.get("TargetMode") != "External":
                        part = (rel.get("Target") or part).lstrip("/")
                        break
            root = etree.fromstring(zf.read(part), _SAFE_XML)
        body = root.find(_w("body"))
        if body is None:
            raise ValueError("the main document part has no body")
    except Exception as exc:  # a broken package fails in many ways
        # Not the file name: people name files after the child.
        logger.info("a form could not be opened: %s", type(exc).__name__)
        raise UnreadableAttachment(
            "corrupt",
            filename,
            f"The file {filename} could not be opened as a Word document. Please save it again "
            "as a .docx file and resend it.",
        ) from exc
    return body


def _collect_docx(body: etree._Element, labels: Labels, form: str) -> _Collector:
    collector = _Collector(labels, form)
    try:
        for block in _blocks(body):
            if isinstance(block, _Para):
                collector.line(block.text, heading=block.heading)
            elif isinstance(block, _Row):
                collector.row(block.cells)
            else:
                collector.table_end()
        collector.flush()
    except Exception as exc:  # odd content must never stop the mail loop
        logger.warning("form reader stopped early: %s", exc.__class__.__name__, exc_info=True)
        collector.problems.append("Part of the form could not be read")
    return collector


def _not_a_form(filename: str, what: str) -> UnreadableAttachment:
    return UnreadableAttachment(
        "not_a_form",
        filename,
        f"The file {filename} does not look like the {what}: none of its questions were found.",
    )


def read_referral_docx(data: bytes, filename: str, labels: Labels) -> FormResult:
    """Read a referral form (.docx bytes that passed the attachment checks)."""
    body = _open_body(data, filename)
    collector = _collect_docx(body, labels, "referral")
    if not collector.found:
        raise _not_a_form(filename, "CSPR referral form")
    return _result(collector, labels, "referral")


def read_referral_text(text: str, labels: Labels) -> FormResult:
    """Read a referral typed into an email body as "Label: value" lines."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    probe = _Collector(labels, "referral", body=True)
    unquoted_labels = any(
        probe.hit(ln) is not None for ln in lines if ln.strip() and not ln.lstrip().startswith(">")
    )
    if unquoted_labels:
        lines = [ln for ln in lines if not ln.lstrip().startswith(">")]
    else:
        lines = [re.sub(r"^\s*(?:>\s?)+", "", ln) for ln in lines]
    collector = _Collector(labels, "referral", body=True)
    signature = False
    for ln in lines:
        if _FORWARD_MARKER.match(ln):
            signature = False
        elif collector.found and _SIGN_OFF.match(ln):
            collector.flush()
            signature = True
        if signature:
            # After "Kind regards" comes the writer's signature: its "Address:" is the
            # writer's office, never the child's. Only the writer's own details are read.
            hit = collector.hit(ln)
            if hit is None or not hit.inline or hit.key not in _SENDER_FIELDS:
                continue
        collector.line(ln)
    collector.flush()
    return _result(collector, labels, "referral")


_SIGN_OFF = re.compile(
    r"^\s*(?:(?:(?:kind|best|warm|many)\s+)?(?:regards|wishes|thanks)|thank\s+you|cheers|"
    r"yours\s+(?:sincerely|faithfully)|--)[\s,.!]*$",
    re.IGNORECASE,
)
_FORWARD_MARKER = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|original message)\s*-{2,}|begin forwarded message:|"
    r"from:\s)",
    re.IGNORECASE,
)
_SENDER_FIELDS = frozenset(
    {"referrer_name", "referrer_role", "referrer_agency", "referrer_email", "referrer_phone"}
)


def read_scoping_docx(data: bytes, filename: str, labels: Labels) -> FormResult:
    """Read a returned scoping template, with the case reference and agency embedded in it."""
    body = _open_body(data, filename)
    collector = _collect_docx(body, labels, "scoping")
    props = read_custom_properties(data)
    reference = props.get("cspr_case_reference") or None
    agency = props.get("cspr_agency") or None
    if not collector.found and reference is None:
        raise _not_a_form(filename, "scoping template")
    result = _result(collector, labels, "scoping")
    problems = list(result.problems)
    typed_ref = result.fields.get("case_reference")
    if typed_ref:
        typed_ref = typed_ref.strip().strip("[]").strip()
        result.fields["case_reference"] = typed_ref
    if reference and typed_ref and typed_ref.casefold() != reference.casefold():
        problems.append(
            f"The case reference typed in the form ({typed_ref}) differs from the one the "
            f"template was sent with ({reference})"
        )
    return FormResult(
        fields=result.fields,
        found_labels=result.found_labels,
        problems=tuple(problems),
        embedded_reference=reference or typed_ref or None,
        embedded_agency=agency or result.fields.get("agency_name") or None,
    )


_CUSTOM_REL = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
)
_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CUSTOM_NS = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"


def read_custom_properties(data: bytes) -> dict[str, str]:
    """The document's custom properties (docProps/custom.xml) as text, {} when there are none."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            part = "docProps/custom.xml"
            if "_rels/.rels" in names:
                rels = etree.fromstring(zf.read("_rels/.rels"), parser)
                for rel in rels.iter(f"{{{_REL_NS}}}Relationship"):
                    if rel.get("Type") == _CUSTOM_REL and rel.get("TargetMode") != "External":
                        part = (rel.get("Target") or part).lstrip("/")
            if part not in names:
                return {}
            root = etree.fromstring(zf.read(part), parser)
    except (zipfile.BadZipFile, etree.XMLSyntaxError, KeyError, OSError, ValueError):
        return {}
    props: dict[str, str] = {}
    for prop in root.iter(f"{{{_CUSTOM_NS}}}property"):
        name = prop.get("name")
        if name and len(prop):
            props[name] = (prop[0].text or "").strip()
    return props


_TAG = re.compile(rb"<[^>]*>")


def text_matches(data: bytes, pattern: re.Pattern[str]) -> str | None:
    """The first match of ``pattern`` in a .docx's custom properties or body text, found cheaply.

    Tags are stripped from word/document.xml without parsing, so text that Word split across runs is
    joined again. This lets a caller skip the full read of a document that cannot carry what it seeks
    (a referral form holds no case reference). ``data`` must have passed attachments.check_docx.
    """
    for value in read_custom_properties(data).values():
        found = pattern.search(value)
        if found:
            return found.group(0)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            xml = zf.read("word/document.xml")
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        return None
    found = pattern.search(_TAG.sub(b"", xml).decode("utf-8", "replace"))
    return found.group(0) if found else None
