"""Stage `decide`: turn what the earlier stages found into one action and what to send."""

from __future__ import annotations

from .model import Context, Message, Verdict
from .route import DEFAULT_ACKNOWLEDGEMENT

name = "decide"
description = "Settle the action (new ticket, follow-up, duplicate, event, hold, drop)."


def process(message: Message, context: Context) -> Message:
    verdict = message.verdict
    if verdict.action in ("hold", "drop", "duplicate", "event"):
        return message.evolve(verdict=verdict.note(
            name, f"action {verdict.action}; nothing is sent", acknowledgement=None))
    if verdict.automail is not None:
        quiet = ("; a ticket it opens is no new request: the queue's staff are not notified"
                 if verdict.followup_of is None else "")
        verdict = verdict.note(name, f"{verdict.automail}: never acknowledged{quiet}",
                               acknowledgement=None)
    if verdict.followup_of is not None:
        ticket = message.ticket(context.view, verdict.followup_of)
        mail = message.parsed
        sender = mail.sender.address if mail.sender else ""
        queue = context.rules.queues.get(ticket.queue) if ticket else None
        staff = queue is not None and sender in queue.staff
        ack = (
            DEFAULT_ACKNOWLEDGEMENT
            if context.settings.acknowledgements.on_followup and not staff
            and verdict.automail is None and "resent" not in verdict.flags
            else None
        )
        if "resent" in verdict.flags and verdict.automail is None:
            ack = DEFAULT_ACKNOWLEDGEMENT  # tell them no new ticket was made
        verdict = verdict.note(
            name,
            f"follow-up on #{verdict.followup_of}" + (" by staff: correspondence" if staff else ""),
            action="followup", staff_reply=staff, acknowledgement=ack)
        return message.evolve(verdict=_unanswerable(verdict))
    verdict = verdict.note(name, "new ticket", action="new_ticket")
    return message.evolve(verdict=_unanswerable(verdict))


def _unanswerable(verdict: Verdict) -> Verdict:
    """No acknowledgement when the From names no one valid address (the parse stage's flag)."""
    if "invalid_from" not in verdict.flags or verdict.acknowledgement is None:
        return verdict
    why = dict(verdict.reasons)["invalid_from"]
    return verdict.note(name, f"no acknowledgement: {why}", acknowledgement=None)
