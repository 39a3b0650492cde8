"""Files written whole and private (adapters/files.py), and the writers that use it."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from cspr_mailbot.adapters import files
from cspr_mailbot.adapters.smtp import EmlSender


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every fsync and every rename, in order: ("fsync", what the fd is) or ("replace", target)."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        kind = "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        events.append(("fsync", kind))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        real_replace(src, dst)
        events.append(("replace", Path(dst).name))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_a_file_is_the_owners_alone_whatever_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    target.write_text("old")
    os.chmod(target, 0o644)
    old_umask = os.umask(0)
    try:
        files.write_private(target, b"new")
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "bank-holidays.json"
    target.write_bytes(b"the old table")
    written: list[int] = []
    real_write = os.write

    def write(fd: int, data: bytes | memoryview) -> int:
        if written:  # the second chunk: the disk is full
            raise OSError(28, "No space left on device")
        written.append(fd)
        return real_write(fd, bytes(data)[:3])  # a short write, as os.write may make

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(OSError, match="No space"):
        files.write_private(target, b"a new table, longer than three bytes")
    assert target.read_bytes() == b"the old table"
    assert [p.name for p in tmp_path.iterdir()] == ["bank-holidays.json"]


def test_short_writes_are_carried_on_to_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data)[:5]))
    files.write_private(tmp_path / "x", b"0123456789" * 7)
    assert (tmp_path / "x").read_bytes() == b"0123456789" * 7


def test_durable_syncs_the_file_before_the_rename_and_the_folder_after(
    tmp_path: Path, synced: list[tuple[str, str]]
) -> None:
    files.write_private(tmp_path / "a.eml", b"x", durable=True)
    assert synced == [("fsync", "file"), ("replace", "a.eml"), ("fsync", "folder")]
    synced.clear()
    files.write_private(tmp_path / "status.json", b"x")  # not durable: no sync at all
    assert synced == [("replace", "status.json")]


def test_the_eml_sender_puts_its_file_on_the_disk_before_it_returns(
    tmp_path: Path, synced: list[tuple[str, str]]
) -> None:
    """The .eml file is the relay's acceptance, which the store records as sent once send returns
    (SPEC 3): its name, not only its bytes, must survive a power cut from then on."""
    sender = EmlSender(tmp_path / "outbox")
    sender.send("bot@example.org", ["a@example.org"], b"Subject: x\r\n\r\nbody\r\n", "k/1")
    (eml,) = (tmp_path / "outbox").iterdir()
    assert eml.name == "k_1.eml" and stat.S_IMODE(eml.stat().st_mode) == 0o600
    assert eml.read_bytes().endswith(b"\r\n\r\nbody\r\n")
    assert synced == [("fsync", "file"), ("replace", "k_1.eml"), ("fsync", "folder")]


def test_a_named_output_through_a_link_is_written_where_it_points(tmp_path: Path) -> None:
    (tmp_path / "packs").mkdir()
    link = tmp_path / "latest.docx"
    link.symlink_to(tmp_path / "packs" / "DSPP-2026-0001.docx")  # not there yet
    files.write_named(link, b"PK first")
    files.write_named(link, b"PK second")
    assert link.is_symlink() and link.read_bytes() == b"PK second"
    target = tmp_path / "packs" / "DSPP-2026-0001.docx"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in (tmp_path / "packs").iterdir()) == ["DSPP-2026-0001.docx"]


def test_a_named_output_that_is_a_pipe_takes_the_bytes(tmp_path: Path) -> None:
    """``pack -o /dev/stdout | ...``: renaming a new file over the pipe would replace it."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    files.write_named(fifo, b"PK\x03\x04 a pack")
    reader.join(timeout=10)
    assert got == [b"PK\x03\x04 a pack"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the pipe
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]
