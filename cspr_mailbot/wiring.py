"""Build the app from the config: the mail source, the store, the sender and the ``App`` that joins them.

The one place that picks an adapter for a config section ([imap] or [maildir], [smtp] or .eml files);
the CLI and the demo both build through it.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import cast

from .adapters.mailbox import ImapSource, MaildirSource, MailSource, Security
from .adapters.smtp import EmlSender, Sender, SmtpSender
from .adapters.store import Store
from .app import App
from .config import Config


def open_store(cfg: Config) -> Store:
    """The case store named by ``[store] path``."""
    return Store(cfg.store_path, reference_prefix=cfg.partnership.reference_prefix)


def mail_source(cfg: Config) -> MailSource:
    """The mailbox to read: IMAP when configured, else the local Maildir."""
    if cfg.imap is not None:
        return ImapSource(
            cfg.imap.host,
            cfg.imap.port,
            cast(Security, cfg.imap.security),  # the config has refused anything else
            cfg.imap.username,
            cfg.imap.password,
            inbox=cfg.folders.inbox,
            sent_folder=cfg.folders.sent,
            idle=cfg.imap.idle,
            poll_seconds=cfg.imap.poll_seconds,
            ssl_context=_ssl_context(cfg.imap.cafile),
            timeout=cfg.imap.timeout,
        )
    assert cfg.maildir is not None  # the config has one or the other
    return MaildirSource(cfg.maildir, sent_folder=cfg.folders.sent)


def sender(cfg: Config) -> Sender:
    """Where outgoing mail goes: the SMTP server, or .eml files when there is no [smtp]."""
    if cfg.smtp is not None:
        return SmtpSender(
            cfg.smtp.host,
            cfg.smtp.port,
            cfg.smtp.security,
            cfg.smtp.username,
            cfg.smtp.password,
            timeout=cfg.smtp.timeout,
            ssl_context=_ssl_context(cfg.smtp.cafile),
        )
    return EmlSender(cfg.outbox_dir)


def build_app(cfg: Config, store: Store, *, with_source: bool = True) -> App:
    """The app over ``store``; without a source (``with_source=False``) for commands that read no mail."""
    return App(cfg, store, mail_source(cfg) if with_source else None, sender(cfg))


def _ssl_context(cafile: Path | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=str(cafile)) if cafile else None
