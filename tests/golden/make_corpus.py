"""Write the golden corpus for referral intake: NAME.eml beside NAME.json, deterministically.

Run from the repository root: ``python tests/golden/make_corpus.py``. Every message, document and
expectation is built here, so a reviewer reads the intent in one place and a regeneration gives the
same bytes (fixed Message-IDs, boundaries, dates and zip timestamps). ``tests/test_golden.py`` runs
each .eml through the intake pipeline and compares with its .json.

The expectations are written by hand from the SPEC, never copied from the code's output. Dates: the
fixed ``now`` of the test is Mon 30 Nov 2026 10:00 London; a message's Date header decides its receipt
(17:00 cut-off). Names, addresses and organisations are invented.

Expected JSON: kind, folder, status, received_on, referral (every SPEC 4 key, exactly; all null when no
form could be read at all), criteria (result), deadlines (ISO or null), triage_reasons_contain
(substrings of the triage reasons, joined), messages ([{template, to}] in order) and, for some cases,
subject or attachments (names as parsed).
"""

from __future__ import annotations

import base64
import io
import json
import sys
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cspr_mailbot import formgen  # noqa: E402
from cspr_mailbot.core.models import REFERRAL_FIELDS  # noqa: E402
from tests import docxfactory as f  # noqa: E402
from tests.docxfactory import cfb  # noqa: E402

MAILBOX = "dsppb@example.gov.uk"
COORDINATORS = ["coordinator@example.gov.uk", "cspr.team@example.gov.uk"]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ZIP_TIME = (2026, 11, 30, 9, 0, 0)
MONDAY = "Mon, 30 Nov 2026"

# The config the test builds its Settings from (and the label a partnership added to its wording).
CONFIG: dict[str, Any] = {
    "partnership": {"mailbox": MAILBOX, "coordinators": COORDINATORS},
    "calendar": {"closures": ["2026-12-29", "2026-12-30", "2026-12-31"], "cutoff": "17:00"},
    "agencies": [
        {
            "name": "West Midlands Police",
            "email": "pvp@example.police.uk",
            "aliases": ["WMP", "Police"],
        },
        {
            "name": "Dudley Children's Services",
            "email": "mash@example-dudley.gov.uk",
            "aliases": ["Children's Social Care", "CSC"],
        },
    ],
    "labels": {
        "referral.incident_summary": ["what has happened to the young person"],
        "referral.child_name": ["young person"],
    },
}

# -- the people --------------------------------------------------------------------------------------

CHILD = {
    "child_name": "Tamsin Featherby",
    "child_dob": "2019-12-03",
    "child_gender": "Female",
    "child_ethnicity": "White British",
    "child_address": "14 Larkspur Close, Netherton, Dudley DY2 9QQ",
}
REFERRER = {
    "referrer_name": "Priya Chaudhry",
    "referrer_role": "Designated Safeguarding Lead",
    "referrer_agency": "Netherton Primary Academy",
    "referrer_email": "p.chaudhry@netherton-primary.example.sch.uk",
    "referrer_phone": "01384 555 0142",
}
SUMMARY = (
    "Tamsin was brought to A&E by her mother's partner with a fractured skull and bruising of "
    "different ages. She remains in intensive care."
)
RATIONALE = "Bruising was seen at school in October and not escalated; the family moved twice."

FULL: dict[str, Any] = {
    **REFERRER,
    "safeguarding_lead_consulted": True,
    **CHILD,
    "incident_date": "2026-11-26",
    "la_aware_date": "2026-11-27",
    "incident_type": "serious_harm",
    "incident_summary": SUMMARY,
    "abuse_or_neglect": "suspected",
    "looked_after": False,
    "national_panel_notified": False,
    "notification_date": None,
    "agencies_involved": [
        {"name": "West Midlands Police", "contact_name": "DC Ravi Okonjo", "email": None},
        {
            "name": "Netherton Health Visiting",
            "contact_name": "Alys Brennan",
            "email": "hv.netherton@example-nhs.uk",
        },
    ],
    "rationale": RATIONALE,
    # SPEC 4's later fields: this corpus's forms do not ask for them.
    **dict.fromkeys(REFERRAL_FIELDS[REFERRAL_FIELDS.index("referral_date") :]),
}

NONE: dict[str, Any] = dict.fromkeys(FULL)


def referral(**values: Any) -> dict[str, Any]:
    """Every SPEC 4 key: None unless given."""
    unknown = set(values) - set(NONE)
    assert not unknown, unknown
    return {**NONE, **values}


def pick(ref: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """What another case's referral says for ``keys``: the same person, the same answers."""
    return {k: ref[k] for k in keys}


# -- documents ---------------------------------------------------------------------------------------


def fixed_zip(data: bytes) -> bytes:
    """The same package with fixed timestamps and member order, so regenerating is byte-identical."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def own_form(values: Mapping[str, Any]) -> bytes:
    return fixed_zip(formgen.filled_referral(values))


def zip_bomb(megabytes: int = 300) -> bytes:
    """A .docx whose document.xml inflates to ``megabytes`` MB of XML from well under 1 MB."""
    base = zipfile.ZipFile(io.BytesIO(own_form({})))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in base.infolist():
            if info.filename == "word/document.xml":
                continue
            fixed = zipfile.ZipInfo(info.filename, ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, base.read(info.filename))
        fixed = zipfile.ZipInfo("word/document.xml", ZIP_TIME)
        fixed.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(fixed, "w") as member:
            member.write(b'<?xml version="1.0"?><w:document xmlns:w="x"><w:body><w:p><w:r><w:t>')
            chunk = b" " * (1024 * 1024)
            for _ in range(megabytes):
                member.write(chunk)
            member.write(b"</w:t></w:r></w:p></w:body></w:document>")
    return out.getvalue()


def entity_bomb() -> bytes:
    """A real referral form whose document.xml starts with a billion-laughs DOCTYPE."""
    data = own_form(FULL)
    lol = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<!DOCTYPE lolz [\n'
    lol += b' <!ENTITY lol "lol">\n'
    for i in range(1, 10):
        refs = "".join(f"&lol{i - 1 if i > 1 else ''};" for _ in range(10))
        lol += f' <!ENTITY lol{i} "{refs}">\n'.encode()
    lol += b"]>\n"
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "word/document.xml":
                body = lol + body.split(b"?>", 1)[1].lstrip()
                body = body.replace(b"Tamsin Featherby", b"&lol9;", 1)
            dst.writestr(info, body)
    return out.getvalue()


# -- mail --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    content_type: str  # with parameters, e.g. 'text/plain; charset="utf-8"'
    body: bytes
    filename: str | None = None
    encoding: str = "base64"  # base64 | 7bit | 8bit | quoted-printable (body given encoded)
    disposition_extra: str = ""  # raw parameters for the Content-Disposition line
    headers: tuple[str, ...] = ()


def text(body: str, charset: str = "utf-8") -> Part:
    return Part(f'text/plain; charset="{charset}"', body.encode(charset), encoding="8bit")


def attach(data: bytes, filename: str, content_type: str = DOCX) -> Part:
    return Part(f'{content_type}; name="{filename}"', data, filename=filename)


def b64(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def part_bytes(p: Part) -> bytes:
    lines = [f"Content-Type: {p.content_type}"]
    if p.filename is not None or p.disposition_extra:
        disp = "attachment"
        if p.filename is not None:
            disp += f'; filename="{p.filename}"'
        lines.append(f"Content-Disposition: {disp}{p.disposition_extra}")
    lines.append(f"Content-Transfer-Encoding: {p.encoding}")
    lines.extend(p.headers)
    crlf = p.body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    body = b64(p.body) if p.encoding == "base64" else crlf
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body + b"\r\n"


def message(
    *,
    sender: str,
    subject: str | bytes,
    date: str,
    msgid: str,
    parts: Sequence[Part],
    to: str = f"DSPP Business Unit <{MAILBOX}>",
    extra: Sequence[str] = (),
    boundary: str = "=_golden_boundary_0001",
    multipart: str = "mixed",
    top_params: str = "",
    close: bool = True,
) -> bytes:
    """An RFC 5322 message as Outlook or Gmail would send it; one part is sent as a single part."""
    subj = subject if isinstance(subject, bytes) else subject.encode("utf-8")
    head = [
        f"From: {sender}".encode(),
        f"To: {to}".encode(),
        b"Subject: " + subj,
        f"Date: {date}".encode(),
        f"Message-ID: <{msgid}>".encode(),
        b"MIME-Version: 1.0",
        *(h.encode() for h in extra),
    ]
    if len(parts) == 1 and not top_params:
        single = part_bytes(parts[0])
        return b"\r\n".join(head) + b"\r\n" + single
    head.append(f'Content-Type: multipart/{multipart}; boundary="{boundary}"{top_params}'.encode())
    out = b"\r\n".join(head) + b"\r\n\r\nThis is a multi-part message in MIME format.\r\n"
    for p in parts:
        out += f"\r\n--{boundary}\r\n".encode() + part_bytes(p)
    if close:
        out += f"\r\n--{boundary}--\r\n".encode()
    return out


def rfc822(raw: bytes, filename: str = "") -> Part:
    """An attached message, as Outlook forwards "as attachment" (7bit, not base64)."""
    ctype = "message/rfc822" + (f'; name="{filename}"' if filename else "")
    return Part(ctype, raw, filename=filename or None, encoding="7bit")


PRIYA = f"Priya Chaudhry <{REFERRER['referrer_email']}>"
COVER = (
    "Good morning,\n\nPlease find attached a CSPR referral, discussed with our safeguarding lead "
    "this morning.\n\nKind regards\nPriya\n"
)


def ack(to: str) -> list[dict[str, Any]]:
    return [
        {"template": "acknowledgement", "to": [to]},
        {"template": "new_referral", "to": COORDINATORS},
    ]


def triaged(to: str) -> list[dict[str, Any]]:
    return [
        {"template": "triage_reply", "to": [to]},
        {"template": "triage_notice", "to": COORDINATORS},
    ]


NO_ADDRESS = {"template": "no_agency_address", "to": COORDINATORS}
LAC = {"template": "lac_notice", "to": COORDINATORS}


def expect(
    kind: str,
    ref: dict[str, Any] | None,
    *,
    result: str | None,
    sin: str | None,
    rr: str | None,
    messages: list[dict[str, Any]],
    received_on: str | None = "2026-11-30",
    triage: Sequence[str] = (),
    **more: Any,
) -> dict[str, Any]:
    folder = {"referral": "processed", "triage": "triage", "automatic": "ignored"}[kind]
    status = {"referral": "referral_received", "triage": "needs_triage", "automatic": None}[kind]
    out: dict[str, Any] = {
        "kind": kind,
        "folder": folder,
        "status": status,
        "received_on": received_on if kind != "automatic" else None,
        # No form read: every SPEC 4 key is present and null (SPEC 8 shape).
        "referral": {k: None for k in REFERRAL_FIELDS} if ref == {} else ref,
        "criteria": {"result": result} if result else None,
        "deadlines": {"sin": sin, "rapid_review": rr, "review": None}
        if kind != "automatic"
        else None,
        "triage_reasons_contain": list(triage),
        "messages": messages,
    }
    out.update(more)
    return out


# -- the cases ---------------------------------------------------------------------------------------

CASES: dict[str, Callable[[], tuple[bytes, dict[str, Any]]]] = {}


def case(name: str) -> Callable[[Callable[[], tuple[bytes, dict[str, Any]]]], Any]:
    def register(fn: Callable[[], tuple[bytes, dict[str, Any]]]) -> Any:
        assert name not in CASES, name
        CASES[name] = fn
        return fn

    return register


def send(
    parts: Sequence[Part],
    n: int,
    *,
    sender: str = PRIYA,
    subject: str | bytes = "CSPR referral",
    date: str | None = None,
    **kw: Any,
) -> bytes:
    """A message from a referrer on Monday morning (minute ``n``), unless told otherwise."""
    domain = sender.rsplit("@", 1)[-1].rstrip(">")
    return message(
        sender=sender,
        subject=subject,
        date=date or f"{MONDAY} 09:{n:02d}:00 +0000",
        msgid=f"golden-{n:03d}.{n * 7919 % 100000:05d}@{domain}",
        parts=parts,
        **kw,
    )


RR_MONDAY = "2026-12-21"  # 15 working days from Mon 30 Nov 2026 (provisional: no SIN date)
SIN_FROM_27 = "2026-12-04"  # 5 working days from Fri 27 Nov
SIN_FROM_26 = "2026-12-03"
SIN_FROM_MONDAY = "2026-12-07"  # provisional, from receipt


def mailed(doc: bytes, filename: str, n: int, cover: str = COVER, **kw: Any) -> bytes:
    """A referrer's message (see ``send``): a cover note and the form attached as ``filename``."""
    return send([text(cover), attach(doc, filename)], n, **kw)


def acked(
    ref: dict[str, Any],
    *,
    sin: str,
    rr: str = RR_MONDAY,
    to: str = FULL["referrer_email"],
    also: Sequence[dict[str, Any]] = (),
    result: str = "met",
    **more: Any,
) -> dict[str, Any]:
    """A referral read: ``to`` is acknowledged and the coordinators told, then any ``also``."""
    return expect(
        "referral", ref, result=result, sin=sin, rr=rr, messages=[*ack(to), *also], **more
    )


def for_triage(
    ref: dict[str, Any], reasons: Sequence[str], *, sin: str = SIN_FROM_MONDAY, **more: Any
) -> dict[str, Any]:
    """Sent to triage: criteria unclear, the referrer told and the coordinators asked to look."""
    return expect(
        "triage",
        ref,
        result="unclear",
        sin=sin,
        rr=RR_MONDAY,
        messages=triaged(FULL["referrer_email"]),
        triage=reasons,
        **more,
    )


def ignored() -> dict[str, Any]:
    """Automatic mail: filed away, no case, nothing sent."""
    return expect("automatic", None, result=None, sin=None, rr=None, messages=[])


# ---- layouts -----------------------------------------------------------------------------------


@case("01_own_form_full")
def _own_form_full() -> tuple[bytes, dict[str, Any]]:
    raw = mailed(own_form(FULL), "CSPR referral form - NPA.docx", 1)
    return raw, acked(FULL, sin=SIN_FROM_27)


# What Priya typed into the older forms, by SPEC 4 field: UK dates, choices as words. A wording
# case's row that gives only (label, field) was typed like this.
PRIYA_TYPED: dict[str, Any] = {
    "referrer_name": "Priya Chaudhry",
    "referrer_role": "Designated Safeguarding Lead",
    "referrer_agency": "Netherton Primary Academy",
    "referrer_email": "p.chaudhry@netherton-primary.example.sch.uk",
    "referrer_phone": "01384 555 0142",
    "safeguarding_lead_consulted": "Yes",
    "child_name": "Tamsin Featherby",
    "child_dob": "03/12/2019",
    "child_gender": "Female",
    "child_ethnicity": "White British",
    "child_address": "14 Larkspur Close, Netherton, Dudley DY2 9QQ",
    "incident_date": "26/11/2026",
    "la_aware_date": "27/11/2026",
    "incident_type": "Serious harm",
    "incident_summary": SUMMARY,
    "abuse_or_neglect": "Suspected",
    "looked_after": "No",
    "national_panel_notified": "No",
    "rationale": RATIONALE,
}

# The labels a partnership's older form used, with the field each asks for.
OLDER_FORM: list[tuple[str, str]] = [
    ("Name of referrer", "referrer_name"),
    ("Job title of referrer", "referrer_role"),
    ("Referring agency", "referrer_agency"),
    ("Email address", "referrer_email"),
    ("Telephone number", "referrer_phone"),
    ("Discussed with safeguarding lead?", "safeguarding_lead_consulted"),
    ("Name of child", "child_name"),
    ("Date of birth", "child_dob"),
    ("Gender", "child_gender"),
    ("Ethnicity", "child_ethnicity"),
    ("Address", "child_address"),
    ("Date of incident", "incident_date"),
    ("Date LA became aware", "la_aware_date"),
    ("Death or serious harm", "incident_type"),
    ("Summary of incident", "incident_summary"),
    ("Abuse or neglect known or suspected", "abuse_or_neglect"),
    ("Looked after child", "looked_after"),
    ("National Panel notified", "national_panel_notified"),
    ("Rationale for referral", "rationale"),
]


def _pairs() -> dict[str, Any]:
    """The older form as Priya filled it in: {label: typed}."""
    return {label: PRIYA_TYPED[key] for label, key in OLDER_FORM}


def older_form(
    n: int,
    changes: Mapping[str, Any] | None = None,
    *blocks: Any,
    layout: Callable[..., bytes] = f.two_column,
    filename: str = "referral.docx",
    **layout_kw: Any,
) -> bytes:
    """The older form as ``layout`` lays it out (then ``blocks``), with ``changes`` to what was
    typed (new labels go last), mailed by Priya as message ``n``."""
    pairs = {**_pairs(), **(changes or {})}
    return mailed(fixed_zip(layout(pairs, *blocks, **layout_kw)), filename, n)


NO_AGENCIES = {**FULL, "agencies_involved": None}


@case("02_two_column_table")
def _two_column() -> tuple[bytes, dict[str, Any]]:
    return older_form(2), acked(NO_AGENCIES, sin=SIN_FROM_27)


@case("03_four_column_table")
def _four_column() -> tuple[bytes, dict[str, Any]]:
    summary = "Tamsin died at home on 26 November; cause of death not yet known."
    raw = older_form(
        3,
        {
            "Death or serious harm": "Death",
            "Abuse or neglect known or suspected": "Known",
            "Summary of incident": summary,
        },
        layout=f.four_column,
        filename="CSPR_referral_v3.docx",
    )
    ref = {
        **NO_AGENCIES,
        "incident_type": "death",
        "abuse_or_neglect": "known",
        "incident_summary": summary,
    }
    return raw, acked(ref, sin=SIN_FROM_27)


@case("04_label_paragraphs")
def _label_paragraphs() -> tuple[bytes, dict[str, Any]]:
    raw = older_form(4, layout=f.paragraphs, filename="referral (paragraphs).docx")
    return raw, acked(NO_AGENCIES, sin=SIN_FROM_27)


@case("05_value_in_next_paragraph")
def _next_paragraph() -> tuple[bytes, dict[str, Any]]:
    raw = older_form(5, layout=f.paragraphs, next_line=True)
    return raw, acked(NO_AGENCIES, sin=SIN_FROM_27)


@case("06_content_controls")
def _content_controls() -> tuple[bytes, dict[str, Any]]:
    pairs: dict[str, Any] = {
        "Referrer's name": "Priya Chaudhry",
        "Referrer's role": "Designated Safeguarding Lead",
        "Referrer's agency": "Netherton Primary Academy",
        "Referrer's email": "p.chaudhry@netherton-primary.example.sch.uk",
        "Referrer's telephone number": None,  # placeholder left in
        "Safeguarding lead consulted": f.DropDown("Yes", ("Yes", "No")),
        "Child's name": "Tamsin Featherby",
        "Child's date of birth": f.DatePicker("2019-12-03", "03/12/2019"),
        "Child's gender": f.DropDown(None, ("Female", "Male", "Other")),
        "Child's ethnicity": None,
        "Child's address": "14 Larkspur Close, Netherton, Dudley DY2 9QQ",
        "Date of incident": f.DatePicker(
            "2026-11-26", "Thursday, 26 November 2026", "dddd, d MMMM yyyy"
        ),
        "Date the local authority became aware": f.DatePicker(None),
        "Incident type": f.DropDown("Serious harm", ("Death", "Serious harm")),
        "Summary of the incident": SUMMARY,
        "Abuse or neglect": f.DropDown("Suspected", ("Known", "Suspected", "No", "Unknown")),
        "Is the child looked after?": f.DropDown("No", ("Yes", "No")),
        "National Panel notified": f.DropDown(None, ("Yes", "No")),
        "Date of notification": f.DatePicker(None),
        "Rationale": RATIONALE,
    }
    doc = fixed_zip(f.content_controls(pairs))
    raw = mailed(doc, "Referral form (controls).docx", 6)
    ref = {
        **NO_AGENCIES,
        "referrer_phone": None,
        "child_gender": None,
        "child_ethnicity": None,
        "la_aware_date": None,
        "national_panel_notified": None,
    }
    return raw, acked(ref, sin=SIN_FROM_MONDAY)


@case("07_legacy_form_fields")
def _legacy() -> tuple[bytes, dict[str, Any]]:
    pairs: dict[str, Any] = {
        "Name of referrer": "Priya Chaudhry",
        "Role/job title": "Designated Safeguarding Lead",
        "Your organisation": "Netherton Primary Academy",
        "Your email address": "p.chaudhry@netherton-primary.example.sch.uk",
        "Your telephone number": "",  # an empty FORMTEXT: five en spaces
        "Have you consulted your safeguarding lead?": f.legacy_options(("Yes", "No"), ("Yes",)),
        "Child's full name": "Tamsin Featherby",
        "DOB": "03/12/2019",
        "Gender": f.FormDropDown(("Please select", "Female", "Male"), 1),
        "Ethnicity": f.FormDropDown(("Please select", "White British", "Mixed"), 0),
        "Home address": "14 Larkspur Close, Netherton, Dudley DY2 9QQ",
        "Date of incident": "26/11/2026",
        "Date LA became aware": "27/11/2026",
        "Has the child died or been seriously harmed?": f.legacy_options(
            ("Death", "Serious harm"), ("Serious harm",)
        ),
        "Brief summary of the incident": SUMMARY,
        "Is abuse or neglect known or suspected?": f.legacy_options(
            ("Known", "Suspected", "No", "Unknown"), ("Suspected",)
        ),
        "Is the child looked after?": [
            f.FormCheckbox(False),
            " Yes   ",
            f.FormCheckbox(True, checked_without_val=True),
            " No",
        ],
        "Has the National Panel been notified?": [
            f.FormCheckbox(None, default=False),
            " Yes   ",
            f.FormCheckbox(None, default=True),
            " No",
        ],
        "Rationale": RATIONALE,
    }
    doc = fixed_zip(f.legacy_fields(pairs))
    raw = mailed(doc, "CSPR Referral (legacy fields).docx", 7)
    ref = {**NO_AGENCIES, "referrer_phone": None, "child_ethnicity": None}
    return raw, acked(ref, sin=SIN_FROM_27)


@case("08_w14_checkboxes")
def _w14() -> tuple[bytes, dict[str, Any]]:
    raw = older_form(
        8,
        {
            "Discussed with safeguarding lead?": f.w14_options(("Yes", "No"), ("Yes",)),
            "Death or serious harm": f.w14_options(("Death", "Serious harm"), ("Death",)),
            "Abuse or neglect known or suspected": f.w14_options(
                ("Known", "Suspected", "No", "Unknown"), ("Known",)
            ),
            "Looked after child": f.w14_options(("Yes", "No"), ("No",)),
            "National Panel notified": f.w14_options(("Yes", "No"), ("Yes",)),
            "Date of notification": "27/11/2026",
        },
    )
    ref = {
        **NO_AGENCIES,
        "incident_type": "death",
        "abuse_or_neglect": "known",
        "national_panel_notified": True,
        "notification_date": "2026-11-27",
    }
    # Notified on Fri 27 Nov: the Rapid Review runs 15 working days from the SIN date.
    return raw, acked(ref, sin=SIN_FROM_27, rr="2026-12-18")


@case("09_typed_marks")
def _typed_marks() -> tuple[bytes, dict[str, Any]]:
    raw = older_form(
        9,
        {
            "Discussed with safeguarding lead?": "☒ Yes   ☐ No",
            "Death or serious harm": "Death [ ]   Serious harm [X]",
            "Abuse or neglect known or suspected": "Known ☐  Suspected ☒  No ☐  Unknown ☐",
            "Looked after child": "Yes     No X",
            "National Panel notified": "[ ] Yes  [x] No",
        },
    )
    return raw, acked(NO_AGENCIES, sin=SIN_FROM_27)


@case("10_yes_no_spellings")
def _yes_no() -> tuple[bytes, dict[str, Any]]:
    raw = older_form(
        10,
        {
            "Discussed with safeguarding lead?": "Y",
            "Looked after child": "NO.",
            "National Panel notified": "Yes - done",
            "Date of notification": "Thurs 26th Nov 2026",
        },
    )
    ref = {**NO_AGENCIES, "national_panel_notified": True, "notification_date": "2026-11-26"}
    return raw, acked(ref, sin=SIN_FROM_27, rr="2026-12-17")


@case("11_agencies_table")
def _agencies() -> tuple[bytes, dict[str, Any]]:
    table = f.agencies_table(
        [
            ("WMP", "DC Ravi Okonjo", ""),
            ("Netherton Health Visiting", "Alys Brennan", "hv.netherton@example-nhs.uk"),
            ("Greenacre Nursery", "Mrs D. Latimer", "not known"),
            ("Dudley Children's Services", "", ""),
        ],
        header=("Agency / service", "Named contact", "Email address"),
    )
    raw = older_form(11, None, f.heading("Agencies involved with the child and family"), table)
    ref = {
        **FULL,
        "agencies_involved": [
            {"name": "WMP", "contact_name": "DC Ravi Okonjo", "email": None},
            {
                "name": "Netherton Health Visiting",
                "contact_name": "Alys Brennan",
                "email": "hv.netherton@example-nhs.uk",
            },
            {"name": "Greenacre Nursery", "contact_name": "Mrs D. Latimer", "email": None},
            {"name": "Dudley Children's Services", "contact_name": None, "email": None},
        ],
    }
    # WMP and Children's Services are in the directory; the nursery has no address: the
    # coordinators are told.
    return raw, acked(ref, sin=SIN_FROM_27, also=[NO_ADDRESS])


@case("12_relabelled_synonyms")
def _relabelled() -> tuple[bytes, dict[str, Any]]:
    pairs = {
        "Referred by": "Priya Chaudhry",
        "Your job title": "Designated Safeguarding Lead",
        "Your service": "Netherton Primary Academy",
        "Contact email": "p.chaudhry@netherton-primary.example.sch.uk",
        "Contact number": "01384 555 0142",
        "Is your safeguarding lead aware?": "Yes",
        "Young person": "Tamsin Featherby",  # the partnership's own label, from [labels]
        "D.O.B.": "03/12/2019",
        "Sex": "Female",
        "Ethnic origin": "White British",
        "Current address": "14 Larkspur Close, Netherton, Dudley DY2 9QQ",
        "When did the incident happen?": "26/11/2026",
        "When did the local authority become aware?": "27/11/2026",
        "Outcome for the child": "Seriously injured",
        "What has happened to the young person": SUMMARY,
        "Is abuse or neglect of the child known or suspected?": "Suspected",
        "Was the child a looked after child?": "No",
        "Has a serious incident notification been made?": "Not yet",
        "Why do you think this case meets the criteria?": RATIONALE,
    }
    doc = fixed_zip(
        f.two_column(pairs, title="Referral for a Local Child Safeguarding Practice Review")
    )
    raw = mailed(doc, "LCSPR referral.docx", 12)
    return raw, acked(NO_AGENCIES, sin=SIN_FROM_27)


# ---- UK dates ------------------------------------------------------------------------------------


def _dates_case(
    n: int, dob: str, incident: str, aware: str, notified: str
) -> tuple[bytes, dict[str, Any]]:
    raw = older_form(
        n,
        {
            "Date of birth": dob,
            "Date of incident": incident,
            "Date LA became aware": aware,
            "National Panel notified": "Yes",
            "Date of notification": notified,
        },
    )
    ref = {
        **NO_AGENCIES,
        "child_dob": "2019-12-03",
        "incident_date": "2026-11-25",
        "la_aware_date": "2026-11-26",
        "national_panel_notified": True,
        "notification_date": "2026-11-27",
    }
    return raw, acked(ref, sin=SIN_FROM_26, rr="2026-12-18")


@case("13_dates_numeric")
def _dates_numeric() -> tuple[bytes, dict[str, Any]]:
    return _dates_case(13, "03/12/2019", "25.11.26", "2026-11-26", "27-11-2026")


@case("14_dates_in_words")
def _dates_words() -> tuple[bytes, dict[str, Any]]:
    return _dates_case(
        14,
        "3rd December 2019",
        "Wednesday 25 November 2026",
        "26th of Nov. 2026",
        "Friday, 27 November 2026",
    )


@case("15_dates_short")
def _dates_short() -> tuple[bytes, dict[str, Any]]:
    return _dates_case(15, "3.12.19", "25/11/26", "Thu 26 Nov 2026", "November 27th, 2026")


# ---- mail layouts --------------------------------------------------------------------------------

BODY_REFERRAL = """Dear DSPP,

I would like to refer the following child for consideration of a CSPR. I have discussed this with
our safeguarding lead.

Referrer's name: Marcus Eddington
Role: Team Manager, Brierley Hill Family Support
Referrer's agency: Dudley Children's Services
Telephone: 01384 555 0199
Safeguarding lead consulted: Yes

Child's name: Oskar Lindqvist-Hale
Date of birth: 14/02/2023
Gender: Male
Address: Flat 3, 27 Quarry Bank Road, Brierley Hill DY5 1AB

Date of incident: 24/11/2026
Date the local authority became aware: 25/11/2026
Incident type: Serious harm
Summary of incident: Oskar was admitted to Russells Hall Hospital with a head injury that the
parents could not explain. He is stable.
Abuse or neglect: Suspected
Looked after: No
National Panel notified: No

Agencies involved: West Midlands Police; Russells Hall Hospital safeguarding team <safeguarding@example-nhs.uk>

Regards,
Marcus Eddington
Team Manager
"""

MARCUS = "Marcus Eddington <marcus.eddington@example-dudley.gov.uk>"
BODY_REF = referral(
    referrer_name="Marcus Eddington",
    referrer_role="Team Manager, Brierley Hill Family Support",
    referrer_agency="Dudley Children's Services",
    referrer_email="marcus.eddington@example-dudley.gov.uk",  # from the From header
    referrer_phone="01384 555 0199",
    safeguarding_lead_consulted=True,
    child_name="Oskar Lindqvist-Hale",
    child_dob="2023-02-14",
    child_gender="Male",
    child_address="Flat 3, 27 Quarry Bank Road, Brierley Hill DY5 1AB",
    incident_date="2026-11-24",
    la_aware_date="2026-11-25",
    incident_type="serious_harm",
    incident_summary=(
        "Oskar was admitted to Russells Hall Hospital with a head injury that the\n"
        "parents could not explain. He is stable."
    ),
    abuse_or_neglect="suspected",
    looked_after=False,
    national_panel_notified=False,
    agencies_involved=[
        {"name": "West Midlands Police", "contact_name": None, "email": None},
        {
            "name": "Russells Hall Hospital safeguarding team",
            "contact_name": None,
            "email": "safeguarding@example-nhs.uk",
        },
    ],
)
SIN_FROM_25 = "2026-12-02"


@case("16_body_only")
def _body_only() -> tuple[bytes, dict[str, Any]]:
    raw = send([text(BODY_REFERRAL)], 16, sender=MARCUS, subject="CSPR referral - no form attached")
    return raw, acked(BODY_REF, sin=SIN_FROM_25, to="marcus.eddington@example-dudley.gov.uk")


@case("17_forwarded_as_attachment")
def _forwarded_attachment() -> tuple[bytes, dict[str, Any]]:
    inner = message(
        sender=PRIYA,
        to="Helen Marsh <h.marsh@netherton-primary.example.sch.uk>",
        subject="CSPR referral for your review",
        date="Fri, 27 Nov 2026 15:40:00 +0000",
        msgid="inner-0017@netherton-primary.example.sch.uk",
        parts=[
            text("Helen, the referral for you to check before it goes.\n"),
            attach(own_form(FULL), "CSPR referral.docx"),
        ],
        boundary="=_inner_boundary_17",
    )
    cover = "Please see the referral attached below, forwarded on Priya's behalf.\n\nHelen Marsh\nHeadteacher\n"
    helen = "Helen Marsh <h.marsh@netherton-primary.example.sch.uk>"
    raw = send(
        [text(cover), rfc822(inner)], 17, sender=helen, subject="FW: CSPR referral for your review"
    )
    # The form's own referrer email stands; the acknowledgement goes to whoever sent the mail.
    return raw, acked(FULL, sin=SIN_FROM_27, to="h.marsh@netherton-primary.example.sch.uk")


@case("18_forwarded_body")
def _forwarded_body() -> tuple[bytes, dict[str, Any]]:
    body = (
        "Forwarding as requested - I have not changed anything.\n\nGemma\n\n"
        "---------- Forwarded message ---------\n"
        f"From: {MARCUS}\n"
        "Date: Fri, 27 Nov 2026 at 14:02\n"
        "Subject: CSPR referral\n"
        "To: Gemma Fairclough <gemma.fairclough@example-dudley.gov.uk>\n\n" + BODY_REFERRAL
    )
    gemma = "Gemma Fairclough <gemma.fairclough@example-dudley.gov.uk>"
    raw = send([text(body)], 18, sender=gemma, subject="Fwd: CSPR referral")
    # The body gives no referrer email; the forwarder's From is what we have, and we answer her.
    ref = {**BODY_REF, "referrer_email": "gemma.fairclough@example-dudley.gov.uk"}
    return raw, acked(ref, sin=SIN_FROM_25, to="gemma.fairclough@example-dudley.gov.uk")


# ---- outcomes ------------------------------------------------------------------------------------


LAC_REF = {
    **FULL,
    "referrer_name": "Daniel Osei",
    "referrer_role": "Independent Reviewing Officer",
    "referrer_agency": "Dudley Children's Services",
    "referrer_email": "daniel.osei@example-dudley.gov.uk",
    "referrer_phone": "01384 555 0177",
    "child_name": "Kieran Ashdown-Pryce",
    "child_dob": "2010-06-19",
    "child_gender": "Male",
    "child_ethnicity": "Mixed White and Black Caribbean",
    "child_address": "Maple House Children's Home, 5 Pensnett Road, Dudley DY1 2XY",
    "incident_date": "2026-11-28",
    "la_aware_date": "2026-11-28",
    "incident_type": "death",
    "incident_summary": "Kieran was found unresponsive in his room on Saturday morning.",
    "abuse_or_neglect": "unknown",
    "looked_after": True,
    "agencies_involved": [
        {"name": "CSC", "contact_name": "Daniel Osei", "email": "daniel.osei@example-dudley.gov.uk"}
    ],
    "rationale": "A looked-after child has died; circumstances not yet known.",
}


@case("19_looked_after_child_death")
def _lac() -> tuple[bytes, dict[str, Any]]:
    daniel = "Daniel Osei <daniel.osei@example-dudley.gov.uk>"
    raw = send(
        [text("Urgent referral attached.\n\nDaniel\n"), attach(own_form(LAC_REF), "referral.docx")],
        19,
        sender=daniel,
        subject="URGENT - CSPR referral, death of a looked after child",
    )
    # Abuse or neglect not known: criteria unclear, but the Secretary of State and Ofsted must be
    # told anyway. Aware on Sat 28 Nov: day 0 is that Saturday, the SIN is due Fri 4 Dec.
    return raw, acked(
        LAC_REF,
        sin="2026-12-04",
        to="daniel.osei@example-dudley.gov.uk",
        also=[LAC],
        result="unclear",
    )


@case("20_criteria_not_met")
def _not_met() -> tuple[bytes, dict[str, Any]]:
    ref = {
        **FULL,
        "incident_summary": (
            "Tamsin fell from playground equipment at school and broke her arm; witnessed by "
            "two staff."
        ),
        "abuse_or_neglect": "no",
        "rationale": "Referred for completeness at the request of the school governors.",
    }
    raw = mailed(own_form(ref), "referral.docx", 20)
    return raw, acked(ref, sin=SIN_FROM_27, result="not_met")


@case("21_criteria_unclear")
def _unclear() -> tuple[bytes, dict[str, Any]]:
    raw = older_form(
        21, {"Abuse or neglect known or suspected": "Don't know yet - police enquiries ongoing"}
    )
    ref = {**NO_AGENCIES, "abuse_or_neglect": "unknown"}
    return raw, acked(ref, sin=SIN_FROM_27, result="unclear")


@case("22_key_fields_missing")
def _missing() -> tuple[bytes, dict[str, Any]]:
    values = {k: v for k, v in FULL.items() if k not in ("child_name", "incident_type")}
    raw = mailed(own_form(values), "referral.docx", 22)
    ref = {**FULL, "child_name": None, "incident_type": None}
    return raw, for_triage(
        ref,
        ["missing", "the child's name", "whether the child died or was seriously harmed"],
        sin=SIN_FROM_27,
    )


# Not told when the local authority became aware: the SIN runs from receipt, which the 17:00
# cut-off decides.
UNAWARE = {**FULL, "la_aware_date": None}


@case("23_friday_1701_rolls_to_monday")
def _after_cutoff() -> tuple[bytes, dict[str, Any]]:
    raw = mailed(own_form(UNAWARE), "referral.docx", 23, date="Fri, 27 Nov 2026 17:01:00 +0000")
    # Received Mon 30 Nov: SIN (provisional, from receipt) Mon 7 Dec, Rapid Review Mon 21 Dec.
    return raw, acked(UNAWARE, sin=SIN_FROM_MONDAY)


@case("24_friday_1659_counts_friday")
def _before_cutoff() -> tuple[bytes, dict[str, Any]]:
    raw = mailed(own_form(UNAWARE), "referral.docx", 24, date="Fri, 27 Nov 2026 16:59:00 +0000")
    return raw, acked(UNAWARE, sin=SIN_FROM_27, rr="2026-12-18", received_on="2026-11-27")


HTML_REF = referral(
    referrer_name="Sian Pritchard",
    referrer_role="Named Nurse for Safeguarding Children",
    referrer_email="s.pritchard@example-nhs.uk",
    child_name="Roisin Delacroix-Mbeki",
    child_dob="2024-07-07",
    incident_date="2026-11-24",
    incident_type="serious_harm",
    incident_summary=(
        "Roisin was admitted with a spiral fracture of the femur; the parents' account is "
        "inconsistent."
    ),
    abuse_or_neglect="suspected",
    looked_after=False,
)


@case("25_html_table_body")
def _html_body() -> tuple[bytes, dict[str, Any]]:
    # Outlook, HTML only: the referral typed into a two-column table in the body.
    summary = (
        "Roisin was admitted with a spiral fracture of the femur; the parents&#39; account is "
        "inconsistent."
    )
    html = """<html><body><p>Hi,</p><p>Referral below as our form would not attach.</p>
<table border=1><tr><td><b>Referrer's name</b></td><td>Sian Pritchard</td></tr>
<tr><td><b>Role</b></td><td>Named Nurse for Safeguarding Children</td></tr>
<tr><td><b>Email</b></td><td><a href="mailto:s.pritchard@example-nhs.uk">s.pritchard@example-nhs.uk</a></td></tr>
<tr><td>Child&#39;s name</td><td>Roisin Delacroix-Mbeki</td></tr>
<tr><td>Date of birth</td><td>07/07/2024</td></tr>
<tr><td>Date of incident</td><td>Tuesday 24th November 2026</td></tr>
<tr><td>Has the child died or been seriously harmed?</td><td>Seriously harmed</td></tr>
<tr><td>Summary</td><td>{SUMMARY_25}</td></tr>
<tr><td>Abuse or neglect known or suspected?</td><td>Suspected</td></tr>
<tr><td>Looked after?</td><td>No</td></tr>
</table>
<p>Kind regards</p><p>Sian</p></body></html>""".replace("{SUMMARY_25}", summary)
    part = Part('text/html; charset="utf-8"', _qp(html), encoding="quoted-printable")
    sian = "Sian Pritchard <s.pritchard@example-nhs.uk>"
    raw = send([part], 25, sender=sian, subject="Referral for CSPR consideration")
    return raw, acked(HTML_REF, sin=SIN_FROM_MONDAY, to=HTML_REF["referrer_email"])


@case("27_body_signature_and_na_answers")
def _signature() -> tuple[bytes, dict[str, Any]]:
    # A referral typed in the body, a signature whose "Address:" is the surgery's (not the
    # child's), and "N/A" / "N/K" answers, which are not "No".
    body = """Referral for consideration of a CSPR, as discussed with Dr Okafor (named GP).

Referrer's name: Dr Hannah Voss
Child's name: Elodie Marchbanks
DOB: 21/01/2021
Incident type: Death
Date of death: 28/11/2026
Summary: Elodie was found unresponsive at home and could not be revived. Concerns about
neglect had been raised by the health visitor in the summer.
Abuse or neglect: Suspected
Looked after: N/A
National Panel notified: N/K

Kind regards

Dr Hannah Voss
GP Partner, Wordsley Green Surgery
Tel: 01384 555 0166
Address: Wordsley Green Surgery, 9 Brook Street, Stourbridge DY8 5YL
"""
    hannah = "Dr Hannah Voss <hannah.voss@example-nhs.uk>"
    raw = send([text(body)], 27, sender=hannah, subject="CSPR referral (death)")
    ref = referral(
        referrer_name="Dr Hannah Voss",
        referrer_email="hannah.voss@example-nhs.uk",
        referrer_phone="01384 555 0166",  # her signature's telephone is hers
        child_name="Elodie Marchbanks",
        child_dob="2021-01-21",
        incident_date="2026-11-28",
        incident_type="death",
        incident_summary=(
            "Elodie was found unresponsive at home and could not be revived. Concerns about\n"
            "neglect had been raised by the health visitor in the summer."
        ),
        abuse_or_neglect="suspected",
    )
    return raw, acked(ref, sin=SIN_FROM_MONDAY, to="hannah.voss@example-nhs.uk")


@case("26_blank_form_sent_by_mistake")
def _blank() -> tuple[bytes, dict[str, Any]]:
    raw = mailed(fixed_zip(formgen.blank_referral()), "CSPR referral form.docx", 26)
    # The form is ours, so it is read; nothing is filled in but the sender's address.
    ref = referral(referrer_email=FULL["referrer_email"])
    return raw, for_triage(
        ref,
        [
            "missing",
            "the child's name",
            "whether the child died or was seriously harmed",
            "a summary of the incident",
            "the date of the incident",
        ],
    )


def _qp(text: str) -> bytes:
    import quopri

    return quopri.encodestring(text.encode("utf-8"))


# ---- bad inputs ----------------------------------------------------------------------------------


def _bad(n: int, att: Part, reasons: Sequence[str], **kw: Any) -> tuple[bytes, dict[str, Any]]:
    raw = send([text(COVER), att], n, **kw.pop("send", {}))
    return raw, for_triage({}, reasons, **kw)


@case("30_corrupt_zip_named_docx")
def _corrupt() -> tuple[bytes, dict[str, Any]]:
    data = own_form(FULL)
    data = data[: len(data) // 2]  # the upload was cut short
    return _bad(30, attach(data, "CSPR referral.docx"), ["CSPR referral.docx", "damaged"])


@case("31_encrypted_docx")
def _encrypted() -> tuple[bytes, dict[str, Any]]:
    data = cfb(["\x06DataSpaces", "EncryptionInfo", "EncryptedPackage"])
    return _bad(
        31, attach(data, "Referral PROTECTED.docx"), ["Referral PROTECTED.docx", "password"]
    )


@case("32_legacy_doc")
def _doc() -> tuple[bytes, dict[str, Any]]:
    data = cfb(["WordDocument", "1Table", "\x05SummaryInformation"])
    return _bad(
        32,
        attach(data, "CSPR referral form.doc", "application/msword"),
        ["CSPR referral form.doc", ".doc"],
    )


@case("33_pdf")
def _pdf() -> tuple[bytes, dict[str, Any]]:
    data = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    return _bad(
        33,
        attach(data, "CSPR referral (scan).pdf", "application/pdf"),
        ["CSPR referral (scan).pdf", "PDF"],
    )


@case("34_zip_bomb")
def _bomb() -> tuple[bytes, dict[str, Any]]:
    return _bad(34, attach(zip_bomb(), "referral.docx"), ["referral.docx", "expand"])


@case("35_xml_entity_bomb")
def _entities() -> tuple[bytes, dict[str, Any]]:
    return _bad(
        35, attach(entity_bomb(), "referral.docx"), ["referral.docx", "a Word form never has"]
    )


@case("36_missing_closing_boundary")
def _truncated_mime() -> tuple[bytes, dict[str, Any]]:
    raw = mailed(own_form(FULL), "CSPR referral.docx", 36, close=False)
    raw = raw[: len(raw) * 2 // 3]  # the message was cut off mid-attachment: no closing boundary
    return raw, for_triage({}, ["CSPR referral.docx", "damaged"])


@case("37_bad_base64")
def _bad_base64() -> tuple[bytes, dict[str, Any]]:
    raw = mailed(own_form(FULL), "CSPR referral.docx", 37)
    head, sep, rest = raw.partition(b'filename="CSPR referral.docx"')
    cut = len(rest) // 2
    rest = rest[:cut] + b"!!*%%" + rest[cut + 7 :]  # seven characters lost, junk in their place
    return head + sep + rest, for_triage({}, ["CSPR referral.docx", "damaged"])


@case("38_undeclared_8bit_subject")
def _eight_bit() -> tuple[bytes, dict[str, Any]]:
    # Outlook on a misconfigured relay: cp1252 bytes in the Subject, no encoded-word. The
    # referral itself is fine and must be read.
    subject = "CSPR referral \x96 urgent, r\xe9f NPA/2026/114".encode("latin-1")
    raw = mailed(own_form(FULL), "referral.docx", 38, subject=subject)
    return raw, acked(FULL, sin=SIN_FROM_27, subject="CSPR referral – urgent, réf NPA/2026/114")


@case("39_rfc2231_file_name")
def _rfc2231() -> tuple[bytes, dict[str, Any]]:
    name = "Référral – Ysgol Gymraeg (scan).pdf"
    pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    from urllib.parse import quote

    encoded = quote(name.encode("utf-8"))
    half = encoded.index("%20", len(encoded) // 3)  # a segment never splits a %XX escape
    part = Part(
        "application/pdf",
        pdf,
        filename=None,
        disposition_extra=(
            f";\r\n filename*0*=UTF-8''{encoded[:half]};\r\n filename*1*={encoded[half:]}"
        ),
    )
    return _bad(39, part, [name, "PDF"], attachments=[name])


# ---- automatic mail ------------------------------------------------------------------------------


@case("40_out_of_office")
def _ooo() -> tuple[bytes, dict[str, Any]]:
    raw = send(
        [
            text(
                "I am out of the office until Monday 7 December with no access to email.\n"
                "For urgent safeguarding matters please call the MASH on 0300 555 0050.\n"
            )
        ],
        40,
        sender="Alys Brennan <hv.netherton@example-nhs.uk>",
        subject="Automatic reply: [DSPP-2026-0003] Initial Scoping request",
        extra=(
            "Auto-Submitted: auto-replied",
            "X-Auto-Response-Suppress: All",
            "In-Reply-To: <unknown-0040@example.gov.uk>",
        ),
    )
    return raw, ignored()


@case("41_dsn_bounce")
def _dsn() -> tuple[bytes, dict[str, Any]]:
    original = (
        b"From: DSPP <dsppb@example.gov.uk>\r\nTo: nobody@example-closed.org\r\n"
        b"Subject: OFFICIAL-SENSITIVE [DSPP-2026-0004] Initial Scoping request\r\n"
        b"Message-ID: <cspr.0004.x@example.gov.uk>\r\nDate: Mon, 30 Nov 2026 08:30:00 +0000\r\n"
    )
    status = (
        b"Reporting-MTA: dns; mx.example.gov.uk\r\n\r\n"
        b"Final-Recipient: rfc822; nobody@example-closed.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
    )
    raw = send(
        [
            text("Your message could not be delivered to nobody@example-closed.org.\n"),
            Part("message/delivery-status", status, encoding="7bit"),
            Part("text/rfc822-headers", original, encoding="7bit"),
        ],
        41,
        sender="Mail Delivery System <MAILER-DAEMON@mx.example.gov.uk>",
        subject="Undelivered Mail Returned to Sender",
        multipart="report",
        top_params="; report-type=delivery-status",
        extra=("Return-Path: <>",),
    )
    return raw, ignored()


@case("42_mailing_list")
def _list() -> tuple[bytes, dict[str, Any]]:
    raw = send(
        [
            text(
                "This month: new Working Together guidance, the National Panel's annual report,\n"
                "and dates for multi-agency training.\nChild's name: not applicable\n"
            )
        ],
        42,
        sender="WM Safeguarding Network <news@example-wmsafeguarding.org.uk>",
        subject="December bulletin: CSPR learning and training dates",
        extra=(
            "List-Id: WM Safeguarding bulletin <bulletin.example-wmsafeguarding.org.uk>",
            "List-Unsubscribe: <mailto:leave@example-wmsafeguarding.org.uk>",
            "Precedence: bulk",
        ),
    )
    return raw, ignored()


# ---- wordings real partnerships use --------------------------------------------------------------
# Ten referrals worded as published CSPR / Rapid Review referral and notification forms of English
# (and one Scottish) safeguarding partnerships word them: questions instead of labels, the Serious
# Incident Notification for the National Panel notification, "reporter" for referrer, "family
# composition" for the household. Each row is (the form's label, the SPEC 4 field it asks for, what
# was typed); WORDINGS keeps every (label, field) so tests/test_forms.py can measure the fuzzy
# matcher against them. The expectations are written by hand.

WORDINGS: list[tuple[str, str]] = []
Row = tuple[str, str, Any]
Asked = tuple[str, str]  # (the form's label, the field): answered as PRIYA_TYPED has it


def worded(rows: Sequence[Row | Asked]) -> dict[str, Any]:
    """The rows as {label: typed} for docxfactory, noting each label's field in WORDINGS."""
    pairs: dict[str, Any] = {}
    for row in rows:
        label, key = row[0], row[1]
        assert key in REFERRAL_FIELDS, key
        WORDINGS.append((label, key))
        pairs[label] = row[2] if len(row) == 3 else PRIYA_TYPED[key]
    return pairs


def body_worded(lines: Sequence[str | Row]) -> str:
    """A body: plain lines as they are, rows as "label value" (the label keeps its own ':' or '?')."""
    out: list[str] = []
    for line in lines:
        if isinstance(line, str):
            out.append(line)
            continue
        label, key, typed = line
        WORDINGS.append((label.rstrip(":?").strip(), key))
        out.append(f"{label} {typed}")
    return "\n".join(out) + "\n"


# The labels of the corpus's older forms and bodies (cases 02-27), with the field each asks for.
OLDER_WORDINGS: list[tuple[str, str]] = [
    # _pairs(): cases 02-05, 08-11, 13-15, 20, 21
    *OLDER_FORM,
    ("Date of notification", "notification_date"),
    # 06: content controls
    ("Referrer's name", "referrer_name"),
    ("Referrer's role", "referrer_role"),
    ("Referrer's agency", "referrer_agency"),
    ("Referrer's email", "referrer_email"),
    ("Referrer's telephone number", "referrer_phone"),
    ("Safeguarding lead consulted", "safeguarding_lead_consulted"),
    ("Child's name", "child_name"),
    ("Child's date of birth", "child_dob"),
    ("Child's gender", "child_gender"),
    ("Child's ethnicity", "child_ethnicity"),
    ("Child's address", "child_address"),
    ("Date the local authority became aware", "la_aware_date"),
    ("Incident type", "incident_type"),
    ("Summary of the incident", "incident_summary"),
    ("Abuse or neglect", "abuse_or_neglect"),
    ("Is the child looked after?", "looked_after"),
    ("Rationale", "rationale"),
    # 07: legacy form fields
    ("Role/job title", "referrer_role"),
    ("Your organisation", "referrer_agency"),
    ("Your email address", "referrer_email"),
    ("Your telephone number", "referrer_phone"),
    ("Have you consulted your safeguarding lead?", "safeguarding_lead_consulted"),
    ("Child's full name", "child_name"),
    ("DOB", "child_dob"),
    ("Home address", "child_address"),
    ("Has the child died or been seriously harmed?", "incident_type"),
    ("Brief summary of the incident", "incident_summary"),
    ("Is abuse or neglect known or suspected?", "abuse_or_neglect"),
    ("Has the National Panel been notified?", "national_panel_notified"),
    # 12: relabelled synonyms
    ("Referred by", "referrer_name"),
    ("Your job title", "referrer_role"),
    ("Your service", "referrer_agency"),
    ("Contact email", "referrer_email"),
    ("Contact number", "referrer_phone"),
    ("Is your safeguarding lead aware?", "safeguarding_lead_consulted"),
    ("D.O.B.", "child_dob"),
    ("Sex", "child_gender"),
    ("Ethnic origin", "child_ethnicity"),
    ("Current address", "child_address"),
    ("When did the incident happen?", "incident_date"),
    ("When did the local authority become aware?", "la_aware_date"),
    ("Outcome for the child", "incident_type"),
    ("Is abuse or neglect of the child known or suspected?", "abuse_or_neglect"),
    ("Was the child a looked after child?", "looked_after"),
    ("Has a serious incident notification been made?", "national_panel_notified"),
    ("Why do you think this case meets the criteria?", "rationale"),
    # 16, 18, 25, 27: bodies
    ("Role", "referrer_role"),
    ("Telephone", "referrer_phone"),
    ("Email", "referrer_email"),
    ("Looked after", "looked_after"),
    ("Agencies involved", "agencies_involved"),
    ("Summary", "incident_summary"),
    ("Looked after?", "looked_after"),
    ("Abuse or neglect known or suspected?", "abuse_or_neglect"),
    ("Date of death", "incident_date"),
    ("Tel", "referrer_phone"),
]

SIN_NOTIFIED_27 = "2026-12-18"  # the Rapid Review: 15 working days from a SIN sent Fri 27 Nov


@case("52_wording_nhs_reporter")
def _nhs_reporter() -> tuple[bytes, dict[str, Any]]:
    # A health trust's serious incident form turned to CSPR use: "reporter", "what happened".
    summary = "Spiral fracture of the femur at 4 months; the parents' account is inconsistent."
    rows: list[Row] = [
        ("Reporter Name", "referrer_name", "Sian Pritchard"),
        ("Reporter Job title/Role", "referrer_role", "Named Nurse for Safeguarding Children"),
        ("Reporting Organisation", "referrer_agency", "Dudley Group NHS Foundation Trust"),
        ("Reporter Tel No", "referrer_phone", "01384 555 0101"),
        ("Reporter Email", "referrer_email", "s.pritchard@example-nhs.uk"),
        ("Patient name", "child_name", "Roisin Delacroix-Mbeki"),
        ("Patient Date of Birth", "child_dob", "07/07/2024"),
        ("Patient Gender", "child_gender", "Female"),
        ("Patient Ethnic Group", "child_ethnicity", "Mixed White and Black African"),
        ("Patient NHS Number", "child_nhs_number", "485 777 3456"),
        ("Date of Incident", "incident_date", "24/11/2026"),
        ("Date Incident Identified", "la_aware_date", "25/11/2026"),
        ("Type of Incident", "incident_type", "Serious injury"),
        ("Description of What Happened", "incident_summary", summary),
        ("Is abuse or neglect known or suspected?", "abuse_or_neglect", "Suspected"),
        ("Police involvement?", "police_investigation", "Yes"),
    ]
    doc = fixed_zip(f.two_column(worded(rows), title="Serious Incident Notification Form"))
    sian = "Sian Pritchard <s.pritchard@example-nhs.uk>"
    raw = mailed(doc, "SI notification.docx", 52, sender=sian)
    ref = referral(
        **pick(HTML_REF, "referrer_name", "referrer_role", "referrer_email", "child_name"),
        **pick(HTML_REF, "child_dob", "incident_date", "incident_type", "abuse_or_neglect"),
        referrer_agency="Dudley Group NHS Foundation Trust",
        referrer_phone="01384 555 0101",
        child_gender="Female",
        child_ethnicity="Mixed White and Black African",
        child_nhs_number="485 777 3456",
        la_aware_date="2026-11-25",
        incident_summary=summary,
        police_investigation=True,
    )
    return raw, acked(ref, sin="2026-12-02", to=HTML_REF["referrer_email"])


@case("53_wording_case_for_consideration")
def _consideration() -> tuple[bytes, dict[str, Any]]:
    # A "case for consideration for review" form: family composition and other agencies as tables.
    rows: list[Row | Asked] = [
        ("Name of referring officer", "referrer_name"),
        ("Designation", "referrer_role"),
        ("Organisation", "referrer_agency"),
        ("Contact telephone", "referrer_phone"),
        ("Secure email address", "referrer_email"),
        ("Name Of Child", "child_name"),
        ("Date of Birth", "child_dob"),
        ("Home Address", "child_address"),
        ("Ethnic origin", "child_ethnicity"),
        ("Date of critical incident", "incident_date"),
        ("Date the local authority was made aware", "la_aware_date"),
        ("Death or serious injury", "incident_type", "Serious injury"),
        ("Circumstances that triggered the referral", "incident_summary"),
        ("Abuse or neglect known or suspected", "abuse_or_neglect"),
        ("Reasons for considering a review", "rationale"),
    ]
    family = f.table(
        [
            ("Name", "Relationship to child", "DOB", "Address"),
            ("Lauren Featherby", "Mother", "14/02/1996", "Same as the child"),
            ("Craig Mottram", "Mother's partner", "not known", "Same as the child"),
            ("", "", "", ""),
        ]
    )
    agencies = f.agencies_table(
        [
            ("WMP", "DC Ravi Okonjo", ""),
            ("Netherton Health Visiting", "", "hv.netherton@example-nhs.uk"),
        ],
        header=("Agency", "Named contact", "Secure email"),
    )
    doc = fixed_zip(
        f.two_column(
            worded(rows),
            f.heading("Family composition/Significant Others"),
            family,
            f.heading("Other agencies involved"),
            agencies,
            title="Case for Consideration for a Child Safeguarding Practice Review",
        )
    )
    raw = mailed(doc, "Case for consideration.docx", 53)
    ref = {
        **NO_AGENCIES,
        "child_gender": None,
        "safeguarding_lead_consulted": None,
        "looked_after": None,
        "national_panel_notified": None,
        "household": [
            {"name": "Lauren Featherby", "relationship": "Mother", "dob": "1996-02-14"},
            {"name": "Craig Mottram", "relationship": "Mother's partner", "dob": "not known"},
        ],
        "agencies_involved": [
            {"name": "WMP", "contact_name": "DC Ravi Okonjo", "email": None},
            {
                "name": "Netherton Health Visiting",
                "contact_name": None,
                "email": "hv.netherton@example-nhs.uk",
            },
        ],
    }
    return raw, acked(ref, sin=SIN_FROM_27)


@case("54_wording_initial_notification")
def _initial_notification() -> tuple[bytes, dict[str, Any]]:
    # The shape of an initial case review notification: "identifier", "current legal status",
    # "education establishment", "grounds on which the criteria may have been met".
    rows: list[Row] = [
        ("Name of the designated person making this notification", "referrer_name", "Daniel Osei"),
        ("Their role", "referrer_role", "Independent Reviewing Officer"),
        ("Agency making the notification", "referrer_agency", "Dudley Children's Services"),
        ("Email", "referrer_email", "daniel.osei@example-dudley.gov.uk"),
        ("Child's name/identifier", "child_name", "Kieran Ashdown-Pryce"),
        ("Child's date of birth", "child_dob", "19/06/2010"),
        ("Child's gender", "child_gender", "Male"),
        ("Child's home address", "child_address", "5 Pensnett Road, Dudley DY1 2XY"),
        ("Child's current legal status", "legal_status", "Child protection plan"),
        ("Education establishment details", "child_school", "Pensnett High School"),
        ("Date of the incident", "incident_date", "28/11/2026"),
        ("Has the child died or been seriously harmed?", "incident_type", "Seriously harmed"),
        ("Is abuse or neglect known or suspected?", "abuse_or_neglect", "Known"),
        ("What happened to the child", "incident_summary", "Kieran was stabbed near his home."),
        (
            "Grounds on which the criteria for a review may have been met",
            "rationale",
            "Known to CSC under a CP plan for criminal exploitation.",
        ),
    ]
    doc = fixed_zip(f.four_column(worded(rows)))
    daniel = "Daniel Osei <daniel.osei@example-dudley.gov.uk>"
    raw = mailed(doc, "initial notification.docx", 54, sender=daniel)
    ref = referral(
        **pick(LAC_REF, "referrer_name", "referrer_role", "referrer_agency", "referrer_email"),
        **pick(LAC_REF, "child_name", "child_dob", "child_gender"),
        child_address="5 Pensnett Road, Dudley DY1 2XY",
        legal_status="child_protection_plan",
        child_school="Pensnett High School",
        incident_date="2026-11-28",
        incident_type="serious_harm",
        abuse_or_neglect="known",
        incident_summary="Kieran was stabbed near his home.",
        rationale="Known to CSC under a CP plan for criminal exploitation.",
    )
    return raw, acked(ref, sin=SIN_FROM_MONDAY, to=LAC_REF["referrer_email"])


@case("55_wording_marf_style")
def _marf_style() -> tuple[bytes, dict[str, Any]]:
    # A multi-agency referral form's front page reused for CSPR referrals.
    rows: list[Row | Asked] = [
        ("Date of Referral", "referral_date", "30/11/2026"),
        ("Name of Referrer", "referrer_name"),
        ("Role of person completing referral", "referrer_role"),
        ("Agency/School", "referrer_agency"),
        ("Telephone Number", "referrer_phone"),
        ("Email address", "referrer_email"),
        (
            "Have you discussed this with your designated safeguarding lead?",
            "safeguarding_lead_consulted",
        ),
        (
            "Name and contact of designated Safeguarding lead",
            "safeguarding_lead_name",
            "Helen Marsh",
        ),
        ("Child's full name", "child_name"),
        ("Date of birth (dd/mm/yy)", "child_dob", "03/12/19"),
        ("Gender (m/f)", "child_gender"),
        ("Ethnicity", "child_ethnicity"),
        ("Home address", "child_address"),
        ("Postcode", "child_postcode", "DY2 9QQ"),
        ("School/nursery attended", "child_school", "Netherton Primary Academy"),
        ("Date of incident", "incident_date"),
        ("Date LA became aware", "la_aware_date"),
        ("Nature of incident", "incident_type"),
        ("Details of the incident", "incident_summary"),
        ("Is abuse or neglect known or suspected?", "abuse_or_neglect"),
        ("Is the child a looked after child?", "looked_after"),
        ("Has a Serious Incident Notification been submitted?", "national_panel_notified"),
        ("Reason for referral", "rationale"),
    ]
    doc = fixed_zip(f.two_column(worded(rows), title="Multi-Agency Referral Form: CSPR"))
    raw = mailed(doc, "MARF CSPR.docx", 55)
    ref = {
        **NO_AGENCIES,
        "referral_date": "2026-11-30",
        "safeguarding_lead_name": "Helen Marsh",
        "child_postcode": "DY2 9QQ",
        "child_school": "Netherton Primary Academy",
    }
    return raw, acked(ref, sin=SIN_FROM_27)


BODY_QUESTIONS = [
    "Hello,",
    "",
    "Our form will not open on this laptop, so here are the form's questions with my answers.",
    "",
    ("Your name:", "referrer_name", "Gemma Fairclough"),
    ("Your role:", "referrer_role", "Social Worker"),
    ("Your agency:", "referrer_agency", "Dudley Children's Services"),
    ("What is the child's name?", "child_name", "Ellis Okonkwo-Baines"),
    ("What is the child's date of birth?", "child_dob", "09/09/2018"),
    ("What is the child's home address?", "child_address", "22 Cradley Road, Halesowen B63 2UR"),
    ("When did the incident happen?", "incident_date", "25/11/2026"),
    ("When did the local authority become aware?", "la_aware_date", "26/11/2026"),
    ("Has the child died or been seriously harmed?", "incident_type", "Serious harm"),
    ("Is abuse or neglect known or suspected?", "abuse_or_neglect", "Suspected"),
    ("Is the child looked after?", "looked_after", "No"),
    ("What happened?", "incident_summary", "Ellis was found with burns to both hands."),
    ("Which agencies are involved?", "agencies_involved", ""),
    "West Midlands Police (DS Patel)",
    "Cradley Primary School",
    "dsl@cradley-primary.example.sch.uk",
    "Children's Social Care - mash@example-dudley.gov.uk",
    "",
    "Thanks",
    "Gemma",
]


@case("56_body_questions_answered")
def _body_questions() -> tuple[bytes, dict[str, Any]]:
    # The form's own questions typed into the body, answered after the question mark; agencies as
    # "Name (Contact)", a school's address on the line under it, "Name - email".
    gemma = "Gemma Fairclough <gemma.fairclough@example-dudley.gov.uk>"
    raw = send([text(body_worded(BODY_QUESTIONS))], 56, sender=gemma, subject="CSPR referral")
    ref = referral(
        referrer_name="Gemma Fairclough",
        referrer_role="Social Worker",
        referrer_agency="Dudley Children's Services",
        referrer_email="gemma.fairclough@example-dudley.gov.uk",
        child_name="Ellis Okonkwo-Baines",
        child_dob="2018-09-09",
        child_address="22 Cradley Road, Halesowen B63 2UR",
        incident_date="2026-11-25",
        la_aware_date="2026-11-26",
        incident_type="serious_harm",
        abuse_or_neglect="suspected",
        looked_after=False,
        incident_summary="Ellis was found with burns to both hands.",
        agencies_involved=[
            {"name": "West Midlands Police", "contact_name": "DS Patel", "email": None},
            {
                "name": "Cradley Primary School",
                "contact_name": None,
                "email": "dsl@cradley-primary.example.sch.uk",
            },
            {
                "name": "Children's Social Care",
                "contact_name": None,
                "email": "mash@example-dudley.gov.uk",
            },
        ],
    )
    return raw, acked(ref, sin="2026-12-03", to="gemma.fairclough@example-dudley.gov.uk")


@case("57_forwarded_own_lines")
def _forwarded_own_lines() -> tuple[bytes, dict[str, Any]]:
    # A forwarded referral whose own lines come after the summary: "Died or seriously harmed" is a
    # question of its own, not more of the summary.
    inner = body_worded(
        [
            ("Name of child:", "child_name", "Oskar Lindqvist-Hale"),
            ("DOB:", "child_dob", "14/02/2023"),
            ("Date of incident:", "incident_date", "24/11/2026"),
            (
                "Summary:",
                "incident_summary",
                "Oskar was admitted with a head injury the parents could not explain.",
            ),
            ("Died or seriously harmed:", "incident_type", "serious harm"),
            ("Abuse/neglect known or suspected:", "abuse_or_neglect", "suspected"),
            ("Child looked after:", "looked_after", "no"),
            ("Police investigating:", "police_investigation", "yes"),
        ]
    )
    body = (
        "Forwarding the referral below from the hospital team.\n\nMarcus\n\n"
        "---------- Forwarded message ---------\n"
        "From: Russells Hall Safeguarding <safeguarding@example-nhs.uk>\n"
        "Date: Fri, 27 Nov 2026 at 11:15\n"
        "Subject: Referral\n"
        f"To: {MARCUS}\n\n" + inner
    )
    raw = send([text(body)], 57, sender=MARCUS, subject="Fwd: Referral")
    ref = referral(
        **pick(BODY_REF, "referrer_email", "child_name", "child_dob", "incident_date"),
        **pick(BODY_REF, "incident_type", "abuse_or_neglect", "looked_after"),
        incident_summary="Oskar was admitted with a head injury the parents could not explain.",
        police_investigation=True,
    )
    return raw, acked(ref, sin=SIN_FROM_MONDAY, to=BODY_REF["referrer_email"])


@case("58_wording_serious_incident_notification")
def _sin_wording() -> tuple[bytes, dict[str, Any]]:
    # "Serious Incident Notification" for the National Panel notification, parallel processes and
    # other children asked as questions, four columns.
    rows: list[Row | Asked] = [
        ("Name of person making the referral", "referrer_name"),
        ("Job title", "referrer_role"),
        ("Organisation", "referrer_agency"),
        ("Email address", "referrer_email"),
        ("Child's name", "child_name"),
        ("Child's date of birth", "child_dob"),
        ("Date of the serious incident", "incident_date"),
        ("Date the local authority became aware", "la_aware_date"),
        ("Death or serious harm?", "incident_type"),
        ("Abuse or neglect known or suspected?", "abuse_or_neglect"),
        ("Summary of the incident", "incident_summary"),
        ("Has a Serious Incident Notification been made?", "national_panel_notified", "Yes"),
        ("Date Serious Incident Notification submitted", "notification_date", "27/11/2026"),
        ("Is there a police investigation?", "police_investigation", "Yes"),
        (
            "Are there any parallel processes (e.g. coroner, criminal or family proceedings)?",
            "parallel_processes",
            "Coroner informed; criminal investigation.",
        ),
        (
            "Are there other children at risk and how are they being safeguarded?",
            "other_children_at_risk",
            "A half-brother, 2, placed with his father.",
        ),
        ("Why do you think this case meets the criteria?", "rationale"),
    ]
    doc = fixed_zip(f.four_column(worded(rows)))
    raw = mailed(doc, "SIN referral.docx", 58)
    ref = referral(
        **pick(FULL, "referrer_name", "referrer_role", "referrer_agency", "referrer_email"),
        **pick(FULL, "child_name", "child_dob", "incident_date", "la_aware_date"),
        **pick(FULL, "incident_type", "abuse_or_neglect", "incident_summary", "rationale"),
        national_panel_notified=True,
        notification_date="2026-11-27",
        police_investigation=True,
        parallel_processes="Coroner informed; criminal investigation.",
        other_children_at_risk="A half-brother, 2, placed with his father.",
    )
    return raw, acked(ref, sin=SIN_FROM_27, rr=SIN_NOTIFIED_27)


@case("59_questions_as_paragraphs")
def _question_paragraphs() -> tuple[bytes, dict[str, Any]]:
    # A form written as questions in paragraphs, each answered in the paragraph after it.
    rows: list[Row | Asked] = [
        ("Who is making this referral?", "referrer_name"),
        ("What is your role?", "referrer_role"),
        ("Which agency do you work for?", "referrer_agency"),
        ("What is the name of the child?", "child_name"),
        ("What is the child's date of birth?", "child_dob", "3 December 2019"),
        ("What is the child's address?", "child_address"),
        ("On what date did the incident take place?", "incident_date", "26 November 2026"),
        ("When did the local authority become aware?", "la_aware_date", "27 November 2026"),
        ("Has the child died or been seriously harmed?", "incident_type", "Seriously harmed"),
        ("Is abuse or neglect of the child known or suspected?", "abuse_or_neglect"),
        ("Please give a brief summary of what happened", "incident_summary"),
        ("Was the child looked after by the local authority?", "looked_after"),
        ("Why do you think this case meets the criteria for a review?", "rationale"),
    ]
    doc = fixed_zip(f.paragraphs(worded(rows), next_line=True))
    raw = mailed(doc, "referral questions.docx", 59)
    ref = {
        **NO_AGENCIES,
        "referrer_phone": None,
        "child_gender": None,
        "child_ethnicity": None,
        "safeguarding_lead_consulted": None,
        "national_panel_notified": None,
    }
    return raw, acked(ref, sin=SIN_FROM_27)


@case("60_wording_rapid_review_referral")
def _rapid_review_referral() -> tuple[bytes, dict[str, Any]]:
    # A Rapid Review referral form: labels above their boxes, NHS number, school, legal status,
    # "Notification to the Child Safeguarding Practice Review Panel".
    rows: list[Row] = [
        ("Name of referrer (print)", "referrer_name", "Marcus Eddington"),
        ("Referring agency", "referrer_agency", "Dudley Children's Services"),
        ("Referrer email", "referrer_email", "marcus.eddington@example-dudley.gov.uk"),
        ("Full name of child", "child_name", "Oskar Lindqvist-Hale"),
        ("DoB", "child_dob", "14.02.2023"),
        ("NHS No.", "child_nhs_number", "401 023 2137"),
        ("Nursery/school", "child_school", "Little Acorns Nursery"),
        ("Legal status of the child", "legal_status", "Child in need"),
        ("Date of incident", "incident_date", "24/11/2026"),
        ("Date LA notified", "la_aware_date", "25/11/2026"),
        ("Death or serious harm", "incident_type", "Serious harm"),
        ("Abuse/neglect", "abuse_or_neglect", "Suspected"),
        ("Brief description of the incident", "incident_summary", "Head injury, unexplained."),
        (
            "Notification to the Child Safeguarding Practice Review Panel made?",
            "national_panel_notified",
            "No",
        ),
    ]
    doc = fixed_zip(f.label_above(worded(rows)))
    raw = send(
        [text("Referral attached.\n\nMarcus\n"), attach(doc, "RR referral.docx")], 60, sender=MARCUS
    )
    ref = referral(
        **pick(BODY_REF, "referrer_name", "referrer_agency", "referrer_email", "child_name"),
        **pick(BODY_REF, "child_dob", "incident_date", "la_aware_date", "incident_type"),
        **pick(BODY_REF, "abuse_or_neglect", "national_panel_notified"),
        child_nhs_number="401 023 2137",
        child_school="Little Acorns Nursery",
        legal_status="child_in_need",
        incident_summary="Head injury, unexplained.",
    )
    return raw, acked(ref, sin=SIN_FROM_25, to=BODY_REF["referrer_email"])


@case("61_answers_that_start_with_a_label_word")
def _label_word_answers() -> tuple[bytes, dict[str, Any]]:
    # Answers whose first words are another question's label: they are answers all the same.
    summary = "Looked after by her grandmother since July; found with burns on 26 November."
    rationale = "Agencies involved did not share the burns seen in October."
    rows: list[Row | Asked] = [
        ("Referrer's name", "referrer_name"),
        ("Referrer's email address", "referrer_email"),
        ("Child's full name", "child_name"),
        ("Child's date of birth", "child_dob"),
        ("Date of incident", "incident_date"),
        ("Date LA became aware", "la_aware_date"),
        ("Death or serious harm", "incident_type"),
        ("Brief summary of the incident", "incident_summary", summary),
        ("Abuse or neglect known or suspected", "abuse_or_neglect"),
        ("Is the child looked after?", "looked_after"),
        ("Rationale for referral", "rationale", rationale),
    ]
    doc = fixed_zip(f.two_column(worded(rows)))
    raw = mailed(doc, "referral.docx", 61)
    ref = referral(
        **pick(FULL, "referrer_name", "referrer_email", "child_name", "child_dob"),
        **pick(FULL, "incident_date", "la_aware_date", "incident_type", "abuse_or_neglect"),
        looked_after=False,
        incident_summary=summary,
        rationale=rationale,
    )
    return raw, acked(ref, sin=SIN_FROM_27)


# -- writing -----------------------------------------------------------------------------------------


def main() -> None:
    for old in HERE.glob("*.eml"):
        old.unlink()
    for old in HERE.glob("*.json"):
        old.unlink()
    total = 0
    for name, build in CASES.items():
        raw, expected = build()
        (HERE / f"{name}.eml").write_bytes(raw)
        (HERE / f"{name}.json").write_text(
            json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        total += len(raw)
    print(f"{len(CASES)} cases, {total / 1e6:.2f} MB of .eml in {HERE}")


if __name__ == "__main__":
    main()
