"""Every message of the real-mail corpus (tests/corpus/real-mail, from imap_tools) parses sanely."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from cspr_mailbot.core.message import forwarded_messages, parse_message

CORPUS = Path(__file__).parent / "corpus" / "real-mail"
NOT_MESSAGES = {"README.md", "LICENSE"}


def corpus_files() -> list[Path]:
    return sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file() and p.name not in NOT_MESSAGES and (p.suffix == ".eml" or not p.suffix)
    )


FILES = corpus_files()


def test_the_corpus_is_all_there() -> None:
    assert len(FILES) == 113
    assert (CORPUS / "README.md").is_file() and (CORPUS / "LICENSE").is_file()


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_each_message_parses_to_sane_values(path: Path) -> None:
    uid = str(path.relative_to(CORPUS))
    msg = parse_message(path.read_bytes(), uid)
    assert msg.uid == uid
    assert re.fullmatch(r"[0-9a-f]{64}", msg.sha256)
    assert isinstance(msg.subject, str) and isinstance(msg.body_text, str)
    assert isinstance(msg.from_addr, str) and msg.from_addr == msg.from_addr.lower()
    assert msg.date is None or (isinstance(msg.date, datetime) and msg.date.tzinfo is not None)
    assert msg.message_id is None or (msg.message_id[0], msg.message_id[-1]) == ("<", ">")
    assert all(name == name.lower() and isinstance(value, str) for name, value in msg.headers)
    assert "/" in msg.content_type
    for att in msg.attachments:
        assert att.filename and att.filename.strip() == att.filename
        assert "/" not in att.filename and "\\" not in att.filename and ".." not in att.filename
        assert isinstance(att.data, bytes)
    for inner in forwarded_messages(msg):
        assert inner.uid.startswith(f"{uid}/")


@pytest.mark.parametrize(
    "path",
    sorted((CORPUS / "multipart_report_emails").glob("*.eml")),
    ids=lambda p: p.name,
)
def test_delivery_reports_come_back_as_multipart_report(path: Path) -> None:
    msg = parse_message(path.read_bytes(), path.name)
    assert msg.content_type == "multipart/report"
    assert msg.report_type == "delivery-status"
