"""The Rapid Review pack (SPEC 6a) as values: what the meeting's one document says about a case.

``build_pack`` takes a case, its deadlines and the day, and returns a ``Pack``: the referral's details and
the screening, the deadlines, each agency's return in full, the agencies that have not returned, and the
integrated multi-agency chronology. No I/O: ``adapters/packdoc.py`` turns a ``Pack`` into a .docx.

The integrated chronology holds every entry of every return's chronology table, in date order (entries
whose date cannot be read come last, kept as written), each naming the agency whose return gave it. An
entry that another agency also gives, for the same date and (fuzzily) the same event, is marked with the
names of those agencies: see ``same_event``.

A chronology entry is a mapping with ``date`` (an ISO date, a UK-written date, or a ``date``), ``event``
(what happened) and, for what the agency did, the first of ``action``, ``involvement`` or ``agency`` that
is given (SPEC 4 reads the template's third column, "what the agency did", into ``agency``); an ``agency``
value that only repeats the agency's own name is taken as the name, not as what it did. The agency a line
names is always the agency whose return it came from.

Dates on a case may be ISO strings (today's ``Case``) or ``date`` objects (the restructured one):
``as_date`` reads both, so nothing else here cares which.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from rapidfuzz import fuzz

from .clocks import Deadline, Deadlines, Timescales, days_left
from .deadlines import case_deadlines
from .models import Agency, Case
from .screening import looked_after_death
from .shown import as_date, show_value
from .workdays import WorkingCalendar, format_date

__all__ = [
    "DUPLICATE_THRESHOLD",
    "AgencyReturn",
    "ChronologyEntry",
    "DeadlineRow",
    "Field",
    "Outstanding",
    "Pack",
    "as_date",
    "build_pack",
    "deadlines_of",
    "integrated_chronology",
    "pack_for",
    "same_event",
]

# rapidfuzz token_set_ratio (0-100), over the events' words less the little ones ("at", "the", "by"...),
# at or above which two agencies' entries for the same date are marked as the same event. It is set for
# precision: a false mark tells the meeting that two agencies describe one event when they do not, while a
# missed one only leaves two lines of the same day side by side. tests/test_pack.py holds the pairs that
# fixed it. One agency's account inside the other's fuller one ("Health visitor home visit" / "Home visit
# by health visitor: no concerns") scores 100, and a misspelling stays above 90; two different events of
# the same day that differ in one telling word score up to 89 ("Initial" / "Review child protection
# conference", "Mother" / "Father seen by GP": 86, "Child seen at A&E" / "at school": 83). Rewordings with
# no words in common ("seen" / "attended") are not caught, by design.
DUPLICATE_THRESHOLD = 90.0

_LITTLE_WORDS = frozenset(
    "a an the at to of by for from with and in on into was were is are has had been".split()
)


# -- the one place that knows where deadlines come from ------------------------------------------------


def deadlines_of(case: Case, cal: WorkingCalendar, ts: Timescales) -> Deadlines:
    """The case's SPEC 2 deadlines, from ``core.deadlines`` (the one place they are computed)."""
    return case_deadlines(case, cal, ts)


# -- the values -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One label/value row, the value already written for a person ("" when not given)."""

    label: str
    value: str


@dataclass(frozen=True)
class DeadlineRow:
    label: str  # "SIN", "Rapid Review decision", "Review", "Scoping return: AGENCY"
    due: date
    provisional: bool
    met_on: date | None
    overdue: bool
    # Working days left (negative when overdue); None when met or when no calendar was given.
    days_left: int | None

    @property
    def state(self) -> str:
        """What a person reads in the status column."""
        if self.met_on is not None:
            return f"met on {format_date(self.met_on)}"
        if self.days_left is None:
            return "overdue" if self.overdue else "open"
        if self.days_left < 0:
            n = -self.days_left
            return f"overdue by {n} working day{'s' if n != 1 else ''}"
        if self.days_left == 0:
            return "due today"
        return f"{self.days_left} working day{'s' if self.days_left != 1 else ''} left"


@dataclass(frozen=True)
class ChronologyEntry:
    when: date | None  # None: no date, or one that could not be read (``written`` keeps it)
    written: str  # the date as the agency wrote it
    agency: str  # the agency whose return gave the entry
    event: str  # what happened
    action: str  # what the agency did ("" when not given)
    also_given_by: tuple[str, ...] = ()  # other agencies giving the same date and event

    @property
    def date_shown(self) -> str:
        return format_date(self.when) if self.when is not None else (self.written or "(no date)")


@dataclass(frozen=True)
class AgencyReturn:
    agency: str
    returned_on: date | None
    fields: tuple[Field, ...]  # the SPEC 4 scoping fields, in the template's order
    chronology: tuple[ChronologyEntry, ...]  # this return's own entries, as given


@dataclass(frozen=True)
class Outstanding:
    """An agency on the case whose return is not in."""

    agency: str
    requested_on: date | None
    due: date | None
    chasers_sent: int


@dataclass(frozen=True)
class Pack:
    reference: str
    partnership: str
    built_on: date
    status: str
    child_name: str  # the pack goes to the coordinators only; "" when not given
    initials: str
    referral: tuple[Field, ...]
    screening_result: str  # "met" | "not_met" | "unclear"
    screening_reasons: tuple[str, ...]
    looked_after_death: bool  # also notify the Secretary of State and Ofsted
    deadlines: tuple[DeadlineRow, ...]
    returns: tuple[AgencyReturn, ...]
    outstanding: tuple[Outstanding, ...]
    chronology: tuple[ChronologyEntry, ...]  # integrated, in date order
    sin_draft: str | None = None  # the National Panel notification draft (core.sin_draft)

    @property
    def title(self) -> str:
        return f"Rapid Review pack: {self.reference}"


# -- referral and return fields, written for a person ---------------------------------------------------

_REFERRAL_LABELS: tuple[tuple[str, str], ...] = (
    ("referral_date", "Date of referral"),
    ("referrer_name", "Referrer"),
    ("referrer_role", "Referrer's role"),
    ("referrer_agency", "Referrer's agency"),
    ("referrer_email", "Referrer's email"),
    ("referrer_phone", "Referrer's phone"),
    ("safeguarding_lead_consulted", "Safeguarding lead consulted"),
    ("safeguarding_lead_name", "Safeguarding lead"),
    ("child_name", "Child's name"),
    ("child_dob", "Child's date of birth"),
    ("child_gender", "Gender"),
    ("child_ethnicity", "Ethnicity"),
    ("child_nhs_number", "NHS number"),
    ("child_address", "Address"),
    ("child_postcode", "Postcode"),
    ("child_school", "School or setting"),
    ("legal_status", "Legal status"),
    ("looked_after", "Looked after"),
    ("household", "Household and significant adults"),
    ("incident_date", "Date of incident"),
    ("la_aware_date", "Date the local authority became aware"),
    ("incident_type", "Incident"),
    ("incident_summary", "What happened"),
    ("abuse_or_neglect", "Abuse or neglect"),
    ("other_children_at_risk", "Other children at risk"),
    ("police_investigation", "Police investigation"),
    ("parallel_processes", "Parallel processes"),
    ("national_panel_notified", "National Panel notified"),
    ("notification_date", "Date of notification"),
    ("agencies_involved", "Agencies involved"),
    ("rationale", "Why the referrer thinks the criteria are met"),
)

_SCOPING_LABELS: tuple[tuple[str, str], ...] = (
    ("agency_name", "Agency"),
    ("completed_by", "Completed by"),
    ("role", "Role"),
    ("email", "Email"),
    ("phone", "Phone"),
    ("involvement_from", "Involvement from"),
    ("involvement_to", "Involvement to"),
    ("involvement_summary", "Summary of involvement"),
    ("risks_identified", "Risks identified"),
    ("good_practice", "Good practice"),
    ("learning", "Learning"),
    ("immediate_actions", "Immediate actions"),
    ("records_secured", "Records secured"),
)


def _fields(values: Mapping[str, Any], labels: Iterable[tuple[str, str]]) -> tuple[Field, ...]:
    return tuple(Field(label, show_value(key, values.get(key))) for key, label in labels)


# -- the chronology --------------------------------------------------------------------------------------


def _norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _entries_of(agency: Agency) -> tuple[ChronologyEntry, ...]:
    rows = (agency.scoping or {}).get("chronology") or ()
    out: list[ChronologyEntry] = []
    own = _norm_name(agency.name)
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        raw = row.get("date")
        written = raw.isoformat() if isinstance(raw, date) else _text(raw)
        when = as_date(raw) if isinstance(raw, date | str) else None
        action = _text(row.get("action")) or _text(row.get("involvement"))
        named = _text(row.get("agency"))
        if not action and named and _norm_name(named) != own:
            action = named
        event = _text(row.get("event"))
        if not (written or event or action):
            continue  # an empty row of the template
        out.append(ChronologyEntry(when, written, agency.name, event, action))
    return tuple(out)


def _words(text: str) -> str:
    """The words that tell events apart: lower case, "A&E" kept whole, the little words left out."""
    return " ".join(w for w in re.findall(r"[a-z0-9&]+", text.lower()) if w not in _LITTLE_WORDS)


def same_event(a: str, b: str, threshold: float = DUPLICATE_THRESHOLD) -> bool:
    """Whether two accounts of what happened describe the same event (rapidfuzz token_set_ratio)."""
    if not a.strip() or not b.strip():
        return False
    score = fuzz.token_set_ratio(a, b, processor=_words)
    return bool(score >= threshold)


def integrated_chronology(
    returns: Sequence[tuple[str, Sequence[ChronologyEntry]]],
    threshold: float = DUPLICATE_THRESHOLD,
) -> tuple[ChronologyEntry, ...]:
    """Every entry of every return, in date order, undated ones last as written, duplicates marked.

    ``returns`` is (agency, its entries) in the case's order; entries on the same date keep that order
    (agency by agency, then as each agency wrote them). Only entries of *different* agencies on the same
    date are compared, so the work grows with the entries sharing a day, not with the square of all.
    """
    flat = [e for _, entries in returns for e in entries]
    by_day: dict[date, list[int]] = {}
    for index, e in enumerate(flat):
        if e.when is not None:
            by_day.setdefault(e.when, []).append(index)
    # Entries of one day that match, directly or through a third agency's, form one event (union-find),
    # so three agencies at one strategy meeting each name the other two.
    parent = list(range(len(flat)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for indices in by_day.values():
        for x, ix in enumerate(indices):
            for iy in indices[x + 1 :]:
                ex, ey = flat[ix], flat[iy]
                if _norm_name(ex.agency) != _norm_name(ey.agency) and same_event(
                    ex.event, ey.event, threshold
                ):
                    parent[root(iy)] = root(ix)
    members: dict[int, set[str]] = {}
    for index in range(len(flat)):
        members.setdefault(root(index), set()).add(flat[index].agency)
    also: dict[int, set[str]] = {}
    for index, e in enumerate(flat):
        others = {a for a in members[root(index)] if _norm_name(a) != _norm_name(e.agency)}
        if others:
            also[index] = others
    marked = [
        (
            e
            if index not in also
            else ChronologyEntry(
                e.when, e.written, e.agency, e.event, e.action, tuple(sorted(also[index]))
            )
        )
        for index, e in enumerate(flat)
    ]
    order = sorted(
        range(len(marked)),
        key=lambda k: (marked[k].when is None, marked[k].when or date.min, k),
    )
    return tuple(marked[k] for k in order)


# -- the pack --------------------------------------------------------------------------------------------


def _row(label: str, d: Deadline, today: date, cal: WorkingCalendar | None) -> DeadlineRow:
    left = days_left(d.due, today, cal) if cal is not None and d.met_on is None else None
    return DeadlineRow(
        label=label,
        due=d.due,
        provisional=d.provisional,
        met_on=d.met_on,
        overdue=d.met_on is None and d.due < today,
        days_left=left,
    )


def _deadline_rows(
    case: Case, dl: Deadlines, today: date, cal: WorkingCalendar | None
) -> tuple[DeadlineRow, ...]:
    rows: list[DeadlineRow] = []
    for label, d in (
        ("SIN", dl.sin),
        ("Rapid Review decision", dl.rapid_review),
        ("Review", dl.review),
    ):
        if d is not None:
            rows.append(_row(label, d, today, cal))
    for a in case.agencies:
        due = as_date(a.due)
        if due is not None:
            deadline = Deadline(due=due, provisional=False, met_on=as_date(a.returned_on))
            rows.append(_row(f"Scoping return: {a.name}", deadline, today, cal))
    return tuple(rows)


def _returned(a: Agency) -> bool:
    return a.scoping is not None or as_date(a.returned_on) is not None


def build_pack(
    case: Case,
    deadlines: Deadlines,
    *,
    today: date,
    partnership: str,
    cal: WorkingCalendar | None = None,
    sin_draft: str | None = None,
    threshold: float = DUPLICATE_THRESHOLD,
) -> Pack:
    """The pack for ``case`` as of ``today``. With ``cal``, deadlines say how many working days are left.

    ``sin_draft`` is carried as given (``core.sin_draft.sin_draft`` builds it while no SIN date is
    recorded); the pack itself does not decide whether one is due.
    """
    returns: list[AgencyReturn] = []
    outstanding: list[Outstanding] = []
    for a in case.agencies:
        if _returned(a):
            scoping = dict(a.scoping or {})
            scoping.setdefault("agency_name", a.name)
            returns.append(
                AgencyReturn(
                    agency=a.name,
                    returned_on=as_date(a.returned_on),
                    fields=_fields(scoping, _SCOPING_LABELS),
                    chronology=_entries_of(a),
                )
            )
        else:
            outstanding.append(
                Outstanding(a.name, as_date(a.requested_on), as_date(a.due), a.chasers_sent)
            )
    criteria = case.criteria or {}
    return Pack(
        reference=case.reference,
        partnership=partnership,
        built_on=today,
        status=case.status.replace("_", " "),
        child_name=_text(case.referral.get("child_name")),
        initials=case.initials(),
        referral=_fields(case.referral, _REFERRAL_LABELS),
        screening_result=str(criteria.get("result", "unclear")),
        screening_reasons=tuple(str(r) for r in criteria.get("reasons", ())),
        looked_after_death=looked_after_death(case.referral),
        deadlines=_deadline_rows(case, deadlines, today, cal),
        returns=tuple(returns),
        outstanding=tuple(outstanding),
        chronology=integrated_chronology([(r.agency, r.chronology) for r in returns], threshold),
        sin_draft=sin_draft,
    )


def pack_for(
    case: Case, cal: WorkingCalendar, ts: Timescales, *, today: date, partnership: str
) -> Pack:
    """``build_pack`` with the case's own deadlines, and the SIN draft while no SIN date is recorded."""
    from .sin_draft import needs_sin_draft, sin_draft

    dl = deadlines_of(case, cal, ts)
    draft = sin_draft(case, dl, partnership=partnership) if needs_sin_draft(dl) else None
    return build_pack(case, dl, today=today, partnership=partnership, cal=cal, sin_draft=draft)
