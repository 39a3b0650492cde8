"""The coordinator command grammar (SPEC 7)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cspr_mailbot.core.commands import (
    Command,
    CommandsConfigError,
    Grammar,
    _closest,
    looks_like_commands,
    parse_commands,
    parse_line,
)
from cspr_mailbot.core.message import html_to_text


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


# ---------------------------------------------------------------------------------------------
# Commands as people write them (issue 12): each of these failed on the old reader.

FIXTURES = Path(__file__).parent / "fixtures" / "html"


def verbs(body: str) -> list[str]:
    result = parse_commands(body)
    assert result.errors == (), result.errors
    return [c.verb for c in result.commands]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        # One p.MsoNormal per line, an &nbsp; paragraph between, the From:/Sent: block under it.
        ("outlook_desktop.html", ["notified", "start_rapid_review"]),
        # One div per line, an empty div, then a name and the #divRplyFwdMsg header block.
        ("outlook_web.html", ["agency", "agency", "agency"]),
        # A greeting, <div><br></div> between, a sign-off, then div.gmail_quote.
        ("gmail.html", ["notified", "aware"]),
        # Blank lines between the commands, a name, then blockquote type=cite.
        ("apple_mail.html", ["decision", "completed"]),
    ],
)
def test_every_client_shape_runs_exactly_its_commands(fixture: str, expected: list[str]) -> None:
    body = html_to_text((FIXTURES / fixture).read_text("utf-8"))
    assert verbs(body) == expected
    assert looks_like_commands(body)


def test_blank_lines_between_commands_are_allowed() -> None:
    body = "notified: 10/12/2026\n\nstart rapid review\n\n\nagency: WMP\n\nThanks\n"
    assert verbs(body) == ["notified", "start_rapid_review", "agency"]


@pytest.mark.parametrize(
    "greeting", ["Hi all,", "Dear Jane", "Morning", "Good afternoon all", "Jo,"]
)
def test_a_greeting_line_before_the_commands_is_skipped(greeting: str) -> None:
    body = f"{greeting}\n\nnotified: 04/12/2026\n"
    assert verbs(body) == ["notified"]
    assert looks_like_commands(body)


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("notified 10/12/2026", "notified: 10/12/2026"),
        ("Notified - 10/12/2026", "notified: 10/12/2026"),
        ("Start rapid review.", "start rapid review"),
        ("decison: cspr", "did you mean 'decision:'"),
        ("notifed: 1/12/2026", "did you mean 'notified:'"),
        ("strat rapid review", "did you mean 'start rapid review'"),
        ("Agency West Midlands Police", "agency: West Midlands Police"),
        ("close the case please", "alone on its line"),
        ("set chlid_dob: 1/1/2015", "did you mean child_dob?"),
        ("decision: learnig review", "(did you mean 'learning review'?)"),
        ("set: 3/12/2026", "write set FIELD: value, with one of these fields: referrer_name"),
    ],
)
def test_a_near_miss_is_an_error_naming_the_line(line: str, hint: str) -> None:
    result = parse_commands(f"Hi all,\n{line}\n\nThanks, Jane\n")
    assert result.commands == ()
    assert [ln for ln, _ in result.errors] == [line]
    assert hint in result.errors[0][1]
    assert looks_like_commands(f"{line}\n")  # answered with the error, never filed as mail


def test_set_with_no_field_is_an_error_under_any_of_its_words() -> None:
    """``set: 3/12/2026`` raised AssertionError once, and the coordinator's mail was shunted."""
    grammar = Grammar.load({"aliases": {"set": ["correct"]}})
    for line in ("set: 3/12/2026", "Set : x", "correct: 3/12/2026"):
        result = parse_line(line, grammar)
        assert isinstance(result, str) and result.startswith("write set FIELD: value"), line
        assert looks_like_commands(f"{line}\n", grammar)


def test_a_word_the_config_gives_set_sets_a_field() -> None:
    """config.example.toml lists set among the commands [commands.aliases] may give words to; the
    word was taken, but ``correct child_dob: ...`` was "not a command I know"."""
    grammar = Grammar.load({"aliases": {"set": ["correct", "correct the"]}})
    for line in ("correct child_dob: 03/12/2015", "Correct the child dob: 03/12/2015"):
        result = parse_line(line, grammar)
        assert isinstance(result, Command) and result.verb == "set", (line, result)
        assert (result.key, result.text) == ("child_dob", "03/12/2015")
    assert isinstance(parse_line("correct: 03/12/2015", grammar), str)  # no field: an error


def test_a_decision_nothing_like_one_gets_no_suggestion() -> None:
    (error,) = parse_commands("decision: maybe\n").errors
    assert error == ("decision: maybe", "the decision must be cspr, learning review or no review")


def test_the_closest_word_is_the_best_ratio_the_first_of_equals_at_the_cutoff_or_over() -> None:
    """``_closest``, the one place rapidfuzz is used here, against its definition."""
    from rapidfuzz import fuzz

    choices = ["decision", "notified", "abcd", "abce", "start rapid review"]
    for said in ["decison", "abcx", "zzzz", "notifed", "strat rapid review", ""]:
        best = max(choices, key=lambda c: fuzz.ratio(said, c))  # max keeps the first of equals
        for cutoff in (0, 70, 75, 76, 85, 100):
            want = best if fuzz.ratio(said, best) >= cutoff else None
            assert _closest(said, choices, cutoff) == want, (said, cutoff)
    assert _closest("abcx", choices, 75) == "abcd"  # 75 for abcd and abce: the first


def test_every_line_not_understood_is_named() -> None:
    result = parse_commands("notified 10/12/2026\nstart rapid review\ndecison: cspr\nThanks\n")
    assert [c.verb for c in result.commands] == ["start_rapid_review"]
    assert [ln for ln, _ in result.errors] == ["notified 10/12/2026", "decison: cspr"]


def test_prose_after_the_commands_ends_them_however_it_is_spaced() -> None:
    assert verbs("close\n\nThanks, Jane\n\nnotified 10/12/2026\n") == ["close"]
    assert verbs("decision: cspr\nTel: 01384 000000\n") == ["decision"]
    assert not looks_like_commands("Thanks for this, I'll call them.\nclose\n")


@pytest.mark.parametrize(
    ("said", "kind"),
    [
        ("LCSPR", "cspr"),
        ("local child safeguarding practice review", "cspr"),
        ("Local CSPR", "cspr"),
        ("nfa", "no_review"),
        ("NFA 05/01/2027", "no_review"),
        ("other learning review", "learning_review"),
    ],
)
def test_decision_aliases_come_from_data(said: str, kind: str) -> None:
    cmd = parse_line(f"decision: {said}")
    assert not isinstance(cmd, str), cmd
    assert cmd.decision == kind


@pytest.mark.parametrize(
    ("line", "verb", "attrs"),
    [
        ("set child_dob: 03/12/2015", "set", {"key": "child_dob", "text": "03/12/2015"}),
        ("Set Child DOB: 3/12/2015", "set", {"key": "child_dob", "text": "3/12/2015"}),
        ("set looked_after: yes", "set", {"key": "looked_after", "text": "yes"}),
        (
            "remove agency: West Midlands Police",
            "remove_agency",
            {"agency_name": "West Midlands Police"},
        ),
        ("link: dspp-2026-0004", "link", {"reference": "DSPP-2026-0004"}),
        ("duplicate of: [DSPP-2026-0001]", "duplicate_of", {"reference": "DSPP-2026-0001"}),
        ("accept return: WMP", "accept_return", {"agency_name": "WMP"}),
        ("reopen", "reopen", {}),
        ("Resend", "resend", {}),
        ("pack", "pack", {}),
    ],
)
def test_the_new_commands(line: str, verb: str, attrs: dict[str, str]) -> None:
    cmd = parse_line(line)
    assert not isinstance(cmd, str), cmd
    assert cmd.verb == verb
    assert {k: getattr(cmd, k) for k in attrs} == attrs


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("set agencies_involved: WMP", "agency:"),
        ("set favourite_colour: blue", "child_dob"),  # names the valid fields
        ("set child_dob:", "a value is needed"),
        ("link: next week", "case reference"),
        ("reopen: please", "takes nothing"),
        ("remove agency:", "name the agency"),
    ],
)
def test_new_commands_written_wrong(line: str, problem: str) -> None:
    result = parse_line(line)
    assert isinstance(result, str) and problem in result


def test_references_named_by_the_commands() -> None:
    parsed = parse_commands("link: DSPP-2026-0004\nduplicate of: dspp-2026-0001\nclose\n")
    assert parsed.references() == ("DSPP-2026-0004", "DSPP-2026-0001")


def test_aliases_extend_from_the_config() -> None:
    grammar = Grammar.load(
        {"aliases": {"notified": ["panel told"]}, "decisions": {"no_review": ["not progressing"]}}
    )
    cmd = parse_line("Panel told: 3/12/2026", grammar)
    assert not isinstance(cmd, str) and (cmd.verb, cmd.on) == ("notified", date(2026, 12, 3))
    cmd = parse_line("decision: not progressing", grammar)
    assert not isinstance(cmd, str) and cmd.decision == "no_review"
    with pytest.raises(CommandsConfigError) as err:
        Grammar.load({"aliases": {"notify": ["x"]}})
    assert err.value.key == "commands.aliases.notify"


def test_quotes_in_other_languages_are_cut() -> None:
    body = (
        "close\n\nAm 09.12.2026 um 16:05 schrieb DSPP <dsppb@example.gov.uk>:\n\ndecision: cspr\n"
    )
    assert verbs(body) == ["close"]
    body = "close\n\nLe mer. 9 déc. 2026 à 16:05, DSPP <dsppb@example.gov.uk> a écrit :\ndecision: cspr\n"
    assert verbs(body) == ["close"]
