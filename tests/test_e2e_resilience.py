"""End to end, when things go wrong: servers that restart or go away, a process killed mid-batch,
113 odd real-world messages at once, and hostile attachments, all against the real Dovecot and SMTP
servers with the CLI as a subprocess (SPEC 3: nothing is dropped, nothing is done twice).
"""

from __future__ import annotations

import email
import email.policy
import os
import random
import signal
import subprocess
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from email.utils import getaddresses, make_msgid
from io import BytesIO
from pathlib import Path

import pytest
from e2e import (
    COORDINATOR,
    DOCX_TYPE,
    IGNORED,
    INBOX,
    PROCESSED,
    REFERRAL,
    REFERRER,
    SENT,
    TRIAGE,
    Bot,
    by_template,
    make_bot,
    referral_mail,
    sent_to,
    template_of,
    wait_until,
)
from servers import DovecotServer, SmtpServer

from cspr_mailbot import formgen

pytestmark = pytest.mark.dovecot

CORPUS = Path(__file__).parent / "corpus" / "real-mail"
MIB = 1024 * 1024


@pytest.fixture
def bot(tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer) -> Bot:
    return make_bot(tmp_path, dovecot, smtp_server)


def referrer(i: int) -> str:
    return f"referrer{i:02d}@example.org"


def numbered_referral(i: int, message_id: str | None = None) -> bytes:
    """Referral ``i``: its own referrer (the daily reply limit is per sender), Message-ID and child
    (the same child from two referrers would be linked cases, SPEC 3: not what these tests are about)."""
    middle = f"{chr(65 + i % 26)}aa {chr(65 + i // 26)}bb"  # unique initials, so no initials match
    values = {
        **REFERRAL,
        "referrer_email": referrer(i),
        "referrer_name": f"Referrer {i}",
        "child_name": f"Jamie {middle} Quennell",
    }
    return referral_mail(values, sender=referrer(i), message_id=message_id)


def header(raw: bytes, name: str) -> str:
    value = email.message_from_bytes(raw, policy=email.policy.compat32).get(name)
    return str(value).strip() if value is not None else ""


# --------------------------------------------------------------------------- 6. Dovecot restarts


def test_a_pass_after_dovecot_restarted_works(
    bot: Bot, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    dovecot.append(numbered_referral(1))
    bot.run_once()
    assert len(sent_to(smtp_server, referrer(1))) == 1

    dovecot.restart()
    dovecot.append(numbered_referral(2))
    bot.run_once("2026-11-30T10:05")

    assert [c["status"] for c in bot.cases()] == ["referral_received"] * 2
    assert len(sent_to(smtp_server, referrer(1))) == 1
    assert len(sent_to(smtp_server, referrer(2))) == 1
    assert dovecot.folder_count(INBOX) == 0
    assert dovecot.folder_count(PROCESSED) == 2


def test_the_daemon_answers_within_seconds_rides_out_a_dovecot_restart_and_stops_on_sigterm(
    bot: Bot, dovecot: DovecotServer, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    log = tmp_path / "daemon.log"
    with open(log, "w") as stderr:
        daemon = bot.popen("run", stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_until(
            lambda: "connected to the mailbox" in log.read_text() or daemon.poll() is not None,
            timeout=15,
            what="the daemon connects",
        )
        assert daemon.poll() is None, log.read_text()
        time.sleep(0.5)  # let the first pass finish and the daemon settle in IDLE

        began = time.monotonic()
        dovecot.append(numbered_referral(1))
        wait_until(lambda: sent_to(smtp_server, referrer(1)), timeout=20, what="first ack")
        latency = time.monotonic() - began
        print(f"\nAPPEND to acknowledgement received, daemon in IDLE: {latency:.2f} s")
        assert latency < 10

        dovecot.restart()
        began = time.monotonic()
        dovecot.append(numbered_referral(2))
        wait_until(lambda: sent_to(smtp_server, referrer(2)), timeout=30, what="second ack")
        print(f"after a Dovecot restart: {time.monotonic() - began:.2f} s")

        daemon.send_signal(signal.SIGTERM)
        began = time.monotonic()
        code = daemon.wait(timeout=10)
        print(f"SIGTERM to exit: {time.monotonic() - began:.2f} s")
        assert code == 0
        assert time.monotonic() - began < 5
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()

    text = log.read_text()
    assert "reconnect" in text.lower()  # it noticed the restart, and got over it
    for detail in ("Jamie", "Quennell", "Wrenfield", "2019-04-12"):
        assert detail not in text, f"{detail!r} in the daemon's log"
    assert len(sent_to(smtp_server, referrer(1))) == 1
    assert len(sent_to(smtp_server, referrer(2))) == 1
    assert len(bot.cases()) == 2
    assert dovecot.folder_count(INBOX) == 0


# --------------------------------------------------------------------------- 7. SMTP down


def test_with_the_smtp_server_down_nothing_is_lost_and_the_ack_goes_once_later(
    bot: Bot, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    smtp_server.stop()
    referral_id = make_msgid(domain="example.org")
    dovecot.append(numbered_referral(1, referral_id))

    out = bot.run_once(expect=None)
    assert out.returncode in (0, 1), out.stderr[-3000:]
    assert [c["status"] for c in bot.cases()] == ["referral_received"]
    assert [header(raw, "Message-ID") for raw in dovecot.list_folder(PROCESSED)] == [referral_id]
    assert dovecot.folder_count(INBOX) == 0
    assert smtp_server.messages == []

    smtp_server.start()
    bot.run_once("2026-11-30T10:05")
    bot.run_once("2026-11-30T10:10")
    acks = sent_to(smtp_server, referrer(1))
    assert len(acks) == 1
    assert header(acks[0].raw, "In-Reply-To") == referral_id
    assert len(by_template(smtp_server, "new_referral")) == 1
    sent_copies = [header(raw, "Message-ID") for raw in dovecot.list_folder(SENT)]
    assert sorted(sent_copies) == sorted(header(r.raw, "Message-ID") for r in smtp_server.messages)


class SmtpServerWithoutUtf8(SmtpServer):
    """The test SMTP server, but offering no SMTPUTF8 (aiosmtpd's Controller offers it by default)."""

    def start(self) -> None:
        from aiosmtpd.controller import Controller
        from servers import _Handler

        if self._controller is None:
            self._controller = Controller(
                _Handler(self), hostname=self.host, port=self.port, enable_SMTPUTF8=False
            )
            self._controller.start()


@pytest.mark.parametrize("smtputf8", [True, False], ids=["smtputf8", "no-smtputf8"])
def test_a_sender_whose_address_is_not_ascii_does_not_stop_the_pass_or_the_queue(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer, smtputf8: bool
) -> None:
    smtp = smtp_server
    if not smtputf8:
        smtp = SmtpServerWithoutUtf8()
        smtp.start()
    try:
        bot = make_bot(tmp_path, dovecot, smtp)
        # RFC 6532: UTF-8 in the address itself (the form inside gives REFERRER as the email).
        form = referral_mail(sender=referrer(9))
        utf8_from = "From: Jörg <jörg@exämple.de>".encode()
        utf8 = form.replace(f"From: {referrer(9)}".encode(), utf8_from)
        assert utf8 != form
        dovecot.append(utf8)
        dovecot.append(numbered_referral(2))

        out = bot.run_once()  # exit 0: a reply that can never go is recorded on its case
        assert "new cases 2" in out.stdout
        assert dovecot.folder_count(INBOX) == 0
        assert len(sent_to(smtp, referrer(2))) == 1
        cases = {c["referral"]["referrer_email"]: c for c in bot.cases()}
        events = {e["kind"] for e in cases[REFERRER]["events"]}
        if smtputf8:
            assert len(sent_to(smtp, "jörg@exämple.de")) == 1
            assert "send_failed" not in events
        else:
            assert "send_failed" in events
        before = len(smtp.messages)

        # Nothing is stuck behind it: the next pass sends what is new, and retries nothing.
        dovecot.append(numbered_referral(3))
        bot.run_once("2026-11-30T10:05")
        assert len(sent_to(smtp, referrer(3))) == 1
        assert len(smtp.messages) == before + 2  # the acknowledgement and the notice of 3
        assert dovecot.folder_count(INBOX) == 0
    finally:
        if smtp is not smtp_server:
            smtp.stop()


# --------------------------------------------------------------------------- 8. SIGKILL mid-batch


def _kill_at(
    proc: subprocess.Popen[str], target: int, killed: threading.Event
) -> Callable[[int], None]:
    """For ``SmtpServer.after_accept``: SIGKILL ``proc`` once the server has kept ``target``."""

    def kill(count: int) -> None:
        if count >= target and not killed.is_set() and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed.set()

    return kill


def test_kill_9_in_the_middle_of_a_batch_loses_nothing_and_duplicates_nothing(
    bot: Bot, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    n = 80  # the pass got faster (issue 15): at 30, a run could finish before its random kill
    ids = {f"<referral-{i:02d}.{os.getpid()}@example.org>": i for i in range(n)}
    with dovecot.session() as imap:
        for mid, i in ids.items():
            imap.append(INBOX, numbered_referral(i, mid))

    seed = random.randrange(2**32)
    print(f"\nkill points from random seed {seed}")
    rng = random.Random(seed)
    kills = 0
    for attempt in range(4):
        before = len(smtp_server.messages)
        killed = threading.Event()
        if attempt % 2 == 0:
            # Even attempts: just after the SMTP server accepted a message, the one instant a
            # reply may go twice, as the store has not yet recorded it. The server kills the bot
            # itself, once its 250 is written: a test thread watching the count from outside fell
            # behind under load (16 or 32 sent for a target of at most 10), or saw the run end.
            target = before + rng.randint(1, 10)
        proc = bot.popen("run", "--once", "--now", "2026-11-30T10:00")
        try:
            if attempt % 2 == 0:
                smtp_server.after_accept = _kill_at(proc, target, killed)
            else:
                # Odd ones: at a random moment (starting, reading, writing the store, moving or
                # sending), well inside the ~1 s the whole batch takes on a quiet machine.
                deadline = time.monotonic() + rng.uniform(0.1, 0.7)
                while proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.002)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    killed.set()
            proc.communicate(timeout=60)
        finally:
            smtp_server.after_accept = None
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=60)
        kills += killed.is_set()
        print(f"kill {attempt + 1}: {len(smtp_server.messages) - before} sent before it")

    assert kills >= 3, f"the batch finished before the kills: make it bigger (seed {seed})"
    for _ in range(5):
        if dovecot.folder_count(INBOX) == 0:
            break
        bot.run_once("2026-11-30T10:30")
    bot.run_once("2026-11-30T10:35")  # and one more, which must change nothing

    assert dovecot.folder_count(INBOX) == 0
    assert dovecot.folder_count(TRIAGE) == 0
    processed = [header(raw, "Message-ID") for raw in dovecot.list_folder(PROCESSED)]
    assert sorted(processed) == sorted(ids)

    cases = bot.cases()  # the store still parses
    assert len(cases) == n
    assert {c["status"] for c in cases} == {"referral_received"}
    by_referrer = {c["referral"]["referrer_email"]: c["reference"] for c in cases}
    assert sorted(by_referrer) == sorted(referrer(i) for i in range(n))

    # Each referral's acknowledgements answer it and name its own case: Message-IDs map 1:1 to cases.
    # SPEC 3: a message goes again only if the process died after the server accepted it and before
    # the store recorded that. Every extra copy is such a death, so all extras together are at most
    # the kills. One message may take more than one of them: after a restart the oldest pending
    # message goes first, so two kills just after a send can both land on it.
    twice = 0
    for mid, i in ids.items():
        acks = sent_to(smtp_server, referrer(i))
        assert 1 <= len(acks) <= 1 + kills, (referrer(i), len(acks))
        twice += len(acks) - 1
        for ack in acks:
            assert template_of(ack) == "acknowledgement"
            assert header(ack.raw, "In-Reply-To") == mid
            assert f"[{by_referrer[referrer(i)]}]" in header(ack.raw, "Subject")
    notices = Counter(header(r.raw, "Subject") for r in by_template(smtp_server, "new_referral"))
    assert len(notices) == n and max(notices.values()) <= 1 + kills
    twice += sum(count - 1 for count in notices.values())
    print(f"extra copies (in flight at a kill): {twice} in {kills} kills")
    assert twice <= kills, f"seed {seed}"


# --------------------------------------------------------------------------- 9. real-world mail


def corpus() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*.eml") if p.is_file())


def test_113_real_world_messages_in_one_pass_all_filed_none_answered_twice(
    bot: Bot, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    files = corpus()
    assert len(files) == 113
    raws = [p.read_bytes() for p in files]
    with dovecot.session() as imap:
        for raw in raws:
            imap.append(INBOX, raw)
    assert dovecot.folder_count(INBOX) == 113

    out = bot.run_once(timeout=240)
    assert "failed 0" in out.stdout, out.stdout

    assert dovecot.folder_count(INBOX) == 0
    filed = {f: dovecot.folder_count(f) for f in (PROCESSED, TRIAGE, IGNORED)}
    print(f"\n113 real messages filed: {filed}")
    assert sum(filed.values()) == 113

    reports = [
        email.message_from_bytes(raw, policy=email.policy.compat32)
        for raw in raws
        if email.message_from_bytes(raw, policy=email.policy.compat32).get_content_type()
        == "multipart/report"
    ]
    assert reports
    report_ids = {str(m["Message-ID"]).strip() for m in reports if m["Message-ID"]}
    report_senders = {a.lower() for m in reports for _, a in getaddresses(m.get_all("From", []))}
    answers = [r for r in smtp_server.messages if COORDINATOR not in r.rcpt_tos]
    for r in answers:
        assert header(r.raw, "In-Reply-To") not in report_ids
        assert not report_senders & {a.lower() for a in r.rcpt_tos}, r.rcpt_tos

    # No message answered twice: one reply per case at most, and per message answered.
    per_case = Counter(header(r.raw, "Subject").split("]")[0] for r in answers)
    assert all(count == 1 for count in per_case.values()), per_case
    replied_to = Counter(header(r.raw, "In-Reply-To") for r in answers)
    replied_to.pop("", None)
    # Some corpus files share a Message-ID. Copies (same sender, subject and Date) are one
    # message and get one reply; files that differ in those are different messages that reuse
    # an ID, and each may be answered once, never more.
    distinct: dict[str, set[tuple[str, str, str]]] = {}
    for m in (email.message_from_bytes(raw, policy=email.policy.compat32) for raw in raws):
        if m["Message-ID"]:
            sender = ",".join(a.lower() for _, a in getaddresses(m.get_all("From", [])))
            key = (sender, str(m["Subject"]), str(m["Date"]))
            mid = "<" + str(m["Message-ID"]).strip().strip("<>") + ">"  # some lack the brackets
            distinct.setdefault(mid, set()).add(key)
    over = {mid: n for mid, n in replied_to.items() if n > max(1, len(distinct.get(mid, ())))}
    assert not over, over
    # Every case is one the coordinators heard of.
    cases = bot.cases()
    assert len(by_template(smtp_server, "triage_notice")) + len(
        by_template(smtp_server, "new_referral")
    ) == len(cases)


# --------------------------------------------------------------------------- 10. hostile files


def zip_bomb_docx() -> bytes:
    """The referral form whose word/document.xml inflates to 300 MiB (about 0.3 MiB on the wire)."""
    base = formgen.filled_referral(REFERRAL)
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(base)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != "word/document.xml":
                dst.writestr(info.filename, src.read(info.filename), zipfile.ZIP_DEFLATED)
        member = zipfile.ZipInfo("word/document.xml")
        member.compress_type = zipfile.ZIP_DEFLATED
        chunk = b"<w:p/>" * (MIB // 6)
        with dst.open(member, "w", force_zip64=True) as w:
            for _ in range(300):
                w.write(chunk)
    return out.getvalue()


def xml_bomb_docx() -> bytes:
    """The referral form with billion laughs in word/document.xml."""
    lol = b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    for i in range(1, 10):
        refs = f"&lol{i - 1};".replace("lol0", "lol") * 10
        lol += f' <!ENTITY lol{i} "{refs}">\n'.encode()
    lol += (
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b"<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
    )
    base = formgen.filled_referral(REFERRAL)
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(base)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = lol if info.filename == "word/document.xml" else src.read(info.filename)
            dst.writestr(info.filename, body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def test_a_zip_bomb_and_an_xml_bomb_in_one_pass_need_triage_within_300_mb(
    bot: Bot, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    bombs = {1: zip_bomb_docx(), 2: xml_bomb_docx()}
    assert len(bombs[1]) < 2 * MIB
    for i, data in bombs.items():
        mail = referral_mail(
            sender=referrer(i), attachment=("CSPR referral form.docx", data, DOCX_TYPE)
        )
        dovecot.append(mail)

    log = bot.root / "pass.log"
    peak_file = bot.root / "peak.txt"
    # The pass's own peak: VmHWM of its process image, written by the child as it exits. (ru_maxrss
    # from wait4 would also count the pytest process the child was forked from, before its exec:
    # the larger the suite, the larger that figure, whatever the pass itself used.)
    peak = (
        "import atexit\n"
        "def peak():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        f"            open({str(peak_file)!r}, 'w').write(line.split()[1])\n"
        "atexit.register(peak)"
    )
    with open(log, "w") as out:  # a file, not a pipe: nobody reads a pipe while we wait
        proc = subprocess.Popen(
            bot.command("run", "--once", "--now", "2026-11-30T10:00", setup=peak),
            env=bot.env(),
            cwd=bot.root,
            stdout=out,
            stderr=out,
        )
    proc.wait(timeout=300)
    peak_mib = int(peak_file.read_text()) / 1024  # VmHWM is in kB
    print(f"\npeak RSS of the pass with a zip bomb and an XML bomb: {peak_mib:.0f} MiB")
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert peak_mib < 300

    cases = bot.cases()
    assert [c["status"] for c in cases] == ["needs_triage", "needs_triage"]
    for case in cases:
        assert any("CSPR referral form.docx" in r for r in case["triage_reasons"])
    for i in bombs:
        (reply,) = sent_to(smtp_server, referrer(i))
        assert template_of(reply) == "triage_reply"
    assert dovecot.folder_count(INBOX) == 0
    assert dovecot.folder_count(TRIAGE) == 2
