"""Hand finished messages to the world: an SMTP server, or .eml files in a folder when there is none."""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import SendError
from .files import write_private

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

logger = logging.getLogger(__name__)


class Sender(Protocol):
    def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        raw: bytes,
        key: str,
        *,
        before_data: Callable[[], None] | None = None,
    ) -> list[str]:
        """Hand one message over; the recipients the server refused while taking it for the rest.

        ``before_data`` is called just before the message itself goes (SMTP's DATA, Graph's POST):
        the last moment to be sure of what must be on disk before the server can accept it, with
        the envelope's round trips done meanwhile. An exception from it stops the send.
        """
        ...

    def close(self) -> None: ...


class _Session(smtplib.SMTP):
    """smtplib's session, with a hook run before DATA (``Sender.send``'s ``before_data``)."""

    before_data: Callable[[], None] | None = None

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        if self.before_data is not None:
            self.before_data()
        return super().data(msg)


class _TlsSession(_Session, smtplib.SMTP_SSL):
    """The same over implicit TLS (port 465)."""


class SmtpSender:
    """One SMTP session reused for a batch; reconnects when the server drops it."""

    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        username: str | None = None,
        password: str | None = None,
        *,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        oauth2_token: Callable[[bool], str] | None = None,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        # auth = "oauth2": AUTH XOAUTH2 with this token (True: the last one was refused, renew it).
        self._oauth2_token = oauth2_token
        self._token_refused = False
        self.username, self.password = username, password
        self.timeout = timeout
        self._context = ssl_context
        self._conn: _Session | None = None

    @property
    def context(self) -> ssl.SSLContext:
        """The TLS context for ``ssl`` and ``starttls``: the one given, else the system's defaults.

        Made on first use, not with the sender: loading the system's CA certificates takes tens of
        milliseconds that a plain (``none``) connection, or a run that sends nothing, need not pay.
        Kept for the sender's life, as it was when it was made up front.
        """
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context

    def _connect(self) -> _Session:
        try:
            conn: _Session
            if self.security == "ssl":
                conn = _TlsSession(self.host, self.port, timeout=self.timeout, context=self.context)
            else:
                conn = _Session(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    conn.starttls(context=self.context)
            if self.username and self._oauth2_token is not None:
                self._xoauth2(conn)
            elif self.username:
                conn.login(self.username, self.password or "")
            return conn
        except smtplib.SMTPAuthenticationError as exc:
            self._token_refused = self._oauth2_token is not None
            raise SendError(
                f"SMTP login refused by {self.host}: {exc.smtp_code}", permanent=False
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"cannot reach SMTP server {self.host}:{self.port}: {exc}") from exc

    def check(self) -> None:
        """Connect, start TLS and log in as for sending, then leave (for ``doctor``)."""
        conn = self._connect()
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            pass

    def _xoauth2(self, conn: smtplib.SMTP) -> None:
        from .oauth import TokenError, xoauth2

        assert self._oauth2_token is not None and self.username
        try:
            token = self._oauth2_token(self._token_refused)
        except TokenError as exc:
            conn.close()
            raise SendError(f"SMTP login: no OAuth2 token: {exc}") from None
        user = self.username
        conn.ehlo_or_helo_if_needed()
        # A refusal comes as a 334 with an error in JSON; the empty answer ends the exchange (535).
        conn.auth(
            "XOAUTH2", lambda challenge=None: xoauth2(user, token) if challenge is None else ""
        )
        self._token_refused = False

    def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        raw: bytes,
        key: str,
        *,
        before_data: Callable[[], None] | None = None,
    ) -> list[str]:
        # An address with UTF-8 in it (RFC 6532) needs the server's SMTPUTF8; smtplib refuses it if
        # the server has none. Without the option, smtplib raises UnicodeEncodeError mid-command.
        utf8 = not all(a.isascii() for a in (mail_from, *recipients))
        options = ["SMTPUTF8"] if utf8 else []
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            self._conn.before_data = before_data
            try:
                refused = self._conn.sendmail(mail_from, list(recipients), raw, options)
            except smtplib.SMTPNotSupportedError as exc:
                self.close()
                raise SendError(
                    f"{self.host} cannot take an address written in UTF-8 (no SMTPUTF8)",
                    permanent=True,
                ) from exc
            except smtplib.SMTPServerDisconnected:
                self._conn = None
                if attempt == 2:
                    raise SendError(f"{self.host} dropped the connection") from None
                continue
            except smtplib.SMTPRecipientsRefused as exc:
                codes = {code for code, _ in exc.recipients.values()}
                raise SendError(
                    f"every recipient refused ({sorted(codes)})",
                    permanent=all(c >= 500 for c in codes),
                ) from exc
            except smtplib.SMTPResponseException as exc:
                self.close()
                raise SendError(
                    f"refused: {exc.smtp_code}", permanent=exc.smtp_code >= 500
                ) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                raise SendError(f"sending failed: {exc}") from exc
            except BaseException:  # before_data's: the envelope is open on the server, leave it
                self.close()
                raise
            finally:
                if self._conn is not None:
                    self._conn.before_data = None
            if refused:
                logger.warning("%s: %d recipient(s) refused", key, len(refused))
            return sorted(refused)
        raise SendError(f"{self.host} dropped the connection")  # not reached: attempt 2 raises

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                pass


class EmlSender:
    """With no [smtp] section, each outgoing message is written as ``<outbox>/<key>.eml``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        raw: bytes,
        key: str,
        *,
        before_data: Callable[[], None] | None = None,
    ) -> list[str]:
        if before_data is not None:
            before_data()
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_") + ".eml"
        final = self.folder / name
        envelope = (
            f"X-Envelope-From: {mail_from}\r\nX-Envelope-To: {', '.join(recipients)}\r\n".encode()
        )
        try:
            # Durable: the file is the relay's acceptance, which the store records next (SPEC 3).
            write_private(final, envelope + raw, durable=True)
        except OSError as exc:
            raise SendError(f"cannot write {final}: {exc.strerror}") from exc
        return []

    def close(self) -> None:
        pass
