"""What happens to a case: ``decide`` is the one entry point, (message read, classification, case, now) ->
Outcome. No I/O, no clock.

The app hands in a read and classified message and the case it names (or none), and gets back the case
to save, the folder for the message and the messages to send. Keys on messages and on
``Case.sent_keys`` make each outcome happen once however often the same input is seen. The work itself
lives by reason to change: ``intake`` (a new referral), ``correspondence`` (machine mail, returns, other
mail on a case), ``handlers`` (coordinator commands), ``schedule`` (chasers and notices), ``deadlines``
(a case's dates), ``views`` (what the templates see).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from . import intake
from .classify import Classification
from .models import Case, Outcome
from .reading import ReadMessage
from .settings import Settings
from .workdays import LONDON, WorkingCalendar


def decide(
    read: ReadMessage,
    cls: Classification,
    case: Case | None,
    now: datetime,
    cal: WorkingCalendar,
    st: Settings,
    references: Mapping[int, str],
    others: Mapping[str, Case] | None = None,
) -> Outcome:
    """What to do with one message. ``case`` is the case ``cls.case_ref`` names, if it is one.

    ``references``: the next free case reference of each year the message may be received in
    (``reference_years``), looked up by the app; a new case takes its year's.
    ``others``: for a command mail, the cases its commands name (``handlers.command_references``);
    for a new referral, the open cases about its child (``intake.lookup_keys``).
    """
    # correspondence and handlers are imported by the branches that need them: a backlog of
    # referrals needs neither (tests/test_imports.py).
    if cls.kind == "automatic":
        from . import correspondence

        return correspondence.on_automatic(read, cls, case, now, st)
    if cls.kind == "unverified_command":
        from . import correspondence

        return correspondence.on_unverified_command(read, cls, case, now, cal, st)
    if cls.kind == "command" and case is None:
        from . import handlers

        return handlers.on_command_without_case(read, now, st)
    if case is None:
        return intake.intake(read, cls, now, cal, st, references.__getitem__, others)
    if cls.kind == "command":
        from . import handlers

        return handlers.on_command_mail(read, cls, case, now, cal, st, others)
    from . import correspondence

    return correspondence.on_correspondence(read, cls, case, now, cal, st)


def reference_years(now: datetime) -> tuple[int, ...]:
    """The years a message taken in at ``now`` may count as received in (SPEC 2: its Date, when
    plausible, may be days earlier; the cut-off may roll it into the next year)."""
    year = now.astimezone(LONDON).year
    return (year - 1, year, year + 1)
