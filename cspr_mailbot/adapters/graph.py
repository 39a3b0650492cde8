"""Send mail with Microsoft Graph ``sendMail`` ([smtp] transport = "graph"), for tenants with SMTP AUTH off.

The bot's own MIME message goes as it is (base64, ``Content-Type: text/plain``), so every header of
SPEC 5 survives, and Exchange saves it to the mailbox's Sent Items (so no IMAP copy is appended).
The recipients are those of the message's To and Cc headers, as Graph reads them.

Answers: 202 taken; 429 and 503 honour ``Retry-After`` (a short wait here, a longer one by refusing
to send before it is over); 401 renews the token once; any other 4xx is a permanent refusal, like an
SMTP 5xx; a 5xx or a network error is worth trying again later.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from ..errors import SendError
from .oauth import GRAPH_SCOPE, TokenError, TokenSource, http_session

logger = logging.getLogger(__name__)

MAX_INLINE_WAIT = 10.0  # a Retry-After up to this many seconds is waited out within the send


class GraphSender:
    """The ``Sender`` of adapters/smtp.py, over ``POST {graph}/v1.0/users/{mailbox}/sendMail``."""

    def __init__(
        self,
        graph_url: str,
        mailbox: str,
        tokens: TokenSource,
        *,
        cafile: Any = None,
        timeout: float = 30.0,
        session: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = f"{graph_url.rstrip('/')}/v1.0/users/{quote(mailbox, safe='@')}/sendMail"
        self.tokens = tokens
        self.timeout = timeout
        self._session = session or http_session(cafile, graph_url, timeout)
        self._sleep = sleep
        self._monotonic = monotonic
        self._not_before = 0.0  # Graph asked us to wait until then (monotonic seconds)

    def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        raw: bytes,
        key: str,
        *,
        before_data: Callable[[], None] | None = None,
    ) -> list[str]:
        import requests

        wait = self._not_before - self._monotonic()
        if wait > 0:
            raise SendError(f"Graph asked to wait: trying again in {wait:.0f} s")
        body = base64.b64encode(raw)
        renewed = False
        waits = 0
        while True:
            try:
                token = self.tokens.token(GRAPH_SCOPE)
            except TokenError as exc:
                raise SendError(f"Graph: no OAuth2 token: {exc}") from None
            if before_data is not None:
                before_data()
            try:
                resp = self._session.post(
                    self.url,
                    data=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
                )
            except requests.RequestException as exc:
                raise SendError(f"cannot reach Graph: {type(exc).__name__}: {exc}") from None
            status = resp.status_code
            if status in (200, 202):
                logger.debug("%s: taken by Graph", key)
                return []
            reason = _reason(resp)
            if status == 401 and not renewed:
                logger.info("%s: Graph refused the token (401); renewing it once", key)
                try:
                    self.tokens.renew(GRAPH_SCOPE)
                except TokenError as exc:
                    raise SendError(f"Graph: no OAuth2 token: {exc}") from None
                renewed = True
                continue
            if status in (429, 503):
                delay = _retry_after(resp)
                if delay <= MAX_INLINE_WAIT and waits < 2:
                    logger.info("%s: Graph said %d, waiting %.0f s as it asked", key, status, delay)
                    self._sleep(delay)
                    waits += 1
                    continue
                self._not_before = self._monotonic() + delay
                raise SendError(f"Graph is throttling ({status}): retry after {delay:.0f} s")
            if status == 401:
                raise SendError(f"Graph refused a fresh token (401): {reason}")
            if 400 <= status < 500:
                raise SendError(f"refused by Graph: {status} {reason}", permanent=True)
            raise SendError(f"Graph failed: {status} {reason}")

    def close(self) -> None:
        pass  # the session's connections are kept for the next pass


def _retry_after(resp: Any) -> float:
    """Seconds from a Retry-After header (a number; Graph sends no dates); 30 without one."""
    value = resp.headers.get("Retry-After", "")
    try:
        return max(0.0, min(float(value), 3600.0))
    except ValueError:
        return 30.0


def _reason(resp: Any) -> str:
    """Graph's error code and message, from ``{"error": {"code": ..., "message": ...}}``."""
    try:
        error = resp.json().get("error") or {}
        return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")[:300]
    except ValueError:
        return (resp.text or "")[:200]
