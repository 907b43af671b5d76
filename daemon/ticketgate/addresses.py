"""Address normalisation shared by the RCPT policy, routing and participant checks.

Kept free of `re` (and of anything else heavy): `inject` imports it for every piped mail.
Whether an address is well formed at all is addressform.py."""

from __future__ import annotations


def canonical(address: str) -> str:
    """Lowercase an address and drop a `+detail` from its local part.

    Function addresses are matched this way, so `Helpdesk+urgent@Example.org` reaches
    `helpdesk@example.org`. Domain and local part are both folded: mail systems in practice
    treat function addresses case-insensitively, and a mismatch would bounce a real requester.
    """
    address = address.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return address.lower()
    local = local.split("+", 1)[0] if not local.startswith('"') else local
    return f"{local}@{domain}".lower()


def domain_of(address: str) -> str:
    """The domain part, lowercased; "" when there is none."""
    _, at, domain = address.rpartition("@")
    return domain.lower() if at else ""
