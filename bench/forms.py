"""Benchmark of the read-forms phase alone (issue 15): vetting and reading the backlog's forms.

The bench's backlog (``intake.make_referrals``, N referrals), each message parsed once; then, in
one process, ``--runs`` passes of what a ``run --once`` does with them in its read-forms phase:
``read_message`` and its referral (each attachment vetted, each form read), each pass as cold as a
new process is (a fresh Settings, so fresh label memos, and every cache of the form reader and the
vetting emptied). No servers. CPU and wall milliseconds a form: the min and median of the passes,
the first (it imports lazily) left out. Run from the repo root:

    python bench/forms.py [--n 150] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import intake  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    from cspr_mailbot.app import settings_from
    from cspr_mailbot.config import parse_config
    from cspr_mailbot.core import attachments
    from cspr_mailbot.core.forms import convert, labels
    from cspr_mailbot.core.message import parse_message
    from cspr_mailbot.core.reading import read_message

    os.environ.setdefault(intake.PASSWORD_ENV, "bench")
    cfg = parse_config(tomllib.loads(intake.config_text(1, 2)), base=Path.cwd())
    msgs = [parse_message(r.raw, str(i)) for i, r in enumerate(intake.make_referrals(args.n))]
    forms = sum(a.filename.lower().endswith(".docx") for m in msgs for a in m.attachments)
    caches = [
        getattr(module, name)
        for module in (labels, convert)
        for name in dir(module)
        if hasattr(getattr(module, name), "cache_clear")
    ]
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(args.runs + 1):
        attachments._PASSED.clear()
        attachments._CLEAN_MEMBERS.clear()
        for cache in caches:
            cache.cache_clear()
        st = settings_from(cfg)
        c0, w0 = time.process_time(), time.perf_counter()
        for m in msgs:
            read_message(m, st).referral  # noqa: B018 - vets and reads the attachments
        cpu.append((time.process_time() - c0) * 1000 / forms)
        wall.append((time.perf_counter() - w0) * 1000 / forms)
    cpu, wall = cpu[1:], wall[1:]
    print(f"{len(msgs)} referrals, {forms} forms, {args.runs} passes")
    print(f"CPU  ms a form: min {min(cpu):.3f}  median {statistics.median(cpu):.3f}")
    print(f"wall ms a form: min {min(wall):.3f}  median {statistics.median(wall):.3f}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
