"""Who is the requester? The decision shared by the pipeline stage and the retry job.

Pure given a Lookup: which keys to ask (the sender's address, a username from the text),
in which order, and which flag the answer calls for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..identity import Flag
from .lookup import Answer, Lookup, Outcome
from .model import Person


@dataclass(frozen=True)
class Resolution:
    """The lookups' result: the person or why not, and a flag to set (flag, why) if any."""

    outcome: Outcome
    answers: tuple[Answer, ...]
    person: Person | None = None
    flag: tuple[str, str] | None = None

    @property
    def detail(self) -> str:
        return "; ".join(a.detail for a in self.answers)


def institutional(address: str | None, domains: Sequence[str]) -> bool:
    """True when the address's domain is one of `domains` or a subdomain of one."""
    _, at, domain = (address or "").rpartition("@")
    domain = domain.strip().strip(".").lower()
    if not at or not domain:
        return False
    wanted = [d.strip(" .@").lower() for d in domains if d.strip(" .@")]
    return any(domain == d or domain.endswith("." + d) for d in wanted)


def resolve(
    lookup: Lookup, sender: str | None, username: str | None, domains: Sequence[str]
) -> Resolution | None:
    """Look the requester up; None when there is nothing to look up by.

    From an institutional address the address is asked first, then a username the text
    gives; from a private address the username first, then the address (a directory may
    know a private address too). The first person found wins; a directory that cannot
    answer ends the lookups.
    """
    inside = institutional(sender, domains)
    keys: list[tuple[str, str]] = []
    if sender and inside:
        keys.append(("address", sender))
    if username:
        keys.append(("username", username))
    if sender and not inside:
        keys.append(("address", sender))
    if not keys:
        return None
    answers: list[Answer] = []
    for by, key in keys:
        answer = lookup.by_address(key) if by == "address" else lookup.by_username(key)
        answers.append(answer)
        if answer.outcome == "found":
            return Resolution("found", tuple(answers), answer.person)
        if answer.outcome == "unavailable":
            return Resolution("unavailable", tuple(answers))
    flag: tuple[str, str] | None = None
    if inside:
        also = f", nor is the username {username!r} it gives" if username else ""
        flag = (Flag.UNKNOWN_PERSON.value, f"{sender} is not in the directory{also}")
    elif username:
        flag = (Flag.PRIVATE_ADDRESS.value,
                f"{sender or 'the sender'} is outside the institution and "
                f"the username {username!r} it gives is not in the directory")
    return Resolution("unknown", tuple(answers), flag=flag)
