"""A draft of the National Panel notification (the Serious Incident Notification, SIN) as text to paste.

The local authority notifies the Child Safeguarding Practice Review Panel through the Department for
Education's online "child safeguarding incident notification system", within 5 working days of becoming
aware of the incident. That form times out after 20 minutes of inactivity and keeps nothing, so the
coordinators want every answer ready before they open it. ``sin_draft`` writes the form's questions with the
referral's answers; where the referral (SPEC 4) holds no answer the line says ``(not on the referral: add)``.

What it follows (the published guidance; the form's own screens are behind DfE Sign-in and their exact
wording is not published, so the questions below are the information the guidance says the form needs,
grouped as the guidance describes it):

- GOV.UK, "Report a serious child safeguarding incident"
  (https://www.gov.uk/guidance/report-a-serious-child-safeguarding-incident): notify when abuse or neglect
  is known or suspected and the child dies or is seriously harmed in the local authority's area, or dies or
  is seriously harmed outside England while normally resident in it; a looked-after child's death whether
  or not abuse or neglect is known or suspected; within 5 working days of becoming aware; one notification
  per incident, with details of up to 4 children and further information, including other children
  involved; the case outline free-text box.
- The service's start page, "Before you start" (https://childsafeguarding.education.gov.uk/): your phone
  number and email address; the name, age, health and geographical information of each child; details of
  the incident, including location and date (time if possible); any important documents (legal documents,
  letters, emails, forms); the 20-minute time-out.
- Working Together to Safeguard Children 2023, chapter 5: the criteria (serious harm includes serious and/or
  long-term impairment of physical or mental health or development), the duty resting with the local
  authority, and the Rapid Review that follows the notification.

The draft names the child: it is for the coordinators only (the new-referral notice and the pack).
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from .clocks import Deadlines
from .models import Case
from .screening import looked_after_death
from .shown import as_date, show_value
from .workdays import format_date

__all__ = [
    "NOT_ON_REFERRAL",
    "SIN_QUESTIONS",
    "SinQuestion",
    "needs_sin_draft",
    "sin_answers",
    "sin_draft",
]

NOT_ON_REFERRAL = "(not on the referral: add)"

Answer = Callable[[Case], str | None]  # None or "": not on the referral


@dataclass(frozen=True)
class SinQuestion:
    section: str
    question: str
    answer: Answer


# -- answers from the case ------------------------------------------------------------------------------


def _field(key: str) -> Answer:
    def answer(case: Case) -> str | None:
        return show_value(key, case.referral.get(key)) or None

    return answer


def _never(case: Case) -> str | None:
    return None


def _aware(case: Case) -> str | None:
    day = as_date(case.aware_date) or as_date(case.referral.get("la_aware_date"))
    return format_date(day) if day else None


def _what_is_notified(case: Case) -> str | None:
    r = case.referral
    abuse, incident = r.get("abuse_or_neglect"), r.get("incident_type")
    if looked_after_death(r) and abuse not in ("known", "suspected"):
        return "The death of a looked-after child (notified to the Secretary of State and Ofsted)"
    if abuse in ("known", "suspected") and incident in ("death", "serious_harm"):
        harm = "The death of a child" if incident == "death" else "Serious harm to a child"
        also = " The child was looked after." if r.get("looked_after") is True else ""
        return f"{harm} where abuse or neglect is {abuse}.{also}"
    return None


def _age(case: Case) -> str | None:
    born = as_date(case.referral.get("child_dob"))
    on = as_date(case.referral.get("incident_date"))
    if born is None or on is None or on < born:
        return None
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    if years >= 1:
        return f"{years} year{'s' if years != 1 else ''} at the incident"
    months = (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)
    if months >= 1:
        return f"{months} month{'s' if months != 1 else ''} at the incident"
    days = (on - born).days
    return f"{days} day{'s' if days != 1 else ''} at the incident"


def _health(case: Case) -> str | None:
    nhs = case.referral.get("child_nhs_number")
    if not nhs:
        return None
    return f"NHS number {nhs}; other health information {NOT_ON_REFERRAL}"


def _where_living(case: Case) -> str | None:
    r = case.referral
    address = str(r.get("child_address") or "").strip()
    postcode = str(r.get("child_postcode") or "").strip()
    if postcode and postcode.replace(" ", "").lower() not in address.replace(" ", "").lower():
        address = f"{address}, {postcode}" if address else postcode
    return address or None


def _legal_status(case: Case) -> str | None:
    status = show_value("legal_status", case.referral.get("legal_status"))
    if status:
        return status
    looked_after = case.referral.get("looked_after")
    if looked_after is True:
        return "Looked after"
    if looked_after is False:
        return f"Not looked after; any other status {NOT_ON_REFERRAL}"
    return None


def _incident_date(case: Case) -> str | None:
    day = as_date(case.referral.get("incident_date"))
    return f"{format_date(day)}; time {NOT_ON_REFERRAL}" if day else None


def _agencies(case: Case) -> str | None:
    names: list[str] = []
    for a in case.referral.get("agencies_involved") or ():
        name = a.get("name") if isinstance(a, Mapping) else a
        if name and str(name) not in names:
            names.append(str(name))
    for agency in case.agencies:
        if agency.name not in names:
            names.append(agency.name)
    return "; ".join(names) or None


# -- the questions ----------------------------------------------------------------------------------------

_NOTIFIER = "1. About the notification"
_CHILD = "2. The child (one notification per incident, up to 4 children: add others in section 4)"
_INCIDENT = "3. The incident"
_MORE = "4. Other children and further information"

SIN_QUESTIONS: tuple[SinQuestion, ...] = (
    SinQuestion(_NOTIFIER, "Notifying local authority", _never),
    SinQuestion(_NOTIFIER, "Your name and role", _never),
    SinQuestion(_NOTIFIER, "Your phone number", _never),
    SinQuestion(_NOTIFIER, "Your email address", _never),
    SinQuestion(_NOTIFIER, "What is being notified", _what_is_notified),
    SinQuestion(
        _NOTIFIER,
        "In the local authority's area, or outside England while normally resident in it",
        _never,
    ),
    SinQuestion(_NOTIFIER, "Date the local authority became aware", _aware),
    SinQuestion(_CHILD, "Name", _field("child_name")),
    SinQuestion(_CHILD, "Date of birth", _field("child_dob")),
    SinQuestion(_CHILD, "Age", _age),
    SinQuestion(_CHILD, "Gender", _field("child_gender")),
    SinQuestion(_CHILD, "Ethnicity", _field("child_ethnicity")),
    SinQuestion(_CHILD, "Health (NHS number, disability, health needs)", _health),
    SinQuestion(_CHILD, "Where the child lives (address, postcode)", _where_living),
    SinQuestion(
        _CHILD, "Legal status (child protection plan, child in need, looked after)", _legal_status
    ),
    SinQuestion(_INCIDENT, "Date of the incident (and time if known)", _incident_date),
    SinQuestion(_INCIDENT, "Where it happened", _never),
    SinQuestion(
        _INCIDENT, "Did the child die or were they seriously harmed", _field("incident_type")
    ),
    SinQuestion(_INCIDENT, "Is abuse or neglect known or suspected", _field("abuse_or_neglect")),
    SinQuestion(_INCIDENT, "Case outline", _field("incident_summary")),
    SinQuestion(
        _MORE, "Other children involved, harmed or at risk", _field("other_children_at_risk")
    ),
    SinQuestion(_MORE, "Family and household", _field("household")),
    SinQuestion(_MORE, "Police investigation", _field("police_investigation")),
    SinQuestion(
        _MORE,
        "Other processes (coroner, child death review, criminal or family proceedings)",
        _field("parallel_processes"),
    ),
    SinQuestion(_MORE, "Agencies involved with the child or family", _agencies),
    SinQuestion(_MORE, "Documents to upload (legal documents, letters, forms)", _never),
)


# -- the draft ----------------------------------------------------------------------------------------------


def needs_sin_draft(deadlines: Deadlines) -> bool:
    """True while no SIN date is recorded (SPEC 6a: the draft goes with the pack and notice until then)."""
    return deadlines.sin is None or deadlines.sin.met_on is None


def sin_answers(case: Case) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """(section, ((question, answer), ...)) in the form's order; a missing answer is ``NOT_ON_REFERRAL``."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for q in SIN_QUESTIONS:
        answer = (q.answer(case) or "").strip() or NOT_ON_REFERRAL
        sections.setdefault(q.section, []).append((q.question, answer))
    return tuple((section, tuple(rows)) for section, rows in sections.items())


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")


def sin_draft(case: Case, deadlines: Deadlines | None = None, *, partnership: str = "") -> str:
    """The draft as plain text: a heading, the deadline when known, then each question and its answer."""
    lines = [
        "DRAFT Serious Incident Notification to the Child Safeguarding Practice Review Panel",
        f"Case {case.reference}"
        + (f", {partnership}" if partnership else "")
        + ". For the coordinators only: it names the child.",
    ]
    if deadlines is not None and deadlines.sin is not None:
        due: date = deadlines.sin.due
        provisional = (
            " (provisional: counted from the referral's receipt until the date the local authority"
            " became aware is known)"
            if deadlines.sin.provisional
            else ""
        )
        lines.append(
            f"Notify within 5 working days of the local authority becoming aware: by {format_date(due)}"
            f"{provisional}."
        )
    lines.append(
        "The online form times out after 20 minutes of inactivity and saves nothing: have every answer"
        " ready, then paste them in."
    )
    lines.append(f"A line marked {NOT_ON_REFERRAL} needs an answer the referral does not hold.")
    if looked_after_death(case.referral):
        lines.append(
            "A looked-after child has died: the same form notifies the Secretary of State and Ofsted,"
            " whether or not abuse or neglect is known or suspected."
        )
    for section, rows in sin_answers(case):
        lines += ["", section]
        for question, answer in rows:
            lines.append(f"{question}:")
            lines.append(f"    {_indent(answer)}")
    return "\n".join(lines) + "\n"
