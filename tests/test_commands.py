"""The coordinator command grammar (SPEC 7)."""

from __future__ import annotations

from datetime import date

import pytest

from cspr_mailbot.core.commands import looks_like_commands, parse_commands, parse_line


@pytest.mark.parametrize(
    ("line", "verb", "on", "decision"),
    [
        ("notified: 2026-12-03", "notified", date(2026, 12, 3), None),
        ("Notified: 3/12/2026", "notified", date(2026, 12, 3), None),
        ("AWARE: 30 November 2026", "aware", date(2026, 11, 30), None),
        ("decision: cspr", "decision", None, "cspr"),
        ("decision: CSPR 2027-01-05", "decision", date(2027, 1, 5), "cspr"),
        ("decision: cspr [2027-01-05]", "decision", date(2027, 1, 5), "cspr"),
        ("decision: learning review", "decision", None, "learning_review"),
        ("decision: no review 5/1/2027", "decision", date(2027, 1, 5), "no_review"),
        ("completed: 2027-06-01", "completed", date(2027, 6, 1), None),
        ("published: 1.7.27", "published", date(2027, 7, 1), None),
        ("close", "close", None, None),
        ("Start Rapid Review", "start_rapid_review", None, None),
    ],
)
def test_each_command(line: str, verb: str, on: date | None, decision: str | None) -> None:
    cmd = parse_line(line)
    assert not isinstance(cmd, str), cmd
    assert (cmd.verb, cmd.on, cmd.decision) == (verb, on, decision)


def test_agency_with_and_without_address() -> None:
    cmd = parse_line("agency: West Midlands Police <PVP@example.org>")
    assert not isinstance(cmd, str)
    assert (cmd.agency_name, cmd.agency_email) == ("West Midlands Police", "pvp@example.org")
    cmd = parse_line("agency: WMP")
    assert not isinstance(cmd, str)
    assert (cmd.agency_name, cmd.agency_email) == ("WMP", None)
    assert isinstance(parse_line("agency: pvp@example.org"), str)


@pytest.mark.parametrize(
    "line",
    ["notified:", "notified: soon", "decision: maybe", "decison: cspr", "aware: 31/02/2026"],
)
def test_errors_name_the_problem(line: str) -> None:
    assert isinstance(parse_line(line), str)


def test_parsing_stops_at_quoted_text_and_signature() -> None:
    body = (
        "start rapid review\r\nnotified: 2026-12-03\r\n\r\nThanks\r\nJo\r\n\r\n"
        "On Mon, 30 Nov 2026, bot wrote:\r\n> decision: no review\r\n"
    )
    result = parse_commands(body)
    assert [c.verb for c in result.commands] == ["start_rapid_review", "notified"]
    assert result.errors == ()


def test_prose_after_commands_ends_them() -> None:
    result = parse_commands("close\nKind regards\n")
    assert [c.verb for c in result.commands] == ["close"]
    assert result.errors == ()


def test_a_bad_line_is_reported_with_the_line() -> None:
    result = parse_commands("notified: 2026-12-03\ndecision: perhaps\n")
    assert result.errors and result.errors[0][0] == "decision: perhaps"


def test_outlook_original_message_is_quoted_text() -> None:
    body = "close\n-----Original Message-----\nFrom: bot\ndecision: cspr\n"
    assert [c.verb for c in parse_commands(body).commands] == ["close"]


def test_looks_like_commands() -> None:
    assert looks_like_commands("decision: cspr\n")
    assert looks_like_commands("\n\nclose\n")
    assert not looks_like_commands("Thanks for this, I'll call them.\n")
    assert not looks_like_commands("> decision: cspr\n")
