"""A site on the embedded Maildir: a config.toml and an empty Maildir in a folder, for tests that run
the real CLI and store without mail servers."""

from __future__ import annotations

import mailbox
from pathlib import Path

BASE_CONFIG = """\
[partnership]
mailbox = "dsppb@example.gov.uk"
coordinators = ["coordinator@example.gov.uk"]
[maildir]
path = "maildir"
"""


def maildir_site(folder: Path, extra: str = "") -> Path:
    """``folder`` with a config.toml (the base config, then ``extra`` tables) and an empty
    Maildir; returns ``folder``."""
    (folder / "config.toml").write_text(BASE_CONFIG + extra)
    mailbox.Maildir(folder / "maildir", create=True)
    return folder
