"""Matching by meaning (``Labels.fuzzy_scores``, ``match_fuzzy``) gives the scores rapidfuzz's
token-sort ratio gives against every synonym, on every line of every golden form and every form
the intake bench builds, and on every golden label: the fast path (the synonyms' words sorted once,
``fuzz.ratio``, and only the scores at the threshold asked for by ``match_fuzzy``) is the slow one."""

from __future__ import annotations

from rapidfuzz import fuzz

from cspr_mailbot.core.forms import Labels, normalise_label
from cspr_mailbot.core.forms.fields import DATE_FIELDS
from cspr_mailbot.core.forms.labels import _DATE_WORDS, _FUZZY_MAX_WORDS, FUZZY_THRESHOLD
from tests.test_docxtext import form_lines
from tests.test_forms import golden_wordings

LABELS = Labels.load({"referral.incident_summary": ["what has happened to the young person"]})


def slow_scores(labels: Labels, form: str, norm: str) -> dict[str, float]:
    """field -> the best fuzz.token_sort_ratio of the label's meaning to one of its synonyms'."""
    meaning = labels.meaning(norm)
    if len(meaning.split()) < 2 or len(norm.split()) > _FUZZY_MAX_WORDS:
        return {}
    is_date = bool(set(norm.split() + meaning.split()) & _DATE_WORDS)
    best: dict[str, float] = {}
    for key, synonyms in labels.fields[form].items():
        if (key in DATE_FIELDS) != is_date:
            continue
        for syn in synonyms:
            theirs = labels.meaning(syn)
            if not theirs or syn in labels.exact_only[form][key]:
                continue
            score = fuzz.token_sort_ratio(meaning, theirs)
            if score >= 50:
                best[key] = max(best.get(key, 0.0), score)
    return best


def _texts() -> list[str]:
    texts = [label for label, _ in golden_wordings()] + form_lines()
    norms = {normalise_label(t) for t in texts}
    return sorted(n for n in norms if n)


def test_fuzzy_scores_are_token_sort_ratios_on_every_line_of_every_form() -> None:
    texts = _texts()
    assert len(texts) > 800
    compared = near = 0
    for form in ("referral", "scoping"):
        for norm in texts:
            slow = slow_scores(LABELS, form, norm)
            assert LABELS.fuzzy_scores(form, norm) == slow, (form, norm)
            fields = [k for k, score in slow.items() if score >= FUZZY_THRESHOLD]
            assert LABELS.match_fuzzy(form, norm) == (fields[0] if len(fields) == 1 else None)
            compared += bool(slow)
            near += bool(fields)
    assert compared > 500 and near > 100  # the texts reach matching by meaning, some of them near
