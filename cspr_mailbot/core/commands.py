"""Read coordinators' one-line commands (SPEC 7) from the top of a mail body or the CLI.

The reader keeps what the coordinator wrote: the quoted mail under a reply (cut by mail-parser-reply,
which knows Outlook's, Gmail's, Apple Mail's and other clients' quote headers in many languages, and by
our own rules), a greeting line before the commands, blank lines between them. Then each line is a
command, an error naming the line (it starts like a command but is not one: ``notified 10/12/2026``,
``Start rapid review.``, ``decison: cspr``), or prose, which ends the commands. The words for each
command and decision are data (``data/commands.toml``), extendable from the config's ``[commands]``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache, cached_property
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, get_args

from .models import REFERRAL_FIELDS
from .ukdates import parse_uk_date

if TYPE_CHECKING:
    from mailparser_reply import EmailReplyParser

# mailparser_reply and rapidfuzz are imported where they are first needed (_reply_parser, _closest):
# the config imports this module for its grammar at every start, and a pass with no coordinator's
# mail needs neither.

Verb = Literal[
    "notified",
    "aware",
    "agency",
    "remove_agency",
    "start_rapid_review",
    "accept_return",
    "decision",
    "completed",
    "published",
    "set",
    "link",
    "duplicate_of",
    "pack",
    "resend",
    "reopen",
    "close",
]
DATE_VERBS = frozenset({"notified", "aware", "completed", "published"})
# Commands written alone on their line; every other one is "words: value".
BARE_VERBS = frozenset({"start_rapid_review", "pack", "resend", "reopen", "close"})
DECISION_KINDS = ("cspr", "learning_review", "no_review")

# SPEC 4's referral keys that `set` may correct: all but the agencies (`agency:`, `remove agency:`).
SETTABLE_FIELDS: tuple[str, ...] = tuple(
    key
    for key in dict.fromkeys(
        (
            *REFERRAL_FIELDS,
            "referral_date",
            "safeguarding_lead_name",
            "child_nhs_number",
            "child_school",
            "child_postcode",
            "legal_status",
            "household",
            "other_children_at_risk",
            "police_investigation",
            "parallel_processes",
        )
    )
    if key != "agencies_involved"
)

_ADDRESS = re.compile(r"^(?P<name>.*?)\s*<\s*(?P<email>[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+)\s*>\s*$")
_BARE_EMAIL = re.compile(r"^(?P<email>[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+)$")
_REFERENCE = re.compile(r"^\[?\s*([A-Za-z]+-\d{4}-\d{4,})\s*\]?\.?$")
# "words:" at the start of a line: what a command with a value looks like.
_HEAD = re.compile(r"^\s*([^\W\d](?:[^\W\d]|[' -]){0,40}?)\s*:(?!//)")
_HEAD_WORDS = 4  # "set child_dob", "duplicate of": a longer head is a sentence with a colon in it
# Our own rules for where the coordinator's words end (mail-parser-reply finds most of these too).
_STOP = re.compile(
    r"^(>|-- ?$|_{5,}|-{5,}|on .{1,200} wrote:\s*$|from:\s|sent:\s|-+\s*original message\s*-+|"
    r"begin forwarded message:|-+\s*forwarded message\s*-+)",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^(hi|hiya|hello|hey|dear|morning|afternoon|evening|good (morning|afternoon|evening)|"
    r"all|team|colleagues|greetings)\b[^:]*$",
    re.IGNORECASE,
)
# "Label:" lines of a signature that may follow the commands without a sign-off: prose, not commands.
_SIGNATURE_LABELS = frozenset(
    {"tel", "telephone", "phone", "mobile", "mob", "fax", "email", "e-mail", "web", "address"}
    | {"ps", "p.s", "note", "nb", "subject", "to", "cc", "date", "sent", "from"}
)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = re.compile(r"[\s\u00a0\u2007\u202f]+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_FUZZY_CUTOFF = 85  # rapidfuzz ratio for a misspelt command word ("decison", "notifed", "strat")
_SUGGEST_CUTOFF = 70  # for "did you mean" on a line that is an error anyway


@cache
def _reply_parser() -> EmailReplyParser:
    from mailparser_reply import EmailReplyParser
    from mailparser_reply.constants import MAIL_LANGUAGES

    return EmailReplyParser(languages=list(MAIL_LANGUAGES))


def _closest(said: str, choices: Sequence[str], cutoff: int) -> str | None:
    """The one of ``choices`` most like ``said`` by rapidfuzz's ratio (0-100), the first of equals,
    if it scores ``cutoff`` or more; else None."""
    from rapidfuzz import fuzz, process

    found = process.extractOne(said, choices, scorer=fuzz.ratio, score_cutoff=cutoff)
    return None if found is None else found[0]


class CommandsConfigError(ValueError):
    """A ``[commands]`` table the grammar cannot take; ``key`` names the entry."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text.translate(_QUOTES).casefold()).strip()


@dataclass(frozen=True)
class Grammar:
    """The words for each command and each decision: ``data/commands.toml`` plus the config's."""

    aliases: Mapping[str, Verb]  # normalised words -> verb
    decisions: Mapping[str, str]  # normalised words -> cspr | learning_review | no_review

    @classmethod
    def load(cls, extra: Mapping[str, Any] | None = None) -> Grammar:
        """The shipped words plus ``extra`` (the config's ``[commands]``: ``aliases``, ``decisions``)."""
        text = resources.files("cspr_mailbot.data").joinpath("commands.toml").read_text("utf-8")
        data = tomllib.loads(text)
        for table, words in (extra or {}).items():
            if table not in ("aliases", "decisions"):
                raise CommandsConfigError(
                    f"commands.{table}", "unknown table (use aliases or decisions)"
                )
            if not isinstance(words, Mapping):
                raise CommandsConfigError(f"commands.{table}", "must be a table of lists")
            for key, more in words.items():
                if not isinstance(more, list) or not all(isinstance(w, str) for w in more):
                    raise CommandsConfigError(f"commands.{table}.{key}", "must be a list of words")
                data.setdefault(table, {}).setdefault(key, []).extend(more)
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Grammar:
        verbs = set(get_args(Verb))
        aliases: dict[str, Verb] = {}
        for verb, words in data.get("aliases", {}).items():
            if verb not in verbs:
                raise CommandsConfigError(
                    f"commands.aliases.{verb}",
                    f"no such command (one of {', '.join(sorted(verbs))})",
                )
            for word in (verb.replace("_", " "), *words):
                aliases[_norm(word)] = verb
        decisions: dict[str, str] = {}
        for kind, words in data.get("decisions", {}).items():
            if kind not in DECISION_KINDS:
                raise CommandsConfigError(
                    f"commands.decisions.{kind}",
                    f"no such decision (one of {', '.join(DECISION_KINDS)})",
                )
            for word in (kind.replace("_", " "), *words):
                decisions[_norm(word)] = kind
        return cls(aliases, decisions)

    def verb(self, words: str) -> Verb | None:
        return self.aliases.get(_norm(words))

    def set_field(self, low: str) -> str | None:
        """The field words after ``set`` or a word the config gives it (``correct child_dob``), or
        None when ``low`` does not start with one; the longest such word is taken."""
        for words in self._set_words:
            if low.startswith(words + " "):
                return low[len(words) + 1 :]
        return None

    @cached_property
    def _set_words(self) -> tuple[str, ...]:
        return tuple(
            sorted((w for w, v in self.aliases.items() if v == "set"), key=len, reverse=True)
        )

    def spelling(self, verb: str) -> str:
        """How the answer writes a verb: ``remove_agency`` -> ``remove agency``."""
        return verb.replace("_", " ")

    def nearest(self, words: str, cutoff: int = _SUGGEST_CUTOFF) -> Verb | None:
        """The command ``words`` is most likely a misspelling of, if any is close enough."""
        found = _closest(_norm(words), list(self.aliases), cutoff)
        return None if found is None else self.aliases[found]


DEFAULT_GRAMMAR = Grammar.load()


@dataclass(frozen=True)
class Command:
    verb: Verb
    line: str
    on: date | None = None  # the date given: notified, aware, completed, published, decision
    decision: str | None = None  # cspr | learning_review | no_review
    agency_name: str | None = None  # agency, remove agency, accept return
    agency_email: str | None = None
    key: str | None = None  # set: the referral field
    text: str | None = None  # set: the value as written (the handler converts it)
    reference: str | None = None  # link, duplicate of: the other case


@dataclass(frozen=True)
class ParseResult:
    commands: tuple[Command, ...]
    errors: tuple[tuple[str, str], ...]  # (line, what is wrong)

    def references(self) -> tuple[str, ...]:
        """The other cases the commands name (``link:``, ``duplicate of:``), for the app to look up."""
        return tuple(dict.fromkeys(c.reference for c in self.commands if c.reference))


# ------------------------------------------------------------------------------------ the lines


def own_lines(body: str) -> list[str]:
    """The lines the coordinator wrote: quoted mail and forwarded mail cut off, spaces tidied."""
    text = body.replace("\r\n", "\n").replace("\r", "\n").translate(_INVISIBLE)
    reply = _reply_parser().read(text)
    latest = reply.replies[0].content if reply.replies else text
    lines: list[str] = []
    for raw in latest.split("\n"):
        line = _SPACES.sub(" ", raw).strip()
        if _STOP.match(line):
            break
        lines.append(line)
    return lines


def _top_lines(body: str, grammar: Grammar) -> list[str]:
    """The non-blank lines from the first, a greeting line before the commands left out."""
    lines = [ln for ln in own_lines(body) if ln]
    if lines and _is_greeting(lines[0]) and _read_line(lines[0], grammar) is None:
        lines = lines[1:]
    return lines


def _is_greeting(line: str) -> bool:
    if len(line.split()) > 6:
        return False
    if _GREETING.match(line):
        return True
    # "Jane," or "Sam and Priya," alone on the first line
    return line.endswith(",") and len(line.split()) <= 3 and ":" not in line


# ------------------------------------------------------------------------------------ one line


def _date(text: str, *, required: bool) -> tuple[date | None, str | None]:
    text = text.strip().strip("[]().").strip()
    if not text:
        return (
            (None, "a date is needed, like 2026-12-03 or 3/12/2026") if required else (None, None)
        )
    parsed = parse_uk_date(text)
    if parsed is None:
        return None, f"{text!r} is not a date I can read (day first: 3/12/2026, or 2026-12-03)"
    return parsed, None


def _with_value(verb: Verb, line: str, rest: str, grammar: Grammar) -> Command | str:
    """A command written ``words: value``, or what is wrong with its value."""
    rest = rest.strip()
    if verb in BARE_VERBS:
        if rest:
            return f"'{grammar.spelling(verb)}' takes nothing after it: write it alone on its line"
        return Command(verb, line)
    if verb in DATE_VERBS:
        on, err = _date(rest, required=True)
        return err if err else Command(verb, line, on=on)
    if verb == "decision":
        words = re.split(r"\s+(?=[\[(]?\d)", rest, maxsplit=1)
        said = _norm(words[0].strip(" .,;"))
        kind = grammar.decisions.get(said)
        if kind is None:
            found = _closest(said, list(grammar.decisions), _SUGGEST_CUTOFF)
            hint = f" (did you mean '{found}'?)" if found is not None else ""
            return f"the decision must be cspr, learning review or no review{hint}"
        on, err = _date(words[1] if len(words) > 1 else "", required=False)
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
    if verb in ("remove_agency", "accept_return"):
        name = rest.strip(" .")
        if not name:
            return f"name the agency: {grammar.spelling(verb)}: West Midlands Police"
        return Command(verb, line, agency_name=name)
    if verb in ("link", "duplicate_of"):
        ref = _REFERENCE.match(rest)
        if ref is None:
            return f"give a case reference: {grammar.spelling(verb)}: DSPP-2026-0004"
        return Command(verb, line, reference=ref.group(1).upper())
    raise AssertionError(verb)  # pragma: no cover - every verb is handled above


def _set(line: str, field_words: str, rest: str) -> Command | str:
    key = re.sub(r"[\s-]+", "_", _norm(field_words))
    if key not in SETTABLE_FIELDS:
        valid = ", ".join(SETTABLE_FIELDS)
        if key == "agencies_involved":
            return "agencies are changed with agency: and remove agency:, not set"
        found = _closest(key, SETTABLE_FIELDS, _SUGGEST_CUTOFF) if key else None
        hint = f"did you mean {found}? " if found is not None else ""
        return (
            f"{hint}set takes one of these fields: {valid}"
            if key
            else (f"write set FIELD: value, with one of these fields: {valid}")
        )
    if not rest.strip():
        return f"a value is needed: set {key}: value"
    return Command("set", line, key=key, text=rest.strip())


def _starts_with_alias(low: str, grammar: Grammar) -> tuple[Verb, str] | None:
    """The command whose words ``low`` starts with (longest first), and what follows them."""
    for words in sorted(grammar.aliases, key=len, reverse=True):
        if low == words or (low.startswith(words) and not low[len(words)].isalnum()):
            return grammar.aliases[words], low[len(words) :]
    return None


def _misspelt(low: str, grammar: Grammar) -> Verb | None:
    """The command the line's first words misspell ("strat rapid review", "notifed 3/12/2026")."""
    tokens = low.split()
    for words, verb in grammar.aliases.items():
        n = len(words.split())
        if len(words) < 5 or len(tokens) < n:
            continue  # a short word is too easily another word
        if _closest(" ".join(tokens[:n]).strip(".,;:!-"), (words,), _FUZZY_CUTOFF) is not None:
            return verb  # the first command close enough, in the grammar's order
    return None


def _read_line(line: str, grammar: Grammar) -> Command | str | None:
    """A command; the sentence saying what is wrong with a line that starts like one; None for prose."""
    head = _HEAD.match(line)
    if head is not None and len(head.group(1).split()) <= _HEAD_WORDS:
        words, rest = head.group(1), line[head.end() :]
        low = _norm(words)
        field_words = grammar.set_field(low)
        if field_words is not None:
            return _set(line, field_words, rest)
        verb = grammar.verb(low)
        if verb == "set":  # "set: value", or an alias's: no field named, and _set says so
            return _set(line, "", rest)
        if verb is not None:
            return _with_value(verb, line, rest, grammar)
        if low in _SIGNATURE_LABELS:
            return None
        near = grammar.nearest(low)
        hint = f": did you mean '{grammar.spelling(near)}:'?" if near else ""
        return f"not a command I know{hint} (see the list of commands below)"
    low = _norm(line)
    bare = low.rstrip(" .!,;")
    verb = grammar.verb(low)
    if verb is not None and verb in BARE_VERBS:
        return Command(verb, line)
    if verb is None and (verb := grammar.verb(bare)) is not None and verb in BARE_VERBS:
        return f"write '{grammar.spelling(verb)}' alone on its line, with nothing after it"
    start = _starts_with_alias(low, grammar)
    if start is not None:
        verb, after = start
        if verb in BARE_VERBS:
            return f"'{grammar.spelling(verb)}' takes nothing after it: write it alone on its line"
        if verb == "set":
            return "write set FIELD: value, e.g. set child_dob: 03/12/2015"
        value = " ".join(line.split()[len(low[: len(low) - len(after)].split()) :])
        value = value.lstrip("-–—=>").strip()
        return f"a command needs a colon after its name: did you mean '{grammar.spelling(verb)}: {value}'?"
    near = _misspelt(low, grammar)
    if near is not None:
        shown = grammar.spelling(near) + ("" if near in BARE_VERBS else ":")
        return f"not a command I know: did you mean '{shown}'?"
    return None


def parse_line(line: str, grammar: Grammar = DEFAULT_GRAMMAR) -> Command | str:
    """One command, or the sentence saying what is wrong with the line."""
    result = _read_line(line.strip(), grammar)
    return "not a command I know (see the list of commands below)" if result is None else result


def parse_commands(body: str, grammar: Grammar = DEFAULT_GRAMMAR) -> ParseResult:
    """Every command at the top of ``body``, and each line that starts like one but is not.

    Blank lines between commands are allowed; a greeting line before them is skipped; the first line of
    prose after them (a sign-off, say) ends them.
    """
    commands: list[Command] = []
    errors: list[tuple[str, str]] = []
    for line in _top_lines(body, grammar):
        result = _read_line(line, grammar)
        if result is None:
            break
        if isinstance(result, str):
            errors.append((line, result))
        else:
            commands.append(result)
    return ParseResult(tuple(commands), tuple(errors))


def looks_like_commands(body: str, grammar: Grammar = DEFAULT_GRAMMAR) -> bool:
    """True if the body's first line (after a greeting) is meant as a command: to classify a coordinator's
    mail. A near-miss counts, so that it is answered with an error rather than filed as mail."""
    lines = _top_lines(body, grammar)
    return bool(lines) and _read_line(lines[0], grammar) is not None
