"""Shared helpers for the end-to-end tests: the bot as a subprocess against the real servers.

A test gets a ``Bot`` from ``make_bot(tmp_path, dovecot, smtp_server)``: it writes a config for the
fixtures into ``tmp_path`` and runs the CLI (``sys.executable -m cspr_mailbot``) with the IMAP
password in the environment, as IT would. Everything is observed as a user would: what each IMAP
folder holds, what the SMTP server received, and what ``case --json`` / ``cases --json`` print.

The API, kept small on purpose:

- ``make_bot(tmp_path, dovecot, smtp, extra_toml="")`` -> ``Bot``; ``Bot.run_once(now=NOW)``,
  ``Bot.cli(*args)``, ``Bot.case(ref)``, ``Bot.cases()``, ``Bot.popen(*args)`` (for the daemon),
  ``Bot.command(*args, setup=...)`` (the command line, with a test-only setting made first).
  ``write_config(...)`` and ``smtp_toml(smtp)``: the one config writer, for other kinds of bot.
- ``serving(DovecotServer(...))``: the body of a session fixture for a Dovecot.
- ``Days(bot)``: ``run(day, *mails)`` delivers, runs one pass that day and returns what went out.
- ``scoping_return(reference, agency, **values)`` -> bytes: a completed Initial Scoping template.
- ``referral_mail(values=None, ...)`` -> bytes: a referral with ``formgen.filled_referral(values)``
  attached (``REFERRAL`` by default); ``plain_mail(...)`` -> bytes for anything else.
- ``template_of(received)``, ``sent_to(smtp, addr)``, ``by_template(smtp, name)``: read what the
  SMTP server got; ``text_parts(message)``: the decoded text/plain and text/html bodies.
- ``wait_until(predicate, timeout)``.
- Constants: ``NOW`` (a Monday, 10:00 London), ``MAILBOX``, ``COORDINATOR``, ``REFERRER``,
  ``PASSWORD_ENV``, folder names ``INBOX``, ``PROCESSED``, ``TRIAGE``, ``IGNORED``, ``SENT``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from servers import DovecotServer, Received, SmtpServer

from cspr_mailbot import formgen

__all__ = [
    "NOW",
    "NOW_DATE",
    "MAILBOX",
    "COORDINATOR",
    "REFERRER",
    "PASSWORD_ENV",
    "INBOX",
    "PROCESSED",
    "TRIAGE",
    "IGNORED",
    "SENT",
    "DOCX_TYPE",
    "REFERRAL",
    "SCOPING_RETURN",
    "Bot",
    "Days",
    "make_bot",
    "serving",
    "write_config",
    "smtp_toml",
    "scoping_return",
    "referral_mail",
    "plain_mail",
    "template_of",
    "sent_to",
    "by_template",
    "text_parts",
    "wait_until",
]

LONDON = ZoneInfo("Europe/London")
NOW = "2026-11-30T10:00"  # a Monday, a working day; London time
NOW_DATE = datetime(2026, 11, 30, 9, 0, tzinfo=LONDON)  # the Date of mail built here by default
MAILBOX = "dsppb@example.gov.uk"
COORDINATOR = "coordinator@example.gov.uk"
REFERRER = "sam.carter@example.police.uk"
PASSWORD_ENV = "CSPR_TEST_IMAP_PASSWORD"
INBOX, PROCESSED, TRIAGE, IGNORED, SENT = "INBOX", "Processed", "Needs triage", "Ignored", "Sent"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CLI_TIMEOUT = 120.0  # seconds; a pass that takes longer is hung, and the test says so

REFERRAL: dict[str, Any] = {
    "referrer_name": "Sam Carter",
    "referrer_role": "Detective Sergeant",
    "referrer_agency": "West Midlands Police",
    "referrer_email": REFERRER,
    "referrer_phone": "0121 000 0000",
    "safeguarding_lead_consulted": True,
    "child_name": "Jamie Quennell",
    "child_dob": "2019-04-12",
    "child_gender": "Male",
    "child_ethnicity": "White British",
    "child_address": "14 Wrenfield Close, Dudley, DY1 4QX",
    "incident_date": "2026-11-25",
    "la_aware_date": "2026-11-26",
    "incident_type": "death",
    "incident_summary": "Sudden unexpected death at home; concerns about neglect.",
    "abuse_or_neglect": "suspected",
    "looked_after": False,
    "national_panel_notified": False,
    "notification_date": None,
    "agencies_involved": [
        {"name": "West Midlands Police", "contact_name": "DS Carter", "email": None},
    ],
    "rationale": "Neglect suspected; the child has died.",
}
"""A complete, readable referral: its child's details must never reach the referrer."""


@dataclass
class Bot:
    """One installation of the bot: a config file in ``root`` for the given servers."""

    root: Path
    config: Path
    dovecot: DovecotServer
    smtp: SmtpServer

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSPR_")}
        env[PASSWORD_ENV] = self.dovecot.password
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def command(self, *args: str, setup: str = "") -> list[str]:
        """``cspr-mailbot -c CONFIG ARGS``; ``setup``, Python run in the bot's process before the
        CLI, is for a setting only a test makes (``App.group_seconds``)."""
        if not setup:
            return [sys.executable, "-m", "cspr_mailbot", "-c", str(self.config), *args]
        code = f"{setup}\nfrom cspr_mailbot.cli import main\nraise SystemExit(main())\n"
        return [sys.executable, "-c", code, "-c", str(self.config), *args]

    def cli(
        self, *args: str, timeout: float = CLI_TIMEOUT, expect: int | None = 0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cspr-mailbot -c CONFIG ARGS``; assert the exit code unless ``expect`` is None."""
        proc = subprocess.run(
            self.command(*args),
            env=self.env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if expect is not None:
            assert proc.returncode == expect, (
                f"cspr-mailbot {' '.join(args)} exited {proc.returncode}, wanted {expect}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
            )
        return proc

    def run_once(
        self, now: str = NOW, *, expect: int | None = 0, timeout: float = CLI_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """One pass: ``run --once --now NOW``."""
        return self.cli("run", "--once", "--now", now, expect=expect, timeout=timeout)

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        """Start ``cspr-mailbot -c CONFIG ARGS`` (e.g. ``"run"``); stdout and stderr are piped."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(
            self.command(*args), env=self.env(), cwd=self.root, text=True, **kwargs
        )

    def case(self, reference: str) -> dict[str, Any]:
        """``case REFERENCE --json``, parsed."""
        return json.loads(self.cli("case", reference, "--json").stdout)

    def cases(self, include_closed: bool = True) -> list[dict[str, Any]]:
        """``cases --json [--all]``, parsed."""
        args = ["cases", "--json", *(["--all"] if include_closed else [])]
        return json.loads(self.cli(*args).stdout)


def write_config(
    tmp_path: Path,
    dovecot: DovecotServer,
    sending: str,
    extra_toml: str = "",
    *,
    imap_auth: str = f'password_env = "{PASSWORD_ENV}"',
    security: str = 'sender_check = "none"',
) -> Path:
    """Write ``tmp_path/config.toml`` for the fixtures and return its path.

    The partnership, ``[imap]`` on ``dovecot`` (plain, on 127.0.0.1) signing in as ``imap_auth``
    says, ``[security]`` with ``security`` as its body, then ``sending`` (the ``[smtp]`` table and
    whatever goes with it, e.g. ``[oauth2]``), the store, West Midlands Police in the directory, and
    ``extra_toml`` as is: more tables such as ``[digest]`` or more ``[[agencies]]``.
    """
    config = tmp_path / "config.toml"
    config.write_text(
        f"""\
[partnership]
mailbox = "{MAILBOX}"
coordinators = ["{COORDINATOR}"]

[imap]
host = "{dovecot.host}"
port = {dovecot.port}
security = "none"
username = "{dovecot.user}"
{imap_auth}

[security]
{security}

{sending}
[store]
path = "store/cspr.json"

[[agencies]]
name = "West Midlands Police"
email = "pvp@example.police.uk"
aliases = ["WMP", "Police"]

{extra_toml}
"""
    )
    return config


def smtp_toml(smtp: SmtpServer, *more: str) -> str:
    """The ``[smtp]`` table for ``smtp`` (plain, on 127.0.0.1), with ``more`` lines (e.g. AUTH)."""
    lines = [f'host = "{smtp.host}"', f"port = {smtp.port}", 'security = "none"', *more]
    return "[smtp]\n" + "".join(f"{line}\n" for line in lines)


def make_bot(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp: SmtpServer,
    extra_toml: str = "",
    *,
    security: str = 'sender_check = "none"',
) -> Bot:
    """A bot for the fixtures (plain IMAP and SMTP on 127.0.0.1): see ``write_config``.

    ``security`` is the body of ``[security]``, required with ``[imap]`` (SPEC 9): no sender check
    unless a test asks for one (the fixtures' mail carries no server's verdict).
    """
    config = write_config(tmp_path, dovecot, smtp_toml(smtp), extra_toml, security=security)
    return Bot(tmp_path, config, dovecot, smtp)


def serving(server: DovecotServer) -> Iterator[DovecotServer]:
    """For a session fixture: ``server`` started, then closed whatever the tests did."""
    try:
        server.start()
        yield server
    finally:
        server.close()


class Days:
    """The bot and its servers a simulated day at a time, and what the SMTP server got since the
    last look."""

    def __init__(self, bot: Bot) -> None:
        self.bot, self.seen = bot, 0

    @property
    def dovecot(self) -> DovecotServer:
        return self.bot.dovecot

    @property
    def smtp(self) -> SmtpServer:
        return self.bot.smtp

    def new_mail(self) -> list[Received]:
        """What the SMTP server got since the last look."""
        got = self.smtp.messages[self.seen :]
        self.seen += len(got)
        return got

    def run(self, day: str, *mails: bytes) -> list[Received]:
        """Deliver ``mails``, one pass at 10:00 on ``day`` (ISO date); what went out. The pass must
        leave the INBOX empty."""
        for raw in mails:
            self.dovecot.append(raw)
        self.bot.run_once(f"{day}T10:00")
        got = self.new_mail()
        assert self.dovecot.folder_count(INBOX) == 0, f"{day}: mail left in the INBOX"
        return got


SCOPING_RETURN: dict[str, Any] = {
    "completed_by": "Jane Officer",
    "role": "Safeguarding lead",
    "email": "jane.officer@example.org",
    "involvement_from": "2025-01-01",
    "involvement_to": "2026-11-25",
    "involvement_summary": "Known to the agency since January 2025.",
    "risks_identified": "Missed appointments.",
    "records_secured": True,
}
"""What an agency's Initial Scoping return says (``scoping_return`` adds to it)."""


def scoping_return(reference: str, agency: str, **values: Any) -> bytes:
    """The scoping template for ``reference`` and ``agency``, completed: ``SCOPING_RETURN`` with
    ``values`` on top."""
    return formgen.filled_scoping({**SCOPING_RETURN, **values}, reference, agency)


def plain_mail(
    sender: str = REFERRER,
    subject: str = "Hello",
    body: str = "Hello.",
    *,
    to: str = MAILBOX,
    message_id: str | None = None,
    date: datetime | None = None,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    attachments: Sequence[tuple[str, bytes, str]] = (),
) -> bytes:
    """A message as a mail client writes it; ``attachments`` are ``(filename, data, type)``."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or NOW_DATE)
    msg["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2] or "example.org")
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        msg[name] = value
    msg.set_content(body)
    for filename, data, ctype in attachments:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def referral_mail(
    values: Mapping[str, Any] | None = None,
    *,
    sender: str = REFERRER,
    subject: str = "CSPR referral",
    body: str = "Please find the CSPR referral form attached.\n\nSam Carter",
    message_id: str | None = None,
    date: datetime | None = None,
    attachment: tuple[str, bytes, str] | None = None,
) -> bytes:
    """A referral: ``formgen.filled_referral(values or REFERRAL)`` attached as a .docx.

    ``attachment`` replaces the form with ``(filename, data, content type)``.
    """
    if attachment is None:
        attachment = (
            "CSPR referral form.docx",
            formgen.filled_referral(REFERRAL if values is None else values),
            DOCX_TYPE,
        )
    return plain_mail(
        sender, subject, body, message_id=message_id, date=date, attachments=[attachment]
    )


def template_of(received: Received) -> str:
    """The bot's template name for a message it sent (its ``X-CSPR-Mailbot`` header)."""
    return str(received.message.get("X-CSPR-Mailbot", ""))


def sent_to(smtp: SmtpServer, address: str) -> list[Received]:
    """What the SMTP server got for ``address`` (an envelope recipient), oldest first."""
    address = address.lower()
    return [r for r in smtp.messages if address in (a.lower() for a in r.rcpt_tos)]


def by_template(smtp: SmtpServer, template: str) -> list[Received]:
    """What the SMTP server got that the bot rendered from ``template``, oldest first."""
    return [r for r in smtp.messages if template_of(r) == template]


def text_parts(message: EmailMessage) -> dict[str, str]:
    """``{"text/plain": ..., "text/html": ...}``: the decoded text bodies of a message."""
    out: dict[str, str] = {}
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype in ("text/plain", "text/html") and not part.is_attachment():
            out[ctype] = out.get(ctype, "") + str(part.get_content())
    return out


def wait_until(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; return that (raise on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout}s: {what or predicate}")
        time.sleep(interval)
