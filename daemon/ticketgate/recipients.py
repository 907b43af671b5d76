"""Who may be written to: never ourselves, never the configured patterns, only plain addresses.

The decide stage asks these of the acknowledgement's recipient, and the outbox of the staff it
notifies. A low room of its own (it imports only `addresses`), so that the pipeline and the
outbox share the answers without importing each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase, translate
from functools import lru_cache

from .addresses import canonical, domain_of

# Besides these, email.headerregistry.Address refuses CR and LF: so do we, without building one.
_NOT_IN_ADDRESS = " \t\r\n<>,;\"\\()"


@dataclass(frozen=True)
class Own:
    """The addresses of this instance: every function address, and anything at its host."""

    function_addresses: Collection[str]  # canonical; e.g. Rules.function_addresses (a mapping)
    instance: str

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        return (
            canonical(address) in self.function_addresses
            or domain_of(address) == self.instance.lower()
        )


@lru_cache(maxsize=16)
def _any_of(patterns: tuple[str, ...]) -> Callable[[str], object]:
    """One regex matching what any of the (lower-cased) globs matches, as fnmatchcase would."""
    return re.compile("|".join(f"(?:{translate(p.lower())})" for p in patterns)).match


def never_to(address: str, patterns: Iterable[str]) -> str | None:
    """The first glob of `patterns` (case-insensitive) that `address` matches, else None."""
    address = address.lower()
    patterns = tuple(patterns)
    if not patterns or not _any_of(patterns)(address):
        return None  # the usual case: one match of one regex
    for pattern in patterns:
        if fnmatchcase(address, pattern.lower()):
            return pattern
    return None


def address_parts(address: str) -> tuple[str, str] | None:
    """(local part, domain) of a plain addr-spec we can write to, else None.

    Non-ASCII local parts (RFC 6531) are refused: they need SMTPUTF8 end to end, which an
    automatic reply must not rely on. So are quoted local parts, comments and anything that
    would need escaping in a header, and a domain without a dot.
    """
    address = address.strip()
    if not address or not address.isascii() or any(c in address for c in _NOT_IN_ADDRESS):
        return None
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or "." not in domain:
        return None
    return local, domain


def answerable(address: str) -> bool:
    """True when `address` is one we can write a mail to (see address_parts)."""
    return address_parts(address) is not None
