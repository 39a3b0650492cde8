"""The fields each form has (SPEC 4) and the kind of value each holds: date, yes/no, choice, list, text."""

from __future__ import annotations

from cspr_mailbot.core.models import REFERRAL_FIELDS, SCOPING_FIELDS

FORMS: dict[str, tuple[str, ...]] = {"referral": REFERRAL_FIELDS, "scoping": SCOPING_FIELDS}

# How each field's text becomes a value. Anything not listed is text.
DATE_FIELDS = frozenset(
    {"referral_date", "child_dob", "incident_date", "la_aware_date", "notification_date"}
    | {"involvement_from", "involvement_to"}
)
BOOL_FIELDS = frozenset(
    {"safeguarding_lead_consulted", "looked_after", "national_panel_notified", "records_secured"}
    | {"police_investigation"}
)
# field -> the [answers] table its options come from
CHOICE_FIELDS: dict[str, str] = {
    "incident_type": "incident_type",
    "abuse_or_neglect": "abuse_or_neglect",
    "legal_status": "legal_status",
}
LIST_FIELDS = frozenset({"agencies_involved"})
# Fields read from a table of entries: field -> the entry's keys, in the order a form's columns
# usually come. A header row of known column names (``[household_columns]``,
# ``[chronology_columns]`` in labels.toml) starts the table; every row after it is an entry.
TABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "household": ("name", "relationship", "dob"),
    "chronology": ("date", "event", "agency"),
}
# The column that makes a header row that table's, whatever else the row holds.
TABLE_ANCHORS: dict[str, frozenset[str]] = {
    "household": frozenset({"relationship"}),
    "chronology": frozenset({"date"}),
}
# Entry keys holding a date: ISO when it reads as one, else kept as written.
TABLE_DATE_KEYS = frozenset({"dob", "date"})
# Fields whose value may run over several lines or paragraphs.
LONG_FIELDS = frozenset(
    {"incident_summary", "rationale", "child_address", "agencies_involved"}
    | {"other_children_at_risk", "parallel_processes", "household", "chronology"}
    | {"involvement_summary", "risks_identified", "good_practice", "learning", "immediate_actions"}
)
# Fields whose value is free text: options typed beside them are not their answer.
TEXT_FIELDS = frozenset(
    k for k in (*REFERRAL_FIELDS, *SCOPING_FIELDS) if k not in BOOL_FIELDS | set(CHOICE_FIELDS)
)
# The referrer's own details: the only fields read from a signature in an email body.
SENDER_FIELDS = frozenset(
    {"referrer_name", "referrer_role", "referrer_agency", "referrer_email", "referrer_phone"}
)
