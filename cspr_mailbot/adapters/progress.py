"""Which message the bot is reading at this moment: a small file beside the store (SPEC 3 "Poison
messages and size").

Before a message is parsed its sha256 is written here; after its group is committed the file is
emptied. A process that dies while reading (killed for its memory, a crash in a library) leaves
the file naming that message, and the next start counts the death against it, in the store.

The file is written without fsync, on purpose: what it must survive is the death of the process,
which leaves the kernel's page cache, and so the write, in place; only a crash of the machine
loses it, and that is no fault of the message. Writing it costs microseconds per message, where a
committed marker would cost a disk flush per message (or blame a whole group for one message).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

logger = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")


class Progress:
    """The message in progress, by the sha256 of its bytes. One process uses it at a time (the
    store's lock). Errors are logged, never raised: this is a safety net, not the work."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def __repr__(self) -> str:
        return "Progress()"

    def left_over(self) -> str | None:
        """The message a process that died was reading, or None (none, or nothing readable)."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("cannot read %s: %s", self.path.name, exc)
            return None
        return text if _SHA256.fullmatch(text) else None

    def note(self, sha256: str) -> None:
        """``sha256`` is being read now."""
        fd = self._open()
        if fd is None:
            return
        data = sha256.encode("ascii")
        try:
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        except OSError as exc:
            logger.warning("cannot write %s: %s", self.path.name, exc)

    def clear(self) -> None:
        """Nothing is being read."""
        fd = self._open()
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError as exc:
            logger.warning("cannot empty %s: %s", self.path.name, exc)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _open(self) -> int | None:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                logger.warning("cannot open %s: %s", self.path.name, exc)
        return self._fd
