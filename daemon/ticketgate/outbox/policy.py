"""Who may be written to: never machines, never ourselves, never the configured patterns.

The automail stage classifies the incoming mail; these checks are the last word before a row
is queued, and repeat the cheapest signals (a null envelope sender, Auto-Submitted, our loop
header) so that no pipeline order can make us answer a machine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase, translate
from functools import lru_cache

from ..addresses import canonical, domain_of
from ..pipeline.model import Message
from .ids import LOOP_HEADER


@dataclass(frozen=True)
class Own:
    """The addresses of this instance: every function address, and anything at its host."""

    function_addresses: frozenset[str]
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


def machine_signal(message: Message) -> str | None:
    """Why the incoming mail was written by a machine, judged by the sure signs only."""
    verdict = message.verdict
    if verdict.automail:
        return f"automail: {verdict.automail}"
    if not message.envelope.mail_from:
        return "null envelope sender"
    mail = message.parsed
    auto = (mail.header("auto-submitted") or "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto[:40]}"
    if mail.header(LOOP_HEADER.lower()) is not None:
        return f"carries a {LOOP_HEADER} header"
    return None


def sender_signal(message: Message) -> str | None:
    """Why the From header gives no one to answer (the parse stage's `invalid_from`)."""
    verdict = message.verdict
    if "invalid_from" not in verdict.flags:
        return None
    return f"invalid From: {dict(verdict.reasons).get('invalid_from', 'not one valid address')}"


def acknowledgement_refusal(
    message: Message, rcpt: str, *, own: Own, patterns: Iterable[str]
) -> str | None:
    """Why the requester of `message` must not get an acknowledgement at `rcpt`, or None."""
    signal = machine_signal(message) or sender_signal(message)
    if signal:
        return signal
    if not rcpt:
        return "no requester address"
    if rcpt in own:
        return f"{rcpt} is our own address"
    pattern = never_to(rcpt, patterns)
    if pattern:
        return f"{rcpt} matches never_to pattern {pattern!r}"
    return None
