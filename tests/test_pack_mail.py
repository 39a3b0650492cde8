"""The pack hooked up (SPEC 6a): sent to the coordinators on the last return and on ``pack``, and by the CLI.

The pack's contents are tests/test_pack.py's; here: who gets it, when, under which key and file name, that the
.docx is built at render time from the DocumentRequest, and that the SIN draft rides along while no SIN date
is recorded (in the pack mail and in the new-referral notice).
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import replace
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

from docx import Document
from test_workflow import (
    CAL,
    COORDINATOR,
    POLICE,
    ST,
    at,
    mail,
    referral_case,
    returned,
    started,
)

from cspr_mailbot.adapters import documents
from cspr_mailbot.adapters.outbox import Renderer
from cspr_mailbot.adapters.packdoc import pack_filename as docx_pack_filename
from cspr_mailbot.core import correspondence, pack_mail
from cspr_mailbot.core.classify import Classification
from cspr_mailbot.core.models import Agency, Case, OutboundMessage
from cspr_mailbot.core.reading import read_message

REF = "DSPP-2026-0001"
CLS = Classification("correspondence", ("x",), case_ref=REF)
RENDERER = Renderer(
    partnership_name=ST.partnership_name, mailbox=ST.mailbox, subject_marking="OFFICIAL-SENSITIVE"
)


def packs(messages: tuple[OutboundMessage, ...] | list[OutboundMessage]) -> list[OutboundMessage]:
    return [m for m in messages if any(d.kind == "pack" for d in m.documents)]


def returns_of(case: Case, day: date) -> tuple[Case, list[OutboundMessage]]:
    """Every agency on the case returns on ``day``, one mail each: the case and every message."""
    sent: list[OutboundMessage] = []
    for i, agency in enumerate(a for a in case.agencies if a.requested_on and not a.returned_on):
        out = correspondence.on_correspondence(
            read_message(
                mail(
                    agency.email or POLICE,
                    f"RE: [{REF}] Initial Scoping request",
                    "Attached.",
                    at(day),
                    attach=("scoping.docx", returned(REF, agency.name)),
                    uid=str(i + 10),
                ),
                ST,
            ),
            CLS,
            case,
            at(day),
            CAL,
            ST,
        )
        assert out.case is not None
        case = out.case
        sent.extend(out.messages)
    return case, sent


def test_the_last_return_sends_the_pack_to_the_coordinators_only_once_per_set() -> None:
    case = started()
    assert len([a for a in case.agencies if a.requested_on]) >= 2
    case, sent = returns_of(case, date(2027, 1, 5))
    (pack,) = packs(sent)  # only the last return brings the pack
    assert (pack.to, pack.cc, pack.internal) == ((COORDINATOR,), (), True)
    assert pack.template == "returns_complete"
    (request,) = pack.documents
    assert request.kind == "pack" and request.pack is not None
    assert request.filename == f"{REF} Rapid Review pack.docx"
    assert request.filename == docx_pack_filename(request.pack)
    assert {r.agency for r in request.pack.returns} == {
        a.name for a in case.agencies if a.requested_on
    }
    # A further return from an agency already in is the same set: no second pack by itself.
    name = case.agencies[0].name
    again = correspondence.on_correspondence(
        read_message(
            mail(
                POLICE,
                f"RE: [{REF}] x",
                "Updated.",
                at(date(2027, 1, 6)),
                attach=("s.docx", returned(REF, name)),
            ),
            ST,
        ),
        CLS,
        case,
        at(date(2027, 1, 6)),
        CAL,
        ST,
    )
    assert [m.key for m in packs(again.messages)] == [pack.key]  # the outbox sends a key once

    # A late agency is added, asked, and returns: a new set, a fresh key, the same file name.
    late = replace(
        case,
        agencies=(
            *case.agencies,
            Agency("Black Country Healthcare", "bch@example.nhs.uk", requested_on=date(2027, 1, 7)),
        ),
    )
    late, sent = returns_of(late, date(2027, 1, 8))
    (second,) = packs(sent)
    assert second.key != pack.key
    assert second.documents[0].filename == request.filename
    assert second.documents[0].pack is not None
    assert "Black Country Healthcare" in {r.agency for r in second.documents[0].pack.returns}


def test_the_pack_command_action_sends_it_now_with_a_fresh_key_each_time() -> None:
    case = started()
    first = pack_mail.pack_message(case, at(date(2027, 1, 4), 9), CAL, ST, requested=True)
    again = pack_mail.pack_message(case, at(date(2027, 1, 4), 11), CAL, ST, requested=True)
    assert first.key != again.key
    assert (first.template, first.to, first.internal) == ("pack", (COORDINATOR,), True)
    assert first.documents[0].filename == again.documents[0].filename
    # No return is in yet: the pack says who has not returned.
    assert first.documents[0].pack is not None
    assert {o.agency for o in first.documents[0].pack.outstanding} == {
        a.name
        for a in case.agencies  # asked or not (one has no address)
    }


def rendered(om: OutboundMessage) -> tuple[str, str, dict[str, bytes]]:
    raw = RENDERER.render(om, at(date(2027, 1, 4))).raw
    msg = message_from_bytes(raw, policy=policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    files = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
    return text, html, files


def chronology_case() -> Case:
    """Two returns with chronologies, one agency missing, and no SIN date recorded."""
    case, _ = referral_case()
    rows = {
        "West Midlands Police": [
            {"date": "03/12/2026", "event": "Home visit by police: no concerns", "agency": "Visit"},
            {"date": "2026-11-20", "event": "Domestic incident reported", "agency": "Attended"},
        ],
        "Dudley Children's Services": [
            {"date": "3 December 2026", "event": "Home visit by police", "agency": "Told of it"},
            {"date": "2026-11-25", "event": "Strategy discussion", "agency": "Chaired"},
        ],
    }
    agencies = tuple(
        Agency(
            name,
            f"{i}@example.org",
            requested_on=date(2026, 12, 21),
            returned_on=date(2026, 12, 23),
            scoping={"completed_by": "J. Officer", "chronology": entries},
        )
        for i, (name, entries) in enumerate(rows.items())
    )
    missing = Agency("Oakfield Primary School", "dsl@example.org", requested_on=date(2026, 12, 21))
    return replace(case, agencies=(*agencies, missing), notified_date=None)


def test_the_pack_is_built_at_render_time_and_carries_the_sin_draft() -> None:
    case = chronology_case()
    om = pack_mail.pack_message(case, at(date(2027, 1, 4)), CAL, ST, requested=True)
    text, html, files = rendered(om)
    name = f"{REF} Rapid Review pack.docx"
    assert list(files) == [name]
    doc = Document(io.BytesIO(files[name]))
    body = "\n".join(p.text for p in doc.paragraphs) + "\n".join(
        c.text for t in doc.tables for r in t.rows for c in r.cells
    )
    for event in ("Domestic incident reported", "Strategy discussion", "Home visit by police"):
        assert event in body
    assert "Oakfield Primary School" in body  # who has not returned
    # The mail says what the pack holds and carries the SIN draft as text to paste.
    assert "Not returned (1): Oakfield Primary School" in text
    assert "4 entries, 2 given by more than one agency, marked" in text
    assert "DRAFT Serious Incident Notification" in text and "Jamie Example" in text
    assert "<pre" in html and "DRAFT Serious Incident Notification" in html
    # Once the SIN date is recorded, no draft.
    done = replace(case, notified_date=date(2026, 12, 22))
    text, html, _ = rendered(
        pack_mail.pack_message(done, at(date(2027, 1, 4)), CAL, ST, requested=True)
    )
    assert "Serious Incident Notification" not in text and "<pre" not in html


def test_documents_build_lays_out_the_pack_with_the_marking() -> None:
    case = chronology_case()
    om = pack_mail.pack_message(case, at(date(2027, 1, 4)), CAL, ST, requested=True)
    att = documents.DocumentBuilder(marking="OFFICIAL").build(om.documents[0])
    assert att.filename == f"{REF} Rapid Review pack.docx"
    doc = Document(io.BytesIO(att.data))
    assert doc.sections[0].header.paragraphs[0].text == "OFFICIAL"


def test_the_new_referral_notice_carries_the_sin_draft_while_no_sin_date() -> None:
    _, out = referral_case()
    (new,) = [m for m in out.messages if m.template == "new_referral"]
    assert new.internal and new.context["sin_draft"].startswith("DRAFT Serious Incident")
    text, html, _ = rendered(new)
    assert "DRAFT Serious Incident Notification" in text and "Jamie Example" in text
    assert "<pre" in html
    # A referral that says the Panel was notified, with the date: no draft.
    from test_workflow import REFERRAL

    _, out = referral_case(
        values={**REFERRAL, "national_panel_notified": True, "notification_date": "2026-12-19"}
    )
    (new,) = [m for m in out.messages if m.template == "new_referral"]
    assert new.context["sin_draft"] is None
    assert "Serious Incident Notification" not in rendered(new)[0]


def test_cli_pack_writes_the_file(tmp_path: Path) -> None:
    from cspr_mailbot.adapters.store import Store
    from cspr_mailbot.cli import main

    (tmp_path / "config.toml").write_text(
        '[partnership]\nmailbox = "dsppb@example.gov.uk"\ncoordinators = ["c@example.gov.uk"]\n'
        '[maildir]\npath = "maildir"\n'
    )
    with Store(tmp_path / "store" / "cspr.json") as store, store.transaction() as txn:
        txn.put_case(chronology_case())
    out = tmp_path / "pack.docx"
    cfg = str(tmp_path / "config.toml")
    old_umask = os.umask(0o022)  # the usual umask, which leaves a new file readable by everyone
    try:
        assert main(["-c", cfg, "pack", REF, "-o", str(out), "--now", "2027-01-04T09:00"]) == 0
    finally:
        os.umask(old_umask)
    # The pack names the child: its owner's alone, as the store is; no temporary file left beside it.
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "pack.docx", "store"]
    doc = Document(str(out))
    assert any("Strategy discussion" in c.text for t in doc.tables for r in t.rows for c in r.cells)
    assert main(["-c", cfg, "pack", "DSPP-2026-0999", "-o", str(out)]) == 1


def test_the_pack_command_is_carried_out_by_the_app(tmp_path: Path) -> None:
    from cspr_mailbot.adapters.store import Store
    from cspr_mailbot.config import load_config
    from cspr_mailbot.wiring import build_app

    (tmp_path / "config.toml").write_text(
        '[partnership]\nmailbox = "dsppb@example.gov.uk"\ncoordinators = ["c@example.gov.uk"]\n'
        '[maildir]\npath = "maildir"\n'
    )
    cfg = load_config(tmp_path / "config.toml")
    with Store(cfg.store_path) as store:
        with store.transaction() as txn:
            txn.put_case(chronology_case())
        app = build_app(cfg, store, with_source=False)
        ok, said = app.command(REF, "pack", at(date(2027, 1, 4)))
        assert ok, said
        (record,) = [r for r in store.outbox_pending() if r.template == "pack"]
        assert record.to == ("c@example.gov.uk",) and record.internal
        assert record.raw is not None and b"Rapid Review pack.docx" in record.raw
