"""The house rules around the workflow (core/policy.py, core/backoff.py): plain values in, values out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from cspr_mailbot.core import policy
from cspr_mailbot.core.backoff import backoff
from cspr_mailbot.core.models import Case, InboundMessage, OutboundMessage
from cspr_mailbot.core.records import LedgerEntry, OutboxRecord
from cspr_mailbot.core.workdays import LONDON

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
COORDINATORS = ("coordinator@example.gov.uk",)


def reply(*to: str, **kw: object) -> OutboundMessage:
    fields: dict[str, object] = {
        "key": "DSPP-2026-0001:ack",
        "template": "acknowledgement",
        "to": to,
        "context": {},
        "case_ref": "DSPP-2026-0001",
        "auto_submitted": "auto-replied",
        **kw,
    }
    return OutboundMessage(**fields)  # type: ignore[arg-type]


def record(**kw: object) -> OutboxRecord:
    fields: dict[str, object] = {
        "key": "DSPP-2026-0001:ack",
        "message_id": "<ack@dspp.example>",
        "template": "acknowledgement",
        "subject": "[DSPP-2026-0001] Referral received",
        "to": ("referrer@example.org",),
        "recipients": ("referrer@example.org",),
        "created_at": NOW,
        "raw": b"raw",
        "case_reference": "DSPP-2026-0001",
        **kw,
    }
    return OutboxRecord(**fields)  # type: ignore[arg-type]


# -- back-off --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "first", "maximum", "wait"),
    [
        (1, 1.0, 300.0, 1.0),  # the daemon: 1, 2, 4 ... 300 s
        (2, 1.0, 300.0, 2.0),
        (9, 1.0, 300.0, 256.0),
        (10, 1.0, 300.0, 300.0),
        (1, 60.0, 3600.0, 60.0),  # the outbox: 1 min ... 1 h
        (6, 60.0, 3600.0, 1920.0),
        (7, 60.0, 3600.0, 3600.0),
        (0, 0.5, 60.0, 0.5),  # below 1 counts as 1
        (10_000, 1.0, 300.0, 300.0),  # a daemon failing for days never overflows
    ],
)
def test_backoff_doubles_up_to_its_cap(
    failures: int, first: float, maximum: float, wait: float
) -> None:
    assert backoff(failures, first, maximum) == wait


def test_back_off_matches_the_loop_it_replaced() -> None:
    delay, waits = 1.0, []
    for _ in range(12):
        waits.append(delay)
        delay = min(delay * 2, 60.0)
    assert [backoff(n, 1.0, 60.0) for n in range(1, 13)] == waits


# -- the same message twice ------------------------------------------------------------------------


def inbound(
    subject: str = "Referral", date_header: str = "Thu, 3 Dec 2026 09:00:00 +0000"
) -> InboundMessage:
    return InboundMessage(
        uid="1",
        sha256="",
        message_id="<m@x>",
        from_addr="sam@example.org",
        from_name="",
        to=(),
        cc=(),
        subject=subject,
        date=None,
        headers=(("date", date_header),),
        in_reply_to=None,
        references=(),
        body_text="",
        content_type="text/plain",
        report_type=None,
    )


def entry(sha: str, fingerprint: str | None) -> LedgerEntry:
    return LedgerEntry(
        sha256=sha,
        message_id="<m@x>",
        uid="1",
        outcome="referral",
        case_reference="DSPP-2026-0001",
        processed_at=NOW,
        folder="Processed",
        fingerprint=fingerprint,
    )


def test_a_copy_is_known_by_its_bytes_or_by_sender_subject_and_date() -> None:
    mine = policy.fingerprint(inbound())
    assert mine == policy.fingerprint(inbound()) and len(mine) == 32
    assert mine != policy.fingerprint(inbound(subject="Another referral"))
    assert policy.same_message(None, "aa", mine) is None
    same_bytes = entry("aa", "something else")
    assert policy.same_message(same_bytes, "aa", mine) is same_bytes
    copy = entry("bb", mine)  # other bytes (a gateway's disclaimer), same message
    assert policy.same_message(copy, "aa", mine) is copy
    old = entry("bb", None)  # an entry without a fingerprint (an error shunt)
    assert policy.same_message(old, "aa", mine) is old
    reused = entry("bb", policy.fingerprint(inbound(subject="Another referral")))
    assert policy.same_message(reused, "aa", mine) is None  # a reused Message-ID


# -- the reply limit -------------------------------------------------------------------------------


def test_only_automatic_replies_to_outside_count_against_the_limit() -> None:
    assert policy.reply_counter_keys(reply("A@Example.org", "b@example.org"), NOW) == (
        "replies:2026-12-03:a@example.org",
        "replies:2026-12-03:b@example.org",
    )
    assert policy.reply_counter_keys(reply("a@example.org", internal=True), NOW) == ()
    notice = reply("a@example.org", auto_submitted="auto-generated")
    assert policy.reply_counter_keys(notice, NOW) == ()


def test_the_reply_limit_counts_days_in_london() -> None:
    late = datetime(2026, 6, 3, 23, 30, tzinfo=UTC)  # 00:30 on the 4th in London (BST)
    assert policy.reply_counter_keys(reply("a@example.org"), late) == (
        "replies:2026-06-04:a@example.org",
    )


def test_the_reply_limit_counts_every_recipient_over_or_not() -> None:
    a, b = "replies:d:a", "replies:d:b"
    assert policy.count_reply((a,), {}, 3) == (False, {a: 1})
    assert policy.count_reply((a,), {a: 2}, 3) == (False, {a: 3})
    assert policy.count_reply((a, b), {a: 3, b: 0}, 3) == (True, {a: 4, b: 1})
    assert policy.count_reply((a, a), {a: 2}, 3) == (True, {a: 4})  # the same address twice


# -- notices ---------------------------------------------------------------------------------------


def test_a_withheld_message_becomes_a_notice_to_the_coordinators_that_names_no_one() -> None:
    om = reply("referrer@example.org", cc=("lead@example.org",), context={"child": "Name"})
    notice = policy.withheld_notice(om, COORDINATORS)
    assert notice.key == "DSPP-2026-0001:ack:withheld"
    assert notice.to == COORDINATORS and notice.internal and notice.case_ref == "DSPP-2026-0001"
    assert notice.template == "withheld_notice"
    assert notice.context == {
        "reference": "DSPP-2026-0001",
        "template": "acknowledgement",
        "recipients": 2,
    }


def test_mail_refused_for_good_is_reported_unless_it_was_the_coordinators_own() -> None:
    notice = policy.undeliverable_notice(record(), ("gone@example.org",), "550 no", COORDINATORS)
    assert notice is not None
    assert notice.key == "DSPP-2026-0001:ack:undeliverable" and notice.internal
    assert notice.to == COORDINATORS and notice.case_ref == "DSPP-2026-0001"
    assert notice.context == {
        "reference": "DSPP-2026-0001",
        "template": "acknowledgement",
        "recipients": "gone@example.org",
        "error": "550 no",
    }
    assert policy.undeliverable_notice(record(internal=True), (), "550", COORDINATORS) is None


def test_a_message_that_could_not_be_processed_is_told_by_uid_and_error_type_only() -> None:
    notice = policy.error_notice("ab" * 32, "42", "Needs triage", "ValueError", COORDINATORS)
    assert notice.key == "error:" + "ab" * 8
    assert notice.internal and notice.to == COORDINATORS and notice.case_ref is None
    assert notice.context == {"folder": "Needs triage", "error": "ValueError", "uid": "42"}


def test_the_case_log_names_what_was_queued_and_to_whom() -> None:
    case = Case.from_dict(
        {
            "reference": "DSPP-2026-0001",
            "status": "referral_received",
            "received_at": "2026-12-03T09:00:00+00:00",
            "received_on": "2026-12-03",
        }
    )
    logged = policy.log_queued(
        case, (reply("a@example.org", "b@example.org"), reply("c@x", internal=True)), NOW
    )
    assert [(e.kind, e.detail) for e in logged.events] == [
        ("message", "acknowledgement to a@example.org, b@example.org"),
        ("message", "acknowledgement to the coordinators"),
    ]


# -- the retry schedule ----------------------------------------------------------------------------


def test_a_failed_send_is_retried_after_1_2_4_minutes_up_to_an_hour() -> None:
    first = policy.after_send_failure(record(), NOW, "421 busy", permanent=False)
    assert (first.attempts, first.last_error, first.failed_at) == (1, "421 busy", None)
    assert first.next_attempt_at == NOW + timedelta(minutes=1)
    second = policy.after_send_failure(first, NOW, "421 busy", permanent=False)
    assert second.next_attempt_at == NOW + timedelta(minutes=2)
    assert policy.retry_delay(7) == policy.retry_delay(100) == timedelta(hours=1)
    gone = policy.after_send_failure(second, NOW, "550 no such user", permanent=True)
    assert gone.failed_at == NOW and gone.attempts == 3 and not gone.pending
    assert gone.raw == b"raw"  # kept: `resend` may send it again


def test_what_is_due_for_sending() -> None:
    later = record(next_attempt_at=NOW + timedelta(minutes=1), attempts=1)
    assert policy.due_for_sending(record(), NOW, patient=True)
    assert not policy.due_for_sending(later, NOW, patient=True)  # the daemon waits
    assert policy.due_for_sending(later, NOW, patient=False)  # a command sends at once
    assert policy.due_for_sending(later, NOW + timedelta(minutes=1), patient=True)
    assert not policy.due_for_sending(record(failed_at=NOW), NOW, patient=False)


def test_a_sent_record_keeps_no_bytes() -> None:
    sent = replace(record(last_error="421"), attempts=1).mark_sent(NOW)
    assert (sent.sent_at, sent.raw, sent.last_error, sent.attempts) == (NOW, None, None, 1)
    assert not sent.pending


# -- the digest ------------------------------------------------------------------------------------


def test_the_digest_goes_once_a_london_day() -> None:
    late = datetime(2026, 6, 3, 23, 30, tzinfo=UTC)  # already the 4th in London
    assert policy.digest_day(late) == date(2026, 6, 4) == late.astimezone(LONDON).date()
    assert policy.digest_already_queued(date(2026, 6, 4), late)
    assert not policy.digest_already_queued(date(2026, 6, 3), late)
    assert not policy.digest_already_queued(None, late)
