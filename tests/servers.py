"""Real mail servers on 127.0.0.1 for the tests: an unprivileged Dovecot and an aiosmtpd server.

Nothing here is a mock. ``DovecotServer`` runs Debian's dovecot (2.3) from a temporary directory
with its own config, users, self-signed certificate and ports; ``SmtpServer`` is an aiosmtpd
``Controller`` that keeps every envelope it receives and can forward it into Dovecot over LMTP.
``tests/conftest.py`` turns them into fixtures.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import functools
import os
import pwd
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

BOT_USER = "dsppb@example.gov.uk"
BOT_PASSWORD = "bot-secret-1"
OTHER_USER = "coordinator@example.gov.uk"
OTHER_PASSWORD = "coord-secret-2"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until 127.0.0.1:``port`` accepts a connection (or raise)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {proc.returncode} before port {port} opened"
                ) from None
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nothing listening on 127.0.0.1:{port} after {timeout}s"
                ) from None
            time.sleep(0.01)


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 / localhost; ``cert`` doubles as the CA file."""

    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


def make_certificate(directory: Path) -> Certificate:
    """Generate a self-signed certificate with ``openssl req``, or the cryptography package."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    openssl = shutil.which("openssl")
    if openssl:
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "2",
             "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True,
        )  # fmt: skip
    else:
        _certificate_with_cryptography(cert, key)
    return Certificate(cert, key)


def _certificate_with_cryptography(cert_path: Path, key_path: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


_CONFIG = """\
# Written by tests/servers.py for one test run.
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = cspr-test-{port}
log_path = {root}/dovecot.log
default_login_user = {user}
default_internal_user = {user}
default_internal_group = {group}
first_valid_uid = {uid}
first_valid_gid = {gid}
disable_plaintext_auth = no
auth_failure_delay = 0
auth_mechanisms = plain login
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
{passwd_mechanisms}}}
{oauth2_passdb}userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
service anvil {{
  chroot =
  # Nobody may use the penalty socket, so one test's refused login does not slow down the next.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def _run_as() -> pwd.struct_passwd:
    """The account Dovecot's login, internal and mail processes run as.

    Not root: the current user (Dovecot cannot change user anyway). Root: ``nobody``, which owns the
    temporary directory; Dovecot refuses to give mail access to uid 0.
    """
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    return pwd.getpwnam("nobody")


# With ``oauth2_key``: XOAUTH2 and OAUTHBEARER logins, the bearer token a JWT that Dovecot checks
# itself (no introspection server) with an HS256 key from a dict directory. Debian 12's 2.3.19
# reads it at KEYS/<azp or "default">/HS256/<kid or "default">, base64; the token's ``email`` claim
# must name the user logging in. No ``client_id`` here: with one, Dovecot also checks ``aud``.
_OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/dovecot-oauth2.conf.ext
}}
"""
_OAUTH2_CONF = """\
introspection_mode = local
local_validation_key_dict = fs:posix:prefix={root}/oauth2-keys/
username_attribute = email
"""


class DovecotServer:
    """A private Dovecot on 127.0.0.1: IMAP ``port``, IMAPS ``ssl_port``, LMTP ``lmtp_port``.

    Users ``BOT_USER`` and ``OTHER_USER`` (passwords in this module), each with ``~/Maildir``.
    ``oauth2_key`` (bytes): also take XOAUTH2/OAUTHBEARER logins with a JWT signed (HS256) by it,
    as Exchange Online takes Entra's tokens; passwords keep working for PLAIN and LOGIN.
    """

    host = "127.0.0.1"

    def __init__(self, root: Path | None = None, *, oauth2_key: bytes | None = None) -> None:
        self.oauth2_key = oauth2_key
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="cspr-dovecot-"))
        self.port = free_port()
        self.ssl_port = free_port()
        self.lmtp_port = free_port()
        self.user = BOT_USER
        self.password = BOT_PASSWORD
        self.other_user = OTHER_USER
        self.other_password = OTHER_PASSWORD
        self.users = (BOT_USER, OTHER_USER)
        self.startup_seconds: float | None = None
        self.pid_group: int | None = None  # the process group of the running (or last) Dovecot
        self._proc: subprocess.Popen[bytes] | None = None
        binary = shutil.which("dovecot") or next(
            (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.path.exists(p)), None
        )
        if binary is None:
            raise RuntimeError("dovecot is not installed (scripts/test installs it)")
        self.binary = binary
        self._write_files()

    # -- set-up ---------------------------------------------------------------------------------

    def _write_files(self) -> None:
        account = _run_as()
        self.cert = make_certificate(self.root)
        self.cafile = str(self.cert.cert)
        lines = []
        for user, password in ((BOT_USER, BOT_PASSWORD), (OTHER_USER, OTHER_PASSWORD)):
            home = self.root / "home" / user
            home.mkdir(parents=True, exist_ok=True)
            lines.append(f"{user}:{password}:{account.pw_uid}:{account.pw_gid}::{home}::\n")
        (self.root / "passwd").write_text("".join(lines))
        self.config = self.root / "dovecot.conf"
        oauth2 = self.oauth2_key is not None
        if self.oauth2_key is not None:
            import base64

            keys = self.root / "oauth2-keys" / "default" / "HS256"
            keys.mkdir(parents=True)
            (keys / "default").write_text(base64.b64encode(self.oauth2_key).decode())
            (self.root / "dovecot-oauth2.conf.ext").write_text(_OAUTH2_CONF.format(root=self.root))
        text = _CONFIG.format(
            root=self.root,
            user=account.pw_name,
            group=_group_name(account.pw_gid),
            uid=account.pw_uid,
            gid=account.pw_gid,
            port=self.port,
            ssl_port=self.ssl_port,
            lmtp_port=self.lmtp_port,
            passwd_mechanisms="  mechanisms = plain login\n" if oauth2 else "",
            oauth2_passdb=_OAUTH2_PASSDB.format(root=self.root) if oauth2 else "",
        )
        if oauth2:
            text = text.replace(
                "auth_mechanisms = plain login", "auth_mechanisms = plain login xoauth2 oauthbearer"
            )
        self.config.write_text(text)
        if os.geteuid() == 0:
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, account.pw_uid, account.pw_gid)
        os.chmod(self.root, 0o755)

    def home(self, user: str | None = None) -> Path:
        return self.root / "home" / (user or self.user)

    # -- process control ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        began = time.monotonic()
        with open(self.root / "dovecot.stderr", "ab") as stderr:
            self._proc = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group, so stop() can end every child
            )
        self.pid_group = self._proc.pid
        try:
            for port in (self.port, self.ssl_port, self.lmtp_port):
                wait_for_port(port, proc=self._proc)
        except Exception:
            self.stop()
            raise RuntimeError("dovecot did not start:\n" + self.log_tail()) from None
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop Dovecot and every process it started, dropping all client connections.

        The master alone leaves its imap, log and stats children running for a while, so the whole
        process group (the master's own, see ``start``) is signalled, as a service manager would.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return
        group = proc.pid
        _signal_group(group, signal.SIGTERM)
        try:
            proc.wait(timeout=2)  # usually well under 0.2 s; now and then it dawdles
        except subprocess.TimeoutExpired:
            _signal_group(group, signal.SIGKILL)
            proc.wait(timeout=5)
        deadline, killed = time.monotonic() + 5, False
        while _group_alive(group) and not (killed and time.monotonic() > deadline):
            if time.monotonic() > deadline:
                _signal_group(group, signal.SIGKILL)
                deadline, killed = time.monotonic() + 5, True
            time.sleep(0.01)

    def crash(self) -> None:
        """Kill every Dovecot process at once (SIGKILL): connections end without a BYE."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for name in ("dovecot.log", "dovecot.stderr"):
            path = self.root / name
            if path.exists():
                out.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(out)

    # -- helpers that act as a user would -------------------------------------------------------

    def client(self, user: str | None = None, password: str | None = None) -> IMAPClient:
        """A logged-in IMAPClient over plain IMAP; the caller logs out (or use ``session()``)."""
        user = user or self.user
        if password is None:
            password = self.other_password if user == self.other_user else self.password
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        client.login(user, password)
        return client

    @contextmanager
    def session(self, user: str | None = None) -> Iterator[IMAPClient]:
        client = self.client(user)
        try:
            yield client
        finally:
            try:
                client.logout()
            except Exception:  # noqa: BLE001 - best effort on a test helper
                pass

    def append(
        self,
        raw: bytes,
        folder: str = "INBOX",
        flags: tuple[bytes, ...] = (),
        user: str | None = None,
    ) -> int | None:
        """APPEND ``raw`` to ``folder`` (created if missing); returns the new UID (UIDPLUS)."""
        with self.session(user) as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            response = c.append(folder, raw, flags=flags)
        # b'[APPENDUID 1795679225 3] Append completed.'
        text = response.decode() if isinstance(response, bytes) else str(response)
        if "APPENDUID" in text:
            return int(text.split("APPENDUID", 1)[1].split()[1].rstrip("]"))
        return None

    def deliver(
        self,
        raw: bytes,
        rcpts: list[str] | None = None,
        mail_from: str = "sender@example.org",
    ) -> None:
        """Deliver ``raw`` to the INBOX of ``rcpts`` (default: the bot) over LMTP, like an MTA."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=10) as lmtp:
            refused = lmtp.sendmail(mail_from, rcpts or [self.user], raw)
        if refused:
            raise RuntimeError(f"LMTP refused {refused}")

    def folders(self, user: str | None = None) -> list[str]:
        with self.session(user) as c:
            return sorted(name for _flags, _sep, name in c.list_folders())

    def list_folder(self, folder: str = "INBOX", user: str | None = None) -> list[bytes]:
        """The raw messages in ``folder``, oldest first (read with BODY.PEEK: nothing is marked)."""
        return [raw for _uid, _flags, raw in self.messages(folder, user)]

    def messages(
        self, folder: str = "INBOX", user: str | None = None
    ) -> list[tuple[int, tuple[bytes, ...], bytes]]:
        """``(uid, flags, raw)`` of each message in ``folder``, oldest first ([] if no folder)."""
        with self.session(user) as c:
            if not c.folder_exists(folder):
                return []
            c.select_folder(folder, readonly=True)
            uids = sorted(c.search(["ALL"]))
            if not uids:
                return []
            data = c.fetch(uids, [b"FLAGS", b"BODY.PEEK[]"])
            return [
                (
                    uid,
                    tuple(f for f in data[uid][b"FLAGS"] if f != b"\\Recent"),
                    data[uid][b"BODY[]"],
                )
                for uid in uids
            ]

    def folder_count(self, folder: str = "INBOX", user: str | None = None) -> int:
        with self.session(user) as c:
            if not c.folder_exists(folder):
                return 0
            return int(c.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def reset(self) -> None:
        """Empty every user's mailbox: delete all folders but INBOX, expunge INBOX."""
        if not self.running:
            self.start()
        for user in (self.user, self.other_user):
            with self.session(user) as c:
                for _flags, _sep, name in sorted(c.list_folders(), key=lambda f: -len(f[2])):
                    if name.upper() != "INBOX":
                        c.delete_folder(name)
                c.select_folder("INBOX")
                uids = c.search(["ALL"])
                if uids:
                    c.delete_messages(uids)
                    c.expunge()


def _signal_group(group: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        pass


def _group_alive(group: int) -> bool:
    """Whether a live (not zombie) process is left in process group ``group``.

    Orphaned children that have exited stay zombies until init reaps them, which can take seconds
    here; they hold no ports or files, so they do not count.
    """
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    if not os.path.isdir("/proc/self"):
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != b"Z":
            return True
    return False


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


# -- SMTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One envelope the SMTP server accepted.

    ``message`` is parsed when first asked for, not as the server takes the mail: a real server
    costs the bot nothing beyond its answer, so neither should this one (bench/intake.py times
    the bot against it, and most tests look at a few of the messages only).
    """

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    login: str | None = None

    @functools.cached_property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    server: SmtpServer
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.server.refuse:
            return "550 5.1.1 no such user here"  # a permanent refusal, as a real server gives it
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        auth = getattr(session, "auth_data", None)
        login = auth.login.decode() if auth is not None and hasattr(auth, "login") else None
        item = Received(envelope.mail_from, tuple(envelope.rcpt_tos), raw, login)
        dovecot = self.server.forward_to
        if dovecot is not None:
            known = [r for r in envelope.rcpt_tos if r.lower() in dovecot.users]
            try:
                dovecot.deliver(
                    raw, rcpts=known or [dovecot.other_user], mail_from=envelope.mail_from
                )
            except Exception as exc:  # noqa: BLE001 - report it to the client as a 4xx
                return f"451 forwarding to LMTP failed: {exc}"
        count = self.server._record(item)
        hook = self.server.after_accept
        if hook is not None:  # once the 250 below is written: the instant a reply may go twice
            asyncio.get_running_loop().call_soon(hook, count)
        return "250 OK"


class _XOAuth2Handler(_Handler):
    """``_Handler`` that also takes AUTH XOAUTH2, the token checked by ``server.xoauth2``."""

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
        import base64

        from aiosmtpd.smtp import AuthResult, LoginPassword

        if len(args) == 2:
            blob = args[1].encode()
        else:  # no initial response: ask for it
            answer = await server.challenge_auth("", encode_to_b64=False)
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            blob = base64.b64encode(answer)
        try:
            fields = dict(
                part.split("=", 1)
                for part in base64.b64decode(blob, validate=True).decode().split("\x01")
                if part
            )
            user, token = fields["user"], fields["auth"].removeprefix("Bearer ")
        except (ValueError, KeyError):
            return AuthResult(success=False, handled=False, message="501 5.5.2 bad XOAUTH2")
        check = self.server.xoauth2
        if check is None or not check(user, token):
            self.server.xoauth2_refused += 1
            return AuthResult(
                success=False, handled=False, message="535 5.7.3 Authentication unsuccessful"
            )
        self.server.xoauth2_logins += 1
        return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))


def _long_line_controller() -> Any:
    """An aiosmtpd Controller whose SMTP takes AUTH lines longer than 512 bytes (a JWT is)."""
    import collections

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    class LongLineSMTP(SMTP):  # type: ignore[misc]
        line_length_limit = 16384
        command_size_limit = 16384
        command_size_limits: Any = collections.defaultdict(lambda: 16384)

    class LongLineController(Controller):  # type: ignore[misc]
        def factory(self) -> Any:
            return LongLineSMTP(self.handler, **self.SMTP_kwargs)

    return LongLineController


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 that keeps every envelope.

    ``auth``: ``(user, password)`` to require AUTH PLAIN/LOGIN; ``starttls``: offer STARTTLS with
    ``cert`` (and require it when ``require_starttls``); ``forward_to``: a ``DovecotServer`` that
    gets every accepted message over LMTP, in the INBOX of each recipient that is one of its users,
    or else in ``OTHER_USER``'s INBOX (a catch-all where a test sees replies to outsiders land).
    ``xoauth2``: ``check(user, token) -> bool`` to require AUTH XOAUTH2 (instead of ``auth``).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        starttls: bool = False,
        require_starttls: bool = False,
        cert: Certificate | None = None,
        forward_to: DovecotServer | None = None,
        refuse: tuple[str, ...] = (),
        xoauth2: Any = None,
    ) -> None:
        self.xoauth2 = xoauth2
        self.xoauth2_logins = 0
        self.xoauth2_refused = 0
        if starttls and cert is None:
            raise ValueError("starttls needs a certificate")
        self.port = free_port()
        self.auth = auth
        self.starttls = starttls
        self.require_starttls = require_starttls
        self.cert = cert
        self.cafile = str(cert.cert) if cert else None
        self.forward_to = forward_to
        self.refuse = {a.lower() for a in refuse}  # recipients refused with a 550 at RCPT
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._received: list[Received] = []
        self._controller: Any = None
        # Called on the server's loop with the number of messages kept so far, just after it
        # answered 250 to one (the reply is written; the client may not have read it yet).
        self.after_accept: Callable[[int], None] | None = None

    def _record(self, item: Received) -> int:
        with self._cond:
            self._received.append(item)
            self._cond.notify_all()
            return len(self._received)

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``n`` messages have arrived; return them all (raise on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._received) >= n, timeout=timeout):
                raise TimeoutError(f"{len(self._received)} of {n} messages after {timeout}s")
            return list(self._received)

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {}
        if self.auth is not None:
            want_user, want_password = self.auth

            def authenticator(
                server: Any, session: Any, envelope: Any, mechanism: str, data: Any
            ) -> Any:
                # A refusal must say handled=False, or aiosmtpd 1.4.6 never answers the client.
                if not isinstance(data, LoginPassword):
                    return AuthResult(success=False, handled=False)
                ok = data.login.decode() == want_user and data.password.decode() == want_password
                return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

            kwargs.update(
                authenticator=authenticator,
                auth_required=True,
                auth_require_tls=self.starttls,
            )
        if self.starttls and self.cert is not None:
            kwargs.update(
                tls_context=self.cert.server_context(), require_starttls=self.require_starttls
            )
        controller_class: Any = Controller
        handler: _Handler = _Handler(self)
        if self.xoauth2 is not None:
            handler = _XOAuth2Handler(self)
            controller_class = _long_line_controller()
            kwargs.update(auth_required=True, auth_require_tls=self.starttls)
            if self.auth is None:
                kwargs["auth_exclude_mechanism"] = ["PLAIN", "LOGIN"]
        self._controller = controller_class(
            handler, hostname=self.host, port=self.port, ready_timeout=10, **kwargs
        )
        self._controller.start()

    def stop(self) -> None:
        """Stop listening (connections are refused) until ``start()``; what was received is kept."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
