"""Who may be told who the child is (SPEC 5, 9; issue 13; issue 10 finding 7), without servers.

The core writes the messages (intake, ``start rapid review``, ``agency:``, the chasers); the outbox's
``Renderer`` renders them with the trust rule and the privacy guard, as the app does. Every check reads
what would go on the wire: the subject, both text parts, the attachments' names and the text of every
attached .docx.

The trust rule: an address is trusted when it is a ``secure = true`` agency's address in the directory,
or its domain is one of ``[privacy] trusted_domains`` or a subdomain of one; from the config only.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
import zipfile
from dataclasses import replace
from datetime import date, datetime, time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest
from e2e import REFERRAL as E2E_REFERRAL

from cspr_mailbot import formgen
from cspr_mailbot.adapters.outbox import Renderer, forbidden_words
from cspr_mailbot.cli import case_json
from cspr_mailbot.config import parse_config
from cspr_mailbot.core import attachments, forms, handlers, schedule
from cspr_mailbot.core.classify import Classification
from cspr_mailbot.core.clocks import Timescales
from cspr_mailbot.core.commands import parse_commands
from cspr_mailbot.core.intake import intake
from cspr_mailbot.core.message import parse_message
from cspr_mailbot.core.models import (
    Case,
    DocumentRequest,
    OutAttachment,
    OutboundMessage,
    Outcome,
)
from cspr_mailbot.core.reading import read_message
from cspr_mailbot.core.settings import DirectoryAgency, Settings
from cspr_mailbot.core.trust import Trust
from cspr_mailbot.core.workdays import LONDON, WorkingCalendar
from cspr_mailbot.errors import ConfigError, PrivacyError

PARTNERSHIP = "Dudley Safeguarding People Partnership"
MAILBOX = "dsppb@example.gov.uk"
COORDINATOR = "coordinator@example.gov.uk"
REFERRER = "sam.carter@example.police.uk"
POLICE = "pvp@example.police.uk"  # in the directory, secure = true
HEALTH = "safeguarding@mail.nhs.net"  # on a subdomain of a trusted domain
GP = "practice@nhs.net"  # on a trusted domain itself
SCHOOL = "dsl@oakfield.example.sch.uk"  # only on the form: not trusted
LOOKALIKE = "safeguarding@evilnhs.net"  # not nhs.net
PHONE = "01384 000000"
TAG = "[encrypt]"
# The least config there is: the partnership's mailbox and its coordinator.
BASE_CONFIG: dict[str, Any] = {"partnership": {"mailbox": MAILBOX, "coordinators": [COORDINATOR]}}
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

CAL = WorkingCalendar(closures=())
ST = Settings(
    partnership_name=PARTNERSHIP,
    mailbox=MAILBOX,
    coordinators=(COORDINATOR,),
    timescales=Timescales(),
    limits=attachments.Limits(),
    labels=forms.Labels.load(),
    directory=(
        DirectoryAgency("West Midlands Police", POLICE, ("WMP", "Police"), secure=True),
        DirectoryAgency("Dudley Children's Services", "childrens.services@example.gov.uk"),
    ),
    phone=PHONE,
    trusted_domains=("nhs.net",),
    encrypt_subject_tag=TAG,
)

CHILD_NAME, CHILD_DOB, NHS = "Jamie Quennell", "2019-04-12", "9434765919"
ADDRESS = "14 Wrenfield Close, Dudley, DY1 4QX"
# Everything that identifies the child, as it could be written: none of it may leave untrusted.
IDENTIFYING = (
    "Jamie",
    "Quennell",
    "Wrenfield",
    "DY1 4QX",
    "DY14QX",
    "12/04/2019",
    "12 Apr 2019",
    "2019-04-12",
    "943 476 5919",
    NHS,
)

# The end-to-end tests' referral (the same child, CHILD_NAME at ADDRESS), with more agencies.
REFERRAL: dict[str, Any] = {
    **E2E_REFERRAL,
    "agencies_involved": [
        {"name": "WMP", "contact_name": "DS Carter", "email": None},
        {"name": "Oakfield Primary School", "contact_name": "Mrs Patel", "email": SCHOOL},
        {"name": "Black Country Healthcare", "contact_name": None, "email": HEALTH},
        {"name": "Wrens Nest Surgery", "contact_name": None, "email": GP},
    ],
}
assert (REFERRAL["child_name"], REFERRAL["child_dob"]) == (CHILD_NAME, CHILD_DOB)
assert (REFERRAL["child_address"], REFERRAL["referrer_email"]) == (ADDRESS, REFERRER)


def at(day: date, hh: int = 10) -> datetime:
    return datetime.combine(day, time(hh), tzinfo=LONDON)


DAY = date(2026, 11, 30)  # a Monday


def renderer(st: Settings = ST, **kw: Any) -> Renderer:
    """The renderer as the app builds it: the trust rule, the coordinators, the tag."""
    return Renderer(
        partnership_name=st.partnership_name,
        mailbox=st.mailbox,
        subject_marking="OFFICIAL-SENSITIVE",
        trust=st.trust,
        coordinators=st.coordinators,
        encrypt_subject_tag=st.encrypt_subject_tag,
        **kw,
    )


def inbound(
    sender: str, body: str, *, attach: tuple[str, bytes, str] | None = None, name: str = ""
) -> Any:
    m = EmailMessage()
    m["From"] = f"{name} <{sender}>" if name else sender
    m["To"] = MAILBOX
    m["Subject"] = "CSPR referral"
    m["Date"] = format_datetime(at(DAY, 9))
    m["Message-ID"] = make_msgid(domain="example.org")
    m.set_content(body)
    if attach:
        maintype, _, subtype = attach[2].partition("/")
        m.add_attachment(attach[1], maintype=maintype, subtype=subtype, filename=attach[0])
    return parse_message(m.as_bytes(), "1")


def referral(
    values: dict[str, Any] | None = None, st: Settings = ST, **kw: Any
) -> tuple[Case, Outcome]:
    form = formgen.filled_referral(values or REFERRAL)
    msg = inbound(REFERRER, "Form attached.", attach=("CSPR referral form.docx", form, DOCX), **kw)
    out = intake(
        read_message(msg, st),
        Classification("referral", ("no case named",)),
        at(DAY, 9),
        CAL,
        st,
        lambda year: f"DSPP-{year}-0001",
    )
    assert out.case is not None
    # The NHS number is a SPEC 4 field the reader may not know yet: given here as the store has it.
    return replace(out.case, referral={**out.case.referral, "child_nhs_number": NHS}), out


def command(case: Case, text: str, st: Settings = ST) -> Outcome:
    parsed = parse_commands(text)
    assert not parsed.errors, parsed.errors
    return handlers.run_commands(case, parsed.commands, (), at(DAY), CAL, st, source="test")


def requests(case: Case, st: Settings = ST) -> dict[str, OutboundMessage]:
    out = command(case, "start rapid review", st)
    return {m.to[0]: m for m in out.messages if m.template == "scoping_request"}


def docx_xml_text(data: bytes) -> str:
    """word/document.xml's text (and every other XML part's), tags taken out."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        parts = [zf.read(n).decode() for n in zf.namelist() if n.endswith(".xml")]
    return "\n".join(re.sub(r"<[^>]+>", " ", p) for p in parts)


def on_the_wire(raw: bytes) -> tuple[str, str, list[str]]:
    """(subject, every text part and attachment name and .docx text, the .docx document texts)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    texts: list[str] = []
    docs: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_filename():
            texts.append(part.get_filename() or "")
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        if part.get_content_type() == DOCX:
            docs.append(docx_xml_text(data))
            texts.append(docs[-1])
        else:
            texts.append(data.decode(part.get_content_charset() or "utf-8"))
    subject = str(msg["Subject"])
    return subject, "\n".join([subject, *texts]), docs


def names_the_child(text: str) -> list[str]:
    squeezed = " ".join(text.split())
    return [w for w in IDENTIFYING if w.casefold() in squeezed.casefold()]


# -- the trust rule -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "trusted"),
    [
        (POLICE, True),  # a secure agency's address
        ("PVP@Example.Police.UK", True),  # case aside
        ("someone.else@example.police.uk", False),  # secure is the address, not its domain
        (GP, True),  # nhs.net itself
        (HEALTH, True),  # a subdomain
        ("a@deep.sub.NHS.NET", True),
        (LOOKALIKE, False),  # evilnhs.net is not nhs.net
        ("a@nhs.net.evil.example", False),
        ("a@nhsnet", False),
        ("nhs.net@evil.example", False),  # the local part is not the domain
        ("a@b@nhs.net", False),  # not one plain address
        ("", False),
        (SCHOOL, False),
    ],
)
def test_the_trust_rule(address: str, trusted: bool) -> None:
    assert ST.trust.trusts(address) is trusted


def test_config_reads_privacy_and_secure_and_names_the_key_of_a_bad_one() -> None:
    base = BASE_CONFIG
    cfg = parse_config(
        {
            **base,
            "privacy": {"trusted_domains": ["NHS.net"], "encrypt_subject_tag": "[encrypt]"},
            "agencies": [{"name": "WMP", "email": POLICE, "secure": True}],
        }
    )
    assert cfg.privacy.trusted_domains == ("nhs.net",)
    assert cfg.privacy.encrypt_subject_tag == "[encrypt]"
    assert cfg.trust == Trust(("nhs.net",), frozenset({POLICE}))
    assert parse_config(base).trust == Trust()  # by default nobody outside is trusted
    bad: list[tuple[dict[str, Any], str]] = [
        ({"privacy": {"trusted_domains": ["@nhs.net"]}}, "privacy.trusted_domains"),
        ({"privacy": {"trusted_domains": ["*.nhs.net"]}}, "privacy.trusted_domains"),
        ({"privacy": {"trusted_domains": ["net"]}}, "privacy.trusted_domains"),
        ({"privacy": {"trusted_domains": "nhs.net"}}, "privacy.trusted_domains"),
        ({"privacy": {"encrypt_subject_tag": "[a]\nBcc: x"}}, "privacy.encrypt_subject_tag"),
        ({"privacy": {"trusted_domain": ["nhs.net"]}}, "privacy.trusted_domain"),
        ({"agencies": [{"name": "WMP", "email": POLICE, "secure": "yes"}]}, "agencies[0].secure"),
        ({"agencies": [{"name": "WMP", "secure": True}]}, "agencies[0].secure"),
    ]
    for extra, key in bad:
        with pytest.raises(ConfigError) as err:
            parse_config({**base, **extra})
        assert err.value.key == key, (extra, err.value)


# -- trusted and untrusted scoping requests --------------------------------------------------------------


def test_a_trusted_agency_is_told_who_the_child_is_and_the_mail_is_tagged_for_encryption() -> None:
    case, _ = referral()
    sent = requests(case)
    assert set(sent) == {POLICE, SCHOOL, HEALTH, GP}
    forbidden = forbidden_words(case.referral)
    r = renderer()
    for address in (POLICE, HEALTH, GP):  # secure; a subdomain of nhs.net; nhs.net itself
        om = sent[address]
        assert om.names_child
        subject, everything, docs = on_the_wire(r.render(om, at(DAY), forbidden).raw)
        assert subject.endswith(f" {TAG}") and "[DSPP-2026-0001]" in subject
        assert names_the_child(subject) == [], subject  # the subject never names the child
        body = everything.split("\n", 1)[1]
        for shown in (CHILD_NAME, "Fri 12 Apr 2019", "14 Wrenfield Close", NHS):
            assert shown in body, (address, shown)
        (doc,) = docs
        for typed in (CHILD_NAME, "12/04/2019", "14 Wrenfield Close", "DY1 4QX", NHS):
            assert typed in doc, (address, typed)


def test_an_untrusted_agency_gets_initials_and_how_to_ask_and_nothing_else() -> None:
    case, _ = referral()
    om = requests(case)[SCHOOL]
    assert not om.names_child and om.documents[0].identifiers == ()
    subject, everything, docs = on_the_wire(
        renderer().render(om, at(DAY), forbidden_words(case.referral)).raw
    )
    assert TAG not in subject
    assert names_the_child(everything) == []
    assert "J.Q." in everything and PHONE in everything  # the initials, and whom to call
    assert "DSPP-2026-0001" in docs[0]  # the template is still pre-filled with the reference


def test_the_chasers_of_a_trusted_agency_carry_the_details_and_the_tag_the_others_not() -> None:
    case = command(referral()[0], "start rapid review").case
    assert case is not None
    chasers: dict[str, OutboundMessage] = {}
    day = DAY
    while day <= date(2026, 12, 31):
        case, messages = schedule.due_messages(case, at(day), CAL, ST)
        for m in messages:
            if m.template == "scoping_chaser":
                chasers.setdefault(m.to[0], m)
        day = date.fromordinal(day.toordinal() + 1)
    forbidden = forbidden_words(case.referral)
    subject, everything, docs = on_the_wire(
        renderer().render(chasers[POLICE], at(DAY), forbidden).raw
    )
    assert subject.endswith(TAG) and names_the_child(subject) == []
    assert CHILD_NAME in docs[0]
    subject, everything, _ = on_the_wire(renderer().render(chasers[SCHOOL], at(DAY), forbidden).raw)
    assert TAG not in subject and names_the_child(everything) == []


def test_an_agency_command_never_makes_an_address_trusted() -> None:
    """A display name that looks trusted ("nhs.net", a secure agency's address) changes nothing."""
    case, _ = referral({**REFERRAL, "agencies_involved": []})
    case = command(case, "start rapid review").case
    assert case is not None
    lines = (
        f"agency: Black Country NHS (nhs.net) <{LOOKALIKE}>",
        'agency: "pvp@example.police.uk" <attacker@evil.example>',
        "agency: safeguarding@nhs.net <nhs.net@evil.example>",
    )
    forbidden = forbidden_words(case.referral)
    for line in lines:
        out = command(case, line)
        sent = [m for m in out.messages if m.template == "scoping_request"]
        assert len(sent) == 1, (line, out.messages)
        om = sent[0]
        assert not ST.trust.trusts(om.to[0]), line
        assert not om.names_child and om.documents[0].identifiers == (), line
        subject, everything, _ = on_the_wire(renderer().render(om, at(DAY), forbidden).raw)
        assert TAG not in subject and names_the_child(everything) == [], line


def test_the_outbox_checks_the_address_again_and_withholds_what_names_the_child_to_others() -> None:
    """Should the core ever ask to name the child to an untrusted address, the outbox refuses."""
    case, _ = referral()
    trusted = requests(case)[POLICE]
    forbidden = forbidden_words(case.referral)
    for to in ((SCHOOL,), (POLICE, SCHOOL), (LOOKALIKE,)):
        with pytest.raises(PrivacyError):
            renderer().render(replace(trusted, to=to), at(DAY), forbidden)
    # Not flagged, but the template carries identifiers: the same.
    with pytest.raises(PrivacyError):
        renderer().render(replace(trusted, to=(SCHOOL,), names_child=False), at(DAY), forbidden)
    # A renderer told of no trust (the default) trusts nobody.
    with pytest.raises(PrivacyError):
        Renderer(partnership_name=PARTNERSHIP, mailbox=MAILBOX, subject_marking="").render(
            trusted, at(DAY), forbidden
        )
    # Copied to the coordinators: still fine.
    renderer().render(replace(trusted, cc=(COORDINATOR,)), at(DAY), forbidden)
    # The subject never names the child, trusted or not.
    with pytest.raises(PrivacyError):
        renderer().render(replace(trusted, subject=f"About {CHILD_NAME}"), at(DAY), forbidden)


def test_case_json_shows_trusted_per_agency_from_the_config() -> None:
    cfg = parse_config(
        {
            **BASE_CONFIG,
            "privacy": {"trusted_domains": ["nhs.net"]},
            "agencies": [{"name": "West Midlands Police", "email": POLICE, "secure": True}],
        }
    )
    case, _ = referral()
    shown = {a["name"]: a["trusted"] for a in case_json(case, cfg)["agencies"]}
    assert shown == {
        "West Midlands Police": True,
        "Oakfield Primary School": False,
        "Black Country Healthcare": True,
        "Wrens Nest Surgery": True,
    }


# -- salutations --------------------------------------------------------------------------------------


def test_salutations_name_the_addressee_or_the_agency_team_for_a_shared_address() -> None:
    case, out = referral(name="Sam Carter")
    sent = requests(case)
    r = renderer()
    forbidden = forbidden_words(case.referral)

    def first_line(om: OutboundMessage) -> str:
        text = r.render(om, at(DAY), forbidden).raw.decode()
        return next(ln for ln in text.splitlines() if ln.startswith("Dear "))

    # The police's address is the directory's shared box: not "Dear DS Carter," (the form's contact).
    assert first_line(sent[POLICE]) == "Dear West Midlands Police team,"
    # The school's address came from the form, with its contact: that person.
    assert first_line(sent[SCHOOL]) == "Dear Mrs Patel,"
    assert first_line(sent[HEALTH]) == "Dear Black Country Healthcare team,"
    ack = next(m for m in out.messages if m.template == "acknowledgement")
    assert first_line(ack) == "Dear Sam Carter,"


# -- issue 10 finding 7: file names, and the "Dudley" child -------------------------------------------------


def test_the_triage_reply_describes_the_attachment_without_its_file_name() -> None:
    filename = f"{CHILD_NAME} CSPR referral.pdf"
    msg = inbound(
        REFERRER,
        "Referral attached.",
        attach=(filename, b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n", "application/pdf"),
    )
    out = intake(
        read_message(msg, ST),
        Classification("referral", ("no case named",)),
        at(DAY, 9),
        CAL,
        ST,
        lambda year: f"DSPP-{year}-0001",
    )
    assert out.case is not None and out.case.status == "needs_triage"
    reply = next(m for m in out.messages if m.template == "triage_reply")
    raw = renderer().render(reply, at(DAY), forbidden_words(out.case.referral)).raw
    _, everything, _ = on_the_wire(raw)
    assert "Quennell" not in everything and "Jamie" not in everything
    assert "The attached PDF" in everything or "the attached PDF" in everything
    assert (
        "PDF" in everything and ".docx" in everything
    )  # still says what was wrong, and what to do


def test_a_child_recorded_by_a_word_of_the_partnership_name_does_not_withhold_every_message() -> (
    None
):
    """ "Dudley": in the partnership's name and every footer; the whole name is still guarded."""
    case, out = referral({**REFERRAL, "child_name": "Dudley"})
    forbidden = forbidden_words(case.referral)
    r = renderer()
    for om in out.messages:
        r.render(om, at(DAY), forbidden)  # the acknowledgement and the notices: none withheld
    for om in requests(case).values():
        r.render(om, at(DAY), forbidden)
    # Two words, one of them the partnership's: the other, and the whole, are still found.
    case, _ = referral({**REFERRAL, "child_name": "Dudley Quennell"})
    forbidden = forbidden_words(case.referral)
    school = requests(case)[SCHOOL]
    r.render(school, at(DAY), forbidden)
    for said in ("Quennell", "Dudley Quennell", "QUENNELL, Dudley"):
        with pytest.raises(PrivacyError):
            r.render(
                replace(school, context={**school.context, "agency": said}), at(DAY), forbidden
            )


@pytest.mark.parametrize(
    "said",
    [
        "Quennell",  # one part of the name
        "Jamie",
        "Quennell, Jamie",
        "12/04/2019",
        "12.04.19",
        "12-04-2019",
        "2019-04-12",
        "12 April 2019",
        "12th April 2019",
        "April 12, 2019",
        "Fri 12 Apr 2019",
        "14 Wrenfield Close",
        "Wrenfield Close",
        "DY1 4QX",
        "dy14qx",
        "943 476 5919",
    ],
)
def test_the_guard_finds_the_childs_name_parts_dob_address_and_nhs_number(said: str) -> None:
    case, _ = referral()
    school = requests(case)[SCHOOL]
    with pytest.raises(PrivacyError):
        renderer().render(
            replace(school, context={**school.context, "agency": said}),
            at(DAY),
            forbidden_words(case.referral),
        )


def test_the_guard_reads_the_attached_documents_of_untrusted_mail() -> None:
    case, _ = referral()
    school = requests(case)[SCHOOL]
    named = formgen.filled_scoping(
        {"involvement_summary": f"Known to us: {CHILD_NAME}."}, case.reference, "Oakfield"
    )
    with pytest.raises(PrivacyError):
        renderer().render(
            replace(school, attachments=(OutAttachment("t.docx", DOCX, named),)),
            at(DAY),
            forbidden_words(case.referral),
        )
    # The template itself, pre-filled with identifiers, to an untrusted address: the same.
    doc = DocumentRequest(
        "scoping",
        "t.docx",
        case.reference,
        "Oakfield",
        PARTNERSHIP,
        identifiers=(("child_name", CHILD_NAME),),
    )
    with pytest.raises(PrivacyError):
        renderer().render(
            replace(school, documents=(doc,)), at(DAY), forbidden_words(case.referral)
        )
