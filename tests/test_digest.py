"""The daily digest (SPEC 6): its rows, their order and colour, when it is due, its templates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import jinja2
import pytest

from cspr_mailbot.core import digest
from cspr_mailbot.core.clocks import Timescales
from cspr_mailbot.core.models import Agency, Case
from cspr_mailbot.core.records import OutboxRecord
from cspr_mailbot.core.workdays import LONDON, WorkingCalendar

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CAL = WorkingCalendar()
TS = Timescales()
# The digest's day: Thu 3 Dec 2026, 08:00 in London (GMT in winter).
NOW = datetime(2026, 12, 3, 8, 0, tzinfo=LONDON)
TODAY = date(2026, 12, 3)
CHILD = "Jessica Amelia Smith-Brown"


def make_case(reference: str, status: str, received: str, **kw: Any) -> Case:
    """A case received at 09:00 London on ``received`` (an ISO date)."""
    at = datetime.fromisoformat(received).replace(hour=9, tzinfo=LONDON)
    referral = kw.pop("referral", {"child_name": CHILD})
    return Case(
        reference=reference,
        status=status,
        received_at=at,
        received_on=at.date(),
        referral=referral,
        **kw,
    )


# The SIN deadline is 5 working days from the LA-aware date and, with no SIN date yet, it is the
# soonest deadline (the provisional Rapid Review one runs 15 working days from receipt). So each
# aware date below puts the case's next deadline where the comment says, as seen on Thu 3 Dec 2026.
def sin_case(reference: str, status: str, aware: str, **kw: Any) -> Case:
    return make_case(
        reference, status, kw.pop("received", aware), aware_date=date.fromisoformat(aware), **kw
    )


CASES: list[Case] = [
    # Green triage case: it still comes before the red cases (triage first).
    sin_case("DSPP-2026-0001", "needs_triage", "2026-12-01"),  # SIN due Tue 8 Dec: 3 wd, green
    # Red triage case, with no form at all: initials not given.
    make_case("DSPP-2026-0002", "needs_triage", "2026-11-20", referral={}),
    # ^ SIN provisional from receipt Fri 20 Nov -> due Fri 27 Nov: overdue by 4 wd (30 Nov-3 Dec)
    sin_case("DSPP-2026-0003", "referral_received", "2026-11-26"),  # due Thu 3 Dec: today, amber
    sin_case("DSPP-2026-0004", "referral_received", "2026-11-25"),  # due Wed 2 Dec: -1, red
    sin_case("DSPP-2026-0005", "rapid_review", "2026-11-30"),  # due Mon 7 Dec: 2 wd, amber
    # Rapid review with the SIN made and scoping requested: the return is the next deadline.
    make_case(
        "DSPP-2026-0006",
        "rapid_review",
        "2026-11-23",
        aware_date=date(2026, 11, 23),
        notified_date=date(2026, 11, 24),
        agencies=(
            Agency(
                "West Midlands Police",
                "p@example.org",
                requested_on=date(2026, 11, 26),
                due=date(2026, 12, 3),
            ),  # due today: amber
            Agency(
                "Dudley Council Education",
                "e@example.org",
                requested_on=date(2026, 11, 26),
                due=date(2026, 12, 3),
                returned_on=date(2026, 12, 1),
            ),  # returned: not outstanding
        ),
    ),
    # CSPR decided Mon 2 Nov 2026: review due Sun 2 May 2027, far away, green.
    make_case(
        "DSPP-2026-0007",
        "cspr",
        "2026-10-01",
        aware_date=date(2026, 10, 1),
        notified_date=date(2026, 10, 2),
        decision="cspr",
        decision_date=date(2026, 11, 2),
        agencies=(
            Agency(
                "West Midlands Police",
                "p@example.org",
                requested_on=date(2026, 10, 5),
                due=date(2026, 10, 12),
            ),  # still outstanding: overdue, listed by agency
        ),
    ),
    # Learning review completed but not closed: nothing left to meet, no deadline.
    make_case(
        "DSPP-2026-0008",
        "learning_review",
        "2026-06-01",
        aware_date=date(2026, 6, 1),
        notified_date=date(2026, 6, 2),
        decision="learning_review",
        decision_date=date(2026, 6, 10),
        completed_on=date(2026, 9, 1),
    ),
    # Closed: never an open row, even with an overdue-looking clock.
    sin_case("DSPP-2026-0009", "closed", "2026-11-02", closed_on=date(2026, 11, 3)),
]


def sent_record(
    key: str,
    case_reference: str | None,
    template: str,
    subject: str,
    to: list[str],
    cc: list[str],
    internal: bool,
    sent_at: str | None,
    created_at: str | None,
) -> OutboxRecord:
    """An outbox record as the store hands it out, written with ISO strings for short."""
    sent = datetime.fromisoformat(sent_at) if sent_at else None
    return OutboxRecord(
        key=key,
        message_id=f"<{key}@dspp.example>",
        template=template,
        subject=subject,
        to=tuple(to),
        created_at=datetime.fromisoformat(created_at) if created_at else (sent or NOW),
        case_reference=case_reference,
        cc=tuple(cc),
        internal=internal,
        sent_at=sent,
    )


def build(
    cases: list[Case] | None = None,
    sent: list[dict[str, Any]] | None = None,
    since: datetime | None = datetime(2026, 12, 2, 8, 0, tzinfo=LONDON),
) -> digest.Digest:
    records = [sent_record(**r) for r in sent or []]
    return digest.build_digest(CASES if cases is None else cases, records, NOW, CAL, TS, since)


def refs(rows: list[digest.DigestRow]) -> list[str]:
    return [r.reference for r in rows]


def row(d: digest.Digest, reference: str) -> digest.DigestRow:
    return next(r for r in d.open_cases if r.reference == reference)


# -- rows and order ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "due", "left", "colour", "label"),
    [
        ("DSPP-2026-0001", date(2026, 12, 8), 3, "green", "SIN"),
        ("DSPP-2026-0002", date(2026, 11, 27), -4, "red", "SIN"),
        ("DSPP-2026-0003", date(2026, 12, 3), 0, "amber", "SIN"),
        ("DSPP-2026-0004", date(2026, 12, 2), -1, "red", "SIN"),
        ("DSPP-2026-0005", date(2026, 12, 7), 2, "amber", "SIN"),
        ("DSPP-2026-0006", date(2026, 12, 3), 0, "amber", "Scoping return: West Midlands Police"),
        ("DSPP-2026-0008", None, None, "none", ""),
    ],
)
def test_each_rows_next_deadline_days_left_and_colour(
    reference: str, due: date | None, left: int | None, colour: str, label: str
) -> None:
    r = row(build(), reference)
    assert (r.next_due, r.days_left, r.rag, r.next_label) == (due, left, colour, label)
    assert r.next_due_shown == ("" if due is None else f"{due:%a} {due.day} {due:%b %Y}")


def test_a_decided_case_shows_its_review_not_the_returns_left_behind() -> None:
    # Case 7 was decided (CSPR on Mon 2 Nov) with the police return (due Mon 12 Oct) never received.
    # The decision ends the scoping stage: chasers stop (clocks.due_reminders), so the digest shows the
    # review due 6 months after the decision, Sun 2 May 2027, and lists no return as outstanding.
    r = row(build(), "DSPP-2026-0007")
    assert (r.next_label, r.next_due, r.rag) == ("Review", date(2027, 5, 2), "green")
    assert r.days_left is not None and r.days_left > 100
    assert r.outstanding == []


def test_open_cases_put_triage_first_then_red_amber_green_none() -> None:
    d = build()
    assert refs(d.open_cases) == [
        "DSPP-2026-0002",  # triage, red
        "DSPP-2026-0001",  # triage, green: still before every non-triage case
        "DSPP-2026-0004",  # red, due 2 Dec
        "DSPP-2026-0003",  # amber, due 3 Dec (ties with 0006 on date: by reference)
        "DSPP-2026-0006",  # amber, due 3 Dec
        "DSPP-2026-0005",  # amber, due 7 Dec
        "DSPP-2026-0007",  # green: decided, its review due 2 May 2027
        "DSPP-2026-0008",  # no deadline
    ]
    assert "DSPP-2026-0009" not in refs(d.open_cases)
    assert [r.rag for r in d.open_cases[2:]] == ["red", "amber", "amber", "amber", "green", "none"]


def test_triage_new_referrals_counts_and_outstanding() -> None:
    d = build()
    assert refs(d.triage) == ["DSPP-2026-0002", "DSPP-2026-0001"]  # oldest first
    # Since Wed 2 Dec 08:00 nothing arrived (the latest, 0001, came on Tue 1 Dec).
    assert refs(d.new_referrals) == []
    since_monday = build(since=datetime(2026, 11, 30, 8, 0, tzinfo=LONDON))
    assert refs(since_monday.new_referrals) == ["DSPP-2026-0005", "DSPP-2026-0001"]  # oldest first
    assert d.counts["open"] == 8
    assert d.counts["triage"] == 2
    # 0007 is decided: its review (May 2027) is green, so red 0002 and 0004 only.
    assert (d.counts["red"], d.counts["amber"], d.counts["green"], d.counts["none"]) == (2, 3, 2, 1)
    assert d.counts["outstanding_returns"] == 1  # 0006 only: 0007 is decided
    assert d.counts["status_rapid_review"] == 2
    assert "status_closed" not in d.counts
    assert row(d, "DSPP-2026-0006").outstanding == ["West Midlands Police"]
    assert row(d, "DSPP-2026-0002").initials == "(initials not given)"
    assert row(d, "DSPP-2026-0001").initials == "J.A.S.B."


def test_new_referrals_include_a_case_closed_since_and_default_to_the_window() -> None:
    late = make_case("DSPP-2026-0010", "closed", "2026-12-02")  # arrived Wed 09:00, closed since
    d = build(CASES + [late], since=datetime(2026, 12, 2, 8, 0, tzinfo=LONDON))
    assert refs(d.new_referrals) == ["DSPP-2026-0010"]
    assert "DSPP-2026-0010" not in refs(d.open_cases)
    # No digest ever sent: "new" means since the start of the previous working day (Wed 2 Dec).
    first = build(CASES + [late], since=None)
    assert refs(first.new_referrals) == ["DSPP-2026-0010"]


def test_outstanding_by_agency_groups_returns_across_cases() -> None:
    d = build()
    assert d.outstanding_by_agency == [
        (
            "West Midlands Police",
            [
                # 0007's police return (due Mon 12 Oct) is not listed: that case is decided.
                ("DSPP-2026-0006", "Thu 3 Dec 2026", 0, "due today"),
            ],
        )
    ]


def test_sent_yesterday_is_the_previous_working_day_window_in_order() -> None:
    sent = [
        {
            "key": "b",
            "case_reference": "DSPP-2026-0006",
            "template": "scoping_chaser",
            "subject": "Initial Scoping return: reminder",
            "to": ["p@example.org"],
            "cc": ["c@example.org", "d@example.org"],
            "internal": False,
            "sent_at": "2026-12-02T14:30:00+00:00",
            "created_at": "2026-12-02T14:29:00+00:00",
        },
        {
            "key": "a",
            "case_reference": None,
            "template": "digest",
            "subject": "Daily digest",
            "to": ["c@example.org"],
            "cc": [],
            "internal": True,
            "sent_at": "2026-12-02T08:00:05",
            "created_at": "2026-12-02T08:00:00",
        },  # naive: UTC
        {
            "key": "q",
            "case_reference": "DSPP-2026-0003",
            "template": "acknowledgement",
            "subject": "Referral received",
            "to": ["r@example.org"],
            "cc": [],
            "internal": False,
            "sent_at": None,
            "created_at": "2026-12-02T10:00:00+00:00",
        },  # queued, never sent
        {
            "key": "t",
            "case_reference": "DSPP-2026-0003",
            "template": "acknowledgement",
            "subject": "Referral received",
            "to": ["r@example.org"],
            "cc": [],
            "internal": False,
            "sent_at": "2026-12-03T07:00:00+00:00",
            "created_at": "2026-12-03T07:00:00+00:00",
        },
    ]
    d = digest.build_digest(
        CASES, sent, NOW, CAL, TS, None, coordinators=("c@example.org", "d@example.org")
    )
    assert d.sent_yesterday == [
        digest.MailRow("Wed 08:00", "", "Daily digest", "the coordinators"),
        digest.MailRow(
            "Wed 14:30",
            "DSPP-2026-0006",
            "Initial Scoping return: reminder",
            "p@example.org, cc the coordinators",
        ),
    ]
    assert d.sent_from_shown == "Wed 2 Dec 2026"


# -- windows and when the digest is due -----------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        # Monday: from Friday 00:00, the weekend included. GMT, so London midnight is 00:00 UTC.
        (
            datetime(2026, 12, 7, 8, tzinfo=LONDON),
            datetime(2026, 12, 4, tzinfo=UTC),
            datetime(2026, 12, 7, tzinfo=UTC),
        ),
        # Summer (BST): London midnight is 23:00 UTC the day before.
        (
            datetime(2026, 6, 16, 8, tzinfo=LONDON),
            datetime(2026, 6, 14, 23, tzinfo=UTC),
            datetime(2026, 6, 15, 23, tzinfo=UTC),
        ),
        # Tue 29 Dec 2026: 25 Dec and the substitute 28 Dec are bank holidays -> from Thu 24 Dec.
        (
            datetime(2026, 12, 29, 8, tzinfo=LONDON),
            datetime(2026, 12, 24, tzinfo=UTC),
            datetime(2026, 12, 29, tzinfo=UTC),
        ),
        # 00:30 UTC on 16 Jun is 01:30 BST, still 16 Jun in London.
        (
            datetime(2026, 6, 16, 0, 30, tzinfo=UTC),
            datetime(2026, 6, 14, 23, tzinfo=UTC),
            datetime(2026, 6, 15, 23, tzinfo=UTC),
        ),
    ],
)
def test_yesterday_window(now: datetime, start: datetime, end: datetime) -> None:
    got = digest.yesterday_window(now, CAL)
    assert got == (start, end)
    assert all(t.utcoffset() is not None and t.utcoffset().total_seconds() == 0 for t in got)


EIGHT = time(8, 0)


@pytest.mark.parametrize(
    ("now", "last", "expected"),
    [
        (datetime(2026, 12, 3, 7, 59, tzinfo=LONDON), None, False),  # before the time
        (datetime(2026, 12, 3, 8, 0, tzinfo=LONDON), None, True),  # at the time
        (datetime(2026, 12, 3, 15, 0, tzinfo=LONDON), date(2026, 12, 2), True),  # late start
        (datetime(2026, 12, 3, 8, 1, tzinfo=LONDON), date(2026, 12, 3), False),  # sent today
        (datetime(2026, 12, 3, 23, 59, tzinfo=LONDON), date(2026, 12, 3), False),
        (datetime(2026, 12, 5, 9, 0, tzinfo=LONDON), date(2026, 12, 4), False),  # Saturday
        (datetime(2026, 12, 6, 9, 0, tzinfo=LONDON), date(2026, 12, 4), False),  # Sunday
        (datetime(2026, 12, 28, 9, 0, tzinfo=LONDON), date(2026, 12, 24), False),  # bank holiday
        (datetime(2026, 12, 29, 9, 0, tzinfo=LONDON), date(2026, 12, 24), True),  # next working day
        # BST: 07:30 UTC is 08:30 in London (due); 06:59 UTC is 07:59 (not yet).
        (datetime(2026, 6, 15, 7, 30, tzinfo=UTC), None, True),
        (datetime(2026, 6, 15, 6, 59, tzinfo=UTC), None, False),
    ],
)
def test_digest_due(now: datetime, last: date | None, expected: bool) -> None:
    assert digest.digest_due(now, CAL, EIGHT, last) is expected


def test_digest_due_never_on_a_closure_day_and_needs_an_aware_time() -> None:
    closed = WorkingCalendar(closures=[date(2026, 12, 3)])
    assert not digest.digest_due(datetime(2026, 12, 3, 9, tzinfo=LONDON), closed, EIGHT, None)
    with pytest.raises(ValueError, match="timezone-aware"):
        digest.digest_due(datetime(2026, 12, 3, 9), CAL, EIGHT, None)


def test_holiday_warning_only_when_the_data_runs_out_within_a_year() -> None:
    assert build().holiday_warning is None
    # holidays 0.109 has England's bank holidays to 2100: a year ahead of Feb 2100 is past it.
    late = datetime(2100, 2, 1, 9, tzinfo=LONDON)
    d = digest.build_digest([], [], late, CAL, TS, None)
    assert d.holiday_warning is not None
    assert "Fri 31 Dec 2100" in d.holiday_warning
    assert d.ytd is None  # no cases at all


# -- templates --------------------------------------------------------------------------------


def env() -> jinja2.Environment:
    """The renderer's settings (adapters/outbox.py): autoescape .html, strict, trimmed blocks."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


SENT = [
    {
        "key": "x",
        "case_reference": "DSPP-2026-0006",
        "template": "scoping_chaser",
        "subject": "Initial Scoping return: reminder <soon> & more",
        "to": ["p@example.org"],
        "cc": [],
        "internal": False,
        "sent_at": "2026-12-02T14:30:00+00:00",
        "created_at": None,
    },
]


def render(name: str, d: digest.Digest) -> str:
    context = {**digest.digest_context(d), "partnership": "Dudley SPP", "subject": "Daily digest"}
    return env().get_template(name).render(context)


def test_html_is_self_contained_and_names_every_case_by_initials_only() -> None:
    html = render("digest.html", build(sent=SENT))
    for bad in ("http", "src=", "<link", "<script", "url(", "<img", "<style"):
        assert bad not in html.lower()
    for case in CASES:
        if case.status != "closed":
            assert case.reference in html
    assert "DSPP-2026-0009" not in html  # closed, not new
    assert CHILD not in html and "Jessica" not in html
    assert "J.A.S.B." in html
    # RAG by colour and by word.
    assert 'bgcolor="#f8d7da"' in html and ">Overdue<" in html
    assert 'bgcolor="#fff3cd"' in html and ">Due soon<" in html
    assert 'bgcolor="#d4edda"' in html and ">On track<" in html
    assert ">No deadline<" in html
    # Autoescaped: the subject's markup characters are text.
    assert "reminder &lt;soon&gt; &amp; more" in html
    assert "Year to date (clocks that fell due Wed 1 Apr 2026" in html
    # The open table lists triage first, then by colour, as build_digest ordered them.
    section = html.split("Open cases (8)")[1].split("Scoping returns outstanding")[0]
    found = re.findall(r"<b>(DSPP-\d{4}-\d{4})</b>", section)
    assert found == refs(build().open_cases)


def test_text_columns_line_up_and_every_section_is_there() -> None:
    text = render("digest.txt", build(sent=SENT))
    for heading in (
        "DAILY DIGEST, Thu 3 Dec 2026",
        "NEW REFERRALS SINCE THE LAST DIGEST (0)",
        "CASES IN TRIAGE (2)",
        "OPEN CASES (8)",
        "SCOPING RETURNS OUTSTANDING, BY AGENCY",
        "SENT BY THE BOT SINCE WED 2 DEC 2026 (1)",
        "UNDELIVERED MAIL (0)",
        "Year to date (clocks that fell due Wed 1 Apr 2026 to Thu 3 Dec 2026)",
    ):
        assert heading in text
    assert CHILD not in text
    section = text.split("OPEN CASES (8)")[1].split("SCOPING RETURNS")[0]
    lines = [ln for ln in section.splitlines() if re.match(r"  (Reference|DSPP-)", ln)]
    assert len(lines) == 9  # header + 8 cases
    header = lines[0]
    for column in ("Child", "Status", "RAG", "Due", "Left", "Next deadline"):
        at = header.index(column)
        for ln in lines[1:]:
            # Left-aligned: two spaces before the column, text starting right at it.
            assert len(ln) <= at or (ln[at - 2 : at] == "  " and ln[at] != " "), (column, ln)
    rag_at = header.index("RAG")
    assert [ln[rag_at:].split("  ")[0] for ln in lines[1:]] == [
        "Overdue",  # 0002 triage
        "On track",  # 0001 triage
        "Overdue",  # 0004
        "Due soon",  # 0003
        "Due soon",  # 0006
        "Due soon",  # 0005
        "On track",  # 0007, decided: its review
        "No deadline",  # 0008
    ]
    assert all(ln == ln.rstrip() for ln in text.splitlines())
    assert "Initial Scoping return: reminder <soon> & more" in text  # no escaping in text


def test_templates_render_an_empty_digest() -> None:
    d = digest.build_digest([], [], NOW, CAL, TS, None)
    text = render("digest.txt", d)
    html = render("digest.html", d)
    assert "OPEN CASES (0)" in text and "None." in text and "Year to date: no cases yet." in text
    assert "Open cases (0)" in html and "No cases yet." in html


def test_holiday_warning_is_shown_in_both_templates() -> None:
    d = digest.build_digest(CASES[:1], [], datetime(2100, 2, 1, 9, tzinfo=LONDON), CAL, TS, None)
    assert d.holiday_warning is not None
    assert "WARNING: " + d.holiday_warning in render("digest.txt", d)
    assert d.holiday_warning in render("digest.html", d)


# -- issue 16: wording, undelivered mail, the calendar ----------------------------------------------


def test_days_overdue_are_said_in_words_never_as_negative_days_left() -> None:
    # The issue: "SIN: Mon 30 Nov 2026, -12 working day(s) left". 0002's SIN is 4 working days over.
    d = build()
    assert row(d, "DSPP-2026-0002").left_shown == "4 working days overdue"
    assert row(d, "DSPP-2026-0004").left_shown == "1 working day overdue"
    assert row(d, "DSPP-2026-0003").left_shown == "due today"
    assert row(d, "DSPP-2026-0001").left_shown == "3 working days left"
    for text in (render("digest.txt", d), render("digest.html", d)):
        assert "working day(s)" not in text
        assert not re.search(r"-\d+ working day", text)
        assert "4 working days overdue" in text
    # The notices' case block (templates/_case.*) says it the same way.
    view = {
        "reference": "DSPP-2026-0002",
        "initials": "J.S.",
        "status": "rapid review",
        "received_on": "Mon 16 Nov 2026",
        "criteria": {"result": "met", "reasons": []},
        "agencies": [],
        "deadlines": [
            {
                "label": "SIN",
                "due": "Mon 30 Nov 2026",
                "provisional": False,
                "met_on": "",
                "days_left": -12,
            },
            {
                "label": "Rapid Review decision",
                "due": "Mon 7 Dec 2026",
                "provisional": True,
                "met_on": "",
                "days_left": 1,
            },
        ],
        "label": "SIN overdue by 12 working days",
        "deadline_shown": "Mon 30 Nov 2026",
        "partnership": "Dudley SPP",
        "subject": "x",
    }
    for name in ("deadline_notice.txt", "deadline_notice.html"):
        out = env().get_template(name).render(view)
        assert "12 working days overdue" in out and "1 working day left" in out
        assert "working day(s)" not in out and "-12" not in out
        assert "Mon 7 Dec 2026 (provisional)" in out


def test_a_provisional_deadline_is_marked_provisional() -> None:
    # 0002 has no aware date: its SIN counts from receipt, provisionally.
    d = build()
    assert row(d, "DSPP-2026-0002").provisional is True
    assert row(d, "DSPP-2026-0002").label_shown == "SIN (provisional)"
    assert row(d, "DSPP-2026-0004").provisional is False
    # A Rapid Review deadline counted from receipt (the SIN date not known) is marked too: here the
    # LA became aware late, so the provisional Rapid Review deadline comes first.
    rr = make_case("DSPP-2026-0011", "rapid_review", "2026-11-10", aware_date=date(2026, 11, 27))
    r = digest.digest_row(rr, TODAY, CAL, TS)
    assert (r.next_label, r.label_shown) == (
        "Rapid Review decision",
        "Rapid Review decision (provisional)",
    )
    d = build(CASES + [rr])
    assert "Rapid Review decision (provisional)" in render("digest.txt", d)
    assert "Rapid Review decision (provisional)" in render("digest.html", d)


def scoping_request(to: str, hour: int) -> dict[str, Any]:
    return {
        "key": f"req-{to}",
        "case_reference": "DSPP-2026-0006",
        "template": "scoping_request",
        "subject": "OFFICIAL-SENSITIVE [DSPP-2026-0006] Initial Scoping request",
        "to": [to],
        "cc": [],
        "internal": False,
        "sent_at": f"2026-12-02T{hour:02d}:00:00+00:00",
    }


def test_each_sent_row_names_what_was_sent_and_to_whom() -> None:
    # The issue: three "Initial Scoping request" rows with a count each looked the same.
    sent = [
        scoping_request(a, h)
        for a, h in (("p@example.org", 9), ("e@example.org", 10), ("h@example.org", 11))
    ]
    d = digest.build_digest(CASES, sent, NOW, CAL, TS, None, coordinators=("c@example.org",))
    assert [(s.what, s.to) for s in d.sent_yesterday] == [
        ("Initial Scoping request", "p@example.org"),
        ("Initial Scoping request", "e@example.org"),
        ("Initial Scoping request", "h@example.org"),
    ]
    text, html = render("digest.txt", d), render("digest.html", d)
    for addr in ("p@example.org", "e@example.org", "h@example.org"):
        assert f"Initial Scoping request, to {addr}" in text
        assert addr in html
    assert "OFFICIAL-SENSITIVE [DSPP" not in text  # the marking and tag are not repeated


def test_undelivered_mail_is_listed_with_the_reason() -> None:
    refused = {
        **scoping_request("old@example.org", 9),
        "sent_at": None,
        "failed_at": "2026-12-01T09:05:00+00:00",
        "last_error": "550 5.1.1 mailbox unavailable",
    }
    d = digest.build_digest(CASES, [], NOW, CAL, TS, None, undelivered=[refused])
    assert d.undelivered == [
        digest.MailRow(
            "Tue 09:05",
            "DSPP-2026-0006",
            "Initial Scoping request",
            "old@example.org",
            "550 5.1.1 mailbox unavailable",
        )
    ]
    assert d.counts["undelivered"] == 1
    text, html = render("digest.txt", d), render("digest.html", d)
    assert "UNDELIVERED MAIL (1)" in text and "refused: 550 5.1.1 mailbox unavailable" in text
    assert "Undelivered mail (1)" in html and "550 5.1.1 mailbox unavailable" in html
    # A record not refused for good is not undelivered.
    assert digest.undelivered_rows([{**refused, "failed_at": None}]) == []


def test_the_digest_carries_deadlines_ics() -> None:
    d = digest.build_digest(CASES, [], NOW, CAL, TS, None, mailbox="dsppb@example.gov.uk")
    assert d.calendar is not None
    assert d.calendar.filename == "deadlines.ics"
    assert d.calendar.content_type.startswith("text/calendar")
    assert b"UID:DSPP-2026-0002-sin@example.gov.uk" in d.calendar.data
    again = digest.build_digest(
        CASES, [], NOW.replace(hour=9), CAL, TS, None, mailbox="dsppb@example.gov.uk"
    )
    assert again.calendar is not None
    uids = [ln for ln in d.calendar.data.splitlines() if ln.startswith(b"UID:")]
    assert uids == [ln for ln in again.calendar.data.splitlines() if ln.startswith(b"UID:")]
    assert digest.build_digest(CASES, [], NOW, CAL, TS, None).calendar is None


def test_the_apps_digest_carries_the_calendar_and_the_mail_refused_for_good(tmp_path: Path) -> None:
    from cspr_mailbot.adapters.store import Store
    from cspr_mailbot.config import load_config
    from cspr_mailbot.core.records import OutboxRecord
    from cspr_mailbot.wiring import build_app

    (tmp_path / "config.toml").write_text(
        '[partnership]\nmailbox = "dsppb@example.gov.uk"\ncoordinators = ["c@example.gov.uk"]\n'
        '[maildir]\npath = "maildir"\n[report]\nyear_start = "01-01"\n'
    )
    cfg = load_config(tmp_path / "config.toml")
    assert cfg.year_start == (1, 1) and cfg.send_from == time(8, 0)
    with Store(cfg.store_path) as store:
        with store.transaction() as txn:
            for case in CASES:
                txn.put_case(case)
            txn.outbox_put(
                OutboxRecord(
                    key="k1",
                    message_id="<k1@example.gov.uk>",
                    template="scoping_request",
                    subject="OFFICIAL-SENSITIVE [DSPP-2026-0006] Initial Scoping request",
                    to=("gone@example.org",),
                    created_at=datetime(2026, 12, 2, 9, tzinfo=UTC),
                    case_reference="DSPP-2026-0006",
                    recipients=("gone@example.org",),
                    failed_at=datetime(2026, 12, 2, 9, 1, tzinfo=UTC),
                    attempts=1,
                    last_error="550 no such user",
                )
            )
        om = build_app(cfg, store, with_source=False).digest_message(NOW)
    assert [a.filename for a in om.attachments] == ["deadlines.ics"]
    d = om.context["digest"]
    assert [(u.to, u.reason) for u in d.undelivered] == [("gone@example.org", "550 no such user")]
    assert d.ytd.startswith("Year to date (clocks that fell due Thu 1 Jan 2026")
