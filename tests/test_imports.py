"""What a start costs (issue 15): heavy libraries are imported where they are first needed.

``--version``, a usage error and reading the config import none of them; ``run`` imports only what
every pass uses (the store, the mailbox, the renderer, the form reader), not the digest's
iCalendar writer, the HTML-to-text layout, mail-parser, the command parser's reply splitter, the
sender check's libraries, the bank-holiday data or Microsoft 365's. Each is checked in a fresh
interpreter, since this one has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LATER = [
    "holidays",  # the first date asked about
    "icalendar",  # the digest's deadlines.ics
    "inscriptis",  # a mail with HTML only
    "mailparser",  # odd mail
    "mailparser_reply",  # a coordinator's commands
    "publicsuffixlist",  # sender_check = authentication-results
    "authres",
    "msal",  # Microsoft 365
    "requests",
    "urllib.request",
    "statistics",  # the year to date's medians
    "docx",  # a template or a pack being made
]
EVERY_PASS = ["jinja2", "imapclient", "tinydb", "lxml", "rapidfuzz"]


def loaded(code: str) -> set[str]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_the_command_line_and_the_config_import_no_heavy_library() -> None:
    modules = loaded("import cspr_mailbot.cli, cspr_mailbot.config")
    assert modules.isdisjoint(LATER + EVERY_PASS), sorted(modules & {*LATER, *EVERY_PASS})


def test_run_imports_only_what_every_pass_uses() -> None:
    modules = loaded("import cspr_mailbot.cli, cspr_mailbot.wiring, cspr_mailbot.daemon")
    assert modules.isdisjoint(LATER), sorted(modules & set(LATER))


def test_version_needs_no_config() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cspr_mailbot", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("cspr-mailbot ")


def test_run_without_microsoft_365_loads_none_of_its_modules() -> None:
    """adapters/oauth.py and adapters/graph.py are for [oauth2] and transport = "graph" alone."""
    modules = loaded(
        "import cspr_mailbot.cli, cspr_mailbot.wiring, cspr_mailbot.daemon\n"
        "from cspr_mailbot.config import parse_config\n"
        "from cspr_mailbot.wiring import sender, token_source\n"
        "cfg = parse_config({'partnership': {'mailbox': 'a@example.gov.uk', "
        "'coordinators': ['b@example.gov.uk']}})\n"
        "assert token_source(cfg) is None\n"
        "sender(cfg)"
    )
    assert modules.isdisjoint({"cspr_mailbot.adapters.oauth", "cspr_mailbot.adapters.graph"})


def test_an_imap_run_does_not_load_the_maildir_module() -> None:
    """The standard library's ``mailbox`` (Maildir) is for a [maildir] source alone."""
    modules = loaded("import cspr_mailbot.cli, cspr_mailbot.wiring, cspr_mailbot.daemon")
    assert "mailbox" not in modules
