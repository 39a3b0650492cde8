"""A case's values as a person reads them: a field's value shown, a date read from what a case holds.

Used by the Rapid Review pack (``core.pack``, which re-exports both), the SIN draft and the digest's
calendar, each of which needs these and no more of the pack: a referral's SIN draft is made at intake,
and the pack (its chronology's fuzzy matching) only when a pack is (tests/test_imports.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from .forms.fields import DATE_FIELDS
from .ukdates import parse_uk_date
from .workdays import format_date


def as_date(value: date | str | None) -> date | None:
    """A ``date`` from a ``date``, a ``datetime`` (its date), an ISO string, or a UK-written date; else None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    for iso in (date.fromisoformat, lambda t: datetime.fromisoformat(t).date()):
        try:
            return iso(text)
        except ValueError:
            pass
    return parse_uk_date(text)


_WORDS: Mapping[str, Mapping[str, str]] = {
    "incident_type": {"death": "The child died", "serious_harm": "The child was seriously harmed"},
    "abuse_or_neglect": {
        "known": "Known",
        "suspected": "Suspected",
        "no": "Neither known nor suspected",
        "unknown": "Not known",
    },
    "legal_status": {
        "child_protection_plan": "Child protection plan",
        "child_in_need": "Child in need",
        "looked_after": "Looked after",
        "care_leaver": "Care leaver",
        "none": "None",
        "unknown": "Not known",
    },
}


def show_value(key: str, value: Any) -> str:
    """A referral or scoping field's value as a person reads it; "" when it is not given."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if key in DATE_FIELDS:
        day = as_date(value) if isinstance(value, date | str) else None
        return format_date(day) if day is not None else str(value)
    if key in _WORDS and isinstance(value, str):
        return _WORDS[key].get(value, value.replace("_", " "))
    if key == "agencies_involved" and isinstance(value, list | tuple):
        return "\n".join(_agency_line(a) for a in value)
    if key == "household" and isinstance(value, list | tuple):
        return "\n".join(_person_line(p) for p in value)
    return str(value)


def _agency_line(a: Any) -> str:
    if not isinstance(a, Mapping):
        return str(a)
    extra = ", ".join(str(a[k]) for k in ("contact_name", "email") if a.get(k))
    return f"{a.get('name') or '(no name)'}" + (f" ({extra})" if extra else "")


def _person_line(p: Any) -> str:
    if not isinstance(p, Mapping):
        return str(p)
    parts = [str(p.get("name") or "(no name)")]
    if p.get("relationship"):
        parts.append(str(p["relationship"]))
    born = p.get("dob")
    if born:
        day = as_date(born) if isinstance(born, date | str) else None
        parts.append(f"born {format_date(day) if day else born}")
    return ", ".join(parts)
