"""The bare work of a pass over a backlog (issue 15), as a program of its own: the floor of bench/intake.py.

``run --once`` is timed as a process, from its start to its exit; so is this, so that both pay for
starting Python and importing what they use. It does, once each and no more, what SPEC 3 asks of a
pass over a backlog of referrals, in the cheapest way a Python program can:

1. start: Python, and the imports of this file (the stdlib, imapclient, lxml);
2. fetch: one IMAP connection, one UID FETCH of every message in INBOX (``BODY.PEEK[]``);
3. mime: take the .docx forms out of the mail (the stdlib's ``email`` with compat32, its cheapest
   parse; a form cannot be read before it is out of the message);
4. read: zipfile + ``lxml.etree.fromstring`` of each form's ``word/document.xml``, nothing more;
5. record: one line per message (its SHA-256, UID and forms) in one file, one fdatasync: what the
   bot must have on disk before it answers anyone;
6. file: one UID MOVE of every message (to ``--move-to``);
7. send: one SMTP session sending 2N small messages, each referral's acknowledgement and the
   coordinators' new-referral notice;
8. copy: one IMAP APPEND (MULTIAPPEND) of those 2N messages to ``--sent`` (the bot keeps a copy of
   what it sent in the Sent folder when the server does not).

It prints one JSON object: each step's seconds (``start`` from the interpreter's own start time),
the messages fetched and the forms read. bench/intake.py runs it and moves the messages back.

    python bench/floor.py --imap-port P --user U --smtp-port Q --n N --move-to F --sent S --record PATH

The IMAP password is read from $CSPR_BENCH_IMAP_PASSWORD.

``--resend HOST PORT FILE`` (informative, not the floor): send the messages in FILE (as ``write_messages``
writes them: each a length line, then its bytes) in one SMTP session, and print the seconds: the
cost of the very bytes a run sent, without the run.
"""

import time

_BEGAN = time.perf_counter()

import argparse  # noqa: E402
import email  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import smtplib  # noqa: E402
import sys  # noqa: E402
import zipfile  # noqa: E402

from imapclient import IMAPClient  # noqa: E402
from lxml import etree  # noqa: E402

MAILBOX = "dsppb@example.gov.uk"
COORDINATOR = "coordinator@example.gov.uk"


def write_messages(path: str, messages: list[bytes]) -> None:
    with open(path, "wb") as f:
        for raw in messages:
            f.write(b"%d\n" % len(raw))
            f.write(raw)


def read_messages(path: str) -> list[bytes]:
    out = []
    with open(path, "rb") as f:
        while line := f.readline():
            out.append(f.read(int(line)))
    return out


def resend(host: str, port: int, path: str) -> int:
    messages = read_messages(path)
    began = time.perf_counter()
    with smtplib.SMTP(host, port, timeout=30) as conn:
        for raw in messages:
            conn.sendmail(MAILBOX, [COORDINATOR], raw)
    seconds = time.perf_counter() - began
    print(json.dumps({"seconds": seconds, "messages": len(messages)}))
    return 0


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--resend":  # --resend HOST PORT FILE
        return resend(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--imap-port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--smtp-port", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--move-to", required=True)
    p.add_argument("--sent", required=True)
    p.add_argument("--record", required=True)
    args = p.parse_args()
    seconds: dict[str, float] = {}
    mark = time.perf_counter()
    seconds["start"] = mark - _BEGAN  # the imports above; the interpreter's own start is outside

    def step(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        seconds[name] = now - mark
        mark = now

    client = IMAPClient(args.host, args.imap_port, ssl=False, timeout=30)
    client.login(args.user, os.environ["CSPR_BENCH_IMAP_PASSWORD"])
    client.select_folder("INBOX")
    uids = client.search(["ALL"])
    data = client.fetch(uids, [b"BODY.PEEK[]"])
    raws = [(uid, bytes(data[uid][b"BODY[]"])) for uid in sorted(data)]
    step("fetch")

    forms: list[list[bytes]] = []
    for _uid, raw in raws:
        found = []
        for part in email.message_from_bytes(raw).walk():
            if (part.get_filename() or "").lower().endswith(".docx"):
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    found.append(payload)
        forms.append(found)
    step("mime")

    read = 0
    for found in forms:
        for form in found:
            with zipfile.ZipFile(io.BytesIO(form)) as z:
                etree.fromstring(z.read("word/document.xml"))
            read += 1
    step("read")

    lines = [
        json.dumps({"sha256": hashlib.sha256(raw).hexdigest(), "uid": uid, "forms": len(found)})
        for (uid, raw), found in zip(raws, forms, strict=True)
    ]
    fd = os.open(args.record, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, ("\n".join(lines) + "\n").encode())
        os.fdatasync(fd)
    finally:
        os.close(fd)
    step("record")

    client.move(uids, args.move_to)
    step("file")

    sent: list[bytes] = []
    sends = [(f"referrer{i}@example.org", "Referral received", i) for i in range(args.n)]
    sends += [(COORDINATOR, "New referral", i) for i in range(args.n)]
    with smtplib.SMTP(args.host, args.smtp_port, timeout=30) as conn:
        for k, (to, what, i) in enumerate(sends, 1):
            body = (
                f"From: {MAILBOX}\r\nTo: {to}\r\nSubject: {what}\r\n"
                f"Message-ID: <floor-{k}@example.gov.uk>\r\n\r\n{what}: {i}.\r\n"
            ).encode()
            conn.sendmail(MAILBOX, [to], body)
            sent.append(body)
    step("send")

    client.multiappend(args.sent, sent)
    client.logout()
    step("copy")

    print(json.dumps({"seconds": seconds, "messages": len(raws), "forms": read}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
