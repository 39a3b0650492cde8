"""The digest's ``deadlines.ics`` (SPEC 6): one all-day event per open deadline of each open case.

A coordinator imports the file every day, so an event must be recognised as the same event the next day:

- ``UID`` is the case reference and the deadline, at the mailbox's domain (``DSPP-2026-0001-sin@example.gov.uk``,
  ``DSPP-2026-0001-scoping-west-midlands-police@...``): the same on every build, whatever the day.
- ``SEQUENCE`` is the number of events in the case's log. The log only grows, and every change that can
  move a deadline (an aware or SIN date, a decision, a request sent, a return) adds to it, so a moved
  deadline always carries a higher SEQUENCE, and a day on which nothing happened gives the same one.
- ``LAST-MODIFIED`` is the time of the case's last logged event (stable while nothing happens);
  ``DTSTAMP`` is when the file was built, as RFC 5545 asks.

Open deadlines: the SIN until the SIN date is recorded, the Rapid Review decision until it is made (its
title says "provisional" while it counts from the receipt date), the review until it is completed, and each
scoping return requested and not yet in, while no decision is made (chasing ends with the decision, as
in the digest). Closed cases have none. A met deadline drops out of the file: a calendar that *subscribes*
to it removes the event; one that imports it keeps the last copy.

The calendar gets forwarded, so it never names the child: the reference and the initials only.
Pure: the time is given, the bytes are returned.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .clocks import Timescales
from .deadlines import case_deadlines
from .models import Case, OutAttachment
from .shown import as_date
from .workdays import WorkingCalendar

if TYPE_CHECKING:
    from icalendar import Component

__all__ = [
    "ICS_FILENAME",
    "ICS_TYPE",
    "DeadlineEvent",
    "deadline_events",
    "deadlines_ics",
    "ics_attachment",
    "ics_bytes",
]

ICS_FILENAME = "deadlines.ics"
ICS_TYPE = "text/calendar"
_PRODID = "-//cspr-mailbot//deadlines//EN"


def _what(key: str, ts: Timescales) -> tuple[str, str]:
    """The event's title and the first line of its description, from the configured lengths."""
    if key == "sin":
        return (
            "SIN due",
            f"National Panel notification (SIN): {ts.sin_days} working days from the date the local"
            " authority became aware of the incident.",
        )
    if key == "rapid-review":
        return (
            "Rapid Review decision due",
            f"Rapid Review decision: {ts.rapid_review_days} working days from the SIN date.",
        )
    return "Review due", "Review report: due from the decision date."


@dataclass(frozen=True)
class DeadlineEvent:
    """One open deadline as the calendar shows it (values; ``deadlines_ics`` writes them)."""

    uid: str
    reference: str
    summary: str
    description: str
    due: date
    sequence: int
    last_modified: datetime  # aware, UTC


def _domain(mailbox: str) -> str:
    domain = mailbox.rpartition("@")[2].strip().lower()
    return domain or "cspr-mailbot.invalid"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "agency"


def _utc(stamp: str | datetime | None) -> datetime | None:
    if stamp is None:
        return None
    try:
        at = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).replace(microsecond=0)


def _last_modified(case: Case) -> datetime:
    for event in reversed(case.events):
        at = _utc(event.at)
        if at is not None:
            return at
    received: str | datetime = case.received_at
    return _utc(received) or datetime(1970, 1, 1, tzinfo=UTC)


def _returned(returned_on: date | str | None, scoping: object) -> bool:
    return scoping is not None or as_date(returned_on) is not None


def _open_deadlines(
    case: Case, cal: WorkingCalendar, ts: Timescales
) -> list[tuple[str, str, str, date]]:
    """(key, summary, description, due) for each open deadline of one open case."""
    dl = case_deadlines(case, cal, ts)
    found: list[tuple[str, str, str, date]] = []
    for key, d in (("sin", dl.sin), ("rapid-review", dl.rapid_review), ("review", dl.review)):
        if d is None or d.met_on is not None:
            continue
        summary, description = _what(key, ts)
        if d.provisional:
            summary += " (provisional)"
            since = "aware date" if key == "sin" else "SIN date"
            description += (
                f" Provisional: counted from the referral's receipt until the {since} is known."
            )
        found.append((key, summary, description, d.due))
    if case.decision is not None:
        return found  # chasing ends with the decision
    for agency in case.agencies:
        due = as_date(agency.due)
        if due is None or _returned(agency.returned_on, agency.scoping):
            continue
        found.append(
            (
                f"scoping-{_slug(agency.name)}",
                f"scoping return due from {agency.name}",
                f"Initial scoping return from {agency.name}: {ts.scoping_days} working days from the request.",
                due,
            )
        )
    return found


def deadline_events(
    cases: Iterable[Case], cal: WorkingCalendar, ts: Timescales, *, mailbox: str
) -> tuple[DeadlineEvent, ...]:
    """Every open deadline of every open case, in the cases' order, as calendar events."""
    domain = _domain(mailbox)
    out: list[DeadlineEvent] = []
    for case in cases:
        if case.status == "closed":
            continue
        seq, modified = len(case.events), _last_modified(case)
        initials = case.initials()
        who = f"Case {case.reference}, child {initials}" + ("" if initials.endswith(".") else ".")
        for key, summary, description, due in _open_deadlines(case, cal, ts):
            out.append(
                DeadlineEvent(
                    uid=f"{case.reference}-{key}@{domain}",
                    reference=case.reference,
                    summary=f"{case.reference}: {summary}",
                    description=f"{who}\n{description}",
                    due=due,
                    sequence=seq,
                    last_modified=modified,
                )
            )
    return tuple(out)


def deadlines_ics(
    cases: Iterable[Case],
    *,
    cal: WorkingCalendar,
    ts: Timescales,
    now: datetime,
    mailbox: str,
    partnership: str,
) -> bytes:
    """The iCalendar file (RFC 5545) of every open deadline: all-day, free time, stable UIDs.

    icalendar builds the calendar and writes every line; see ``_Shared`` and ``ics_bytes`` for how
    the values and lines that repeat from event to event are made once.
    """
    from icalendar import Calendar, Event  # only when the digest is written: not at every start

    ics = Calendar()
    ics.add("prodid", _PRODID)
    ics.add("version", "2.0")
    ics.add("calscale", "GREGORIAN")
    ics.add("method", "PUBLISH")
    ics.add("x-wr-calname", f"{partnership}: CSPR deadlines" if partnership else "CSPR deadlines")
    stamp = _utc(now) or now
    shared = _Shared()
    for item in deadline_events(cases, cal, ts, mailbox=mailbox):
        event = Event()
        event.add("uid", item.uid)
        shared.add(event, "dtstamp", stamp)
        shared.add(event, "last-modified", item.last_modified)
        shared.add(event, "sequence", item.sequence)
        event.add("summary", item.summary)
        event.add("description", item.description)
        shared.add(event, "dtstart", item.due)
        shared.add(event, "dtend", item.due + timedelta(days=1))
        shared.add(event, "transp", "TRANSPARENT")
        shared.add(event, "categories", ("CSPR deadline",))
        shared.add(event, "x-microsoft-cdo-alldayevent", "TRUE")
        shared.add(event, "x-microsoft-cdo-busystatus", "FREE")
        ics.add_component(event)
    return ics_bytes(ics)


class _Shared:
    """Property values that recur from event to event (the stamp, the dates, the constants),
    encoded once.

    The first time a (property, value) is added, ``Component.add`` encodes it as usual; later events
    get that same encoded object, set as a component's item (a component is a dict of encoded values;
    what ``add(..., encode=False)`` does for a property not yet set), so ``ics_bytes`` writes its line
    once too. A value that differs is encoded anew. Each property is added once to an event.
    """

    def __init__(self) -> None:
        self._encoded: dict[tuple[str, type, Hashable], Any] = {}

    def add(self, component: Component, name: str, value: Hashable) -> None:
        key = (name, type(value), value)  # the type too: 1, 1.0 and True are equal keys
        known = self._encoded.get(key)
        if known is not None:
            component[name] = known
            return
        component.add(name, list(value) if isinstance(value, tuple) else value)
        self._encoded[key] = component[name]


# RFC 5545 folds content lines of 75 octets or more; a shorter line is written as it is.
_FOLD_AT = 75


def ics_bytes(component: Component) -> bytes:
    """``component.to_ical()``, byte for byte, writing each distinct line once.

    The same walk as icalendar's ``to_ical`` (``property_items``, then ``content_line`` for each),
    but a value object that recurs (``_Shared``), and every BEGIN/END, gives its line once; and
    icalendar's folding, which looks at a line one character at a time, is asked only for lines it
    would fold (75 octets or more): below that it returns the line unchanged.
    """
    lines: list[bytes] = []
    written: dict[tuple[str, object], bytes] = {}
    for name, value in component.property_items():
        key = (name, value if isinstance(value, bytes) else id(value))
        line = written.get(key)
        if line is None:
            content = component.content_line(name, value)
            line = content.encode("utf-8")
            if len(line) >= _FOLD_AT:
                line = content.to_ical()
            written[key] = line
        lines.append(line)
    lines.append(b"")
    return b"\r\n".join(lines)


def ics_attachment(
    cases: Iterable[Case],
    *,
    cal: WorkingCalendar,
    ts: Timescales,
    now: datetime,
    mailbox: str,
    partnership: str,
) -> OutAttachment:
    """``deadlines.ics`` ready to attach to the digest."""
    data = deadlines_ics(cases, cal=cal, ts=ts, now=now, mailbox=mailbox, partnership=partnership)
    return OutAttachment(ICS_FILENAME, f"{ICS_TYPE}; charset=utf-8; method=PUBLISH", data)
