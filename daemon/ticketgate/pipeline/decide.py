"""Stage `decide`: turn what the earlier stages found into one action."""

from __future__ import annotations

from .model import Context, Message

name = "decide"
description = "Settle the action: new ticket, follow-up, duplicate, event, hold or drop."


def process(message: Message, context: Context) -> Message:
    verdict = message.verdict
    if verdict.action in ("hold", "drop", "duplicate", "event"):
        return message.evolve(verdict=verdict.note(name, f"action {verdict.action}"))
    if verdict.followup_of is not None:
        return message.evolve(
            verdict=verdict.note(name, f"follow-up on #{verdict.followup_of}", action="followup")
        )
    return message.evolve(verdict=verdict.note(name, "new ticket", action="new_ticket"))
