"""What routing works with: the facts of a message, the loaded rules, and the decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .match import Condition

# `acknowledgement: none` in routes.yaml: send no acknowledgement at all. Distinct from None,
# which leaves the choice to the defaults (settings and the decide stage).
NO_ACK = "none"

PRIORITIES = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class Facts:
    """What a route can look at; built by the route stage from the parsed mail and verdict."""

    function_addresses: tuple[str, ...]  # canonical (lowercased, +detail stripped)
    sender: str | None  # lowercased address
    subject: str
    text: str  # the new text (quotes and signature stripped), capped by the parser
    headers: tuple[tuple[str, str], ...]  # (lowercased name, decoded value)
    flags: tuple[str, ...] = ()
    automail: str | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome of routing one message: the matched rule's actions, or the default route."""

    rule: str | None  # name of the matched rule; None when no rule matched (default route)
    queue: str | None  # None: keep the function address's own queue
    priority: str | None
    tags: tuple[str, ...]
    acknowledgement: str | None  # template name, NO_ACK for none, None for the default
    notify: tuple[str, ...]
    hold: bool
    drop: bool
    explanation: str  # one line: which rule matched and which condition made it match


@dataclass(frozen=True)
class Action:
    """The `then:` of a rule."""

    queue: str | None = None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    acknowledgement: str | None = None
    notify: tuple[str, ...] = ()
    hold: bool = False
    drop: bool = False

    def decision(self, rule: str | None, explanation: str) -> Decision:
        return Decision(
            rule=rule,
            queue=self.queue,
            priority=self.priority,
            tags=self.tags,
            acknowledgement=self.acknowledgement,
            notify=self.notify,
            hold=self.hold,
            drop=self.drop,
            explanation=explanation,
        )


@dataclass(frozen=True)
class Rule:
    """One entry of `routes:`; `when` is None for a rule without conditions (a catch-all)."""

    name: str
    when: Condition | None
    then: Action
    line: int = 0  # where the rule starts in routes.yaml, for explanations


@dataclass(frozen=True)
class Routes:
    """The loaded rules, in order; the first rule that matches decides."""

    rules: tuple[Rule, ...] = ()
    source: str | None = None

    def __len__(self) -> int:
        return len(self.rules)

    def rule(self, name: str) -> Rule | None:
        """The rule called `name`, if any."""
        return next((r for r in self.rules if r.name == name), None)
