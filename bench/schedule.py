"""Benchmark of the pass after intake (issue 15): ``run_schedule`` and ``flush_outbox`` alone.

It takes in a backlog of N referrals once (``bench/intake.py``'s, in a private Dovecot, the app
in-process: ``process_inbox`` with its per-group sending), keeps a copy of that store, then
``--runs`` times starts from the copy with a fresh app and times what ``run --once`` does next:
``run_schedule`` (the due notices of every case, then the digest) and the ``flush_outbox`` that
sends what it queued (to a real SMTP server, with the copies appended to Sent). The CPU figures are
the main thread's own (``time.thread_time``): the SMTP server's thread in this process is not
counted. Run from the repo root:

    python bench/schedule.py [--n 150] [--runs 5] [--profile OUT.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import intake  # noqa: E402

Timer = dict[str, list[tuple[float, float]]]


@contextmanager
def timed(figures: Timer, label: str) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        figures.setdefault(label, []).append((time.perf_counter() - wall, time.thread_time() - cpu))


def wrap(obj: Any, name: str, figures: Timer, label: str) -> Callable[[], None]:
    """Time every call of ``obj.name`` under ``label`` (summed per run by the caller)."""
    real = getattr(obj, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        with timed(figures, label):
            return real(*args, **kwargs)

    setattr(obj, name, spy)
    return lambda: setattr(obj, name, real)


def profiled(obj: Any, name: str, out: str, undo: Callable[[], None]) -> Callable[[], None]:
    """Profile every call of ``obj.name`` into one profile, written to ``out`` by the undo."""
    real = getattr(obj, name)
    profiler = cProfile.Profile()

    def spy(*args: Any, **kwargs: Any) -> Any:
        profiler.enable()
        try:
            return real(*args, **kwargs)
        finally:
            profiler.disable()

    setattr(obj, name, spy)

    def done() -> None:
        setattr(obj, name, real)
        undo()
        profiler.dump_stats(out)

    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", default="", help="write a cProfile of the last run here")
    parser.add_argument(
        "--profile-intake", default="", help="write a cProfile of intake's flush_outbox here"
    )
    parser.add_argument(
        "--save", default="", help="copy the config and the store after intake here"
    )
    args = parser.parse_args(argv)

    from cspr_mailbot.app import App, PassReport
    from cspr_mailbot.cli import parse_now

    now = parse_now(intake.NOW)
    with tempfile.TemporaryDirectory() as tmp, intake.servers() as (dovecot, smtp):
        work = Path(tmp) / "work"
        cfg = intake.write_config(work, dovecot, smtp)
        intake.fresh_mailbox(dovecot)
        intake.fill_inbox(dovecot, intake.make_referrals(args.n, tag="schedule"))
        app = intake._in_process_app(cfg, dovecot)
        report = PassReport()
        intake_figures: Timer = {}
        undo = wrap(App, "flush_outbox", intake_figures, "flush_outbox")
        if args.profile_intake:
            undo = profiled(App, "flush_outbox", args.profile_intake, undo)
        with timed(intake_figures, "process_inbox"):
            app.process_inbox(now, report)
        undo()
        for label, v in intake_figures.items():
            print(
                f"intake's {label}: {sum(w for w, _ in v):.3f} s wall, "
                f"{sum(c for _, c in v):.3f} s CPU ({len(v)} calls)"
            )
        app.sender.close()
        app.source.close()
        print(f"intake: {report.sent} sent while taking in {args.n} referrals")
        snapshot = Path(tmp) / "snapshot"
        shutil.copytree(work / "store", snapshot)
        if args.save:
            shutil.copytree(work, args.save, dirs_exist_ok=True)

        kept = Path(tmp) / intake.COMPILED_TEMPLATES
        rows: list[dict[str, tuple[float, float]]] = []
        sent: list[int] = []
        for k in range(args.runs):
            shutil.rmtree(work / "store")
            shutil.copytree(snapshot, work / "store")
            if kept.is_dir():
                shutil.rmtree(work / "store" / intake.COMPILED_TEMPLATES, ignore_errors=True)
                shutil.copytree(kept, work / "store" / intake.COMPILED_TEMPLATES)
            app = intake._in_process_app(cfg, dovecot)
            figures: Timer = {}
            undo = [
                wrap(app, "maybe_send_digest", figures, "  maybe_send_digest"),
                wrap(app, "upkeep", figures, "  upkeep"),
                wrap(app, "_copy_to_sent", figures, "  _copy_to_sent"),
                wrap(app.sender, "send", figures, "  sender.send"),
            ]
            last = k == args.runs - 1 and args.profile
            profiler = cProfile.Profile() if last else None
            report = PassReport()
            if profiler:
                profiler.enable()
            with timed(figures, "run_schedule"):
                app.run_schedule(now, report)
            with timed(figures, "flush_outbox"):
                app.flush_outbox(now, report)
            if profiler:
                profiler.disable()
                profiler.dump_stats(args.profile)
            app.sender.close()
            app.source.close()
            for u in undo:
                u()
            # the templates the digest compiled, kept for the next run as a store's folder keeps them
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(work / "store" / intake.COMPILED_TEMPLATES, kept)
            sent.append(report.sent)
            rows.append(
                {
                    label: (sum(w for w, _ in v), sum(c for _, c in v))
                    for label, v in figures.items()
                }
            )
    for k, r in enumerate(rows):
        print(f"run {k + 1}: " + ", ".join(f"{lb.strip()} {c:.3f}" for lb, (_, c) in r.items()))
    print(f"run_schedule + flush_outbox sent {sent} messages; {args.runs} runs")
    order = ["run_schedule", "  maybe_send_digest", "  upkeep", "flush_outbox"]
    order += ["  sender.send", "  _copy_to_sent"]
    for label in order:
        runs = [r[label] for r in rows if label in r]
        if not runs:
            continue
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(
            f"{label:22s} median {wall:.3f} s wall, {cpu:.3f} s CPU; "
            f"best {min(w for w, _ in runs):.3f} s wall, {min(c for _, c in runs):.3f} s CPU"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
