"""The fixed cost of a run (issue 15): what the program does differently from a call of ``main``.

``cli.main()`` with no arguments is the program itself (the ``cspr-mailbot`` script and
``python -m cspr_mailbot``): when it returns the process ends, and it freezes what is left so that
the interpreter's last garbage collections need not walk it. ``cli.main([...])`` from within a
process that goes on (the tests) must leave the collector as it found it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import contextlib, gc, io, json, sys
from cspr_mailbot import cli
out = {}
with contextlib.redirect_stdout(io.StringIO()):
    out["call_rc"] = cli.main(["check-config"])
    out["after_call"] = gc.get_freeze_count()
    sys.argv = ["cspr-mailbot", "check-config"]
    out["program_rc"] = cli.main()
    out["after_program"] = gc.get_freeze_count()
    sys.argv = ["cspr-mailbot", "no-such-command"]
    out["usage_rc"] = cli.main()
print(json.dumps(out))
"""


def test_the_program_freezes_what_is_left_and_a_call_leaves_the_collector_alone(
    tmp_path: Path,
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,  # no config.toml here: the built-in default
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["call_rc"] == 0 and got["program_rc"] == 0 and got["usage_rc"] == 2
    assert got["after_call"] == 0  # a call from a process that goes on: nothing frozen
    assert got["after_program"] > 10_000  # the package's modules, classes and functions


def test_python_m_still_exits_with_mains_code(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "cspr_mailbot", "check-config"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and ok.stdout.startswith("config OK"), ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "cspr_mailbot", "-c", str(tmp_path / "missing.toml"), "status"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2, bad.stderr
