"""The values that flow through cspr-mailbot: messages in, cases, and messages out.

Everything here is plain data. Cases are frozen; the workflow returns a new case rather than changing one.
``Case.to_dict`` / ``Case.from_dict`` give the JSON shape the store keeps and SPEC 8 prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import Any, Literal

Status = Literal[
    "needs_triage", "referral_received", "rapid_review", "cspr", "learning_review", "closed"
]
STATUSES: tuple[str, ...] = (
    "needs_triage",
    "referral_received",
    "rapid_review",
    "cspr",
    "learning_review",
    "closed",
)

# SPEC 4: the referral's keys, in the order people read them.
REFERRAL_FIELDS: tuple[str, ...] = (
    "referrer_name",
    "referrer_role",
    "referrer_agency",
    "referrer_email",
    "referrer_phone",
    "safeguarding_lead_consulted",
    "child_name",
    "child_dob",
    "child_gender",
    "child_ethnicity",
    "child_address",
    "incident_date",
    "la_aware_date",
    "incident_type",
    "incident_summary",
    "abuse_or_neglect",
    "looked_after",
    "national_panel_notified",
    "notification_date",
    "agencies_involved",
    "rationale",
)

SCOPING_FIELDS: tuple[str, ...] = (
    "case_reference",
    "agency_name",
    "completed_by",
    "role",
    "email",
    "phone",
    "involvement_from",
    "involvement_to",
    "involvement_summary",
    "risks_identified",
    "good_practice",
    "learning",
    "immediate_actions",
    "records_secured",
)

# Fields that identify the child: never in mail that leaves the coordinators.
CHILD_IDENTIFYING_FIELDS: tuple[str, ...] = ("child_name", "child_dob", "child_address")


@dataclass(frozen=True)
class Attachment:
    """One attachment of an inbound message. ``filename`` is already safe (a bare name, no path)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class RawMessage:
    """A message as the mail source hands it over: its id in that source and its bytes."""

    uid: str
    raw: bytes


@dataclass(frozen=True)
class InboundMessage:
    """A parsed inbound message. Header names in ``headers`` are lower-case; values are decoded text."""

    uid: str
    sha256: str
    message_id: str | None
    from_addr: str  # lower-case address, "" when there is none
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: datetime | None  # timezone-aware
    headers: tuple[tuple[str, str], ...]
    in_reply_to: str | None
    references: tuple[str, ...]
    body_text: str
    content_type: str  # the top-level type, e.g. "multipart/mixed"
    report_type: str | None  # multipart/report's report-type parameter
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()  # what was wrong with the MIME, for the event log
    # SPEC 3 "Who a message is from": From: names more than one address, an address other than its
    # own in the display name or a comment, or decodes to a line break. from_addr and from_name
    # are then "" (never a coordinator, never answered); the decoded From: stays in ``headers``.
    sender_ambiguous: bool = False
    null_sender: bool = False  # From: or Return-Path: empty or <> (any spacing, comments)
    part_types: tuple[str, ...] = ()  # every MIME part's content type, root first, depth-first

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class OutAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutboundMessage:
    """A message the core decided to send. The outbox renders it from ``templates/<template>.txt|.html``.

    ``key`` makes it idempotent: the outbox never sends two messages with the same key.
    ``internal`` is True only for mail to the coordinators; only internal mail may name the child.
    """

    key: str
    template: str
    to: tuple[str, ...]
    context: dict[str, Any]
    case_ref: str | None = None
    cc: tuple[str, ...] = ()
    subject: str = ""
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    auto_submitted: Literal["auto-replied", "auto-generated"] = "auto-generated"
    internal: bool = False
    attachments: tuple[OutAttachment, ...] = ()


@dataclass(frozen=True)
class Event:
    at: str  # ISO datetime
    kind: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"at": self.at, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class Agency:
    name: str
    email: str | None = None
    contact_name: str | None = None
    requested_on: str | None = None  # ISO date
    due: str | None = None  # ISO date
    returned_on: str | None = None  # ISO date
    chasers_sent: int = 0
    scoping: dict[str, Any] | None = None  # the SPEC 4 scoping fields, once returned

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Agency:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class Case:
    """A case as the store keeps it. Dates are ISO strings so the dict round-trips through JSON."""

    reference: str
    status: str
    received_at: str  # ISO datetime the message arrived (aware)
    received_on: str  # ISO date the message counts as received (SPEC 2 cut-off rule)
    referrer_email: str = ""
    source_message_id: str | None = None
    referral: dict[str, Any] = field(default_factory=dict)
    criteria: dict[str, Any] = field(default_factory=lambda: {"result": "unclear", "reasons": []})
    triage_reasons: tuple[str, ...] = ()
    agencies: tuple[Agency, ...] = ()
    events: tuple[Event, ...] = ()
    # Facts coordinators give by command (SPEC 7); ISO dates or None.
    aware_date: str | None = None
    notified_date: str | None = None
    decision: str | None = None  # "cspr" | "learning_review" | "no_review"
    decision_date: str | None = None
    completed_on: str | None = None
    published_on: str | None = None
    closed_on: str | None = None
    # Keys of every notice, chaser and reply already sent on this case: each is sent once.
    sent_keys: tuple[str, ...] = ()

    def with_event(self, at: datetime | str, kind: str, detail: str = "") -> Case:
        stamp = at if isinstance(at, str) else at.isoformat()
        return replace(self, events=(*self.events, Event(stamp, kind, detail)))

    def has_sent(self, key: str) -> bool:
        return key in self.sent_keys

    def initials(self) -> str:
        """The child's initials, the only thing outside mail may say of the child."""
        name = (self.referral.get("child_name") or "").strip()
        parts = [p for p in name.replace("-", " ").split() if p[:1].isalpha()]
        return ".".join(p[0].upper() for p in parts) + "." if parts else "(initials not given)"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "agencies":
                value = [a.to_dict() for a in value]
            elif f.name == "events":
                value = [e.to_dict() for e in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Case:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["agencies"] = tuple(Agency.from_dict(a) for a in d.get("agencies", ()))
        kw["events"] = tuple(Event(**e) for e in d.get("events", ()))
        kw["triage_reasons"] = tuple(d.get("triage_reasons", ()))
        kw["sent_keys"] = tuple(d.get("sent_keys", ()))
        return cls(**kw)


def iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def parse_iso_date(s: str | None) -> date | None:
    return date.fromisoformat(s) if s else None
