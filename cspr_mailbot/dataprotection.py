"""Data protection: a case's subject access export, the daily backups, retention (purge) and pruning.

The rules are in ``core/retention.py``; this module applies them to the store, the mailbox and the
disk. Nothing here touches the mail folders except to read: the README says how to apply the same
retention schedule to them.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .adapters.files import write_private
from .adapters.mailbox import MailSource
from .adapters.store import Store
from .config import Config
from .core import retention
from .core.models import Case
from .core.workdays import LONDON
from .errors import MailSourceError

logger = logging.getLogger(__name__)

DIR_MODE = 0o700

# -- export (a subject access request) -------------------------------------------------------------


@dataclass
class ExportReport:
    """What an export wrote and what it could not find, for the CLI (no personal details)."""

    folder: Path
    received: int = 0
    sent: int = 0
    missing: list[str] = field(default_factory=list)


_README = """\
Everything cspr-mailbot holds on case {reference}, exported {when} for a subject access request.

  case.json        the case as `cspr-mailbot case {reference} --json` shows it: the referral, the
                   screening, the deadlines, each agency and its return, links, undelivered mail
                   and the event log (every command, with who gave it and when)
  record.json      the case exactly as the store keeps it
  received/        every message filed on the case, the originals from the mailbox folders (.eml),
                   named by the order they came in, the day and what the bot took them for
  sent/            every message the bot sent on the case (.eml), from the Sent folder or the outbox
{missing}
Linked cases are named in case.json ("linked_cases", "duplicate_of") but not included: export
them separately if the request covers them.
"""


def export_case(
    cfg: Config,
    store: Store,
    source: MailSource | None,
    reference: str,
    folder: Path,
    case_json: Callable[[Case, Config], dict[str, Any]],
    now: datetime,
) -> ExportReport | None:
    """Write everything held on ``reference`` into ``folder``; None when there is no such case."""
    case = store.get_case(reference)
    if case is None:
        return None
    report = ExportReport(folder)
    _private_dir(folder)
    write_private(folder / "case.json", _json(case_json(case, cfg)))
    write_private(folder / "record.json", _json(case.to_dict()))

    received = folder / "received"
    _private_dir(received)
    for n, entry in enumerate(store.ledger_for_case(reference), 1):
        day = entry.processed_at.astimezone(LONDON).date().isoformat()
        name = f"{n:03d}-{day}-{_slug(entry.outcome)}.eml"
        raw = _original(source, entry.folder, entry.message_id, entry.sha256)
        if raw is None:
            report.missing.append(
                f"received message {n} ({day}, {entry.outcome}) not found in {entry.folder!r}"
            )
            continue
        write_private(received / name, raw)
        report.received += 1

    sent = folder / "sent"
    _private_dir(sent)
    written: set[str] = set()
    n = 0
    for record in store.outbox_for_case(reference):
        if record.raw is not None:  # queued, or refused: the bytes are still in the outbox
            n += 1
            write_private(sent / f"{n:03d}-{_slug(record.template)}-not-sent.eml", record.raw)
            written.add(record.message_id)
    eml_dir = cfg.outbox_dir if cfg.smtp is None else None
    for message_id in store.sent_message_ids(reference):
        if message_id in written:
            continue
        raw = _sent_copy(cfg, source, eml_dir, reference, message_id)
        if raw is None:
            report.missing.append(f"sent message {message_id} not found")
            continue
        n += 1
        write_private(sent / f"{n:03d}-sent.eml", raw)
        written.add(message_id)
    report.sent = n

    missing = "".join(f"\nNot found: {m}" for m in report.missing)
    text = _README.format(
        reference=reference,
        when=now.astimezone(LONDON).strftime("%d %b %Y %H:%M"),
        missing=missing + ("\n" if missing else ""),
    )
    write_private(folder / "README.txt", text.encode())
    return report


def _original(
    source: MailSource | None, folder: str, message_id: str | None, sha256: str
) -> bytes | None:
    """The message filed in ``folder`` with these bytes (or, failing that, this Message-ID)."""
    import hashlib

    if source is None or not message_id or not folder:
        return None
    try:
        found = source.find(folder, message_id)
    except MailSourceError as exc:
        logger.warning("export: folder %s could not be searched: %s", folder, exc)
        return None
    exact = [raw for raw in found if hashlib.sha256(raw).hexdigest() == sha256]
    return (exact or found)[0] if (exact or found) else None


def _sent_copy(
    cfg: Config, source: MailSource | None, eml_dir: Path | None, reference: str, message_id: str
) -> bytes | None:
    if eml_dir is not None and eml_dir.is_dir():
        for path in sorted(eml_dir.glob(f"{_file_key(reference)}*.eml")):
            raw = path.read_bytes()
            if message_id.encode() in raw[:8192]:
                return raw
    if source is not None and cfg.folders.sent:
        try:
            found = source.find(cfg.folders.sent, message_id)
        except MailSourceError as exc:
            logger.warning("export: the Sent folder could not be searched: %s", exc)
            return None
        return found[0] if found else None
    return None


def _file_key(key: str) -> str:
    """How the .eml sender names a file for an outbox key (``adapters/smtp.EmlSender``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "message"


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n").encode()


def _private_dir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


# -- backups ------------------------------------------------------------------------------------------


def backup_folder(cfg: Config) -> Path:
    """Where the daily backups go: a folder beside the store."""
    return cfg.store_path.parent / "backups"


def daily_backup(cfg: Config, store: Store, now: datetime) -> Path | None:
    """Once a day: a backup beside the store, keeping the last ``[store] backups``; None if not due."""
    if cfg.store_backups <= 0:
        return None
    today = now.astimezone(LONDON).date()
    folder = backup_folder(cfg)
    stem = cfg.store_path.stem
    target = folder / f"{stem}-{today.isoformat()}{cfg.store_path.suffix}"
    if target.exists():
        return None
    store.backup(target)
    kept = sorted(folder.glob(f"{stem}-????-??-??{cfg.store_path.suffix}"))
    for old in kept[: -cfg.store_backups]:
        for path in (old, old.with_name(old.name + ".journal")):
            path.unlink(missing_ok=True)
    logger.info("backup of the store written: %s", target.name)
    return target


# -- retention and pruning -----------------------------------------------------------------------------


def purge_list(cfg: Config, store: Store, today: date) -> list[retention.PurgeItem]:
    """The closed cases past ``[retention] closed_case_years`` on ``today``."""
    items = (retention.purge_item(c, today, cfg.retention_years) for c in store.cases(True))
    return [item for item in items if item is not None]


def purge(cfg: Config, store: Store, today: date) -> list[retention.PurgeItem]:
    """Remove the cases past retention and everything the store holds for them; an audit line each.

    The ledger keeps each of their messages' hashes, Message-ID and folder (so a redelivered original
    is filed again, never made a new case); their outbox records and Message-ID index entries go.
    """
    done = []
    for item in purge_list(cfg, store, today):
        with store.transaction() as txn:
            case = txn.get_case(item.reference)
            if case is None or retention.purge_item(case, today, cfg.retention_years) is None:
                continue
            txn.delete_case(item.reference)
            messages = txn.ledger_forget_case(item.reference)
            records = txn.outbox_delete_case(item.reference)
            txn.meta_set(f"purged:{item.reference}", item.audit(today))
        logger.info(
            "%s purged (%d messages forgotten, %d outbox records removed)",
            item.reference,
            messages,
            records,
        )
        done.append(item)
    if done:
        # The journal is append-only: fold it into a new snapshot so that what was purged is gone
        # from the store's files too, not only from what it shows.
        store.compact()
    return done


def purged(store: Store) -> list[dict[str, str]]:
    """The audit lines of every case purged so far."""
    return [store.meta_get(key) for key in store.meta_keys("purged:")]


@dataclass(frozen=True)
class Pruned:
    outbox: int
    counters: int


def prune(store: Store, now: datetime) -> Pruned:
    """Compact away what only the past needed: old sent outbox records and past days' reply counters."""
    today = now.astimezone(LONDON).date()
    with store.transaction() as txn:
        records = txn.outbox_prune(lambda r: retention.keep_outbox_record(r, now))
        stale = [k for k in txn.meta_keys("replies:") if retention.stale_reply_counter(k, today)]
        for key in stale:
            txn.meta_delete(key)
    if records or stale:
        logger.info("pruned %d sent outbox record(s), %d reply counter(s)", records, len(stale))
    return Pruned(records, len(stale))
