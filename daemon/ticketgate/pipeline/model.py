"""What a stage works with: the message and its verdict (ticketgate.verdict), and the context."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..verdict import Action, Envelope, Message, Verdict

if TYPE_CHECKING:
    from ..config import Settings
    from ..rules import Rules
    from ..store.reads import StoreView


@dataclass(frozen=True)
class Context:
    """Read-only surroundings of a stage: settings, rules and a view of the store."""

    settings: Settings
    rules: Rules
    view: StoreView
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reads:
    """What a stage will look up in committed state for one message (after `parse`).

    The worker hands verdicts to the writer before they commit; a message whose stages read
    what a verdict still in flight will write must wait for that commit. Each stage that reads
    committed state says here what it reads, so the worker asks the stages, not their helpers.
    """

    message_ids: frozenset[str] = frozenset()  # Message-IDs looked up (stored ones, threads)
    requests: frozenset[tuple[str, str]] = frozenset()  # (requester, subject key): resends
    tickets: frozenset[int] = frozenset()  # ticket numbers read by code

    def __or__(self, other: Reads) -> Reads:
        return Reads(self.message_ids | other.message_ids, self.requests | other.requests,
                     self.tickets | other.tickets)


__all__ = ["Action", "Context", "Envelope", "Message", "Reads", "Verdict"]
