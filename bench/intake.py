"""Benchmark of intake end to end (issues 4 and 15): a backlog of referrals through a real Dovecot and SMTP.

It starts a private Dovecot and an aiosmtpd server (tests/servers.py), fills the INBOX with a backlog
of N referrals, each about its own child (the project's own form with varied values, every layout of
tests/docxfactory.py, and the good referrals of tests/golden/*.eml when that folder exists), then,
``--runs`` times on a fresh backlog and a fresh store:

1. the bare floor: bench/floor.py, the bare work of the whole pass as a program of its own, timed
   as ``run --once`` is (a subprocess, from its start to its exit): Python and its imports, one
   UID FETCH of the backlog, the forms taken out of the mail (stdlib email, compat32), zipfile +
   ``lxml.etree.fromstring`` of each form's ``word/document.xml``, one record of the pass with one
   fdatasync, one UID MOVE of the backlog, one SMTP session sending 2N small messages (each
   referral's acknowledgement and the coordinators' notice, as SPEC 3 asks) and one MULTIAPPEND of
   them to a Sent folder; the backlog is then moved back for the run. The same program runs
   again just after the run, on the same backlog (moved back from Processed, and returned there
   after), and the run's ratio is to the mean of the two: the machine's speed moves within
   seconds (see speed_probe), and a floor on each side of the run meets what the run met. The
   ratio to the floor before the run alone is printed beside it. Timed beside it, in this
   process, and printed with its ratio but not the floor: issue 15's list as it wrote it (the
   UID FETCH, lxml of document.xml, the SMTP session; the first N messages timed too, the floor as
   issue 15 first wrote it), and python-docx ``Document()`` on the same forms (the floor of the
   first benchmark; the bot no longer opens forms that way);
2. ``cspr-mailbot run --once`` as a subprocess, wall-clock from start to exit, and its peak RSS
   (``VmHWM`` from /proc while it runs: see watching_peak_rss); it checks that the N acknowledgements and N coordinator
   notices arrived, that the INBOX is empty and that Processed holds them all.

Then, once:

3. latency: the daemon (``cspr-mailbot run``, IMAP IDLE) on an empty INBOX; a referral is appended
   a few times, and the time until its acknowledgement (matched by In-Reply-To) reaches the SMTP
   server is measured; then SIGTERM, which must end it with exit code 0;
4. the per-phase table: the real ``run --once`` (``cli.main``) under cProfile, in a child process of
   its own, on a fresh backlog of N and a fresh store; every function's own time goes to a phase
   by the module it lives in (PHASE_RULES below), and os.fsync/os.fdatasync are counted.

Goals: within 3x of the floor in every run, under 150 MB, under 2 s from delivery to
acknowledgement. A miss is reported, never an error: the exit code is 0 unless something broke.
Run from the repo root:

    python bench/intake.py [--n 150] [--runs 1] [--latency 7] [--no-profile] [--top 0] [--keep]
"""

from __future__ import annotations

import argparse
import compileall
import cProfile
import email
import email.policy
import io
import json
import logging
import os
import pstats
import random
import re
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "tests", ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import docxfactory as f  # noqa: E402
from servers import DovecotServer, SmtpServer  # noqa: E402

from cspr_mailbot import formgen  # noqa: E402
from cspr_mailbot.adapters.bankholidays import BANK_HOLIDAYS  # noqa: E402
from cspr_mailbot.adapters.outbox import COMPILED_TEMPLATES  # noqa: E402

MAILBOX = "dsppb@example.gov.uk"
COORDINATOR = "coordinator@example.gov.uk"
PASSWORD_ENV = "CSPR_BENCH_IMAP_PASSWORD"
NOW = "2026-11-30T10:00"  # a Monday morning, London time
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

GOAL_RATIO = 3.0
GOAL_MB = 150.0
GOAL_LATENCY = 2.0

# --------------------------------------------------------------------------------------------------
# The referrals
# --------------------------------------------------------------------------------------------------

FIRST = ["Amy", "Ben", "Chloe", "Daniel", "Ella", "Farhan", "Grace", "Harry", "Isla", "Jamal"]
LAST = ["Example", "Smith", "Khan", "Jones", "Patel", "Brown", "Nowak", "Okafor", "Evans", "Li"]
AGENCIES = [
    {"name": "West Midlands Police", "contact_name": "DC Smith", "email": None},
    {"name": "Dudley Children's Services", "contact_name": None, "email": None},
    {"name": "Oak Primary School", "contact_name": "Mrs Khan", "email": "dsl@oak.example"},
    {"name": "Black Country Healthcare", "contact_name": "Named nurse", "email": "sg@bch.example"},
    {"name": "Dudley Group NHS", "contact_name": None, "email": "safeguarding@dgnhs.example"},
]
SUMMARIES = [
    "Admitted to hospital with unexplained injuries.\nSiblings are safe.",
    "Found unresponsive at home; died in hospital two days later.",
    "Serious head injury; the explanation given does not fit the injury.",
    "Long-term neglect: malnourished, missed every health appointment for a year.",
    "Attempted suicide after a long period of exploitation outside the home.",
]


@dataclass(frozen=True)
class Referral:
    raw: bytes
    message_id: str
    sender: str
    kind: str  # which form builder made it


def _letters(i: int) -> str:
    """Two letters of a postcode's inward code, different for each of the first 676 children."""
    return chr(65 + i % 26) + chr(65 + i // 26 % 26)


def _values(i: int, rng: random.Random) -> dict[str, Any]:
    incident = date(2026, 11, 16) + timedelta(days=rng.randrange(0, 10))
    child = f"{FIRST[i % 10]} {LAST[(i // 10) % 10]}"
    return {
        "referrer_name": f"Referrer {i}",
        "referrer_role": rng.choice(["Social worker", "Designated safeguarding lead", "GP"]),
        "referrer_agency": rng.choice([a["name"] for a in AGENCIES]),
        "referrer_email": f"referrer{i}@agency{i % 7}.example.org",
        "referrer_phone": f"01384 {100000 + i}",
        "safeguarding_lead_consulted": rng.random() < 0.8,
        "child_name": child,
        "child_dob": (date(2010, 1, 1) + timedelta(days=rng.randrange(0, 5000))).isoformat(),
        "child_gender": rng.choice(["Female", "Male"]),
        "child_ethnicity": rng.choice(["White British", "Asian British", "Mixed", "Black British"]),
        "child_address": f"{1 + i} High Street\nDudley\nDY{1 + i % 9} {i // 9 % 10}{_letters(i)}",
        "incident_date": incident.isoformat(),
        "la_aware_date": min(
            incident + timedelta(days=rng.randrange(0, 3)), date(2026, 11, 27)
        ).isoformat(),
        "incident_type": rng.choice(["death", "serious_harm", "serious_harm"]),
        "incident_summary": rng.choice(SUMMARIES),
        "abuse_or_neglect": rng.choice(["known", "suspected", "suspected", "unknown"]),
        "looked_after": False,
        "national_panel_notified": False,
        "notification_date": None,
        "agencies_involved": rng.sample(AGENCIES, rng.randrange(1, 4)),
        "rationale": "Neglect suspected; several agencies were involved and missed signs.",
    }


def _uk(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y")


def _pairs(v: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The same referral as {label: value} for the docxfactory layouts, with labels that vary."""
    return {
        rng.choice(["Referrer's name", "Name of referrer", "Referrer"]): v["referrer_name"],
        "Referrer's email": v["referrer_email"],
        rng.choice(["Child's name", "Name of child", "Child's full name"]): v["child_name"],
        "Date of birth": _uk(v["child_dob"]),
        rng.choice(["Date of incident", "Incident date"]): _uk(v["incident_date"]),
        "Incident type": "Death" if v["incident_type"] == "death" else "Serious harm",
        rng.choice(["Summary of incident", "Brief summary of the incident"]): v[
            "incident_summary"
        ].replace("\n", " "),
    }


LAYOUTS: list[tuple[str, Callable[[dict[str, Any]], bytes]]] = [
    ("two_column", f.two_column),
    ("four_column", f.four_column),
    ("paragraphs", f.paragraphs),
    ("next_line", lambda pairs: f.paragraphs(pairs, next_line=True)),
    ("label_above", f.label_above),
    ("columns_header", f.columns_header),
    ("content_controls", f.content_controls),
    ("legacy_fields", f.legacy_fields),
]


def _mail(i: int, sender: str, docx: bytes, filename: str, tag: str) -> tuple[bytes, str]:
    msg = EmailMessage()
    message_id = make_msgid(f"bench{tag}{i}", domain="agency.example.org")
    msg["From"] = f"Referrer {i} <{sender}>"
    msg["To"] = MAILBOX
    msg["Subject"] = "CSPR referral"
    msg["Date"] = format_datetime(datetime(2026, 11, 30, 9, 0, tzinfo=UTC) - timedelta(minutes=i))
    msg["Message-ID"] = message_id
    msg.set_content("Please find attached a CSPR referral.\n\nKind regards\n")
    maintype, subtype = DOCX.split("/")
    msg.add_attachment(docx, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=email.policy.SMTP), message_id


@dataclass(frozen=True)
class Golden:
    raw: bytes
    child_name: str
    postcode: str  # as the form writes it, "" if none


def golden_referrals() -> tuple[list[Golden], list[str]]:
    """tests/golden/*.eml whose expectation (the .json beside it) is a readable referral.

    Bad inputs (unreadable forms, key fields missing, automatic mail) are left out, and so is a
    referral the bot does not read completely today (that is tests/test_golden.py's business; the
    names are returned as the second item so the run can say so).
    """
    folder = ROOT / "tests" / "golden"
    if not folder.is_dir():
        return [], []
    from cspr_mailbot.app import settings_from
    from cspr_mailbot.config import parse_config
    from cspr_mailbot.core import forms
    from cspr_mailbot.core.message import parse_message
    from cspr_mailbot.core.reading import read_message

    table = tomllib.loads(config_text(143, 25))
    del table["imap"], table["smtp"]  # the same labels and agencies, no servers
    st = settings_from(parse_config(table))
    good: list[Golden] = []
    unread: list[str] = []
    for path in sorted(folder.glob("*.eml")):
        expected = path.with_suffix(".json")
        if not expected.is_file():
            continue
        want = json.loads(expected.read_text())
        if want.get("kind") != "referral" or want.get("status") != "referral_received":
            continue
        raw = path.read_bytes()
        try:
            form = read_message(parse_message(raw, path.name), st).referral.form
            ok = form is not None and not forms.missing_key_fields(form.fields)
        except Exception:  # noqa: BLE001 - a crash is a finding for the golden test, not for us
            ok = False
        if not ok or form is None:
            unread.append(path.name)
            continue
        where = " ".join(str(form.fields.get(k) or "") for k in ("child_postcode", "child_address"))
        code = re.search(r"\b[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}\b", where)
        good.append(Golden(raw, str(form.fields["child_name"]), code.group(0) if code else ""))
    return good, unread


def _restamp(golden: Golden, i: int, sender: str, tag: str) -> tuple[bytes, str]:
    """A golden message with its own Message-ID, sender and child, and no threading headers.

    Most of the golden corpus is one child (Tamsin Featherby) in many partnerships' wordings;
    the child's surname and postcode are given a suffix of this referral's own, in every text
    part and in every XML part of the form, so the backlog is as many children as referrals.
    """
    msg = email.message_from_bytes(golden.raw, policy=email.policy.default)
    message_id = make_msgid(f"bench{tag}{i}", domain="agency.example.org")
    for name in ("Message-ID", "From", "In-Reply-To", "References", "Return-Path"):
        del msg[name]
    msg["Message-ID"] = message_id
    msg["From"] = f"Referrer {i} <{sender}>"
    surname = golden.child_name.replace(",", " ").split()[-1]
    own = surname + _letters(i).lower()
    swaps = [(surname, own), (surname.upper(), own.upper())]
    if golden.postcode:
        outward = golden.postcode.split()[0] if " " in golden.postcode else golden.postcode[:-3]
        swaps.append((golden.postcode, f"{outward} {i % 10}{_letters(i)}"))
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_content_maintype() == "text":
            text = part.get_content()
            for old, new in swaps:
                text = text.replace(old, new)
            part.set_content(text, subtype=part.get_content_subtype())
        elif part.get_content_type() == DOCX:
            name = part.get_filename()
            data = _swap_in_docx(part.get_content(), swaps)
            maintype, subtype = DOCX.split("/")
            part.set_content(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=email.policy.SMTP), message_id


def _swap_in_docx(docx: bytes, swaps: list[tuple[str, str]]) -> bytes:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(docx)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".xml"):
                text = data.decode("utf-8")
                for old, new in swaps:
                    text = text.replace(old, new)
                data = text.encode("utf-8")
            dst.writestr(info, data)
    return out.getvalue()


def make_referrals(n: int, tag: str = "", seed: int = 4) -> list[Referral]:
    """``n`` referrals, each about its own child: each golden referral once, then the own form and
    each docxfactory layout in turn with generated values, in a fixed shuffled order.

    A backlog is many children, not a few children many times: the same child from several
    referrers is linking (tests/test_intake_same_child.py), and repeating the golden referrals
    made a third of the backlog linked cases, with a notice each, which no Monday backlog has.
    """
    rng = random.Random(f"{seed}{tag}")
    golden, _unread = golden_referrals()
    own = ["formgen"] * 3 + [name for name, _ in LAYOUTS]
    kinds = [f"golden{k}" for k in range(min(n, len(golden)))]
    kinds += [own[k % len(own)] for k in range(n - len(kinds))]
    random.Random(seed).shuffle(kinds)
    builders = dict(LAYOUTS)
    out = []
    for i in range(n):
        kind = kinds[i]
        sender = f"referrer{i}.{tag or 'a'}@agency{i % 7}.example.org"
        if kind.startswith("golden"):
            raw, mid = _restamp(golden[int(kind[6:])], i, sender, tag)
        else:
            values = _values(i, rng)
            values["referrer_email"] = sender
            if kind == "formgen":
                docx = formgen.filled_referral(values)
            else:
                docx = builders[kind](_pairs(values, rng))
            raw, mid = _mail(i, sender, docx, f"CSPR referral {i}.docx", tag)
        out.append(Referral(raw, mid, sender, kind))
    return out


# --------------------------------------------------------------------------------------------------
# Servers and the config
# --------------------------------------------------------------------------------------------------


@contextmanager
def servers() -> Iterator[tuple[DovecotServer, SmtpServer]]:
    dovecot = DovecotServer()
    smtp = SmtpServer()
    try:
        dovecot.start()
        smtp.start()
        yield dovecot, smtp
    finally:
        smtp.stop()
        dovecot.close()


def write_config(
    folder: Path, dovecot: DovecotServer, smtp: SmtpServer, *, after: Path | None = None
) -> Path:
    """``folder/config.toml`` for a fresh store in ``folder/store``. ``after``: the folder of an
    earlier run, whose compiled templates and kept bank holidays the new store's folder starts
    with, as a store's folder keeps them from one run to the next (the first run of an
    installation compiles them, and asks the holidays package)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(config_text(dovecot.port, smtp.port, dovecot.user))
    kept = after / "store" / COMPILED_TEMPLATES if after is not None else None
    if kept is not None and kept.is_dir():
        shutil.copytree(kept, folder / "store" / COMPILED_TEMPLATES)
    holidays = after / "store" / BANK_HOLIDAYS if after is not None else None
    if holidays is not None and holidays.is_file():
        (folder / "store").mkdir(exist_ok=True)
        shutil.copy2(holidays, folder / "store" / BANK_HOLIDAYS)
    return path


# The golden corpus's labels and agencies (tests/golden/make_corpus.py's config): every config here
# and in bench/store_pass.py ends with them.
CORPUS_TABLES = """\
[labels]  # as tests/golden/make_corpus.py's config
"referral.incident_summary" = ["what has happened to the young person"]
"referral.child_name" = ["young person"]

[[agencies]]
name = "West Midlands Police"
email = "pvp@example.police.uk"
aliases = ["WMP", "Police"]

[[agencies]]
name = "Dudley Children's Services"
email = "childrens.services@example.gov.uk"
aliases = ["Children's Social Care", "CSC"]
"""


def config_text(imap_port: int, smtp_port: int, user: str = MAILBOX) -> str:
    return f"""\
[partnership]
mailbox = "{MAILBOX}"
coordinators = ["{COORDINATOR}"]

[imap]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{user}"
password_env = "{PASSWORD_ENV}"
poll_seconds = 60

[security]
sender_check = "none"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"

[store]
path = "store/cspr.json"

{CORPUS_TABLES}"""


def child_env(dovecot: DovecotServer) -> dict[str, str]:
    env = dict(os.environ)
    env[PASSWORD_ENV] = dovecot.password
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def fresh_mailbox(dovecot: DovecotServer) -> None:
    """An empty mailbox for a fresh store: each run is a new installation. (With mail the bot
    filed left in Processed, a new store is refused as a lost one: SPEC 10.)"""
    with dovecot.session() as c:
        for folder in ("Processed", "Needs triage", "Ignored", "Sent"):
            if c.folder_exists(folder):
                c.delete_folder(folder)
        c.select_folder("INBOX")
        uids = c.search(["ALL"])
        if uids:
            c.delete_messages(uids)
            c.expunge()


def move_all(dovecot: DovecotServer, source: str, destination: str) -> None:
    """Every message in ``source`` moved to ``destination``."""
    with dovecot.session() as c:
        c.select_folder(source)
        uids = c.search(["ALL"])
        if uids:
            c.move(uids, destination)
        c.close_folder()


def fill_inbox(dovecot: DovecotServer, referrals: list[Referral]) -> float:
    began = time.perf_counter()
    with dovecot.session() as c:
        for r in referrals:
            c.append("INBOX", r.raw)
    return time.perf_counter() - began


# --------------------------------------------------------------------------------------------------
# 1. The floor
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Floor:
    """The bare work of a pass, and beside it two informative figures that are not in the floor."""

    imap: float  # one connection, one UID FETCH of the whole backlog
    parse: float  # zipfile + lxml.etree.fromstring of each form's word/document.xml
    smtp: float  # one session sending 2N small messages: each referral's acknowledgement and notice
    messages: int
    forms: int
    mime: float  # informative: the stdlib (compat32) MIME walk that takes the forms out of the mail
    docx: float  # informative: python-docx Document() on the same forms (the bot no longer does it)
    smtp_half: float  # informative: the first N of those messages (the floor as issue 15 wrote it)

    @property
    def total(self) -> float:
        return self.imap + self.parse + self.smtp

    @property
    def total_one_message(self) -> float:
        """The floor with one message per referral, as issue 15 first wrote it (informative)."""
        return self.imap + self.parse + self.smtp_half


def _docx_parts(raws: list[bytes]) -> list[bytes]:
    """Every .docx attachment of every message (forwarded messages included), decoded."""
    out = []
    for raw in raws:
        for part in email.message_from_bytes(raw).walk():  # compat32: the stdlib's cheapest parse
            if (part.get_filename() or "").lower().endswith(".docx"):
                data = part.get_payload(decode=True)
                if isinstance(data, bytes):
                    out.append(data)
    return out


def measure_floor(dovecot: DovecotServer, smtp: SmtpServer, n: int) -> Floor:
    from docx import Document
    from imapclient import IMAPClient
    from lxml import etree

    began = time.perf_counter()
    client = IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=30)
    client.login(dovecot.user, dovecot.password)
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])  # imapclient 4 wants the UIDs themselves, not "1:*"
    data = client.fetch(uids, [b"BODY.PEEK[]"])  # one UID FETCH of the whole backlog
    client.logout()
    raws = [bytes(data[uid][b"BODY[]"]) for uid in sorted(data)]
    imap_s = time.perf_counter() - began

    began = time.perf_counter()
    forms = _docx_parts(raws)
    mime_s = time.perf_counter() - began

    began = time.perf_counter()
    for form in forms:
        with zipfile.ZipFile(io.BytesIO(form)) as z:
            etree.fromstring(z.read("word/document.xml"))
    parse_s = time.perf_counter() - began

    began = time.perf_counter()
    for form in forms:
        Document(io.BytesIO(form))
    docx_s = time.perf_counter() - began

    # Two messages a referral, as SPEC 3 asks of the run: the referrer's acknowledgement and the
    # coordinators' new-referral notice. The first N are timed too (the issue's first floor).
    sends = [(f"referrer{i}@example.org", "Referral received", i) for i in range(n)]
    sends += [(COORDINATOR, "New referral", i) for i in range(n)]
    before = len(smtp.messages)
    began = time.perf_counter()
    half_s = 0.0
    with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as conn:
        for k, (to, what, i) in enumerate(sends, 1):
            body = (
                f"From: {MAILBOX}\r\nTo: {to}\r\nSubject: {what}\r\n"
                f"Message-ID: <floor-{k}@example.gov.uk>\r\n\r\n{what}: {i}.\r\n"
            )
            conn.sendmail(MAILBOX, [to], body.encode())
            if k == n:
                smtp.wait_for(before + n, timeout=30)
                half_s = time.perf_counter() - began
    smtp.wait_for(before + 2 * n, timeout=30)
    smtp_s = time.perf_counter() - began
    return Floor(imap_s, parse_s, smtp_s, len(raws), len(forms), mime_s, docx_s, half_s)


FLOOR_FOLDER = "Floor"  # where bench/floor.py files the backlog (moved back before the run)
FLOOR_SENT = "Floor Sent"  # where it keeps its copies of what it sent


@dataclass(frozen=True)
class FloorProgram:
    """bench/floor.py: the bare work of the whole pass, as a process timed from start to exit."""

    seconds: float  # wall clock, from the spawn to the exit, as run --once is timed
    steps: dict[str, float]  # its own timing of each step (start = its imports)
    messages: int
    forms: int

    @property
    def interpreter(self) -> float:
        """Starting Python itself, and what no step timed (the exit)."""
        return max(0.0, self.seconds - sum(self.steps.values()))


def measure_floor_program(
    dovecot: DovecotServer, smtp: SmtpServer, n: int, folder: Path
) -> FloorProgram:
    """Run bench/floor.py on the backlog in INBOX, then put the backlog back in INBOX."""
    with dovecot.session() as c:
        for name in (FLOOR_FOLDER, FLOOR_SENT):
            if not c.folder_exists(name):
                c.create_folder(name)
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "floor.py"),
        f"--imap-port={dovecot.port}",
        f"--user={dovecot.user}",
        f"--smtp-port={smtp.port}",
        f"--n={n}",
        f"--move-to={FLOOR_FOLDER}",
        f"--sent={FLOOR_SENT}",
        f"--record={folder / 'floor-record.jsonl'}",
    ]
    before = len(smtp.messages)
    began = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=child_env(dovecot), cwd=folder)
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"bench/floor.py exited {proc.returncode}: {proc.stderr.decode()}")
    out = json.loads(proc.stdout)
    smtp.wait_for(before + 2 * n, timeout=30)
    move_all(dovecot, FLOOR_FOLDER, "INBOX")  # the backlog back in INBOX for the run
    with dovecot.session() as c:  # the copies gone
        for name in (FLOOR_FOLDER, FLOOR_SENT):
            c.delete_folder(name)
    return FloorProgram(seconds, out["seconds"], out["messages"], out["forms"])


def measure_resend(smtp: SmtpServer, messages: tuple[bytes, ...], folder: Path) -> float:
    """Informative: the messages a run sent, sent again by bench/floor.py in one SMTP session,
    in a process of their own: what the SMTP server takes to accept those very bytes."""
    from floor import write_messages

    path = folder / "resend.msgs"
    write_messages(str(path), list(messages))
    before = len(smtp.messages)
    cmd = [sys.executable, str(ROOT / "bench" / "floor.py"), "--resend", smtp.host, str(smtp.port)]
    proc = subprocess.run([*cmd, str(path)], capture_output=True, check=True)
    smtp.wait_for(before + len(messages), timeout=30)
    path.unlink()
    return float(json.loads(proc.stdout)["seconds"])


# --------------------------------------------------------------------------------------------------
# 2. run --once
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnceResult:
    seconds: float
    exit_code: int
    peak_rss_mb: float
    acks: int
    notices: int
    sent_total: int
    sent_raw: tuple[bytes, ...]  # what the SMTP server got from the run, for measure_resend
    inbox_left: int
    processed: int
    log: Path


def _in_reply_to(received: Any) -> str:
    """The In-Reply-To of a received message (a long one is folded: strip the white space)."""
    return str(received.message["In-Reply-To"] or "").strip()


def _template(received: Any) -> str:
    return str(received.message["X-CSPR-Mailbot"] or "").strip()


@contextmanager
def watching_peak_rss(pid: int, every: float = 0.01) -> Iterator[dict[str, int]]:
    """The peak RSS (``VmHWM``, KiB) of process ``pid``, read from /proc while it runs.

    Not ``ru_maxrss`` from ``wait4``: Linux carries the high-water mark of the process that spawned
    the child across ``exec``, so a child of this benchmark (which holds every message the SMTP
    server got, and grows run after run) reported the benchmark's size, not its own. ``VmHWM`` is
    the child's own address space from its ``exec`` on; the last reading before it exits is its
    peak (the memory of an exiting process only shrinks).
    """
    peak = {"kib": 0}
    done = threading.Event()
    path = f"/proc/{pid}/status"

    def watch() -> None:
        while not done.is_set():
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak["kib"] = max(peak["kib"], int(line.split()[1]))
                            break
            except (OSError, ValueError):
                return
            done.wait(every)

    thread = threading.Thread(target=watch, name="peak-rss", daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def run_once(
    cfg: Path, dovecot: DovecotServer, smtp: SmtpServer, refs: list[Referral]
) -> OnceResult:
    before = len(smtp.messages)
    log = cfg.parent / "run-once.log"
    cmd = [sys.executable, "-m", "cspr_mailbot", "-c", str(cfg), "run", "--once", "--now", NOW]
    with open(log, "wb") as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=err, env=child_env(dovecot), cwd=cfg.parent
        )
        with watching_peak_rss(proc.pid) as peak:
            _pid, status, _usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    received = smtp.messages[before:]
    ids = {r.message_id for r in refs}
    acks = {
        _in_reply_to(m)
        for m in received
        if _in_reply_to(m) in ids and _template(m) == "acknowledgement"
    }
    notices = [m for m in received if _template(m) == "new_referral" and COORDINATOR in m.rcpt_tos]
    return OnceResult(
        seconds=seconds,
        exit_code=proc.returncode,
        peak_rss_mb=peak["kib"] / 1024,
        acks=len(acks),
        notices=len(notices),
        sent_total=len(received),
        sent_raw=tuple(m.raw for m in received),
        inbox_left=dovecot.folder_count("INBOX"),
        processed=dovecot.folder_count("Processed"),
        log=log,
    )


# --------------------------------------------------------------------------------------------------
# 3. Latency with the daemon on IDLE
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    seconds: list[float]
    exit_code: int | None
    log: Path


def _wait_for_reply(smtp: SmtpServer, message_id: str, timeout: float) -> float | None:
    """perf_counter when an acknowledgement with In-Reply-To ``message_id`` is on the server."""
    deadline = time.perf_counter() + timeout
    seen = 0
    while time.perf_counter() < deadline:
        messages = smtp.messages
        for m in messages[seen:]:
            if _in_reply_to(m) == message_id and _template(m) == "acknowledgement":
                return time.perf_counter()
        seen = len(messages)
        time.sleep(0.002)
    return None


def _wait_for_log(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def measure_latency(cfg: Path, dovecot: DovecotServer, smtp: SmtpServer, rounds: int) -> Latency:
    refs = make_referrals(rounds + 1, tag="lat")
    log = cfg.parent / "daemon.log"
    cmd = [sys.executable, "-m", "cspr_mailbot", "-c", str(cfg), "run"]
    samples: list[float] = []
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=err, env=child_env(dovecot), cwd=cfg.parent
        )
    try:
        if not _wait_for_log(log, "connected to the mailbox", proc, 30):
            raise RuntimeError(f"the daemon did not connect; see {log}")
        # The first referral warms it up (its first pass, the digest, the Sent folder); not counted.
        for k, ref in enumerate(refs):
            time.sleep(1.0)  # let it finish the last pass and settle in IDLE, as between real mails
            dovecot.append(ref.raw)
            began = time.perf_counter()
            got = _wait_for_reply(smtp, ref.message_id, timeout=60)
            if got is None:
                raise RuntimeError(f"no acknowledgement within 60 s; see {log}")
            if k:
                samples.append(got - began)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Latency(samples, code, log)


# --------------------------------------------------------------------------------------------------
# 4. In-process: the per-phase table from cProfile (and tracemalloc) of App.run_once
# --------------------------------------------------------------------------------------------------

# Which phase a function's time belongs to, by the module it is defined in (a prefix, so that a
# module split into a package, core/forms.py -> core/forms/, still matches) and, where one module
# serves two phases, by the start of the function's name. The first rule that matches wins.
#
#   phase        module prefix                        function names
#   fetch        cspr_mailbot.adapters.mailbox         fetch*, _fetch*, _check_same
#   move         cspr_mailbot.adapters.mailbox         move*, append*, _ensure_folder (the MOVE to
#                                                      the folder, and the copies in Sent)
#   send         cspr_mailbot.adapters.smtp            all
#   render       cspr_mailbot.adapters.outbox          all (templates, headers, the privacy check)
#                cspr_mailbot.adapters.mime            all (the wire bytes of a message)
#   store        cspr_mailbot.adapters.store           all (transactions, the journal, fdatasync)
#   parse        cspr_mailbot.core.message             all (the MIME parse of the inbound mail)
#   read forms   cspr_mailbot.core.forms*              all (reading the .docx: lxml, the label walk)
#                cspr_mailbot.core.attachments         all (vetting the .docx)
#   decide       cspr_mailbot.core.workflow*, .classify, .screening, .commands, .clocks, .digest,
#                .report                               all (what to do, and what the schedule makes due)
#   other        cspr_mailbot.app, .cli, .daemon       all (the pass's own bookkeeping)
#   (inherit)    cspr_mailbot.core.models, .ukdates, .workdays, cspr_mailbot.errors, .config, and
#                every module outside cspr_mailbot (email, jinja2, lxml, imapclient, tinydb, the
#                interpreter's built-ins): no phase of their own, their time goes to their callers'
#
# Any other cspr_mailbot module (one renamed or new) inherits too, and the table names it so that
# this list can be brought up to date. An inheriting function's time is split between its callers'
# phases in proportion to the time spent under each caller (cProfile keeps one level of callers),
# so a helper shared by two phases is shared out fairly, if not exactly. Each function's own time
# is counted once: the phases add up to the whole pass, and a phase called from another (forms
# from workflow, the store from everywhere) counts in its own row only.
PHASES = ("fetch", "parse", "read forms", "decide", "render", "store", "move", "send", "other")
INHERIT = None
_PREFIX = "cspr_mailbot."
PHASE_RULES: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("adapters.mailbox", ("fetch", "_fetch", "_check_same"), "fetch"),
    ("adapters.mailbox", ("move", "append", "_ensure_folder"), "move"),
    ("adapters.smtp", (), "send"),
    ("adapters.outbox", (), "render"),
    ("adapters.mime", (), "render"),
    ("adapters.store", (), "store"),
    ("core.message", (), "parse"),
    ("core.forms", (), "read forms"),
    ("core.attachments", (), "read forms"),
    ("core.workflow", (), "decide"),
    ("core.classify", (), "decide"),
    ("core.screening", (), "decide"),
    ("core.commands", (), "decide"),
    ("core.clocks", (), "decide"),
    ("core.digest", (), "decide"),
    ("core.report", (), "decide"),
    ("app", (), "other"),
    ("cli", (), "other"),
    ("daemon", (), "other"),
    ("core.models", (), INHERIT),
    ("core.ukdates", (), INHERIT),
    ("core.workdays", (), INHERIT),
    ("errors", (), INHERIT),
    ("config", (), INHERIT),
    ("adapters.mailbox", (), INHERIT),  # _guard, _require, ...: whatever operation they serve
)

Func = tuple[str, int, str]  # pstats' key: file, line, function name


def phase_of(module: str, function: str) -> tuple[str | None, bool]:
    """(phase or None to inherit, whether a rule matched); ``module`` is a dotted module name."""
    if not module.startswith(_PREFIX):
        return INHERIT, True
    rest = module[len(_PREFIX) :]
    for prefix, names, phase in PHASE_RULES:
        if (rest == prefix or rest.startswith(prefix)) and (
            not names or function.startswith(names)
        ):
            return phase, True
    return INHERIT, False


@dataclass(frozen=True)
class PhaseRow:
    phase: str
    seconds: float
    entries: list[
        tuple[str, float, int]
    ]  # the phase's busiest functions: name, cumulative s, calls


@dataclass(frozen=True)
class PhaseTable:
    rows: list[PhaseRow]
    total: float  # the profile's total (own times of every function)
    wall: float  # the pass's wall clock under the profiler
    setup: float  # before the pass, not profiled: imports, the config, the store, the IMAP login
    unmatched: dict[str, float]  # cspr_mailbot modules no rule names: own seconds
    fsync: int
    fdatasync: int
    counts: dict[str, int]  # calls of a few telling functions (moves, sends, renders)


def module_of(path: str) -> str:
    """The dotted module name of a source file of this repo ("" for any other file or a built-in)."""
    if path in ("~", "") or path.startswith("<"):
        return ""
    try:
        rel = Path(path).resolve().relative_to(ROOT)
    except ValueError:
        return ""
    parts = rel.with_suffix("").parts
    if not parts or "site-packages" in parts or parts[0].startswith("."):
        return ""  # the venv inside the repo
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _builtin_module(func: Func) -> str:
    """The module of a built-in or of a file outside the repo, as far as pstats tells it."""
    path, _line, name = func
    if path == "~":
        # "<built-in method posix.fdatasync>", "<method 'recv_into' of '_socket.socket' objects>"
        dotted = [w for w in name.strip("<>").replace("'", "").split() if "." in w]
        return dotted[-1].split(".")[0] if dotted else "builtins"
    if path.startswith("<frozen "):  # "<frozen importlib._bootstrap>"
        return path.removeprefix("<frozen ").split(".")[0].rstrip(">")
    parts = Path(path).parts
    if "site-packages" in parts:
        rest = parts[parts.index("site-packages") + 1 :]
        return rest[0].removesuffix(".py") if rest else path
    lib = [i for i, part in enumerate(parts) if part.startswith("python3")]
    if lib and lib[-1] + 1 < len(parts):
        return parts[lib[-1] + 1].removesuffix(".py")
    return Path(path).stem


def phase_table(
    stats: dict[Func, Any], wall: float, setup: float, fsync: int, fdatasync: int
) -> PhaseTable:
    """Own time of every function, given to a phase by PHASE_RULES (see there)."""
    real: dict[str, str] = {}
    fixed: dict[Func, str] = {}  # functions whose module names their phase
    unmatched: dict[str, float] = {}
    for func in stats:
        path, _line, name = func
        if path not in real:
            real[path] = module_of(path)
        module = real[path]
        phase, matched = phase_of(module, name)
        if phase is not None:
            fixed[func] = phase
        if not matched:
            unmatched[module] = unmatched.get(module, 0.0) + stats[func][2]

    # Inheriting functions take their callers' mix of phases, weighted by the time under each
    # caller. Callers mostly have more cumulative time than their callees, so sweeping from the
    # largest cumulative time down settles in a few sweeps (recursion aside, which the cap ends).
    share: dict[Func, dict[str, float]] = {f: {p: 1.0} for f, p in fixed.items()}
    order = sorted((f for f in stats if f not in fixed), key=lambda f: -stats[f][3])
    for _sweep in range(8):
        changed = False
        for func in order:
            callers = stats[func][4]
            mix: dict[str, float] = {}
            weight = 0.0
            for caller, edge in callers.items():
                if caller == func or caller not in share:
                    continue
                w = edge[3] or 1e-9  # the callee's cumulative time under that caller
                weight += w
                for p, s in share[caller].items():
                    mix[p] = mix.get(p, 0.0) + w * s
            if not weight:
                continue
            new = {p: s / weight for p, s in mix.items()}
            old = share.get(func)
            if old is None or any(abs(new.get(p, 0.0) - s) > 1e-6 for p, s in old.items()):
                share[func] = new
                changed = True
        if not changed:
            break

    seconds = dict.fromkeys(PHASES, 0.0)
    other_by_module: dict[str, float] = {}  # what "other" holds, by module (package outside ours)
    for func, (_cc, _nc, tt, _ct, _callers) in stats.items():
        for p, s in share.get(func, {"other": 1.0}).items():
            seconds[p] += tt * s
            if p == "other":
                module = real[func[0]]
                key = module.removeprefix(_PREFIX) if module else _builtin_module(func)
                other_by_module[key] = other_by_module.get(key, 0.0) + tt * s

    # Each phase's busiest functions of its own (by cumulative time), to say what a row holds.
    entries: dict[str, list[tuple[str, float, int]]] = {p: [] for p in PHASES}
    for func, p in fixed.items():
        _cc, nc, _tt, ct, _callers = stats[func]
        short = real[func[0]].removeprefix(_PREFIX)
        entries[p].append((f"{short}.{func[2]}", ct, nc))
    rows = [PhaseRow(p, seconds[p], sorted(entries[p], key=lambda e: -e[1])[:2]) for p in PHASES]
    # "other" is the pass's own bookkeeping: its functions' cumulative times are the whole pass,
    # so say instead where its own time is spent, by module.
    by_module = sorted(other_by_module.items(), key=lambda e: -e[1])[:3]
    rows[-1] = PhaseRow("other", seconds["other"], [(f"{m} (own)", t, 0) for m, t in by_module])
    counts = {}
    for label, module, name in (
        ("IMAP moves", "adapters.mailbox", "move"),
        ("SMTP sends", "adapters.smtp", "send"),
        ("renders", "adapters.outbox", "render"),
    ):
        calls = [
            stats[f][1]
            for f in fixed
            if f[2] == name and real[f[0]].removeprefix(_PREFIX).startswith(module)
        ]
        if calls:
            counts[label] = sum(calls)
    total = sum(v[2] for v in stats.values())
    small = {m or "?": s for m, s in unmatched.items() if m.startswith(_PREFIX)}
    return PhaseTable(rows, total, wall, setup, small, fsync, fdatasync, counts)


def print_phase_table(table: PhaseTable, n: int) -> None:
    print(
        f"per phase: cProfile of run --once (cli.main in a process of its own; {n} fresh referrals, "
        f"a fresh store): {table.wall:.2f} s under the profiler, which slows Python code more than "
        f"waits; imports before it {table.setup:.2f} s, not profiled"
    )
    print(
        f"  {'phase':<11} {'s':>6} {'share':>6} {'ms/ref':>7}   busiest functions (cumulative s, calls)"
    )
    for row in table.rows:
        share = row.seconds / table.total if table.total else 0.0
        busiest = ", ".join(
            f"{name} {ct:.2f}" + (f" ({nc})" if nc else "") for name, ct, nc in row.entries
        )
        print(
            f"  {row.phase:<11} {row.seconds:6.2f} {share:6.1%} {row.seconds / n * 1000:7.1f}   "
            f"{busiest}"
        )
    print(f"  {'total':<11} {table.total:6.2f} {1:6.0%} {table.total / n * 1000:7.1f}")
    if table.unmatched:
        names = ", ".join(f"{m} {s:.2f} s" for m, s in sorted(table.unmatched.items()))
        print(f"  modules no rule names (their time went to their callers' phases): {names}")
    counted = ", ".join(f"{v} {k}" for k, v in table.counts.items())
    print(
        f"  counted in the pass: {counted}, {table.fdatasync} fdatasync + {table.fsync} fsync "
        f"({(table.fdatasync + table.fsync) / n:.1f} per referral)"
    )


@contextmanager
def counting_syncs() -> Iterator[dict[str, int]]:
    """Count os.fsync and os.fdatasync calls in this process (the store looks them up on os)."""
    counts = {"fsync": 0, "fdatasync": 0}
    real_fsync, real_fdatasync = os.fsync, os.fdatasync

    def fsync(fd: Any) -> None:
        counts["fsync"] += 1
        real_fsync(fd)

    def fdatasync(fd: Any) -> None:
        counts["fdatasync"] += 1
        real_fdatasync(fd)

    os.fsync, os.fdatasync = fsync, fdatasync
    try:
        yield counts
    finally:
        os.fsync, os.fdatasync = real_fsync, real_fdatasync


def _in_process_app(cfg_path: Path, dovecot: DovecotServer | None = None) -> Any:
    if dovecot is not None:
        os.environ[PASSWORD_ENV] = dovecot.password
    from cspr_mailbot.adapters.store import Store
    from cspr_mailbot.config import load_config
    from cspr_mailbot.wiring import build_app

    cfg = load_config(str(cfg_path))
    app = build_app(cfg, Store(cfg.store_path, reference_prefix=cfg.partnership.reference_prefix))
    app.source.connect()
    return app


def profile_child(cfg_path: Path, out: Path) -> int:
    """``--profile-child``: the real ``run --once`` (``cli.main``) under cProfile, in its own process.

    Its own process, as ``run --once`` is, so that the SMTP server's thread in the benchmark's
    process does not compete with the profiled pass for the GIL. The package is imported first, not
    profiled (that is start-up, not the pass; it is timed as ``setup``). Writes ``out``.prof
    (pstats) and ``out``.json (timings, the fsync counts and the exit code).
    """
    began = time.perf_counter()
    import cspr_mailbot.app  # noqa: F401 - imported now, not in the profile
    import cspr_mailbot.cli

    setup = time.perf_counter() - began
    argv = ["-c", str(cfg_path), "run", "--once", "--now", NOW]
    profiler = cProfile.Profile()
    with counting_syncs() as syncs:
        began = time.perf_counter()
        profiler.enable()
        code = cspr_mailbot.cli.main(argv)
        profiler.disable()
        wall = time.perf_counter() - began
    profiler.dump_stats(str(out.with_suffix(".prof")))
    info = {"setup": setup, "wall": wall, "exit": code, **syncs}
    out.with_suffix(".json").write_text(json.dumps(info))
    return 0


def profile_pass(
    folder: Path,
    dovecot: DovecotServer,
    smtp: SmtpServer,
    n: int,
    top: int,
    after: Path | None = None,
) -> tuple[PhaseTable, str]:
    """The per-phase table of a profiled ``run_once`` on a fresh backlog and store, in a child."""
    cfg = write_config(folder, dovecot, smtp, after=after)
    fresh_mailbox(dovecot)
    fill_inbox(dovecot, make_referrals(n, tag="prof"))
    out = folder / "profile"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--profile-child", str(cfg), str(out)]
    with open(folder / "profile.log", "wb") as err:
        code = subprocess.call(
            cmd, stdout=subprocess.DEVNULL, stderr=err, env=child_env(dovecot), cwd=folder
        )
    if code != 0:
        raise RuntimeError(f"the profiled pass exited {code}; see {folder / 'profile.log'}")
    info = json.loads(out.with_suffix(".json").read_text())
    if info["exit"] != 0:
        raise RuntimeError(
            f"the profiled run --once exited {info['exit']}; see {folder}/profile.log"
        )
    text = io.StringIO()
    stats = pstats.Stats(str(out.with_suffix(".prof")), stream=text)
    table = phase_table(
        stats.stats,  # type: ignore[attr-defined]
        info["wall"],
        info["setup"],
        info["fsync"],
        info["fdatasync"],
    )
    if top > 0:
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top)
    return table, text.getvalue()


def tracemalloc_pass(
    folder: Path, dovecot: DovecotServer, smtp: SmtpServer, n: int
) -> tuple[float, float]:
    from cspr_mailbot.cli import parse_now

    cfg = write_config(folder, dovecot, smtp)
    fresh_mailbox(dovecot)
    fill_inbox(dovecot, make_referrals(n, tag="mem"))
    app = _in_process_app(cfg, dovecot)
    tracemalloc.start()
    began = time.perf_counter()
    app.run_once(parse_now(NOW))
    seconds = time.perf_counter() - began
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    app.source.close()
    return seconds, peak / 2**20


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


PROBE_LOOPS = 300_000
STEADY = 1.3  # probes of one run further apart than this: the machine's speed changed meanwhile


def speed_probe() -> float:
    """Milliseconds for a fixed pure-Python loop: how fast the machine is just now.

    On the shared 2-core hosts these figures come from, the same loop took 19-22 ms for some
    seconds and 35-43 ms for the next ones, with nothing else running and a load average of 0
    (2 December 2026): a floor and a run timed seconds apart can see different machines. The probe
    is taken before the floor, before the run and after it, and printed beside each run's ratio;
    it changes no figure and no verdict.
    """
    began = time.perf_counter()
    total = 0
    for k in range(PROBE_LOOPS):
        total += k * k
    return (time.perf_counter() - began) * 1000


@dataclass(frozen=True)
class Run:
    """One run and its floor, timed before it and again after it (``ratio``: against their mean).

    The machine's own speed moves by a factor of up to 2 from one few seconds to the next (the
    probes); a floor timed only before the run met another machine than the run as often as not.
    Timed on each side, a change of speed during the run weighs on the floor as on the run.
    """

    floor: FloorProgram  # bench/floor.py, the bare work of the whole pass, just before the run
    floor_after: FloorProgram  # the same program on the same backlog, just after the run
    literal: Floor  # issue 15's floor as it listed it, in this process (informative)
    once: OnceResult
    resend: float  # informative: the run's own messages sent again, bare (measure_resend)
    probes: tuple[float, float, float]  # speed_probe() before the floor, before the run, after it

    @property
    def steady(self) -> bool:
        return max(self.probes) <= STEADY * min(self.probes)

    @property
    def floor_seconds(self) -> float:
        """The floor of this run: the mean of the floor before it and the floor after it."""
        return (self.floor.seconds + self.floor_after.seconds) / 2

    @property
    def ratio(self) -> float:
        return self.once.seconds / self.floor_seconds

    @property
    def ratio_before(self) -> float:
        """Against the floor before the run alone, as this bench measured until 2 December 2026."""
        return self.once.seconds / self.floor.seconds

    @property
    def literal_ratio(self) -> float:
        return self.once.seconds / self.literal.total


def one_run(
    k: int, work: Path, dovecot: DovecotServer, smtp: SmtpServer, n: int, broken: list[str]
) -> tuple[Run, Path]:
    """A fresh backlog of ``n`` (its own Message-IDs) and a fresh store; the floor, then the run."""
    refs = make_referrals(n, tag=f"r{k}" if k else "")
    cfg = write_config(work / f"once{k + 1}", dovecot, smtp, after=work / f"once{k}" if k else None)
    fresh_mailbox(dovecot)
    fill_inbox(dovecot, refs)
    literal = measure_floor(dovecot, smtp, n)
    before_floor = speed_probe()
    floor = measure_floor_program(dovecot, smtp, n, work / f"floor{k + 1}")
    for what, got in (("the floor", floor.messages), ("the in-process floor", literal.messages)):
        if got != n:
            broken.append(f"run {k + 1}: {what} fetched {got} messages, not {n}")
    if dovecot.folder_count("INBOX") != n:
        broken.append(f"run {k + 1}: the floor left {dovecot.folder_count('INBOX')} in INBOX")
    before_run = speed_probe()
    once = run_once(cfg, dovecot, smtp, refs)
    probes = (before_floor, before_run, speed_probe())
    if once.exit_code != 0:
        broken.append(f"run {k + 1}: run --once exited {once.exit_code}; see {once.log}")
    if once.acks != n or once.notices != n:
        broken.append(
            f"run {k + 1}: {once.acks} acknowledgements and {once.notices} notices, not {n}"
        )
    if once.inbox_left != 0 or once.processed != n:
        broken.append(f"run {k + 1}: INBOX holds {once.inbox_left}, Processed {once.processed}")
    resend = measure_resend(smtp, once.sent_raw, cfg.parent)
    move_all(dovecot, "Processed", "INBOX")  # the run's backlog, for the floor after it
    floor_after = measure_floor_program(dovecot, smtp, n, work / f"floor{k + 1}-after")
    move_all(dovecot, "INBOX", "Processed")  # as the run left it, for what follows on its store
    if floor_after.messages != n:
        broken.append(f"run {k + 1}: the floor after it fetched {floor_after.messages}, not {n}")
    return Run(floor, floor_after, literal, once, resend, probes), cfg


def print_runs(runs: list[Run], n: int) -> None:
    """The headline figures (medians over the runs), and with several runs each run and the spread."""
    med_run = statistics.median(r.once.seconds for r in runs)
    med_floor = statistics.median(r.floor_seconds for r in runs)
    ratios = [r.ratio for r in runs]
    worst = max(ratios)
    rep = sorted(runs, key=lambda r: r.ratio)[len(runs) // 2]  # the median-ratio run's details
    fp, f, once = rep.floor, rep.literal, rep.once
    of = f" (median of {len(runs)})" if len(runs) > 1 else ""
    which = "   [the median-ratio run]" if len(runs) > 1 else ""
    print(f"N                         {n}")
    print(f"run --once                {med_run:.2f} s{of} (exit {once.exit_code})")
    print(f"referrals per second      {n / med_run:.1f}")
    print(
        f"sent by the run           {once.sent_total} messages "
        f"({once.acks} acknowledgements, {once.notices} new-referral notices)"
    )
    print(
        f"bare floor (bench/floor.py, a process timed as run --once is, just before the run and "
        f"just after it: their mean) {med_floor:.2f} s{of}"
    )
    steps = " + ".join(f"{name} {secs:.2f}" for name, secs in fp.steps.items())
    print(f"  of which                Python {fp.interpreter:.2f} + {steps}{which}")
    print(
        f"  ({fp.messages} messages fetched, {fp.forms} forms read, {2 * n} messages sent and "
        f"copied to Sent, one record with one fdatasync, one UID MOVE)"
    )
    print(
        f"  not in the floor: the run's own {len(once.sent_raw)} messages ("
        f"{sum(map(len, once.sent_raw)) / 2**20:.1f} MiB), sent again in one session by a bare "
        f"client: {rep.resend:.2f} s, against {fp.steps.get('send', 0.0):.2f} s for the floor's "
        f"{2 * n} small ones"
    )
    print(
        f"ratio to the floor        {statistics.median(ratios):.2f}x{of}, worst {worst:.2f}x   "
        f"goal < {GOAL_RATIO:.0f}x in every run: {verdict(worst < GOAL_RATIO)}"
    )
    literal = [r.literal_ratio for r in runs]
    print(
        f"not the floor, issue 15's list in this process (no Python start, no MIME, no record, "
        f"move or Sent copy): {statistics.median(r.literal.total for r in runs):.2f} s{of} = "
        f"IMAP {f.imap:.2f} + lxml {f.parse:.2f} + SMTP {f.smtp:.2f}; ratio "
        f"{statistics.median(literal):.2f}x, worst {max(literal):.2f}x"
    )
    one = [r.once.seconds / r.literal.total_one_message for r in runs]
    print(
        f"not the floor, and one message a referral (issue 15's first floor, SMTP "
        f"{f.smtp_half:.2f} s for {n}): ratio {statistics.median(one):.2f}x{of}"
    )
    docx_floor = f.imap + f.docx + f.smtp
    print(
        f"not the floor, python-docx: Document() on the same {f.forms} forms {f.docx:.2f} s "
        f"({f.docx / max(f.forms, 1) * 1000:.1f} ms a form); with it in place of lxml the list "
        f"would be {docx_floor:.2f} s, ratio {once.seconds / docx_floor:.2f}x"
    )
    peak = max(r.once.peak_rss_mb for r in runs)
    print(
        f"peak RSS (run --once)     {peak:.1f} MB{' (largest)' if len(runs) > 1 else ''}   "
        f"goal < {GOAL_MB:.0f} MB: {verdict(peak < GOAL_MB)}"
    )
    if len(runs) > 1:
        print()
        print(
            f"  {'run':>3} {'run --once':>10} {'floor':>6} {'ratio':>6} {'before':>6} {'after':>6} "
            f"{'ratio':>6} {'list':>6} {'ratio':>6} {'ref/s':>6} {'RSS MB':>7}  "
            "probe ms (floor/run/after)"
        )
        for k, r in enumerate(runs, 1):
            print(
                f"  {k:>3} {r.once.seconds:9.2f}s {r.floor_seconds:5.2f}s {r.ratio:5.2f}x "
                f"{r.floor.seconds:5.2f}s {r.floor_after.seconds:5.2f}s {r.ratio_before:5.2f}x "
                f"{r.literal.total:5.2f}s {r.literal_ratio:5.2f}x "
                f"{n / r.once.seconds:6.1f} {r.once.peak_rss_mb:7.1f}  "
                + "/".join(f"{p:.0f}" for p in r.probes)
                + ("" if r.steady else "  speed changed")
            )
        print(
            f"  ratio spread: min {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x, "
            f"max {worst:.2f}x; run {min(r.once.seconds for r in runs):.2f}-"
            f"{max(r.once.seconds for r in runs):.2f} s, floor "
            f"{min(r.floor_seconds for r in runs):.2f}-{max(r.floor_seconds for r in runs):.2f} s"
        )
        before = [r.ratio_before for r in runs]
        print(
            f"  against the floor before the run alone (the ratio until 2 December 2026): min "
            f"{min(before):.2f}x, median {statistics.median(before):.2f}x, max {max(before):.2f}x"
        )
        steady = [k for k, r in enumerate(runs, 1) if r.steady]
        print(
            f"  machine speed (speed_probe, a fixed loop): steady (within {STEADY}x) through "
            f"runs {', '.join(map(str, steady)) or 'none'}; the others' floor and run may have "
            f"met different speeds. The verdict counts every run."
        )
        print(
            "  run 1 compiles the templates, as an installation's first run does; each later run's "
            "fresh store starts with them compiled, as a store's folder keeps them between runs"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=150, help="referrals in the backlog (default 150)")
    p.add_argument("--runs", type=int, default=1, help="floor + run --once, K times (default 1)")
    p.add_argument("--latency", type=int, default=7, help="referrals timed on IDLE (default 7)")
    p.add_argument("--no-profile", action="store_true", help="no per-phase table")
    p.add_argument(
        "--top", type=int, default=0, help="also print the top N functions of the profile"
    )
    p.add_argument(
        "--tracemalloc", action="store_true", help="also an in-process pass under tracemalloc"
    )
    p.add_argument("--keep", action="store_true", help="keep the work folder (config, store, logs)")
    p.add_argument("--profile-child", nargs=2, metavar=("CFG", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.profile_child:
        return profile_child(Path(args.profile_child[0]), Path(args.profile_child[1]))
    n = args.n
    # SIGTERM unwinds like Ctrl-C, so the private Dovecot and the SMTP server are stopped.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(128 + signal.SIGTERM))
    logging.getLogger("mailparser").setLevel(logging.ERROR)  # its chatter about odd MIME parts

    # Bytecode, as pip leaves an installed package: without it (PYTHONDONTWRITEBYTECODE, a fresh
    # clone) every run --once would compile the package again first, ~0.15 s no installation pays.
    compileall.compile_dir(str(ROOT / "cspr_mailbot"), quiet=1)
    work = Path(tempfile.mkdtemp(prefix="cspr-bench-intake-"))
    refs = make_referrals(n)
    kinds: dict[str, int] = {}
    for r in refs:
        kinds[r.kind] = kinds.get(r.kind, 0) + 1
    print(f"referrals: {n} ({', '.join(f'{k} {v}' for k, v in kinds.items())})")
    print(f"mean message size: {sum(len(r.raw) for r in refs) / n / 1024:.1f} KiB")
    _golden, unread = golden_referrals()
    if unread:
        print(f"left out, the bot does not read them completely today: {', '.join(unread)}")
    load = os.getloadavg()
    print(
        f"load average at the start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
    )
    broken: list[str] = []
    try:
        with servers() as (dovecot, smtp):
            runs: list[Run] = []
            cfg = work
            for k in range(max(1, args.runs)):
                run, cfg = one_run(k, work, dovecot, smtp, n, broken)
                runs.append(run)
                if args.runs > 1:
                    print(
                        f"run {k + 1}/{args.runs}: run --once {run.once.seconds:.2f} s, "
                        f"floor {run.floor.seconds:.2f} s before, {run.floor_after.seconds:.2f} s "
                        f"after, ratio {run.ratio:.2f}x "
                        f"(issue 15's list in process {run.literal.total:.2f} s, "
                        f"{run.literal_ratio:.2f}x)",
                        flush=True,
                    )

            latency = measure_latency(cfg, dovecot, smtp, args.latency)
            if latency.exit_code != 0:
                broken.append(
                    f"the daemon exited {latency.exit_code} on SIGTERM; see {latency.log}"
                )
            table: PhaseTable | None = None
            if not args.no_profile:
                table, text = profile_pass(work / "prof", dovecot, smtp, n, args.top, cfg.parent)

            print()
            print_runs(runs, n)
            med = statistics.median(latency.seconds)
            print(
                f"delivery -> ack (IDLE)    median {med:.2f} s, max {max(latency.seconds):.2f} s "
                f"over {len(latency.seconds)}   goal < {GOAL_LATENCY:.0f} s: "
                f"{verdict(med < GOAL_LATENCY)}"
            )
            print(f"daemon exit on SIGTERM    {latency.exit_code}")
            if table is not None:
                syncs = (table.fdatasync + table.fsync) / n
                print(f"fdatasync per referral    {syncs:.1f} (counted in the profiled pass)")
                print()
                print_phase_table(table, n)
                if args.top > 0:
                    print(text)
            load = os.getloadavg()
            print(f"load average at the end:  {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

            if args.tracemalloc:
                secs, peak = tracemalloc_pass(work / "mem", dovecot, smtp, n)
                print(f"in-process pass, tracemalloc: {secs:.2f} s, peak Python heap {peak:.1f} MB")
    except Exception as exc:  # noqa: BLE001 - report what broke, keep the work folder
        broken.append(f"{type(exc).__name__}: {exc}")
        args.keep = True
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if broken:
        print()
        for problem in broken:
            print(f"BROKEN: {problem}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
