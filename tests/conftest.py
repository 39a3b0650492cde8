"""Shared pytest fixtures: real Dovecot and SMTP servers on 127.0.0.1 (see tests/servers.py).

``dovecot`` is one server for the whole session, emptied before each test that uses it; a test
may ``restart()``, ``stop()`` or ``start()`` it (it is started again for the next test).
``smtp_server`` is a fresh aiosmtpd server per test; ``make_smtp_server(...)`` builds one with
AUTH, STARTTLS or LMTP forwarding into Dovecot.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_TESTS = Path(__file__).resolve().parent
for _path in (_TESTS.parent, _TESTS):  # the package without installing it, and tests/servers.py
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from e2e import serving  # noqa: E402
from servers import DovecotServer, SmtpServer  # noqa: E402

pytest_plugins = ["msstandins"]  # the Microsoft stand-ins' fixtures: ms, oauth_dovecot


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    yield from serving(DovecotServer())


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> DovecotServer:
    """The session's Dovecot, running, with both users' mailboxes empty."""
    dovecot_server.reset()
    return dovecot_server


@pytest.fixture
def make_smtp_server(request: pytest.FixtureRequest) -> Iterator[Callable[..., SmtpServer]]:
    """Build and start ``SmtpServer(**options)``; ``forward=True`` delivers into the Dovecot too.

    STARTTLS uses the Dovecot's self-signed certificate (``server.cert``, ``server.cafile``).
    """
    made: list[SmtpServer] = []

    def make(*, forward: bool = False, **options: Any) -> SmtpServer:
        if forward:
            options["forward_to"] = request.getfixturevalue("dovecot_server")
        if options.get("starttls"):
            options.setdefault("cert", request.getfixturevalue("dovecot_server").cert)
        server = SmtpServer(**options)
        server.start()
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def smtp_server(make_smtp_server: Callable[..., SmtpServer]) -> SmtpServer:
    """A plain SMTP server (no AUTH, no TLS) that keeps what it receives."""
    return make_smtp_server()


@pytest.fixture
def fdatasyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every fdatasync the process makes (the store's commits), counted as it goes to the disk."""
    calls: list[int] = []
    real = os.fdatasync

    def counted(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counted)
    return calls
