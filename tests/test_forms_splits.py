"""collect.label_splits looks only at the characters that can split a label from its value (a
regex finds them): it splits every text as the character-by-character scan it replaced does, on
every line of every golden and bench form and on generated text full of brackets, colons and
question marks."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from cspr_mailbot.core.forms.collect import label_splits
from cspr_mailbot.core.forms.labels import normalise_label
from tests.test_docxtext import form_lines

_DASH_SPLIT = re.compile(r"\s+[-–—=]+\s+")


def scanned_splits(text: str) -> list[tuple[str, str]]:
    """label_splits as it was: every character looked at in turn."""
    out: list[tuple[str, str]] = []
    depth = 0
    question: tuple[str, str] | None = None
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch == "?" and depth == 0 and question is None:
            rest = text[i + 1 :].strip(" \t:*-–—")
            if text[i + 1 : i + 2].isspace() and normalise_label(rest):
                question = (text[:i], rest)
        elif ch == ":" and depth == 0:
            if text[i + 1 : i + 3] == "//":
                continue
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


def test_every_line_of_every_form_splits_as_the_scan_splits() -> None:
    lines = set(form_lines())
    assert len(lines) > 1000
    split = 0
    for line in lines:
        text = line.strip()
        assert label_splits(text) == scanned_splits(text), text
        split += bool(scanned_splits(text))
    assert split > 100


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab ?:()[]/\t-–", max_size=40))
def test_generated_text_splits_as_the_scan_splits(text: str) -> None:
    assert label_splits(text) == scanned_splits(text)
