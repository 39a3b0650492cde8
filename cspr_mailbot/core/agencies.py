"""The agencies on a case: matching them by name, alias or address, and asking them for a scoping return.

The request (and its chasers) carry a ``DocumentRequest`` for the pre-filled template; the outbox builds
the .docx. A trusted agency (SPEC 5: its address, by the config alone) is told who the child is, in the
mail and the template; every other agency gets the child's initials and how to ask for the details.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from .clocks import scoping_due
from .deadlines import today_of
from .models import Agency, Case, DocumentRequest, OutboundMessage
from .settings import DirectoryAgency, Settings
from .views import base_context, child_identifiers, child_shown, salutation
from .workdays import WorkingCalendar, format_date


def norm(name: str) -> str:
    """An agency's name as compared: lower case, punctuation and spacing aside."""
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def resolve_agency(name: str, directory: Iterable[DirectoryAgency]) -> DirectoryAgency | None:
    """The directory entry whose name or alias matches ``name`` (case, punctuation and spacing aside)."""
    key = norm(name)
    for entry in directory:
        if key in {norm(entry.name), *(norm(a) for a in entry.aliases)}:
            return entry
    return None


def agency_from(name: str, email: str | None, contact: str | None, st: Settings) -> Agency:
    """A new agency for a case: the directory's name and address when it knows the agency."""
    entry = resolve_agency(name, st.directory)
    if entry is not None:
        return Agency(name=entry.name, email=entry.email or email, contact_name=contact)
    return Agency(name=name, email=(email or None) and email.lower(), contact_name=contact)


def match_agency(case: Case, names: Iterable[str | None], sender: str) -> int | None:
    """The index of the case's agency with one of ``names``, else the one whose address is ``sender``."""
    keys = {norm(n) for n in names if n}
    for i, a in enumerate(case.agencies):
        if norm(a.name) in keys:
            return i
    for i, a in enumerate(case.agencies):
        if a.email and a.email.lower() == sender:
            return i
    return None


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9 _-]+", "", text).strip()[:60] or "agency"


def told_who(case: Case, agency: Agency, st: Settings) -> bool:
    """Is ``agency`` told who the child is? Only at a trusted address (SPEC 5), and only what is known."""
    return st.trust.trusts(agency.email) and bool(child_identifiers(case))


def agency_salutation(agency: Agency, st: Settings) -> str:
    """The person the mail goes to, or the agency's team when the address is the directory's (shared).

    The referral's contact is named only when the mail goes to the address the referral gave; the
    directory's address is a shared box ("Dear DS Carter," must not go to the police's safeguarding box).
    """
    entry = resolve_agency(agency.name, st.directory)
    shared = bool(
        entry is not None
        and entry.email
        and agency.email
        and entry.email.lower() == agency.email.lower()
    )
    return salutation(None if shared else agency.contact_name, agency.name)


def agency_context(case: Case, agency: Agency, st: Settings) -> dict[str, Any]:
    """What a message to ``agency`` may say: whom it greets, and the child's details only if trusted."""
    trusted = told_who(case, agency, st)
    return {
        **base_context(case, st),
        "agency": agency.name,
        "contact_name": agency.contact_name or "",
        "salutation": agency_salutation(agency, st),
        "trusted": trusted,
        "child": child_shown(case) if trusted else {},
    }


def scoping_document(case: Case, agency: Agency, st: Settings) -> DocumentRequest:
    """The pre-filled Initial Scoping template for ``agency``, to be built when the mail is rendered.

    For a trusted agency it carries the child's identifiers too; the file name never does.
    """
    return DocumentRequest(
        kind="scoping",
        filename=f"Initial Scoping {case.reference} {_safe_name(agency.name)}.docx",
        reference=case.reference,
        agency=agency.name,
        partnership=st.partnership_name,
        identifiers=child_identifiers(case) if told_who(case, agency, st) else (),
    )


def scoping_request(
    case: Case, agency: Agency, st: Settings, today: date, due: date
) -> OutboundMessage:
    """The request to ``agency`` (which has an address) for its scoping return."""
    assert agency.email
    context = agency_context(case, agency, st)
    return OutboundMessage(
        key=f"{case.reference}:scoping-request:{norm(agency.name)}",
        template="scoping_request",
        to=(agency.email,),
        subject="Initial Scoping request",
        context={**context, "due": format_date(due), "sent_on": format_date(today)},
        case_ref=case.reference,
        documents=(scoping_document(case, agency, st),),
        names_child=context["trusted"],
    )


def scoping_chaser(
    case: Case,
    agency: Agency,
    st: Settings,
    *,
    key: str,
    due: date,
    overdue: bool,
    label: str | None,
    copy_coordinators: bool,
) -> OutboundMessage:
    """A reminder to ``agency`` (which has an address), with the template again."""
    assert agency.email
    context = agency_context(case, agency, st)
    return OutboundMessage(
        key=key,
        template="scoping_chaser",
        to=(agency.email,),
        cc=st.coordinators if copy_coordinators else (),
        subject=f"Initial Scoping return: {'overdue' if overdue else 'reminder'}",
        context={**context, "due": format_date(due), "overdue": overdue, "label": label},
        case_ref=case.reference,
        documents=(scoping_document(case, agency, st),),
        names_child=context["trusted"],
    )


def send_scoping_requests(
    case: Case, now: datetime, cal: WorkingCalendar, st: Settings
) -> tuple[Case, list[OutboundMessage], list[str]]:
    """A request to every agency with an address that has none yet; the names of those without an address."""
    today = today_of(now)
    messages: list[OutboundMessage] = []
    agencies = list(case.agencies)
    missing: list[str] = []
    for i, agency in enumerate(agencies):
        if agency.requested_on:
            continue
        if not agency.email:
            missing.append(agency.name)
            continue
        due = scoping_due(today, cal, st.timescales)
        agencies[i] = replace(agency, requested_on=today, due=due)
        messages.append(scoping_request(case, agencies[i], st, today, due))
    case = replace(case, agencies=tuple(agencies))
    for m in messages:
        told = "told who the child is" if m.names_child else "initials only"
        case = case.with_event(now, "scoping_requested", f"{m.context['agency']} ({told})")
    return case, messages, missing
