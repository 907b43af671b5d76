"""Stage `route`: choose the queue; for now each function address has its queue."""

from __future__ import annotations

from ..addresses import canonical
from .model import Context, Message

name = "route"
description = "Choose the queue from the function address the mail was sent to."


def process(message: Message, context: Context) -> Message:
    rules = context.rules
    addresses = tuple(
        dict.fromkeys(
            canonical(r) for r in message.envelope.rcpt_to if rules.is_function_address(r)
        )
    )
    verdict = message.verdict
    if not addresses:
        return message.evolve(
            verdict=verdict.note(
                name,
                "no envelope recipient is a function address",
                action="hold",
                hold_reason="no function address among the recipients",
            )
        )
    queue = rules.queue_for(addresses[0])
    assert queue is not None
    return message.evolve(
        verdict=verdict.note(
            name,
            f"to {', '.join(addresses)}: queue {queue.name}",
            queue=queue.name,
            function_addresses=addresses,
            rule=f"default:{addresses[0]}",
        )
    )
