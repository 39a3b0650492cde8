"""Build the app from the config: the mail source, the store, the sender and the ``App`` that joins them.

The one place that picks an adapter for a config section ([imap] or [maildir]; [smtp] over SMTP or
Microsoft Graph, or .eml files; the [oauth2] token source for XOAUTH2 and Graph);
the CLI and the demo both build through it.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, cast

from .adapters import bankholidays
from .adapters.mailbox import ImapSource, MaildirSource, MailSource, Security
from .adapters.outbox import COMPILED_TEMPLATES
from .adapters.smtp import EmlSender, Sender, SmtpSender
from .adapters.store import Store
from .app import App, check_not_lost, filed_folders, store_may_be_lost
from .config import Config

if TYPE_CHECKING:
    from .adapters.oauth import TokenSource

# Microsoft 365's modules (adapters/oauth.py, adapters/graph.py) are imported by the functions
# that need them, for a config that has [oauth2] or transport = "graph": a config without them
# (password logins, an SMTP relay, the demo) never loads them.


def open_store(cfg: Config, *, check_mailbox: bool = True) -> Store:
    """The case store named by ``[store] path``; StoreDamaged if it lost what it held.

    ``check_mailbox``: also ask the mailbox whether a store that has taken in no mail was lost
    (``app.check_not_lost``). ``run`` leaves that to the App, over its own connection.
    """
    store = Store(cfg.store_path, reference_prefix=cfg.partnership.reference_prefix)
    try:
        if check_mailbox and store_may_be_lost(store):
            check_not_lost(store, mail_source(cfg, token_source(cfg)), filed_folders(cfg))
    except BaseException:
        store.close()
        raise
    return store


def token_source(cfg: Config) -> TokenSource | None:
    """The one token source of the process ([oauth2]), or None: tokens are reused until near expiry."""
    if cfg.oauth2 is None:
        return None
    from .adapters import oauth

    return oauth.token_source(cfg.oauth2)


def _graph(cfg: Config) -> bool:
    return cfg.smtp is not None and cfg.smtp.transport == "graph"


def mail_source(cfg: Config, tokens: TokenSource | None = None) -> MailSource:
    """The mailbox to read: IMAP when configured, else the local Maildir."""
    if cfg.imap is not None:
        oauth2_token = None
        if cfg.imap.auth == "oauth2":
            from .adapters import oauth

            assert tokens is not None, "auth = oauth2 needs the [oauth2] token source"
            oauth2_token = oauth.getter(tokens, oauth.OUTLOOK_SCOPE)
        return ImapSource(
            cfg.imap.host,
            cfg.imap.port,
            cast(Security, cfg.imap.security),  # the config has refused anything else
            cfg.imap.username,
            cfg.imap.password,
            inbox=cfg.folders.inbox,
            sent_folder=cfg.sent_copy_folder,  # none where Exchange keeps its own
            idle=cfg.imap.idle,
            poll_seconds=cfg.imap.poll_seconds,
            ssl_context=_ssl_context(cfg.imap.cafile),
            timeout=cfg.imap.timeout,
            oauth2_token=oauth2_token,
            max_message_bytes=cfg.limits.max_message_bytes,
        )
    assert cfg.maildir is not None  # the config has one or the other
    return MaildirSource(
        cfg.maildir, sent_folder=cfg.folders.sent, max_message_bytes=cfg.limits.max_message_bytes
    )


def sender(cfg: Config, tokens: TokenSource | None = None) -> Sender:
    """Where outgoing mail goes: Graph, the SMTP server, or .eml files when there is no [smtp]."""
    if cfg.smtp is not None and _graph(cfg):
        from .adapters.graph import GraphSender

        assert cfg.oauth2 is not None and tokens is not None  # the config requires [oauth2]
        return GraphSender(
            cfg.oauth2.graph_url,
            cfg.smtp.username or cfg.partnership.mailbox,
            tokens,
            cafile=cfg.oauth2.cafile,
            timeout=cfg.smtp.timeout,
        )
    if cfg.smtp is not None:
        oauth2_token = None
        if cfg.smtp.auth == "oauth2":
            from .adapters import oauth

            assert tokens is not None, "auth = oauth2 needs the [oauth2] token source"
            oauth2_token = oauth.getter(tokens, oauth.OUTLOOK_SCOPE)
        return SmtpSender(
            cfg.smtp.host,
            cfg.smtp.port,
            cfg.smtp.security,
            cfg.smtp.username,
            cfg.smtp.password,
            timeout=cfg.smtp.timeout,
            ssl_context=_ssl_context(cfg.smtp.cafile),
            oauth2_token=oauth2_token,
        )
    return EmlSender(cfg.outbox_dir)


def build_app(
    cfg: Config, store: Store, *, with_source: bool = True, tokens: TokenSource | None = None
) -> App:
    """The app over ``store``; without a source (``with_source=False``) for commands that read no mail.

    ``tokens`` is the process's token source when it has one already (the daemon keeps one for its
    life); otherwise one is made here for an [oauth2] config.
    """
    if tokens is None:
        tokens = token_source(cfg)
    source = mail_source(cfg, tokens) if with_source else None
    app = App(cfg, store, source, sender(cfg, tokens), bankholidays.calendar(cfg))
    # Templates compiled once, beside the store, for the runs after this one.
    app.renderer.keep_compiled(cfg.store_path.parent / COMPILED_TEMPLATES)
    return app


def _ssl_context(cafile: Path | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=str(cafile)) if cafile else None
