"""The sender check (SPEC 3 "Trusting a sender"): what the mail server wrote, read under each setting.

Messages are parsed from bytes by the real parser, as the app does; each header shape is one that
Exchange Online, a Postfix with OpenDKIM/OpenDMARC, or an attacker would write.
"""

from __future__ import annotations

import pytest

from cspr_mailbot.core.message import parse_message
from cspr_mailbot.core.models import InboundMessage
from cspr_mailbot.core.sender_check import aligned, check_sender, organisational_domain

COORD = "coordinator@example.gov.uk"
AUTHSERV = "mx.example.gov.uk"


def mail(*headers: str, sender: str = COORD) -> InboundMessage:
    head = "".join(f"{h}\r\n" for h in headers)
    raw = (
        f"{head}From: Casey Coordinator <{sender}>\r\nTo: dsppb@example.gov.uk\r\n"
        "Subject: Re: [DSPP-2026-0001]\r\nMessage-ID: <c1@example.gov.uk>\r\n\r\nclose\r\n"
    )
    return parse_message(raw.encode(), "7")


def ar(value: str) -> str:
    return f"Authentication-Results: {value}"


# -- exchange-internal ----------------------------------------------------------------------------


def test_exchange_internal_trusts_the_header_exchange_writes_for_its_own_users() -> None:
    msg = mail("X-MS-Exchange-Organization-AuthAs: Internal")
    trust = check_sender(msg, "exchange-internal")
    assert trust.verified and "Internal" in trust.reason


@pytest.mark.parametrize(
    "headers",
    [
        (),  # arrived from outside: Exchange stripped it
        ("X-MS-Exchange-Organization-AuthAs: Anonymous",),
        ("X-MS-Exchange-Organization-AuthAs: Partner",),
        # the attacker's own header, left beside the Anonymous one Exchange wrote
        (
            "X-MS-Exchange-Organization-AuthAs: Anonymous",
            "X-MS-Exchange-Organization-AuthAs: Internal",
        ),
        # an Authentication-Results pass counts for nothing under this check
        (ar(f"{AUTHSERV}; dmarc=pass header.from=example.gov.uk"),),
    ],
)
def test_exchange_internal_refuses_anything_else(headers: tuple[str, ...]) -> None:
    trust = check_sender(mail(*headers), "exchange-internal")
    assert not trust.verified and trust.reason


# -- authentication-results ---------------------------------------------------------------------


def test_the_forged_command_of_issue_10_is_not_verified() -> None:
    msg = mail(
        ar(f"{AUTHSERV}; spf=fail; dkim=none; dmarc=fail"), "Return-Path: <attacker@evil.example>"
    )
    trust = check_sender(msg, "authentication-results", AUTHSERV)
    assert not trust.verified
    assert "dmarc=fail" in trust.reason


def test_dmarc_pass_for_the_from_domain_is_verified() -> None:
    msg = mail(
        ar(
            f"{AUTHSERV}; spf=pass smtp.mailfrom=example.gov.uk; "
            "dkim=pass header.d=example.gov.uk header.s=s1; dmarc=pass (p=reject) header.from=example.gov.uk"
        )
    )
    trust = check_sender(msg, "authentication-results", AUTHSERV)
    assert trust.verified and "dmarc=pass" in trust.reason


def test_authserv_id_is_matched_without_regard_to_case() -> None:
    msg = mail(ar("MX.Example.GOV.UK; dmarc=pass header.from=example.gov.uk"))
    assert check_sender(msg, "authentication-results", AUTHSERV).verified


def test_a_pass_from_another_authserv_id_does_not_count() -> None:
    msg = mail(
        ar(
            "mx.evil.example; dkim=pass header.d=example.gov.uk; dmarc=pass header.from=example.gov.uk"
        ),
        ar(f"{AUTHSERV}; spf=fail smtp.mailfrom=evil.example; dkim=none; dmarc=none"),
    )
    trust = check_sender(msg, "authentication-results", AUTHSERV)
    assert not trust.verified
    # Only the other server's header: nothing from ours at all.
    only_other = mail(ar("mx.evil.example; dmarc=pass header.from=example.gov.uk"))
    trust = check_sender(only_other, "authentication-results", AUTHSERV)
    assert not trust.verified and "not counted" in trust.reason


def test_dmarc_pass_for_another_domain_does_not_count() -> None:
    msg = mail(ar(f"{AUTHSERV}; dmarc=pass header.from=evil.example"))
    assert not check_sender(msg, "authentication-results", AUTHSERV).verified


@pytest.mark.parametrize(
    "header_d",
    ["example.gov.uk", "mail.example.gov.uk"],  # the same domain, or a subdomain of it (relaxed)
)
def test_aligned_dkim_pass_is_verified_when_there_is_no_dmarc_verdict(header_d: str) -> None:
    msg = mail(ar(f"{AUTHSERV}; spf=none; dkim=pass header.d={header_d} header.s=s1; dmarc=none"))
    trust = check_sender(msg, "authentication-results", AUTHSERV)
    assert trust.verified and header_d in trust.reason


@pytest.mark.parametrize(
    "header_d",
    [
        "evil.example",  # the attacker's own domain, signed
        "gov.uk",  # the public suffix: not the same organisation
        "other.gov.uk",  # another organisation under the same suffix
        "example.gov.uk.evil.example",
    ],
)
def test_unaligned_dkim_pass_is_not_verified(header_d: str) -> None:
    msg = mail(ar(f"{AUTHSERV}; dkim=pass header.d={header_d}"))
    assert not check_sender(msg, "authentication-results", AUTHSERV).verified


def test_dkim_fail_and_spf_pass_alone_are_not_verified() -> None:
    msg = mail(
        ar(f"{AUTHSERV}; spf=pass smtp.mailfrom=example.gov.uk; dkim=fail header.d=example.gov.uk")
    )
    assert not check_sender(msg, "authentication-results", AUTHSERV).verified


def test_a_forged_pass_header_with_our_id_is_outvoted_by_the_servers_fail() -> None:
    # A server that did not strip the attacker's copy of its own header still added its verdict.
    msg = mail(
        ar(f"{AUTHSERV}; spf=fail; dkim=none; dmarc=fail header.from=example.gov.uk"),
        ar(f"{AUTHSERV}; dmarc=pass header.from=example.gov.uk"),
    )
    assert not check_sender(msg, "authentication-results", AUTHSERV).verified


@pytest.mark.parametrize(
    "value",
    [
        "",
        ";;;",
        "spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.gov.uk; dmarc=pass header.from=example.gov.uk",
        f"{AUTHSERV}; dmarc=" + "x" * 5000,
        f"{AUTHSERV}; none",
    ],
)
def test_headers_that_do_not_parse_or_say_nothing_are_not_verified(value: str) -> None:
    msg = mail(ar(value))
    assert not check_sender(msg, "authentication-results", AUTHSERV).verified


def test_no_authserv_id_configured_trusts_no_header() -> None:
    msg = mail(ar(f"{AUTHSERV}; dmarc=pass header.from=example.gov.uk"))
    assert not check_sender(msg, "authentication-results", "").verified


# -- none, and senders that are not one address ------------------------------------------------------


def test_none_trusts_a_clear_sender() -> None:
    trust = check_sender(mail(), "none")
    assert trust.verified and "none" in trust.reason


@pytest.mark.parametrize("check", ["none", "exchange-internal", "authentication-results"])
def test_an_ambiguous_sender_is_never_verified(check: str) -> None:
    raw = (
        b"From: coordinator@example.gov.uk <attacker@evil.example>\r\n"
        b"X-MS-Exchange-Organization-AuthAs: Internal\r\n"
        b"Authentication-Results: mx.example.gov.uk; dmarc=pass header.from=example.gov.uk\r\n"
        b"Subject: x\r\n\r\nbody\r\n"
    )
    msg = parse_message(raw, "9")
    assert msg.sender_ambiguous
    assert not check_sender(msg, check, AUTHSERV).verified  # type: ignore[arg-type]


def test_organisational_domains() -> None:
    assert organisational_domain("a.b.example.gov.uk") == "example.gov.uk"
    assert organisational_domain("gov.uk") == "gov.uk"
    assert organisational_domain("x.nhs.net") == "nhs.net"
    assert aligned("MAIL.Example.gov.uk.", "example.gov.uk")
    assert not aligned("", "example.gov.uk")
    assert not aligned("exa mple.gov.uk", "example.gov.uk")
