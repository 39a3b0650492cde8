"""Working hours for scheduled mail (SPEC 5) and the chasers' subjects.

Chasers and deadline and review notices go only on a working day from ``[calendar] send_from`` (08:00) up
to the cut-off (17:00); what falls due outside waits for the next such time. Everything a message or a
command causes goes at once, whatever the hour. The issue: ``run --once --now 2026-12-18T00:30`` sent two
scoping reminders and three Rapid Review notices at 00:30.
"""

from __future__ import annotations

import email
import mailbox
from datetime import UTC, date, datetime, time
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from sites import maildir_site
from test_workflow import CAL, ST, at, started

from cspr_mailbot.adapters.store import Store
from cspr_mailbot.cli import main
from cspr_mailbot.core import schedule
from cspr_mailbot.core.models import Agency, Case
from cspr_mailbot.core.workdays import LONDON, WorkingCalendar

FRI = date(2026, 12, 18)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 12, 18, 0, 30, tzinfo=LONDON), False),  # the 00:30
        (datetime(2026, 12, 18, 7, 59, tzinfo=LONDON), False),
        (datetime(2026, 12, 18, 8, 0, tzinfo=LONDON), True),
        (datetime(2026, 12, 18, 16, 59, tzinfo=LONDON), True),
        (datetime(2026, 12, 18, 17, 0, tzinfo=LONDON), False),  # the cut-off
        (datetime(2026, 12, 19, 10, 0, tzinfo=LONDON), False),  # Saturday
        (datetime(2026, 12, 25, 10, 0, tzinfo=LONDON), False),  # Christmas Day
        (datetime(2026, 6, 15, 7, 30, tzinfo=LONDON), False),  # BST: 06:30 UTC is 07:30 London
        (datetime(2026, 6, 15, 7, 30, tzinfo=UTC), True),  # 07:30 UTC in June is 08:30 London
    ],
)
def test_in_working_hours(when: datetime, expected: bool) -> None:
    assert schedule.in_working_hours(when, WorkingCalendar()) is expected


def test_send_from_and_the_cutoff_are_the_partnerships() -> None:
    cal = WorkingCalendar(cutoff=time(16, 0))
    nine = datetime(2026, 12, 18, 8, 30, tzinfo=LONDON)
    assert not schedule.in_working_hours(nine, cal, time(9, 0))
    assert schedule.in_working_hours(nine.replace(hour=9), cal, time(9, 0))
    assert not schedule.in_working_hours(nine.replace(hour=16), cal, time(9, 0))


def test_what_falls_due_at_night_waits_for_send_from() -> None:
    case = started()  # requests sent Wed 23 Dec 2026, due Thu 7 Jan 2027 (the closures in between)
    day = date(2027, 1, 7)
    night = datetime.combine(day, time(0, 30), tzinfo=LONDON)
    assert schedule.due_messages(case, night, CAL, ST) == (case, [])
    assert schedule.due_messages(case, at(day, 7, 59), CAL, ST) == (case, [])
    later, messages = schedule.due_messages(case, at(day, 8, 0), CAL, ST)
    assert {m.template for m in messages} >= {"scoping_chaser"}
    assert later.sent_keys != case.sent_keys
    # After the cut-off the next day's chasers wait for the morning too.
    assert schedule.due_messages(later, at(date(2027, 1, 8), 17, 30), CAL, ST)[1] == []


def test_a_chaser_after_the_due_date_says_overdue_before_it_reminder() -> None:
    case = started()  # due Thu 7 Jan 2027; the "before" chaser is Tue 5 Jan (2 working days)
    subjects = {}
    for day in (date(2027, 1, 5), date(2027, 1, 7), date(2027, 1, 8), date(2027, 1, 12)):
        case, messages = schedule.due_messages(case, at(day), CAL, ST)
        subjects[day] = {m.subject for m in messages if m.template == "scoping_chaser"}
    assert subjects[date(2027, 1, 5)] == {"Initial Scoping return: reminder"}
    assert subjects[date(2027, 1, 7)] == {"Initial Scoping return: reminder"}  # due today
    assert subjects[date(2027, 1, 8)] == {"Initial Scoping return: overdue"}
    assert subjects[date(2027, 1, 12)] == {"Initial Scoping return: overdue"}


# -- the run, with the real CLI, store and .eml outbox ---------------------------------------


def rapid_review_case(reference: str = "DSPP-2026-0001", child: str = "Jamie Example") -> Case:
    """Received and aware Fri 4 Dec 2026, no SIN date: the SIN is overdue (its overdue notice fell on
    Mon 14 Dec), the provisional Rapid Review's day-10 notice falls on Fri 18 Dec; two agencies asked
    Fri 11 Dec have their returns due Fri 18 Dec (the "due" chaser)."""
    at4 = datetime(2026, 12, 4, 10, tzinfo=LONDON)
    return Case(
        reference=reference,
        status="rapid_review",
        received_at=at4,
        received_on=at4.date(),
        referral={"child_name": child, "la_aware_date": "2026-12-04"},
        agencies=(
            Agency(
                "West Midlands Police", "pvp@example.police.uk", requested_on=date(2026, 12, 11)
            ),
            Agency(
                "Oakfield Primary School",
                "dsl@oakfield.example.sch.uk",
                requested_on=date(2026, 12, 11),
            ),
        ),
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    maildir_site(tmp_path)
    with Store(tmp_path / "store" / "cspr.json") as store, store.transaction() as txn:
        txn.put_case(rapid_review_case())
    return tmp_path


def sent(site: Path) -> dict[str, str]:
    """File name -> X-CSPR-Mailbot template of every .eml written so far."""
    out = {}
    for path in (site / "store" / "outbox").glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        out[path.name] = str(msg["X-CSPR-Mailbot"])
    return out


def test_run_once_at_half_past_midnight_sends_no_chaser_or_notice_and_at_eight_they_go(
    site: Path,
) -> None:
    cfg = str(site / "config.toml")
    assert main(["-c", cfg, "run", "--once", "--now", "2026-12-18T00:30"]) == 0
    assert sent(site) == {}
    # A referral at 00:45 is answered at once: acknowledgement and new-referral notice.
    msg = EmailMessage()
    msg["From"] = "sam.carter@example.police.uk"
    msg["To"] = "dsppb@example.gov.uk"
    msg["Subject"] = "Referral"
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content(
        "Referrer name: Sam Carter\nChild's name: Alex Other\nIncident type: Death\n"
        "Date of incident: 17/12/2026\nSummary of incident: Died at home.\nAbuse or neglect: Suspected\n"
    )
    mailbox.Maildir(site / "maildir").add(msg.as_bytes())
    assert main(["-c", cfg, "run", "--once", "--now", "2026-12-18T00:45"]) == 0
    night = sent(site)
    assert sorted(night.values()) == ["acknowledgement", "new_referral"]

    assert main(["-c", cfg, "run", "--once", "--now", "2026-12-18T08:00"]) == 0
    morning = [t for name, t in sent(site).items() if name not in night]
    assert morning.count("scoping_chaser") == 2
    assert morning.count("deadline_notice") >= 2  # the SIN overdue and Rapid Review day 10
    assert "digest" in morning
