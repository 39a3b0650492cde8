"""Sending with Microsoft Graph sendMail ([smtp] transport = "graph"), against the offline stand-ins.

The sender posts the bot's own MIME message (base64, text/plain); Graph's answers decide what
happens: 202 taken, 429/503 wait as Retry-After says, 401 renews the token once, other 4xx refused
for good, 5xx tried again later.
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from e2e import COORDINATOR, INBOX, PROCESSED, REFERRER, SENT, referral_mail, template_of
from msstandins import CLIENT_ID, CLIENT_SECRET, TENANT, MicrosoftStandins, make_oauth_bot
from servers import BOT_USER, DovecotServer

from cspr_mailbot.adapters.graph import GraphSender
from cspr_mailbot.adapters.oauth import GRAPH_SCOPE, MsalTokenSource
from cspr_mailbot.config import OAuth2
from cspr_mailbot.errors import SendError


def tokens_for(ms: MicrosoftStandins) -> MsalTokenSource:
    return MsalTokenSource(
        OAuth2(
            provider="microsoft",
            tenant=TENANT,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            authority=ms.entra.url,
            cafile=Path(ms.cert.cert),
        )
    )


def sender_for(ms: MicrosoftStandins, tokens: MsalTokenSource | None = None) -> GraphSender:
    return GraphSender(
        ms.graph.url, BOT_USER, tokens or tokens_for(ms), cafile=Path(ms.cert.cert), timeout=10
    )


def message(subject: str = "Test") -> bytes:
    msg = EmailMessage()
    msg["From"] = BOT_USER
    msg["To"] = "someone@example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = "<test-1@example.gov.uk>"
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content("Hello.")
    return msg.as_bytes()


def test_the_mime_message_is_posted_as_it_is(ms: MicrosoftStandins) -> None:
    raw = message()
    assert sender_for(ms).send(BOT_USER, ["someone@example.org"], raw, "k1") == []
    (posted,) = ms.graph.sent
    assert posted.raw == raw and posted.mailbox == BOT_USER
    assert posted.message["Auto-Submitted"] == "auto-replied"  # every header survives


def test_429_waits_as_retry_after_says(ms: MicrosoftStandins) -> None:
    ms.graph.answer_next(429, **{"Retry-After": "1"})
    began = time.monotonic()
    sender_for(ms).send(BOT_USER, ["someone@example.org"], message(), "k1")
    assert len(ms.graph.sent) == 1 and time.monotonic() - began >= 1.0
    (first, status), (second, _) = ms.graph.attempts
    assert status == 429 and second - first >= 1.0


def test_a_long_retry_after_is_honoured_without_asking_again(ms: MicrosoftStandins) -> None:
    ms.graph.answer_next(503, **{"Retry-After": "120"})
    sender = sender_for(ms)
    with pytest.raises(SendError) as caught:
        sender.send(BOT_USER, ["someone@example.org"], message(), "k1")
    assert not caught.value.permanent and "120" in str(caught.value)
    with pytest.raises(SendError):  # the next message of the pass does not knock either
        sender.send(BOT_USER, ["someone@example.org"], message(), "k2")
    assert len(ms.graph.attempts) == 1 and not ms.graph.sent


def test_401_renews_the_token_once(ms: MicrosoftStandins) -> None:
    tokens = tokens_for(ms)
    sender = sender_for(ms, tokens)
    sender.send(BOT_USER, ["a@example.org"], message(), "k1")
    ms.graph.revoke_tokens()
    sender.send(BOT_USER, ["a@example.org"], message(), "k2")
    assert len(ms.graph.sent) == 2 and ms.entra.granted(GRAPH_SCOPE) == 2
    assert [s for _, s in ms.graph.attempts] == [202, 401, 202]


def test_a_token_refused_after_renewal_is_not_blamed_on_the_message(ms: MicrosoftStandins) -> None:
    ms.graph.revoked_before = time.time() + 3600  # every token refused
    with pytest.raises(SendError) as caught:
        sender_for(ms).send(BOT_USER, ["a@example.org"], message(), "k1")
    assert not caught.value.permanent and [s for _, s in ms.graph.attempts] == [401, 401]


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (403, True), (500, False)])
def test_4xx_is_refused_for_good_and_5xx_tried_again(
    ms: MicrosoftStandins, status: int, permanent: bool
) -> None:
    ms.graph.answer_next(status)
    with pytest.raises(SendError) as caught:
        sender_for(ms).send(BOT_USER, ["a@example.org"], message(), "k1")
    assert caught.value.permanent is permanent


@pytest.mark.dovecot
def test_a_referral_is_acknowledged_over_imap_xoauth2_and_graph(
    tmp_path: Path, oauth_dovecot: DovecotServer, ms: MicrosoftStandins
) -> None:
    bot = make_oauth_bot(tmp_path, oauth_dovecot, None, ms, transport="graph")
    oauth_dovecot.append(referral_mail())
    ms.graph.answer_next(429, **{"Retry-After": "1"})  # Graph is busy at first
    bot.run_once()
    assert oauth_dovecot.folder_count(INBOX) == 0 and oauth_dovecot.folder_count(PROCESSED) == 1
    to_referrer = [p for p in ms.graph.sent if REFERRER in str(p.message["To"])]
    assert len(to_referrer) == 1 and template_of(to_referrer[0]) == "acknowledgement"  # type: ignore[arg-type]
    assert any(COORDINATOR in str(p.message["To"]) for p in ms.graph.sent)
    # Graph keeps the copy in Sent Items: none is appended over IMAP.
    assert oauth_dovecot.folder_count(SENT) == 0
    # One token for IMAP, one for Graph, for the whole pass.
    assert ms.entra.granted() == 2
