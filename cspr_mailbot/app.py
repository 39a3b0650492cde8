"""One pass of the job: new mail in groups (load -> core -> save -> move -> send), due notices, the digest.

The decisions are the core's (the workflow, and ``core.policy`` for the reply limit, withholding, notices,
retries and the digest's once-a-day); this module loads what they need, calls them, saves and sends.

Crash safety comes from the order: the ledger entries, the cases and the rendered replies of a group of
messages are committed in one store transaction before the messages are moved; a restart finds the ledger
entries and only finishes the moves.
A reply is marked sent once the server has accepted it, so it goes twice only if we die between the two.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from io import BytesIO
from itertools import islice
from typing import NamedTuple

from .adapters.documents import DocumentBuilder
from .adapters.mailbox import MailSource, header_section, no_sent_copy
from .adapters.outbox import Renderer, forbidden_words
from .adapters.progress import Progress
from .adapters.smtp import Sender
from .adapters.store import Store, Txn
from .config import Config
from .core import (
    digest,
    forms,
    intake,
    pack_mail,
    poison,
    policy,
    schedule,
    workflow,
)
from .core.classify import Context, classify, lookups
from .core.commands import parse_commands
from .core.message import parse_message
from .core.models import Case, InboundMessage, OutboundMessage, Outcome, RawMessage
from .core.reading import ReadMessage, read_message
from .core.records import LedgerEntry, OutboxRecord
from .core.settings import DirectoryAgency, Settings
from .core.workdays import WorkingCalendar
from .errors import (
    MailSourceError,
    PrivacyError,
    SendError,
    StoreDamaged,
    StoreError,
    trace_without_values,
)

logger = logging.getLogger(__name__)


@dataclass
class PassReport:
    """What one pass did, for the CLI and the demo: references, counts, no personal details."""

    processed: int = 0
    duplicates: int = 0
    failed: int = 0
    cases_created: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    send_failures: int = 0
    undeliverable: int = 0  # of send_failures, those refused for good (recorded on the case)
    digest_sent: bool = False

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def settings_from(cfg: Config) -> Settings:
    return Settings(
        partnership_name=cfg.partnership.name,
        mailbox=cfg.partnership.mailbox,
        coordinators=cfg.partnership.coordinators,
        timescales=cfg.timescales,
        limits=cfg.limits,
        labels=forms.Labels.load(cfg.label_synonyms),
        directory=tuple(
            DirectoryAgency(a.name, a.email, a.aliases, a.secure) for a in cfg.agencies
        ),
        phone=cfg.partnership.phone,
        reference_prefix=cfg.partnership.reference_prefix,
        commands=cfg.commands,
        trusted_domains=cfg.privacy.trusted_domains,
        encrypt_subject_tag=cfg.privacy.encrypt_subject_tag,
    )


def filed_folders(cfg: Config) -> tuple[str, ...]:
    """The mailbox folders only the bot files mail in: mail there means the bot has run."""
    return (cfg.folders.processed, cfg.folders.triage, cfg.folders.ignored)


def store_may_be_lost(store: Store) -> bool:
    """A store that has taken in no message yet: new, or lost (``check_not_lost`` tells which)."""
    return store.stats()["ledger"] == 0


def check_not_lost(store: Store, source: MailSource, folders: tuple[str, ...]) -> None:
    """StoreDamaged when a store that has taken in no mail sits beside a mailbox whose folders
    hold mail the bot filed (SPEC 10).

    The store's evidence file goes with it when its whole folder is deleted (or ``[store] path`` is
    changed to an empty place); the mailbox's Processed, triage and Ignored folders still say that
    the bot ran. Only a store whose ledger is empty is asked about, so once per installation.
    """
    if not store_may_be_lost(store):
        return
    filed = source.filed_count(folders)
    if filed:
        raise StoreDamaged(
            store.path,
            f"it has taken in no mail, but the mailbox's folders {', '.join(folders)} hold "
            f"{filed} message(s) the bot filed: the store was lost or [store] path changed. "
            "Restore the store folder from a backup (or point [store] path at it); the bot "
            "will not start afresh and hand out references again",
        )


class Filing(NamedTuple):
    """Where a message of the inbox goes once its group is committed, and its ledger key."""

    uid: str
    folder: str
    sha256: str


class App:
    group_size = 50  # messages decided in one store transaction at most (an IMAP fetch batch) ...
    group_seconds = 0.5  # ... and a group closes after this much work, so replies leave soon

    def __init__(
        self,
        cfg: Config,
        store: Store,
        source: MailSource | None,
        sender: Sender,
        cal: WorkingCalendar | None = None,  # wiring's: the bank holidays kept beside the store
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.source = source
        self.sender = sender
        self.cal = cal or WorkingCalendar(cfg.closures, cfg.cutoff)
        self.settings = settings_from(cfg)
        self.renderer = Renderer(
            partnership_name=cfg.partnership.name,
            mailbox=cfg.partnership.mailbox,
            subject_marking=cfg.partnership.subject_marking,
            templates_dir=cfg.templates_dir,
            documents=DocumentBuilder.from_config(cfg, self.settings.labels),  # labels read once
            # SPEC 5: who may be told who the child is, asked again for each message it renders.
            trust=self.settings.trust,
            coordinators=cfg.partnership.coordinators,
            encrypt_subject_tag=cfg.privacy.encrypt_subject_tag,
            known_text=[n for a in cfg.agencies for n in (a.name, *a.aliases)],
        )
        self.folders = {
            "processed": cfg.folders.processed,
            "triage": cfg.folders.triage,
            "ignored": cfg.folders.ignored,
        }
        self._not_lost = False  # check_not_lost has passed in this process
        # The message being read, beside the store: a process that dies leaves it named (SPEC 3).
        self.progress = Progress(store.path.with_name(store.path.name + ".reading"))

    # -- the pass ---------------------------------------------------------------------------------

    def run_once(
        self, now: datetime, stop: threading.Event | None = None, *, patient: bool = False
    ) -> PassReport:
        """New mail, then due notices and the digest, then sending. ``patient`` honours retry back-off."""
        report = PassReport()
        try:
            if self.source is not None:
                self.process_inbox(now, report, stop, patient=patient)
            self.run_schedule(now, report)
            self.flush_outbox(now, report, patient=patient)
        finally:
            self.sender.close()  # one SMTP session for the whole pass
        return report

    def process_inbox(
        self,
        now: datetime,
        report: PassReport,
        stop: threading.Event | None = None,
        *,
        patient: bool = False,
    ) -> None:
        """Every new message, in groups: a group is decided in one store transaction (one commit),
        then filed with one move per folder, then its replies are sent.

        The order keeps SPEC 3's guarantees. Killed before the commit, the group is still in the
        inbox, untouched, and the next pass takes it again. After it, the ledger knows every message
        of the group (``moved=False`` until the move is recorded): the next pass only files those
        still in the inbox, and sends what the outbox still holds, each reply recorded as sent as soon
        as the server has taken it. A message that fails is taken back alone (a savepoint) and filed
        in triage with a notice; the others go on. A ``StoreError`` or ``MailSourceError`` ends the
        pass, and with it the group's transaction.
        """
        assert self.source is not None
        if not self._not_lost:  # before anything is taken in, and so before a reference is given
            check_not_lost(self.store, self.source, filed_folders(self.cfg))
            self._not_lost = True
            self._count_death()
        self._check_uidvalidity()
        messages = iter(self.source.fetch_new())
        waiting: deque[RawMessage] = deque()  # fetched outside the lock, a batch at a time
        if stop is None or not stop.is_set():
            waiting.extend(islice(messages, self.group_size))
        while waiting and (stop is None or not stop.is_set()):
            filing = self._decide_group(waiting, now, report, stop)
            self.progress.clear()  # committed: no message of the group is in progress
            self._file(filing)
            if not waiting:  # the next batch before this group's replies go: the mailbox is then
                # free for their Sent copies while the next group is decided
                waiting.extend(islice(messages, self.group_size))
            # Send each group's replies, so an acknowledgement leaves within a second in a backlog.
            self.flush_outbox(now, report, patient=patient, keep_open=True)

    def _decide_group(
        self,
        waiting: deque[RawMessage],
        now: datetime,
        report: PassReport,
        stop: threading.Event | None,
    ) -> list[Filing]:
        """Take messages from ``waiting`` and decide them in one transaction, each alone if it fails.

        The group closes at ``group_size`` messages or once ``group_seconds`` of work is done (at
        least one message, unless ``stop`` is set). Returns where each message is to be filed.
        """
        filing: list[Filing] = []
        started = time.monotonic()
        with self.store.transaction() as txn:
            while waiting and (not filing or time.monotonic() - started < self.group_seconds):
                if stop is not None and stop.is_set():
                    break
                raw = waiting.popleft()
                try:
                    with txn.savepoint():
                        filing.append(self._take_unless_poison(txn, raw, now, report))
                except (MailSourceError, StoreError):
                    raise  # the connection or the disk: the daemon reconnects or waits
                except Exception as exc:  # one bad message never stops the others
                    logger.error(
                        "uid %s: processing failed; filing it for a person: %s",
                        raw.uid,
                        trace_without_values(exc),
                    )
                    report.failed += 1
                    shunted = self._shunt(txn, raw, now, exc)
                    if shunted is not None:
                        filing.append(shunted)
                self._finished(txn, raw)
        return filing

    def _check_uidvalidity(self) -> None:
        """Remember the inbox's UIDVALIDITY; say so when it changed (UIDs then name other messages).

        Nothing is processed twice either way: the ledger is keyed by Message-ID and content hash.
        """
        current = getattr(self.source, "uidvalidity", None)
        if current is None:
            return
        known = self.store.meta_get("uidvalidity")
        if known == current:
            return
        if known is not None:
            logger.warning(
                "the inbox's UIDVALIDITY changed (%s -> %s): UIDs in older logs name other "
                "messages; the ledger still knows every message by Message-ID and hash",
                known,
                current,
            )
        with self.store.transaction() as txn:
            txn.meta_set("uidvalidity", current)

    def _take(self, txn: Txn, raw: RawMessage, now: datetime, report: PassReport) -> Filing:
        """One message, in the group's transaction: recognised from the ledger, or decided."""
        sha = hashlib.sha256(raw.raw).hexdigest()
        msg = parse_message(raw.raw, raw.uid)
        fingerprint = policy.fingerprint(msg)
        # The ledger as committed and as this group has written it: a second copy in the same
        # group is recognised too.
        entry = policy.same_message(txn.ledger_get(msg.message_id, sha), sha, fingerprint)
        if entry is not None:
            report.duplicates += 1
            logger.info(
                "uid %s: seen before (%s), filing it",
                raw.uid,
                entry.case_reference or "no case",
            )
            return Filing(raw.uid, entry.folder, entry.sha256)  # a copy may differ in its bytes
        outcome = self._decide(msg, txn, now)
        case = outcome.case
        packs = pack_mail.action_messages(case, outcome.actions, now, self.cal, self.settings)
        queued = self._queue(txn, (*packs, *outcome.messages), case, now)
        if case is not None:
            case = policy.log_queued(case, queued, now)
            txn.put_case(case)
        for other in outcome.others:  # link:, duplicate of:, a linked referral
            txn.put_case(other)
        self._carry_out(txn, outcome.actions, case, now)
        folder = self.folders[outcome.folder]
        txn.ledger_put(
            LedgerEntry(
                sha256=sha,
                message_id=msg.message_id,
                fingerprint=fingerprint,
                uid=raw.uid,
                outcome=outcome.kind,
                case_reference=case.reference if case else None,
                processed_at=now,
                folder=folder,
            )
        )
        report.processed += 1
        report.count(outcome.kind)
        if outcome.kind in ("referral", "triage") and case is not None:
            report.cases_created.append(case.reference)
        logger.info("uid %s: %s -> %s", raw.uid, outcome.summary, folder)
        return Filing(raw.uid, folder, sha)

    def _decide(self, msg: InboundMessage, txn: Txn, now: datetime) -> Outcome:
        read = read_message(msg, self.settings)
        cls = classify(read, self._context(txn, read))
        case = self._load(txn, cls.case_ref)
        if cls.kind == "command":
            others = self._named(txn, read)
        elif cls.kind == "referral":
            others = self._same_child(txn, read)
        else:
            others = {}
        upcoming = {y: txn.peek_reference(y) for y in workflow.reference_years(now)}
        outcome = workflow.decide(read, cls, case, now, self.cal, self.settings, upcoming, others)
        if outcome.case is not None and outcome.case.reference in upcoming.values():
            if not txn.has_case(outcome.case.reference):
                txn.claim_reference(outcome.case.reference)  # a new case took it
        return outcome

    def _named(self, txn: Txn, read: ReadMessage) -> dict[str, Case]:
        """The other cases a command mail's commands name (link:, duplicate of:), for the handlers."""
        from .core import handlers  # coordinators' commands: not for a backlog of referrals

        refs = handlers.command_references(read, self.settings)
        return {ref: case for ref in refs if (case := self._load(txn, ref)) is not None}

    @staticmethod
    def _same_child(txn: Txn, read: ReadMessage) -> dict[str, Case]:
        """The open cases about a new referral's child (or its sender's empty triage case)."""
        return {c.reference: c for c in txn.cases_for_child(intake.lookup_keys(read))}

    def _context(self, txn: Txn, read: ReadMessage) -> Context:
        """What classifying ``read`` needs from the store, looked up before the rules run."""
        ctx = Context(
            mailbox=self.cfg.partnership.mailbox,
            coordinators=frozenset(self.cfg.partnership.coordinators),
            reference_prefix=self.cfg.partnership.reference_prefix,
            commands=self.settings.commands,
            sender_check=self.cfg.security.sender_check,
            authserv_id=self.cfg.security.authserv_id,
        )
        wanted = lookups(read, ctx)
        sent = {
            mid: ref for mid in wanted.message_ids if (ref := self.store.case_for_message_id(mid))
        }
        sent_to = {mid: self.store.recipients_of_message_id(mid) for mid in sent}
        cases = frozenset(ref for ref in wanted.references if txn.get_case(ref) is not None)
        return replace(ctx, cases=cases, sent=sent, sent_to=sent_to)

    @staticmethod
    def _load(txn: Txn, ref: str | None) -> Case | None:
        return txn.get_case(ref) if ref else None

    def _file(self, filing: list[Filing]) -> None:
        """Move a group's messages to their folders (one move per folder), then record them filed.

        Killed in between, a message's ledger entry still says ``moved=False``; the message is no
        longer in the inbox (or is, and is filed again the next pass), so nothing is lost or redone.
        """
        assert self.source is not None
        by_folder: dict[str, list[Filing]] = {}
        for item in filing:
            by_folder.setdefault(item.folder, []).append(item)
        moved: list[Filing] = []
        try:
            for folder, items in by_folder.items():
                self.source.move_many([item.uid for item in items], folder)
                moved.extend(items)
        finally:
            if moved:
                with self.store.transaction() as txn:
                    for item in moved:
                        txn.ledger_update(item.sha256, LedgerEntry.filed)

    def _shunt(self, txn: Txn, raw: RawMessage, now: datetime, exc: Exception) -> Filing | None:
        """A message we could not process: recorded, to be filed in triage, the coordinators told.

        None when even that failed: the message then stays in the inbox.
        """
        sha = hashlib.sha256(raw.raw).hexdigest()
        folder = self.folders["triage"]
        try:
            with txn.savepoint():
                if txn.ledger_get(None, sha) is None:
                    error = type(exc).__name__
                    txn.ledger_put(
                        LedgerEntry.unread(sha, raw.uid, "error", folder, now, error=error)
                    )
                    notice = policy.error_notice(
                        sha, raw.uid, folder, error, self.cfg.partnership.coordinators
                    )
                    self._queue(txn, (notice,), None, now)
        except Exception as again:
            logger.error(
                "uid %s: could not even file the message; it stays in the inbox: %s",
                raw.uid,
                trace_without_values(again),
            )
            return None
        return Filing(raw.uid, folder, sha)

    # -- poison messages and size (SPEC 3) ---------------------------------------------------------

    def _count_death(self) -> None:
        """Once a process: a message the last process was reading when it died is counted against.

        The count is committed; a message that reaches ``poison.STARTS_BEFORE_TRIAGE`` is filed
        unread when it comes round again (``_take_unless_poison``).
        """
        sha = self.progress.left_over()
        if sha is None:
            return
        key = poison.started_key(sha)
        with self.store.transaction() as txn:
            deaths = int(txn.meta_get(key) or 0) + 1
            txn.meta_set(key, deaths)
        self.progress.clear()
        logger.warning(
            "the last process stopped while reading a message (%s..., %d time(s) now)",
            sha[:12],
            deaths,
        )

    def _finished(self, txn: Txn, raw: RawMessage) -> None:
        """A message decided (or shunted) is no poison: its count goes with the decision."""
        txn.meta_delete(poison.started_key(hashlib.sha256(raw.raw).hexdigest()))

    def _take_unless_poison(
        self, txn: Txn, raw: RawMessage, now: datetime, report: PassReport
    ) -> Filing:
        """A message too large is filed unread; one that stopped the bot twice, not read again;
        any other is noted as being read, then taken in."""
        if self._too_large(raw):
            return self._take_too_large(txn, raw, now, report)
        sha = hashlib.sha256(raw.raw).hexdigest()
        deaths = int(txn.meta_get(poison.started_key(sha)) or 0)
        if poison.stopped_the_bot(deaths) and txn.ledger_get(None, sha) is None:
            return self._take_poison(txn, raw, sha, deaths, now, report)
        self.progress.note(sha)  # before it is parsed
        return self._take(txn, raw, now, report)

    def _too_large(self, raw: RawMessage) -> bool:
        return raw.too_large or raw.bytes_size > self.cfg.limits.max_message_bytes

    def _take_too_large(
        self, txn: Txn, raw: RawMessage, now: datetime, report: PassReport
    ) -> Filing:
        """Filed in triage unread, the coordinators told and a human sender answered.

        Only the header section is parsed (the source fetched no more); its hash keys the ledger
        entry, which keeps no Message-ID, so a later, smaller copy of the message is read.
        """
        limit = self.cfg.limits.max_message_bytes
        head = parse_message(
            raw.raw if raw.too_large else header_section(BytesIO(raw.raw)), raw.uid
        )
        sha, folder = head.sha256, self.folders["triage"]
        if txn.ledger_get(None, sha) is not None:
            report.duplicates += 1
            return Filing(raw.uid, folder, sha)
        notices = poison.too_large(head, raw.bytes_size, limit, folder, self.settings)
        self._queue(txn, notices, None, now)
        txn.ledger_put(LedgerEntry.unread(sha, raw.uid, "too_large", folder, now))
        report.processed += 1
        report.count("too_large")
        logger.warning(
            "uid %s: %d bytes, over max_message_bytes (%d): filed unread in %s",
            raw.uid,
            raw.bytes_size,
            limit,
            folder,
        )
        return Filing(raw.uid, folder, sha)

    def _take_poison(
        self, txn: Txn, raw: RawMessage, sha: str, starts: int, now: datetime, report: PassReport
    ) -> Filing:
        """A message the process died on ``starts`` times (a memory limit, a crash in a library):
        filed in triage unread with a notice, so the messages behind it are read."""
        logger.error(
            "uid %s: the bot stopped %d times while reading this message; filing it unread",
            raw.uid,
            starts,
        )
        folder = self.folders["triage"]
        txn.ledger_put(
            LedgerEntry.unread(sha, raw.uid, "error", folder, now, error="StoppedTheBot")
        )
        notice = policy.error_notice(
            sha,
            raw.uid,
            folder,
            f"the bot stopped {starts} times while reading it",
            self.cfg.partnership.coordinators,
        )
        self._queue(txn, (notice,), None, now)
        report.failed += 1
        report.count("poison")
        return Filing(raw.uid, folder, sha)

    # -- the outbox -------------------------------------------------------------------------------

    def _queue(
        self,
        txn: Txn,
        messages: Iterable[OutboundMessage],
        case: Case | None,
        now: datetime,
    ) -> list[OutboundMessage]:
        """Render and record messages in the same transaction as the case they belong to.

        Returns what was queued: a reply past the sender's limit is left out, and a message that
        would have named the child is replaced by the coordinators' notice of it.
        """
        queued: list[OutboundMessage] = []
        forbidden = forbidden_words(case.referral) if case is not None else []
        for om in messages:
            if self._over_reply_limit(txn, om, now):
                logger.warning(
                    "%s: reply limit reached for a sender; not answering (loop breaker)", om.key
                )
                continue
            try:
                rendered = self.renderer.render(om, now, forbidden)
            except PrivacyError:
                logger.error(
                    "%s: withheld, it would have named the child outside the coordinators", om.key
                )
                # The record below is built from the notice, not the original.
                om = policy.withheld_notice(om, self.cfg.partnership.coordinators)
                rendered = self.renderer.render(om, now)
            added = txn.outbox_put(
                OutboxRecord(
                    key=om.key,
                    message_id=rendered.message_id,
                    case_reference=om.case_ref,
                    template=om.template,
                    subject=rendered.subject,
                    to=tuple(om.to),
                    cc=tuple(om.cc),
                    recipients=rendered.recipients,
                    internal=om.internal,
                    raw=rendered.raw,
                    created_at=now,
                )
            )
            if added:
                txn.index_message_id(rendered.message_id, om.case_ref or "", rendered.recipients)
                queued.append(om)
        return queued

    def _over_reply_limit(self, txn: Txn, om: OutboundMessage, now: datetime) -> bool:
        keys = policy.reply_counter_keys(om, now)
        if not keys:
            return False
        counts = {key: int(txn.meta_get(key) or 0) for key in keys}
        over, counts = policy.count_reply(keys, counts, self.cfg.reply_limit_per_sender)
        for key, count in counts.items():
            txn.meta_set(key, count)
        return over

    def flush_outbox(
        self,
        now: datetime,
        report: PassReport | None = None,
        *,
        patient: bool = False,
        keep_open: bool = False,
    ) -> None:
        """Send every pending message; record each as sent once the server accepted it.

        ``keep_open`` leaves the SMTP session open for the next flush of the same pass (the caller
        closes it), instead of a new session for every message of a backlog.

        A message's record of being sent is committed as soon as the server has accepted it, and
        put on disk (fdatasync) by a thread of its own while the next message's envelope goes: it
        is on disk before that message's DATA (``before_data``), so a power cut can send again only
        the message just accepted, as before, and a killed process loses nothing (the kernel has
        the write). The disk's wait (0.17-0.5 ms a message on the machines measured, more on network
        storage) overlaps the server's round trips.
        """
        report = report or PassReport()
        pending = self.store.outbox_pending()
        if not pending:
            return
        from concurrent.futures import Future, ThreadPoolExecutor

        copies: list[bytes] = []  # for the Sent folder, in one append after the sending
        syncing: Future[None] | None = None

        def on_disk() -> None:
            """Wait until the records of the messages sent so far are on disk."""
            nonlocal syncing
            if syncing is not None:
                done, syncing = syncing, None
                done.result()  # a StoreError from the disk stops the pass, as a commit's would

        with ThreadPoolExecutor(1, thread_name_prefix="store-sync") as syncer:
            try:
                for rec in pending:
                    if not policy.due_for_sending(rec, now, patient=patient):
                        continue
                    raw = rec.raw
                    assert raw is not None  # a record keeps its bytes until it is sent
                    try:
                        refused = self.sender.send(
                            self.cfg.partnership.mailbox,
                            rec.recipients,
                            raw,
                            rec.key,
                            before_data=on_disk,
                        )
                    except SendError as exc:
                        report.send_failures += 1
                        undelivered = self._record_failure(rec, now, exc)
                        report.undeliverable += undelivered
                        if not exc.permanent:
                            break  # the server is unwell: keep the rest for the next pass, in order
                        continue
                    on_disk()  # the sender called it; a sender that did not is waited for here
                    with self.store.transaction(durable=False) as txn:
                        txn.outbox_mark_sent(rec.key, now)
                    syncing = syncer.submit(self.store.sync)
                    report.sent += 1
                    logger.info("%s: sent", rec.key)
                    copies.append(raw)
                    if refused:  # taken for the others: those refused are told of like a failure
                        report.undeliverable += self._record_failure(
                            rec,
                            now,
                            SendError(f"refused {len(refused)} recipient(s)", permanent=True),
                            refused=tuple(refused),
                        )
            finally:
                try:
                    on_disk()
                finally:
                    self._copy_to_sent(copies)
                    if not keep_open:
                        self.sender.close()

    def _record_failure(
        self,
        rec: OutboxRecord,
        now: datetime,
        exc: SendError,
        *,
        refused: tuple[str, ...] | None = None,
    ) -> bool:
        """A refusal: retried later, or (permanent) undelivered, on the case and told to the
        coordinators. True when it is undelivered (SPEC 5): kept, with its bytes, for ``resend``.

        ``refused`` is given when the server took the message for its other recipients: the record
        stays sent, only the refused addresses are undelivered.

        The coordinators' own mail is never given up: their server refusing it is a configuration
        fault, logged at ERROR, and the message is tried again on the retry schedule until it goes.
        """
        sent = refused is not None
        to = rec.recipients if refused is None else refused
        if exc.permanent and rec.internal:
            logger.error(
                "%s: the coordinators' mail was refused for good (%s): check the coordinators' "
                "addresses and the [smtp] relay; it is kept and tried again",
                rec.key,
                exc,
            )
            if not sent:
                with self.store.transaction() as txn:
                    txn.outbox_update(
                        rec.key,
                        lambda r: policy.after_send_failure(r, now, str(exc), permanent=False),
                    )
            return False
        logger.warning(
            "%s: %s (attempt %d%s): %s",
            rec.key,
            "sent, but not to every recipient" if sent else "not sent",
            rec.attempts + 1,
            ", undelivered: kept for resend" if exc.permanent else "",
            exc,
        )
        with self.store.transaction() as txn:
            if not exc.permanent:
                txn.outbox_update(
                    rec.key, lambda r: policy.after_send_failure(r, now, str(exc), permanent=False)
                )
                return False
            if sent:  # marked sent just now: its bytes are needed again for a resend
                txn.outbox_update(
                    rec.key, lambda r: replace(r, raw=rec.raw).mark_refused(now, to, str(exc))
                )
            else:
                txn.outbox_update(
                    rec.key,
                    lambda r: policy.after_send_failure(
                        r, now, str(exc), permanent=True
                    ).mark_refused(now, to, str(exc)),
                )
            ref = rec.case_reference
            case = txn.get_case(ref) if ref else None
            if case is not None:
                txn.put_case(case.with_event(now, "send_failed", f"{rec.template}: {exc}"))
            told = replace(rec, key=f"{rec.key}:{rec.resends}") if rec.resends else rec
            notice = policy.undeliverable_notice(
                told, to, str(exc), self.cfg.partnership.coordinators
            )
            if notice is not None:
                self._queue(txn, (notice,), None, now)
        return True

    # -- resend (SPEC 5, 7, 8) --------------------------------------------------------------------

    def _carry_out(
        self, txn: Txn, actions: Iterable[str], case: Case | None, now: datetime
    ) -> None:
        """The work a command's handlers asked for, after the case is saved, in the same txn."""
        if case is not None and "resend" in actions:
            self.requeue_undelivered(txn, case.reference, now)

    def requeue_undelivered(self, txn: Txn, reference: str | None, now: datetime) -> list[str]:
        """Queue again what was refused for good on case ``reference`` (every case when None), in
        ``txn``; the keys queued. The ``resend`` command and the CLI both come through here; the
        next flush sends them, at once (SPEC 5: what a command causes is not scheduled mail)."""
        keys: list[str] = []
        for rec in txn.outbox_undelivered(reference):
            txn.outbox_update(rec.key, OutboxRecord.for_resend)
            keys.append(rec.key)
            case = txn.get_case(rec.case_reference) if rec.case_reference else None
            if case is not None:
                detail = f"{rec.template} to {', '.join(rec.refused_to or rec.recipients)}"
                txn.put_case(case.with_event(now, "resend", detail))
            logger.info("%s: queued again for sending (resend)", rec.key)
        return keys

    def resend(self, reference: str | None, now: datetime) -> tuple[list[str], PassReport]:
        """``resend REF|all``: queue again what was refused for good, and send it now.

        Returns the keys queued and what the sending did; ``StoreError`` and ``SendError`` as usual.
        """
        with self.store.transaction() as txn:
            keys = self.requeue_undelivered(txn, reference, now)
        report = PassReport()
        if keys:
            self.flush_outbox(now, report)
            if report.undeliverable:  # refused again: the coordinators' notice of it, now too
                self.flush_outbox(now, report)
        return keys, report

    def _copy_to_sent(self, copies: list[bytes]) -> None:
        """Copies of what was sent, in the Sent folder: a convenience, never a reason to fail.

        Appended while the pass goes on (the next group is decided meanwhile); the mailbox's next
        command, or the pass's logout, waits for them.
        """
        if self.source is None or not self.cfg.sent_copy_folder or not copies:
            return
        try:
            self.source.append_sent_many(copies, wait=False)
        except MailSourceError as exc:
            no_sent_copy(len(copies), exc)

    def run_schedule(self, now: datetime, report: PassReport) -> None:
        """Chasers and deadline notices due by now, each once; then the digest if it is due.

        The cases with something due are found outside the lock, then queued in ONE transaction (one
        commit, not one per case): each case's messages and its ``sent_keys`` are written together,
        so a notice is queued exactly once whether the process dies before the commit (nothing of it
        is kept: the next pass finds the same) or after it. Each case is worked out again from the
        transaction's copy, in case another process changed it meanwhile. A case that fails takes
        back only its own writes: the cases before it are committed, as they were when each case had
        its own transaction, and the error goes on up.
        """
        due = [
            case
            for case in self.store.cases()
            if schedule.due_messages(
                case, now, self.cal, self.settings, send_from=self.cfg.send_from
            )[1]
        ]
        failed: BaseException | None = None
        if due:
            with self.store.transaction() as txn:
                for case in due:
                    try:
                        with txn.savepoint():
                            fresh = txn.get_case(case.reference) or case
                            updated, messages = schedule.due_messages(
                                fresh, now, self.cal, self.settings, send_from=self.cfg.send_from
                            )
                            if messages:
                                txn.put_case(updated)
                                self._queue(txn, messages, updated, now)
                    except Exception as exc:  # the cases before it are kept; then it is raised
                        failed = exc
                        break
        if failed is not None:
            raise failed
        self.maybe_send_digest(now, report)
        self.upkeep(now)

    def upkeep(self, now: datetime) -> None:
        """Once a day: prune what only the past needed, and write the daily backup beside the store.

        Never a reason for the pass to fail: a full disk is logged, and tried again the next pass.
        """
        today = policy.digest_day(now).isoformat()
        if self.store.meta_get("upkeep_last_day") == today:
            return
        from .dataprotection import daily_backup, prune  # once a day: not at every pass's start

        try:
            prune(self.store, now)
            daily_backup(self.cfg, self.store, now)
        except (StoreError, OSError) as exc:
            logger.error("daily upkeep (prune, backup) failed: %s", exc)
            return
        with self.store.transaction() as txn:
            txn.meta_set("upkeep_last_day", today)

    def maybe_send_digest(self, now: datetime, report: PassReport, *, force: bool = False) -> bool:
        """The daily digest: once a working day at or after the configured time, or late that day."""
        today = policy.digest_day(now)
        last_day = _day(self.store.meta_get("digest_last_day"))
        if not force and not digest.digest_due(now, self.cal, self.cfg.digest_time, last_day):
            return False
        om = self.digest_message(now)
        with self.store.transaction() as txn:
            last_day = _day(txn.meta_get("digest_last_day"))
            if not force and policy.digest_already_queued(last_day, now):
                return False  # another process sent it meanwhile
            self._queue(txn, (om,), None, now)
            txn.meta_set("digest_last_day", today.isoformat())
            txn.meta_set("digest_last_at", now.isoformat())
        report.digest_sent = True
        logger.info("digest for %s queued", today.isoformat())
        return True

    def build_digest(self, now: datetime) -> digest.Digest:
        cases = self.store.cases(include_closed=True)
        start, end = digest.yesterday_window(now, self.cal)
        sent = self.store.outbox_between(start, end)
        last_at = self.store.meta_get("digest_last_at")
        since = datetime.fromisoformat(last_at) if last_at else None
        return digest.build_digest(
            cases,
            sent,
            now,
            self.cal,
            self.cfg.timescales,
            since,
            year_start=self.cfg.year_start,
            coordinators=self.cfg.partnership.coordinators,
            undelivered=undelivered_mail(self.store),
            mailbox=self.cfg.partnership.mailbox,
            partnership=self.cfg.partnership.name,
        )

    def digest_message(self, now: datetime) -> OutboundMessage:
        d = self.build_digest(now)
        om = policy.digest_message(d, now, self.cfg.digest_to)
        return replace(om, attachments=(d.calendar,)) if d.calendar else om

    # -- commands from the CLI ---------------------------------------------------------------------

    def command(self, reference: str, text: str, now: datetime) -> tuple[bool, str]:
        """Run coordinator commands from the CLI: (ok, what was done or what is wrong)."""
        parsed = parse_commands(text, self.settings.commands)
        with self.store.transaction() as txn:
            case = txn.get_case(reference.upper())
            if case is None:
                return False, f"no case {reference}"
            named = {r: c for r in parsed.references() if (c := self._load(txn, r)) is not None}
            from .core import handlers

            outcome = handlers.run_commands(
                case,
                parsed.commands,
                parsed.errors,
                now,
                self.cal,
                self.settings,
                source="cli",
                others=named,
                by=f"cli:{_os_user()}",
            )
            assert outcome.case is not None
            answer = outcome.messages[-1]
            if not answer.context["errors"]:
                txn.put_case(outcome.case)
                for other in outcome.others:
                    txn.put_case(other)
                packs = pack_mail.action_messages(
                    outcome.case, outcome.actions, now, self.cal, self.settings
                )
                self._queue(txn, (*packs, *outcome.messages[:-1]), outcome.case, now)
                self._carry_out(txn, outcome.actions, outcome.case, now)
        if answer.context["errors"]:
            return False, "\n".join(
                f"not understood: {e['line']!r}: {e['problem']}" for e in answer.context["errors"]
            )
        return True, "\n".join(answer.context["done"])


def undelivered_mail(store: Store) -> list[OutboxRecord]:
    """What the digest lists as undelivered: outbox records the server refused for good (SPEC 5).

    The one place that knows where undelivered mail is kept; today that is the outbox's ``failed_at``.
    """
    return store.outbox_failed()


def _day(value: object) -> date | None:
    """A day kept in the store's meta values as an ISO date."""
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _os_user() -> str:
    """Who ran a CLI command, for the audit in the case's events."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def now_utc() -> datetime:
    return datetime.now(tz=UTC)
