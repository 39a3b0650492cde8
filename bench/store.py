"""Benchmark of the case store: the cost of taking in one message, empty store vs 10,000 cases.

Taking in one message = one transaction that looks the message up in the ledger, takes a new
reference, writes a new case with a few events, a ledger entry, one outbox message (a ~6 KB
base64 body) and the Message-ID index entry, and commits (one fdatasync'ed journal line).

The large store holds 10,000 closed cases of ~20 events each, 10,000 ledger entries, 10,000 sent
outbox records and their Message-IDs. Run from the repo root:

    python bench/store.py [--runs N] [--dir DIR] [--no-stock] [--no-history]

The last table (``--no-history`` skips it) is retention: stores with 200 open cases and a growing
history of cases closed years ago, before and after ``purge --apply`` and the daily pruning. With
the history purged, size and opening time follow the open cases, not the years.

The fsyncs are real: run it on the disk the store will live on (``--dir``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cspr_mailbot.adapters.store import Store  # noqa: E402
from cspr_mailbot.core.models import Agency, Case, Event  # noqa: E402
from cspr_mailbot.core.records import LedgerEntry, OutboxRecord  # noqa: E402

RAW = os.urandom(4500)  # ~6 KB in base64: a plain + HTML acknowledgement
THEN = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def make_case(reference: str, n_events: int, status: str) -> Case:
    events = tuple(
        Event(
            datetime.fromisoformat(f"2026-03-{1 + i % 28:02d}T09:{i % 60:02d}:00+00:00"),
            f"event_{i}",
            "detail " * 4,
        )
        for i in range(n_events)
    )
    case = Case(
        reference=reference,
        status=status,
        received_at=datetime.fromisoformat("2026-03-01T09:00:00+00:00"),
        received_on=date(2026, 3, 1),
        referrer_email="referrer@example.org",
        source_message_id=f"<{reference}@example.org>",
        referral={
            "referrer_name": "A Referrer",
            "referrer_agency": "An Agency",
            "child_name": "Child Name",
            "incident_type": "serious_harm",
            "abuse_or_neglect": "suspected",
            "incident_summary": "summary " * 20,
            "agencies_involved": [{"name": "Police", "contact_name": None, "email": None}],
        },
        criteria={"result": "met", "reasons": ["abuse suspected", "serious harm"]},
        agencies=(
            Agency(
                "Police", "pvp@example.org", requested_on=date(2026, 3, 2), due=date(2026, 3, 9)
            ),
        ),
        events=events,
        sent_keys=(f"ack:{reference}", f"notice:{reference}"),
    )
    return case


def take_in(store: Store, tag: str, i: int) -> None:
    sha = hashlib.sha256(f"{tag}-{i}".encode()).hexdigest()
    message_id = f"<{tag}-{i}@sender.example.org>"
    with store.transaction() as txn:
        if txn.ledger_get(message_id, sha) is not None:
            raise RuntimeError("duplicate")
        reference = txn.next_reference(2027)
        txn.put_case(make_case(reference, 3, "referral_received"))
        txn.ledger_put(
            LedgerEntry(
                sha256=sha,
                message_id=message_id,
                uid=str(i),
                outcome="referral",
                case_reference=reference,
                processed_at=NOW,
                folder="Processed",
            )
        )
        out_id = f"<ack-{reference}@dspp.example.gov.uk>"
        txn.outbox_put(
            OutboxRecord(
                key=f"ack:{reference}",
                message_id=out_id,
                case_reference=reference,
                to=("referrer@example.org",),
                recipients=("referrer@example.org",),
                subject=f"[{reference}] Referral received",
                template="acknowledgement",
                raw=RAW,
                created_at=NOW,
            )
        )
        txn.index_message_id(out_id, reference)


def populate(store: Store, n: int, batch: int = 250) -> None:
    for start in range(0, n, batch):
        with store.transaction() as txn:
            for i in range(start, min(n, start + batch)):
                reference = f"DSPP-2026-{i + 1:04d}"
                txn.put_case(make_case(reference, 20, "closed"))
                sha = hashlib.sha256(f"old-{i}".encode()).hexdigest()
                txn.ledger_put(
                    LedgerEntry(
                        sha256=sha,
                        message_id=f"<old-{i}@sender.example.org>",
                        uid=str(i),
                        outcome="referral",
                        case_reference=reference,
                        processed_at=THEN,
                        folder="Processed",
                        moved=True,
                    )
                )
                out_id = f"<ack-{reference}@dspp.example.gov.uk>"
                txn.outbox_put(
                    OutboxRecord(
                        key=f"ack:{reference}",
                        message_id=out_id,
                        case_reference=reference,
                        to=("referrer@example.org",),
                        recipients=("referrer@example.org",),
                        subject=f"[{reference}] Referral received",
                        template="acknowledgement",
                        created_at=THEN,
                        sent_at=THEN.replace(second=5),
                        attempts=1,
                    )
                )
                txn.index_message_id(out_id, reference)
            txn.meta_set("reference_counter:DSPP:2026", min(n, start + batch))


def timed_runs(store: Store, tag: str, runs: int, cpu: list[float]) -> list[float]:
    """Wall seconds of each of ``runs`` messages taken in; their thread CPU seconds go to ``cpu``."""
    times = []
    for i in range(runs):
        t0, c0 = time.perf_counter(), time.thread_time()
        take_in(store, tag, i)
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return times


def describe(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return (
        f"median {statistics.median(ms):.3f} ms  mean {statistics.mean(ms):.3f} ms  "
        f"p95 {p95:.3f} ms  max {ms[-1]:.3f} ms  (n={len(ms)})"
    )


def stock_tinydb(folder: Path, n: int) -> float:
    """Median ms of one insert with stock TinyDB (JSONStorage) at ``n`` documents, for reference."""
    from tinydb import TinyDB

    db = TinyDB(folder / "stock.json")
    db.insert_multiple(make_case(f"DSPP-2026-{i:04d}", 20, "closed").to_dict() for i in range(n))
    times = []
    for i in range(7):
        t0 = time.perf_counter()
        db.insert(make_case(f"DSPP-2027-{i:04d}", 3, "referral_received").to_dict())
        times.append(time.perf_counter() - t0)
    db.close()
    return statistics.median(times) * 1000


def history_row(
    folder: Path, closed: int, open_cases: int = 200
) -> tuple[float, float, float, float]:
    """(MB, open ms) before and after purging ``closed`` cases past retention and pruning."""
    from dataclasses import replace

    from cspr_mailbot.config import parse_config
    from cspr_mailbot.dataprotection import prune, purge

    path = folder / f"history-{closed}" / "cspr.json"
    with Store(path) as store:
        populate(store, closed)
        with store.transaction() as txn:
            for case in [c for c in store.cases(include_closed=True) if c.status == "closed"]:
                txn.put_case(replace(case, closed_on=date(2019, 3, 1)))
        for i in range(open_cases):
            take_in(store, f"open{closed}", i)
        store.compact()

    def measure() -> tuple[float, float]:
        t0 = time.perf_counter()
        Store(path).close()
        return os.path.getsize(path) / 1e6, (time.perf_counter() - t0) * 1000

    before = measure()
    cfg = parse_config(
        {
            "partnership": {"mailbox": "b@example.gov.uk", "coordinators": ["c@example.gov.uk"]},
            "store": {"path": str(path)},
            "retention": {"closed_case_years": 6},
        }
    )
    with Store(path) as store:
        purge(cfg, store, NOW.date())
        prune(store, NOW.replace(year=2027, month=6))
        store.compact()
    return (*before, *measure())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400, help="messages taken in per store")
    parser.add_argument("--cases", type=int, default=10_000, help="closed cases in the large store")
    parser.add_argument("--dir", help="where to put the stores (default: a temporary folder)")
    parser.add_argument("--no-stock", action="store_true", help="skip the stock TinyDB reference")
    parser.add_argument("--no-history", action="store_true", help="skip the retention table")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="cspr-store-bench-", dir=args.dir))
    try:
        print(f"stores in {folder}; {args.runs} messages taken in per store, fsyncs real")

        big_path = folder / "big" / "cspr.json"
        t0 = time.perf_counter()
        with Store(big_path) as big:
            populate(big, args.cases)
        populated = time.perf_counter() - t0
        t0 = time.perf_counter()
        big = Store(big_path)
        opened = time.perf_counter() - t0
        counts = big.stats()
        empty = Store(folder / "empty" / "cspr.json")

        # Interleaved, so that whatever else the machine is doing weighs on both alike.
        t_empty, t_big, c_empty, c_big = [], [], [], []
        for i in range(args.runs):
            t_empty += timed_runs(empty, f"new{i}", 1, c_empty)
            t_big += timed_runs(big, f"new{i}", 1, c_big)
        empty.close()
        print(f"empty store:        {describe(t_empty)}")
        print(
            f"{args.cases:,} cases store:  {describe(t_big)}\n"
            f"  thread CPU, median: {statistics.median(c_empty) * 1000:.3f} ms empty, "
            f"{statistics.median(c_big) * 1000:.3f} ms large (less sensitive to the machine's load)\n"
            f"  holding {counts['archive']:,} closed cases, {counts['ledger']:,} ledger entries, "
            f"{counts['outbox']:,} outbox records"
        )
        ratio = statistics.median(t_big) / statistics.median(t_empty)
        print(f"ratio of medians (large / empty): {ratio:.2f}  (goal: <= 1.5)")

        t0 = time.perf_counter()
        big.compact()
        compacted = time.perf_counter() - t0
        size = os.path.getsize(big_path)
        big.close()
        print(
            f"large store: snapshot {size / 1e6:.1f} MB; built in {populated:.1f} s; "
            f"opened in {opened * 1000:.0f} ms; one compaction {compacted * 1000:.0f} ms"
        )
        if not args.no_stock:
            ms = stock_tinydb(folder, args.cases)
            print(f"stock TinyDB JSONStorage, one insert at {args.cases:,} cases: {ms:.1f} ms")
        if not args.no_history:
            print("\nretention: 200 open cases and N cases closed in 2019 (past 6 years)")
            print("  closed N   before purge: size, open   after purge + prune: size, open")
            for closed in (0, args.cases // 4, args.cases // 2, args.cases):
                mb, ms, mb2, ms2 = history_row(folder, closed)
                print(
                    f"  {closed:>8,}   {mb:8.1f} MB {ms:7.0f} ms"
                    f"         {mb2:8.1f} MB {ms2:7.0f} ms"
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
