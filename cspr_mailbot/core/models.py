"""The values that flow through cspr-mailbot: messages in, cases, and messages out.

Everything here is plain data. Cases are frozen; the workflow returns a new case rather than changing one.
``Case.to_dict`` / ``Case.from_dict`` give the JSON shape the store keeps and SPEC 8 prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from .pack import Pack

Status = Literal[
    "needs_triage", "referral_received", "rapid_review", "cspr", "learning_review", "closed"
]
STATUSES: tuple[Status, ...] = get_args(Status)

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
    # SPEC 4's later fields, as real partnerships' forms ask.
    "referral_date",
    "safeguarding_lead_name",
    "child_nhs_number",
    "child_school",
    "child_postcode",
    "legal_status",
    "household",
    "other_children_at_risk",
    "police_investigation",
    "parallel_processes",
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
    "chronology",
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
    """A message as the mail source hands it over: its id in that source and its bytes.

    ``size`` is the message's size as the source knows it (IMAP ``RFC822.SIZE``, the file's size).
    A message over ``[limits] max_message_bytes`` is ``too_large``: it was not fetched, and ``raw``
    holds its header section only (SPEC 3 "Poison messages and size").
    """

    uid: str
    raw: bytes
    size: int = -1  # -1: not known; then len(raw)
    too_large: bool = False

    @property
    def bytes_size(self) -> int:
        """The message's size in bytes: as the source said, else what was fetched."""
        return self.size if self.size >= 0 else len(self.raw)


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
class DocumentRequest:
    """A document to build and attach when the message is rendered: the core says what, an adapter makes it.

    ``kind`` "scoping" is the Initial Scoping template, pre-filled with the case reference and the agency
    and carrying both embedded, so that a return is matched whatever address it comes back from (SPEC 4).
    ``kind`` "pack" is the Rapid Review pack (SPEC 6a): ``pack`` holds it, built by ``core.pack.pack_for``;
    the adapter only lays it out as a .docx.
    ``identifiers`` (referral keys and values: the child's name, date of birth, address, NHS number) are
    typed in too; only for a trusted agency (SPEC 5), else empty.
    ``kind`` "referral_blank" is the blank referral form, for a referrer whose referral could not be read.
    """

    kind: Literal["scoping", "pack", "referral_blank"]
    filename: str
    reference: str
    agency: str
    partnership: str
    pack: Pack | None = None
    identifiers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class OutboundMessage:
    """A message the core decided to send. The outbox renders it from ``templates/<template>.txt|.html``.

    ``key`` makes it idempotent: the outbox never sends two messages with the same key.
    ``internal`` is True only for mail to the coordinators; only internal mail may name the child, but
    for ``names_child``: the core put the child's identifiers in it for a trusted agency (SPEC 5), which the
    outbox checks again, address by address, and tags for encryption.
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
    documents: tuple[DocumentRequest, ...] = ()  # built and attached by the outbox when rendering
    names_child: bool = False


@dataclass(frozen=True)
class Event:
    at: datetime  # timezone-aware
    kind: str
    detail: str = ""
    by: str = ""  # who did it, for the audit: a coordinator's address, or "cli:USER"

    def to_dict(self) -> dict[str, str]:
        out = {"at": self.at.isoformat(), "kind": self.kind, "detail": self.detail}
        if self.by:
            out["by"] = self.by
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(datetime.fromisoformat(d["at"]), d["kind"], d.get("detail", ""), d.get("by", ""))


# The dates of an agency and a case: ISO strings in JSON, dates in Python.
_AGENCY_DATES = frozenset({"requested_on", "due", "returned_on"})
_CASE_DATES = frozenset(
    {
        "received_on",
        "aware_date",
        "notified_date",
        "decision_date",
        "completed_on",
        "published_on",
        "closed_on",
    }
)


@dataclass(frozen=True)
class Agency:
    name: str
    email: str | None = None
    contact_name: str | None = None
    requested_on: date | None = None
    due: date | None = None
    returned_on: date | None = None
    chasers_sent: int = 0
    scoping: dict[str, Any] | None = None  # the SPEC 4 scoping fields, once returned

    def to_dict(self) -> dict[str, Any]:
        return {
            name: iso(getattr(self, name)) if name in _AGENCY_DATES else getattr(self, name)
            for name in _AGENCY_FIELDS
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Agency:
        kw = {k: v for k, v in d.items() if k in _AGENCY_KNOWN}
        for name in _AGENCY_DATES & kw.keys():
            kw[name] = parse_iso_date(kw[name])
        return cls(**kw)


@dataclass(frozen=True)
class HeldReturn:
    """A scoping return that came from an address its case does not know (SPEC 3), held until a
    coordinator's ``accept return: AGENCY`` takes it as that agency's. Nothing is recorded as returned."""

    received_at: datetime  # timezone-aware
    from_addr: str
    agency_name: str | None = None  # the agency the returned template names, if it names one
    scoping: dict[str, Any] = field(default_factory=dict)  # the SPEC 4 scoping fields, as read
    message_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "received_at": self.received_at.isoformat(),
            "from_addr": self.from_addr,
            "agency_name": self.agency_name,
            "scoping": self.scoping,
            "message_id": self.message_id,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeldReturn:
        return cls(
            datetime.fromisoformat(d["received_at"]),
            d.get("from_addr", ""),
            d.get("agency_name"),
            dict(d.get("scoping") or {}),
            d.get("message_id"),
        )


@dataclass(frozen=True)
class Case:
    """A case as the store keeps it; ``to_dict``/``from_dict`` turn its dates into ISO strings and back."""

    reference: str
    status: Status
    received_at: datetime  # when the message arrived (aware)
    received_on: date  # the day the message counts as received (SPEC 2 cut-off rule)
    referrer_email: str = ""
    source_message_id: str | None = None
    referral: dict[str, Any] = field(default_factory=dict)
    criteria: dict[str, Any] = field(default_factory=lambda: {"result": "unclear", "reasons": []})
    triage_reasons: tuple[str, ...] = ()
    agencies: tuple[Agency, ...] = ()
    events: tuple[Event, ...] = ()
    # Facts coordinators give by command (SPEC 7).
    aware_date: date | None = None
    notified_date: date | None = None
    decision: str | None = None  # "cspr" | "learning_review" | "no_review"
    decision_date: date | None = None
    completed_on: date | None = None
    published_on: date | None = None
    closed_on: date | None = None
    linked_cases: tuple[str, ...] = ()  # references of cases about the same child or family (link:)
    duplicate_of: str | None = None  # the case this one is a copy of (duplicate of:); it is closed
    held_returns: tuple[HeldReturn, ...] = ()  # returns awaiting accept return: (SPEC 3)
    # Keys of every notice, chaser and reply already sent on this case: each is sent once.
    sent_keys: tuple[str, ...] = ()

    def with_event(self, at: datetime, kind: str, detail: str = "", by: str = "") -> Case:
        return replace(self, events=(*self.events, Event(at, kind, detail, by)))

    def has_sent(self, key: str) -> bool:
        return key in self.sent_keys

    def initials(self) -> str:
        """The child's initials, the only thing outside mail may say of the child."""
        name = (self.referral.get("child_name") or "").strip()
        parts = [p for p in name.replace("-", " ").split() if p[:1].isalpha()]
        return ".".join(p[0].upper() for p in parts) + "." if parts else "(initials not given)"

    def to_dict(self, *, events: bool = True) -> dict[str, Any]:
        """The JSON shape the store keeps (and SPEC 8 prints): dates as ISO strings.

        ``events=False`` leaves the event log out (the store keeps it apart: it only grows).
        """
        return {
            name: self.encode_field(name, getattr(self, name))
            for name in _CASE_FIELDS
            if events or name != "events"
        }

    @staticmethod
    def encode_field(name: str, value: Any) -> Any:
        """The value of field ``name`` in ``to_dict``'s shape."""
        if name in _CASE_LISTS:
            return [e.to_dict() for e in value]
        if name == "received_at":
            return value.isoformat()
        if name in _CASE_DATES:
            return iso(value)
        if isinstance(value, tuple):
            return list(value)
        return value

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, events: tuple[Event, ...] | None = None) -> Case:
        """The case of ``to_dict``'s shape ``d``; ``events``, when given, is its event log as
        decoded already (``d``'s own ``events`` are then not read)."""
        for required in ("status", "received_at"):
            if required not in d:
                raise KeyError(required)
        kw = {k: cls.decode_field(k, v) for k, v in d.items() if k in _CASE_KNOWN and k != "events"}
        kw["events"] = (
            events if events is not None else tuple(Event.from_dict(e) for e in d.get("events", ()))
        )
        return cls(**kw)

    @staticmethod
    def decode_field(name: str, value: Any) -> Any:
        """The value of field ``name`` from its value in ``to_dict``'s shape, as ``from_dict`` has it."""
        if name == "status":
            return status_of(value)
        if name == "received_at":
            return datetime.fromisoformat(value)
        if name in _CASE_DATES:
            return parse_iso_date(value)
        if name == "agencies":
            return tuple(Agency.from_dict(a) for a in value)
        if name == "events":
            return tuple(Event.from_dict(e) for e in value)
        if name == "held_returns":
            return tuple(HeldReturn.from_dict(h) for h in value)
        if name in _CASE_TUPLES:
            return tuple(value)
        return value


_AGENCY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Agency))
_AGENCY_KNOWN = frozenset(_AGENCY_FIELDS)
_CASE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Case))
_CASE_KNOWN = frozenset(_CASE_FIELDS)
_CASE_TUPLES = frozenset({"triage_reasons", "sent_keys", "linked_cases"})  # of strings
_CASE_LISTS = frozenset({"agencies", "events", "held_returns"})  # tuples of values with to_dict


@dataclass(frozen=True)
class Outcome:
    """What the workflow decided about one message (or one set of commands): the app applies it."""

    folder: Literal["processed", "triage", "ignored"]
    kind: str  # referral | triage | automatic | correspondence | return | command
    case: Case | None
    messages: tuple[OutboundMessage, ...] = ()
    summary: str = ""  # for the log: references and counts, never personal details
    others: tuple[Case, ...] = ()  # other cases changed too (link:, duplicate of:): saved with it
    actions: tuple[str, ...] = ()  # work for the app after saving, on ``case``: "resend", "pack"


def status_of(text: str) -> Status:
    """``text`` as a Status; ValueError for anything else (a store written by something else)."""
    for status in STATUSES:
        if text == status:
            return status
    raise ValueError(f"unknown case status {text!r}")


def iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def parse_iso_date(s: str | None) -> date | None:
    return date.fromisoformat(s) if s else None
