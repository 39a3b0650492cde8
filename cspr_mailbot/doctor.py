"""``doctor``: live checks of an installation, each one line, ``OK`` or ``FAIL`` with what to change.

The config (already read), the mailbox (reachable, TLS, login, every folder there or creatable), the
sending path (it authenticates; no mail is sent unless ``--send-test ADDRESS``), how a sender is
proved (``[security] sender_check``), the store's folder (writable and ours) and contents (nothing
committed to it missing, not lost beside filed mail), the templates, and the bank-holiday data for
the next 12 months. Written for an IT person: each failure names the setting to change. Exit 0
only when every check passed.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from .config import Config
from .errors import MailbotError, SendError, StoreDamaged

# What to change when a token cannot be had, by the [oauth2] key the refusal names.
_TOKEN_FIXES = {
    "oauth2.tenant": "set oauth2.tenant to the Directory (tenant) ID or domain shown on Entra's Overview page",
    "oauth2.client_id": "set oauth2.client_id to the Application (client) ID of the app registration, "
    "and grant it admin consent",
    "oauth2.client_secret_env": "make a new client secret in Entra (Certificates & secrets) and put its "
    "Value, not its Secret ID, in the environment variable oauth2.client_secret_env names",
    "oauth2.client_secret_file": "make a new client secret in Entra (Certificates & secrets) and write "
    "its Value, not its Secret ID, to the file oauth2.client_secret_file names",
    "oauth2.certificate_file": "upload this certificate to the app registration (Certificates & secrets), "
    "or point oauth2.certificate_file and certificate_thumbprint at the one uploaded",
    "oauth2.authority": "check oauth2.authority, and that this machine can reach it (proxy, firewall); "
    "oauth2.cafile for a proxy that inspects TLS",
    "oauth2.token_command": "run oauth2.token_command by hand, as the service's user, and fix what it says",
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"OK   {self.name}: {self.detail}"
        return f"FAIL {self.name}: {self.detail}" + (f" -> {self.fix}" if self.fix else "")


def run_doctor(
    cfg: Config,
    *,
    send_test: str | None = None,
    out: Callable[[str], None] = print,
    tokens: Any = None,
) -> int:
    """Run every check, print one line each; 0 when all passed, else 1."""
    if tokens is None and cfg.oauth2 is not None:
        from .adapters.oauth import token_source

        tokens = token_source(cfg.oauth2)
    checks: list[Check] = []

    def report(check: Check) -> None:
        checks.append(check)
        out(check.line())

    report(Check("config", True, f"{cfg.source_path or '(built-in default)'} is valid"))
    mailbox: list[Check] = []
    for check in _mailbox(cfg, tokens):
        mailbox.append(check)
        report(check)
    for group in (
        _sender_check(cfg),
        _sending(cfg, tokens, send_test),
        _store(cfg),
        _store_contents(cfg, tokens, mailbox_ok=all(c.ok for c in mailbox)),
        _templates(cfg),
        _holidays(cfg),
    ):
        for check in group:
            report(check)
    failed = [c for c in checks if not c.ok]
    out(
        f"{len(checks) - len(failed)} of {len(checks)} checks passed"
        + ("" if failed else "; all well")
    )
    return 1 if failed else 0


# -- the mailbox ----------------------------------------------------------------------------------


def _mailbox(cfg: Config, tokens: Any) -> Iterator[Check]:
    if cfg.imap is None:
        path = cfg.maildir
        assert path is not None
        if path.exists() and not os.access(path, os.W_OK):
            yield Check(
                "maildir", False, f"{path} is not writable", "make it writable by this user"
            )
        else:
            yield Check("maildir", True, f"{path}")
        return
    from imapclient import IMAPClient
    from imapclient import exceptions as imap_errors

    imap = cfg.imap
    where = f"{imap.host}:{imap.port}"
    try:
        socket.create_connection((imap.host, imap.port), timeout=imap.timeout).close()
    except OSError as exc:
        yield Check(
            "imap reachable",
            False,
            f"cannot connect to {where}: {exc.strerror or exc}",
            "check imap.host and imap.port (993 for ssl, 143 for starttls), and the firewall",
        )
        return
    yield Check("imap reachable", True, where)

    context = ssl.create_default_context(cafile=str(imap.cafile) if imap.cafile else None)
    client: IMAPClient | None = None
    try:
        if imap.security == "ssl":
            client = IMAPClient(
                imap.host, imap.port, ssl=True, ssl_context=context, timeout=imap.timeout
            )
        else:
            client = IMAPClient(imap.host, imap.port, ssl=False, timeout=imap.timeout)
            if imap.security == "starttls":
                client.starttls(context)
    except ssl.SSLCertVerificationError as exc:
        yield Check(
            "imap tls",
            False,
            f"the server's certificate is not trusted: {exc.verify_message}",
            "set imap.cafile to the CA bundle that signed it (an internal CA, a TLS-inspecting proxy)",
        )
        return
    except (ssl.SSLError, OSError, imap_errors.IMAPClientError) as exc:
        yield Check(
            "imap tls",
            False,
            f"no {imap.security} session with {where}: {type(exc).__name__}: {exc}",
            "check imap.security: ssl on port 993, starttls on port 143",
        )
        return
    yield Check(
        "imap tls",
        True,
        "none (loopback only)"
        if imap.security == "none"
        else f"{imap.security}, certificate trusted",
    )
    try:
        yield from _imap_login(cfg, client, tokens)
    finally:
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - the check is over either way
            pass


def _imap_login(cfg: Config, client: Any, tokens: Any) -> Iterator[Check]:
    from imapclient import exceptions as imap_errors

    from .adapters.oauth import OUTLOOK_SCOPE, TokenError

    imap = cfg.imap
    assert imap is not None
    try:
        if imap.auth == "oauth2":
            try:
                token = tokens.token(OUTLOOK_SCOPE)
            except TokenError as exc:
                yield Check(
                    "imap login", False, f"no OAuth2 token: {exc}", _TOKEN_FIXES.get(exc.key, "")
                )
                return
            client.oauth2_login(imap.username, token)
        else:
            client.login(imap.username, imap.password)
    except imap_errors.LoginError as exc:
        fix = (
            "give the app registration IMAP.AccessAsApp, register its service principal in Exchange "
            "and grant it FullAccess to the mailbox imap.username names"
            if imap.auth == "oauth2"
            else "check imap.username, and the password imap.password_env (or password_file) gives"
        )
        yield Check("imap login", False, f"refused for {imap.username}: {exc}", fix)
        return
    yield Check(
        "imap login",
        True,
        f"{imap.username} ({'XOAUTH2' if imap.auth == 'oauth2' else 'password'})",
    )

    folders = cfg.folders
    wanted = [
        ("inbox", folders.inbox),
        ("processed_folder", folders.processed),
        ("triage_folder", folders.triage),
        ("ignored_folder", folders.ignored),
    ]
    if cfg.sent_copy_folder:
        wanted.append(("sent_folder", cfg.sent_copy_folder))
    for key, name in wanted:
        try:
            if client.folder_exists(name):
                yield Check(f"imap folder {name}", True, "present")
            elif key == "inbox":
                yield Check(
                    f"imap folder {name}",
                    False,
                    "missing",
                    "set imap.inbox to the folder new mail arrives in",
                )
            else:
                client.create_folder(name)  # the bot would make it at first use
                yield Check(f"imap folder {name}", True, "created")
        except imap_errors.IMAPClientError as exc:
            yield Check(
                f"imap folder {name}",
                False,
                f"cannot be created: {exc}",
                f"create it by hand, or set imap.{key} to a folder that exists",
            )


# -- sending --------------------------------------------------------------------------------------


def _sending(cfg: Config, tokens: Any, send_test: str | None) -> Iterator[Check]:
    from .adapters.oauth import GRAPH_SCOPE, TokenError

    smtp = cfg.smtp
    if smtp is None:
        folder = cfg.outbox_dir
        parent = folder if folder.exists() else folder.parent
        ok = os.access(parent, os.W_OK) if parent.exists() else True
        yield Check(
            "sending",
            ok,
            f".eml files in {folder}" if ok else f"{folder} is not writable",
            "" if ok else "make the store's folder writable by this user",
        )
    elif smtp.transport == "graph":
        try:
            tokens.token(GRAPH_SCOPE)
        except TokenError as exc:
            yield Check("graph token", False, str(exc), _TOKEN_FIXES.get(exc.key, ""))
            return
        yield Check(
            "graph token",
            True,
            f"for {smtp.username}; whether Graph lets it send (Mail.Send) shows with --send-test",
        )
    else:
        yield _smtp_login(cfg, tokens)
    if send_test:
        yield _send_test(cfg, send_test, tokens)


def _smtp_login(cfg: Config, tokens: Any) -> Check:
    import smtplib

    from .adapters.smtp import SmtpSender
    from .wiring import sender as make_sender

    smtp = cfg.smtp
    assert smtp is not None
    sender = make_sender(cfg, tokens)
    assert isinstance(sender, SmtpSender)  # [smtp] over SMTP (Graph is checked by its token)
    where = f"{smtp.host}:{smtp.port} ({smtp.security})"
    try:
        sender.check()
    except SendError as exc:
        cause = exc.__cause__
        if isinstance(cause, smtplib.SMTPAuthenticationError):
            fix = (
                "give the app registration SMTP.SendAsApp and the service principal SendAs on the "
                'mailbox; check that SMTP AUTH is enabled for it (else use transport = "graph")'
                if smtp.auth == "oauth2"
                else "check smtp.username, and the password smtp.password_env (or password_file) gives"
            )
        elif isinstance(cause, ssl.SSLCertVerificationError):
            fix = "set smtp.cafile to the CA bundle that signed the server's certificate"
        elif isinstance(cause, ssl.SSLError | smtplib.SMTPNotSupportedError):
            fix = "check smtp.security: ssl on port 465, starttls on port 587"
        elif "OAuth2" in str(exc):
            key = next((k for k in _TOKEN_FIXES if k in str(exc)), "")
            fix = _TOKEN_FIXES.get(key, "")
        else:
            fix = "check smtp.host and smtp.port, and the firewall"
        return Check("smtp login", False, f"{where}: {exc}", fix)
    who = smtp.username or "no AUTH"
    how = " XOAUTH2" if smtp.auth == "oauth2" and smtp.username else ""
    return Check("smtp login", True, f"{where} as {who}{how}")


def _send_test(cfg: Config, address: str, tokens: Any) -> Check:
    from .adapters.outbox import Renderer
    from .core.models import OutboundMessage
    from .wiring import sender as make_sender

    sender = make_sender(cfg, tokens)
    renderer = Renderer(
        partnership_name=cfg.partnership.name,
        mailbox=cfg.partnership.mailbox,
        subject_marking=cfg.partnership.subject_marking,
        templates_dir=cfg.templates_dir,
    )
    om = OutboundMessage(
        key=f"doctor:{datetime.now(tz=UTC).isoformat()}",
        template="doctor_test",
        to=(address,),
        subject="Test message from cspr-mailbot doctor",
        context={"source": str(cfg.source_path or "(built-in default)")},
        internal=True,
    )
    rendered = renderer.render(om, datetime.now(tz=UTC))
    try:
        refused = sender.send(cfg.partnership.mailbox, [address], rendered.raw, om.key)
    except SendError as exc:
        return Check(
            "send test",
            False,
            f"to {address}: {exc}",
            "see the sending check above; for Graph, grant Mail.Send",
        )
    finally:
        sender.close()
    if refused:
        return Check("send test", False, f"{address} refused by the server", "check the address")
    return Check("send test", True, f"sent to {address} ({rendered.message_id})")


def _store(cfg: Config) -> Iterator[Check]:
    folder = cfg.store_path.parent
    me = os.geteuid()
    if not folder.exists():
        parent = next((p for p in folder.parents if p.exists()), Path("/"))
        if os.access(parent, os.W_OK):
            yield Check("store folder", True, f"{folder} will be made at the first run")
        else:
            yield Check(
                "store folder", False, f"{folder} does not exist and {parent} is not writable",
                f"create {folder}, owned by this user ({_user(me)}), mode 0700",
            )  # fmt: skip
        return
    owner = folder.stat().st_uid
    if owner != me:
        yield Check(
            "store folder",
            False,
            f"{folder} belongs to {_user(owner)}, not to this user ({_user(me)})",
            f"chown -R {_user(me)} {folder}",
        )
        return
    try:
        probe = folder / f".doctor-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        yield Check(
            "store folder",
            False,
            f"{folder} is not writable: {exc.strerror}",
            f"chmod u+rwx {folder}",
        )
        return
    others = [
        p.name
        for p in folder.iterdir()
        if p.name.startswith(cfg.store_path.name) and p.stat().st_uid != me
    ]
    if others:
        yield Check(
            "store folder",
            False,
            f"{', '.join(sorted(others))} in {folder} belong to another user",
            f"chown -R {_user(me)} {folder}",
        )
        return
    loose = folder.stat().st_mode & 0o077
    yield Check(
        "store folder",
        True,
        f"{folder}, writable and ours"
        + (f" (mode {folder.stat().st_mode & 0o777:o}: 0700 is safer)" if loose else ""),
    )


def _store_contents(cfg: Config, tokens: Any, *, mailbox_ok: bool) -> Iterator[Check]:
    """What the store holds, checked as the daemon checks it at start: never less than was committed
    to it (the evidence file), and never a store that has taken in nothing beside a mailbox whose
    folders hold mail the bot filed (SPEC 10)."""
    from .adapters.store import ARCHIVE, CASES
    from .app import check_not_lost, filed_folders, store_may_be_lost
    from .wiring import mail_source, open_store

    restore = "restore the store folder from the latest backup ([store] backups), or point [store] path at it"
    try:
        if not cfg.store_path.exists() and not mailbox_ok:
            yield Check(
                "store contents",
                True,
                "no store yet; whether one was lost is asked of the mailbox once it can be read",
            )
            return
        if not cfg.store_path.exists():
            filed = mail_source(cfg, tokens).filed_count(filed_folders(cfg))
            if filed:
                yield Check(
                    "store contents",
                    False,
                    f"{cfg.store_path} does not exist, but the mailbox's folders hold {filed} "
                    "message(s) the bot filed: the store was lost or [store] path changed",
                    restore,
                )
            else:
                yield Check("store contents", True, "no store yet: it is made at the first run")
            return
        # The mailbox is asked over doctor's own token source, as for every other check.
        with open_store(cfg, check_mailbox=False) as store:
            if mailbox_ok and store_may_be_lost(store):
                check_not_lost(store, mail_source(cfg, tokens), filed_folders(cfg))
            stats = store.stats()
    except StoreDamaged as exc:
        yield Check("store contents", False, str(exc), restore)
        return
    except MailbotError as exc:
        yield Check("store contents", False, f"cannot be read: {exc}", restore)
        return
    yield Check(
        "store contents",
        True,
        f"{stats[CASES] + stats[ARCHIVE]} case(s), {stats[CASES]} open; {stats['ledger']} "
        "message(s) taken in; nothing committed to it is missing",
    )


def _sender_check(cfg: Config) -> Iterator[Check]:
    """How a coordinator's ``From:`` is proved (SPEC 3); none on a real mailbox lets anyone steer a case."""
    check = cfg.security.sender_check
    if check == "exchange-internal":
        yield Check(
            "sender check",
            True,
            "exchange-internal: commands are taken only from mail Exchange Online marks as sent "
            "inside the organisation",
        )
    elif check == "authentication-results":
        yield Check(
            "sender check",
            True,
            f"authentication-results: commands are taken only when {cfg.security.authserv_id} "
            "says dmarc=pass, or dkim=pass aligned with the From: domain",
        )
    elif cfg.imap is None:
        yield Check(
            "sender check", True, "none: the local Maildir has no mail server to vouch for senders"
        )
    else:
        yield Check(
            "sender check",
            False,
            "none: anyone who writes a coordinator's address in From: can steer a case",
            'set [security] sender_check = "exchange-internal" on Microsoft 365, or '
            '"authentication-results" with authserv_id = your mail server\'s authserv-id',
        )


def _user(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _templates(cfg: Config) -> Iterator[Check]:
    import jinja2

    from .adapters.outbox import Renderer, packaged_templates

    renderer = Renderer(
        partnership_name=cfg.partnership.name,
        mailbox=cfg.partnership.mailbox,
        subject_marking=cfg.partnership.subject_marking,
        templates_dir=cfg.templates_dir,
    )
    names = {p.name for p in packaged_templates().iterdir() if p.suffix in (".txt", ".html")}
    if cfg.templates_dir is not None:
        names |= {p.name for p in cfg.templates_dir.iterdir() if p.suffix in (".txt", ".html")}
    bad = []
    for name in sorted(names):
        try:
            renderer.env.get_template(name)
        except jinja2.TemplateError as exc:
            bad.append(f"{name} (line {getattr(exc, 'lineno', '?')}: {exc})")
    try:  # and one rendered whole, as the daemon would
        from .core.models import OutboundMessage

        renderer.render(
            OutboundMessage(
                key="doctor", template="doctor_test", to=(cfg.partnership.mailbox,),
                subject="doctor", context={"source": ""}, internal=True,
            ),
            datetime.now(tz=UTC),
        )  # fmt: skip
    except (jinja2.TemplateError, MailbotError) as exc:
        bad.append(f"doctor_test ({exc})")
    if bad:
        yield Check(
            "templates",
            False,
            "; ".join(bad)[:500],
            f"fix the template in {cfg.templates_dir or 'templates/'}",
        )
    else:
        yield Check(
            "templates",
            True,
            f"{len(names)} parse" + (f", {cfg.templates_dir} first" if cfg.templates_dir else ""),
        )


def _holidays(cfg: Config) -> Iterator[Check]:
    from .core.workdays import WorkingCalendar

    cal = WorkingCalendar(cfg.closures, cfg.cutoff)
    through = date.today() + timedelta(days=365)
    ends = cal.holiday_data_ends()
    if cal.covers(through):
        yield Check("bank holidays", True, f"known to {ends}")
    else:
        yield Check(
            "bank holidays",
            False,
            f"known only to {ends}, not to {through}",
            "update the holidays package (pip install -U holidays) and restart",
        )
