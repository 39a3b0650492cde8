"""The program pauses the garbage collector while it starts (issue 15): ``cli._started``.

While the program (``cli.main()`` with no arguments) loads the modules its command needs, the
collector is paused; once ``run`` has built its app, or before any other command starts, what was
made goes to the permanent generation and collection resumes, so the pass itself collects as
before. A call of ``main`` from a process that goes on never touches the collector.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import contextlib, gc, io, json, sys
from cspr_mailbot import app, cli, wiring
seen = {}
real_build, real_once = wiring.build_app, app.App.run_once
def build_app(*a, **k):
    seen["building"] = gc.isenabled()
    return real_build(*a, **k)
def run_once(self, *a, **k):
    seen["pass"] = gc.isenabled()
    seen["frozen"] = gc.get_freeze_count()
    return real_once(self, *a, **k)
wiring.build_app, app.App.run_once = build_app, run_once
real_check = cli.cmd_check_config
def check_config(*a, **k):
    seen["check-config"] = gc.isenabled()
    return real_check(*a, **k)
cli.cmd_check_config = check_config
out = {}
with contextlib.redirect_stdout(io.StringIO()):
    sys.argv = ["cspr-mailbot", *sys.argv[1:]]
    out["rc"] = cli.main()
out["after"] = gc.isenabled()
out.update(seen)
print(json.dumps(out))
"""


def program(tmp_path: Path, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=tmp_path,  # no config.toml here: the built-in default (a Maildir, .eml files)
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    got: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return got


def test_run_starts_with_the_collector_paused_and_passes_with_it_on(tmp_path: Path) -> None:
    got = program(tmp_path, "run", "--once", "--now", "2026-11-30T10:00")
    assert got["rc"] == 0
    assert got["building"] is False  # the app is built with the collector paused ...
    assert got["pass"] is True  # ... and the pass collects
    assert isinstance(got["frozen"], int) and got["frozen"] > 10_000  # what start-up made
    assert got["after"] is True


def test_other_commands_run_with_the_collector_on(tmp_path: Path) -> None:
    got = program(tmp_path, "check-config")
    assert got["rc"] == 0 and got["check-config"] is True and got["after"] is True


def test_a_usage_error_leaves_the_collector_on(tmp_path: Path) -> None:
    got = program(tmp_path, "no-such-command")
    assert got["rc"] == 2 and got["after"] is True


def test_a_call_from_a_process_that_goes_on_never_pauses_it(tmp_path: Path) -> None:
    code = (
        "import contextlib, gc, io, json\n"
        "from cspr_mailbot import cli, wiring\n"
        "seen = {}\n"
        "real = wiring.build_app\n"
        "def build_app(*a, **k):\n"
        "    seen['building'] = gc.isenabled()\n"
        "    return real(*a, **k)\n"
        "wiring.build_app = build_app\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = cli.main(['run', '--once', '--now', '2026-11-30T10:00'])\n"
        "print(json.dumps({'rc': rc, 'frozen': gc.get_freeze_count(), **seen}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout.splitlines()[-1])
    assert got == {"rc": 0, "frozen": 0, "building": True}
