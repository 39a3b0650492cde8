"""Which addresses may be told who the child is (SPEC 5): a trusted agency's, decided from the config alone.

An address is trusted when it is the address of a ``[[agencies]]`` entry marked ``secure = true``, or when
its domain is one of ``[privacy] trusted_domains`` or a subdomain of one (``mail.nhs.net`` under
``nhs.net``; ``evilnhs.net`` is not). Nothing a message says (a display name, an ``agency:`` command)
makes an address trusted: only the config does, and it is asked afresh each time a message is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


def is_domain(text: str) -> bool:
    """``text`` is a domain name with at least two labels (``nhs.net``), lower case."""
    return bool(_DOMAIN.match(text))


def domain_of(address: str) -> str | None:
    """The domain of a bare address, lower case; None unless it is one plain ``local@domain``."""
    local, at, domain = address.strip().lower().rpartition("@")
    domain = domain.rstrip(".")
    if not at or not local or "@" in local or not is_domain(domain):
        return None
    return domain


def in_domain(domain: str, trusted: str) -> bool:
    """``domain`` is ``trusted`` or a subdomain of it, label by label."""
    return domain == trusted or domain.endswith("." + trusted)


@dataclass(frozen=True)
class Trust:
    """The config's trusted domains and the addresses of its secure agencies."""

    domains: tuple[str, ...] = ()
    addresses: frozenset[str] = frozenset()

    @classmethod
    def of(cls, domains: Iterable[str], secure_addresses: Iterable[str | None]) -> Trust:
        return cls(
            tuple(d.strip().lower().rstrip(".") for d in domains if d.strip()),
            frozenset(a.strip().lower() for a in secure_addresses if a and a.strip()),
        )

    def trusts(self, address: str | None) -> bool:
        """May ``address`` (a bare address) be sent the child's name, date of birth and address?"""
        if not address:
            return False
        domain = domain_of(address)
        if domain is None:
            return False
        if address.strip().lower() in self.addresses:
            return True
        return any(in_domain(domain, d) for d in self.domains)
