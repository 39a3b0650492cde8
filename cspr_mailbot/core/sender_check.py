"""Whether a message's ``From:`` can be believed (SPEC 3 "Trusting a sender", SPEC 9 ``[security]``).

The mail server, not the bot, can tell a forged ``From:`` from a real one; this module reads what the
server wrote, under the configured ``sender_check``, and says verified or not, and why:

- ``exchange-internal``: every ``X-MS-Exchange-Organization-AuthAs`` header says ``Internal``
  (Exchange Online strips it from mail arriving from outside and writes ``Anonymous`` there);
- ``authentication-results``: the RFC 8601 ``Authentication-Results`` headers added by the
  configured ``authserv_id``, and only those (read with the ``authres`` library), say ``dmarc=pass``
  for the ``From:`` domain, or ``dkim=pass`` with a ``header.d`` aligned to it (relaxed alignment:
  the same organisational domain, from the Public Suffix List via ``publicsuffixlist``); a trusted
  header that says ``dmarc=fail`` for that domain outweighs any pass (a forged header the server
  left in place cannot outvote the server's own);
- ``none``: no check (the embedded default, warned at every start).

Pure: the headers in, a ``SenderTrust`` out. Which addresses may be told who the child is, another
kind of trust, is ``core.trust``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, get_args

from .models import InboundMessage

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

SenderCheck = Literal["exchange-internal", "authentication-results", "none"]
SENDER_CHECKS: tuple[SenderCheck, ...] = get_args(SenderCheck)

AUTHAS_HEADER = "x-ms-exchange-organization-authas"
AUTHRES_HEADER = "authentication-results"
MAX_AUTHRES_HEADERS = 50  # a message with more is hostile: the rest are not read
MAX_AUTHRES_CHARS = 4000  # one header longer than this is not read

_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}\.)*[a-z0-9-]{1,63}$")


@dataclass(frozen=True)
class SenderTrust:
    """What the sender check said of a message: verified or not, and why (for the case's log)."""

    verified: bool
    reason: str


def check_sender(msg: InboundMessage, check: SenderCheck, authserv_id: str = "") -> SenderTrust:
    """Whether ``msg``'s ``From:`` address is proven by the mail server, under ``check``."""
    if msg.sender_ambiguous or not msg.from_addr:
        return SenderTrust(False, "no single sender address in From:")
    if check == "none":
        return SenderTrust(True, "no sender check configured ([security] sender_check = none)")
    if check == "exchange-internal":
        return _exchange_internal(msg)
    return _authentication_results(msg, authserv_id)


def _values(msg: InboundMessage, name: str) -> list[str]:
    return [value for key, value in msg.headers if key == name]


def _exchange_internal(msg: InboundMessage) -> SenderTrust:
    values = [v.strip().lower() for v in _values(msg, AUTHAS_HEADER)]
    if not values:
        return SenderTrust(
            False, "no X-MS-Exchange-Organization-AuthAs header (not from inside Exchange)"
        )
    if any(v != "internal" for v in values):
        shown = ", ".join(sorted(set(values)))[:80]
        return SenderTrust(False, f"X-MS-Exchange-Organization-AuthAs is {shown}, not Internal")
    return SenderTrust(True, "X-MS-Exchange-Organization-AuthAs: Internal")


def organisational_domain(domain: str) -> str:
    """The registrable domain of ``domain`` (``a.b.example.gov.uk`` -> ``example.gov.uk``), by the
    Public Suffix List; a public suffix itself, or a name the list does not know, is its own."""
    domain = domain.strip().rstrip(".").lower()
    found = _psl().privatesuffix(domain)
    return str(found) if found else domain


def aligned(domain: str, from_domain: str) -> bool:
    """DMARC's relaxed alignment: the two names have the same organisational domain."""
    a, b = domain.strip().rstrip(".").lower(), from_domain.strip().rstrip(".").lower()
    if not a or not b or not _DOMAIN.match(a) or not _DOMAIN.match(b):
        return False
    return a == b or organisational_domain(a) == organisational_domain(b)


@cache
def _psl() -> PublicSuffixList:
    from publicsuffixlist import PublicSuffixList  # only for sender_check = authentication-results

    return PublicSuffixList()


@dataclass(frozen=True)
class _Result:
    method: str
    result: str
    props: dict[str, str]  # "header.d" -> "example.gov.uk"


def _parse(value: str) -> tuple[str, list[_Result]] | None:
    """One header's authserv-id and results, or None when it does not parse (RFC 8601)."""
    if len(value) > MAX_AUTHRES_CHARS:
        return None
    import authres  # only for sender_check = authentication-results

    try:
        header: Any = authres.AuthenticationResultsHeader.parse_value(value)
    except Exception:  # noqa: BLE001 - authres raises its own SyntaxError and others on junk
        return None
    results = []
    for r in header.results:
        props = {
            f"{p.type}.{p.name}".lower(): str(p.value or "").strip().lower() for p in r.properties
        }
        results.append(_Result(str(r.method).lower(), str(r.result).lower(), props))
    return str(header.authserv_id or "").strip().lower(), results


def _authentication_results(msg: InboundMessage, authserv_id: str) -> SenderTrust:
    want = authserv_id.strip().lower()
    from_domain = msg.from_addr.rpartition("@")[2]
    trusted: list[_Result] = []
    others = 0
    for value in _values(msg, AUTHRES_HEADER)[:MAX_AUTHRES_HEADERS]:
        parsed = _parse(value)
        if parsed is None:
            continue
        ident, results = parsed
        if want and ident == want:
            trusted.extend(results)
        else:
            others += 1
    if not trusted:
        extra = f" ({others} from other servers, not counted)" if others else ""
        return SenderTrust(False, f"no Authentication-Results from {authserv_id}{extra}")
    dmarc = {
        r.result
        for r in trusted
        if r.method == "dmarc" and r.props.get("header.from", from_domain) == from_domain
    }
    if "fail" in dmarc:
        return SenderTrust(False, f"{authserv_id} says dmarc=fail for {from_domain}")
    if "pass" in dmarc:
        return SenderTrust(True, f"{authserv_id} says dmarc=pass for {from_domain}")
    for r in trusted:
        d = r.props.get("header.d", "")
        if r.method == "dkim" and r.result == "pass" and aligned(d, from_domain):
            return SenderTrust(
                True, f"{authserv_id} says dkim=pass for {d}, aligned with {from_domain}"
            )
    summary = ", ".join(f"{r.method}={r.result}" for r in trusted)[:200]
    return SenderTrust(False, f"{authserv_id} gives no pass for {from_domain} ({summary})")
