"""clean_text skips the placeholder phrases' substitutions on lines without "click" or "choose":
it gives what applying every phrase to every line gives (the earlier formulation, kept here)."""

from __future__ import annotations

import pytest

from cspr_mailbot.core.forms import convert
from cspr_mailbot.core.forms.labels import Labels

LABELS = Labels.load()


def _every_phrase_on_every_line(text: str | None, labels: Labels) -> str | None:
    if text is None:
        return None
    lines = [ln.strip() for ln in text.replace("\r", "").replace("\t", " ").split("\n")]
    lines = [ln for ln in lines if ln and not labels.is_placeholder(ln)]
    for placeholder in convert._PLACEHOLDER_PHRASES:
        lines = [placeholder.sub("", ln).strip() for ln in lines]
    lines = [convert._SPACES.sub(" ", ln) for ln in lines if ln]
    value = "\n".join(lines).strip()
    if not value or labels.is_placeholder(value):
        return None
    return value


TEXTS = [
    None,
    "",
    "  Kelly  Example \t",
    "Line one\r\n\nline\u00a0two\u2003 end",
    "Click or tap here to enter text.",
    "CLICK HERE TO ENTER A DATE",
    "Choose an item.",
    "Yes  Choose an item.",
    "choose an click here to enter text.item.",
    "cli\u212ak here to enter text.",  # KELVIN SIGN matches k when case is ignored
    "Click or tap to enter a date.\nReal answer\n\t\n",
    "n/a",
    "Click",
    "chooser of items",
    "\u00a0\u00a0",
]


@pytest.mark.parametrize("text", TEXTS)
def test_clean_text_is_every_phrase_on_every_line(text: str | None) -> None:
    assert convert.clean_text(text, LABELS) == _every_phrase_on_every_line(text, LABELS)
