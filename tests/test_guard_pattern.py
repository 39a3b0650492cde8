"""The privacy guard's pattern (phrases grouped by their first character, compiled once per set of
phrases) finds just what the plain alternation it replaced found: never less (SPEC 5), on texts made
to sit at its edges."""

from __future__ import annotations

import random
import re

import pytest

from cspr_mailbot.adapters.outbox import NameGuard, _pattern, forbidden_words


def legacy_pattern(phrases: set[str]) -> re.Pattern[str]:
    """NameGuard's pattern before the trie: every phrase an alternative, longest first."""
    return re.compile(
        r"(?<!\w)("
        + "|".join(
            r"\s+".join(re.escape(p) for p in w.split())
            for w in sorted(phrases, key=len, reverse=True)
        )
        + r")(?!\w)",
        re.IGNORECASE,
    )


NAMES = [
    "Amy Example",
    "Zoë O'Brien-Smith",
    "Jean-Luc de la Tour",
    "Li Na",
    "ANNA",
    "Ståle Ødegård",
]
ADDRESSES = ["1 High Street\nDudley\nDY1 1AA", "Flat 2/3, 14 Larkspur Close, Netherton DY2 9QQ", ""]


def _referral(k: int) -> dict[str, object]:
    return {
        "child_name": NAMES[k % len(NAMES)],
        "child_dob": f"201{k % 10}-0{1 + k % 9}-{10 + k % 18}",
        "child_address": ADDRESSES[k % len(ADDRESSES)],
        "child_postcode": "B1 1AA" if k % 2 else None,
        "child_nhs_number": "943 476 5919" if k % 3 == 0 else None,
    }


def _texts(rng: random.Random, phrases: list[str]) -> list[str]:
    """Texts that hold a phrase, or nearly: cut short, glued to a letter, re-cased, re-spaced."""
    out = ["", "Dear colleague, nothing here.", "\n".join(phrases)]
    for _ in range(300):
        p = rng.choice(phrases)
        variant = rng.choice(
            [
                p,
                p.upper(),
                p.lower(),
                p.swapcase(),
                p[:-1],
                p[1:],
                "x" + p,
                p + "x",
                p + "1",
                "_" + p,
                p.replace(" ", "\n  \t"),
                p.replace(" ", ""),
                p.replace(" ", " \u00a0"),
                p.replace(" ", "\x1c"),
                p.replace(" ", "\x0b\x0c\r\n"),
                p.replace(" ", "_"),
                p.replace("-", " "),
                p.replace("s", "ſ")
                .replace("k", "\u212a")
                .replace("i", "ı"),  # IGNORECASE takes these
                p.replace("S", "ſ").replace("K", "\u212a").replace("I", "İ") + " · ",
                "(" + p + ")",
                p + "'s",
            ]
        )
        before = rng.choice(
            ["", " ", "the ", "a-", "é", "9", "\n", "'", "_", "\x1f", "·", "٣", "\u2028"]
        )
        after = rng.choice(
            ["", " ", ".", ", and", "é", "0", "\n", "s", "_", "\t", "’", "中", "\xa0"]
        )
        out.append(f"Some text {before}{variant}{after} more text")
        out.append(f"{before}{variant}{after}")  # at the very start and end of the text
    return out


@pytest.mark.parametrize("k", range(24))
def test_the_grouped_pattern_finds_what_the_alternation_found(k: int) -> None:
    rng = random.Random(k)
    words = forbidden_words(_referral(k))
    common = frozenset({"dudley", "street", "high"}) if k % 2 else frozenset()
    guard = NameGuard(words, common)
    assert guard.pattern is not None
    phrases = {w.strip() for w in words if w and len(w.strip()) >= 2}
    phrases = {w for w in phrases if not (re.fullmatch(r"[^\W\d_]+", w) and w.casefold() in common)}
    old = legacy_pattern(phrases)
    for text in _texts(rng, sorted(phrases)):
        assert guard.finds(text) == (old.search(text) is not None), text


def test_ascii_is_searched_without_compiling_a_pattern() -> None:
    _pattern.cache_clear()
    guard = NameGuard(forbidden_words(_referral(0)), frozenset())
    assert guard.finds("Dear colleague, about AMY   example.") and not guard.finds("Dear colleague")
    assert _pattern.cache_info().misses == 0
    assert guard.finds("Dear colleague · about Amy Example — ’")  # no other cased letter
    assert _pattern.cache_info().misses == 0
    assert guard.finds(
        "Dear colleague, about Amy Example, née…"
    )  # a letter with a case: the pattern
    assert _pattern.cache_info().misses == 1
    assert NameGuard(["Kim"], frozenset()).finds(
        "\u212aim"
    )  # the Kelvin sign, as IGNORECASE has it


def test_one_pattern_per_set_of_phrases_and_a_new_one_when_they_change() -> None:
    _pattern.cache_clear()
    first = NameGuard(forbidden_words({"child_name": "Amy Example"}), frozenset())
    again = NameGuard(forbidden_words({"child_name": "Amy Example"}), frozenset())
    assert first.pattern is again.pattern  # compiled once
    assert _pattern.cache_info().misses == 1
    changed = NameGuard(forbidden_words({"child_name": "Amy Exampel"}), frozenset())
    assert changed.pattern is not first.pattern
    assert changed.finds("about Exampel") and not changed.finds("about Example today")
    assert first.finds("about Example") and not first.finds("about Exampel today")
    # Amy alone is still searched for by both
    assert first.finds("Dear Amy") and changed.finds("Dear Amy")


def test_prefixes_shared_by_phrases_are_all_still_found() -> None:
    guard = NameGuard(["12 June 2011", "12 Jun 2011", "12/06/2011", "12", "Jun"], frozenset())
    for text in ("on 12  june\n2011.", "12 JUN 2011", "(12/06/2011)", "a 12 b", "JUN"):
        assert guard.finds(text), text
    guard = NameGuard(["12 June 2011", "12 Jun 2011", "12/06/2011", "Jun"], frozenset())
    for text in ("on 12 June 20111", "112/06/2011", "June", "12a", "12 July 2011"):
        assert not guard.finds(text), text
