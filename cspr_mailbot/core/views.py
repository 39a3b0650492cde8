"""What the templates see: the contexts and headers of the messages the workflow sends.

Only ``internal_view`` (for the coordinators) and ``child_shown`` (for a trusted agency, SPEC 5) may name
the child; ``base_context`` is what every message may say. Nothing here repeats an attachment's file name
to anyone outside the coordinators (people name files after the child). Dates here are written for people
(``Mon 4 Jan 2027``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from .clocks import days_left, rag
from .deadlines import DEADLINE_LABELS, case_deadlines
from .models import REFERRAL_FIELDS, Case, InboundMessage, OutboundMessage
from .settings import Settings
from .workdays import WorkingCalendar, format_date

# Referral fields that are dates: shown to the coordinators as ``<key>_shown`` too.
_REFERRAL_DATES = ("child_dob", "incident_date", "la_aware_date", "notification_date")


def notice(
    reference: str,
    key: str,
    template: str,
    subject: str,
    context: dict[str, Any],
    st: Settings,
    **more: Any,
) -> OutboundMessage:
    """A message to the coordinators about a case (internal: it may name the child)."""
    return OutboundMessage(
        key=key,
        template=template,
        to=st.coordinators,
        subject=subject,
        context=context,
        case_ref=reference,
        internal=True,
        **more,
    )


def reply_headers(msg: InboundMessage) -> dict[str, Any]:
    """``In-Reply-To`` and ``References`` for an answer to ``msg`` (none if it has no Message-ID)."""
    if not msg.message_id:
        return {}
    return {"in_reply_to": msg.message_id, "references": (*msg.references, msg.message_id)[-20:]}


def base_context(case: Case, st: Settings) -> dict[str, Any]:
    """What every message may say: no child's name, address or date of birth."""
    return {
        "reference": case.reference,
        "initials": case.initials(),
        "partnership": st.partnership_name,
        "phone": st.phone,
        "mailbox": st.mailbox,
    }


# The referral keys that tell a trusted agency who the child is (SPEC 4, 5), in the template's order.
IDENTIFIER_KEYS: tuple[str, ...] = (
    "child_name",
    "child_dob",
    "child_address",
    "child_postcode",
    "child_nhs_number",
)


def child_identifiers(case: Case) -> tuple[tuple[str, str], ...]:
    """The child's identifiers from the referral (those it gives), for a trusted agency's template."""
    out = []
    for key in IDENTIFIER_KEYS:
        value = case.referral.get(key)
        if isinstance(value, str | int) and str(value).strip():
            out.append((key, str(value).strip()))
    return tuple(out)


def child_shown(case: Case) -> dict[str, str]:
    """The child's identifiers as a trusted agency's request shows them: name, dob, address, NHS number."""
    ids = dict(child_identifiers(case))
    address = ids.get("child_address", "")
    postcode = ids.get("child_postcode", "")
    if postcode and postcode.replace(" ", "").upper() not in address.replace(" ", "").upper():
        address = f"{address}, {postcode}" if address else postcode
    return {
        "name": ids.get("child_name", ""),
        "dob": _dob_shown(ids.get("child_dob", "")),
        "address": " ".join(address.split()),
        "nhs_number": ids.get("child_nhs_number", ""),
    }


def salutation(name: str | None, team: str | None = None) -> str:
    """``Dear <the person>,``, else ``Dear <agency> team,``, else ``Dear colleague,``."""
    person = person_name(name)
    if person:
        return f"Dear {person},"
    if team and team.strip():
        return f"Dear {' '.join(team.split())} team,"
    return "Dear colleague,"


def person_name(display: str | None) -> str:
    """A display name as a person's name: ``Smith, Jane (Dudley MBC)`` is ``Jane Smith``; "" if none.

    A display name that holds an address, or nothing that reads as a name, gives "".
    """
    text = re.sub(r"\([^)]*\)|\[[^]]*\]", " ", display or "")
    if "@" in text or any(not ch.isprintable() for ch in text):
        return ""
    last, comma, first = text.partition(",")
    if comma and first.strip() and "," not in first:
        text = f"{first} {last}"
    words = text.split()
    if not words or not any(ch.isalpha() for ch in text) or len(words) > 6:
        return ""
    return " ".join(words)


_KIND_WORDS = {
    "pdf": "PDF",
    "doc": "Word document (.doc)",
    "docx": "Word document",
    "encrypted_office": "Word document",
    "zip": "file",
    "image": "image",
}


def describe_attachments(files: Iterable[tuple[str, str]]) -> dict[str, str]:
    """For each attachment (file name, kind), how outside mail names it: ``the attached PDF``.

    Two of the same kind are told apart by their place in the message, never by their names.
    """
    files = list(files)
    words = [_KIND_WORDS.get(kind, "file") for _, kind in files]
    out: dict[str, str] = {}
    for i, (name, _kind) in enumerate(files):
        what = f"the attached {words[i]}"
        if words.count(words[i]) > 1:
            what += f" (attachment {i + 1})"
        out.setdefault(name, what)
    return out


def without_file_names(texts: Iterable[str], files: Iterable[tuple[str, str]]) -> list[str]:
    """``texts`` with every attachment's file name replaced by what it is (``the attached PDF``)."""
    described = describe_attachments(files)
    names = sorted((n for n in described if n), key=len, reverse=True)
    out = []
    for text in texts:
        for name in names:
            what = described[name].replace("\\", "\\\\")  # a replacement, not a pattern
            text = re.sub(rf"(?:\bthe file )?{re.escape(name)}", what, text, flags=re.IGNORECASE)
        out.append(text[:1].upper() + text[1:])
    return out


def _dob_shown(value: str) -> str:
    try:
        return _shown_iso(value)
    except ValueError:  # a date the reader could not make ISO: shown as given
        return value


def _shown(d: date | None) -> str:
    return format_date(d) if d else ""


def _shown_iso(value: Any) -> str:
    return format_date(date.fromisoformat(value)) if isinstance(value, str) and value else ""


def internal_view(case: Case, cal: WorkingCalendar, st: Settings, today: date) -> dict[str, Any]:
    """Everything the coordinators see of a case, dates written for people."""
    dl = case_deadlines(case, cal, st.timescales)
    deadline_rows = []
    for attr, label in DEADLINE_LABELS:
        d = getattr(dl, attr)
        if d is None:
            continue
        deadline_rows.append(
            {
                "label": label,
                "due": format_date(d.due),
                "provisional": d.provisional,
                "met_on": format_date(d.met_on) if d.met_on else "",
                "days_left": days_left(d.due, today, cal),
                "rag": "met" if d.met_on else rag(d.due, today, cal, st.timescales),
            }
        )
    referral: dict[str, Any] = {k: None for k in REFERRAL_FIELDS} | dict(case.referral)
    for key in _REFERRAL_DATES:
        referral[key + "_shown"] = _shown_iso(referral.get(key))
    return {
        **base_context(case, st),
        "case": case.to_dict(),
        "referral": referral,
        "status": case.status.replace("_", " "),
        "criteria": case.criteria,
        "deadlines": deadline_rows,
        "received_on": _shown(case.received_on),
        "agencies": [
            {**a.to_dict(), "due_shown": _shown(a.due), "returned_shown": _shown(a.returned_on)}
            for a in case.agencies
        ],
        "triage_reasons": list(case.triage_reasons),
    }
