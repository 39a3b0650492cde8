"""Benchmark of intake end to end (issue 4): a backlog of referrals through a real Dovecot and SMTP.

It starts a private Dovecot and an aiosmtpd server (tests/servers.py), fills the INBOX with a backlog
of N referrals (varied forms: the project's own form with varied values, every layout of
tests/docxfactory.py, and the good referrals of tests/golden/*.eml when that folder exists), then:

1. the floor: the bare work the bot cannot avoid, timed in this process: one IMAP connection
   fetching every message (BODY.PEEK[]), python-docx ``Document()`` on every form attachment, and one
   SMTP session sending N small messages;
2. ``cspr-mailbot run --once`` as a subprocess, wall-clock from start to exit, and its peak RSS
   (``os.wait4`` on that child alone); it checks that the N acknowledgements and N coordinator
   notices arrived and that the INBOX is empty;
3. latency: the daemon (``cspr-mailbot run``, IMAP IDLE) on an empty INBOX; a referral is appended
   a few times, and the time until its acknowledgement (matched by In-Reply-To) reaches the SMTP
   server is measured; then SIGTERM, which must end it with exit code 0;
4. when a goal is missed (or with ``--profile``), cProfile of ``App.run_once`` in this process on a
   fresh backlog, printing where the time goes.

Goals: within 3x of the floor, under 150 MB, under 2 s from delivery to acknowledgement. A miss is
reported, never an error: the exit code is 0 unless something broke. Run from the repo root:

    python bench/intake.py [--n 150] [--latency 7] [--profile] [--tracemalloc] [--keep]
"""

from __future__ import annotations

import argparse
import cProfile
import email
import email.policy
import io
import json
import logging
import os
import pstats
import random
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import docxfactory as f  # noqa: E402
from servers import DovecotServer, SmtpServer  # noqa: E402

from cspr_mailbot import formgen  # noqa: E402

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
        "child_address": f"{1 + i} High Street\nDudley\nDY1 {1 + i % 9}AA",
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


def golden_referrals() -> tuple[list[bytes], list[str]]:
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
    from cspr_mailbot.core import forms, workflow
    from cspr_mailbot.core.message import parse_message

    table = tomllib.loads(config_text(143, 25))
    del table["imap"], table["smtp"]  # the same labels and agencies, no servers
    st = settings_from(parse_config(table))
    good, unread = [], []
    for path in sorted(folder.glob("*.eml")):
        expected = path.with_suffix(".json")
        if not expected.is_file():
            continue
        want = json.loads(expected.read_text())
        if want.get("kind") != "referral" or want.get("status") != "referral_received":
            continue
        raw = path.read_bytes()
        try:
            reading = workflow.read_referral(parse_message(raw, path.name), st)
            ok = reading.form is not None and not forms.missing_key_fields(reading.form.fields)
        except Exception:  # noqa: BLE001 - a crash is a finding for the golden test, not for us
            ok = False
        (good if ok else unread).append(raw if ok else path.name)
    return good, unread


def _restamp(raw: bytes, i: int, sender: str, tag: str) -> tuple[bytes, str]:
    """A golden message with its own Message-ID and sender, and no threading headers."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    message_id = make_msgid(f"bench{tag}{i}", domain="agency.example.org")
    for name in ("Message-ID", "From", "In-Reply-To", "References", "Return-Path"):
        del msg[name]
    msg["Message-ID"] = message_id
    msg["From"] = f"Referrer {i} <{sender}>"
    return msg.as_bytes(policy=email.policy.SMTP), message_id


def make_referrals(n: int, tag: str = "", seed: int = 4) -> list[Referral]:
    """``n`` referrals in turn: own form, each docxfactory layout, each golden referral."""
    rng = random.Random(f"{seed}{tag}")
    golden, _unread = golden_referrals()
    kinds = (
        ["formgen"] * 3 + [name for name, _ in LAYOUTS] + [f"golden{k}" for k in range(len(golden))]
    )
    builders = dict(LAYOUTS)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
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


def write_config(folder: Path, dovecot: DovecotServer, smtp: SmtpServer) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(config_text(dovecot.port, smtp.port, dovecot.user))
    return path


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

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"

[store]
path = "store/cspr.json"

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


def child_env(dovecot: DovecotServer) -> dict[str, str]:
    env = dict(os.environ)
    env[PASSWORD_ENV] = dovecot.password
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


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
    imap: float
    docx: float
    smtp: float
    messages: int
    forms: int

    @property
    def total(self) -> float:
        return self.imap + self.docx + self.smtp


def measure_floor(dovecot: DovecotServer, smtp: SmtpServer, n: int) -> Floor:
    from docx import Document
    from imapclient import IMAPClient

    began = time.perf_counter()
    client = IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=30)
    client.login(dovecot.user, dovecot.password)
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    data = client.fetch(uids, [b"BODY.PEEK[]"])
    client.logout()
    raws = [bytes(data[uid][b"BODY[]"]) for uid in sorted(data)]
    imap_s = time.perf_counter() - began

    began = time.perf_counter()
    n_forms = 0
    for raw in raws:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        for part in msg.walk():  # forwarded messages too
            if (part.get_filename() or "").lower().endswith(".docx"):
                Document(io.BytesIO(part.get_content()))
                n_forms += 1
    docx_s = time.perf_counter() - began

    before = len(smtp.messages)
    began = time.perf_counter()
    with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as conn:
        for i in range(n):
            body = (
                f"From: {MAILBOX}\r\nTo: referrer{i}@example.org\r\nSubject: Referral received\r\n"
                f"Message-ID: <floor-{i}@example.gov.uk>\r\n\r\nThank you for your referral.\r\n"
            )
            conn.sendmail(MAILBOX, [f"referrer{i}@example.org"], body.encode())
    smtp.wait_for(before + n, timeout=30)
    smtp_s = time.perf_counter() - began
    return Floor(imap_s, docx_s, smtp_s, len(raws), n_forms)


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
    inbox_left: int
    processed: int
    log: Path


def _in_reply_to(received: Any) -> str:
    """The In-Reply-To of a received message (a long one is folded: strip the white space)."""
    return str(received.message["In-Reply-To"] or "").strip()


def _template(received: Any) -> str:
    return str(received.message["X-CSPR-Mailbot"] or "").strip()


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
        # wait4 gives the resource usage of this child alone (and of what it waited for itself).
        _pid, status, usage = os.wait4(proc.pid, 0)
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
        peak_rss_mb=usage.ru_maxrss / 1024,  # Linux: KiB
        acks=len(acks),
        notices=len(notices),
        sent_total=len(received),
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
# 4. In-process: cProfile (and tracemalloc) of App.run_once
# --------------------------------------------------------------------------------------------------


def _in_process_app(cfg_path: Path, dovecot: DovecotServer) -> Any:
    os.environ[PASSWORD_ENV] = dovecot.password
    from cspr_mailbot.adapters.store import Store
    from cspr_mailbot.config import load_config
    from cspr_mailbot.wiring import build_app

    cfg = load_config(str(cfg_path))
    app = build_app(cfg, Store(cfg.store_path, reference_prefix=cfg.partnership.reference_prefix))
    app.source.connect()
    return app


def profile_pass(
    folder: Path, dovecot: DovecotServer, smtp: SmtpServer, n: int, top: int
) -> tuple[float, str]:
    from cspr_mailbot.cli import parse_now

    cfg = write_config(folder, dovecot, smtp)
    fill_inbox(dovecot, make_referrals(n, tag="prof"))
    app = _in_process_app(cfg, dovecot)
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    app.run_once(parse_now(NOW))
    profiler.disable()
    seconds = time.perf_counter() - began
    app.source.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return seconds, out.getvalue()


def tracemalloc_pass(
    folder: Path, dovecot: DovecotServer, smtp: SmtpServer, n: int
) -> tuple[float, float]:
    from cspr_mailbot.cli import parse_now

    cfg = write_config(folder, dovecot, smtp)
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=150, help="referrals in the backlog (default 150)")
    p.add_argument("--latency", type=int, default=7, help="referrals timed on IDLE (default 7)")
    p.add_argument("--profile", action="store_true", help="profile even when every goal is met")
    p.add_argument("--no-profile", action="store_true", help="never profile")
    p.add_argument("--top", type=int, default=25, help="rows of each profile table (default 25)")
    p.add_argument(
        "--tracemalloc", action="store_true", help="also an in-process pass under tracemalloc"
    )
    p.add_argument("--keep", action="store_true", help="keep the work folder (config, store, logs)")
    args = p.parse_args(argv)
    n = args.n
    logging.getLogger("mailparser").setLevel(logging.ERROR)  # its chatter about odd MIME parts

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
    broken: list[str] = []
    try:
        with servers() as (dovecot, smtp):
            cfg = write_config(work / "once", dovecot, smtp)
            appended = fill_inbox(dovecot, refs)
            print(f"backlog appended to INBOX in {appended:.2f} s")

            floor = measure_floor(dovecot, smtp, n)
            if floor.messages != n:
                broken.append(f"the floor fetched {floor.messages} messages, not {n}")
            once = run_once(cfg, dovecot, smtp, refs)
            if once.exit_code != 0:
                broken.append(f"run --once exited {once.exit_code}; see {once.log}")
            if once.acks != n or once.notices != n:
                broken.append(f"{once.acks} acknowledgements and {once.notices} notices, not {n}")
            if once.inbox_left != 0 or once.processed != n:
                broken.append(f"INBOX holds {once.inbox_left}, Processed {once.processed}")

            latency = measure_latency(cfg, dovecot, smtp, args.latency)
            if latency.exit_code != 0:
                broken.append(
                    f"the daemon exited {latency.exit_code} on SIGTERM; see {latency.log}"
                )

            ratio = once.seconds / floor.total
            med = statistics.median(latency.seconds)
            worst = max(latency.seconds)
            print()
            print(f"N                         {n}")
            print(f"run --once                {once.seconds:.2f} s (exit {once.exit_code})")
            print(f"referrals per second      {n / once.seconds:.1f}")
            print(
                f"sent by the run           {once.sent_total} messages "
                f"({once.acks} acknowledgements, {once.notices} new-referral notices)"
            )
            print(
                f"floor                     {floor.total:.2f} s = IMAP fetch {floor.imap:.2f} "
                f"+ python-docx {floor.docx:.2f} ({floor.forms} forms) + SMTP {floor.smtp:.2f}"
            )
            print(
                f"ratio to the floor        {ratio:.2f}x   "
                f"goal < {GOAL_RATIO:.0f}x: {verdict(ratio <= GOAL_RATIO)}"
            )
            print(
                f"peak RSS (run --once)     {once.peak_rss_mb:.1f} MB   "
                f"goal < {GOAL_MB:.0f} MB: {verdict(once.peak_rss_mb < GOAL_MB)}"
            )
            print(
                f"delivery -> ack (IDLE)    median {med:.2f} s, max {worst:.2f} s over "
                f"{len(latency.seconds)}   goal < {GOAL_LATENCY:.0f} s: "
                f"{verdict(med < GOAL_LATENCY)}"
            )
            print(f"daemon exit on SIGTERM    {latency.exit_code}")
            print(f"latencies                 {' '.join(f'{s:.2f}' for s in latency.seconds)}")

            if args.tracemalloc:
                secs, peak = tracemalloc_pass(work / "mem", dovecot, smtp, n)
                print(f"in-process pass, tracemalloc: {secs:.2f} s, peak Python heap {peak:.1f} MB")

            missed = ratio > GOAL_RATIO or once.peak_rss_mb >= GOAL_MB or med >= GOAL_LATENCY
            if (missed or args.profile) and not args.no_profile:
                secs, text = profile_pass(work / "prof", dovecot, smtp, n, args.top)
                print()
                print(f"cProfile of App.run_once in process ({n} referrals, {secs:.2f} s):")
                print(text)
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
