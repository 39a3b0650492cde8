"""Benchmark of the render phase alone (issue 15): Renderer.render over the messages of a real pass.

It runs the app in-process (as bench/intake.py's tracemalloc pass does) on a backlog of N referrals
in a private Dovecot, records every ``Renderer.render(om, now, forbidden)`` call of that pass, then
renders those messages again ``--runs`` times, each with a fresh Renderer (as a ``run --once``
process has: templates and guard patterns compiled in the pass) and once more with the same
Renderer (a daemon's later pass). Wall and CPU seconds; the best of the runs. Run from the repo root:

    python bench/render.py [--n 150] [--runs 5]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import intake  # noqa: E402


def capture(n: int) -> tuple[list[tuple[Any, Any, list[str]]], str]:
    """The render calls of one pass over ``n`` referrals, and the config that pass ran with."""
    from cspr_mailbot.adapters import outbox
    from cspr_mailbot.cli import parse_now

    calls: list[tuple[Any, Any, list[str]]] = []
    real = outbox.Renderer.render

    def spy(self: Any, om: Any, now: Any, forbidden: Any = ()) -> Any:
        forbidden = list(forbidden)
        calls.append((om, now, forbidden))
        return real(self, om, now, forbidden)

    outbox.Renderer.render = spy  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp, intake.servers() as (dovecot, smtp):
            cfg = intake.write_config(Path(tmp), dovecot, smtp)
            intake.fresh_mailbox(dovecot)
            intake.fill_inbox(dovecot, intake.make_referrals(n, tag="render"))
            app = intake._in_process_app(cfg, dovecot)
            app.run_once(parse_now(intake.NOW))
            app.source.close()
            text = cfg.read_text()
    finally:
        outbox.Renderer.render = real  # type: ignore[method-assign]
    return calls, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    import os

    from cspr_mailbot.adapters import outbox
    from cspr_mailbot.adapters.store import Store
    from cspr_mailbot.config import load_config
    from cspr_mailbot.errors import PrivacyError
    from cspr_mailbot.wiring import build_app

    calls, text = capture(args.n)
    folder = Path(tempfile.mkdtemp())
    (folder / "config.toml").write_text(text)  # its servers are gone: nothing is sent
    os.environ.setdefault(intake.PASSWORD_ENV, "unused")
    cfg = load_config(str(folder / "config.toml"))

    def renderer() -> outbox.Renderer:
        store = Store(cfg.store_path, reference_prefix=cfg.partnership.reference_prefix)
        return build_app(cfg, store, with_source=False).renderer

    def one_pass(r: outbox.Renderer) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for om, now, forbidden in calls:
            try:
                r.render(om, now, forbidden)
            except PrivacyError:
                pass
        return time.perf_counter() - wall, time.process_time() - cpu

    fresh, warm = [], []
    for _ in range(args.runs):
        getattr(
            outbox, "_pattern", None
        ) and outbox._pattern.cache_clear()  # none before the guard cache
        re.purge()
        r = renderer()
        fresh.append(one_pass(r))
        warm.append(one_pass(r))
    n = len(calls)
    for label, runs in (("fresh Renderer", fresh), ("same Renderer", warm)):
        wall = min(w for w, _ in runs)
        cpu = min(c for _, c in runs)
        print(
            f"{n} messages, {label}: {wall:.3f} s wall ({wall / n * 1e3:.3f} ms a message), "
            f"{cpu:.3f} s CPU"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
