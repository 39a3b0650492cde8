"""``cspr-mailbot demo``: the whole job on sample mail, with no server of any kind.

It makes a folder with a config, a local Maildir seeded with referrals (several layouts, one unreadable, one
out-of-office reply), runs the daemon's passes over a simulated fortnight (a coordinator starts the Rapid
Review by email, an agency returns its template from another address, chasers go to the others, a decision
is made), writes every reply as an .eml file, and prints what happened.
"""

from __future__ import annotations

import io
import mailbox
import shutil
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from . import formgen
from .config import load_config
from .core.workdays import LONDON, WorkingCalendar, format_date
from .wiring import build_app, open_store

MARKER = ".cspr-demo"
MAILBOX = "dsppb@example.gov.uk"
COORDINATOR = "coordinator@example.gov.uk"
START = date(2026, 11, 30)  # a Monday

CONFIG = f"""# Written by `cspr-mailbot demo`: a local Maildir, no SMTP (replies are .eml files in store/outbox).
[partnership]
name = "Dudley Safeguarding People Partnership"
reference_prefix = "DSPP"
mailbox = "{MAILBOX}"
coordinators = ["{COORDINATOR}"]
subject_marking = "OFFICIAL-SENSITIVE"
phone = "01384 000000"

[maildir]
path = "maildir"

[store]
path = "store/cspr.json"

[calendar]
closures = ["2026-12-29", "2026-12-30", "2026-12-31"]

[[agencies]]
name = "West Midlands Police"
email = "pvp@example.police.uk"
aliases = ["WMP", "Police"]

[[agencies]]
name = "Dudley Children's Services"
email = "childrens.services@example.gov.uk"
aliases = ["Children's Social Care", "CSC"]

[[agencies]]
name = "Black Country Healthcare"
email = "safeguarding@example.nhs.uk"
aliases = ["Health", "BCHFT"]
"""

REFERRAL_A = {
    "referrer_name": "Sam Carter",
    "referrer_role": "Detective Sergeant",
    "referrer_agency": "West Midlands Police",
    "referrer_email": "sam.carter@example.police.uk",
    "referrer_phone": "0121 000 0000",
    "safeguarding_lead_consulted": True,
    "child_name": "Jamie Example",
    "child_dob": "2019-04-12",
    "child_gender": "Male",
    "child_ethnicity": "White British",
    "child_address": "1 Sample Street, Dudley, DY1 1AA",
    "incident_date": "2026-11-25",
    "la_aware_date": "2026-11-26",
    "incident_type": "death",
    "incident_summary": "Sudden unexpected death at home; concerns about neglect.",
    "abuse_or_neglect": "suspected",
    "looked_after": False,
    "national_panel_notified": False,
    "notification_date": None,
    "agencies_involved": [
        {"name": "West Midlands Police", "contact_name": "DS Carter", "email": None},
        {"name": "Health", "contact_name": "Named Nurse", "email": None},
        {
            "name": "Oakfield Primary School",
            "contact_name": "DSL",
            "email": "dsl@oakfield.example.sch.uk",
        },
    ],
    "rationale": "Neglect suspected; the child has died.",
}

BODY_REFERRAL = """Please treat this as a referral for a CSPR.

Referrer name: Alex Morgan
Role: Social Worker
Agency: Dudley Children's Services
Safeguarding lead consulted: Yes
Child's name: Riley Sample
Date of birth: 3/2/2015
Date of incident: 20th November 2026
Date the local authority became aware: 23/11/2026
Incident type: Serious harm
Summary of incident: Serious injuries; physical abuse known.
Abuse or neglect: Known
Looked after child: No
Agencies involved: Dudley Children's Services; West Midlands Police

Alex
"""


def _mail(sender: str, subject: str, when: datetime, body: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = MAILBOX
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[-1])
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    msg.set_content(body)
    return msg


def _attach(msg: EmailMessage, name: str, data: bytes, ctype: str) -> EmailMessage:
    maintype, subtype = ctype.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def _paragraph_form(values: dict[str, str]) -> bytes:
    """A partnership's own older form: ``Label: value`` paragraphs, not tables."""
    import docx

    document = docx.Document()
    document.add_heading("Request for a Child Safeguarding Practice Review", 1)
    for label, value in values.items():
        document.add_paragraph(f"{label}: {value}")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _deliver(box: mailbox.Maildir, msg: EmailMessage) -> None:
    box.add(msg.as_bytes())


def _london(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=LONDON).astimezone(UTC)


def seed(box: mailbox.Maildir) -> None:
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    when = _london(START, 9, 5)
    _deliver(
        box,
        _attach(
            _mail(
                "sam.carter@example.police.uk",
                "CSPR referral",
                when,
                "Referral form attached.\n\nSam Carter",
            ),
            "CSPR referral form.docx",
            formgen.filled_referral(REFERRAL_A),
            docx_type,
        ),
    )
    _deliver(
        box,
        _mail("alex.morgan@example.gov.uk", "Referral", when + timedelta(minutes=3), BODY_REFERRAL),
    )
    older = _paragraph_form(
        {
            "Name of referrer": "Jo Patel",
            "Referrer's email": "jo.patel@example.nhs.uk",
            "Agency": "Black Country Healthcare",
            "Name of child": "Casey Demo",
            "Date of birth": "01.06.2012",
            "Date of incident": "Thursday 19 November 2026",
            "Date LA aware": "24/11/26",
            "Incident type": "Death ☒ Serious harm ☐",
            "Abuse or neglect": "Suspected",
            "Looked after child": "Yes",
            "Summary of incident": "Death of a looked-after child in a placement.",
        }
    )
    _deliver(
        box,
        _attach(
            _mail(
                "jo.patel@example.nhs.uk",
                "Referral - urgent",
                when + timedelta(minutes=7),
                "Form attached.",
            ),
            "referral.docx",
            older,
            docx_type,
        ),
    )
    _deliver(
        box,
        _attach(
            _mail(
                "pat.lee@example.org",
                "Referral",
                when + timedelta(minutes=9),
                "Scanned form attached.",
            ),
            "referral.pdf",
            b"%PDF-1.4\n% a scanned form\n",
            "application/pdf",
        ),
    )
    _deliver(
        box,
        _mail(
            "manager@example.gov.uk",
            "Automatic reply: Referral",
            when + timedelta(minutes=11),
            "I am out of the office until Monday.",
            Auto_Submitted="auto-replied",
        ),
    )


def _reply_from_coordinator(
    box: mailbox.Maildir, reference: str, when: datetime, body: str
) -> None:
    _deliver(
        box, _mail(COORDINATOR, f"RE: OFFICIAL-SENSITIVE [{reference}] New referral", when, body)
    )


def _return_from_agency(
    box: mailbox.Maildir, reference: str, agency: str, sender: str, when: datetime
) -> None:
    data = formgen.filled_scoping(
        {
            "completed_by": "Jane Officer",
            "role": "Safeguarding lead",
            "email": sender,
            "phone": "0121 000 0001",
            "involvement_from": "2025-01-01",
            "involvement_to": "2026-11-25",
            "involvement_summary": "Two attendances at the home address.",
            "risks_identified": "Home conditions.",
            "good_practice": "Prompt referral.",
            "learning": "Information sharing at weekends.",
            "immediate_actions": "Records secured.",
            "records_secured": True,
        },
        reference,
        agency,
    )
    msg = _mail(sender, "Scoping form", when, "Completed form attached.")
    _deliver(
        box,
        _attach(
            msg,
            "scoping.docx",
            data,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    )


def run_demo(folder: Path) -> int:
    folder = folder.resolve()
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).exists():
            print(f"cspr-mailbot demo: {folder} exists and is not a demo folder; choose another")
            return 2
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by cspr-mailbot demo\n")
    (folder / "config.toml").write_text(CONFIG)
    cfg = load_config(folder / "config.toml")
    assert cfg.maildir is not None
    box = mailbox.Maildir(cfg.maildir, create=True)
    seed(box)

    cal = WorkingCalendar(cfg.closures, cfg.cutoff)
    with open_store(cfg) as store:
        app = build_app(cfg, store)
        source = app.source
        assert source is not None  # built with one
        source.connect()
        print(f"Demo in {folder}\n")
        report = app.run_once(_london(START, 9, 30))
        print(
            f"{format_date(START)} 09:30  {report.processed} messages in: new cases "
            f"{', '.join(report.cases_created)}; {report.outcomes.get('automatic', 0)} automatic reply ignored"
        )
        first = report.cases_created[0]
        _reply_from_coordinator(
            box, first, _london(START, 11), "start rapid review\nnotified: 30/11/2026\n\nThanks"
        )
        report = app.run_once(_london(START, 11, 5))
        print(
            f"{format_date(START)} 11:05  coordinator's reply on {first}: Rapid Review started, "
            f"{report.sent} messages sent"
        )
        day = START
        for _ in range(10):
            day = cal.next_working_day(day)
            if day == cal.add_working_days(START, 2):
                _return_from_agency(
                    box,
                    first,
                    "West Midlands Police",
                    "records@example.police.uk",
                    _london(day, 8, 40),
                )
            report = app.run_once(_london(day, 9, 0))
            what = (
                ", ".join(f"{v} {k}" for k, v in sorted(report.outcomes.items())) or "no new mail"
            )
            print(
                f"{format_date(day)} 09:00  {what}; {report.sent} sent"
                f"{' (incl. the daily digest)' if report.digest_sent else ''}"
            )
        ok, said = app.command(first, "decision: cspr", _london(day, 14))
        print(
            f"{format_date(day)} 14:00  command line: decision on {first}: {said.splitlines()[0]}"
        )
        app.flush_outbox(_london(day, 14))
        cases = store.cases(include_closed=True)
    source.close()

    print("\nCases:")
    for case in cases:
        review = ""
        if case.decision in ("cspr", "learning_review"):
            from .core.deadlines import case_deadlines

            dl = case_deadlines(case, cal, cfg.timescales)
            review = f", review due {format_date(dl.review.due)}" if dl.review else ""
        print(
            f"  {case.reference}  {case.status:<18} criteria {case.criteria['result']:<8} "
            f"agencies {len(case.agencies)}{review}"
        )
    outbox = sorted(cfg.outbox_dir.glob("*.eml"))
    kinds = Counter(_template_of(p) for p in outbox)
    print(f"\n{len(outbox)} messages written as .eml files in {cfg.outbox_dir}:")
    for kind, n in sorted(kinds.items()):
        print(f"  {n:3d}  {kind}")
    print(
        f"\nFolders in {cfg.maildir}: "
        + ", ".join(f"{name} {len(box.get_folder(name))}" for name in sorted(box.list_folders()))
    )
    print(f"Store: {cfg.store_path}\nTry: cspr-mailbot -c {folder / 'config.toml'} cases")
    return 0


def _template_of(path: Path) -> str:
    with path.open("rb") as fh:
        for line in fh:
            if line.lower().startswith(b"x-cspr-mailbot:"):
                return line.split(b":", 1)[1].strip().decode()
            if not line.strip():
                break
    return "?"
