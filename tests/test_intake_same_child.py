"""The same child twice (SPEC 3), the triage form completing its case, and the triage reply (issue 12).

The core is driven as the app drives it: each referral's candidates are looked up in a real store
(``Txn.cases_for_child`` with ``intake.lookup_keys``), the outcome's case and ``others`` saved back.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from test_workflow import CAL, REFERRAL, ST, at, mail

from cspr_mailbot import formgen
from cspr_mailbot.adapters.documents import DocumentBuilder
from cspr_mailbot.adapters.store import Store
from cspr_mailbot.core import forms, intake, samechild, workflow
from cspr_mailbot.core.classify import Classification, Context, classify, lookups
from cspr_mailbot.core.models import Attachment, Case, DocumentRequest, InboundMessage, Outcome
from cspr_mailbot.core.reading import read_message

# The scenario, here and in test_e2e_same_child: a social worker refers a child in the body of a
# mail (details missing: triage), the police refer the same child with a form, and the social
# worker sends the form in a new thread.
SOCIAL_WORKER = "priya.shah@example.gov.uk"
POLICE = "sam.carter@example.police.uk"
DAY = date(2026, 11, 30)  # a Monday

SW_BODY = """Hello,

I am making a CSPR referral; the form will follow.

Referrer name: Priya Shah
Referrer role: Social worker
Child's name: Jamie Quennell
Child's date of birth: 12/04/2019
Address: 14 Wrenfield Close, Dudley, DY1 4QX
Incident type: serious harm

Priya
"""

CHILD = {
    "child_name": "Jamie Quennell",
    "child_dob": "2019-04-12",
    "child_address": "14 Wrenfield Close, Dudley, DY1 4QX",
}


SW_DETAILS: dict[str, Any] = {
    "referrer_name": "Priya Shah",
    "referrer_role": "Social worker",
    "referrer_agency": "Dudley Children's Services",
    "referrer_email": SOCIAL_WORKER,
    "incident_type": "serious_harm",
    "incident_summary": "Admitted with a head injury; neglect suspected.",
}
"""What the social worker's form says that another referral of the child does not."""


def sw_form() -> dict[str, Any]:
    return {**REFERRAL, **CHILD, **SW_DETAILS}


def police_form() -> dict[str, Any]:
    # The police write the name their own way: case, spacing and an accent differ.
    return {**REFERRAL, **CHILD, "child_name": "JAMIE  QUENNÉLL", "referrer_email": POLICE}


class Bot:
    """The app's order for one message: read, classify, look up, decide, save (case and others)."""

    def __init__(self, tmp_path: Path) -> None:
        self.store = Store(tmp_path / "store" / "cspr.json")
        self.sent: dict[str, str] = {}  # Message-IDs "we sent" -> case, for threading replies

    def take(self, msg: InboundMessage, hour: int = 10) -> Outcome:
        read = read_message(msg, ST)
        ctx = Context(
            mailbox=ST.mailbox, coordinators=frozenset(ST.coordinators), reference_prefix="DSPP"
        )
        with self.store.transaction() as txn:
            wanted = lookups(read, ctx)
            cls = classify(
                read,
                replace(
                    ctx,
                    cases=frozenset(r for r in wanted.references if txn.has_case(r)),
                    sent={m: self.sent[m] for m in wanted.message_ids if m in self.sent},
                ),
            )
            case = txn.get_case(cls.case_ref) if cls.case_ref else None
            others = (
                {c.reference: c for c in txn.cases_for_child(intake.lookup_keys(read))}
                if cls.kind == "referral"
                else {}
            )
            now = at(DAY, hour)
            upcoming = {y: txn.peek_reference(y) for y in workflow.reference_years(now)}
            out = workflow.decide(read, cls, case, now, CAL, ST, upcoming, others)
            if out.case is not None:
                if out.case.reference in upcoming.values() and not txn.has_case(out.case.reference):
                    txn.claim_reference(out.case.reference)
                txn.put_case(out.case)
            for other in out.others:
                txn.put_case(other)
        return out

    def cases(self) -> list[Case]:
        return self.store.cases(include_closed=True)


@pytest.fixture
def bot(tmp_path: Path):  # type: ignore[no-untyped-def]
    b = Bot(tmp_path)
    yield b
    b.store.close()


def form_mail(sender: str, values: dict[str, Any], subject: str, body: str, **kw: Any) -> Any:
    return mail(
        sender,
        subject,
        body,
        at(DAY, 9),
        attach=("CSPR referral form.docx", formgen.filled_referral(values)),
        **kw,
    )


# -- the test itself -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (
            {"child_name": "Zoë O'Brien-Hall", "child_dob": "2015-03-01"},
            {"child_name": "zoe  obrien hall", "child_dob": "2015-03-01"},
            True,
        ),
        (
            {"child_name": "Jamie Quennell", "child_dob": "2019-04-12"},
            {"child_name": "Jamie Quennell", "child_dob": "2019-04-13"},
            False,
        ),
        (
            {"child_name": "Jamie Quennell", "child_dob": "2019-04-12"},
            {"child_name": "Jodie Quennell", "child_dob": "2019-04-12"},
            False,
        ),
        # Initials and postcode: the police gave only initials, the postcode written another way.
        (
            {"child_name": "J. Q.", "child_postcode": "dy14qx"},
            {
                "child_name": "Jamie Quennell",
                "child_address": "14 Wrenfield Close, Dudley, DY1 4QX",
            },
            True,
        ),
        # Siblings: the same initials and postcode, but dates of birth that differ.
        (
            {
                "child_name": "Jamie Quennell",
                "child_dob": "2019-04-12",
                "child_postcode": "DY1 4QX",
            },
            {
                "child_name": "Jodie Quennell",
                "child_dob": "2021-01-05",
                "child_postcode": "DY1 4QX",
            },
            False,
        ),
        ({"child_name": "Jamie Quennell"}, {"child_name": "Jamie Quennell"}, False),
    ],
)
def test_the_same_child_is_the_same_date_of_birth_and_name_or_initials_and_postcode(
    a: dict[str, Any], b: dict[str, Any], same: bool
) -> None:
    assert samechild.same_child(a, b) is same
    assert samechild.same_child(b, a) is same
    if same:  # and the store finds one by the other's keys
        assert set(samechild.child_keys(a)) & set(samechild.child_keys(b))


def test_the_store_finds_open_cases_by_child_and_forgets_them_when_closed(tmp_path: Path) -> None:
    store = Store(tmp_path / "cspr.json")
    first = Case(
        reference="DSPP-2026-0001",
        status="referral_received",
        received_at=at(DAY),
        received_on=DAY,
        referrer_email=SOCIAL_WORKER,
        referral=dict(CHILD),
    )
    with store.transaction() as txn:
        txn.put_case(first)
        keys = samechild.query_keys({**CHILD, "child_name": "jamie quennell"}, POLICE)
        assert [c.reference for c in txn.cases_for_child(keys)] == ["DSPP-2026-0001"]
    with store.transaction() as txn:
        assert [c.reference for c in txn.cases_for_child(keys)] == ["DSPP-2026-0001"]
        txn.put_case(replace(first, status="closed"))
        assert txn.cases_for_child(keys) == []
    store.close()
    again = Store(tmp_path / "cspr.json")  # the index is rebuilt on loading
    with again.transaction() as txn:
        assert txn.cases_for_child(keys) == []
        txn.put_case(replace(first, reference="DSPP-2026-0002"))
    with again.transaction() as txn:
        assert [c.reference for c in txn.cases_for_child(keys)] == ["DSPP-2026-0002"]
    again.close()


def test_a_social_worker_the_police_and_the_forgotten_form_make_one_case_and_one_linked_case(
    bot: Bot,
) -> None:
    first = bot.take(mail(SOCIAL_WORKER, "CSPR referral", SW_BODY, at(DAY, 9)))
    assert first.case is not None and first.case.status == "needs_triage"
    ref1 = first.case.reference

    police = bot.take(form_mail(POLICE, police_form(), "Referral", "Form attached."))
    assert police.case is not None and police.case.reference != ref1
    ref2 = police.case.reference
    assert police.case.linked_cases == (ref1,)
    assert [o.reference for o in police.others] == [ref1]
    linked = [m for m in police.messages if m.template == "linked_referral"]
    assert len(linked) == 1 and linked[0].internal
    assert {c["reference"] for c in linked[0].context["linked"]} == {ref1}
    assert linked[0].context["reference"] == ref2
    assert bot.store.get_case(ref1).linked_cases == (ref2,)  # type: ignore[union-attr]

    forgot = bot.take(
        form_mail(
            SOCIAL_WORKER, sw_form(), "Sorry, forgot to attach the form", "Here it is. Priya"
        ),
        hour=11,
    )
    assert forgot.case is not None and forgot.case.reference == ref1
    assert forgot.kind == "referral_completed"
    assert forgot.case.status == "referral_received"
    assert forgot.case.criteria["result"] == "met"
    assert forgot.case.referral["incident_summary"].startswith("Admitted with a head injury")
    assert forgot.case.linked_cases == (ref2,)
    acks = [m for m in forgot.messages if m.template == "acknowledgement"]
    assert [a.to for a in acks] == [(SOCIAL_WORKER,)]

    cases = bot.cases()
    assert [c.reference for c in cases] == [ref1, ref2]  # never three strangers


def test_a_forgotten_form_completes_a_triage_case_that_had_no_details_at_all(bot: Bot) -> None:
    empty = bot.take(
        mail(SOCIAL_WORKER, "CSPR referral", "Please find the referral attached.", at(DAY, 9))
    )
    assert empty.case is not None and empty.case.status == "needs_triage"
    other = bot.take(form_mail(POLICE, police_form(), "Referral", "Attached."))  # not the sender
    assert other.case is not None and other.case.reference != empty.case.reference
    assert other.case.linked_cases == ()  # nothing to say the empty case is about this child

    forgot = bot.take(
        form_mail(SOCIAL_WORKER, sw_form(), "Forgot the attachment!", "Sorry. Priya"), hour=11
    )
    assert forgot.case is not None and forgot.case.reference == empty.case.reference
    assert forgot.case.status == "referral_received"
    assert len(bot.cases()) == 2


def test_a_second_referral_from_the_same_sender_about_a_readable_case_is_filed_on_it(
    bot: Bot,
) -> None:
    first = bot.take(form_mail(POLICE, police_form(), "Referral", "Attached."))
    again = bot.take(form_mail(POLICE, police_form(), "Referral (resent)", "Attached again."))
    assert first.case is not None and again.case is not None
    assert again.case.reference == first.case.reference
    assert again.kind == "correspondence" and again.case.events[-1].kind == "further_referral"
    assert [m.template for m in again.messages] == ["correspondence_notice"]
    assert len(bot.cases()) == 1


def test_a_form_answering_the_triage_reply_completes_the_case_and_is_not_a_return(
    bot: Bot,
) -> None:
    first = bot.take(mail(SOCIAL_WORKER, "CSPR referral", SW_BODY, at(DAY, 9)))
    assert first.case is not None
    reply = next(m for m in first.messages if m.template == "triage_reply")
    bot.sent["<triage-reply@example.gov.uk>"] = first.case.reference
    answer = form_mail(
        SOCIAL_WORKER,
        sw_form(),
        f"RE: {reply.subject}",
        "Here is the form, as you asked.",
        in_reply_to="<triage-reply@example.gov.uk>",
    )
    out = bot.take(answer, hour=12)
    assert out.case is not None and out.case.reference == first.case.reference
    assert out.case.status == "referral_received"
    assert out.case.criteria["result"] == "met"
    templates = [m.template for m in out.messages]
    assert "acknowledgement" in templates and "return_ack" not in templates
    assert not any(a.returned_on for a in out.case.agencies)
    assert any(e.kind == "triage_completed" for e in out.case.events)


def test_a_form_with_details_still_missing_keeps_the_case_in_triage_and_says_what(
    bot: Bot,
) -> None:
    first = bot.take(mail(SOCIAL_WORKER, "CSPR referral", "Please see attached.", at(DAY, 9)))
    assert first.case is not None
    bot.sent["<t@example.gov.uk>"] = first.case.reference
    partial = {**sw_form(), "incident_summary": None}
    out = bot.take(
        form_mail(SOCIAL_WORKER, partial, "RE: referral", "Form.", in_reply_to="<t@example.gov.uk>")
    )
    assert out.case is not None and out.case.status == "needs_triage"
    reply = next(m for m in out.messages if m.template == "triage_reply")
    assert "a summary of the incident" in " ".join(reply.context["problems"])
    assert out.case.referral["child_name"] == "Jamie Quennell"  # what it did say is kept


def triage_reply_of(msg: InboundMessage) -> Any:
    out = intake.intake(
        read_message(msg, ST),
        Classification("referral", ("no case named",)),
        at(DAY, 10),
        CAL,
        ST,
        lambda year: f"DSPP-{year}-0001",
    )
    return next(m for m in out.messages if m.template == "triage_reply")


def test_the_triage_reply_to_a_body_referral_lacking_fields_says_so_not_pdfs_and_passwords() -> (
    None
):
    reply = triage_reply_of(mail(SOCIAL_WORKER, "CSPR referral", SW_BODY, at(DAY, 9)))
    text = " ".join([*reply.context["problems"], *reply.context["advice"]]).lower()
    assert "missing from your message" in text and "a summary of the incident" in text
    assert "pdf" not in text and "password" not in text and ".doc " not in text
    assert reply.documents == (
        DocumentRequest(
            "referral_blank", "CSPR referral form.docx", "DSPP-2026-0001", "", ST.partnership_name
        ),
    )


def test_the_triage_reply_to_a_pdf_advises_on_the_pdf_only() -> None:
    pdf = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    msg = mail(SOCIAL_WORKER, "CSPR referral", "Attached.", at(DAY, 9))
    msg = replace(
        msg,
        attachments=(
            *msg.attachments,
            Attachment("referral.pdf", "application/pdf", pdf),
        ),
    )
    advice = " ".join(triage_reply_of(msg).context["advice"]).lower()
    assert "pdf" in advice and "password" not in advice


def test_the_blank_referral_form_is_built_and_reads_as_the_referral_form() -> None:
    att = DocumentBuilder().build(
        DocumentRequest("referral_blank", "CSPR referral form.docx", "DSPP-2026-0001", "", "DSPP")
    )
    assert att.filename == "CSPR referral form.docx"
    assert zipfile.is_zipfile(io.BytesIO(att.data))
    result = forms.read_referral_docx(att.data, att.filename, ST.labels)
    assert result.found_labels >= 10  # the form's own labels, every answer empty
    assert not any(v for k, v in result.fields.items() if k.startswith("child_"))


def test_keys_follow_the_referral_as_it_changes_not_a_cached_answer() -> None:
    """samechild keeps its answers per string (issue 15): a referral edited in place, or a name that
    differs only in accents, case or spacing, still gets the keys its current values give."""
    referral: dict[str, Any] = {
        "child_name": "Zoë O'Brien-Hall",
        "child_dob": "2019-04-12",
        "child_address": "14 Wrenfield Close, Dudley, DY1 4QX",
    }
    first = samechild.child_keys(referral)
    assert first == ("dob-name:2019-04-12:zoeobrienhall", "initials-postcode:zobh:DY14QX")
    assert samechild.child_keys(referral) == first  # asked again: the same answer
    referral["child_name"] = "Jamie Quennell"  # the same mapping, corrected by `set child_name:`
    referral["child_address"] = "2 High Street, Dudley DY2 7AB"
    assert samechild.child_keys(referral) == (
        "dob-name:2019-04-12:jamiequennell",
        "initials-postcode:jq:DY27AB",
    )
    assert samechild.normalised_name("ZOE  o brien hall") == samechild.normalised_name(
        "Zoë O'Brien-Hall"
    )
    assert samechild.initials("J.Q.") == samechild.initials("jamie quennell") == "jq"
    assert samechild.normalised_name(None) == samechild.initials(42) == ""
    assert samechild.postcode({"child_postcode": "no postcode here"}) == ""
