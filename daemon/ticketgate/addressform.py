"""Whether an address is a mailbox one could write to at all (RFC 5321/5322, RFC 6531).

The parse stage asks it of every From (`invalid_from`); apart from addresses.py so that
`inject`, which needs only `canonical`, does not load the regular expressions.
"""

from __future__ import annotations

import re

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
