"""Address normalisation shared by the RCPT policy, routing and participant checks."""

from __future__ import annotations

import re


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


# RFC 5322 atext, and any non-ASCII character (RFC 6531: UTF-8 local parts and domains).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+"
_DOT_ATOM = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_QUOTED = re.compile(r'"(?:[^"\\\x00-\x1f\x7f]|\\[^\x00-\x1f\x7f])*"')
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_\u0080-\U0010ffff-]{1,63}(?<!-)")  # "_": DNS allows it
_LITERAL = re.compile(r"\[[\x21-\x5a\x5e-\x7e]{1,253}\]")


def address_problem(address: str) -> str | None:
    """Why `address` is no mailbox one could write to (RFC 5321/5322), or None when it is.

    The local part is a dot-atom or a quoted string of at most 64 octets; the domain is two
    or more host labels (letters, digits, hyphens, or UTF-8) or an address literal.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return "no local part and domain"
    if len(local.encode("utf-8", "replace")) > 64:
        return "local part over 64 octets"
    if not (_DOT_ATOM.fullmatch(local) or _QUOTED.fullmatch(local)):
        return f"local part {local[:40]!r} is not a valid one"
    if len(domain) > 253:
        return "domain over 253 characters"
    if _LITERAL.fullmatch(domain):
        return None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return f"domain {domain[:60]!r} is not a host name"
    return None
