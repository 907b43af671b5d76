"""The pipeline: stages run in a declared order, each a pure function of message and context.

As in Mailman 3, the order is data. A stage is a module with `name`, `description` and
`process(message, context) -> message`; it adds to the verdict and does no I/O of its own
beyond reads through the context's store view. A stage that reads committed state also says
what it reads (`reads(message, context) -> Reads`), for the worker that commits verdicts in
groups: it asks `pipeline.reads`, never a stage's helpers. The same code serves the daemon's
worker and `ticketgate rules test`, which runs it without storing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

from . import automail, code, decide, dedupe, directory, flags, parse, route
from .model import Context, Envelope, Message, Reads, Verdict

PIPELINE: tuple[str, ...] = (
    "parse", "automail", "dedupe", "code", "flags", "directory", "route", "decide"
)

STAGES: dict[str, ModuleType] = {
    m.name: m for m in (parse, automail, dedupe, code, flags, directory, route, decide)
}


@dataclass(frozen=True)
class Stage:
    name: str
    description: str
    process: Callable[[Message, Context], Message]


def stages(order: Sequence[str] = PIPELINE) -> tuple[Stage, ...]:
    """The stages named in `order`; an unknown name is a programming error."""
    return tuple(
        Stage(STAGES[n].name, STAGES[n].description, STAGES[n].process) for n in order
    )


# Stages that read committed state name what they read: `reads(message, context) -> Reads`.
_READERS: tuple[Callable[[Message, Context], Reads], ...] = tuple(
    m.reads for m in STAGES.values() if hasattr(m, "reads")
)


def reads(message: Message, context: Context) -> Reads:
    """What the stages after `parse` will read of committed state for this parsed message."""
    found = Reads()
    for reader in _READERS:
        found = found | reader(message, context)
    return found


def run(message: Message, context: Context, order: Sequence[str] = PIPELINE) -> Message:
    """Run every stage in order; the result carries the final verdict."""
    for n in order:  # the module's `process` looked up each time, as `stages` does
        message = STAGES[n].process(message, context)
    return message


__all__ = [
    "PIPELINE", "Context", "Envelope", "Message", "Reads", "Stage", "Verdict", "reads", "run",
    "stages",
]
