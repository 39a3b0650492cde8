"""Whether two referrals are about the same child (SPEC 3 "The same child twice"). Pure.

Two referrals name the same child when the dates of birth are the same and so are the names, ignoring
case, accents, spacing and punctuation; or when the initials and the postcode are the same (and the
dates of birth, where both give one, do not differ: siblings share a postcode and often initials).

``index_keys`` turns a case into the keys the store indexes its open cases by; ``query_keys`` turns a
new referral into the keys to look up. A key match is only a candidate: ``match`` decides. One more key
serves "sorry, I forgot to attach the form": a case in triage that has no child's details at all can be
found by its sender, and only its own sender's next referral completes it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from .models import Case

# A UK postcode anywhere in an address (the outward and inward codes, the space optional).
_POSTCODE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})\b", re.IGNORECASE)
_NOT_WORD = re.compile(r"[\W_]+")
_WORD = re.compile(r"[^\W\d_]+")
# The store asks for every open case's keys when it indexes and when it looks up: the same few
# names and addresses again and again. The functions below are pure functions of one string, so
# their answers are kept (a bounded cache: a name is a few dozen bytes).
_CACHED = 4096

How = Literal["child", "sender"]


@lru_cache(maxsize=_CACHED)
def _plain(text: str) -> str:
    """``text`` without accents, case-folded."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def normalised_name(name: Any) -> str:
    """The name with case, accents, spacing and punctuation gone: "Zoë O'Brien-Hall" -> "zoeobrienhall"."""
    if not isinstance(name, str):
        return ""
    return _normalised(name)


@lru_cache(maxsize=_CACHED)
def _normalised(name: str) -> str:
    return _NOT_WORD.sub("", _plain(name))


def initials(name: Any) -> str:
    """The initials of a name, also of one already written as initials: "Jamie Quennell", "J.Q." -> "jq"."""
    if not isinstance(name, str):
        return ""
    return _initials(name)


@lru_cache(maxsize=_CACHED)
def _initials(name: str) -> str:
    return "".join(w[0] for w in _WORD.findall(_plain(name)))


def postcode(referral: Mapping[str, Any]) -> str:
    """The child's postcode, from its own field or the address, upper-case with no space; "" if none."""
    for key in ("child_postcode", "child_address"):
        value = referral.get(key)
        if isinstance(value, str):
            found = _postcode_in(value)
            if found:
                return found
    return ""


@lru_cache(maxsize=_CACHED)
def _postcode_in(text: str) -> str:
    found = _POSTCODE.search(text)
    return (found.group(1) + found.group(2)).upper() if found else ""


def _dob(referral: Mapping[str, Any]) -> str:
    value = referral.get("child_dob")
    return value.strip() if isinstance(value, str) else ""


def child_keys(referral: Mapping[str, Any]) -> tuple[str, ...]:
    """The keys under which a referral's child is found: (date of birth, name), (initials, postcode)."""
    keys: list[str] = []
    dob, name = _dob(referral), normalised_name(referral.get("child_name"))
    if dob and name:
        keys.append(f"dob-name:{dob}:{name}")
    letters, code = initials(referral.get("child_name")), postcode(referral)
    if letters and code:
        keys.append(f"initials-postcode:{letters}:{code}")
    return tuple(keys)


def _sender_key(sender: str) -> str:
    return f"triage-sender:{sender.strip().lower()}"


def _names_no_child(referral: Mapping[str, Any]) -> bool:
    return not referral.get("child_name") and not _dob(referral)


def index_keys(referral: Mapping[str, Any], status: str, referrer_email: str) -> tuple[str, ...]:
    """What the store indexes an open case by: its child's keys, and its sender while it is in triage
    with no child's details at all (so the form that was forgotten finds it)."""
    keys = list(child_keys(referral))
    if status == "needs_triage" and referrer_email and _names_no_child(referral):
        keys.append(_sender_key(referrer_email))
    return tuple(keys)


def query_keys(referral: Mapping[str, Any], sender: str) -> tuple[str, ...]:
    """The keys to look up for a new referral: its child's, and its sender's."""
    keys = list(child_keys(referral))
    if sender:
        keys.append(_sender_key(sender))
    return tuple(keys)


def same_child(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two referrals' children are the same child, by SPEC 3's test."""
    dob_a, dob_b = _dob(a), _dob(b)
    name_a = normalised_name(a.get("child_name"))
    if dob_a and dob_a == dob_b and name_a and name_a == normalised_name(b.get("child_name")):
        return True
    if dob_a and dob_b and dob_a != dob_b:
        return False
    letters = initials(a.get("child_name"))
    code = postcode(a)
    return bool(letters and code) and (letters, code) == (
        initials(b.get("child_name")),
        postcode(b),
    )


def match(referral: Mapping[str, Any], sender: str, case: Case) -> How | None:
    """How a new referral (its fields and its sender) is linked to an open case, if it is.

    "child": the same child. "sender": the case is in triage with no child's details, from this sender.
    """
    if case.status == "closed":
        return None
    if same_child(referral, case.referral):
        return "child"
    sender = sender.strip().lower()
    if (
        sender
        and case.status == "needs_triage"
        and case.referrer_email.lower() == sender
        and _names_no_child(case.referral)
    ):
        return "sender"
    return None
