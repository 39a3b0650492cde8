"""What the form reader remembers between forms (issue 15): the same answers, each Labels its own, bounded."""

from __future__ import annotations

from typing import Any

import pytest

from cspr_mailbot.core.forms import Labels, read_referral_docx
from cspr_mailbot.core.forms import collect as collect_module
from cspr_mailbot.core.forms import convert as convert_module
from cspr_mailbot.core.forms.labels import MEMO_MAX_TEXT, Memo
from tests import docxfactory as f

PAIRS = {
    "Referrer's name": "Jo Bloggs",
    "Name of the child": "Amy Example",
    "Date of birth of the child": "01/02/2016",
    "What happened to the child (describe)": "Admitted to hospital.",
    "Young person": "Amy Example",
}


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[Any]:
    """Count the calls to Labels.``name`` (the uncached work behind a remembered answer)."""
    calls: list[Any] = []
    original = getattr(Labels, name)

    def counted(self: Labels, *args: Any) -> Any:
        calls.append(args)
        return original(self, *args)

    monkeypatch.setattr(Labels, name, counted)
    return calls


def test_a_second_form_with_the_same_labels_reads_the_same_without_matching_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    labels = Labels.load()
    calls = _counting(monkeypatch, "_match_how")
    data = f.two_column(PAIRS)
    first = read_referral_docx(data, "a.docx", labels)
    assert calls, "the first form is matched label by label"
    calls.clear()
    second = read_referral_docx(f.two_column(PAIRS), "b.docx", labels)
    assert second == first
    assert calls == []


def test_labels_with_other_synonyms_are_never_answered_from_anothers_memory() -> None:
    data = f.two_column(PAIRS)
    plain, extended = Labels.load(), Labels.load({"referral.child_name": ["young person"]})
    for _ in range(2):  # in either order, and again once both have remembered
        assert read_referral_docx(data, "r.docx", plain).fields["child_name"] == "Amy Example"
        only_young = f.two_column({"Young person": "Kim Example", "Referrer's name": "Jo"})
        assert read_referral_docx(only_young, "r.docx", plain).fields["child_name"] is None
        assert (
            read_referral_docx(only_young, "r.docx", extended).fields["child_name"] == "Kim Example"
        )


def test_a_memo_holds_at_most_its_limit() -> None:
    memo: Memo[int, int] = Memo(limit=3)
    computed: list[int] = []

    def square(n: int) -> int:
        computed.append(n)
        return n * n

    for n in [1, 2, 3, 1, 2, 3]:
        assert memo.get(n, lambda n=n: square(n)) == n * n
    assert computed == [1, 2, 3]
    for n in range(4, 50):
        memo.get(n, lambda n=n: square(n))
        assert len(memo) <= 3
    assert memo.get(49, lambda: -1) == 49 * 49


def test_long_lines_are_matched_each_time_and_never_remembered() -> None:
    labels = Labels.load()
    long_line = "Name of the child: " + "Amy Example " * (MEMO_MAX_TEXT // 10)
    data = f.paragraphs({"Referrer's name": "Jo"}, f.para(long_line))
    for _ in range(2):
        result = read_referral_docx(data, "r.docx", labels)
        assert result.fields["child_name"] == long_line.split(": ", 1)[1].strip()
    remembered = collect_module._hits_for(labels)._values
    assert remembered and all(len(text) <= MEMO_MAX_TEXT for _, text, _ in remembered)
    assert all(len(label) <= MEMO_MAX_TEXT for _, label, _ in labels._how._values)


# ---- choices: remembered by text and options ----------------------------------------------------

CHOICE_TEXTS = [
    "Yes",
    "No",
    "yes - discussed with DSL",
    "☒ Yes ☐ No",
    "☐ Yes ☒ No",
    "Yes / No",
    "[x] Death [ ] Serious harm",
    "☒ Death ☐ Serious harm",
    "Death ☐ Serious harm ☒",
    "Suspected",
    "Known and suspected",
    "Child in need",
    "CPP",
    "N/A",
    "Not known",
    "Something else entirely",
    "Yes " * 80,  # longer than MEMO_MAX_TEXT: worked out each time
]


@pytest.mark.parametrize("kind", ["bool", "incident_type", "abuse_or_neglect", "legal_status"])
def test_a_remembered_choice_is_the_choice_worked_out_afresh(kind: str) -> None:
    options = Labels.load().answers[kind]
    convert_module._choose_short.cache_clear()
    for text in CHOICE_TEXTS * 2:  # the second time from memory
        fresh = convert_module._choose(text, tuple(options.items()))
        assert convert_module.choose(text, options) == fresh, text
    remembered = convert_module._choose_short.cache_info().currsize
    assert 0 < remembered <= len(CHOICE_TEXTS) - 1  # the long text is never remembered


def test_the_same_text_is_chosen_again_under_other_options() -> None:
    """Options the partnership adds in config ([labels] answers...) are a different question."""
    plain = Labels.load().answers["incident_type"]
    extended = Labels.load({"answers.incident_type.death": ["passed away"]}).answers[
        "incident_type"
    ]
    assert convert_module.choose("Passed away", plain)[0] is None
    assert convert_module.choose("Passed away", extended)[0] == "death"
    assert convert_module.choose("Passed away", plain)[0] is None
