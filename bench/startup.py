"""Benchmark of the fixed cost of a run (issue 15): ``run --once`` on an EMPTY INBOX, and the CLI.

It starts a private Dovecot and an aiosmtpd server (tests/servers.py, as bench/intake.py does),
writes bench/intake.py's config, makes one first ``run --once`` (a new installation: it creates
the folders and the store, sends the day's digest, compiles the templates into
``compiled-templates/`` and keeps the bank holidays in ``bank-holidays.json`` beside the store),
then times ``--runs`` more passes of ``cspr-mailbot run --once --now 2026-11-30T10:00`` against
the empty INBOX, each a subprocess timed from start to exit (so starting Python and the imports
are in it), with its CPU time (user + system, from ``os.wait4``). Then the same for ``status`` and
``check-config``. It prints the median, minimum and maximum of each. Goal: the empty
``run --once`` under 0.3 s wall.

    python bench/startup.py [--runs 5] [--against TREE] [--spy OUT.txt] [--keep]

``--against TREE`` also times the same commands with another checkout's package (``PYTHONPATH``
TREE, e.g. an export of main), each of its runs beside one of this tree's, over the same store,
so that a busy machine weighs on both alike. ``--spy`` also records one more empty pass under
py-spy (``/tmp/spyvenv/bin/py-spy`` unless ``$PY_SPY`` names another) as raw folded stacks in
OUT.txt.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "bench", ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from intake import NOW, child_env, servers, write_config  # noqa: E402

GOAL_SECONDS = 0.3


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of one subprocess, and its exit code."""
    began = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(err.decode(errors="replace"))
    return wall, usage.ru_utime + usage.ru_stime, code


def report(name: str, figures: list[tuple[float, float, int]], goal: float | None = None) -> None:
    walls = [w for w, _c, _e in figures]
    cpus = [c for _w, c, _e in figures]
    codes = sorted({e for _w, _c, e in figures})
    verdict = ""
    if goal is not None:
        verdict = "  ok" if statistics.median(walls) < goal else f"  MISS (goal {goal:.2f} s)"
    print(
        f"{name:<30} wall median {statistics.median(walls):.3f} s "
        f"(min {min(walls):.3f}, max {max(walls):.3f}); "
        f"CPU median {statistics.median(cpus):.3f} s (min {min(cpus):.3f}, max {max(cpus):.3f}); "
        f"exit {codes}{verdict}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--spy", type=Path, help="also record one empty pass under py-spy into this file"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument(
        "--against", type=Path, help="another checkout to time beside this one, run for run"
    )
    args = ap.parse_args()

    trees = {"": ROOT}
    if args.against:
        trees[f" ({args.against.name})"] = args.against.resolve()
    for tree in trees.values():
        compileall.compile_dir(str(tree / "cspr_mailbot"), quiet=1)
    folder = Path(tempfile.mkdtemp(prefix="cspr-startup-"))
    try:
        with servers() as (dovecot, smtp):
            cfg = write_config(folder, dovecot, smtp)
            env = child_env(dovecot)
            envs = {name: {**env, "PYTHONPATH": str(tree)} for name, tree in trees.items()}
            base = [sys.executable, "-m", "cspr_mailbot", "-c", str(cfg)]
            once = [*base, "run", "--once", "--now", NOW]
            first = timed(once, envs[""], folder)
            report("first run --once", [first])
            for label, cmd, goal in (
                ("empty run --once", once, GOAL_SECONDS),
                ("status", [*base, "status"], None),
                ("check-config", [*base, "check-config"], None),
            ):
                figures: dict[str, list[tuple[float, float, int]]] = {name: [] for name in envs}
                for _ in range(args.runs):
                    for name, tree_env in envs.items():
                        figures[name].append(timed(cmd, tree_env, folder))
                for name, runs in figures.items():
                    report(label + name, runs, goal)
            if args.spy:
                spy = os.environ.get("PY_SPY", "/tmp/spyvenv/bin/py-spy")
                out = args.spy.resolve()
                subprocess.run(
                    [spy, "record", "-r", "400", "-f", "raw", "-o", str(out), "--", *once],
                    env=envs[""],
                    cwd=folder,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                print(f"py-spy: {out}")
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
