"""Health (SPEC 10): what the daemon last did, kept in [health] status_file, and alerts when mail fails.

After each pass (and each failed attempt to reach the mailbox) the daemon records when it last read
the mailbox and sent mail, what is queued, how many messages were refused for good, and the last
error (its type only: a message can carry personal details). ``status`` prints the file.

When reading the mailbox or sending has failed for ``alert_after_minutes``, the coordinators are told
once, at once whatever the hour, by whichever path still works: by mail if sending works, else as a
flagged message in the triage folder of the mailbox. They are told again when it works again. The
state lives in the status file, so a restart neither repeats an alert nor forgets a recovery.
The file is merged, not overwritten: keys that other parts of the bot keep there survive.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .adapters.files import write_private
from .core.models import OutboundMessage
from .core.workdays import LONDON, format_date
from .errors import MailbotError

logger = logging.getLogger(__name__)

PATHS = ("mailbox", "sending")
_WHAT = {"mailbox": "reading the mailbox", "sending": "sending mail"}


@dataclass
class PathState:
    """One way the bot talks to the world: the mailbox (IMAP) or sending (SMTP or Graph)."""

    last_ok: str | None = None
    failing_since: str | None = None
    last_error: str | None = None  # the exception's type, never its message
    alerted: bool = False  # told it is down, and not yet told it is back


@dataclass
class Status:
    updated_at: str | None = None
    version: str = ""
    pid: int = 0
    config: str = ""
    source: str = ""
    poll_seconds: int = 60
    mailbox: PathState = field(default_factory=PathState)
    sending: PathState = field(default_factory=PathState)
    queue: int = 0
    undelivered: int = 0  # messages refused for good since the status file began
    last_error: str | None = None

    def path(self, which: str) -> PathState:
        state = getattr(self, which)
        assert isinstance(state, PathState)
        return state

    @property
    def last_mailbox_read(self) -> str | None:
        return self.mailbox.last_ok

    @property
    def last_send(self) -> str | None:
        return self.sending.last_ok

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_mailbox_read"] = self.last_mailbox_read
        data["last_send"] = self.last_send
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Status:
        known = {f for f in cls.__dataclass_fields__ if f not in PATHS}
        status = cls(**{k: v for k, v in data.items() if k in known})
        for which in PATHS:
            raw = data.get(which) or {}
            fields = PathState.__dataclass_fields__
            setattr(status, which, PathState(**{k: v for k, v in raw.items() if k in fields}))
        return status


@dataclass(frozen=True)
class Notice:
    """What the coordinators must be told: ``which`` path is ``down`` (since when) or ``back``."""

    which: str
    kind: str  # down | back
    since: str
    error: str | None


def read_status(path: Path) -> Status | None:
    """The status file, or None if there is none (or it cannot be read: then it is said why)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("status file %s unreadable (%s); starting it afresh", path, exc)
        return None
    return Status.from_json(data) if isinstance(data, dict) else None


class Health:
    """The health state of one installation, kept in its status file."""

    def __init__(self, path: Path, alert_after: timedelta, **about: Any) -> None:
        self.path = path
        self.alert_after = alert_after
        self.status = read_status(path) or Status()
        for key, value in about.items():  # version, pid, config, source, poll_seconds
            setattr(self.status, key, value)

    # -- what happened --------------------------------------------------------------------------

    def ok(self, which: str, now: datetime) -> None:
        state = self.status.path(which)
        if state.failing_since is not None:
            logger.info("%s works again (failing since %s)", _WHAT[which], state.failing_since)
        state.last_ok = now.isoformat()
        state.failing_since = None

    def failed(self, which: str, now: datetime, error: BaseException | str) -> None:
        state = self.status.path(which)
        kind = error if isinstance(error, str) else type(error).__name__
        state.last_error = kind
        self.status.last_error = kind
        if state.failing_since is None:
            state.failing_since = now.isoformat()

    def failing(self, which: str) -> bool:
        return self.status.path(which).failing_since is not None

    # -- what to tell ---------------------------------------------------------------------------

    def due(self, now: datetime) -> list[Notice]:
        """Alerts and recovery notices owed to the coordinators now."""
        out = []
        for which in PATHS:
            state = self.status.path(which)
            if state.failing_since is not None and not state.alerted:
                if now - datetime.fromisoformat(state.failing_since) >= self.alert_after:
                    out.append(Notice(which, "down", state.failing_since, state.last_error))
            elif state.failing_since is None and state.alerted:
                out.append(Notice(which, "back", state.last_ok or now.isoformat(), None))
        return out

    def told(self, notice: Notice) -> None:
        self.status.path(notice.which).alerted = notice.kind == "down"

    def seconds_until_alert(self, now: datetime) -> float | None:
        """How long until a failing path is owed an alert (None when none is coming)."""
        waits = [
            (datetime.fromisoformat(s.failing_since) + self.alert_after - now).total_seconds()
            for s in (self.status.mailbox, self.status.sending)
            if s.failing_since is not None and not s.alerted
        ]
        return max(0.0, min(waits)) if waits else None

    # -- the file -------------------------------------------------------------------------------

    def write(self, now: datetime, *, queue: int, undelivered: int = 0) -> None:
        """Record the pass: merged into the file (other keys kept), written whole, 0600."""
        self.status.updated_at = now.isoformat()
        self.status.queue = queue
        self.status.undelivered += undelivered
        try:
            existing = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(existing, dict):
                existing = {}
        except (OSError, ValueError):
            existing = {}
        existing.update(self.status.to_json())
        text = json.dumps(existing, indent=2, sort_keys=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_private(self.path, text.encode("utf-8"))
        except OSError as exc:
            logger.warning("cannot write the status file %s: %s", self.path, exc.strerror)


# -- after a pass: record, tell, write -------------------------------------------------------------


def after_pass(
    app: Any,
    health: Health,
    now: datetime,
    report: Any,
    mailbox_error: BaseException | None = None,
) -> None:
    """Record what a pass did, tell the coordinators what they are owed, and write the file."""
    if app.source is not None:
        if mailbox_error is None:
            health.ok("mailbox", now)
        else:
            health.failed("mailbox", now, mailbox_error)
    if report.send_failures > report.undeliverable:
        health.failed("sending", now, "SendError")
    elif report.sent:
        health.ok("sending", now)
    for notice in health.due(now):
        tell(app, health, notice, now)
    try:
        queue = len(app.store.outbox_pending())
    except MailbotError:
        queue = health.status.queue
    health.write(now, queue=queue, undelivered=report.undeliverable)


def tell(app: Any, health: Health, notice: Notice, now: datetime) -> bool:
    """Tell the coordinators, by mail if sending works, else in the mailbox's triage folder."""
    what = _WHAT[notice.which]
    since = _when(notice.since)
    if notice.kind == "down":
        subject = f"The mailbot has stopped {what}"
        logger.error(
            "%s has failed since %s (%s): telling the coordinators",
            what,
            notice.since,
            notice.error or "error",
        )
    else:
        subject = f"The mailbot is {what} again"
        logger.error("%s works again: telling the coordinators", what)
    om = OutboundMessage(
        key=f"health:{notice.which}:{notice.kind}:{notice.since}",
        template="health_notice",
        to=app.cfg.partnership.coordinators,
        subject=subject,
        context={
            "which": notice.which,
            "what": what,
            "kind": notice.kind,
            "since": since,
            "error": notice.error or "",
            "minutes": int(health.alert_after.total_seconds() // 60),
            "triage_folder": app.cfg.folders.triage,
        },
        internal=True,
    )
    rendered = app.renderer.render(om, now)
    if not health.failing("sending"):
        try:
            app.sender.send(
                app.cfg.partnership.mailbox,
                list(app.cfg.partnership.coordinators),
                rendered.raw,
                om.key,
            )
            health.told(notice)
            health.ok("sending", now)
            logger.error("%s: the coordinators were told by mail", om.key)
            return True
        except MailbotError as exc:
            health.failed("sending", now, exc)
            logger.error("%s: could not mail the coordinators: %s", om.key, exc)
        finally:
            app.sender.close()
    append = getattr(app.source, "append_to", None)
    if append is not None and not health.failing("mailbox"):
        try:
            append(app.cfg.folders.triage, rendered.raw)
            health.told(notice)
            logger.error(
                "%s: the notice was put in the mailbox's %s folder", om.key, app.cfg.folders.triage
            )
            return True
        except MailbotError as exc:
            logger.error("%s: could not put the notice in the mailbox: %s", om.key, exc)
    logger.error("%s: neither sending nor the mailbox works; nobody could be told", om.key)
    return False


def _when(iso: str) -> str:
    at = datetime.fromisoformat(iso).astimezone(LONDON)
    return f"{format_date(at.date())} {at:%H:%M}"


# -- status ----------------------------------------------------------------------------------------


def stale_after(status: Status) -> timedelta:
    """A daemon writes at least every poll (or back-off, at most 5 minutes): past this, it is not."""
    return timedelta(seconds=max(3 * status.poll_seconds, 600))


def status_report(status: Status | None, path: Path, now: datetime) -> tuple[int, str]:
    """``status``'s exit code (0 fresh and well, 1 otherwise) and text."""
    if status is None or status.updated_at is None:
        return 1, f"no status yet: {path} does not exist (is the daemon running?)"
    updated = datetime.fromisoformat(status.updated_at)
    age = now - updated
    stale = age > stale_after(status)
    lines = [
        f"status of {status.config or 'cspr-mailbot'} (version {status.version or '?'}, "
        f"pid {status.pid or '?'}), reading {status.source or '?'}",
        f"updated {_when(status.updated_at)}, {_age(age)} ago"
        + ("  STALE: the daemon has not written since; is it running?" if stale else ""),
        f"last mailbox read: {_when(status.mailbox.last_ok) if status.mailbox.last_ok else 'never'}",
        f"last send: {_when(status.sending.last_ok) if status.sending.last_ok else 'never'}",
        f"queued: {status.queue}; refused for good: {status.undelivered}",
        f"last error: {status.last_error or 'none'}",
    ]
    failing = False
    for which in PATHS:
        state = status.path(which)
        if state.failing_since:
            failing = True
            told = "coordinators told" if state.alerted else "coordinators not told yet"
            lines.append(
                f"FAILING: {_WHAT[which]} since {_when(state.failing_since)} "
                f"({state.last_error or 'error'}; {told})"
            )
    return (1 if stale or failing else 0), "\n".join(lines)


def status_json(status: Status | None, now: datetime) -> dict[str, Any]:
    if status is None or status.updated_at is None:
        return {"stale": True, "updated_at": None}
    out = status.to_json()
    out["stale"] = now - datetime.fromisoformat(status.updated_at) > stale_after(status)
    return out


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
