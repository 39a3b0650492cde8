"""The daemon loop: a pass, then IDLE (or a poll) until mail arrives or the schedule needs a look; signals.

SIGTERM and SIGINT let the current message finish and end the loop; the process then exits 0.
A dropped connection or a restarted server is met with a reconnect and back-off, never an exit.
While the mailbox cannot be reached the schedule (chasers, notices, the digest) still runs and mail
is still sent; after every pass or attempt the health record is updated (health.py), and the wait is
cut short so that an alert goes out on time.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime

from .app import App, PassReport, now_utc
from .core.backoff import backoff
from .errors import MailSourceError, StoreDamaged, StoreError, trace_without_values
from .health import Health, after_pass

logger = logging.getLogger(__name__)

MAX_BACKOFF = 300.0


def install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        logger.info(
            "signal %s: finishing the current message, then stopping", signal.Signals(signum).name
        )
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_forever(
    app: App,
    stop: threading.Event,
    *,
    poll_seconds: float = 60.0,
    clock: Callable[[], datetime] = now_utc,
    health: Health | None = None,
) -> None:
    """Run passes until ``stop`` is set. Nothing in here exits the process."""
    source = app.source
    assert source is not None
    failures = 0  # in a row; the wait after each is backoff(failures, 1 s, MAX_BACKOFF)
    connected = False
    while not stop.is_set():
        try:
            if not connected:
                source.connect()
                connected = True
                logger.info("connected to the mailbox")
            now = clock()
            report = app.run_once(now, stop, patient=True)
            if health is not None:
                after_pass(app, health, now, report)
            if report.processed or report.sent:
                logger.info(
                    "pass: %d processed, %d duplicate, %d failed, %d sent",
                    report.processed,
                    report.duplicates,
                    report.failed,
                    report.sent,
                )
            failures = 0
            # Wake for new mail, or at the poll interval to look at the schedule (chasers, digest).
            source.wait(poll_seconds, stop)
        except MailSourceError as exc:
            connected = False
            failures += 1
            _close_quietly(source)
            wait = backoff(failures, 1.0, MAX_BACKOFF)
            if health is not None:
                now = clock()
                after_pass(app, health, now, run_without_mailbox(app, now, patient=True), exc)
                until_alert = health.seconds_until_alert(clock())
                if until_alert is not None:
                    wait = max(min(wait, until_alert), 0.5)  # wake to alert on time
            logger.warning("mailbox: %s; reconnecting in %.0f s", exc, wait)
            stop.wait(wait)
        except StoreDamaged:
            raise  # the store lost what it held: stop, never carry on with what is left
        except StoreError as exc:
            failures += 1
            delay = backoff(failures, 1.0, MAX_BACKOFF)
            logger.error("store: %s; trying again in %.0f s", exc, delay)
            stop.wait(delay)
        except Exception as exc:  # a bug must not take the mailbox down with it: log, wait, go on
            failures += 1
            delay = backoff(failures, 1.0, MAX_BACKOFF)
            logger.error(
                "unexpected error in the pass; trying again in %.0f s: %s",
                delay,
                trace_without_values(exc),
            )
            stop.wait(delay)
    _close_quietly(source)
    logger.info("stopped")


def run_without_mailbox(app: App, now: datetime, *, patient: bool = False) -> PassReport:
    """The mailbox is unreachable: the due chasers, notices and digest still go, if sending works."""
    report = PassReport()
    try:
        app.run_schedule(now, report)
        app.flush_outbox(now, report, patient=patient)
    except StoreError as exc:
        logger.error("store: %s; the schedule waits for the next pass", exc)
    except Exception as exc:  # the schedule must not take the loop down either
        logger.error("the schedule failed: %s", trace_without_values(exc))
    return report


def _close_quietly(source: object) -> None:
    try:
        source.close()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - closing a broken connection may fail in any way
        logger.debug("close failed", exc_info=True)
