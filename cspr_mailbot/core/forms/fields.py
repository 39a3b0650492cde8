"""The fields each form has (SPEC 4) and the kind of value each holds: date, yes/no, choice, list, text."""

from __future__ import annotations

from cspr_mailbot.core.models import REFERRAL_FIELDS, SCOPING_FIELDS

FORMS: dict[str, tuple[str, ...]] = {"referral": REFERRAL_FIELDS, "scoping": SCOPING_FIELDS}

# How each field's text becomes a value. Anything not listed is text.
DATE_FIELDS = frozenset(
    {"child_dob", "incident_date", "la_aware_date", "notification_date"}
    | {"involvement_from", "involvement_to"}
)
BOOL_FIELDS = frozenset(
    {"safeguarding_lead_consulted", "looked_after", "national_panel_notified", "records_secured"}
)
# field -> the [answers] table its options come from
CHOICE_FIELDS: dict[str, str] = {
    "incident_type": "incident_type",
    "abuse_or_neglect": "abuse_or_neglect",
}
LIST_FIELDS = frozenset({"agencies_involved"})
# Fields whose value may run over several lines or paragraphs.
LONG_FIELDS = frozenset(
    {"incident_summary", "rationale", "child_address", "agencies_involved"}
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
