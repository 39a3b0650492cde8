"""Parse coordinators' one-line commands (SPEC 7) from the top of a mail body or the CLI.

Parsing stops at quoted text, a signature or a line of prose. A line that looks like a command but is not one
is an error naming that line; a mail with any error executes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .ukdates import parse_uk_date

_ADDRESS = re.compile(r"^(?P<name>.*?)\s*<\s*(?P<email>[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+)\s*>\s*$")
_BARE_EMAIL = re.compile(r"^(?P<email>[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+)$")
_KEYWORD_LINE = re.compile(r"^\s*([a-z][a-z ]{0,30}?)\s*:", re.IGNORECASE)
_STOP = re.compile(
    r"^(>|-- ?$|_{5,}|-{5,}|on .{1,200} wrote:\s*$|from:\s|sent:\s|-+\s*original message\s*-+)",
    re.IGNORECASE,
)
KEYWORDS = (
    "notified",
    "aware",
    "agency",
    "decision",
    "completed",
    "published",
    "close",
    "start rapid review",
)
DECISIONS = {
    "cspr": "cspr",
    "local cspr": "cspr",
    "child safeguarding practice review": "cspr",
    "learning review": "learning_review",
    "other learning review": "learning_review",
    "no review": "no_review",
    "none": "no_review",
}


@dataclass(frozen=True)
class Command:
    verb: str  # notified | aware | agency | decision | completed | published | close | start_rapid_review
    line: str
    on: date | None = None
    decision: str | None = None
    agency_name: str | None = None
    agency_email: str | None = None


@dataclass(frozen=True)
class ParseResult:
    commands: tuple[Command, ...]
    errors: tuple[tuple[str, str], ...]  # (line, what is wrong)


def _command_lines(body: str) -> list[str]:
    lines: list[str] = []
    for raw in body.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            if lines:
                break
            continue
        if _STOP.match(line):
            break
        lines.append(line)
    return lines


def _looks_like_command(line: str) -> bool:
    low = line.lower()
    if low in ("close", "close case", "start rapid review"):
        return True
    m = _KEYWORD_LINE.match(line)
    return m is not None and m.group(1).strip().lower() in KEYWORDS


def looks_like_commands(body: str) -> bool:
    """True if the first line of the body is meant as a command (used to classify a coordinator's mail)."""
    lines = _command_lines(body)
    return bool(lines) and _looks_like_command(lines[0])


def _date_or_error(line: str, text: str, *, required: bool) -> tuple[date | None, str | None]:
    text = text.strip().strip("[]").strip()
    if not text:
        return (
            (None, "a date is needed, like 2026-12-03 or 3/12/2026") if required else (None, None)
        )
    parsed = parse_uk_date(text)
    if parsed is None:
        return None, f"{text!r} is not a date I can read (day first: 3/12/2026, or 2026-12-03)"
    return parsed, None


def parse_line(line: str) -> Command | str:
    """One command, or the sentence saying what is wrong with the line."""
    low = line.lower().strip()
    if low in ("close", "close case"):
        return Command("close", line)
    if low == "start rapid review":
        return Command("start_rapid_review", line)
    m = _KEYWORD_LINE.match(line)
    if not m:
        return "not a command I know (see the list of commands below)"
    verb = m.group(1).strip().lower()
    rest = line[m.end() :].strip()
    if verb in ("notified", "aware", "completed", "published"):
        on, err = _date_or_error(line, rest, required=True)
        return err if err else Command(verb, line, on=on)
    if verb == "decision":
        words = re.split(r"\s+(?=\[?\d)", rest, maxsplit=1)
        kind = DECISIONS.get(words[0].strip().lower())
        if kind is None:
            return "the decision must be cspr, learning review or no review"
        on, err = _date_or_error(line, words[1] if len(words) > 1 else "", required=False)
        return err if err else Command("decision", line, on=on, decision=kind)
    if verb == "agency":
        addr = _ADDRESS.match(rest)
        if addr:
            name, email = addr.group("name").strip().strip('"'), addr.group("email").lower()
        elif _BARE_EMAIL.match(rest):
            return "give the agency's name as well as its address: agency: Name <address>"
        else:
            name, email = rest, None
        if not name:
            return "the agency needs a name: agency: West Midlands Police <pvp@example.org>"
        return Command("agency", line, agency_name=name, agency_email=email)
    return "not a command I know (see the list of commands below)"


def parse_commands(body: str) -> ParseResult:
    """Every command at the top of ``body``; prose after the commands ends them (a sign-off, say)."""
    commands: list[Command] = []
    errors: list[tuple[str, str]] = []
    for line in _command_lines(body):
        looks = _looks_like_command(line) or _KEYWORD_LINE.match(line) is not None
        if not looks and commands:
            break  # prose after the commands: a sign-off
        result = parse_line(line)
        if isinstance(result, str):
            errors.append((line, result))
            if not commands:
                break
        else:
            commands.append(result)
    return ParseResult(tuple(commands), tuple(errors))
