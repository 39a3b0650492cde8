"""End to end, the same child twice (SPEC 3, issue 12), against the real Dovecot and aiosmtpd.

A social worker refers a child in the body of a mail (details missing: triage), the police refer the
same child with a form, and the social worker sends "sorry, forgot to attach the form" in a new thread.
That is one case and one linked case, never three strangers, and the deadline notices come for two
cases, not three. A referrer answering the triage reply with the form, as it asks, completes the case.
"""

from __future__ import annotations

from collections import Counter
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from e2e import (
    COORDINATOR,
    DOCX_TYPE,
    INBOX,
    REFERRAL,
    Bot,
    by_template,
    make_bot,
    plain_mail,
    referral_mail,
    sent_to,
    template_of,
    text_parts,
)
from servers import DovecotServer, SmtpServer
from test_intake_same_child import POLICE, SOCIAL_WORKER, SW_BODY, SW_DETAILS

from cspr_mailbot import formgen

pytestmark = pytest.mark.dovecot

REF1, REF2 = "DSPP-2026-0001", "DSPP-2026-0002"
CHILD_WORDS = ("Jamie", "Quennell", "Wrenfield", "DY1 4QX", "12/04/2019", "2019-04-12")

# The social worker's mail and form are test_intake_same_child's, over e2e.REFERRAL's child.
SW_FORM: dict[str, Any] = {**REFERRAL, **SW_DETAILS}
POLICE_FORM: dict[str, Any] = {**REFERRAL, "child_name": "JAMIE QUENNELL"}


@pytest.fixture
def bot(tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpServer) -> Bot:
    return make_bot(tmp_path, dovecot, smtp_server)


def outsiders_never_told_the_child(smtp: SmtpServer) -> None:
    for r in smtp.messages:
        if COORDINATOR in r.rcpt_tos:
            continue
        text = " ".join(text_parts(r.message).values()) + str(r.message["Subject"])
        assert not [w for w in CHILD_WORDS if w in text], (template_of(r), r.rcpt_tos)


def test_three_referrals_about_one_child_are_one_case_and_one_linked_case(
    bot: Bot, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    dovecot.append(plain_mail(SOCIAL_WORKER, "CSPR referral", SW_BODY))
    bot.run_once("2026-11-30T10:00")
    dovecot.append(referral_mail(POLICE_FORM, sender=POLICE))
    bot.run_once("2026-11-30T11:00")
    dovecot.append(
        referral_mail(
            SW_FORM,
            sender=SOCIAL_WORKER,
            subject="Sorry, forgot to attach the form",
            body="Sorry, I forgot to attach the form. Here it is.\n\nPriya",
        )
    )
    bot.run_once("2026-11-30T12:00")
    assert dovecot.folder_count(INBOX) == 0

    cases = bot.cases()
    assert [c["reference"] for c in cases] == [REF1, REF2]  # never three strangers
    first, second = bot.case(REF1), bot.case(REF2)
    assert first["status"] == "referral_received"
    assert first["criteria"]["result"] == "met"
    assert first["referral"]["incident_summary"].startswith("Admitted with a head injury")
    assert first["linked_cases"] == [REF2] and second["linked_cases"] == [REF1]
    assert first["duplicate_of"] is None and second["duplicate_of"] is None

    # The social worker: the triage reply (with the blank form), then one acknowledgement.
    to_sw = [template_of(r) for r in sent_to(smtp_server, SOCIAL_WORKER)]
    assert to_sw == ["triage_reply", "acknowledgement"]
    triage = sent_to(smtp_server, SOCIAL_WORKER)[0].message
    forms = [p for p in triage.iter_attachments() if p.get_content_type() == DOCX_TYPE]
    assert len(forms) == 1 and forms[0].get_filename() == "CSPR referral form.docx"
    triage_text = " ".join(text_parts(triage).values()).lower()
    assert "a summary of the incident" in triage_text
    assert "pdf" not in triage_text and "password" not in triage_text
    assert [template_of(r) for r in sent_to(smtp_server, POLICE)] == ["acknowledgement"]

    # The coordinators are told both references, once.
    linked = by_template(smtp_server, "linked_referral")
    assert len(linked) == 1 and linked[0].rcpt_tos == (COORDINATOR,)
    body = " ".join(text_parts(linked[0].message).values())
    assert REF1 in body and REF2 in body
    outsiders_never_told_the_child(smtp_server)

    # A week of passes: SIN and Rapid Review notices come for the two cases, not for three.
    for day in ("01", "02", "03", "04", "07", "08"):
        bot.run_once(f"2026-12-{day}T10:00")
    notices = Counter(
        ref
        for r in by_template(smtp_server, "deadline_notice")
        for ref in (REF1, REF2, "DSPP-2026-0003")
        if f"[{ref}]" in str(r.message["Subject"])
    )
    assert set(notices) == {REF1, REF2}
    assert notices[REF1] == notices[REF2] >= 2  # the same dates: the same notices, once each


def test_a_form_answering_the_triage_reply_completes_the_case(
    bot: Bot, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    dovecot.append(plain_mail(SOCIAL_WORKER, "CSPR referral", SW_BODY))
    bot.run_once("2026-11-30T10:00")
    assert bot.case(REF1)["status"] == "needs_triage"
    (triage,) = sent_to(smtp_server, SOCIAL_WORKER)
    reply_to = str(triage.message["Message-ID"]).strip()

    form = ("Referral form.docx", formgen.filled_referral(SW_FORM), DOCX_TYPE)
    dovecot.append(
        plain_mail(
            SOCIAL_WORKER,
            f"RE: {triage.message['Subject']}",
            "Here is the form, as you asked.\n\nPriya",
            message_id=make_msgid(domain="example.gov.uk"),
            headers=[("In-Reply-To", reply_to), ("References", reply_to)],
            attachments=[form],
        )
    )
    bot.run_once("2026-11-30T14:00")

    case = bot.case(REF1)
    assert case["status"] == "referral_received"
    assert case["criteria"]["result"] == "met"
    assert all(a["returned_on"] is None for a in case["agencies"])
    assert [c["reference"] for c in bot.cases()] == [REF1]
    to_sw = [template_of(r) for r in sent_to(smtp_server, SOCIAL_WORKER)]
    assert to_sw == ["triage_reply", "acknowledgement"]  # never thanked for a "scoping return"
    assert by_template(smtp_server, "return_ack") == []
    outsiders_never_told_the_child(smtp_server)
