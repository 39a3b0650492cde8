"""Turn the raw text found for each field into its value: dates (via ``ukdates``), yes/no,
choices (incident type, abuse or neglect) by ticked box or by words, the agencies list, or text.

A value that cannot be read is None; one that could not be parsed is None plus a problem sentence
a person can act on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cspr_mailbot.core.forms.docxtext import CHECKED, UNCHECKED
from cspr_mailbot.core.forms.fields import (
    BOOL_FIELDS,
    CHOICE_FIELDS,
    DATE_FIELDS,
    FORMS,
    LIST_FIELDS,
    TABLE_DATE_KEYS,
    TABLE_FIELDS,
)
from cspr_mailbot.core.forms.labels import MEMO_MAX_TEXT, QUOTES, Labels, answer_norm
from cspr_mailbot.core.ukdates import parse_uk_date

__all__ = ["field_values", "clean_text", "choose"]

_BOOL_OPTIONS = {"true": True, "false": False}
_MARK_TOKENS = re.compile(
    r"\[\s*[xX✓✔]\s*\]|\(\s*[xX✓✔]\s*\)|\[\s*\]|\(\s*\)|[☒☑✓✔■⊠✗✘▣]|[☐□❑❒▢]|(?<![\w'])[xX](?![\w'])"
)
_MARKS = re.compile(f"[{CHECKED}{UNCHECKED}]")
_EMAIL = re.compile(r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_SPACES = re.compile(r"[ \u00a0\u2002\u2003]+")
_OPTION_GAP = re.compile(r"[\s/\-]+")
_PLACEHOLDER_PHRASES = (
    re.compile(r"click or tap (?:here )?to enter (?:text|a date)\.?", re.IGNORECASE),
    re.compile(r"click here to enter (?:text|a date)\.?", re.IGNORECASE),
    re.compile(r"choose an item\.?", re.IGNORECASE),
)
_PLACEHOLDER_WORDS = re.compile(r"click|choose", re.IGNORECASE)

# A token of a choice's text: (position, "mark" | "option", the mark or the option chosen).
_Token = tuple[int, str, str]


# ---- text ---------------------------------------------------------------------------------------


def clean_text(text: str | None, labels: Labels) -> str | None:
    """The text without placeholders, blank lines or odd spaces; None when nothing is left."""
    if text is None:
        return None
    lines: list[str] = []
    for ln in text.replace("\r", "").replace("\t", " ").split("\n"):
        ln = ln.strip()
        if not ln or labels.is_placeholder(ln):
            continue
        # Every placeholder phrase holds one of these words: a line without them has none.
        if _PLACEHOLDER_WORDS.search(ln):
            for placeholder in _PLACEHOLDER_PHRASES:
                ln = placeholder.sub("", ln).strip()
            if not ln:
                continue
        lines.append(_SPACES.sub(" ", ln))
    value = "\n".join(lines).strip()
    if not value or labels.is_placeholder(value):
        return None
    return value


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
    return bool(a == b)


# ---- choices: ticked boxes or words ------------------------------------------------------------


@lru_cache(maxsize=64)
def _options_regex_of(
    options: tuple[tuple[str, tuple[str, ...]], ...],
) -> tuple[re.Pattern[str], Mapping[str, str]]:
    """The pattern of every option's words, longest first, and word -> option: built once for
    each set of options (the same few [answers] tables are asked about in every form)."""
    by_words: dict[str, str] = {}
    for option, words in options:
        for w in words:
            by_words.setdefault(w, option)
    ordered = sorted(by_words, key=len, reverse=True)
    parts = [r"[\s/\-]+".join(re.escape(t).replace("'", "'?") for t in w.split()) for w in ordered]
    pattern = re.compile(r"(?<![\w'])(?:" + "|".join(parts) + r")(?![\w'])")
    return pattern, by_words


def _mark_of(token: str) -> str:
    inner = token.strip("[]() ")
    if token in "☐□❑❒▢" or not inner:
        return f" {UNCHECKED} "
    return f" {CHECKED} "


def _option_of(found: str, by_words: Mapping[str, str]) -> str | None:
    """The option the matched words name, apostrophes or not."""
    words = " ".join(_OPTION_GAP.sub(" ", found).split())
    option = by_words.get(words) or by_words.get(words.replace("'", ""))
    if option is not None:
        return option
    bare = words.replace("'", "")
    for w, opt in by_words.items():
        if w.replace("'", "") == bare:
            return opt
    return None


def _tokens(marked: str, pattern: re.Pattern[str], by_words: Mapping[str, str]) -> list[_Token]:
    """The options named and the boxes (☒/☐) in ``marked``, in the order they come."""
    tokens: list[_Token] = []
    for m in pattern.finditer(marked):
        option = _option_of(m.group(0), by_words)
        if option is not None:
            tokens.append((m.start(), "option", option))
    for m in _MARKS.finditer(marked):
        tokens.append((m.start(), "mark", m.group(0)))
    tokens.sort()
    return tokens


def _by_boxes(tokens: list[_Token]) -> tuple[str | None, str | None]:
    """The option whose box is ticked; boxes go before their options or after, as the first does."""
    if not any(t[1] == "option" for t in tokens):
        return None, None
    mark_first = tokens[0][1] == "mark"
    chosen: list[str] = []
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


def _by_words(
    tokens: list[_Token], pattern: re.Pattern[str], marked: str
) -> tuple[str | None, str | None]:
    """The one option the words name; the bare prompt ("Yes / No") is no answer."""
    distinct = sorted({t[2] for t in tokens})
    if len(distinct) == 1:
        return distinct[0], None
    if not distinct:
        return None, "it is not one of the expected answers"
    leftover = pattern.sub(" ", marked)
    if re.sub(r"[\s/\-,|or]+", "", leftover) == "":
        return None, None  # the unanswered prompt, e.g. "Yes / No"
    return None, "it gives more than one answer"


def choose(text: str, options: Mapping[str, tuple[str, ...]]) -> tuple[str | None, str | None]:
    """(option, problem): which option ``text`` picks, by ticked box or by words.

    A pure function of the two: a short text is answered once for each set of options, since the
    same answers ("Yes", "☒ Death ☐ Serious harm") come in form after form.
    """
    items = tuple(options.items())
    if len(text) <= MEMO_MAX_TEXT:
        return _choose_short(text, items)
    return _choose(text, items)


def _choose(
    text: str, options: tuple[tuple[str, tuple[str, ...]], ...]
) -> tuple[str | None, str | None]:
    plain = unicodedata.normalize("NFKC", text).translate(QUOTES)
    marked = _MARK_TOKENS.sub(lambda m: _mark_of(m.group(0)), plain).casefold()
    pattern, by_words = _options_regex_of(options)
    tokens = _tokens(marked, pattern, by_words)
    if any(t[1] == "mark" for t in tokens):
        return _by_boxes(tokens)
    return _by_words(tokens, pattern, marked)


_choose_short = lru_cache(maxsize=4096)(_choose)


# ---- agencies -----------------------------------------------------------------------------------


_BRACKETED = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]|<([^<>]*)>")


def _agency_from_text(item: str) -> dict[str, Any] | None:
    """One agency as typed: "West Midlands Police (DS Patel)", "CSC - mash@x.gov.uk",
    "Health Visiting <hv@nhs.example>". Brackets hold the contact or the email, never the name."""
    item = re.sub(r"^\s*(?:[-*•·]|\d+[.)])\s*", "", item).strip()
    if not item:
        return None
    email_match = _EMAIL.search(item)
    email = email_match.group(0) if email_match else None
    contact: str | None = None
    for match in _BRACKETED.finditer(item):
        inner = " ".join(next(g for g in match.groups() if g is not None).split())
        if inner and not _EMAIL.search(inner) and contact is None:
            contact = inner.strip(" ,;:-–")
    name = _BRACKETED.sub(" ", item)
    name = _EMAIL.sub("", name) if email else name
    name = " ".join(name.split()).strip(" -–,:;")
    return {"name": name or None, "contact_name": contact or None, "email": email}


def _agency_list(text: str) -> list[dict[str, Any]] | None:
    """Agencies typed as text: one a line or split by ';', else by ','. An email address on a
    line of its own belongs to the agency above it, not to an agency with no name."""
    parts = re.split(r"[;\n]", text) if re.search(r"[;\n]", text) else text.split(",")
    agencies: list[dict[str, Any]] = []
    for part in parts:
        agency = _agency_from_text(part)
        if agency is None:
            continue
        alone = agency["name"] is None and agency["contact_name"] is None
        if alone and agencies and agencies[-1]["email"] is None:
            agencies[-1]["email"] = agency["email"]
            continue
        agencies.append(agency)
    return agencies or None


# ---- tables of entries typed as text -------------------------------------------------------------

_DATE_LIKE = re.compile(
    r"\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b|"
    r"\b\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?[A-Za-z]{3,9}\.?,?\s+\d{4}\b"
)


def _entry_date(text: str | None) -> str | None:
    """A date cell: ISO when it reads as a UK date, else as written."""
    if text is None:
        return None
    parsed = parse_uk_date(text)
    return parsed.isoformat() if parsed else text


def _entries_from_text(key: str, text: str) -> list[dict[str, Any]] | None:
    """Entries typed one a line (or split by ';'): "Kelly Example, mother, 12/05/1994" or
    "03/12/2026 - seen at A&E - referred to MASH". The date goes to its key, the other parts to
    the others in the form's column order."""
    items = re.split(r"[;\n]", text)
    cols = TABLE_FIELDS[key]
    date_key = next(c for c in cols if c in TABLE_DATE_KEYS)
    others = [c for c in cols if c != date_key]
    out: list[dict[str, Any]] = []
    for item in items:
        item = re.sub(r"^\s*(?:[-*•·]|\d+[.)])\s+", "", item).strip()
        if not item:
            continue
        entry: dict[str, Any] = dict.fromkeys(cols)
        found = _DATE_LIKE.search(item)
        if found is not None:
            entry[date_key] = _entry_date(found.group(0))
            item = (item[: found.start()] + " " + item[found.end() :]).strip()
        parts = [p.strip(" ,-–—:()") for p in re.split(r",|\s[-–—]\s|\(|\)", item)]
        parts = [p for p in parts if p]
        if len(parts) > len(others):
            parts = [*parts[: len(others) - 1], ", ".join(parts[len(others) - 1 :])]
        for col, part in zip(others, parts, strict=False):
            entry[col] = part
        out.append(entry)
    return out or None


# ---- the converter ------------------------------------------------------------------------------


class _Converter:
    def __init__(self, labels: Labels, form: str) -> None:
        self.labels = labels
        self.form = form
        self.problems: list[str] = []

    def value(self, key: str, raw: str) -> Any:
        text = clean_text(raw, self.labels)
        if text is None:
            return None
        if key in DATE_FIELDS:
            return self._date(key, text, self._not_given(text))
        if key in BOOL_FIELDS:
            return self._bool(key, text, self._not_given(text))
        if key in CHOICE_FIELDS:
            return self._choice(key, text, self._not_given(text), CHOICE_FIELDS[key])
        if key in LIST_FIELDS:
            return _agency_list(text)
        if key in TABLE_FIELDS:
            return _entries_from_text(key, text)
        return text

    def _not_given(self, text: str) -> bool:
        """An answer that says it is not known ("N/A", "not known"): for dates, yes/no, choices."""
        return answer_norm(text) in self.labels.answers.get("not_given", {}).get("words", ())

    def _date(self, key: str, text: str, not_given: bool) -> str | None:
        parsed = parse_uk_date(text)
        if parsed is None:
            if not not_given:
                name = self.labels.name(self.form, key)
                self.problems.append(f"The {name} '{_short(text)}' is not a date we can read")
            return None
        return parsed.isoformat()

    def _bool(self, key: str, text: str, not_given: bool) -> bool | None:
        words = self.labels.answers.get("bool", {})
        if not_given and answer_norm(text) not in {w for ws in words.values() for w in ws}:
            return None  # "N/A", "N/K": no answer, not the "N" of "No"
        option = self._choice(key, text, not_given, "bool")
        return _BOOL_OPTIONS.get(option) if option else None

    def _choice(self, key: str, text: str, not_given: bool, kind: str) -> str | None:
        option, problem = choose(text, self.labels.answers.get(kind, {}))
        if problem and not not_given:
            name = self.labels.name(self.form, key)
            self.problems.append(f"The answer for {name} ('{_short(text)}'): {problem}")
        return option

    def entries(self, key: str, rows: list[dict[str, str]]) -> list[dict[str, Any]] | None:
        """A household or chronology table's rows as entries; empty rows left out."""
        out: list[dict[str, Any]] = []
        for row in rows:
            entry = {col: clean_text(row.get(col), self.labels) for col in TABLE_FIELDS[key]}
            if not any(entry.values()):
                continue
            for col in TABLE_DATE_KEYS & set(entry):
                entry[col] = _entry_date(entry[col])
            out.append(entry)
        return out or None

    def agencies(self, rows: list[dict[str, str]]) -> list[dict[str, Any]] | None:
        out: list[dict[str, Any]] = []
        for row in rows:
            name = clean_text(row.get("name"), self.labels)
            contact = clean_text(row.get("contact_name"), self.labels)
            email_text = clean_text(row.get("email"), self.labels)
            if not (name or contact or email_text):
                continue
            out.append(
                {
                    "name": name,
                    "contact_name": contact,
                    "email": self._email(email_text, name or contact),
                }
            )
        return out or None

    def _email(self, text: str | None, who: str | None) -> str | None:
        if not text:
            return None
        found = _EMAIL.search(text)
        if found:
            return found.group(0)
        self.problems.append(
            f"The email given for {who or 'an agency'} ('{_short(text)}') is not an email address"
        )
        return None


def field_values(
    raw: Mapping[str, list[str]],
    agency_rows: list[dict[str, str]],
    labels: Labels,
    form: str,
    table_rows: Mapping[str, list[dict[str, str]]] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Every field of ``form`` (None when not read) from the raw text collected, and the problems.

    When a field was found more than once, the first value read is used, and a different later
    one is a problem. An agencies (household, chronology) table wins over the same typed as text.
    """
    converter = _Converter(labels, form)
    values: dict[str, Any] = {key: None for key in FORMS[form]}
    for key, raws in raw.items():
        values[key] = _first_value(converter, key, raws)
    if form == "referral" and agency_rows:
        table = converter.agencies(agency_rows)
        if table:
            values["agencies_involved"] = table
    for key, rows in (table_rows or {}).items():
        entries = converter.entries(key, rows)
        if entries:
            values[key] = entries
    return values, converter.problems


def _first_value(converter: _Converter, key: str, raws: list[str]) -> Any:
    chosen: Any = None
    for raw in raws:
        value = converter.value(key, raw)
        if value is None:
            continue
        if chosen is None:
            chosen = value
        elif not _same(chosen, value):
            name = converter.labels.name(converter.form, key)
            converter.problems.append(f"The form gives more than one {name}; the first is used")
            break
    return chosen
