"""Benchmark of the Rapid Review pack (issue 16): a case with 12 agencies and 400 chronology entries.

It builds the pack's values (``core.pack.build_pack``, with the SIN draft) and the .docx
(``adapters.packdoc.pack_docx``) the given number of times, and prints the time of each step (median and
worst), the size of the document, the peak of Python allocations during one build (tracemalloc) and the
process's peak RSS. The entries' dates are written in the UK forms agencies use, and about one in ten is
the same event given by a second agency on the same day, so the duplicate marking has work to do.

Goals: under 2 s and under 150 MB for one pack. A miss is printed as ``MISS``; the exit code is 0 unless
something broke. Run from the repo root:

    python bench/pack.py [--runs 5] [--agencies 12] [--entries 400] [--out FILE]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
import tracemalloc
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cspr_mailbot.adapters.packdoc import pack_docx  # noqa: E402
from cspr_mailbot.core.clocks import Timescales  # noqa: E402
from cspr_mailbot.core.models import Agency, Case  # noqa: E402
from cspr_mailbot.core.pack import pack_for  # noqa: E402
from cspr_mailbot.core.workdays import LONDON, WorkingCalendar  # noqa: E402

GOAL_SECONDS = 2.0
GOAL_MB = 150.0

_EVENTS = (
    "Home visit by health visitor",
    "Child seen at A&E with bruising to the face",
    "Strategy meeting held with police and health",
    "Referral to MASH from school",
    "Child absent from school, no reason given",
    "Missed immunisation appointment",
    "Police called to a domestic incident at the home address",
    "Initial child protection conference",
    "Core group meeting",
    "GP appointment: mother reports low mood",
    "Child protection medical",
    "Section 47 enquiry started",
    "Mother arrested for assault",
    "School nurse drop-in: child tearful",
    "Neighbour reported shouting at the address",
)
_ACTIONS = (
    "Recorded on the case file; no further action",
    "Referral to children's social care",
    "Information shared with the MASH",
    "Letter sent to the family",
    "Welfare check; risk assessment completed",
    "Follow-up appointment booked",
)


def _written(d: date, rng: random.Random) -> str:
    forms = (
        d.strftime("%d/%m/%Y"),
        f"{d.day}/{d.month}/{d.strftime('%y')}",
        d.isoformat(),
        f"{d.day} {d.strftime('%B %Y')}",
        f"{d.strftime('%A')} {d.day} {d.strftime('%b %Y')}",
        d.strftime("%d.%m.%Y"),
    )
    return rng.choice(forms)


def make_case(n_agencies: int, n_entries: int, seed: int = 16) -> Case:
    rng = random.Random(seed)
    names = [f"Agency {i + 1:02d}" for i in range(n_agencies)]
    rows: dict[str, list[dict[str, str]]] = {n: [] for n in names}
    start = date(2025, 1, 6)
    made = 0
    while made < n_entries:
        agency = names[made % n_agencies]
        day = start + timedelta(days=rng.randrange(0, 690))
        event = rng.choice(_EVENTS)
        rows[agency].append(
            {"date": _written(day, rng), "event": event, "agency": rng.choice(_ACTIONS)}
        )
        made += 1
        if made < n_entries and rng.random() < 0.1:  # a second agency gives the same event
            other = names[(made + 3) % n_agencies]
            rows[other].append(
                {"date": day.isoformat(), "event": event + ", noted", "agency": "Attended"}
            )
            made += 1
    agencies = tuple(
        Agency(
            name,
            f"a{i}@example.org",
            requested_on="2026-11-30",
            due="2026-12-07",
            returned_on="2026-12-04" if i < n_agencies - 1 else None,
            scoping=(
                {
                    "agency_name": name,
                    "completed_by": "Named lead",
                    "involvement_summary": "Involvement over two years. " * 20,
                    "risks_identified": "Risks. " * 30,
                    "learning": "Learning. " * 30,
                    "records_secured": True,
                    "chronology": rows[name],
                }
                if i < n_agencies - 1
                else None
            ),
        )
        for i, name in enumerate(names)
    )
    # The last agency has not returned: its entries are not in the pack; give them to the others.
    last = names[-1]
    for k, row in enumerate(rows[last]):
        agencies[k % (n_agencies - 1)].scoping["chronology"].append(row)  # type: ignore[index]
    at = datetime(2026, 11, 27, 10, 0, tzinfo=LONDON)
    return Case(
        reference="DSPP-2026-0099",
        status="rapid_review",
        received_at=at.isoformat(),
        received_on="2026-11-27",
        referral={
            "child_name": "Bench Child",
            "child_dob": "2019-05-04",
            "incident_type": "serious_harm",
            "abuse_or_neglect": "suspected",
            "incident_summary": "Summary. " * 50,
            "agencies_involved": [{"name": n, "email": None, "contact_name": None} for n in names],
        },
        criteria={"result": "met", "reasons": ["abuse or neglect is suspected"]},
        agencies=agencies,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--agencies", type=int, default=12)
    parser.add_argument("--entries", type=int, default=400)
    parser.add_argument("--out", type=Path, help="write the last pack here, to look at")
    args = parser.parse_args()

    cal, ts = WorkingCalendar(), Timescales()
    case = make_case(args.agencies, args.entries)
    today = date(2026, 12, 10)
    partnership = "Dudley Safeguarding People Partnership"
    cal.add_working_days(today, 1)  # load the bank holidays outside the timing

    core_times: list[float] = []
    docx_times: list[float] = []
    data = b""
    for _ in range(args.runs):
        t0 = time.perf_counter()
        pack = pack_for(case, cal, ts, today=today, partnership=partnership)
        t1 = time.perf_counter()
        data = pack_docx(pack)
        t2 = time.perf_counter()
        core_times.append(t1 - t0)
        docx_times.append(t2 - t1)
    total = [a + b for a, b in zip(core_times, docx_times, strict=True)]

    tracemalloc.start()
    pack = pack_for(case, cal, ts, today=today, partnership=partnership)
    pack_docx(pack)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    entries = len(pack.chronology)
    marked = sum(1 for e in pack.chronology if e.also_given_by)
    print(
        f"case: {args.agencies} agencies ({len(pack.returns)} returned), {entries} chronology entries "
        f"in the pack, {marked} marked as given by another agency too"
    )
    print(f"runs: {args.runs}")
    print(
        f"pack values (core): median {statistics.median(core_times) * 1000:.0f} ms, "
        f"max {max(core_times) * 1000:.0f} ms"
    )
    print(
        f"pack .docx: median {statistics.median(docx_times) * 1000:.0f} ms, "
        f"max {max(docx_times) * 1000:.0f} ms, {len(data) / 1024:.0f} KiB"
    )
    worst = max(total)
    print(
        f"one pack, end to end: median {statistics.median(total):.2f} s, max {worst:.2f} s "
        f"(goal under {GOAL_SECONDS:.0f} s) {'ok' if worst < GOAL_SECONDS else 'MISS'}"
    )
    print(f"Python allocations, peak during one pack: {traced_peak / 2**20:.1f} MiB")
    print(
        f"process peak RSS: {rss_mb:.0f} MiB (goal under {GOAL_MB:.0f} MB) "
        f"{'ok' if rss_mb < GOAL_MB else 'MISS'}"
    )
    if args.out:
        args.out.write_bytes(data)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
