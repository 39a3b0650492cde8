"""The Rapid Review pack as mail (SPEC 6a): the message to the coordinators that carries it.

``pack_message`` is what both triggers send: the last scoping return coming in (``correspondence``) and the
``pack`` command (the app carries out the command's ``"pack"`` action with it). The pack itself is built here
as a value (``core.pack.pack_for``) and handed to the outbox in a ``DocumentRequest(kind="pack")``; the
.docx is made by ``adapters/documents.py`` when the message is rendered, so the core stays free of
python-docx. The mail names the child: it goes to the coordinators only.

Keys: the pack sent on the last return is keyed by the set of agencies returned, so it goes once per set of
returns, and again (a fresh key, the same file name, replacing the first) when a late return completes a
new set. A pack asked for by command is keyed by the moment it was asked for: it always goes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .clocks import agency_key
from .deadlines import today_of
from .models import Case, DocumentRequest, OutboundMessage
from .settings import Settings
from .views import internal_view, notice
from .workdays import WorkingCalendar

if TYPE_CHECKING:
    from .pack import Pack

# core.pack (the pack's values, its chronology's fuzzy matching) is imported by pack_message, when a
# pack is made: action_messages runs for every message, and a referral makes no pack.


def pack_filename(reference: str) -> str:
    """The pack's file name: the reference, never the child's name; the same for every pack of a case."""
    return f"{reference} Rapid Review pack.docx"


def returns_key(case: Case) -> str:
    """A short, stable name for the set of agencies that have returned (order and case ignored)."""
    names = sorted(agency_key(a.name) for a in case.agencies if a.returned_on or a.scoping)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]


def pack_context(pack: Pack) -> dict[str, object]:
    """What the templates say of the pack besides the case: counts, who is missing, the SIN draft."""
    return {
        "pack_filename": pack_filename(pack.reference),
        "returns_in": [r.agency for r in pack.returns],
        "not_returned": [o.agency for o in pack.outstanding],
        "chronology_entries": len(pack.chronology),
        "chronology_shared": sum(1 for e in pack.chronology if e.also_given_by),
        "sin_draft": pack.sin_draft,
    }


def pack_message(
    case: Case,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
    *,
    requested: bool,
    **more: Any,
) -> OutboundMessage:
    """The pack mail: on the last return (``requested`` False, template ``returns_complete``) or by the
    ``pack`` command (``requested`` True, template ``pack``). ``more`` goes to ``OutboundMessage``
    (``in_reply_to``, ``references`` for an answer)."""
    from .pack import pack_for

    today = today_of(now)
    pack = pack_for(case, cal, st.timescales, today=today, partnership=st.partnership_name)
    request = DocumentRequest(
        kind="pack",
        filename=pack_filename(case.reference),
        reference=case.reference,
        agency="",
        partnership=st.partnership_name,
        pack=pack,
    )
    context = {**internal_view(case, cal, st, today), **pack_context(pack)}
    if requested:
        key = f"{case.reference}:pack:asked:{now.isoformat()}"
        template, subject = "pack", "Rapid Review pack"
    else:
        key = f"{case.reference}:notice:all-returns:{returns_key(case)}"
        template, subject = "returns_complete", "All scoping returns are in: the Rapid Review pack"
    return notice(case.reference, key, template, subject, context, st, documents=(request,), **more)


def all_returned(case: Case) -> bool:
    """Every agency asked for a scoping return has returned (and at least one was asked)."""
    requested = [a for a in case.agencies if a.requested_on]
    return bool(requested) and all(a.returned_on for a in requested)


def on_return(
    case: Case, now: datetime, cal: WorkingCalendar, st: Settings
) -> tuple[OutboundMessage, ...]:
    """What a return just recorded sends besides its own answer: the pack, when it was the last one
    asked for, however it was recorded (from the agency, or held and taken by ``accept return``).
    Once per set of returns: a late return makes a new set (``returns_key``)."""
    return (pack_message(case, now, cal, st, requested=False),) if all_returned(case) else ()


def action_messages(
    case: Case | None, actions: tuple[str, ...], now: datetime, cal: WorkingCalendar, st: Settings
) -> tuple[OutboundMessage, ...]:
    """What the ``pack`` command's action sends (``Outcome.actions``): the pack, now. Other actions are
    not this module's (``resend`` is the outbox's)."""
    if case is None or "pack" not in actions:
        return ()
    return (pack_message(case, now, cal, st, requested=True),)
