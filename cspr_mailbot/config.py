"""The TOML configuration, read into frozen dataclasses. A bad file raises ConfigError naming the key."""

from __future__ import annotations

import logging
import os
import re
import tomllib
import zipfile
from dataclasses import dataclass, field, fields, replace
from datetime import date, time
from pathlib import Path
from typing import Any

from .core.attachments import Limits
from .core.clocks import Timescales
from .core.commands import DEFAULT_GRAMMAR, CommandsConfigError, Grammar
from .core.sender_check import SENDER_CHECKS, SenderCheck
from .core.trust import Trust, is_domain
from .errors import ConfigError

logger = logging.getLogger(__name__)

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_PREFIX = re.compile(r"^[A-Z][A-Z0-9]{1,11}$")


@dataclass(frozen=True)
class Partnership:
    """``[partnership]``: who the bot speaks for, its mailbox, its coordinators, its marking."""

    name: str = "Dudley Safeguarding People Partnership"
    reference_prefix: str = "DSPP"
    mailbox: str = "dsppb@example.gov.uk"
    coordinators: tuple[str, ...] = ("coordinator@example.gov.uk",)
    subject_marking: str = "OFFICIAL-SENSITIVE"
    phone: str = ""


@dataclass(frozen=True)
class Folders:
    """``[folders]``: where the bot reads mail from and files what it has taken in."""

    inbox: str = "INBOX"
    processed: str = "Processed"
    triage: str = "Needs triage"
    ignored: str = "Ignored"
    sent: str = "Sent"


@dataclass(frozen=True)
class Imap:
    """``[imap]``: the mailbox server the bot reads, and how it logs in."""

    host: str
    port: int
    security: str
    username: str
    password: str = field(repr=False)
    idle: bool = True
    poll_seconds: int = 60
    timeout: float = 30.0
    cafile: Path | None = None  # a CA bundle to trust besides the system's (an internal CA)
    auth: str = "password"  # password | oauth2 (XOAUTH2 with a token from [oauth2])


@dataclass(frozen=True)
class Smtp:
    """``[smtp]``: how the bot sends; ``transport = "graph"`` sends by Microsoft Graph instead."""

    host: str
    port: int
    security: str
    username: str | None
    password: str | None = field(repr=False)
    timeout: float = 30.0
    cafile: Path | None = None
    auth: str = "password"  # password | oauth2
    transport: str = "smtp"  # smtp | graph (Microsoft Graph sendMail; host/port/security unused)


@dataclass(frozen=True)
class OAuth2:
    """[oauth2]: where tokens for XOAUTH2 and Graph come from (SPEC 9, 10)."""

    provider: str  # microsoft | command
    tenant: str = ""
    client_id: str = ""
    client_secret: str | None = field(default=None, repr=False)
    certificate_file: Path | None = None  # PEM: the private key and the certificate
    certificate_thumbprint: str = ""
    credential_key: str = "oauth2.client_secret_env"  # the key a refused credential came from
    authority: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com"
    cafile: Path | None = None
    token_command: str = ""
    timeout: float = 30.0


@dataclass(frozen=True)
class Health:
    """``[health]``: when a stalled bot is reported, and where its status file is written."""

    alert_after_minutes: int = 30
    status_file: Path | None = None  # None: status.json beside the store


@dataclass(frozen=True)
class Security:
    """``[security]``: what proves a ``From:`` (SPEC 3 "Trusting a sender", core/trust.py)."""

    sender_check: SenderCheck = "none"  # the embedded default (Maildir, demo); required with [imap]
    authserv_id: str = ""  # for authentication-results: the receiving server's authserv-id


@dataclass(frozen=True)
class AgencyEntry:
    """One ``[[agencies]]`` entry: an agency's name, address, other names and whether it is trusted."""

    name: str
    email: str | None
    aliases: tuple[str, ...] = ()
    secure: bool = False  # trusted: its address is told who the child is (SPEC 5)


@dataclass(frozen=True)
class Privacy:
    """``[privacy]``: who outside the coordinators may be told who the child is, and how it is marked."""

    trusted_domains: tuple[str, ...] = ()
    encrypt_subject_tag: str = ""


@dataclass(frozen=True)
class FormFiles:
    """A partnership's own forms (``[forms]``), used instead of the project's; None: the project's."""

    referral: Path | None = None
    scoping: Path | None = None


# Exchange Online's SMTP AUTH submission hosts (worldwide; GCC High and DoD): they save what is sent.
EXCHANGE_ONLINE_SMTP = frozenset({"smtp.office365.com", "smtp.office365.us"})


@dataclass(frozen=True)
class Config:
    """The whole configuration, each section read and checked.

    A class docstring here (as on each dataclass in this module) also spares the dataclass machinery
    from computing one out of the signature at every start.
    """

    partnership: Partnership
    folders: Folders
    imap: Imap | None
    maildir: Path | None
    smtp: Smtp | None
    store_path: Path
    closures: tuple[date, ...]
    cutoff: time
    timescales: Timescales
    digest_time: time
    digest_recipients: tuple[str, ...]
    agencies: tuple[AgencyEntry, ...]
    limits: Limits
    label_synonyms: dict[str, list[str]]
    templates_dir: Path | None
    reply_limit_per_sender: int  # automatic replies to one address in 24 hours, a loop breaker
    source_path: Path | None = None
    commands: Grammar = DEFAULT_GRAMMAR  # data/commands.toml plus [commands]
    forms: FormFiles = FormFiles()
    oauth2: OAuth2 | None = None
    security: Security = Security()
    health: Health = Health()
    log_level: str | None = None  # [logging] level; None: the command's default
    privacy: Privacy = Privacy()
    store_backups: int = 7  # [store] backups: daily backups kept beside the store; 0: none
    retention_years: int = 0  # [retention] closed_case_years; 0: keep every case

    @property
    def trust(self) -> Trust:
        """The addresses that may be told who the child is: trusted domains and secure agencies."""
        return Trust.of(self.privacy.trusted_domains, (a.email for a in self.agencies if a.secure))

    @property
    def status_file(self) -> Path:
        """What the daemon writes after each pass and ``status`` reads ([health] status_file)."""
        return self.health.status_file or self.store_path.parent / "status.json"

    send_from: time = time(8, 0)  # [calendar] send_from: scheduled mail waits for it
    year_start: tuple[int, int] = (4, 1)  # [report] year_start, (month, day): the reporting year

    @property
    def sent_copy_folder(self) -> str:
        """The folder the bot appends a copy of what it sends to; "" when it keeps none.

        Exchange Online keeps its own copy, in the mailbox's Sent Items, of what is sent through
        Graph and of what is sent by SMTP AUTH submission to ``smtp.office365.com`` (Microsoft,
        "Message storage and concurrent connection throttling for SMTP Authenticated Submission"):
        a copy of ours would be a second one, in a folder of its own.
        """
        if self.smtp is not None and (
            self.smtp.transport == "graph" or self.smtp.host.lower() in EXCHANGE_ONLINE_SMTP
        ):
            return ""
        return self.folders.sent

    @property
    def outbox_dir(self) -> Path:
        """Where outgoing mail is written as .eml files when there is no [smtp] section."""
        return self.store_path.parent / "outbox"

    @property
    def digest_to(self) -> tuple[str, ...]:
        return self.digest_recipients or self.partnership.coordinators


# -- reading -----------------------------------------------------------------------------------


class _Section:
    """A TOML table with its dotted name, so every error names the key."""

    def __init__(self, name: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(name, "must be a table")
        self.name = name
        self.data = data
        self.used: set[str] = set()

    def key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise ConfigError(self.key(key), "is required")
            return default
        value = self.data[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise ConfigError(self.key(key), f"must be a {names}, not {value!r}")
        return value

    def string(self, key: str, default: Any = ...) -> Any:
        return self.get(key, str, default)

    def integer(self, key: str, default: Any = ..., minimum: int = 0, maximum: int = 10**9) -> Any:
        value = self.get(key, int, default)
        if value is not None and not minimum <= value <= maximum:
            raise ConfigError(
                self.key(key), f"must be between {minimum} and {maximum}, not {value}"
            )
        return value

    def strings(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, list, default)
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(self.key(key), "must be a list of strings")
        return tuple(value)

    def email(self, key: str, default: Any = ...) -> Any:
        value = self.string(key, default)
        if value is not None and not _EMAIL.match(value):
            raise ConfigError(self.key(key), f"{value!r} is not an email address")
        return value.lower() if value else value

    def clock(self, key: str, default: str) -> time:
        value = self.string(key, default)
        try:
            hh, mm = value.split(":")
            return time(int(hh), int(mm))
        except ValueError:
            raise ConfigError(
                self.key(key), f'must be a time like "17:00", not {value!r}'
            ) from None

    def sub(self, key: str) -> _Section | None:
        self.used.add(key)
        return _Section(self.key(key), self.data[key]) if key in self.data else None

    def refuse_unknown(self) -> None:
        for key in self.data:
            if key not in self.used:
                raise ConfigError(self.key(key), "is not a known key (see config.example.toml)")


def _secret(sec: _Section, *, required: bool) -> str | None:
    env = sec.string("password_env", None)
    path = sec.string("password_file", None)
    inline: str | None = sec.string("password", None)
    given = [
        k for k, v in (("password_env", env), ("password_file", path), ("password", inline)) if v
    ]
    if len(given) > 1:
        raise ConfigError(sec.key(given[1]), f"give only one of {', '.join(given)}")
    if env:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(sec.key("password_env"), f"the environment variable {env} is not set")
        return value
    if path:
        try:
            return Path(path).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                sec.key("password_file"), f"cannot read {path}: {exc.strerror}"
            ) from None
    if inline:
        logger.warning(
            "%s is written in the config file; prefer password_env or password_file",
            sec.key("password"),
        )
        return inline
    if required:
        raise ConfigError(
            sec.key("password_env"), "a password is required (password_env or password_file)"
        )
    return None


def _security(sec: _Section, host: str, default: str) -> str:
    value: str = sec.string("security", default)
    if value not in ("ssl", "starttls", "none"):
        raise ConfigError(sec.key("security"), f"must be ssl, starttls or none, not {value!r}")
    if value == "none" and not _is_loopback(host):
        raise ConfigError(
            sec.key("security"), f'"none" sends the password in clear; refused for {host}'
        )
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress  # 3 ms at every start, for a config with security = "none" alone

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cafile(sec: _Section, base: Path) -> Path | None:
    text: str = sec.string("cafile", "")
    if not text:
        return None
    path = (base / text).resolve()
    if not path.is_file():
        raise ConfigError(sec.key("cafile"), f"{path} is not a file")
    return path


def _form_file(sec: _Section, key: str, base: Path) -> Path | None:
    """A .docx named in ``[forms]``: it must exist and be a Word document, checked at start."""
    text: str = sec.string(key, "")
    if not text:
        return None
    path = (base / text).resolve()
    if not path.is_file():
        raise ConfigError(sec.key(key), f"{path} does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            if "word/document.xml" not in zf.namelist():
                raise zipfile.BadZipFile
    except (zipfile.BadZipFile, OSError):
        raise ConfigError(sec.key(key), f"{path} is not a Word (.docx) document") from None
    return path


def _auth(sec: _Section) -> str:
    value: str = sec.string("auth", "password")
    if value not in ("password", "oauth2"):
        raise ConfigError(sec.key("auth"), f"must be password or oauth2, not {value!r}")
    if value == "oauth2":
        for key in ("password_env", "password_file", "password"):
            if key in sec.data:
                raise ConfigError(sec.key(key), 'is not used with auth = "oauth2"; remove it')
    return value


def _https_url(sec: _Section, key: str, default: str) -> str:
    value: str = sec.string(key, default).rstrip("/")
    if not re.match(r"^https://[^/\s]+(/[^\s]*)?$", value):
        raise ConfigError(sec.key(key), f"must be an https:// address, not {value!r}")
    return value


def _oauth2(sec: _Section | None, base: Path) -> OAuth2 | None:
    """[oauth2]: provider microsoft (client credentials: a secret or a certificate) or command."""
    if sec is None:
        return None
    provider = sec.string("provider", "microsoft")
    timeout = float(sec.integer("timeout_seconds", 30, 5, 600))
    if provider == "command":
        command = sec.string("token_command", "")
        if not command.strip():
            raise ConfigError(sec.key("token_command"), 'is required by provider = "command"')
        sec.used.update(("tenant", "client_id", "authority", "graph_url", "cafile"))
        result = OAuth2(
            provider="command",
            token_command=command,
            graph_url=_https_url(sec, "graph_url", OAuth2.graph_url),
            cafile=_cafile(sec, base),
            timeout=timeout,
        )
        sec.refuse_unknown()
        return result
    if provider != "microsoft":
        raise ConfigError(sec.key("provider"), f"must be microsoft or command, not {provider!r}")
    tenant = sec.string("tenant")
    if not re.match(r"^[A-Za-z0-9.-]+$", tenant):
        raise ConfigError(sec.key("tenant"), f"must be a tenant id or domain, not {tenant!r}")
    client_id = sec.string("client_id")
    if not client_id.strip():
        raise ConfigError(sec.key("client_id"), "must not be empty")
    env = sec.string("client_secret_env", None)
    path = sec.string("client_secret_file", None)
    cert = sec.string("certificate_file", None)
    given = [
        k
        for k, v in (
            ("client_secret_env", env),
            ("client_secret_file", path),
            ("certificate_file", cert),
        )
        if v
    ]
    if len(given) > 1:
        raise ConfigError(sec.key(given[1]), f"give only one of {', '.join(given)}")
    if not given:
        raise ConfigError(
            sec.key("client_secret_env"),
            "a credential is required: client_secret_env, client_secret_file or certificate_file",
        )
    secret: str | None = None
    cert_path: Path | None = None
    thumbprint = sec.string("certificate_thumbprint", "")
    if env:
        secret = os.environ.get(env)
        if not secret:
            raise ConfigError(
                sec.key("client_secret_env"), f"the environment variable {env} is not set"
            )
    elif path:
        try:
            secret = Path(path).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                sec.key("client_secret_file"), f"cannot read {path}: {exc.strerror}"
            ) from None
        if not secret:
            raise ConfigError(sec.key("client_secret_file"), f"{path} is empty")
    else:
        cert_path = (base / str(cert)).resolve()
        try:
            pem = cert_path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                sec.key("certificate_file"), f"cannot read {cert_path}: {exc}"
            ) from None
        if "PRIVATE KEY-----" not in pem or "BEGIN CERTIFICATE-----" not in pem:
            raise ConfigError(
                sec.key("certificate_file"),
                f"{cert_path} must hold the private key and the certificate, both PEM",
            )
        thumbprint = re.sub(r"[\s:]", "", thumbprint).upper()
        if not re.match(r"^[0-9A-F]{40}$", thumbprint):
            raise ConfigError(
                sec.key("certificate_thumbprint"),
                "must be the certificate's SHA-1 thumbprint, 40 hex digits, as Entra shows it",
            )
    result = OAuth2(
        provider="microsoft",
        tenant=tenant,
        client_id=client_id.strip(),
        client_secret=secret,
        certificate_file=cert_path,
        certificate_thumbprint=thumbprint,
        credential_key=sec.key(given[0]),
        authority=_https_url(sec, "authority", OAuth2.authority),
        graph_url=_https_url(sec, "graph_url", OAuth2.graph_url),
        cafile=_cafile(sec, base),
        timeout=timeout,
    )
    sec.used.add("token_command")
    sec.refuse_unknown()
    return result


def _folders(sec: _Section | None) -> Folders:
    if sec is None:
        return Folders()
    return Folders(
        inbox=sec.string("inbox", "INBOX"),
        processed=sec.string("processed_folder", "Processed"),
        triage=sec.string("triage_folder", "Needs triage"),
        ignored=sec.string("ignored_folder", "Ignored"),
        sent=sec.string("sent_folder", "Sent"),
    )


def _timescales(sec: _Section | None) -> Timescales:
    if sec is None:
        return Timescales()
    kw: dict[str, Any] = {}
    for f in fields(Timescales):
        if f.name not in sec.data:
            continue
        if isinstance(f.default, tuple):
            value = sec.get(f.name, list)
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
                raise ConfigError(sec.key(f.name), "must be a list of whole numbers")
            kw[f.name] = tuple(value)
        else:
            kw[f.name] = sec.integer(f.name, minimum=0, maximum=400)
    sec.refuse_unknown()
    try:
        return Timescales(**kw)
    except ValueError as exc:  # Timescales names the field first: "sin_days: ..."
        name, _, problem = str(exc).partition(":")
        raise ConfigError(sec.key(name.strip()), problem.strip() or str(exc)) from None


MIN_MESSAGE_BYTES = 64 * 1024  # the least [limits] max_message_bytes may be


def _limits(sec: _Section | None) -> Limits:
    if sec is None:
        return Limits()
    kw: dict[str, Any] = {}
    for f in fields(Limits):
        if f.name == "max_message_bytes":
            # Below 64 KiB every message with an attachment would be filed unread.
            kw[f.name] = sec.integer(f.name, Limits.max_message_bytes, minimum=MIN_MESSAGE_BYTES)
            continue
        if f.name in sec.data:
            value = sec.get(f.name, (int, float))
            if value <= 0:
                raise ConfigError(sec.key(f.name), "must be more than 0")
            kw[f.name] = value
    sec.refuse_unknown()
    return Limits(**kw)


def _privacy(sec: _Section | None) -> Privacy:
    if sec is None:
        return Privacy()
    domains = []
    for d in sec.strings("trusted_domains", ()):
        domain = d.strip().lower()
        if not is_domain(domain):
            raise ConfigError(
                sec.key("trusted_domains"),
                f'{d!r} is not a domain like "nhs.net" (no @, no *, at least one dot)',
            )
        domains.append(domain)
    tag = sec.string("encrypt_subject_tag", "").strip()
    if any(not ch.isprintable() for ch in tag):
        raise ConfigError(sec.key("encrypt_subject_tag"), "must be one line of text")
    sec.refuse_unknown()
    return Privacy(tuple(domains), tag)


def _date(sec: _Section, key: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(sec.key(key), f"{text!r} is not a date like 2026-12-29") from None


_AUTHSERV_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$")


def _security_section(sec: _Section | None, *, imap: bool) -> Security:
    """``[security]``: required with [imap] (a real mailbox must say what proves a sender)."""
    if sec is None:
        if imap:
            raise ConfigError(
                "security.sender_check",
                "is required with [imap]: exchange-internal, authentication-results or none",
            )
        return Security()
    text = sec.string("sender_check", ... if imap else "none")
    check = next((c for c in SENDER_CHECKS if c == text), None)
    if check is None:
        raise ConfigError(
            sec.key("sender_check"),
            f"must be exchange-internal, authentication-results or none, not {text!r}",
        )
    authserv_id: str = sec.string("authserv_id", "").strip()
    if check == "authentication-results" and not authserv_id:
        raise ConfigError(
            sec.key("authserv_id"),
            "is required with sender_check = authentication-results: the authserv-id your "
            "receiving server writes first in its Authentication-Results headers",
        )
    if authserv_id and not _AUTHSERV_ID.match(authserv_id):
        raise ConfigError(sec.key("authserv_id"), f"{authserv_id!r} is not a server name")
    sec.refuse_unknown()
    return Security(sender_check=check, authserv_id=authserv_id)


def _month_day(sec: _Section, key: str, text: str) -> tuple[int, int]:
    """``"04-01"`` -> (4, 1): a day every year has (so not 29 February)."""
    try:
        month, day = (int(part) for part in text.split("-"))
        date(2001, month, day)
    except ValueError:
        raise ConfigError(
            sec.key(key), f'must be a month and day like "04-01" (1 April), not {text!r}'
        ) from None
    return month, day


def parse_config(data: dict[str, Any], *, base: Path | None = None) -> Config:
    """Build a Config from parsed TOML; relative paths are taken from ``base`` (the file's folder)."""
    base = base or Path.cwd()
    top = _Section("", data)

    p = top.sub("partnership") or _Section("partnership", {})
    prefix = p.string("reference_prefix", "DSPP")
    if not _PREFIX.match(prefix):
        raise ConfigError(
            p.key("reference_prefix"), f"must be 2-12 capitals or digits, not {prefix!r}"
        )
    coordinators = tuple(c.lower() for c in p.strings("coordinators"))
    if not coordinators:
        raise ConfigError(p.key("coordinators"), "must name at least one address")
    for c in coordinators:
        if not _EMAIL.match(c):
            raise ConfigError(p.key("coordinators"), f"{c!r} is not an email address")
    partnership = Partnership(
        name=p.string("name", Partnership.name),
        reference_prefix=prefix,
        mailbox=p.email("mailbox"),
        coordinators=coordinators,
        subject_marking=p.string("subject_marking", "OFFICIAL-SENSITIVE"),
        phone=p.string("phone", ""),
    )
    p.refuse_unknown()

    imap_sec, maildir_sec = top.sub("imap"), top.sub("maildir")
    if imap_sec and maildir_sec:
        raise ConfigError("maildir", "give either [imap] or [maildir], not both")
    imap = None
    maildir = None
    if imap_sec:
        host = imap_sec.string("host")
        security = _security(imap_sec, host, "ssl")
        imap_auth = _auth(imap_sec)
        imap = Imap(
            host=host,
            port=imap_sec.integer("port", 993 if security == "ssl" else 143, 1, 65535),
            security=security,
            username=imap_sec.string("username"),
            password=(_secret(imap_sec, required=True) or "") if imap_auth == "password" else "",
            auth=imap_auth,
            idle=imap_sec.get("idle", bool, True),
            poll_seconds=imap_sec.integer("poll_seconds", 60, 5, 3600),
            timeout=float(imap_sec.integer("timeout_seconds", 30, 5, 600)),
            cafile=_cafile(imap_sec, base),
        )
        folders = _folders(imap_sec)
        imap_sec.refuse_unknown()
    else:
        sec = maildir_sec or _Section("maildir", {"path": "store/maildir"})
        maildir = (base / sec.string("path")).resolve()
        folders = _folders(sec)
        sec.refuse_unknown()

    smtp = None
    smtp_sec = top.sub("smtp")
    if smtp_sec:
        transport = smtp_sec.string("transport", "smtp")
        if transport not in ("smtp", "graph"):
            raise ConfigError(
                smtp_sec.key("transport"), f"must be smtp or graph, not {transport!r}"
            )
        graph = transport == "graph"
        # With Graph the server is Microsoft's: host, port and security are not used.
        host = smtp_sec.string("host", "graph.microsoft.com" if graph else ...)
        security = "ssl" if graph else _security(smtp_sec, host, "starttls")
        if graph:
            smtp_sec.used.update(("port", "security"))
        smtp_auth = "oauth2" if graph else _auth(smtp_sec)
        username = smtp_sec.string("username", None)
        if smtp_auth == "oauth2" and username is None:
            username = partnership.mailbox  # XOAUTH2 and Graph act as the mailbox
        smtp = Smtp(
            host=host,
            port=smtp_sec.integer("port", 465 if security == "ssl" else 587, 1, 65535),
            security=security,
            username=username,
            password=(
                _secret(smtp_sec, required=username is not None)
                if smtp_auth == "password"
                else None
            ),
            timeout=float(smtp_sec.integer("timeout_seconds", 30, 5, 600)),
            cafile=_cafile(smtp_sec, base),
            auth=smtp_auth,
            transport=transport,
        )
        smtp_sec.refuse_unknown()

    oauth2 = _oauth2(top.sub("oauth2"), base)
    for name, sec_auth in (
        ("imap.auth", imap.auth if imap else None),
        ("smtp.auth", smtp.auth if smtp and smtp.transport == "smtp" else None),
        ("smtp.transport", "oauth2" if smtp and smtp.transport == "graph" else None),
    ):
        if sec_auth == "oauth2" and oauth2 is None:
            value = '"graph"' if name == "smtp.transport" else '"oauth2"'
            raise ConfigError("oauth2", f"the [oauth2] section is required by {name} = {value}")

    hl = top.sub("health") or _Section("health", {})
    status_text = hl.string("status_file", "")
    health = Health(
        alert_after_minutes=hl.integer("alert_after_minutes", 30, 1, 24 * 60),
        status_file=(base / status_text).resolve() if status_text else None,
    )
    hl.refuse_unknown()

    lg = top.sub("logging") or _Section("logging", {})
    log_level = lg.string("level", None)
    if log_level is not None:
        log_level = log_level.upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(
                lg.key("level"), f"must be DEBUG, INFO, WARNING or ERROR, not {log_level!r}"
            )
    lg.refuse_unknown()

    st = top.sub("store") or _Section("store", {})
    store_path = (base / st.string("path", "store/cspr.json")).resolve()
    store_backups = st.integer("backups", 7, 0, 366)
    st.refuse_unknown()

    rt = top.sub("retention") or _Section("retention", {})
    retention_years = rt.integer("closed_case_years", 0, 0, 100)
    rt.refuse_unknown()

    cal = top.sub("calendar") or _Section("calendar", {})
    closures = tuple(sorted(_date(cal, "closures", d) for d in cal.strings("closures", ())))
    cutoff = cal.clock("cutoff", "17:00")
    send_from = cal.clock("send_from", "08:00")
    if send_from >= cutoff:
        raise ConfigError(cal.key("send_from"), f"must be before the cut-off ({cutoff:%H:%M})")
    cal.refuse_unknown()

    rep = top.sub("report") or _Section("report", {})
    year_start = _month_day(rep, "year_start", rep.string("year_start", "04-01"))
    rep.refuse_unknown()

    dg = top.sub("digest") or _Section("digest", {})
    digest_time = dg.clock("time", "08:00")
    recipients = tuple(r.lower() for r in dg.strings("recipients", ()))
    for r in recipients:
        if not _EMAIL.match(r):
            raise ConfigError(dg.key("recipients"), f"{r!r} is not an email address")
    dg.refuse_unknown()

    agencies = []
    raw_agencies = top.get("agencies", list, [])
    for i, entry in enumerate(raw_agencies):
        a = _Section(f"agencies[{i}]", entry)
        agency = AgencyEntry(
            name=a.string("name"),
            email=a.email("email", None),
            aliases=a.strings("aliases", ()),
            secure=a.get("secure", bool, False),
        )
        if agency.secure and not agency.email:
            raise ConfigError(
                a.key("secure"), "needs the agency's email: trust goes with the address"
            )
        agencies.append(agency)
        a.refuse_unknown()

    lab = top.sub("labels") or _Section("labels", {})
    synonyms: dict[str, list[str]] = {}
    for key in list(lab.data):
        if not re.match(r"^(referral|scoping)\.[a-z_]+$", key):
            raise ConfigError(lab.key(key), 'must look like "referral.child_name"')
        synonyms[key] = list(lab.strings(key))

    cmds = top.sub("commands") or _Section("commands", {})
    try:
        commands = Grammar.load(cmds.data)
    except CommandsConfigError as exc:
        raise ConfigError(exc.key, str(exc).split(": ", 1)[1]) from None

    tpl = top.sub("templates") or _Section("templates", {})
    tdir = tpl.string("dir", "")
    templates_dir = (base / tdir).resolve() if tdir else None
    if templates_dir is not None and not templates_dir.is_dir():
        raise ConfigError(tpl.key("dir"), f"{templates_dir} is not a folder")
    tpl.refuse_unknown()

    fm = top.sub("forms") or _Section("forms", {})
    forms = FormFiles(
        referral=_form_file(fm, "referral", base), scoping=_form_file(fm, "scoping", base)
    )
    fm.refuse_unknown()

    privacy = _privacy(top.sub("privacy"))

    intake = top.sub("intake") or _Section("intake", {})
    reply_limit = intake.integer("reply_limit_per_sender", 10, 1, 1000)
    intake.refuse_unknown()

    config = Config(
        partnership=partnership,
        folders=folders,
        imap=imap,
        maildir=maildir,
        smtp=smtp,
        store_path=store_path,
        store_backups=store_backups,
        retention_years=retention_years,
        closures=closures,
        cutoff=cutoff,
        timescales=_timescales(top.sub("timescales")),
        digest_time=digest_time,
        digest_recipients=recipients,
        agencies=tuple(agencies),
        limits=_limits(top.sub("limits")),
        label_synonyms=synonyms,
        templates_dir=templates_dir,
        reply_limit_per_sender=reply_limit,
        commands=commands,
        forms=forms,
        oauth2=oauth2,
        health=health,
        log_level=log_level,
        send_from=send_from,
        year_start=year_start,
        privacy=privacy,
        security=_security_section(top.sub("security"), imap=imap is not None),
    )
    top.refuse_unknown()
    return config


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check the TOML file at ``path``."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("(file)", f"{p} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("(file)", f"cannot read {p}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(syntax)", f"{p} is not valid TOML: {exc}") from None
    return replace(parse_config(data, base=p.resolve().parent), source_path=p.resolve())
