"""The case store: cases, the message ledger, the outbox and counters, kept safe on disk.

The only module that imports tinydb. TinyDB holds the tables and documents and runs the queries;
durability is ours, because stock TinyDB rewrites the whole JSON file in place on every change
(slow at 10,000 documents, and a kill mid-write leaves a corrupt file).

On disk, next to ``path`` (every file 0600, the folder 0700 when we create it):

- ``path``: the snapshot, ``{"format", "version", "generation", "tables": {table: {key: doc}}}``,
  only ever replaced whole (temp file, fsync, rename, fsync of the folder).
- ``path.journal``: a header line naming the snapshot generation it follows, then one line per
  committed transaction, ``<crc32> [[table, key, doc-or-null], ...]``, appended and fdatasync'ed.
  A transaction is committed when its line is on disk; a torn or unfinished last line is an
  uncommitted transaction: ignored when reading and cut off by the next writer.
- ``path.lock``: ``flock``ed for every transaction, so the daemon and the CLI never write at once.
- ``<stem>-committed.json`` (``evidence_path``): what has been committed, written after every
  commit: the number of committed transactions and the highest reference handed out per prefix and
  year. Its name does not begin with the store's, so losing every ``path*`` file leaves it behind.

A store that holds fewer transactions or lower reference counters than its evidence says (a journal
emptied, cut or deleted, a snapshot deleted) is refused with ``StoreDamaged``, naming the file, rather
than read as empty or short: the next referral would otherwise get a reference already handed out.
The first transaction writes a snapshot (empty) before its journal line, so a store that has ever
committed always has one, and a journal without its snapshot is damage, not a new installation.
A store with no files and no evidence is new (``Store.is_new``); whether a store that has taken in
no mail should be so (the mailbox's folders hold mail the bot filed) is ``app.check_not_lost``'s.

Compaction (folding the journal into a new snapshot) happens under the lock when the journal has
grown past a limit and half the snapshot's size, and at close when that is worth it. A crash between
the new snapshot and the new journal leaves an older-generation journal, which is then ignored.

Every read first compares the files' identity (inode, size, mtime) with what was loaded, so a
long-lived Store sees what another process committed; journal growth is read incrementally.
Loading a large snapshot pauses the cyclic garbage collector and then freezes (``gc.freeze``) what
was loaded: the documents are acyclic and freed by reference counting when replaced.

Closed cases live in their own table so that the open-case table stays small; lookups by
Message-ID and by hash go through in-memory indexes rather than scans, and so does finding the open
cases about a child (``core.samechild``'s keys: date of birth and name, initials and postcode).

Open cases are kept decoded, by reference, while the table holds the very document they were
decoded from (so another process's commit is read again); callers get private copies. A case put in
a transaction is JSON-checked there and then (``_CaseDoc``: its document as it reads back, its
text, its child-index keys), and the journal line and the snapshot are joined from that text rather
than serialised again.

What goes in and comes out is typed: ``Case`` (kept in its own ``to_dict`` shape), ``LedgerEntry`` and
``OutboxRecord`` (written here as JSON objects with ISO date-times, the outbox's bytes in base64).
The JSON keys are those of every earlier version, so older store files load as they are.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import fcntl
import gc
import json
import logging
import os
import re
import stat
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from cspr_mailbot.adapters.files import sync_folder, write_all, write_private
from cspr_mailbot.core import samechild
from cspr_mailbot.core.models import Case
from cspr_mailbot.core.records import LedgerEntry, OutboxRecord
from cspr_mailbot.errors import StoreDamaged, StoreError, StoreLocked

logger = logging.getLogger(__name__)

CASES = "cases"  # open cases (any status but "closed"), keyed by reference
ARCHIVE = "archive"  # closed cases, keyed by reference
LEDGER = "ledger"  # one entry per inbound message processed, keyed by sha256
OUTBOX = "outbox"  # messages to send and sent, keyed by the outbox key
SENT_IDS = "sent_message_ids"  # Message-IDs we sent -> case reference, keyed by Message-ID
META = "meta"  # small values (counters, last digest ...), keyed by name
TABLES = (CASES, ARCHIVE, LEDGER, OUTBOX, SENT_IDS, META)

FORMAT = "cspr-mailbot-store"
VERSION = 1
FILE_MODE = 0o600
DIR_MODE = 0o700
DEFAULT_JOURNAL_LIMIT = 2 * 1024 * 1024
EVIDENCE_FORMAT = "cspr-mailbot-committed"
EVIDENCE_SLOT = 4096  # bytes per record in the evidence file (two, written in turn)
COUNTER_PREFIX = "reference_counter:"  # META keys of the reference counters: prefix:year

Doc = dict[str, Any]  # a stored JSON document
Op = tuple[str, str, Doc | None]  # (table, key, new document or None to delete)


# --------------------------------------------------------------------------- small helpers


_ATOMS = frozenset({str, int, float, bool, type(None)})  # immutable: shared, not copied


def _copy(value: Any) -> Any:
    """A deep copy of a JSON-shaped value (much faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: v if type(v) in _ATOMS else _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if type(v) in _ATOMS else _copy(v) for v in value]
    return value


def _clean(value: Any) -> Any:
    """The value as it will read back from disk: JSON-checked, tuples made lists, a private copy."""
    return json.loads(json.dumps(value, ensure_ascii=False, allow_nan=False))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _ops_payload(ops: list[Op], texts: list[str | None] | None) -> bytes:
    """``_dumps(ops)``, the documents whose JSON ``texts`` holds (None: not known) taken from it."""
    if texts is None or all(text is None for text in texts):
        return _dumps(ops)
    return (
        "["
        + ",".join(
            f"[{_quoted(table)},{_quoted(key)},{text if text is not None else _text(doc)}]"
            for (table, key, doc), text in zip(ops, texts, strict=True)
        )
        + "]"
    ).encode()


def _snapshot_payload(snapshot: Doc, case_text: Callable[[str, Doc], str | None]) -> bytes:
    """``_dumps(snapshot)``, the open cases' JSON taken from ``case_text`` where it is known."""
    head = {k: v for k, v in snapshot.items() if k != "tables"}
    tables = ",".join(
        _quoted(name)
        + ":"
        + (
            "{"
            + ",".join(
                f"{_quoted(key)}:{text if (text := case_text(key, doc)) is not None else _text(doc)}"
                for key, doc in table.items()
            )
            + "}"
            if name == CASES
            else _text(table)
        )
        for name, table in snapshot["tables"].items()
    )
    return (_text(head)[:-1] + ',"tables":{' + tables + "}}").encode()


def _line(payload: bytes) -> bytes:
    return b"%08x " % zlib.crc32(payload) + payload + b"\n"


def _parse_line(line: bytes) -> Any:
    """The JSON value of one journal line, or raise ValueError if the line is damaged."""
    if len(line) < 10 or line[8:9] != b" ":
        raise ValueError("no checksum")
    payload = line[9:]
    if int(line[:8], 16) != zlib.crc32(payload):
        raise ValueError("checksum mismatch")
    return json.loads(payload)


def norm_message_id(message_id: str | None) -> str | None:
    """A Message-ID without surrounding blanks and angle brackets; None when there is none."""
    if not message_id:
        return None
    value = message_id.strip().strip("<>").strip()
    return value or None


def _natural_key(reference: str) -> tuple[Any, ...]:
    """Sort DSPP-2026-9999 before DSPP-2026-10000."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", reference))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _instant(iso: str) -> datetime:
    return _aware(datetime.fromisoformat(iso))


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _instant_or_none(value: Any) -> datetime | None:
    return _instant(value) if value else None


# --------------------------------------------------------------------------- records <-> documents


def _counter(prefix: str, year: int) -> str:
    return f"reference_counter:{prefix}:{year}"


def _journal_of(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_quoted = json.encoder.encode_basestring  # a str as JSON (ensure_ascii=False): what _text gives


def _text(value: Any) -> str:
    """``value`` as JSON text, checked: what ``_clean`` and the journal make of it."""
    return _ENCODER.encode(value)


def _case_of(doc: Doc) -> Case:
    """A private copy of the case stored as ``doc``."""
    return Case.from_dict(_copy(doc))


class _CaseDoc:
    """An open case's document, as it reads back from disk, with what is known of it already: its
    JSON text (when put in this process: the journal line and the snapshot are joined from it, not
    serialised again), its child-index keys and, once read, its decoded case (which shares the
    document's values: it is never handed out as it is, ``_thaw`` copies it).

    The document is never changed in place, so this holds for as long as the table holds that very
    document; a transaction's put cases become the store's once committed.
    """

    __slots__ = ("_case", "doc", "keys", "text")

    def __init__(self, doc: Doc, text: str | None = None) -> None:
        self.doc = doc
        self.text = text
        self.keys = _child_keys(doc)
        self._case: Case | None = None

    @classmethod
    def put(cls, case: Case) -> _CaseDoc:
        """``case`` as it will read back once written: JSON-checked now (TypeError, ValueError)."""
        text = _text(case.to_dict())
        return cls(json.loads(text), text)

    def case(self) -> Case:
        """The decoded case (ours: callers get ``_thaw`` of it)."""
        if self._case is None:
            self._case = Case.from_dict(self.doc)
        return self._case


def _thaw(case: Case) -> Case:
    """A private copy of a decoded case: its own dicts and lists; the immutable values shared.

    (``dataclasses.replace`` would do, at twice the cost: a frozen dataclass's fields are set with
    ``object.__setattr__`` on a fresh copy, as its own ``__init__`` does.)
    """
    out = copy.copy(case)
    object.__setattr__(out, "referral", _copy(case.referral))
    object.__setattr__(out, "criteria", _copy(case.criteria))
    if any(a.scoping is not None for a in case.agencies):
        agencies = tuple(
            a if a.scoping is None else dataclasses.replace(a, scoping=_copy(a.scoping))
            for a in case.agencies
        )
        object.__setattr__(out, "agencies", agencies)
    if case.held_returns:
        held = tuple(dataclasses.replace(h, scoping=_copy(h.scoping)) for h in case.held_returns)
        object.__setattr__(out, "held_returns", held)
    return out


def _child_keys(doc: Doc) -> tuple[str, ...]:
    """The keys an open case is found by when the same child is referred again."""
    referral = doc.get("referral")
    return samechild.index_keys(
        referral if isinstance(referral, dict) else {},
        str(doc.get("status") or ""),
        str(doc.get("referrer_email") or ""),
    )


def _ledger_doc(entry: LedgerEntry) -> Doc:
    return {
        "message_id": entry.message_id,
        "sha256": entry.sha256,
        "fingerprint": entry.fingerprint,
        "uid": entry.uid,
        "outcome": entry.outcome,
        "case_reference": entry.case_reference,
        "processed_at": entry.processed_at.isoformat(),
        "folder": entry.folder,
        "moved": entry.moved,
        "error": entry.error,
    }


def _ledger_of(doc: Doc) -> LedgerEntry:
    return LedgerEntry(
        sha256=doc["sha256"],
        message_id=doc.get("message_id"),
        uid=str(doc.get("uid") or ""),
        outcome=doc.get("outcome") or "",
        case_reference=doc.get("case_reference"),
        processed_at=_instant(doc["processed_at"]),
        folder=doc.get("folder") or "",
        moved=bool(doc.get("moved")),
        fingerprint=doc.get("fingerprint"),
        error=doc.get("error"),
    )


def _outbox_doc(record: OutboxRecord) -> Doc:
    doc = {
        "key": record.key,
        "message_id": record.message_id,
        "case_reference": record.case_reference,
        "template": record.template,
        "subject": record.subject,
        "to": list(record.to),
        "cc": list(record.cc),
        "recipients": list(record.recipients),
        "internal": record.internal,
        "raw": base64.b64encode(record.raw).decode("ascii") if record.raw is not None else None,
        "created_at": record.created_at.isoformat(),
        "sent_at": _when(record.sent_at),
        "failed_at": _when(record.failed_at),
        "attempts": record.attempts,
        "next_attempt_at": _when(record.next_attempt_at),
        "last_error": record.last_error,
    }
    # Newer keys only when they say something, so a record written back keeps its old shape.
    if record.refused_to:
        doc["refused_to"] = list(record.refused_to)
    if record.resends:
        doc["resends"] = record.resends
    return doc


def _outbox_of(doc: Doc) -> OutboxRecord:
    raw = doc.get("raw")
    return OutboxRecord(
        key=doc["key"],
        message_id=doc.get("message_id") or "",
        template=doc.get("template") or "",
        subject=doc.get("subject") or "",
        to=tuple(doc.get("to") or ()),
        created_at=_instant(doc["created_at"]),
        raw=base64.b64decode(raw) if raw is not None else None,
        case_reference=doc.get("case_reference"),
        cc=tuple(doc.get("cc") or ()),
        recipients=tuple(doc.get("recipients") or ()),
        internal=bool(doc.get("internal")),
        sent_at=_instant_or_none(doc.get("sent_at")),
        failed_at=_instant_or_none(doc.get("failed_at")),
        attempts=int(doc.get("attempts") or 0),
        next_attempt_at=_instant_or_none(doc.get("next_attempt_at")),
        last_error=doc.get("last_error"),
        # Older records refused for good kept no list: then every recipient was refused.
        refused_to=tuple(
            doc.get("refused_to") or (doc.get("recipients") or () if doc.get("failed_at") else ())
        ),
        resends=int(doc.get("resends") or 0),
    )


def evidence_path(path: Path) -> Path:
    """Where the evidence of what the store ``path`` committed is kept: beside it, another name."""
    name = f"{path.stem}-committed.json"
    if name.startswith(path.name):  # a store file with no suffix ("cspr")
        name = f"committed-{path.name}.json"
    return path.with_name(name)


def _shown_counter(key: str) -> str:
    """``DSPP:2026`` and 7 -> ``DSPP-2026-0007``: a counter as the reference it last handed out."""
    prefix, _, year = key.rpartition(":")
    return f"{prefix}-{year}"


def _undelivered_of(docs: list[Doc], reference: str | None) -> list[OutboxRecord]:
    """The records of ``docs`` on case ``reference`` (all when None), by when they were refused."""
    chosen = [d for d in docs if reference is None or d.get("case_reference") == reference]
    chosen.sort(key=lambda d: (str(d.get("failed_at")), str(d.get("key"))))
    return [_outbox_of(d) for d in chosen]


def _make_private_dirs(folder: Path) -> None:
    """Create ``folder`` (and missing parents) with mode 0700; leave existing folders alone."""
    missing: list[Path] = []
    p = folder
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)  # the umask can only take bits away: never wider than 0700
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)
    mode = stat.S_IMODE(os.stat(folder).st_mode)
    if mode & 0o077:
        logger.warning("store folder %s is open to other users (mode %o)", folder, mode)


def _open_private(path: Path, flags: int) -> int:
    """Open (creating with 0600 if needed) and make sure the file's mode is 0600."""
    fd = os.open(path, flags | os.O_CLOEXEC, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def _read_all(fd: int, offset: int = 0) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _ident(st: os.stat_result | None) -> tuple[int, int, int] | None:
    return None if st is None else (st.st_ino, st.st_size, st.st_mtime_ns)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


# --------------------------------------------------------------------------- TinyDB parts


class _KeyedTable(Table):
    """A TinyDB table keyed by our own string keys, changed in place.

    Stock ``Table._update_table`` copies the whole table (and the storage rewrites the whole file)
    on every insert; with the documents in memory and durability done by the journal, a change only
    needs to touch the one document.
    """

    document_id_class = str  # type: ignore[assignment]

    def _update_table(self, updater: Callable[[dict[Any, Any]], None]) -> None:
        tables = self._storage.read()
        assert tables is not None  # JournalStorage always returns its live dict
        updater(tables.setdefault(self.name, {}))
        self.clear_cache()

    def put(self, key: str, doc: Doc) -> None:
        self._update_table(lambda table: table.__setitem__(key, doc))

    def drop(self, key: str) -> None:
        self._update_table(lambda table: table.pop(key, None))

    def raw(self, key: str) -> Doc | None:
        """The stored document itself (not a copy): callers must not change it."""
        tables = self._storage.read()
        assert tables is not None
        return tables.get(self.name, {}).get(key)


class _DB(TinyDB):
    table_class = _KeyedTable


class JournalStorage(Storage):
    """A TinyDB storage that keeps every table in memory, made durable by a snapshot and a journal.

    TinyDB's ``read``/``write`` only touch memory; ``append`` makes one transaction durable, and
    ``compact`` rewrites the snapshot. The caller (``Store``) holds the lock for both.
    """

    def __init__(self, path: Path, journal_limit: int = DEFAULT_JOURNAL_LIMIT) -> None:
        super().__init__()
        self.path = path
        self.journal_path = path.with_name(path.name + ".journal")
        self.journal_limit = journal_limit
        self.data: dict[str, Doc] = {}
        self.generation = 0
        self._snap_ident: tuple[int, int, int] | None = None
        self._snap_size = 0
        self._jfd: int | None = None  # the journal we have read (kept open: its inode stays ours)
        self._j_ino: int | None = None
        self._j_gen: int | None = None  # generation in its header; None: no usable journal
        self._j_header = 0  # bytes of the header line
        self._j_offset = 0  # bytes read: through the last whole transaction
        self._unsynced = False  # a line written without its fdatasync (append(durable=False))
        self.evidence_path = evidence_path(path)
        self.committed = 0  # transactions committed: the snapshot's count plus its journal's lines
        self.counters: dict[str, int] = {}  # reference counters, "DSPP:2026" -> last number
        self._high = 0  # the most committed transactions this process has seen: never goes down
        self._efd: int | None = None  # the evidence file, kept open by a writer
        self._e_ino: int | None = None
        # The JSON text of an open case's stored document where the store knows it, else None.
        self.case_text: Callable[[str, Doc], str | None] = lambda key, doc: None

    # TinyDB's interface: memory only.
    def read(self) -> dict[str, Doc]:
        return self.data

    def write(self, data: dict[str, Doc]) -> None:
        self.data = data

    def close(self) -> None:
        self._close_journal()
        self._close_evidence()

    # Loading.
    def load(self) -> list[Op]:
        """Read the snapshot into memory and return the journal's committed operations to apply."""
        for _attempt in range(10):
            result = self._try_load()
            if result is not None:
                self._check_committed()
                return result
            time.sleep(0.01)  # another process was compacting: the files changed under us
        restore = "; restore the store's files from a backup"
        if _stat(self.path) is None:
            raise StoreDamaged(
                self.path,
                f"the snapshot is missing, but its journal {self.journal_path.name} is there"
                + restore,
            )
        raise StoreDamaged(self.path, "the snapshot and the journal do not match" + restore)

    # The evidence of what was committed.
    def _read_evidence(self) -> tuple[int, dict[str, int]] | None:
        """(transactions committed, reference counters) as the evidence file says; None: no file.

        The file has two slots written in turn (see ``write_evidence``); the sound one with the
        higher count wins, so a write torn by a crash leaves the one before it.
        """
        try:
            raw = self.evidence_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StoreDamaged(self.path, f"{self.evidence_path} cannot be read: {e}") from e
        if not raw.strip(b"\0 \n"):
            return None  # made, but killed before its first record: as good as none
        best: tuple[int, dict[str, int]] | None = None
        problem = "no sound record"
        for at in range(0, len(raw), EVIDENCE_SLOT):
            slot = raw[at : at + EVIDENCE_SLOT].rstrip(b"\0 \n")
            if not slot:
                continue
            try:
                doc = _parse_line(slot)
                if doc.get("format") != EVIDENCE_FORMAT:
                    raise ValueError("not a cspr-mailbot evidence file")
                refs = {str(k): int(v) for k, v in dict(doc["references"]).items()}
                found = (int(doc["committed"]), refs)
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                problem = str(e)
                continue
            if best is None or found[0] > best[0]:
                best = found
        if best is None:
            raise StoreDamaged(
                self.path,
                f"{self.evidence_path}, the record of what the store committed, is damaged "
                f"({problem}); if the store itself is whole, delete that file and it is written again",
            )
        return best

    def has_evidence(self) -> bool:
        return _stat(self.evidence_path) is not None

    def _check_committed(self) -> None:
        """Refuse a store that holds less than was committed to it (StoreDamaged, naming it)."""
        if self.committed < self._high:
            self._snap_ident = (-1, -1, -1)  # read again next time: never carry on with this
            raise StoreDamaged(
                self.path,
                f"it now holds {self.committed} committed transactions, but held {self._high}: "
                "its files were cut, emptied or replaced while the bot ran; restore them from a "
                "backup",
            )
        evidence = self._read_evidence()
        if evidence is not None:
            committed, refs = evidence
            short = [
                f"{_shown_counter(k)}-{n:04d}"
                for k, n in sorted(refs.items())
                if self.counters.get(k, 0) < n
            ]
            if self.committed < committed or short:
                missing = self._stat_files() == (None, None)
                what = (
                    "is missing"
                    if missing
                    else (f"holds {self.committed} of the {committed} transactions committed to it")
                )
                raise StoreDamaged(
                    self.path,
                    f"{what} ({self.evidence_path.name} records {committed} transactions"
                    + (f" and references up to {', '.join(short)}" if short else "")
                    + "). Its files were deleted, emptied or cut short, or an older backup was "
                    "copied back: restore the latest backup. The bot will not start afresh and "
                    "hand out references again",
                )
        self._high = self.committed

    def _stat_files(self) -> tuple[os.stat_result | None, os.stat_result | None]:
        return _stat(self.path), _stat(self.journal_path)

    def _note_counters(self, ops: list[Op]) -> None:
        for table, key, doc in ops:
            if table == META and key.startswith(COUNTER_PREFIX):
                name = key[len(COUNTER_PREFIX) :]
                if doc is None:
                    self.counters.pop(name, None)
                else:
                    try:
                        self.counters[name] = int(doc["value"])
                    except (KeyError, TypeError, ValueError):
                        continue

    def write_evidence(self) -> None:
        """Record what is committed now, in place: one slot of the file.

        The caller holds the store lock. Two fixed slots written in turn, each with a checksum, so
        a torn write leaves the previous record whole. It is not fdatasync'ed: it is written after
        the transaction's journal line is on disk, so it can never claim more than the store holds,
        and what a power cut may lose of it is only its newest record, which makes the check weaker
        for the last few transactions, never wrong; a killed process loses nothing (the kernel has
        the write). That keeps a commit at one fdatasync (issue 15). A failure is logged, not
        raised: the transaction is committed already.
        """
        doc = {
            "format": EVIDENCE_FORMAT,
            "store": self.path.name,
            "committed": self.committed,
            "references": dict(sorted(self.counters.items())),
            "cases": len(self.data.get(CASES, {})) + len(self.data.get(ARCHIVE, {})),
            "at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        }
        record = _line(_dumps(doc))
        if len(record) > EVIDENCE_SLOT:
            logger.error("store %s: the record of what was committed is too long", self.path)
            return
        try:
            fd = self._evidence_fd()
            write_all(fd, record.ljust(EVIDENCE_SLOT, b" "), (self.committed % 2) * EVIDENCE_SLOT)
        except OSError as e:
            self._close_evidence()
            logger.error(
                "store %s: cannot record what was committed in %s: %s",
                self.path,
                self.evidence_path,
                e,
            )

    def _evidence_fd(self) -> int:
        """The evidence file, open; opened again if it was deleted or replaced meanwhile."""
        st = _stat(self.evidence_path)
        if self._efd is not None and (st is None or st.st_ino != self._e_ino):
            self._close_evidence()
        if self._efd is None:
            fd = _open_private(self.evidence_path, os.O_RDWR | os.O_CREAT)
            if st is None:
                sync_folder(self.evidence_path.parent)  # a new name: make it last
            self._efd, self._e_ino = fd, os.fstat(fd).st_ino
        return self._efd

    def _close_evidence(self) -> None:
        if self._efd is not None:
            os.close(self._efd)
        self._efd = self._e_ino = None

    def _try_load(self) -> list[Op] | None:
        generation, committed, tables, snap_st = self._read_snapshot()
        self._close_journal()
        ops: list[Op] = []
        j_gen: int | None = None
        header = offset = 0
        jfd: int | None = None
        try:
            jfd = os.open(self.journal_path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            pass
        if jfd is not None:
            st = os.fstat(jfd)
            data = _read_all(jfd)
            if data:
                end = data.find(b"\n")
                try:
                    head = _parse_line(data[: end + 1 if end >= 0 else len(data)].rstrip(b"\n"))
                    j_gen = int(head["generation"])
                except (ValueError, KeyError, TypeError) as e:
                    os.close(jfd)
                    raise StoreError(f"store journal {self.journal_path}: bad header ({e})") from e
                header = offset = end + 1
                if j_gen > generation:
                    os.close(jfd)  # a newer snapshot was written after we read ours
                    return None
                if j_gen == generation:
                    new_ops, offset, n = self._parse_ops(data, offset)
                    ops.extend(new_ops)
                    committed += n
                else:
                    offset = len(data)  # an older journal, already folded into the snapshot
            self._jfd, self._j_ino = jfd, st.st_ino
        if _ident(_stat(self.path)) != _ident(snap_st):
            self._close_journal()
            return None
        self.data, self.generation, self.committed = tables, generation, committed
        self.counters = {}
        self._note_counters([(META, k, d) for k, d in tables.get(META, {}).items()])
        self._note_counters(ops)
        self._snap_ident, self._snap_size = _ident(snap_st), (snap_st.st_size if snap_st else 0)
        self._j_gen, self._j_header, self._j_offset = j_gen, header, offset
        return ops

    def _read_snapshot(self) -> tuple[int, int, dict[str, Doc], os.stat_result | None]:
        """(generation, transactions committed in it, tables, its stat) of the snapshot."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return 0, 0, {}, None
        try:
            st = os.fstat(fd)
            if stat.S_IMODE(st.st_mode) & 0o077:
                os.fchmod(fd, FILE_MODE)
            raw = _read_all(fd)
        finally:
            os.close(fd)
        if not raw.strip():
            return 0, 0, {}, st
        gc_was_on = gc.isenabled()
        gc.disable()  # millions of new objects: stop the collector rescanning them as they come
        try:
            doc = json.loads(raw)
            if doc.get("format") != FORMAT:
                raise ValueError("not a cspr-mailbot store")
            if doc.get("version") != VERSION:
                raise ValueError(f"store version {doc.get('version')} is not {VERSION}")
            committed = int(doc.get("committed", 0))  # older snapshots have no count
            return int(doc["generation"]), committed, dict(doc["tables"]), st
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise StoreError(f"store {self.path} cannot be read: {e}") from e
        finally:
            if gc_was_on:
                gc.enable()
                if len(raw) > 1 << 20:
                    # Long-lived, acyclic data: keep the collector from scanning it again and
                    # again later (a one-off ~100 ms pause in some later transaction otherwise).
                    gc.freeze()

    def _parse_ops(self, data: bytes, offset: int) -> tuple[list[Op], int, int]:
        """The operations of the whole, sound lines of ``data[offset:]``, where they end, how many.

        Damaged lines at the end are an unfinished transaction; a damaged line followed by a sound
        one is corruption of committed data, which we refuse to paper over.
        """
        ops: list[Op] = []
        good_end = offset
        count = 0
        bad_at: int | None = None
        while (end := data.find(b"\n", offset)) >= 0:
            try:
                txn = _parse_line(data[offset:end])
            except ValueError:
                bad_at = offset if bad_at is None else bad_at
                offset = end + 1
                continue
            if bad_at is not None:
                raise StoreError(f"store journal {self.journal_path} is damaged at byte {bad_at}")
            ops.extend((table, key, doc) for table, key, doc in txn)
            offset = good_end = end + 1
            count += 1
        return ops, good_end, count

    def refresh(self, locked: bool = False) -> tuple[bool, list[Op]] | None:
        """Catch up with other processes' commits.

        None: nothing changed. (True, ops): memory was reloaded from the snapshot; apply ``ops``
        and rebuild indexes. (False, ops): apply ``ops`` on top of what we have.
        With ``locked`` (the caller holds the store lock), cut off an unfinished last transaction.
        """
        result: tuple[bool, list[Op]] | None = None
        j_st = _stat(self.journal_path)
        if (
            _ident(_stat(self.path)) != self._snap_ident
            or (j_st.st_ino if j_st else None) != self._j_ino
            or (j_st is not None and j_st.st_size < self._j_offset)  # cut short under us
        ):
            result = (True, self.load())
        elif j_st is not None and j_st.st_size != self._j_offset:
            # New transactions, or an unfinished one (read again each time until it is whole or
            # cut off: a writer may cut it and append a line of the very same length).
            assert self._jfd is not None
            data = _read_all(self._jfd, self._j_offset)
            if self._j_gen == self.generation:
                ops, used, n = self._parse_ops(data, 0)
                self._j_offset += used
                self.committed += n
                self._high = max(self._high, self.committed)
                self._note_counters(ops)
                result = (False, ops)
            else:
                self._j_offset += len(data)  # an older journal: nothing in it is news
        if locked and self._jfd is not None:
            size = os.fstat(self._jfd).st_size
            if size > self._j_offset:
                logger.warning(
                    "store journal: dropping %d bytes of an unfinished transaction",
                    size - self._j_offset,
                )
                os.ftruncate(self._jfd, self._j_offset)
                os.fsync(self._jfd)
        return result

    # Writing (the caller holds the store lock and has just refreshed).
    def append(
        self, ops: list[Op], texts: list[str | None] | None = None, *, durable: bool = True
    ) -> None:
        """Make one transaction durable: one journal line, fdatasync'ed.

        ``texts``, one per op, is the JSON text of its document where known already (a case's, joined
        from its parts), so that a large document is not serialised again.

        ``durable=False`` writes the line without the fdatasync: the kernel has it, so a killed
        process loses nothing, but a power cut may, until ``sync`` (or the next durable append, or
        closing) puts it on disk.

        The first transaction of a store is preceded by a snapshot (of nothing, or of an older
        store's journal), so that a store that has committed anything always has a snapshot.
        """
        if self.generation == 0:
            self.compact()
        if self._jfd is None or self._j_gen != self.generation:
            self._new_journal(self.generation)
        assert self._jfd is not None
        line = _line(_ops_payload(ops, texts))
        try:
            write_all(self._jfd, line, self._j_offset)
            if durable:
                os.fdatasync(self._jfd)
        except OSError as e:
            try:
                os.ftruncate(self._jfd, self._j_offset)
            except OSError:
                pass
            self._snap_ident = (-1, -1, -1)  # force a full reload before anything else
            raise StoreError(f"store journal {self.journal_path} cannot be written: {e}") from e
        self._j_offset += len(line)
        self._unsynced = not durable
        self.committed += 1
        self._high = max(self._high, self.committed)
        self._note_counters(ops)

    @property
    def unsynced(self) -> bool:
        """A journal line was written without its fdatasync, and none has followed."""
        return self._unsynced

    def sync(self) -> None:
        """fdatasync the journal: what ``append(durable=False)`` wrote is on disk when it returns."""
        if not self._unsynced or self._jfd is None:
            return
        try:
            os.fdatasync(self._jfd)
        except OSError as e:
            raise StoreError(f"store journal {self.journal_path} cannot be written: {e}") from e
        self._unsynced = False

    def journal_bytes(self) -> int:
        """Bytes of committed transactions in the journal."""
        return max(0, self._j_offset - self._j_header) if self._j_gen == self.generation else 0

    def wants_compaction(self, at_close: bool = False) -> bool:
        size = self.journal_bytes()
        if at_close:
            return size > max(self.journal_limit // 4, self._snap_size // 8)
        return size > max(self.journal_limit, self._snap_size // 2)

    def compact(self) -> None:
        """Write memory as the next snapshot generation, then start an empty journal for it."""
        generation = self.generation + 1
        snapshot = {
            "format": FORMAT,
            "version": VERSION,
            "generation": generation,
            "committed": self.committed,
            "tables": self.data,
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = _open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            write_all(fd, _snapshot_payload(snapshot, self.case_text))
            os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        sync_folder(self.path.parent)
        self.generation = generation
        self._snap_ident, self._snap_size = _ident(st), st.st_size
        self._new_journal(generation)

    def _new_journal(self, generation: int) -> None:
        header = _line(_dumps({"journal": VERSION, "generation": generation}))
        tmp = self.journal_path.with_name(self.journal_path.name + ".tmp")
        fd = _open_private(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
        try:
            write_all(fd, header)
            os.fsync(fd)
            os.replace(tmp, self.journal_path)
            sync_folder(self.journal_path.parent)
        except BaseException:
            os.close(fd)
            raise
        self._close_journal()
        self._jfd, self._j_ino = fd, os.fstat(fd).st_ino
        self._j_gen, self._j_header = generation, len(header)
        self._j_offset = len(header)

    def _close_journal(self) -> None:
        if self._jfd is not None:
            if self._unsynced:
                try:
                    os.fdatasync(self._jfd)
                except OSError:
                    logger.exception("store journal %s: cannot be synced", self.journal_path)
            os.close(self._jfd)
        self._unsynced = False
        self._jfd = self._j_ino = self._j_gen = None
        self._j_header = self._j_offset = 0


# --------------------------------------------------------------------------- the store


class Store:
    """The case store. Reads need no lock; writes go through ``transaction()``.

    Documents handed out are private copies; documents handed in are copied and checked to be JSON.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        reference_prefix: str = "DSPP",
        lock_timeout: float = 30.0,
        *,
        journal_limit: int = DEFAULT_JOURNAL_LIMIT,
    ) -> None:
        self.path = Path(path)
        self.reference_prefix = reference_prefix
        self.lock_timeout = lock_timeout
        self._mutex = threading.RLock()
        self._in_txn = False
        self._closed = True
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            _make_private_dirs(self.path.parent)
            self._lock_fd = _open_private(self._lock_path, os.O_RDWR | os.O_CREAT)
        except OSError as e:
            raise StoreError(f"store {self.path} cannot be opened: {e}") from e
        try:
            self._db = _DB(storage=JournalStorage, path=self.path, journal_limit=journal_limit)
            storage = self._db.storage
            assert isinstance(storage, JournalStorage)
            self._storage = storage
            storage.case_text = self._case_text
            self._tables: dict[str, _KeyedTable] = {}
            self._ledger_by_mid: dict[str, str] = {}
            # Pending outbox keys in the order they were queued (a dict as an ordered set): among
            # records of the same instant, the order a pass decided them in is the order they go.
            self._pending: dict[str, None] = {}
            self._undelivered: set[str] = set()  # outbox keys refused for good (failed_at set)
            self._by_child: dict[str, set[str]] = {}  # samechild key -> open case references
            # What is known of open cases, by reference: valid while the table holds that very
            # document (``_CaseDoc.doc``).
            self._known: dict[str, _CaseDoc] = {}
            self._apply(self._storage.load(), index=False)
            self._rebuild_indexes()
        except BaseException as e:
            os.close(self._lock_fd)
            if isinstance(e, OSError):
                raise StoreError(f"store {self.path} cannot be read: {e}") from e
            raise
        self._closed = False
        if self._storage.committed and not self._storage.has_evidence():
            self._storage.write_evidence()  # a store from before the evidence file, or it was lost
        logger.debug("store %s opened, generation %s", self.path, self._storage.generation)

    @property
    def is_new(self) -> bool:
        """Nothing was ever committed here, and no evidence says otherwise: a new installation."""
        with self._mutex:
            return self._storage.committed == 0 and not self._storage.has_evidence()

    # ----------------------------------------------------------------- life cycle

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Fold the journal into the snapshot if that is worth it, and release everything."""
        with self._mutex:
            if self._closed:
                return
            try:
                self.sync()
                if self._storage.wants_compaction(at_close=True):
                    self._lock(timeout=min(self.lock_timeout, 1.0))
                    try:
                        self._refresh(locked=True)
                        self._storage.compact()
                    finally:
                        self._unlock()
            except StoreLocked:
                logger.info("store %s busy at close: compaction left for later", self.path)
            except (StoreError, OSError):
                logger.exception("store %s: compaction at close failed", self.path)
            finally:
                self._closed = True
                self._db.close()
                os.close(self._lock_fd)

    def compact(self) -> None:
        """Fold the journal into a new snapshot now (takes the lock)."""
        with self._mutex:
            self._check_usable()
            self._lock(self.lock_timeout)
            try:
                self._refresh(locked=True)
                self._storage.compact()
            except OSError as e:
                raise StoreError(f"store {self.path} cannot be compacted: {e}") from e
            finally:
                self._unlock()

    # ----------------------------------------------------------------- transactions

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Txn]:
        """Take the lock, catch up with other writers, and commit what the block did as one.

        Raises StoreLocked when another process holds the lock for longer than ``lock_timeout``.
        An exception in the block discards the whole transaction.

        ``durable=False`` commits without waiting for the disk: the transaction is the journal's and
        every reader's at once, and a killed process loses none of it, but a power cut can until
        ``sync()``, which the caller must call (``close()`` does too) before anything depends on it.
        """
        with self._mutex:
            self._check_usable()
            self._lock(self.lock_timeout)
            self._in_txn = True
            try:
                self._refresh(locked=True)
                txn = Txn(self)
                try:
                    yield txn
                finally:
                    txn._finished = True
                ops = txn._pending_ops()
                if ops:
                    self._storage.append(ops, txn._op_texts(), durable=durable)
                    self._apply(ops)
                    self._known.update(txn._open_cases())  # the very documents the table holds
                    if durable:  # evidence never claims what a power cut could take back
                        self._storage.write_evidence()  # in commit order, under the lock
                    if self._storage.wants_compaction():
                        try:
                            self._storage.compact()
                        except OSError:
                            logger.exception("store %s: compaction failed", self.path)
            finally:
                self._in_txn = False
                self._unlock()

    def sync(self) -> None:
        """Put what ``transaction(durable=False)`` committed on disk, then record it as committed.

        Safe from another thread: it waits for the transaction in progress. Raises StoreError when
        the disk refuses.
        """
        with self._mutex:
            if self._closed or not self._storage.unsynced:
                return
            self._storage.sync()
            try:
                self._lock(0)  # the evidence is written under the lock, in commit order
            except StoreLocked:
                return  # another writer holds it: its own commit writes the evidence
            try:
                self._refresh(locked=True)  # another process's later commits: count them too
                self._storage.write_evidence()
            finally:
                self._unlock()

    def _lock(self, timeout: float) -> None:
        deadline = time.monotonic() + max(0.0, timeout)
        delay = 0.002
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                now = time.monotonic()
                if now >= deadline:
                    holder = os.pread(self._lock_fd, 32, 0).decode(errors="replace").strip()
                    raise StoreLocked(
                        f"store {self.path} is locked by another process"
                        + (f" (pid {holder})" if holder else "")
                        + f"; gave up after {timeout:g}s"
                    ) from None
                time.sleep(min(delay, deadline - now))
                delay = min(delay * 2, 0.05)
                continue
            try:
                os.ftruncate(self._lock_fd, 0)
                os.pwrite(self._lock_fd, str(os.getpid()).encode(), 0)
            except OSError:
                pass
            return

    def _unlock(self) -> None:
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _check_usable(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.path} is closed")
        if self._in_txn:
            raise StoreError("a transaction is already open on this store (no nesting)")

    # ----------------------------------------------------------------- memory and indexes

    def _table(self, name: str) -> _KeyedTable:
        table = self._tables.get(name)
        if table is None:
            new = self._db.table(name)
            assert isinstance(new, _KeyedTable)
            self._tables[name] = table = new
        return table

    def _raw(self, table: str, key: str) -> Doc | None:
        return self._table(table).raw(key)

    def _case(self, table: str, key: str) -> Case | None:
        """A private copy of the committed case ``key`` of ``table`` (open cases decoded once)."""
        doc = self._raw(table, key)
        if doc is None:
            return None
        if table != CASES:  # closed cases are many and seldom read: not kept decoded
            return _case_of(doc)
        return _thaw(self._case_doc(key, doc).case())

    def _case_doc(self, key: str, doc: Doc) -> _CaseDoc:
        """What is known of the open case ``key``, whose stored document is ``doc``."""
        known = self._known.get(key)
        if known is None or known.doc is not doc:
            self._known[key] = known = _CaseDoc(doc)
        return known

    def _case_text(self, key: str, doc: Doc) -> str | None:
        """The JSON text of the open case ``key``'s stored document ``doc``, when known."""
        known = self._known.get(key)
        return known.text if known is not None and known.doc is doc else None

    def _refresh(self, locked: bool = False) -> None:
        try:
            change = self._storage.refresh(locked=locked)
        except OSError as e:
            raise StoreError(f"store {self.path} cannot be read: {e}") from e
        if change is None:
            return
        full, ops = change
        if full:
            for table in self._tables.values():
                table.clear_cache()
            self._known.clear()
            self._apply(ops, index=False)
            self._rebuild_indexes()
            logger.debug("store %s reloaded, generation %s", self.path, self._storage.generation)
        else:
            self._apply(ops)

    def _apply(self, ops: list[Op], index: bool = True) -> None:
        for name, key, doc in ops:
            table = self._table(name)
            if name == CASES:
                self._known.pop(key, None)  # not needed to be right (identity is): memory
            if index:
                self._unindex(name, key, table.raw(key))
            if doc is None:
                table.drop(key)
            else:
                table.put(key, doc)
                if index:
                    self._index(name, key, doc)

    def _index(self, table: str, key: str, doc: Doc) -> None:
        if table == LEDGER:
            mid = norm_message_id(doc.get("message_id"))
            if mid is not None:
                self._ledger_by_mid.setdefault(mid, key)  # the first message with that id wins
        elif table == OUTBOX:
            if doc.get("failed_at"):
                self._undelivered.add(key)
            elif doc.get("sent_at") is None:
                self._pending[key] = None
        elif table == CASES:
            for child in _child_keys(doc):
                self._by_child.setdefault(child, set()).add(key)

    def _unindex(self, table: str, key: str, old: Doc | None) -> None:
        if old is None:
            return
        if table == LEDGER:
            mid = norm_message_id(old.get("message_id"))
            if mid is not None and self._ledger_by_mid.get(mid) == key:
                del self._ledger_by_mid[mid]
        elif table == OUTBOX:
            self._pending.pop(key, None)
            self._undelivered.discard(key)
        elif table == CASES:
            for child in _child_keys(old):
                refs = self._by_child.get(child)
                if refs is not None:
                    refs.discard(key)
                    if not refs:
                        del self._by_child[child]

    def _rebuild_indexes(self) -> None:
        self._ledger_by_mid.clear()
        self._pending.clear()
        self._undelivered.clear()
        self._by_child.clear()
        for name in (LEDGER, OUTBOX, CASES):
            for key, doc in self._storage.data.get(name, {}).items():
                self._index(name, key, doc)

    def _ledger_key_for(self, message_id: str | None) -> str | None:
        mid = norm_message_id(message_id)
        return None if mid is None else self._ledger_by_mid.get(mid)

    # ----------------------------------------------------------------- reads

    def _read(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.path} is closed")
        if not self._in_txn:
            self._refresh()

    def get_case(self, reference: str) -> Case | None:
        with self._mutex:
            self._read()
            found = self._case(CASES, reference)
            return found if found is not None else self._case(ARCHIVE, reference)

    def cases(self, include_closed: bool = False) -> list[Case]:
        """Cases ordered by reference; closed ones (status "closed") only if ``include_closed``."""
        with self._mutex:
            self._read()
            keys = [(CASES, key) for key in self._storage.data.get(CASES, {})]
            if include_closed:
                keys += [(ARCHIVE, key) for key in self._storage.data.get(ARCHIVE, {})]
            keys.sort(key=lambda tk: _natural_key(tk[1]))
            return [c for t, k in keys if (c := self._case(t, k)) is not None]

    def case_for_message_id(self, message_id: str) -> str | None:
        """The reference of the case a message we sent (by its Message-ID) belongs to."""
        with self._mutex:
            self._read()
            mid = norm_message_id(message_id)
            doc = self._raw(SENT_IDS, mid) if mid else None
            return str(doc["reference"]) if doc is not None else None

    def recipients_of_message_id(self, message_id: str) -> tuple[str, ...]:
        """Whom a message we sent (by its Message-ID) went to; () when not known."""
        with self._mutex:
            self._read()
            mid = norm_message_id(message_id)
            doc = self._raw(SENT_IDS, mid) if mid else None
            return tuple(str(r) for r in (doc or {}).get("recipients", ()))

    def ledger_get(self, message_id: str | None, sha256: str) -> LedgerEntry | None:
        """The ledger entry of a message, matched by its exact bytes' hash or by its Message-ID."""
        with self._mutex:
            self._read()
            doc = self._raw(LEDGER, sha256) if sha256 else None
            if doc is None:
                key = self._ledger_key_for(message_id)
                doc = self._raw(LEDGER, key) if key is not None else None
            return _ledger_of(doc) if doc is not None else None

    def outbox_pending(self) -> list[OutboxRecord]:
        """Outbox records not sent yet (``sent_at`` None, no ``failed_at``), oldest first."""
        with self._mutex:
            self._read()
            docs = [d for k in self._pending if (d := self._raw(OUTBOX, k)) is not None]
            docs.sort(key=lambda d: str(d.get("created_at") or ""))  # stable: then as queued
            return [_outbox_of(d) for d in docs]

    def outbox_undelivered(self, reference: str | None = None) -> list[OutboxRecord]:
        """Records refused for good (SPEC 5 undelivered), on case ``reference`` or all; oldest first."""
        with self._mutex:
            self._read()
            docs = [d for k in self._undelivered if (d := self._raw(OUTBOX, k)) is not None]
            return _undelivered_of(docs, reference)

    def outbox_get(self, key: str) -> OutboxRecord | None:
        with self._mutex:
            self._read()
            doc = self._raw(OUTBOX, key)
            return _outbox_of(doc) if doc is not None else None

    def outbox_between(self, start: datetime, end: datetime) -> list[OutboxRecord]:
        """Records sent at an instant in [start, end), by ``sent_at``; naive times count as UTC."""
        start, end = _aware(start), _aware(end)

        def sent_in_range(value: Any) -> bool:
            try:
                return isinstance(value, str) and start <= _instant(value) < end
            except ValueError:
                logger.warning("outbox: unreadable sent_at %r ignored", value)
                return False

        with self._mutex:
            self._read()
            docs = self._table(OUTBOX).search(Query().sent_at.test(sent_in_range))
            docs.sort(key=lambda d: _instant(d["sent_at"]))
            return [_outbox_of(d) for d in docs]

    def outbox_failed(self) -> list[OutboxRecord]:
        """Records the server refused for good (``failed_at`` set), oldest refusal first."""
        return self.outbox_undelivered()

    def meta_get(self, key: str, default: Any = None) -> Any:
        with self._mutex:
            self._read()
            doc = self._raw(META, key)
            return _copy(doc["value"]) if doc is not None else default

    # ----------------------------------------------------------------- what the store holds on a case

    def ledger_for_case(self, reference: str) -> list[LedgerEntry]:
        """The inbound messages filed on ``reference``, in the order they were processed."""
        with self._mutex:
            self._read()
            docs = [d for d in self._table(LEDGER).all() if d.get("case_reference") == reference]
            entries = [_ledger_of(d) for d in docs]
            return sorted(entries, key=lambda e: e.processed_at)

    def outbox_for_case(self, reference: str) -> list[OutboxRecord]:
        """Every outbox record of ``reference`` still held (sent records are pruned in time)."""
        with self._mutex:
            self._read()
            docs = [d for d in self._table(OUTBOX).all() if d.get("case_reference") == reference]
            return sorted((_outbox_of(d) for d in docs), key=lambda r: r.created_at)

    def sent_message_ids(self, reference: str) -> list[str]:
        """The Message-IDs of every message the bot sent on ``reference`` (kept after pruning)."""
        with self._mutex:
            self._read()
            table = self._table(SENT_IDS)
            return sorted(str(d.doc_id) for d in table.all() if d.get("reference") == reference)

    def meta_keys(self, prefix: str) -> list[str]:
        with self._mutex:
            self._read()
            return sorted(
                str(d.doc_id) for d in self._table(META).all() if str(d.doc_id).startswith(prefix)
            )

    def backup(self, dest: str | os.PathLike[str]) -> Path:
        """Write a consistent copy of the store to ``dest`` (and ``dest.journal``), under the lock.

        Safe while the daemon runs: the lock keeps writers out while the copy is taken, and the copy
        is written to a temporary file, fsynced and renamed, so a reader never sees half of it.
        ``Store(dest)`` opens it: a restore is a copy back (both files).
        """
        target = Path(dest)
        with self._mutex:
            self._check_usable()
            self._lock(self.lock_timeout)
            try:
                self._refresh(locked=True)
                _make_private_dirs(target.parent)
                generation = self._storage.generation
                snapshot = {
                    "format": FORMAT,
                    "version": VERSION,
                    "generation": generation,
                    "committed": self._storage.committed,  # a restore of it is not a loss
                    "tables": self._storage.data,
                }
                header = _line(_dumps({"journal": VERSION, "generation": generation}))
                write_private(target, _dumps(snapshot), durable=True)
                write_private(_journal_of(target), header, durable=True)
            except OSError as e:
                raise StoreError(f"backup of store {self.path} to {target} failed: {e}") from e
            finally:
                self._unlock()
        return target

    def stats(self) -> dict[str, int]:
        """Document counts per table and the journal's size, for `check`-style commands and logs."""
        with self._mutex:
            self._read()
            out = {name: len(self._table(name)) for name in TABLES}
            out["journal_bytes"] = self._storage.journal_bytes()
            out["generation"] = self._storage.generation
            return out


class Txn:
    """One transaction: its writes are kept aside and committed together, or not at all."""

    def __init__(self, store: Store) -> None:
        self._store = store
        # What the transaction wrote: a document, a case (as it will read back), or None: deleted.
        self._ops: dict[tuple[str, str], Doc | _CaseDoc | None] = {}
        self._finished = False

    def _pending_ops(self) -> list[Op]:
        """The operations to commit, in the order they were first written."""
        return [
            (table, key, op.doc if isinstance(op, _CaseDoc) else op)
            for (table, key), op in self._ops.items()
        ]

    def _op_texts(self) -> list[str | None]:
        """The JSON text of each pending op's document where it is a case (in ``_pending_ops``' order)."""
        return [op.text if isinstance(op, _CaseDoc) else None for op in self._ops.values()]

    def _open_cases(self) -> dict[str, _CaseDoc]:
        """The open cases put, by reference."""
        return {
            key: op
            for (table, key), op in self._ops.items()
            if table == CASES and isinstance(op, _CaseDoc)
        }

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Keep the block's writes only if it finishes: an exception undoes them, then propagates.

        What the transaction wrote before the block stays, so several messages can share one
        commit and one of them failing takes back only its own writes.
        """
        saved = dict(self._ops)
        try:
            yield
        except BaseException:
            self._ops = saved
            raise

    def _check(self) -> None:
        if self._finished:
            raise StoreError("this transaction is finished")

    def _get(self, table: str, key: str) -> Doc | None:
        self._check()
        if (table, key) in self._ops:
            op = self._ops[(table, key)]
            return op.doc if isinstance(op, _CaseDoc) else op
        return self._store._raw(table, key)

    def _has(self, table: str, key: str) -> bool:
        self._check()
        if (table, key) in self._ops:
            return self._ops[(table, key)] is not None
        return self._store._raw(table, key) is not None

    def _case(self, table: str, key: str) -> Case | None:
        """A private copy of the case ``key`` of ``table`` (CASES or ARCHIVE) as this transaction
        sees it."""
        self._check()
        if (table, key) in self._ops:
            op = self._ops[(table, key)]
            return _thaw(op.case()) if isinstance(op, _CaseDoc) else None
        return self._store._case(table, key)

    def _set(self, table: str, key: str, doc: Doc | _CaseDoc | None) -> None:
        self._check()
        self._ops[(table, key)] = doc

    # Cases.
    def get_case(self, reference: str) -> Case | None:
        found = self._case(CASES, reference)
        return found if found is not None else self._case(ARCHIVE, reference)

    def cases_for_child(self, keys: tuple[str, ...]) -> list[Case]:
        """The open cases indexed under any of ``keys`` (``samechild.query_keys``), this
        transaction's own writes included, by reference. Only those are decoded."""
        self._check()
        wanted = set(keys)
        refs: set[str] = set()
        for child in keys:
            refs |= self._store._by_child.get(child, set())
        refs.update(
            key
            for (table, key), op in self._ops.items()
            if table == CASES and isinstance(op, _CaseDoc) and not wanted.isdisjoint(op.keys)
        )
        found = []
        for ref in sorted(refs, key=_natural_key):
            if (CASES, ref) not in self._ops:  # as committed: indexed under one of ``keys``
                case = self._store._case(CASES, ref)
            elif isinstance(op := self._ops[(CASES, ref)], _CaseDoc) and not wanted.isdisjoint(
                op.keys
            ):
                case = _thaw(op.case())
            else:  # deleted, closed or no longer about the child in this transaction
                case = None
            if case is not None:
                found.append(case)
        return found

    def has_case(self, reference: str) -> bool:
        """Whether a case (open or closed) has this reference, without reading it."""
        return self._has(CASES, reference) or self._has(ARCHIVE, reference)

    def put_case(self, case: Case) -> None:
        """Insert or replace the case ``case.reference``: JSON-checked now (TypeError, ValueError)."""
        if not isinstance(case.reference, str) or not case.reference:
            raise ValueError("a case needs a reference")
        put = _CaseDoc.put(case)
        home, other = (ARCHIVE, CASES) if case.status == "closed" else (CASES, ARCHIVE)
        self._set(home, case.reference, put)
        if self._has(other, case.reference):
            self._set(other, case.reference, None)

    def next_reference(self, year: int) -> str:
        """The next reference for ``year`` (DSPP-2026-0001); the counter commits with the txn."""
        reference = self.peek_reference(year)
        self.claim_reference(reference)
        return reference

    def peek_reference(self, year: int) -> str:
        """The reference ``next_reference(year)`` would hand out, without taking it."""
        prefix = self._store.reference_prefix
        n = int(self.meta_get(_counter(prefix, year), 0))
        while True:
            n += 1
            reference = f"{prefix}-{year}-{n:04d}"
            if not self.has_case(reference):  # never hand out one in use, whatever the counter
                return reference

    def claim_reference(self, reference: str) -> None:
        """Take ``reference`` (one ``peek_reference`` gave): the year's counter moves past it."""
        prefix, year, n = reference.rsplit("-", 2)
        counter = _counter(prefix, int(year))
        self.meta_set(counter, max(int(n), int(self.meta_get(counter, 0))))

    # The ledger of inbound messages.
    def ledger_get(self, message_id: str | None, sha256: str) -> LedgerEntry | None:
        doc = self._get(LEDGER, sha256) if sha256 else None
        mid = norm_message_id(message_id)
        if doc is None and mid is not None:
            key = self._store._ledger_key_for(mid)
            if key is not None:
                doc = self._get(LEDGER, key)
            if doc is None:
                for (table, _key), d in self._ops.items():
                    if (
                        table == LEDGER
                        and isinstance(d, dict)
                        and norm_message_id(d.get("message_id")) == mid
                    ):
                        doc = d
                        break
        return _ledger_of(doc) if doc is not None else None

    def ledger_put(self, entry: LedgerEntry) -> None:
        """Record (or replace) the entry of the message whose bytes hash to ``entry.sha256``."""
        if not entry.sha256:
            raise ValueError("a ledger entry needs a sha256")
        self._set(LEDGER, entry.sha256, _ledger_doc(entry))

    def ledger_update(
        self, sha256: str, change: Callable[[LedgerEntry], LedgerEntry]
    ) -> LedgerEntry:
        """Replace the entry for ``sha256`` with ``change(entry)``; KeyError if there is none."""
        doc = self._get(LEDGER, sha256)
        if doc is None:
            raise KeyError(f"no ledger entry {sha256}")
        new = change(_ledger_of(doc))
        if new.sha256 != sha256:
            raise ValueError("a ledger entry keeps its sha256")
        self._set(LEDGER, sha256, _ledger_doc(new))
        return new

    # The outbox.
    def outbox_get(self, key: str) -> OutboxRecord | None:
        doc = self._get(OUTBOX, key)
        return _outbox_of(doc) if doc is not None else None

    def outbox_undelivered(self, reference: str | None = None) -> list[OutboxRecord]:
        """Records refused for good, on case ``reference`` or all, as this transaction sees them."""
        keys = set(self._store._undelivered)
        keys.update(key for table, key in self._ops if table == OUTBOX)
        docs = [d for k in keys if (d := self._get(OUTBOX, k)) is not None and d.get("failed_at")]
        return _undelivered_of(docs, reference)

    def outbox_put(self, record: OutboxRecord) -> bool:
        """Queue ``record``; False (and nothing changes) if its key is already in the outbox."""
        if not record.key:
            raise ValueError("an outbox record needs a key")
        if self._get(OUTBOX, record.key) is not None:
            return False
        self._set(OUTBOX, record.key, _outbox_doc(record))
        return True

    def outbox_update(
        self, key: str, change: Callable[[OutboxRecord], OutboxRecord]
    ) -> OutboxRecord:
        """Replace the record ``key`` with ``change(record)``; KeyError if there is none."""
        doc = self._get(OUTBOX, key)
        if doc is None:
            raise KeyError(f"no outbox record {key}")
        new = change(_outbox_of(doc))
        if new.key != key:
            raise ValueError("an outbox record keeps its key")
        self._set(OUTBOX, key, _outbox_doc(new))
        return new

    def outbox_mark_sent(self, key: str, at: datetime) -> OutboxRecord:
        """``outbox_update(key, lambda r: r.mark_sent(at))``, without decoding the message's bytes:
        a sent record drops them, so they are not read back from base64 only to be thrown away."""
        doc = self._get(OUTBOX, key)
        if doc is None:
            raise KeyError(f"no outbox record {key}")
        new = _outbox_of({**doc, "raw": None}).mark_sent(at)
        self._set(OUTBOX, key, _outbox_doc(new))
        return new

    # Message-IDs we sent, for threading replies to their case.
    def index_message_id(
        self, message_id: str, reference: str, recipients: tuple[str, ...] = ()
    ) -> None:
        """``recipients``: whom it went to, so a reply can be told to answer an agency's request."""
        mid = norm_message_id(message_id)
        if mid is None:
            raise ValueError("an empty Message-ID cannot be indexed")
        doc: Doc = {"reference": reference}
        if recipients:
            doc["recipients"] = [r.lower() for r in recipients]
        self._set(SENT_IDS, mid, doc)

    def case_for_message_id(self, message_id: str) -> str | None:
        mid = norm_message_id(message_id)
        doc = self._get(SENT_IDS, mid) if mid else None
        return str(doc["reference"]) if doc is not None else None

    # Taking things away: retention (purge) and pruning.
    def delete_case(self, reference: str) -> None:
        """Remove the case ``reference`` (open or closed) and its Message-ID index entries."""
        for table in (CASES, ARCHIVE):
            if self._has(table, reference):
                self._set(table, reference, None)
        for key, doc in self._store._storage.data.get(SENT_IDS, {}).items():
            if doc.get("reference") == reference:
                self._set(SENT_IDS, key, None)

    def ledger_forget_case(self, reference: str) -> int:
        """Keep of each message filed on ``reference`` only what recognises it again (its hashes,
        Message-ID and folder), so that a redelivered original is filed, not made a new case."""
        count = 0
        for key, doc in self._store._storage.data.get(LEDGER, {}).items():
            if doc.get("case_reference") != reference:
                continue
            entry = _ledger_of(doc)
            self._set(LEDGER, key, _ledger_doc(entry.forgotten()))
            count += 1
        return count

    def outbox_delete_case(self, reference: str) -> int:
        keys = [
            k
            for k, d in self._store._storage.data.get(OUTBOX, {}).items()
            if d.get("case_reference") == reference
        ]
        for key in keys:
            self._set(OUTBOX, key, None)
        return len(keys)

    def outbox_prune(self, keep: Callable[[OutboxRecord], bool]) -> int:
        """Drop the outbox records ``keep`` says no to; the number dropped."""
        gone = 0
        for key, doc in self._store._storage.data.get(OUTBOX, {}).items():
            if not keep(_outbox_of(doc)):
                self._set(OUTBOX, key, None)
                gone += 1
        return gone

    def meta_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self._store._storage.data.get(META, {}) if k.startswith(prefix))

    def meta_delete(self, key: str) -> None:
        if self._get(META, key) is not None:
            self._set(META, key, None)

    # Small values.
    def meta_get(self, key: str, default: Any = None) -> Any:
        doc = self._get(META, key)
        return _copy(doc["value"]) if doc is not None else default

    def meta_set(self, key: str, value: Any) -> None:
        self._set(META, key, {"value": _clean(value)})
