"""Templates compiled once and kept beside the store (Renderer.keep_compiled), never at a message's cost.

A second Renderer over the same folder compiles nothing and writes the same bytes; a template that
changed, the project's or the partnership's own, is compiled again; a folder others could write to is
never used; a damaged or unwritable cache only costs the compile.
"""

from __future__ import annotations

import os
import random
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2.bccache
import pytest

from cspr_mailbot.adapters import outbox
from cspr_mailbot.adapters.outbox import Renderer
from cspr_mailbot.core.models import OutboundMessage

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def renderer(folder: Path | None, own: Path | None = None) -> tuple[Renderer, list[str]]:
    """A Renderer keeping its templates in ``folder``, and the names it compiles, as it compiles them."""
    r = Renderer(
        partnership_name="Dudley Safeguarding People Partnership",
        mailbox="dsppb@example.gov.uk",
        subject_marking="OFFICIAL-SENSITIVE",
        templates_dir=own,
    )
    if folder is not None:
        r.keep_compiled(folder)
    compiled: list[str] = []
    real = r.env.compile

    def spy(source: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        compiled.append(str(name))
        return real(source, name, *args, **kwargs)

    r.env.compile = spy  # type: ignore[method-assign]
    return r, compiled


def ack(key: str = "ack:1") -> OutboundMessage:
    return OutboundMessage(
        key=key,
        template="acknowledgement",
        to=("referrer@agency.example.org",),
        context={
            "reference": "DSPP-2026-0001",
            "initials": "T.F.",
            "phone": "",
            "mailbox": "dsppb@example.gov.uk",
            "salutation": "Dear Referrer,",
            "received_on": "Mon 30 Nov 2026",
            "decision_due": "Fri 18 Dec 2026",
        },
        case_ref="DSPP-2026-0001",
        subject="Referral received",
        internal=True,
    )


def raw(r: Renderer, om: OutboundMessage) -> bytes:
    """The message's bytes, the same for the same templates: one boundary, its Message-ID left out."""
    random.seed(7)
    out = r.render(om, NOW)
    return out.raw.replace(out.message_id.encode(), b"<id>")


def test_a_second_renderer_compiles_nothing_and_writes_the_same_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "store" / outbox.COMPILED_TEMPLATES
    (tmp_path / "store").mkdir()
    first, compiled = renderer(folder)
    want = raw(first, ack())
    assert "acknowledgement.txt" in compiled and "_base.html" in compiled
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    kept = sorted(folder.iterdir())
    assert len(kept) == len(set(compiled))
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in kept)
    assert all(p.name.startswith(outbox._fingerprint()) for p in kept)

    second, compiled_again = renderer(folder)
    assert raw(second, ack()) == want
    assert compiled_again == []

    plain, _ = renderer(None)  # and as compiled in memory
    assert raw(plain, ack()) == want


def _own_templates(tmp_path: Path, greeting: str) -> Path:
    own = tmp_path / "own"
    own.mkdir(exist_ok=True)
    (own / "acknowledgement.txt").write_text(f"{greeting} {{{{ reference }}}}\n")
    (own / "acknowledgement.html").write_text(f"<p>{greeting} {{{{ reference }}}}</p>\n")
    return own


def test_a_changed_template_is_compiled_again(tmp_path: Path) -> None:
    """Even when its size and modification time are the same: the cache goes by the source."""
    folder = tmp_path / "cache"
    own = _own_templates(tmp_path, "Hello")
    first, _ = renderer(folder, own)
    assert b"Hello DSPP-2026-0001" in first.render(ack(), NOW).raw
    times = os.stat(own / "acknowledgement.txt")

    _own_templates(tmp_path, "Howdy")
    for name in ("acknowledgement.txt", "acknowledgement.html"):
        os.utime(own / name, ns=(times.st_atime_ns, times.st_mtime_ns))
    second, compiled = renderer(folder, own)
    text = second.render(ack(), NOW).raw
    assert b"Howdy DSPP-2026-0001" in text and b"Hello" not in text
    assert sorted(compiled) == ["acknowledgement.html", "acknowledgement.txt"]

    third, compiled = renderer(folder, own)  # and the new code is kept in its turn
    assert b"Howdy DSPP-2026-0001" in third.render(ack(), NOW).raw
    assert compiled == []


def _touch_later(*paths: Path) -> None:
    later = max(os.stat(p).st_mtime for p in paths) + 5
    for p in paths:
        os.utime(p, (later, later))


def test_a_template_changed_while_running_is_picked_up(tmp_path: Path) -> None:
    """Looked at once a RECHECK_SECONDS (not at every lookup): a change is used from then on."""
    own = _own_templates(tmp_path, "Hello")
    r, _ = renderer(tmp_path / "cache", own)
    clock = [1000.0]
    r.clock = lambda: clock[0]
    assert b"Hello" in r.render(ack(), NOW).raw
    _own_templates(tmp_path, "Howdy")
    _touch_later(own / "acknowledgement.txt", own / "acknowledgement.html")
    clock[0] += outbox.RECHECK_SECONDS / 2
    assert b"Hello" in r.render(ack(), NOW).raw  # not looked at yet
    clock[0] += outbox.RECHECK_SECONDS
    text = r.render(ack(), NOW).raw
    assert b"Howdy" in text and b"Hello" not in text


def test_a_changed_include_is_picked_up_and_a_removed_template_is_missed(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / "_part.txt").write_text("Hello {{ reference }}\n")
    for ext in ("txt", "html"):
        (own / f"acknowledgement.{ext}").write_text('{% include "_part.txt" %}')
    r, _ = renderer(tmp_path / "cache", own)
    clock = [1000.0]
    r.clock = lambda: clock[0]
    assert b"Hello DSPP-2026-0001" in r.render(ack(), NOW).raw
    (own / "_part.txt").write_text("Howdy {{ reference }}\n")
    _touch_later(own / "_part.txt")
    clock[0] += outbox.RECHECK_SECONDS
    assert b"Howdy DSPP-2026-0001" in r.render(ack(), NOW).raw
    (own / "acknowledgement.txt").unlink()  # the packaged one is found instead
    clock[0] += outbox.RECHECK_SECONDS
    assert b"Thank you for your referral" in r.render(ack(), NOW).raw


def test_the_partnership_s_template_and_ours_are_kept_apart(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    ours, _ = renderer(folder)
    own = _own_templates(tmp_path, "Hello")
    theirs, compiled = renderer(folder, own)
    assert b"Hello" in theirs.render(ack(), NOW).raw
    assert b"Hello" not in ours.render(ack(), NOW).raw
    assert "acknowledgement.txt" in compiled
    again, compiled = renderer(folder)
    assert b"Hello" not in again.render(ack(), NOW).raw and compiled == []


def test_a_loose_folder_is_made_private(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    r, _ = renderer(folder)
    r.render(ack(), NOW)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert any(folder.iterdir())


def test_a_folder_that_is_a_link_is_never_used(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    folder = tmp_path / "cache"
    folder.symlink_to(elsewhere)
    r, compiled = renderer(folder)
    assert b"DSPP-2026-0001" in r.render(ack(), NOW).raw
    assert compiled and not any(elsewhere.iterdir())
    again, compiled = renderer(folder)
    again.render(ack(), NOW)
    assert compiled  # nothing was loaded from it either


def test_a_folder_of_another_user_is_never_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cache"
    first, _ = renderer(folder)
    first.render(ack(), NOW)
    assert any(folder.iterdir())
    monkeypatch.setattr(os, "getuid", lambda: os.stat(folder).st_uid + 1)
    r, compiled = renderer(folder)
    assert b"DSPP-2026-0001" in r.render(ack(), NOW).raw
    assert "acknowledgement.txt" in compiled


def test_a_damaged_file_is_compiled_again(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    first, _ = renderer(folder)
    want = raw(first, ack())
    magic = len(jinja2.bccache.bc_magic)
    for k, path in enumerate(sorted(folder.iterdir())):
        data = path.read_bytes()
        cuts = [
            b"",
            data[:10],
            data[: magic + 5],
            data[: len(data) // 2],
            data[:magic] + b"\xff" * 40,
        ]
        path.write_bytes(cuts[k % len(cuts)])
    r, compiled = renderer(folder)
    assert raw(r, ack()) == want
    assert "acknowledgement.txt" in compiled
    again, compiled = renderer(folder)  # and written anew
    assert raw(again, ack()) == want and compiled == []


def test_no_folder_to_be_had_only_costs_the_compile(tmp_path: Path) -> None:
    blocker = tmp_path / "store"
    blocker.write_text("a file where the folder's parent should be")
    r, compiled = renderer(blocker / "cache")
    assert b"DSPP-2026-0001" in r.render(ack(), NOW).raw
    assert "acknowledgement.txt" in compiled


def test_a_folder_that_takes_no_file_only_costs_the_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a full disk or a read-only store: jinja2 cannot write its file, the message still goes."""

    def refuse(*args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(jinja2.bccache.tempfile, "NamedTemporaryFile", refuse)
    folder = tmp_path / "cache"
    r, compiled = renderer(folder)
    assert b"DSPP-2026-0001" in r.render(ack(), NOW).raw
    assert compiled and not any(folder.iterdir())


def test_code_compiled_with_other_options_is_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cache"
    first, _ = renderer(folder)
    first.render(ack(), NOW)
    before = outbox._fingerprint()
    monkeypatch.setitem(outbox._OPTIONS, "trim_blocks", False)
    assert outbox._fingerprint() != before
    r, compiled = renderer(folder)
    r.render(ack(), NOW)
    assert "acknowledgement.txt" in compiled
