"""Where mail comes from: the shared mailbox over IMAP (imapclient), or a local Maildir.

Both sources hand over ``RawMessage`` values (a UID and the message's bytes) and move each
processed message to the folder for its outcome; nothing is ever deleted. A message larger than
``max_message_bytes`` is not read: its size is known first (IMAP ``RFC822.SIZE``, the file's size)
and only its header section is handed over, marked ``too_large``. ``ImapSource`` waits for
mail with IDLE (polling where IDLE is missing) and reconnects with backoff; ``MaildirSource`` is the
embedded default that needs no server. Logs name message UIDs and folders only, never subjects
or addresses.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal, Protocol

from imapclient import DELETED, SEEN, IMAPClient
from imapclient import exceptions as imap_errors

from cspr_mailbot.core.backoff import backoff
from cspr_mailbot.core.models import RawMessage
from cspr_mailbot.errors import MailSourceError

if TYPE_CHECKING:
    import mailbox

logger = logging.getLogger(__name__)

Security = Literal["ssl", "starttls", "none"]

# Response codes (RFC 5530) after which trying again later may work.
_TRANSIENT_CODES = ("[UNAVAILABLE]", "[INUSE]", "[LIMIT]", "[SERVERBUG]")
# The most of a too-large message's header section that is read (it names the sender).
HEADER_BYTES = 256 * 1024


class MailSource(Protocol):
    """A mailbox the daemon reads. One thread uses a source at a time."""

    uidvalidity: int | None  # after connect; None where the source has no such thing (Maildir)

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def ensure_connected(
        self, stop: threading.Event | None = None, max_attempts: int | None = None
    ) -> bool: ...

    def reconnect(
        self, stop: threading.Event | None = None, max_attempts: int | None = None
    ) -> bool: ...

    def fetch_new(self) -> Iterator[RawMessage]: ...

    def move(self, uid: str, folder: str) -> None: ...

    def move_many(self, uids: Sequence[str], folder: str) -> None: ...

    def append_sent(self, raw: bytes) -> None: ...

    def append_sent_many(self, raws: Sequence[bytes], *, wait: bool = True) -> None:
        """Copies of sent messages in the sent folder. ``wait=False``: the source may append them
        while the caller goes on (logging, not raising, a failure); its next use waits for them."""
        ...

    def find(self, folder: str, message_id: str) -> list[bytes]: ...

    def wait(self, timeout: float, stop: threading.Event) -> bool: ...

    def filed_count(self, folders: Sequence[str]) -> int:
        """How many messages ``folders`` hold (a missing folder holds none), connected or not."""
        ...


def no_sent_copy(count: int, exc: MailSourceError) -> None:
    """Say that ``count`` sent messages got no copy in the Sent folder: a convenience lost, no more."""
    logger.warning("%d message(s) sent, but no copy in the Sent folder: %s", count, exc)


def _backoff_connect(
    connect: Callable[[], None],
    what: str,
    stop: threading.Event | None,
    max_attempts: int | None,
    initial: float,
    maximum: float,
) -> bool:
    """Call ``connect`` until it works, sleeping ``initial``, 2x, 4x ... at most ``maximum``.

    Returns True once connected, False when ``stop`` was set or ``max_attempts`` ran out; a
    non-retryable ``MailSourceError`` propagates at once.
    """
    attempt = 0
    while True:
        if stop is not None and stop.is_set():
            return False
        attempt += 1
        try:
            connect()
            if attempt > 1:
                logger.info("%s: connected after %d attempts", what, attempt)
            return True
        except MailSourceError as exc:
            if not exc.retryable:
                raise
            if max_attempts is not None and attempt >= max_attempts:
                logger.warning("%s: not reachable after %d attempts: %s", what, attempt, exc)
                return False
            delay = backoff(attempt, initial, maximum)
            logger.warning("%s: %s; trying again in %.1f s", what, exc, delay)
        if stop is None:
            time.sleep(delay)
        elif stop.wait(delay):
            return False


class ImapSource:
    """The shared mailbox over IMAP.

    Operations raise ``MailSourceError``; ``retryable=True`` means the connection was lost (it is
    dropped, and ``ensure_connected`` makes a new one). Messages are read with ``BODY.PEEK[]`` so
    they stay unread for the people who share the mailbox.
    """

    idle_refresh = 600.0  # re-issue IDLE after 10 minutes; servers end it after 29 (RFC 2177)
    idle_step = 0.5  # how often a waiting IDLE looks at the stop event
    batch_size = 50  # messages per FETCH ...
    batch_bytes = 32 * 1024 * 1024  # ... and at most this many bytes (a larger message alone)

    def __init__(
        self,
        host: str,
        port: int,
        security: Security,
        username: str,
        password: str,
        inbox: str = "INBOX",
        sent_folder: str | None = "Sent",
        idle: bool = True,
        poll_seconds: float = 60,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30,
        *,
        use_move: bool = True,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        oauth2_token: Callable[[bool], str] | None = None,
        max_message_bytes: int | None = None,
    ) -> None:
        if security not in ("ssl", "starttls", "none"):
            raise ValueError(f"security must be ssl, starttls or none, not {security!r}")
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.inbox = inbox
        self.sent_folder = sent_folder or None
        self.idle = idle
        self.poll_seconds = poll_seconds
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.use_move = use_move  # False forces COPY + \Deleted + UID EXPUNGE
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.uidvalidity: int | None = None
        self._client: IMAPClient | None = None
        self._capabilities: frozenset[bytes] = frozenset()
        self._folders: set[str] = set()
        self._high_uid: int | None = None  # the highest UID fetch_new saw on this connection
        self._fetched_uidvalidity: int | None = None
        # auth = "oauth2": called for a bearer token (True: the last one was refused, get a new one).
        self._oauth2_token = oauth2_token
        self._token_refused = False
        self.max_message_bytes = max_message_bytes  # None: no limit
        # Copies to the sent folder being appended by a thread of their own (append_sent_many with
        # wait=False); every other use of the connection waits for it first (_settle).
        self._appending: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"ImapSource({self.host}:{self.port}, {self.security})"

    # -- connection -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        self._settle()
        return self._client is not None

    def _settle(self) -> None:
        """Wait for copies being appended in the background: one command at a time on the wire."""
        appending = self._appending
        if appending is not None and appending is not threading.current_thread():
            appending.join()
            self._appending = None

    def connect(self) -> None:
        """Connect, log in and select the inbox; raises ``MailSourceError``."""
        self.close()
        client: IMAPClient | None = None
        try:
            with self._guard("connect"):
                client = self._open()
                self._login(client)
                selected = client.select_folder(self.inbox)
                capabilities = frozenset(client.capabilities())
        except MailSourceError:
            if client is not None:
                _shutdown_quietly(client)
            raise
        assert client is not None
        uidvalidity = int(selected[b"UIDVALIDITY"])
        if self.uidvalidity is not None and uidvalidity != self.uidvalidity:
            logger.warning(
                "UIDVALIDITY of %s changed from %s to %s: UIDs start again; the ledger keeps "
                "messages from being processed twice",
                self.inbox,
                self.uidvalidity,
                uidvalidity,
            )
        self.uidvalidity = uidvalidity
        self._client = client
        self._capabilities = capabilities
        self._folders = {self.inbox}
        self._high_uid = None
        logger.info(
            "connected to %s:%s (%s), uidvalidity %s, idle %s",
            self.host,
            self.port,
            self.security,
            uidvalidity,
            "yes" if self._can_idle() else "no",
        )

    def _login(self, client: IMAPClient) -> None:
        if self._oauth2_token is None:
            client.login(self.username, self._password)
            return
        from .oauth import TokenError

        try:
            token = self._oauth2_token(self._token_refused)
        except TokenError as exc:
            raise MailSourceError(
                f"IMAP login: no OAuth2 token: {exc}", retryable=exc.retryable
            ) from None
        try:
            client.oauth2_login(self.username, token)
        except imap_errors.LoginError:
            self._token_refused = True  # the next attempt asks for a new token
            raise
        self._token_refused = False

    def _tls_context(self) -> ssl.SSLContext:
        """The context for ``ssl`` and ``starttls``: the one given, else the system's defaults.

        Made only for a connection that uses TLS: loading the system's CA certificates takes tens
        of milliseconds that a plain (``none``, loopback) connection need not pay.
        """
        return self.ssl_context or ssl.create_default_context()

    def _open(self) -> IMAPClient:
        if self.security == "ssl":
            return IMAPClient(
                self.host,
                self.port,
                ssl=True,
                ssl_context=self._tls_context(),
                timeout=self.timeout,
            )
        client = IMAPClient(self.host, self.port, ssl=False, timeout=self.timeout)
        if self.security == "starttls":
            try:
                client.starttls(self._tls_context())
            except BaseException:
                _shutdown_quietly(client)
                raise
        return client

    def close(self) -> None:
        """Log out (best effort) and forget the connection, once the copies being appended are in."""
        self._settle()
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - the connection is going either way
            _shutdown_quietly(client)

    def _drop(self) -> None:
        self._settle()
        client, self._client = self._client, None
        if client is not None:
            _shutdown_quietly(client)

    def ensure_connected(
        self, stop: threading.Event | None = None, max_attempts: int | None = None
    ) -> bool:
        """Connect if not connected, retrying with backoff (1, 2, 4 ... 60 s) until ``stop`` is set.

        Returns True when connected, False if stopped or out of attempts (with neither, it keeps
        trying). A refused login or an untrusted certificate is not retried: its
        ``MailSourceError(retryable=False)`` propagates.
        """
        if self._client is not None:
            return True
        return _backoff_connect(
            self.connect, repr(self), stop, max_attempts, self.backoff_initial, self.backoff_max
        )

    def reconnect(
        self, stop: threading.Event | None = None, max_attempts: int | None = None
    ) -> bool:
        """Drop the connection and ``ensure_connected``."""
        self._drop()
        return self.ensure_connected(stop, max_attempts)

    def _require(self) -> IMAPClient:
        self._settle()
        if self._client is None:
            raise MailSourceError(f"{self!r}: not connected", retryable=True)
        return self._client

    def _can_idle(self) -> bool:
        return self.idle and b"IDLE" in self._capabilities

    @contextmanager
    def _guard(self, operation: str, uid: str | None = None) -> Iterator[None]:
        """Turn imapclient and socket errors into ``MailSourceError``; drop a broken connection."""
        where = f"IMAP {operation}" + (f" uid {uid}" if uid else "")
        try:
            yield
        except MailSourceError:
            raise
        except imap_errors.LoginError as exc:
            # [UNAVAILABLE]: the server's password backend is down, not the password wrong.
            raise MailSourceError(
                f"{where}: login refused: {exc}", retryable=_transient_reply(exc)
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise MailSourceError(
                f"{where}: certificate not trusted: {exc}", retryable=False
            ) from exc
        except (imap_errors.IMAPClientAbortError, OSError, EOFError) as exc:
            self._drop()
            raise MailSourceError(f"{where}: connection lost: {exc}", retryable=True) from exc
        except imap_errors.IMAPClientError as exc:
            raise MailSourceError(
                f"{where}: refused: {exc}", retryable=_transient_reply(exc)
            ) from exc

    # -- reading --------------------------------------------------------------------------------

    def fetch_new(self) -> Iterator[RawMessage]:
        """Every message now in the inbox (not flagged \\Deleted), oldest (lowest UID) first.

        The UID SEARCH happens now; the bodies are fetched lazily, ``batch_size`` messages (and at
        most ``batch_bytes``) per FETCH, so a large backlog is never all in memory. A message moved
        away before its batch is fetched is skipped. Messages are not marked \\Seen.
        """
        client = self._require()
        with self._guard("search"):
            client.noop()  # lets the server bring our view of the inbox up to date first
            uids = sorted(int(u) for u in client.search(["UNDELETED"]))
        self._high_uid = max(uids, default=self._high_uid or 0)
        self._fetched_uidvalidity = self.uidvalidity
        logger.debug("%d message(s) in %s", len(uids), self.inbox)
        return self._fetch_batches(client, uids)

    def _fetch_batches(self, client: IMAPClient, uids: list[int]) -> Iterator[RawMessage]:
        for start in range(0, len(uids), 500):
            chunk = uids[start : start + 500]
            with self._guard("fetch sizes"):
                self._check_same(client)
                sizes = client.fetch(chunk, [b"RFC822.SIZE"])
            batch: list[int] = []
            batch_bytes = 0
            for uid in chunk:
                if uid not in sizes:
                    continue  # moved or expunged since the search
                size = int(sizes[uid].get(b"RFC822.SIZE", 0))
                if self.max_message_bytes is not None and size > self.max_message_bytes:
                    if batch:  # in UID order: what came before it first
                        yield from self._fetch_bodies(client, batch)
                        batch, batch_bytes = [], 0
                    yield from self._fetch_header(client, uid, size)
                    continue
                if batch and (
                    len(batch) >= self.batch_size or batch_bytes + size > self.batch_bytes
                ):
                    yield from self._fetch_bodies(client, batch)
                    batch, batch_bytes = [], 0
                batch.append(uid)
                batch_bytes += size
            if batch:
                yield from self._fetch_bodies(client, batch)

    def _fetch_bodies(self, client: IMAPClient, uids: list[int]) -> Iterator[RawMessage]:
        with self._guard("fetch", f"{uids[0]}..{uids[-1]}"):
            self._check_same(client)
            data = client.fetch(uids, [b"BODY.PEEK[]"])
        for uid in uids:
            body = data.get(uid, {}).get(b"BODY[]")
            if body is None:
                continue
            yield RawMessage(uid=str(uid), raw=bytes(body))

    def _fetch_header(self, client: IMAPClient, uid: int, size: int) -> Iterator[RawMessage]:
        """A message too large to fetch: its header section only (at most ``HEADER_BYTES``)."""
        logger.warning(
            "uid %s: %d bytes, over the limit of %d: fetching its headers only",
            uid,
            size,
            self.max_message_bytes,
        )
        with self._guard("fetch headers", str(uid)):
            self._check_same(client)
            data = client.fetch([uid], [f"BODY.PEEK[HEADER]<0.{HEADER_BYTES}>".encode()])
        found = data.get(uid)
        if found is None:
            return  # moved or expunged meanwhile
        header = next(
            (bytes(v) for k, v in found.items() if k.startswith(b"BODY[HEADER]") and v), b""
        )
        yield RawMessage(uid=str(uid), raw=header, size=size, too_large=True)

    def _check_same(self, client: IMAPClient) -> None:
        self._settle()
        if self._client is not client:
            raise MailSourceError(
                "IMAP connection changed during a fetch; fetch again", retryable=True
            )

    # -- changing -------------------------------------------------------------------------------

    def move(self, uid: str, folder: str) -> None:
        """Move message ``uid`` from the inbox to ``folder`` (created if missing): ``move_many``."""
        self.move_many([uid], folder)

    def move_many(self, uids: Sequence[str], folder: str) -> None:
        """Move messages ``uids`` from the inbox to ``folder`` (created if missing), in one command.

        One UID MOVE of the whole set where the server has MOVE, else UID COPY, flag \\Deleted and
        UID EXPUNGE (plain EXPUNGE without UIDPLUS). A UID that is no longer in the inbox is not an
        error. Without MOVE, a connection lost between COPY and EXPUNGE leaves the messages in both
        folders; they are then fetched again and the app's ledger recognises them.
        """
        if not uids:
            return
        client = self._require()
        named = _uid_list(uids)
        if self._fetched_uidvalidity is not None and self._fetched_uidvalidity != self.uidvalidity:
            raise MailSourceError(
                f"IMAP move uid {named}: UIDVALIDITY changed since the fetch; fetch again",
                retryable=True,
            )
        numbers = [int(uid) for uid in uids]
        with self._guard("move", named):
            self._ensure_folder(client, folder)
            if self.use_move and b"MOVE" in self._capabilities:
                client.move(numbers, folder)
            else:
                client.copy(numbers, folder)
                client.add_flags(numbers, [DELETED], silent=True)
                if b"UIDPLUS" in self._capabilities:
                    client.uid_expunge(numbers)
                else:
                    client.expunge()
        logger.info("moved uid %s to %s", named, folder)

    def append_sent(self, raw: bytes) -> None:
        """Keep a copy of a sent message in the sent folder, flagged \\Seen (if there is one)."""
        if not self.sent_folder:
            return
        client = self._require()
        with self._guard("append", None):
            self._ensure_folder(client, self.sent_folder)
            client.append(self.sent_folder, raw, flags=[SEEN])
        logger.debug("appended a copy to %s", self.sent_folder)

    def append_to(self, folder: str, raw: bytes) -> None:
        """Put ``raw`` in ``folder``, unread and flagged: a notice for the people who read it there."""
        client = self._require()
        with self._guard("append", None):
            self._ensure_folder(client, folder)
            client.append(folder, raw, flags=[b"\\Flagged"])
        logger.debug("appended a notice to %s", folder)

    def append_sent_many(self, raws: Sequence[bytes], *, wait: bool = True) -> None:
        """Copies of several sent messages, in one MULTIAPPEND (RFC 3502) where the server has it.

        ``wait=False`` appends them from a thread of its own and returns at once: the server stores
        them while the caller decides the next messages (in a backlog, a tenth of the pass was this
        wait). The connection's next use waits for the thread, so commands never overlap on it; a
        failure is logged, as the caller would (the copies are a convenience), and a lost connection
        is dropped for the next use to find, as any operation's is.
        """
        if not self.sent_folder or not raws:
            return
        if not wait:
            self._settle()
            copies = list(raws)
            self._appending = threading.Thread(
                target=self._append_behind, args=(copies,), name="sent-copies"
            )
            self._appending.start()
            return
        client = self._require()
        if len(raws) == 1 or not client.has_capability("MULTIAPPEND"):
            for raw in raws:
                self.append_sent(raw)
            return
        with self._guard("append", None):
            self._ensure_folder(client, self.sent_folder)
            client.multiappend(self.sent_folder, [{"msg": raw, "flags": [SEEN]} for raw in raws])
        logger.debug("appended %d copies to %s", len(raws), self.sent_folder)

    def _append_behind(self, copies: list[bytes]) -> None:
        try:
            self.append_sent_many(copies)
        except MailSourceError as exc:
            no_sent_copy(len(copies), exc)
        except Exception:  # noqa: BLE001 - a thread's error would otherwise vanish
            logger.exception("%d message(s) sent, but no copy in the Sent folder", len(copies))

    def find(self, folder: str, message_id: str) -> list[bytes]:
        """Every message in ``folder`` whose Message-ID is ``message_id`` (for ``export``).

        The folder is examined read-only and the inbox selected again afterwards; a folder that
        does not exist holds nothing.
        """
        client = self._require()
        wanted = _bare_id(message_id)
        with self._guard("find"):
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            try:
                uids = client.search(["HEADER", "Message-ID", wanted])
                data = client.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
            finally:
                client.select_folder(self.inbox)
        found = []
        for uid in sorted(data):
            body = data[uid].get(b"BODY[]")
            if body is not None and _message_id_of(bytes(body)) == wanted:
                found.append(bytes(body))
        return found

    def _ensure_folder(self, client: IMAPClient, folder: str) -> None:
        if folder in self._folders:
            return
        if not client.folder_exists(folder):
            try:
                client.create_folder(folder)
                logger.info("created folder %s", folder)
            except imap_errors.IMAPClientError:
                if not client.folder_exists(folder):  # not made by someone else meanwhile
                    raise
            try:
                client.subscribe_folder(folder)  # so mail clients show it
            except imap_errors.IMAPClientError as exc:
                logger.debug("could not subscribe to %s: %s", folder, exc)
        self._folders.add(folder)

    def filed_count(self, folders: Sequence[str]) -> int:
        """Messages in ``folders`` (STATUS MESSAGES); connects for the count if not connected."""
        self._settle()
        was_connected = self._client is not None
        if not was_connected:
            self.connect()
        try:
            client = self._require()
            total = 0
            with self._guard("status"):
                for folder in folders:
                    if folder and client.folder_exists(folder):
                        total += int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])
            return total
        finally:
            if not was_connected:
                self.close()

    # -- waiting --------------------------------------------------------------------------------

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Block until new mail may have arrived (True), ``timeout`` passes or ``stop`` is set.

        Uses IDLE when the server offers it (re-issued every ``idle_refresh`` seconds), else checks
        every ``poll_seconds``. Returns True at once if mail arrived since the last ``fetch_new``
        (or none was done on this connection), so mail that came while the app was busy is not
        missed.
        """
        client = self._require()
        deadline = time.monotonic() + timeout
        if self._arrived_since_fetch(client):
            return True
        if not self._can_idle():
            return self._poll(client, deadline, stop)
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._idle_once(client, min(remaining, self.idle_refresh), stop):
                return True
        return False

    def _arrived_since_fetch(self, client: IMAPClient) -> bool:
        if self._high_uid is None:
            return True
        first = self._high_uid + 1
        with self._guard("search"):
            client.noop()
            # "UID n:*" also matches the highest message when n is past it, so filter.
            found = client.search(["UID", f"{first}:*", "UNDELETED"])
        return any(int(u) >= first for u in found)

    def _poll(self, client: IMAPClient, deadline: float, stop: threading.Event) -> bool:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if stop.wait(min(self.poll_seconds, remaining)):
                return False
            if self._arrived_since_fetch(client):
                return True

    def _idle_once(self, client: IMAPClient, seconds: float, stop: threading.Event) -> bool:
        """One IDLE command of at most ``seconds``; True if the server announced a new message."""
        end = time.monotonic() + seconds
        arrived = False
        try:
            with self._guard("idle"):
                client.idle()
                suspicious = 0
                while not arrived and not stop.is_set() and time.monotonic() < end:
                    step = max(0.0, min(self.idle_step, end - time.monotonic()))
                    responses = client.idle_check(timeout=step)
                    if responses:
                        suspicious = 0
                    elif _readable_now(client):
                        # Readable, yet idle_check read nothing: imapclient swallows EOF here.
                        suspicious += 1
                        if suspicious >= 2:
                            raise EOFError("server closed the connection during IDLE")
                    for response in responses:
                        if len(response) > 1 and response[1] == b"EXISTS":
                            arrived = True
                        elif response[0] == b"BYE":
                            raise EOFError("server said BYE during IDLE")
                _text, responses = client.idle_done()
                arrived = arrived or any(len(r) > 1 and r[1] == b"EXISTS" for r in responses)
        except MailSourceError as exc:
            # Whatever state IDLE was left in (even after an odd reply), this connection is done
            # and a new one is the remedy.
            self._drop()
            if exc.retryable:
                raise
            raise MailSourceError(str(exc), retryable=True) from exc
        if arrived:
            logger.debug("IDLE: new mail in %s", self.inbox)
        return arrived


def _transient_reply(exc: Exception) -> bool:
    return any(code in str(exc).upper() for code in _TRANSIENT_CODES)


def _readable_now(client: IMAPClient) -> bool:
    poller = select.poll()
    poller.register(client.socket().fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _shutdown_quietly(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:  # noqa: BLE001 - closing a socket that may already be gone
        pass


class MaildirSource:
    """A local Maildir, the embedded default.

    The inbox is the Maildir's root (or a Maildir++ subfolder when ``inbox`` is not INBOX); folders
    are Maildir++ subfolders (``.Processed``, ``.Needs triage``) created when first used. A
    message's UID is its Maildir key (the file name without the ``:2,`` flags).

    ``move`` renames the file into the folder, which is atomic on one filesystem: there is no moment
    with the message in both places or in neither. Where that rename is impossible (a folder on
    another filesystem) it adds a copy to the folder, then removes the original; a crash in between
    leaves a duplicate, which the app's ledger recognises (by Message-ID and hash) when it comes
    round again.
    """

    uidvalidity: int | None = None

    def __init__(
        self,
        path: str | os.PathLike[str],
        inbox: str = "INBOX",
        sent_folder: str | None = "Sent",
        poll_seconds: float = 1.0,
        max_message_bytes: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_message_bytes = max_message_bytes  # None: no limit
        self.inbox = inbox
        self.sent_folder = sent_folder or None
        self.poll_seconds = poll_seconds
        self._root: mailbox.Maildir | None = None
        self._seen: set[str] | None = None  # keys in the inbox at the last fetch_new

    def __repr__(self) -> str:
        return "MaildirSource()"  # the path may name a person's home directory

    # -- connection -----------------------------------------------------------------------------

    def connect(self) -> None:
        try:
            for sub in ("cur", "new", "tmp"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            self._root = _maildir()(self.path, factory=None, create=True)
            self._folder_dir(self.inbox)
        except OSError as exc:
            raise MailSourceError(
                f"Maildir: cannot open: {exc}", retryable=_transient(exc)
            ) from exc
        self._seen = None

    def close(self) -> None:
        self._root = None

    def ensure_connected(
        self, stop: threading.Event | None = None, max_attempts: int | None = None
    ) -> bool:
        if self._root is not None:
            return True
        return _backoff_connect(self.connect, repr(self), stop, max_attempts, 1.0, 60.0)

    def reconnect(
        self, stop: threading.Event | None = None, max_attempts: int | None = None
    ) -> bool:
        self.close()
        return self.ensure_connected(stop, max_attempts)

    def _require(self) -> mailbox.Maildir:
        if self._root is None:
            raise MailSourceError("Maildir: not opened", retryable=True)
        return self._root

    def _folder_dir(self, folder: str) -> Path:
        """The directory of ``folder``, created (as a Maildir++ folder) if missing."""
        root = self._require()
        if folder.upper() == "INBOX":
            return self.path
        name = folder.replace("/", ".")
        if not name or name.startswith(".") or ".." in name or os.sep in name or "\0" in name:
            raise MailSourceError(f"Maildir: bad folder name {folder!r}", retryable=False)
        directory = self.path / f".{name}"
        if not (directory / "cur").is_dir():
            root.add_folder(name)
            logger.info("created folder %s", folder)
        return directory

    # -- reading --------------------------------------------------------------------------------

    def _entries(self, directory: Path) -> list[tuple[int, str, Path]]:
        """``(mtime_ns, key, path)`` of each message in ``directory``'s new/ and cur/."""
        out = []
        for sub in ("new", "cur"):
            try:
                with os.scandir(directory / sub) as it:
                    for entry in it:
                        if entry.name.startswith(".") or not entry.is_file():
                            continue
                        try:
                            mtime = entry.stat().st_mtime_ns
                        except FileNotFoundError:
                            continue
                        key = entry.name.split(_maildir().colon, 1)[0]
                        out.append((mtime, key, Path(entry.path)))
            except FileNotFoundError:
                continue
        return out

    def fetch_new(self) -> Iterator[RawMessage]:
        """Every message now in the inbox, oldest (file time, then key) first, read one by one."""
        self._require()
        try:
            entries = sorted(self._entries(self._folder_dir(self.inbox)))
        except OSError as exc:
            raise MailSourceError(
                f"Maildir: cannot list: {exc}", retryable=_transient(exc)
            ) from exc
        self._seen = {key for _mtime, key, _path in entries}
        return self._read(entries)

    def _read(self, entries: list[tuple[int, str, Path]]) -> Iterator[RawMessage]:
        for _mtime, key, path in entries:
            try:
                message = self._read_one(key, path)
            except FileNotFoundError:
                continue  # moved away since the listing (or its flags changed: next pass)
            except OSError as exc:
                raise MailSourceError(
                    f"Maildir: cannot read uid {key}: {exc}", retryable=_transient(exc)
                ) from exc
            yield message

    def _read_one(self, key: str, path: Path) -> RawMessage:
        """The message in ``path``; only its header section when it is over the size limit."""
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if self.max_message_bytes is None or size <= self.max_message_bytes:
                return RawMessage(uid=key, raw=f.read(), size=size)
            logger.warning(
                "uid %s: %d bytes, over the limit of %d: reading its headers only",
                key,
                size,
                self.max_message_bytes,
            )
            return RawMessage(uid=key, raw=header_section(f), size=size, too_large=True)

    # -- changing -------------------------------------------------------------------------------

    def move(self, uid: str, folder: str) -> None:
        """Move message ``uid`` to ``folder``; nothing happens if it is no longer in the inbox."""
        self.move_many([uid], folder)

    def move_many(self, uids: Sequence[str], folder: str) -> None:
        """Move messages ``uids`` to ``folder``, one rename each after one listing of the inbox.

        A message no longer in the inbox is skipped.
        """
        if not uids:
            return
        self._require()
        moved: list[str] = []
        try:
            target = self._folder_dir(folder)
            where = {key: p for _m, key, p in self._entries(self._folder_dir(self.inbox))}
            for uid in uids:
                source = where.get(uid)
                if source is None:
                    logger.debug("uid %s is no longer in the inbox", uid)
                    continue
                try:
                    _move_file(source, target)
                except FileNotFoundError:
                    logger.debug("uid %s vanished while being moved", uid)
                    continue
                moved.append(uid)
        except OSError as exc:
            raise MailSourceError(
                f"Maildir: cannot move uid {_uid_list(uids)}: {exc}", retryable=_transient(exc)
            ) from exc
        finally:
            if moved:
                logger.info("moved uid %s to %s", _uid_list(moved), folder)

    def append_sent_many(self, raws: Sequence[bytes], *, wait: bool = True) -> None:
        for raw in raws:  # files on a local disk: always at once
            self.append_sent(raw)

    def append_sent(self, raw: bytes) -> None:
        """Add a copy to the sent folder, flagged Seen (``cur/KEY:2,S``)."""
        if not self.sent_folder:
            return
        self._require()
        try:
            directory = self._folder_dir(self.sent_folder)
            key = _maildir()(directory, factory=None, create=False).add(raw)
            os.rename(directory / "new" / key, directory / "cur" / f"{key}{_maildir().colon}2,S")
        except OSError as exc:
            raise MailSourceError(
                f"Maildir: cannot keep a sent copy: {exc}", retryable=_transient(exc)
            ) from exc

    def filed_count(self, folders: Sequence[str]) -> int:
        """Messages in ``folders``, counted from the directories: nothing is created or opened."""
        total = 0
        for folder in folders:
            if not folder or folder.upper() == "INBOX":
                continue
            total += len(self._entries(self.path / f".{folder.replace('/', '.')}"))
        return total

    def find(self, folder: str, message_id: str) -> list[bytes]:
        """Every message in ``folder`` whose Message-ID is ``message_id`` (for ``export``)."""
        self._require()
        wanted = _bare_id(message_id)
        found = []
        try:
            directory = self._folder_dir(folder)
            for _mtime, _key, path in sorted(self._entries(directory)):
                raw = path.read_bytes()
                if _message_id_of(raw) == wanted:
                    found.append(raw)
        except OSError as exc:
            raise MailSourceError(
                f"Maildir: cannot read: {exc}", retryable=_transient(exc)
            ) from exc
        return found

    # -- waiting --------------------------------------------------------------------------------

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Look at the inbox every ``poll_seconds`` until a message the last ``fetch_new`` did not
        see appears (True), ``timeout`` passes or ``stop`` is set (False)."""
        self._require()
        if self._seen is None:
            return True
        deadline = time.monotonic() + timeout
        while True:
            try:
                keys = {key for _m, key, _p in self._entries(self._folder_dir(self.inbox))}
            except OSError as exc:
                raise MailSourceError(
                    f"Maildir: cannot list: {exc}", retryable=_transient(exc)
                ) from exc
            if keys - self._seen:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or stop.wait(min(self.poll_seconds, remaining)):
                return False


def header_section(f: BinaryIO) -> bytes:
    """The header section of the message ``f`` is at the start of: up to and including the blank
    line that ends it, and at most ``HEADER_BYTES``."""
    lines: list[bytes] = []
    total = 0
    while total < HEADER_BYTES:
        line = f.readline(HEADER_BYTES - total)
        if not line:
            break
        lines.append(line)
        total += len(line)
        if line in (b"\n", b"\r\n"):
            break
    return b"".join(lines)


def _move_file(source: Path, target: Path) -> None:
    """Rename a Maildir message into the folder ``target`` (same subdirectory, same name).

    Atomic on one filesystem; across filesystems, a copy is added to the folder and the original
    removed (a crash in between leaves a duplicate, which the app's ledger recognises).
    """
    destination = target / source.parent.name / source.name
    try:
        os.rename(source, destination)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        _maildir()(target, factory=None, create=False).add(source.read_bytes())
        source.unlink(missing_ok=True)


def _uid_list(uids: Sequence[str]) -> str:
    """UIDs for a log line: ``7``, or ``7,8,9`` (a batch; UIDs name no one)."""
    return ",".join(uids)


def _message_id_of(raw: bytes) -> str | None:
    """The Message-ID header of ``raw``, without its angle brackets (headers only are parsed)."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    value = headers.get("Message-ID")
    return _bare_id(str(value)) if value is not None else None


def _bare_id(message_id: str) -> str:
    return message_id.strip().strip("<>").strip()


def _maildir() -> type[mailbox.Maildir]:
    """The standard library's Maildir, imported for a [maildir] source alone: an IMAP run need not
    load the ``mailbox`` module (and the calendar and mbox machinery it brings)."""
    import mailbox

    return mailbox.Maildir


def _transient(exc: OSError) -> bool:
    """Whether an OS error may go away by itself (a full disk, a lost mount)."""
    return not isinstance(exc, PermissionError | NotADirectoryError | IsADirectoryError)
