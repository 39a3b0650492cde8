"""Benchmark of the render phase alone (issue 15): Renderer.render over the messages of a real pass.

It runs the app in-process (as bench/intake.py's tracemalloc pass does) on a backlog of N referrals
in a private Dovecot, records every ``Renderer.render(om, now, forbidden)`` call of that pass, then
renders those messages again ``--runs`` times: each time with a fresh Renderer (as a ``run --once``
process has: guard patterns compiled in the pass) whose templates are compiled anew (an empty
compiled-templates folder: the first run after an install or a change) and with a fresh Renderer
over the folder a run before it filled (every later run), then once more with the same Renderer (a
daemon's later pass). Wall and CPU seconds, the median and the best of the runs; and the templates'
own cost: loading every template the pass uses, compiled anew and from the folder. Run from the
repo root:

    python bench/render.py [--n 150] [--runs 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
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

    from cspr_mailbot.adapters import mime, outbox
    from cspr_mailbot.adapters.store import Store
    from cspr_mailbot.config import load_config
    from cspr_mailbot.errors import PrivacyError
    from cspr_mailbot.wiring import build_app

    calls, text = capture(args.n)
    folder = Path(tempfile.mkdtemp())
    (folder / "config.toml").write_text(text)  # its servers are gone: nothing is sent
    os.environ.setdefault(intake.PASSWORD_ENV, "unused")
    cfg = load_config(str(folder / "config.toml"))

    def renderer(compiled: Path) -> outbox.Renderer:
        store = Store(cfg.store_path, reference_prefix=cfg.partnership.reference_prefix)
        r = build_app(cfg, store, with_source=False).renderer
        if hasattr(r, "keep_compiled"):  # (not on main before issue 15's render work)
            r.keep_compiled(compiled)
        return r

    def one_pass(r: outbox.Renderer) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for om, now, forbidden in calls:
            try:
                r.render(om, now, forbidden)
            except PrivacyError:
                pass
        return time.perf_counter() - wall, time.process_time() - cpu

    def load_templates(r: outbox.Renderer) -> tuple[float, float]:
        """Every template the pass uses, with what they extend, include and import: loading alone."""
        wall, cpu = time.perf_counter(), time.process_time()
        for name in names:
            r.env.get_template(name)
        return time.perf_counter() - wall, time.process_time() - cpu

    def clear_caches() -> None:
        """What a new process would not have: the functions' caches."""
        for cached in (outbox._pattern, getattr(outbox, "_date_header", None)):
            if cached is not None:
                cached.cache_clear()
        for cached in (mime._stdlib_header, getattr(mime, "_cut", None)):
            if cached is not None:
                cached.cache_clear()
        re.purge()

    kept = folder / "kept"
    first = renderer(kept)
    one_pass(first)  # the folder made and filled, as by the run before
    names = sorted(t.name for t in first.env.cache.values() if t.name)
    figures: dict[str, list[tuple[float, float]]] = {
        "fresh Renderer, templates compiled": [],
        "fresh Renderer, compiled templates kept": [],
        "same Renderer (a daemon's next pass)": [],
        "templates alone (loading): compiled": [],
        "templates alone (loading): kept": [],
    }
    for k in range(args.runs):
        clear_caches()
        figures["fresh Renderer, templates compiled"].append(
            one_pass(renderer(folder / f"cold{k}"))
        )
        clear_caches()
        r = renderer(kept)
        figures["fresh Renderer, compiled templates kept"].append(one_pass(r))
        figures["same Renderer (a daemon's next pass)"].append(one_pass(r))
        clear_caches()
        cold = load_templates(renderer(folder / f"load{k}"))
        clear_caches()
        warm = load_templates(renderer(kept))
        figures["templates alone (loading): compiled"].append(cold)
        figures["templates alone (loading): kept"].append(warm)
    n = len(calls)
    for label, runs in figures.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        best = min(w for w, _ in runs), min(c for _, c in runs)
        what = f"{len(names)} templates" if label.startswith("templates") else f"{n} messages"
        each = "" if label.startswith("templates") else f" ({wall / n * 1e3:.3f} ms a message)"
        print(
            f"{what}, {label}: median {wall:.3f} s wall{each}, {cpu:.3f} s CPU; "
            f"best {best[0]:.3f} s wall, {best[1]:.3f} s CPU"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
