"""Pair labels with their values: from table rows (2 or 4 columns, labels over values, agency
tables) and from lines (``Label: value``, the value on the next line, long values over several).

The collector keeps the current section and, per field, the raw text found for it; turning that
text into values is ``convert``'s job. Each rule is a small method named for what it reads.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from cspr_mailbot.core.forms.fields import (
    FORMS,
    LONG_FIELDS,
    TABLE_ANCHORS,
    TABLE_FIELDS,
    TEXT_FIELDS,
)
from cspr_mailbot.core.forms.labels import MEMO_MAX_TEXT, Labels, Memo, normalise_label

__all__ = ["Collector", "Hit", "label_splits"]

# A ticked or empty box typed or walked out of the document.
HAS_MARK = re.compile(r"[☒☐☑□■⊠❑❒▢]|\[\s*[xX ]?\s*\]")
_DASH_SPLIT = re.compile(r"\s+[-–—=]+\s+")
_WORD = re.compile(r"[^\s]+")
_SPLIT_CHARS = re.compile(r"[()\[\]?:]")
_EMAIL = re.compile(r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")


def label_splits(text: str) -> list[tuple[str, str]]:
    """Ways to split "Label: value": at the first ':' outside brackets, a tab, " - ", or after a
    question answered on its line ("Has the child died or been seriously harmed? Serious harm")."""
    out: list[tuple[str, str]] = []
    depth = 0
    question: tuple[str, str] | None = None
    for found in _SPLIT_CHARS.finditer(text):  # the characters below, and no others, count
        i, ch = found.start(), found.group()
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch == "?" and depth == 0 and question is None:
            rest = text[i + 1 :].strip(" \t:*-–—")
            # "(who they are, and how they are kept safe now)" explains the question: no answer.
            if text[i + 1 : i + 2].isspace() and normalise_label(rest):
                question = (text[:i], rest)
        elif ch == ":" and depth == 0:
            if text[i + 1 : i + 3] == "//":
                continue  # a URL, not a label
            out.append((text[:i], text[i + 1 :]))
            break
    if question is not None:
        out.append(question)
    if "\t" in text:
        label, _, value = text.partition("\t")
        out.append((label, value))
    dash = _DASH_SPLIT.search(text)
    if dash is not None:
        out.append((text[: dash.start()], text[dash.end() :]))
    return out


def _after_words(text: str, words: int) -> str:
    """What follows the first ``words`` normalised words of ``text``, in the original text."""
    for match in _WORD.finditer(text):
        end = match.end()
        if len(normalise_label(text[:end]).split()) >= words:
            return text[end:].strip(" \t:*?-–—")
    return ""


def _only_an_email_for(key: str, value: str) -> bool:
    """ "Children's Social Care - mash@..." names an agency and its address, not a field: an email
    address alone is only the answer to an email question."""
    found = _EMAIL.fullmatch(value.strip(" <>()[]"))
    return found is not None and not key.endswith("email")


def _nonempty(cells: list[str]) -> list[str]:
    return [c for c in cells if c.strip()]


@dataclass(frozen=True)
class Hit:
    key: str
    value: str  # the value found on the same line ("" when it is to come)
    inline: bool  # the value came from the same line
    # The line only starts like a label ("Records secured; staff briefed.") or comes near one by
    # meaning without a ':' or '?': where a value is awaited, it is that value.
    loose: bool = False


# What a short line labels, by (form, line, section), for each Labels: a pure function of the
# three, and the same labels recur in form after form. Kept as long as the Labels lives.
_HITS: weakref.WeakKeyDictionary[Labels, Memo[tuple[str, str, str | None], Hit | None]] = (
    weakref.WeakKeyDictionary()
)


def _hits_for(labels: Labels) -> Memo[tuple[str, str, str | None], Hit | None]:
    memo = _HITS.get(labels)
    if memo is None:
        memo = _HITS[labels] = Memo()
    return memo


# A table-row rule: (rows, index) -> how many rows it read (0: not its kind of row).
_RowRule = Callable[["Collector", list[list[str]], int], int]


class Collector:
    """Walks blocks, keeping the current section and the text found for each field."""

    def __init__(self, labels: Labels, form: str, *, body: bool = False) -> None:
        self.labels = labels
        self.form = form
        self.body = body  # an email body: a blank line ends a value
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
        self._memo: dict[tuple[str, str | None], Hit | None] = {}  # lines too long for _HITS
        self._hits = _hits_for(labels)
        self.agency: dict[str, str] | None = None  # an agency given as label/value rows
        # Tables of entries (household, chronology): field -> rows as entry key -> cell text.
        self.table_rows: dict[str, list[dict[str, str]]] = {}
        self._tables = tuple(k for k in TABLE_FIELDS if k in FORMS[form])
        # Table state.
        self.agency_cols: dict[str, int] | None = None
        self.entry_table: tuple[str, dict[str, int]] | None = None  # (field, key -> column)
        self.rows: list[list[str]] = []

    # ---- labels --------------------------------------------------------------------------------

    def hit(self, line: str) -> Hit | None:
        """The field a line labels and the value that follows it on the line, if any."""
        text = line.strip()
        if not text:
            return None
        if len(text) <= MEMO_MAX_TEXT:
            return self._hits.get((self.form, text, self.section), lambda: self._hit(text))
        memo_key = (text, self.section)
        if memo_key not in self._memo:
            self._memo[memo_key] = self._hit(text)
        return self._memo[memo_key]

    def _hit(self, text: str) -> Hit | None:
        for label, value in label_splits(text):
            key = self.labels.match(self.form, label, self.section)
            if key is not None and not _only_an_email_for(key, value):
                return Hit(key, value.strip().lstrip("*_").strip(), True)
        found = self.labels.match_how(self.form, text, self.section)
        if found is None:
            return None
        key, used, by_meaning = found
        rest = _after_words(text, used)
        # Options typed after the label ("Looked after? ☐ Yes ☒ No") are its value.
        if rest and HAS_MARK.search(rest):
            return Hit(key, rest, True)
        asks = text.rstrip(" *").endswith((":", "?"))
        return Hit(key, "", False, loose=bool(normalise_label(rest)) or (by_meaning and not asks))

    def is_label_cell(self, cell: str, *, strict: bool = False) -> bool:
        """A cell whose first line is a label; ``strict``: a label and not a value that only
        starts like one."""
        first = next((ln for ln in cell.splitlines() if ln.strip()), "")
        hit = self.hit(first) if first else None
        return hit is not None and not (strict and hit.loose)

    def _pure_label(self, cell: str) -> bool:
        """A cell that is one label and nothing else (its value is elsewhere)."""
        lines = [ln for ln in cell.splitlines() if ln.strip()]
        if len(lines) != 1:
            return False
        hit = self.hit(lines[0])
        return hit is not None and not hit.value and not hit.loose

    def record(self, key: str, value: str) -> None:
        self.found.add(key)
        self.raw.setdefault(key, []).append(value)

    # ---- line streams (paragraphs, cell lines, body lines) -------------------------------------

    def flush(self) -> None:
        """Record the pending field with what has been read for it."""
        if self.pending is not None:
            self.record(self.pending, "\n".join(self.pending_lines).strip())
        self.pending = None
        self.pending_lines = []
        self.pending_open = False

    def line(self, text: str, heading: bool = False) -> None:
        """One paragraph, cell line or body line."""
        stripped = text.strip()
        if not stripped:
            self._blank_line()
            return
        if heading and self._opens_section(stripped):
            return
        hit = self.hit(stripped)
        if hit is not None and not self._value_after_all(stripped, hit):
            self._label_line(stripped, hit)
            return
        if self.section == "agencies" and self._agency_pair_line(stripped):
            return
        if not heading and self._continues_value(stripped):
            return
        self.flush()
        if not self.in_cell:
            self.heading(stripped, force=heading)

    def _value_after_all(self, text: str, hit: Hit) -> bool:
        """A line that looks like a label but is the value being read: a loose match where a
        value is awaited or a sentence continues one, or an agency's "Name - email" line."""
        if self.pending is None or not self.pending_open:
            return False
        if hit.loose and (not self.pending_lines or text.endswith(".")):
            return True
        return self.pending == "agencies_involved" and _EMAIL.search(text) is not None

    def _blank_line(self) -> None:
        if self.body and self.pending is not None and self.pending_lines:
            self.flush()  # in mail a blank line ends a value

    def _opens_section(self, text: str) -> bool:
        """A heading that opens a section. A form that styles its questions as headings still
        has them read as labels."""
        section = self.labels.section_for(self.form, text)
        if section is None:
            return False
        self.flush()
        self.section = section
        self.agency = None
        return True

    def _label_line(self, text: str, hit: Hit) -> None:
        """A label, with its value on the line or to come on the next."""
        if not self.in_cell:
            self.section = self.labels.section_for(self.form, text) or self.section
        self.flush()
        self.pending = hit.key
        self.pending_lines = [hit.value] if hit.value else []
        self.pending_open = not hit.value or hit.key in LONG_FIELDS
        if hit.value and not self.pending_open:
            self.flush()

    def _continues_value(self, text: str) -> bool:
        """The value of the label above, or one more line of a long value."""
        if self.pending is None or not self.pending_open:
            return False
        if self.pending in LONG_FIELDS:
            self.pending_lines.append(text)
            return True
        if self.pending_lines:
            return False
        self.pending_lines.append(text)
        self.flush()
        return True

    def _agency_pair_line(self, text: str) -> bool:
        """Under an agencies heading, "Agency: Police" / "Email: ..." lines describe agencies."""
        for label, value in label_splits(text):
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
        """Read the table's rows, each by the first rule that takes it."""
        rows, self.rows = self.rows, []
        self.agency_cols = None
        self.entry_table = None
        i = 0
        while i < len(rows):
            i += self._row(rows, i)
        self.flush()
        self.entry_table = None

    def _row(self, rows: list[list[str]], i: int) -> int:
        for rule in _ROW_RULES:
            used = rule(self, rows, i)
            if used:
                return used
        self._pairs(rows[i])
        return 1

    def _empty_row(self, rows: list[list[str]], i: int) -> int:
        return 0 if _nonempty(rows[i]) else 1

    def _entry_row(self, rows: list[list[str]], i: int) -> int:
        """A row of a household or chronology table: data to the table's end, never labels."""
        if self.entry_table is None:
            return 0
        key, cols = self.entry_table
        cells = rows[i]
        self.table_rows[key].append(
            {col: cells[k] if k < len(cells) else "" for col, k in cols.items()}
        )
        return 1

    def _entry_header_row(self, rows: list[list[str]], i: int) -> int:
        """ "Name | Relationship to the child | Date of birth": a table of entries starts."""
        for key in self._tables:
            cols = self._entry_header(key, rows[i])
            if cols is not None:
                self.flush()
                self.pending = None
                self.entry_table = (key, cols)
                self.table_rows.setdefault(key, [])
                self.found.add(key)
                return 1
        return 0

    def _entry_header(self, key: str, cells: list[str]) -> dict[str, int] | None:
        """The columns of ``key``'s table when most of the row names them, with its anchor."""
        cols: dict[str, int] = {}
        nonempty = 0
        for index, cell in enumerate(cells):
            if not cell.strip():
                continue
            nonempty += 1
            col = self.labels.table_column(key, cell) if len(cell) <= 60 else None
            if col is not None and col not in cols:
                cols[col] = index
        if len(cols) >= 2 and TABLE_ANCHORS[key] <= set(cols) and 2 * len(cols) >= nonempty:
            return cols
        return None

    def _agency_header_row(self, rows: list[list[str]], i: int) -> int:
        """ "Agency | Contact | Email": the columns of the agencies table that follows."""
        cols = self._agency_header(rows[i])
        if cols is None:
            return 0
        self.agency_cols = cols
        self.found.add("agencies_involved")
        return 1

    def _agency_table_row(self, rows: list[list[str]], i: int) -> int:
        """A row of the agencies table, until a row that starts with a label ends it."""
        if self.agency_cols is None:
            return 0
        cells = rows[i]
        if self.is_label_cell(_nonempty(cells)[0]):
            self.agency_cols = None
            return 0
        self.agency_rows.append(
            {col: cells[k] if k < len(cells) else "" for col, k in self.agency_cols.items()}
        )
        return 1

    def _agency_pairs_row(self, rows: list[list[str]], i: int) -> int:
        """Under an agencies heading, "Agency | Police | Email | x@y" rows describe agencies."""
        cells = rows[i]
        if self.section != "agencies" or len(cells) < 2:
            return 0
        pairs = [(cells[k], cells[k + 1]) for k in range(0, len(cells) - 1, 2)]
        pair_cols = [self.labels.agency_column(label) for label, _ in pairs]
        if pair_cols[0] is None or self.is_label_cell(cells[0]):
            return 0
        for col, (_, value) in zip(pair_cols, pairs, strict=True):
            if col is not None:
                self._agency_pair(col, value)
        return 1

    def _labels_over_values(self, rows: list[list[str]], i: int) -> int:
        """A row of labels over a row of values (and a full-width label over a full-width box)."""
        cells = rows[i]
        if i + 1 >= len(rows) or not all(c.strip() and self._pure_label(c) for c in cells):
            return 0
        below = rows[i + 1]
        if (
            len(below) != len(cells)
            or any(c.strip() and self.is_label_cell(c, strict=True) for c in below)
            or self._agency_header(below) is not None
        ):
            return 0
        for label_cell, value in zip(cells, below, strict=True):
            hit = self.hit(label_cell.strip().splitlines()[0])
            if hit is not None:
                self.record(hit.key, value)
        return 2

    def _full_width_row(self, rows: list[list[str]], i: int) -> int:
        """One filled cell: a section heading, or (not being a label) a heading or stray note."""
        nonempty = _nonempty(rows[i])
        if len(nonempty) != 1:
            return 0
        section = self.labels.section_for(self.form, nonempty[0].strip())
        if section is not None:
            self.section = section
        if self.is_label_cell(nonempty[0]):
            return 0
        for line in nonempty[0].splitlines():
            if line.strip():
                self.heading(line.strip())
                break
        return 1

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
                or (awaiting not in TEXT_FIELDS and HAS_MARK.search(cells[j]))
            ):
                parts = [cells[j]]
                j += 1
                # Options spread over cells ("Death | ☒ | Serious harm | ☐") belong together.
                if awaiting not in TEXT_FIELDS:
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


# The order matters: the first rule that reads a row takes it; a row none takes is label/value pairs.
_ROW_RULES: tuple[_RowRule, ...] = (
    Collector._empty_row,
    Collector._entry_row,
    Collector._entry_header_row,
    Collector._agency_header_row,
    Collector._agency_table_row,
    Collector._agency_pairs_row,
    Collector._labels_over_values,
    Collector._full_width_row,
)
