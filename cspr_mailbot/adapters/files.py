"""Files written whole, for their owner's eyes only.

Everything the bot writes outside the store (the store has its own journal) is a file that must never
be seen half-written: a status file that a monitor reads while it is replaced, an .eml handed to a
mail relay, the bank holidays kept beside the store, a Rapid Review pack that names a child.
``write_private`` puts such a file in place whole or not at all, with mode 0600 whatever the umask,
and, when asked, on the disk before it returns.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def write_private(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Put ``data`` at ``path`` whole: written to a new file beside it, then renamed over ``path``.

    A reader sees the old file or the new one, never a part of either. The new file is 0600
    (``mkstemp`` makes it so, whatever the umask) and has a name of its own, so two writers of
    the same path never share a temporary file. ``durable``: the data and the rename are on the
    disk when this returns (the file synced, then its folder), for a file whose loss in a power cut
    would matter, such as a message the store is about to record as handed over. Raises OSError,
    with the temporary file removed; ``path`` is then as it was.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        sync_folder(path.parent)


def write_named(path: Path, data: bytes) -> None:
    """``data`` to a file a user named on the command line (``pack -o FILE``).

    A file (or a name not yet taken) is written as ``write_private`` writes, at the place a
    symbolic link points to, so the link stays; a pipe or a device (``-o /dev/stdout``) takes the
    bytes as they are: it has no folder to make a file in, and renaming over it would replace it.
    """
    try:
        st = os.stat(path)  # through symbolic links: /dev/stdout is a pipe or a terminal
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        with open(path, "wb") as f:
            f.write(data)
        return
    write_private(path.resolve(), data)


def write_all(fd: int, data: bytes, offset: int | None = None) -> None:
    """All of ``data`` to ``fd`` (``os.write`` may take only part), at ``offset`` if given."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        if offset is not None:
            offset += n
        view = view[n:]


def sync_folder(folder: Path) -> None:
    """fsync ``folder`` itself, so that a name just made or replaced in it survives a power cut."""
    fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
