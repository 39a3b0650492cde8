"""The store's own share of a 150-referral pass, in-process: bench/intake.py's backlog on a Maildir.

One ``run_once`` of the real app (no IMAP, no SMTP: a Maildir in, .eml files out) on
``make_referrals(n)``, with every Store and Txn method timed where it is entered from outside the
store (wall and thread CPU), fdatasync timed apart. Prints the pass's wall time, the store's time
excluding fdatasync per referral, and the costliest store methods. Run from the repo root:

    python bench/store_pass.py [--n 150] [--runs 3]

Wall times follow the machine's load; the thread CPU time less so.
"""

from __future__ import annotations

import argparse
import functools
import mailbox
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.intake import CORPUS_TABLES, NOW, make_referrals  # noqa: E402
from cspr_mailbot.adapters import store as S  # noqa: E402
from cspr_mailbot.config import load_config  # noqa: E402
from cspr_mailbot.core.workdays import LONDON  # noqa: E402
from cspr_mailbot.wiring import build_app  # noqa: E402

CONFIG = (
    """
[partnership]
mailbox = "dsppb@example.gov.uk"
coordinators = ["coordinator@example.gov.uk"]
[maildir]
path = "maildir"
[security]
sender_check = "none"
[store]
path = "store/cspr.json"
"""
    + CORPUS_TABLES
)

STORE_READS = (
    "get_case",
    "cases",
    "case_for_message_id",
    "recipients_of_message_id",
    "ledger_get",
    "outbox_pending",
    "outbox_undelivered",
    "outbox_get",
    "outbox_between",
    "meta_get",
    "_refresh",
    "_apply",
)


class Timer:
    """Time spent in the store, counted once where it is entered (not again in nested calls)."""

    def __init__(self) -> None:
        self.wall = self.cpu = self.sync = 0.0
        self.by_name: dict[str, float] = {}
        self._depth = 0

    def wrap(self, owner: type, name: str) -> None:
        inner: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(inner)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return inner(*args, **kwargs)
            self._depth += 1
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                spent = time.perf_counter() - t0
                self.wall += spent
                self.cpu += time.thread_time() - c0
                self.by_name[name] = self.by_name.get(name, 0.0) + spent
                self._depth -= 1

        setattr(owner, name, timed)

    def install(self) -> None:
        for name, value in list(vars(S.Txn).items()):
            if callable(value) and not name.startswith("__") and name != "savepoint":
                self.wrap(S.Txn, name)
        for name in STORE_READS:
            self.wrap(S.Store, name)
        for name in ("append", "write_evidence", "compact"):
            self.wrap(S.JournalStorage, name)
        real = os.fdatasync

        def fdatasync(fd: int) -> None:
            t0 = time.perf_counter()
            real(fd)
            self.sync += time.perf_counter() - t0

        os.fdatasync = fdatasync

    def reset(self) -> None:
        self.wall = self.cpu = self.sync = 0.0
        self.by_name.clear()


def one_pass(n: int, timer: Timer) -> float:
    site = Path(tempfile.mkdtemp(prefix="cspr-store-pass-"))
    try:
        (site / "config.toml").write_text(CONFIG)
        inbox = mailbox.Maildir(site / "maildir", create=True)
        for referral in make_referrals(n):
            inbox.add(referral.raw)
        cfg = load_config(site / "config.toml")
        now = datetime.fromisoformat(NOW).replace(tzinfo=LONDON).astimezone(UTC)
        store = S.Store(cfg.store_path)
        app = build_app(cfg, store)
        app.source.connect()
        timer.reset()
        t0 = time.perf_counter()
        report = app.run_once(now)
        wall = time.perf_counter() - t0
        store.close()
        if report.processed != n:
            raise RuntimeError(f"processed {report.processed} of {n}")
        return wall
    finally:
        shutil.rmtree(site, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import logging

    logging.disable(logging.CRITICAL)
    timer = Timer()
    timer.install()
    for run in range(args.runs):
        wall = one_pass(args.n, timer)
        own = timer.wall - timer.sync
        print(
            f"run {run + 1}: pass {wall:.2f} s; store {own * 1000 / args.n:.2f} ms a referral "
            f"(wall, fdatasync's {timer.sync * 1000:.0f} ms apart), "
            f"{timer.cpu * 1000 / args.n:.2f} ms CPU"
        )
        top = sorted(timer.by_name.items(), key=lambda kv: -kv[1])[:6]
        print("   " + ", ".join(f"{name} {spent * 1000:.0f} ms" for name, spent in top))


if __name__ == "__main__":
    main()
