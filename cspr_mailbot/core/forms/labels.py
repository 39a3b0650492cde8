"""The label synonyms the reader knows: ``data/labels.toml`` plus the partnership's own, and matching.

A label is normalised (case, punctuation, brackets, numbering and spacing dropped) and matches a
synonym exactly, or starts with a synonym of two or more words, or, failing both, comes near enough
to one by meaning: rapidfuzz's token-sort ratio over the words that carry meaning (``[fuzzy]`` in
labels.toml drops "the", "is", "your"... and reads "LA" as "local authority", "reporter" as
"referrer"). A date question is only ever compared with date fields and the others only with the
others. ``FUZZY_THRESHOLD`` is measured on the golden corpus (tests/test_forms.py): every label of
every golden form reaches its own field, and no label comes this near to a wrong one. Sections
("Details of the child") give generic labels ("Name", "Email") their meaning.
"""

from __future__ import annotations

import bisect
import math
import re
import tomllib
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Generic, TypeVar

from cspr_mailbot.core.forms.fields import DATE_FIELDS, FORMS, TABLE_FIELDS
from cspr_mailbot.errors import ConfigError

__all__ = ["FUZZY_THRESHOLD", "Labels", "Memo", "normalise_label", "answer_norm", "QUOTES"]

# Measured on the golden corpus (tests/test_forms.py::test_fuzzy_threshold_is_measured_on_the_corpus):
# the right field's score for every golden label that only fuzzy matching reads is at least this, and
# every golden label's nearest wrong field scores below it.
FUZZY_THRESHOLD = 85.0
# Longer "labels" are sentences: they are never matched by meaning.
_FUZZY_MAX_WORDS = 14

QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u02bc": "'", "`": "'"})
_BRACKETS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_NUMBERING = re.compile(r"^\s*(?:(?:section|part|q|question)\s*)?\d+[a-z]?(?:\.\d+)*[.):]?\s+")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_DATE_WORDS = frozenset({"date", "when", "dates", "dob"})
_ANSWER_NON_WORD = re.compile(r"[^0-9a-z' ]+")

# Texts up to this long are remembered once normalised or matched: labels are short and the same
# ones recur in form after form; a long text (a paragraph of an answer) is worked out each time, so
# what is remembered stays small whatever a document holds.
MEMO_MAX_TEXT = 200

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """A pure function's results by argument, at most ``limit`` of them (emptied when full)."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._values: dict[K, V] = {}

    def get(self, key: K, compute: Callable[[], V]) -> V:
        try:
            return self._values[key]
        except KeyError:
            pass
        value = compute()
        if len(self._values) >= self.limit:
            self._values.clear()
        self._values[key] = value
        return value

    def __len__(self) -> int:
        return len(self._values)


def normalise_label(text: str) -> str:
    """Lower-case words only: no brackets, punctuation, apostrophes, numbering or extra spaces."""
    if len(text) <= MEMO_MAX_TEXT:
        return _normalise_short(text)
    return _normalise(text)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(QUOTES).casefold()
    text = text.replace("'", "").replace("&", " and ")
    previous = None
    while previous != text:  # nested brackets
        previous, text = text, _BRACKETS.sub(" ", text)
    text = _NUMBERING.sub("", text)
    return _NON_WORD.sub(" ", text).strip()


_normalise_short = lru_cache(maxsize=8192)(_normalise)


def answer_norm(word: str) -> str:
    """An answer word as the reader compares it: lower case, apostrophes kept, single spaces."""
    text = unicodedata.normalize("NFKC", word).translate(QUOTES).casefold()
    return " ".join(_ANSWER_NON_WORD.sub(" ", text).split())


@dataclass(frozen=True)
class Section:
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
    sections: dict[str, dict[str, Section]]  # form -> section -> headings and generic labels
    answers: dict[str, dict[str, tuple[str, ...]]]  # kind -> option -> words (lower-case)
    agency_columns: dict[str, tuple[str, ...]]  # name | contact_name | email -> normalised
    placeholders: tuple[str, ...]  # normalised
    # household | chronology -> entry key -> normalised column names ([household_columns] ...)
    table_columns: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    _exact: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    # Synonyms a label may start with, by their first word, longest first: a label can only
    # start with a synonym that starts with its own first word.
    _prefix_by_word: dict[str, dict[str, list[tuple[str, str]]]] = field(
        default_factory=dict, repr=False
    )
    _generic: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    # The words fuzzy matching ignores, and word -> the word it stands for ("la" -> "local authority").
    fuzzy_ignore: frozenset[str] = frozenset()
    fuzzy_words: dict[str, str] = field(default_factory=dict)
    exact_only: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)  # not by meaning
    # form -> (is a date field) -> the meaning words of each synonym, for rapidfuzz.
    _fuzzy: dict[str, dict[bool, _Synonyms]] = field(default_factory=dict, repr=False)
    # What matching found, by its arguments: matching is a pure function of the synonyms above,
    # which nothing changes once built, and the same labels recur in form after form.
    _how: Memo[tuple[str, str, str | None], tuple[str, int, bool] | None] = field(
        default_factory=Memo, repr=False
    )
    _section_of: Memo[tuple[str, str], str | None] = field(default_factory=Memo, repr=False)
    _column_of: Memo[tuple[str, str], str | None] = field(default_factory=Memo, repr=False)

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
        exact_only: dict[str, dict[str, frozenset[str]]] = {}
        for form, keys in FORMS.items():
            table = data.get(form, {})
            fields_[form] = {}
            names[form] = {}
            exact_only[form] = {}
            for key in keys:
                entry = table.get(key, {})
                fields_[form][key] = _norm_all([*entry.get("labels", []), *entry.get("exact", [])])
                exact_only[form][key] = frozenset(_norm_all(entry.get("exact", [])))
                names[form][key] = str(entry.get("name", key.replace("_", " ")))
        sections: dict[str, dict[str, Section]] = {}
        for form, table in data.get("sections", {}).items():
            sections[form] = {
                name: Section(
                    headings=_norm_all(sec.get("headings", [])),
                    fields={k: _norm_all(v) for k, v in sec.get("fields", {}).items()},
                )
                for name, sec in table.items()
            }
        answers = {
            kind: {opt: tuple(answer_norm(w) for w in words) for opt, words in opts.items()}
            for kind, opts in data.get("answers", {}).items()
        }
        columns = {k: _norm_all(v) for k, v in data.get("agency_columns", {}).items()}
        placeholders = _norm_all(data.get("placeholders", {}).get("texts", []))
        tables = {
            key: {col: _norm_all(v) for col, v in data.get(f"{key}_columns", {}).items()}
            for key in TABLE_FIELDS
        }
        fuzzy = data.get("fuzzy", {})
        ignore = frozenset(
            w for text in fuzzy.get("ignore", []) for w in normalise_label(text).split()
        )
        words = {
            normalise_label(str(variant)): normalise_label(canonical)
            for canonical, variants in fuzzy.get("words", {}).items()
            for variant in variants
        }
        labels = cls(
            fields_,
            names,
            sections,
            answers,
            columns,
            placeholders,
            tables,
            fuzzy_ignore=ignore,
            fuzzy_words=words,
            exact_only=exact_only,
        )
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
            by_kind: dict[bool, list[tuple[str, str]]] = {True: [], False: []}
            for key, synonyms in table.items():
                for syn in synonyms:
                    meaning = self.meaning(syn)
                    if meaning and syn not in self.exact_only.get(form, {}).get(key, ()):
                        by_kind[key in DATE_FIELDS].append((meaning, key))
            self._fuzzy[form] = {kind: _Synonyms.of(found) for kind, found in by_kind.items()}

    # ---- matching ---------------------------------------------------------------------------

    def match(self, form: str, label: str, section: str | None = None) -> str | None:
        """The field ``label`` names on ``form`` (under ``section``), or None."""
        found = self.match_prefix(form, label, section)
        return found[0] if found else None

    def match_prefix(
        self, form: str, label: str, section: str | None = None
    ) -> tuple[str, int] | None:
        """(field, how many words of the normalised label the synonym used), or None."""
        found = self.match_how(form, label, section)
        return (found[0], found[1]) if found else None

    def match_how(
        self, form: str, label: str, section: str | None = None
    ) -> tuple[str, int, bool] | None:
        """(field, words of the label used, matched by meaning rather than by a synonym), or None."""
        if len(label) > MEMO_MAX_TEXT:
            return self._match_how(form, label, section)
        return self._how.get((form, label, section), lambda: self._match_how(form, label, section))

    def _match_how(
        self, form: str, label: str, section: str | None
    ) -> tuple[str, int, bool] | None:
        norm = normalise_label(label)
        if not norm:
            return None
        words = len(norm.split())
        key = self._section_match(form, norm, section)
        if key is not None:
            return key, words, False
        if norm in self._exact[form]:
            # Under a section a generic word ("name", "email") belongs to that section alone.
            if section is not None and norm in self._generic.get(form, frozenset()):
                return None
            return self._exact[form][norm], words, False
        found = self._prefix_match(form, norm)
        if found is not None:
            return found[0], found[1], False
        key = self.match_fuzzy(form, norm)
        return (key, words, True) if key is not None else None

    # ---- matching by meaning --------------------------------------------------------------------

    def meaning(self, norm: str) -> str:
        """The words of a normalised label that carry its meaning, abbreviations spelt out."""
        out: list[str] = []
        for word in norm.split():
            word = self.fuzzy_words.get(word, word)
            out.extend(w for w in word.split() if w not in self.fuzzy_ignore)
        return " ".join(out)

    def fuzzy_scores(self, form: str, norm: str) -> dict[str, float]:
        """field -> the best token-sort ratio of the label's meaning to one of its synonyms."""
        return self._fuzzy_scores(form, norm, 50)

    def _fuzzy_scores(self, form: str, norm: str, cutoff: float) -> dict[str, float]:
        """``fuzzy_scores`` of the fields that score ``cutoff`` or more (each score exact)."""
        norm_words = norm.split()
        if len(norm_words) > _FUZZY_MAX_WORDS:
            return {}
        # One word of meaning ("Name", "What your agency did") is too little to go on: such labels
        # are left to synonyms and sections.
        words = self.meaning(norm).split()
        if len(words) < 2:
            return {}
        is_date = bool(set(norm_words + words) & _DATE_WORDS)
        synonyms = self._fuzzy.get(form, {}).get(is_date)
        return synonyms.scores(words, cutoff) if synonyms is not None else {}

    def match_fuzzy(self, form: str, norm: str) -> str | None:
        """The one field whose synonyms the label comes within FUZZY_THRESHOLD of, or None."""
        near = list(self._fuzzy_scores(form, norm, FUZZY_THRESHOLD))
        return near[0] if len(near) == 1 else None

    def _section_match(self, form: str, norm: str, section: str | None) -> str | None:
        """The field a generic label names under ``section`` ("Name" under the child's details)."""
        sec = self.sections.get(form, {}).get(section) if section is not None else None
        if sec is None:
            return None
        for key, synonyms in sec.fields.items():
            if norm in synonyms:
                return key
        return None

    def _prefix_match(self, form: str, norm: str) -> tuple[str, int] | None:
        """The longest synonym of two or more words the label starts with, and its length."""
        for syn, key in self._prefix_by_word[form].get(norm.split()[0], ()):
            if norm.startswith(syn + " "):
                rest = norm[len(syn) + 1 :]
                if key not in DATE_FIELDS and rest.split()[0] in _DATE_WORDS:
                    continue  # "National Panel notified - date" is the date, not the yes/no
                return key, len(syn.split())
        return None

    def section_for(self, form: str, heading: str) -> str | None:
        """The section a heading opens ("Details of the child" -> "child"), or None."""
        if len(heading) > MEMO_MAX_TEXT:
            return self._section_for(form, heading)
        return self._section_of.get((form, heading), lambda: self._section_for(form, heading))

    def _section_for(self, form: str, heading: str) -> str | None:
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
        """The agencies-table column a header names (name | contact_name | email), or None."""
        return self._column("", self.agency_columns, header)

    def table_column(self, table: str, header: str) -> str | None:
        """The entry key a column header of ``table`` (household | chronology) names, or None."""
        return self._column(table, self.table_columns.get(table, {}), header)

    def _column(
        self, table: str, columns: Mapping[str, tuple[str, ...]], header: str
    ) -> str | None:
        if len(header) > MEMO_MAX_TEXT:
            return _column(columns, header)
        return self._column_of.get((table, header), lambda: _column(columns, header))


def _column(columns: Mapping[str, tuple[str, ...]], header: str) -> str | None:
    """The column a header names: exactly, else the longest synonym of two or more words it
    starts with ("Named contact at the school" -> contact)."""
    norm = normalise_label(header)
    if not norm:
        return None
    for col, synonyms in columns.items():
        if norm in synonyms:
            return col
    best: tuple[int, str] | None = None
    for col, synonyms in columns.items():
        for syn in synonyms:
            if " " in syn and norm.startswith(syn + " "):
                if best is None or len(syn) > best[0]:
                    best = (len(syn), col)
    return best[1] if best else None


@dataclass(frozen=True)
class _Synonyms:
    """Synonyms' meaning words, each with its field, for rapidfuzz: sorted by their length.

    A token-sort ratio is the plain ratio of the two texts' words in sorted order, so each
    synonym's words are sorted once here rather than in every comparison. And the ratio (100
    less the share of the two lengths' sum that an insertion or deletion must change) cannot
    reach a cutoff for a synonym whose length differs from the label's by more than that share:
    only the synonyms of a length that could are given to rapidfuzz. tests/test_labels_fuzzy.py
    holds the scores to ``fuzz.token_sort_ratio`` against every synonym.
    """

    texts: tuple[str, ...]  # each synonym's meaning words, sorted, the shortest first
    keys: tuple[str, ...]  # the field of each
    lengths: tuple[int, ...]  # the length of each text

    @classmethod
    def of(cls, found: Iterable[tuple[str, str]]) -> _Synonyms:
        pairs = [(" ".join(sorted(meaning.split())), key) for meaning, key in found]
        pairs.sort(key=lambda pair: len(pair[0]))
        return cls(
            tuple(t for t, _ in pairs), tuple(k for _, k in pairs), tuple(len(t) for t, _ in pairs)
        )

    def scores(self, words: list[str], cutoff: float) -> dict[str, float]:
        """field -> the best token-sort ratio of ``words`` to its synonyms, where ``cutoff`` or more."""
        text = " ".join(sorted(words))
        share = 1 - cutoff / 100  # the most of the lengths' sum the texts may differ by
        shortest = math.floor(len(text) * (1 - share) / (1 + share)) - 1
        longest = math.ceil(len(text) * (1 + share) / max(1 - share, 1e-9)) + 1
        lo = bisect.bisect_left(self.lengths, shortest)
        hi = bisect.bisect_right(self.lengths, longest)
        from rapidfuzz import fuzz, process  # at the first fuzzy match: many passes have none

        best: dict[str, float] = {}
        for _text, score, index in process.extract(
            text, self.texts[lo:hi], scorer=fuzz.ratio, limit=None, score_cutoff=cutoff
        ):
            key = self.keys[lo + index]
            best[key] = max(best.get(key, 0.0), score)
        return best


def _norm_all(words: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for word in words:
        norm = normalise_label(str(word))
        if norm and norm not in out:
            out.append(norm)
    return tuple(out)


# ---- the config's [labels] table ----------------------------------------------------------------


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
    target = _TARGETS.get(parts[0], _no_target)(data, parts)
    if target is None:
        raise ConfigError(f"labels.{key}", "is not a field, answer or column the form reader knows")
    target.extend(words)


# Each finds the list a dotted key extends in the toml data ("referral.child_name" -> its labels),
# or None when the key names nothing the reader knows.


def _field_target(data: dict[str, Any], parts: list[str]) -> list[Any] | None:
    form = parts[0]
    if len(parts) != 2 or parts[1] not in FORMS[form]:
        return None
    entry: dict[str, Any] = data.setdefault(form, {}).setdefault(parts[1], {})
    words: list[Any] = entry.setdefault("labels", [])
    return words


def _answer_target(data: dict[str, Any], parts: list[str]) -> list[Any] | None:
    if len(parts) != 3 or parts[1] not in data.get("answers", {}):
        return None
    words: list[Any] | None = data["answers"][parts[1]].get(parts[2])
    return words


def _column_target(data: dict[str, Any], parts: list[str]) -> list[Any] | None:
    if len(parts) != 2 or parts[1] not in data.get(parts[0], {}):
        return None
    words: list[Any] = data[parts[0]][parts[1]]
    return words


def _placeholder_target(data: dict[str, Any], parts: list[str]) -> list[Any] | None:
    if len(parts) != 1:
        return None
    words: list[Any] = data.setdefault("placeholders", {}).setdefault("texts", [])
    return words


def _section_target(data: dict[str, Any], parts: list[str]) -> list[Any] | None:
    if len(parts) != 4 or parts[1] not in data.get("sections", {}):
        return None
    sec: dict[str, Any] | None = data["sections"][parts[1]].get(parts[2])
    if sec is None:
        return None
    words: list[Any]
    if parts[3] == "headings":
        words = sec.setdefault("headings", [])
    elif parts[3] in FORMS.get(parts[1], ()):
        words = sec.setdefault("fields", {}).setdefault(parts[3], [])
    else:
        return None
    return words


def _no_target(data: dict[str, Any], parts: list[str]) -> list[Any] | None:
    return None


_TARGETS = {
    **dict.fromkeys(FORMS, _field_target),
    "answers": _answer_target,
    "agency_columns": _column_target,
    **{f"{key}_columns": _column_target for key in TABLE_FIELDS},
    "placeholders": _placeholder_target,
    "sections": _section_target,
}
