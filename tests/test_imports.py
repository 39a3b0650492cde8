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
    "rapidfuzz",  # a form's label that no synonym matches exactly; the pack's chronology
]
EVERY_PASS = ["jinja2", "imapclient", "tinydb", "lxml"]


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


# What a pass over a backlog of referrals never uses, each imported by the code that does: a
# coordinator's commands (handlers), other mail on a case (correspondence), the Rapid Review pack.
NOT_FOR_REFERRALS = [
    "cspr_mailbot.core.handlers",
    "cspr_mailbot.core.correspondence",
    "cspr_mailbot.core.pack",
]
# ... and what a later pass over an empty INBOX does not either: the fuzzy label matching of a
# form, the day's upkeep (prune, backup), done by the day's first pass.
NOT_FOR_AN_EMPTY_PASS = [*NOT_FOR_REFERRALS, "rapidfuzz", "cspr_mailbot.dataprotection"]

RUN_ONCE = (
    "from cspr_mailbot.cli import main\n"
    "assert main(['-c', 'config.toml', 'run', '--once', '--now', '{now}']) == 0"
)


def _site_with_referrals(tmp_path: Path) -> Path:
    import mailbox
    from email.message import EmailMessage

    from cspr_mailbot import formgen

    (tmp_path / "config.toml").write_text(
        '[partnership]\nmailbox = "dsppb@example.gov.uk"\n'
        'coordinators = ["coordinator@example.gov.uk"]\n[maildir]\npath = "maildir"\n'
    )
    box = mailbox.Maildir(tmp_path / "maildir", create=True)
    text = EmailMessage()
    text["From"], text["To"], text["Subject"] = "sam@example.police.uk", "dsppb@example.gov.uk", "R"
    text["Message-ID"] = "<text-referral@example.org>"
    text.set_content(
        "Referrer name: Sam Carter\nChild's name: Jamie Example\nDate of birth: 12/04/2019\n"
        "Incident type: Death\nDate of incident: 25/11/2026\n"
        "Summary of incident: Sudden death at home.\nAbuse or neglect: Suspected\n"
    )
    form = EmailMessage()
    form["From"], form["To"], form["Subject"] = "jo@dudley.example", "dsppb@example.gov.uk", "R"
    form["Message-ID"] = "<docx-referral@example.org>"
    form.set_content("Please find the referral attached.")
    docx = formgen.filled_referral(
        {
            "referrer_name": "Jo Bloggs",
            "referrer_email": "jo@dudley.example",
            "child_name": "Amy Example",
            "child_dob": "2015-02-28",
            "incident_date": "2026-11-26",
            "incident_type": "serious_harm",
            "incident_summary": "Admitted to hospital with unexplained injuries.",
            "abuse_or_neglect": "suspected",
            "agencies_involved": [{"name": "West Midlands Police", "contact_name": "DC Smith"}],
        }
    )
    form.add_attachment(
        docx,
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="CSPR referral form.docx",
    )
    for msg in (text, form):
        box.add(msg.as_bytes())
    return tmp_path


def _loaded_in(site: Path, code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"],
        cwd=site,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_a_pass_over_referrals_loads_neither_the_commands_nor_the_pack(tmp_path: Path) -> None:
    site = _site_with_referrals(tmp_path)
    modules = _loaded_in(site, RUN_ONCE.format(now="2026-11-30T10:00"))
    import mailbox

    assert len(mailbox.Maildir(site / "maildir").get_folder("Processed")) == 2  # both became cases
    assert modules.isdisjoint(NOT_FOR_REFERRALS), sorted(modules & set(NOT_FOR_REFERRALS))
    # The next pass, over an empty INBOX, in a process of its own, as each run --once is.
    modules = _loaded_in(site, RUN_ONCE.format(now="2026-11-30T10:05"))
    assert modules.isdisjoint(NOT_FOR_AN_EMPTY_PASS), sorted(modules & set(NOT_FOR_AN_EMPTY_PASS))


def test_a_coordinators_command_still_loads_what_it_needs(tmp_path: Path) -> None:
    """The other side of the above: the lazily imported modules are there when a mail needs them."""
    site = _site_with_referrals(tmp_path)
    _loaded_in(site, RUN_ONCE.format(now="2026-11-30T10:00"))
    import mailbox
    from email.message import EmailMessage

    cmd = EmailMessage()
    cmd["From"], cmd["To"] = "coordinator@example.gov.uk", "dsppb@example.gov.uk"
    cmd["Subject"] = "Re: [DSPP-2026-0001]"
    cmd["Message-ID"] = "<command@example.org>"
    cmd.set_content("pack\n")
    mailbox.Maildir(site / "maildir").add(cmd.as_bytes())
    modules = _loaded_in(site, RUN_ONCE.format(now="2026-11-30T10:05"))
    assert {"cspr_mailbot.core.handlers", "cspr_mailbot.core.pack"} <= modules
    outbox = site / "store" / "outbox"
    assert any("Rapid Review pack" in p.read_text(errors="replace") for p in outbox.glob("*.eml"))
