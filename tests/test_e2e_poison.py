"""End to end, poison mail and size (SPEC 3, issue 10 finding 6), on the real Dovecot and SMTP server.

A message over ``[limits] max_message_bytes`` is filed in triage unread, with a notice and a plain
reply; a message that killed the bot twice is filed on the third start, and the referral behind it
is acknowledged; the largest messages under the limit are read under a 400 MB address-space limit.

The kill is real: the bot runs as a subprocess and is sent SIGKILL when its resident memory passes a
threshold, as the kernel does to a service over systemd's ``MemoryMax``. Under ``RLIMIT_AS`` alone
the bot now survives: a ``MemoryError`` is caught and the message filed at once, so no limit was
found that kills it after it has fetched a message and before it has filed it.
"""

from __future__ import annotations

import email.message
import email.policy
import hashlib
import io
import os
import random
import resource
import signal
import subprocess
import threading
import time
import zipfile
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from e2e import (
    CLI_TIMEOUT,
    COORDINATOR,
    DOCX_TYPE,
    INBOX,
    NOW,
    PROCESSED,
    REFERRAL,
    REFERRER,
    TRIAGE,
    Bot,
    by_template,
    make_bot,
    plain_mail,
    referral_mail,
    sent_to,
    text_parts,
)
from servers import DovecotServer, SmtpServer

from cspr_mailbot import formgen
from cspr_mailbot.adapters.store import Store

pytestmark = pytest.mark.dovecot

MIB = 1024 * 1024
CHILD = "Jamie Quennell"  # the child in e2e.REFERRAL, and in the subjects below
OTHER = "alex.morgan@example.org"
EARLY = "early.referrer@example.org"


@dataclass
class Run:
    returncode: int
    peak_rss_mb: float  # the process's high-water mark of resident memory
    killed: bool  # by the watchdog below
    stderr: str


def run_once(
    bot: Bot,
    *,
    kill_above_mb: float | None = None,
    address_space_mb: int | None = None,
    setup: str = "",
) -> Run:
    """``run --once`` as a subprocess: SIGKILLed once its RSS passes ``kill_above_mb`` (the
    kernel's OOM kill under ``MemoryMax``), under ``RLIMIT_AS`` if ``address_space_mb``; ``setup``
    as ``Bot.command`` takes it."""

    def limit() -> None:
        if address_space_mb is not None:
            size = address_space_mb * MIB
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    proc = subprocess.Popen(
        bot.command("run", "--once", "--now", NOW, setup=setup),
        env=bot.env(),
        cwd=bot.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
    )
    killed = False
    deadline = time.monotonic() + CLI_TIMEOUT
    stderr: list[str] = []
    reader = threading.Thread(
        target=lambda: stderr.append(proc.stderr.read() if proc.stderr else "")
    )
    reader.start()
    # VmHWM, read while it runs: ru_maxrss would count the test process it was forked from.
    peak = 0.0
    while True:
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            break
        rss, peak = _memory_mb(proc.pid, peak)
        if not killed and kill_above_mb is not None and rss > kill_above_mb:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
        if time.monotonic() > deadline:
            os.kill(proc.pid, signal.SIGKILL)
            raise AssertionError("run --once hung")
        time.sleep(0.002)
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    return Run(proc.returncode, peak, killed, "".join(stderr))


def _memory_mb(pid: int, peak: float) -> tuple[float, float]:
    """(VmRSS, VmHWM) of process ``pid`` in MB; (0, ``peak``) once it is gone."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    values[line[:5]] = int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return values.get("VmRSS", 0.0), max(peak, values.get("VmHWM", 0.0))


def random_attachment(size: int, name: str = "scan.bin") -> tuple[str, bytes, str]:
    return (name, random.Random(size).randbytes(size), "application/octet-stream")


def large_body(size: int) -> str:
    line = "The chronology continues with the home visit and the school's concerns.\n"
    return line * (size // len(line))


def main_bin_docx(xml_bytes: int, main: str = "word/main.bin") -> bytes:
    """A .docx whose main part is ``main`` (named by _rels/.rels): XML, if not by its name."""
    rnd = random.Random(1)
    paragraphs, size = [], 0
    while size < xml_bytes:
        p = f"<w:p><w:r><w:t>{rnd.randbytes(6).hex()}</w:t></w:r></w:p>"
        paragraphs.append(p)
        size += len(p)
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    document = (
        f'<?xml version="1.0"?><w:document {ns}><w:body>{"".join(paragraphs)}</w:body></w:document>'
    )
    rels = (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        f'officeDocument/2006/relationships/officeDocument" Target="{main}"/></Relationships>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr("_rels/.rels", rels)
        if main != "word/document.xml":
            empty = f'<?xml version="1.0"?><w:document {ns}><w:body/></w:document>'
            z.writestr("word/document.xml", empty)
        z.writestr(main, document)
    return buf.getvalue()


def message_id(raw: bytes) -> str:
    return str(BytesHeaderParser().parsebytes(raw)["Message-ID"])


def stored(dovecot: DovecotServer, raw: bytes) -> bytes:
    """The bytes of ``raw`` as the server keeps them (it writes CRLF line ends)."""
    wanted = message_id(raw)
    return next(m for m in folder(dovecot, INBOX) if message_id(m) == wanted)


def folder(dovecot: DovecotServer, name: str) -> list[bytes]:
    return dovecot.list_folder(name)


# --------------------------------------------------------------------------- over the size limit


def test_a_message_over_the_size_limit_is_filed_unread_with_a_notice_and_a_plain_reply(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bot = make_bot(tmp_path, dovecot, smtp_server, "[limits]\nmax_message_bytes = 2097152\n")
    # 3 MB: a readable referral form, and a 2 MB scan beside it. Not parsed, it makes no case.
    big = plain_mail(
        REFERRER,
        f"CSPR referral for {CHILD}",
        "Please find the form and the scan attached.",
        attachments=[
            ("CSPR referral form.docx", formgen.filled_referral(REFERRAL), DOCX_TYPE),
            random_attachment(2 * MIB + MIB // 4),
        ],
    )
    robot = plain_mail(
        "noreply@example.org",
        "Automatic report",
        "x",
        headers={"Auto-Submitted": "auto-generated"},
        attachments=[random_attachment(3 * MIB)],
    )
    assert len(big) > 3 * MIB - MIB // 4 and len(robot) > 3 * MIB
    dovecot.append(big)
    dovecot.append(robot)
    dovecot.append(referral_mail(sender=OTHER))
    run = run_once(bot)
    assert run.returncode == 0, run.stderr[-3000:]

    assert folder(dovecot, INBOX) == []
    triage = folder(dovecot, TRIAGE)
    assert sorted(map(message_id, triage)) == sorted(map(message_id, [big, robot]))
    assert sorted(map(len, triage)) == sorted(len(m.replace(b"\n", b"\r\n")) for m in [big, robot])
    assert len(folder(dovecot, PROCESSED)) == 1  # the referral behind them
    assert len(bot.cases()) == 1  # the big one made no case: its form was never read

    notices = by_template(smtp_server, "too_large_notice")
    assert len(notices) == 2 and all(list(n.rcpt_tos) == [COORDINATOR] for n in notices)
    notice_text = " ".join(text_parts(n.message)["text/plain"] for n in notices)
    assert "2.0 MB" in notice_text and TRIAGE in notice_text and REFERRER in notice_text

    replies = by_template(smtp_server, "too_large_reply")
    assert [list(r.rcpt_tos) for r in replies] == [[REFERRER]]  # the machine got none
    reply = replies[0]
    body = text_parts(reply.message)["text/plain"]
    assert "more than the 2.0 MB" in body and "on its own" in body
    assert CHILD not in reply.message.as_string() and "Quennell" not in body
    assert reply.message["In-Reply-To"] and reply.message["Auto-Submitted"] == "auto-replied"
    assert not by_template(smtp_server, "error_notice")
    assert len(sent_to(smtp_server, OTHER)) == 1  # acknowledged

    # A second pass finds nothing to do and sends nothing again.
    smtp_server.clear()
    assert run_once(bot).returncode == 0
    assert not by_template(smtp_server, "too_large_notice")


# --------------------------------------------------------------------------- the message that kills


KILL_ABOVE_MB = 150.0  # the "MemoryMax" of the test: the bot reading a small referral stays under
# Run in the bot's process first: a group closes at App.group_size messages, never on time, so the
# early referral below is decided in the poison message's group however long it takes (at load
# average 6 it once took longer than the 0.5 s window: its group was committed alone).
ONE_GROUP = """
from cspr_mailbot.app import App
assert App.group_seconds, "App.group_seconds is gone: set the group window by its new name"
App.group_seconds = 3600.0
"""


def test_a_message_that_killed_the_bot_twice_is_filed_on_the_third_start(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bot = make_bot(tmp_path, dovecot, smtp_server)
    # 2.6 MB, within every limit, but its 9.5 MiB document.xml takes the bot's reading past 200 MB
    # (lxml's tree): the fetch costs little, so the kill comes after the started-on marker.
    form = main_bin_docx(int(9.5 * MIB), main="word/document.xml")
    poison = referral_mail(sender=OTHER, attachment=("form.docx", form, DOCX_TYPE))
    # One referral before it (decided in the same group, ONE_GROUP, so lost with it) and one behind.
    early = {**REFERRAL, "child_name": "Robin Ashby", "referrer_email": EARLY}
    dovecot.append(referral_mail(early, sender=EARLY))
    dovecot.append(poison)
    dovecot.append(referral_mail())

    for start in (1, 2):
        run = run_once(bot, kill_above_mb=KILL_ABOVE_MB, setup=ONE_GROUP)
        assert run.killed, f"start {start}: not killed: {run.stderr[-2000:]}"
        # The group dies before its commit: the early referral's decision is lost with it.
        assert len(folder(dovecot, INBOX)) == 3, f"start {start}"
        assert not by_template(smtp_server, "acknowledgement")
    # Each death was counted against the message being read, and that one only.
    assert started_markers(bot) == [
        f"started:{hashlib.sha256(stored(dovecot, poison)).hexdigest()}"
    ]

    third = run_once(bot, kill_above_mb=KILL_ABOVE_MB, setup=ONE_GROUP)
    assert not third.killed and third.returncode == 0, third.stderr[-3000:]
    assert list(map(message_id, folder(dovecot, TRIAGE))) == [message_id(poison)]
    assert len(folder(dovecot, PROCESSED)) == 2
    acks = by_template(smtp_server, "acknowledgement")
    assert [list(r.rcpt_tos) for r in acks] == [[EARLY], [REFERRER]]
    notices = by_template(smtp_server, "error_notice")
    assert len(notices) == 1 and list(notices[0].rcpt_tos) == [COORDINATOR]
    assert "stopped 2 times" in text_parts(notices[0].message)["text/plain"]
    assert not sent_to(smtp_server, OTHER)  # nothing to the poison message's sender
    assert "stopped 2 times while reading" in third.stderr
    assert started_markers(bot) == []  # filed: its marker is gone


def started_markers(bot: Bot) -> list[str]:
    store = Store(bot.store_dir / "cspr.json")
    try:
        return store.meta_keys("started:")
    finally:
        store.close()


def test_a_message_read_to_the_end_leaves_no_started_marker(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bot = make_bot(tmp_path, dovecot, smtp_server)
    dovecot.append(referral_mail())
    dovecot.append(plain_mail(OTHER, "Hello", "A question."))
    assert run_once(bot).returncode == 0
    assert len(folder(dovecot, PROCESSED)) + len(folder(dovecot, TRIAGE)) == 2
    assert started_markers(bot) == []


# --------------------------------------------------------------------------- the largest messages


PEAK_MB = 300


def test_the_largest_messages_under_the_limit_are_read_under_400_mb(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    """30 MB each, the default limit (35 MiB), RLIMIT_AS 400 MB: each read, none shunted."""
    bot = make_bot(tmp_path, dovecot, smtp_server)
    html = "<p>Lorem <b>ipsum</b> dolor sit amet, consectetur adipiscing elit.</p>\n"
    messages = {
        "attachment": plain_mail(
            OTHER, "Scans", "Scans attached.", attachments=[random_attachment(22 * MIB)]
        ),
        "text": plain_mail(OTHER, "Chronology", large_body(30 * MIB)),
        "html": plain_mail(OTHER, "Chronology (HTML)", "x"),
        "main.bin": referral_mail(
            sender=OTHER, attachment=("form.docx", main_bin_docx(39 * MIB), DOCX_TYPE)
        ),
    }

    m = email.message_from_bytes(messages["html"], policy=email.policy.default)
    m.set_content(html * (30 * MIB // len(html)), subtype="html")
    messages["html"] = m.as_bytes()
    peaks: dict[str, float] = {}
    for name, raw in messages.items():
        dovecot.reset()
        smtp_server.clear()
        dovecot.append(raw)
        dovecot.append(referral_mail())
        run = run_once(bot, address_space_mb=400)
        peaks[name] = run.peak_rss_mb
        assert run.returncode == 0, f"{name}: {run.stderr[-3000:]}"
        assert folder(dovecot, INBOX) == [], name
        assert not by_template(smtp_server, "error_notice"), f"{name}: shunted as an error"
        assert len(folder(dovecot, PROCESSED)) + len(folder(dovecot, TRIAGE)) == 2, name
        # Under RLIMIT_AS the old code lived too, by MemoryErrors its fallbacks swallowed, at
        # 322-390 MB; each now costs at most 300 (measured: 181, 272, 269 and 100).
        assert run.peak_rss_mb < PEAK_MB, f"{name}: {run.peak_rss_mb:.0f} MB"
    print("peak RSS (MB):", {k: round(v) for k, v in peaks.items()})


# --------------------------------------------------------------------------- large HTML, read as lines


def test_an_html_body_too_large_to_lay_out_still_reads_line_by_line() -> None:
    """Over 1 MiB, HTML is read tag by tag (inscriptis took 1 GB for 30 MB): a coordinator's
    commands above a long quoted thread are still lines of their own."""
    from cspr_mailbot.core.message import MAX_LAID_OUT_HTML, parse_message

    thread = "<div><p>Earlier message, quoted.</p></div>\n" * (MAX_LAID_OUT_HTML // 40)
    html = (
        f"<html><body><div>decision: no review</div><p>start rapid review</p>{thread}</body></html>"
    )
    m = email.message.EmailMessage()
    m["From"], m["To"], m["Subject"] = COORDINATOR, "dsppb@example.gov.uk", "Re: [DSPP-2026-0001]"
    m.set_content(html, subtype="html")
    msg = parse_message(m.as_bytes(), "1")
    assert msg.body_text.splitlines()[:3] == [
        "decision: no review",
        "start rapid review",
        "Earlier message, quoted.",
    ]
