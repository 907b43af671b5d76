"""Stage `route`: choose the queue and the actions for a new ticket by the admin's rules.

Each function address has a default route (its own queue); `rules/routes.yaml` may override
it, first match wins. Follow-ups stay in their ticket's queue and are not routed again.
"""

from __future__ import annotations

from ..addresses import canonical
from ..identity import requester_of
from ..routing import Facts, evaluate
from .model import Context, Message

name = "route"
description = "Choose queue, priority, tags and acknowledgement by the rules in routes.yaml."


def process(message: Message, context: Context) -> Message:
    rules = context.rules
    addresses = tuple(
        dict.fromkeys(
            canonical(r) for r in message.envelope.rcpt_to if rules.is_function_address(r)
        )
    )
    verdict = message.verdict.note(name, f"function addresses: {', '.join(addresses) or '-'}",
                                   function_addresses=addresses)
    if verdict.followup_of is not None or verdict.action != "new_ticket":
        ticket = (message.ticket(context.view, verdict.followup_of)
                  if verdict.followup_of else None)
        fallback = rules.queue_for(addresses[0]) if addresses else None
        queue_name = ticket.queue if ticket else (fallback.name if fallback else None)
        return message.evolve(verdict=verdict.note(
            name, f"not routed: stays in queue {queue_name}", queue=queue_name))
    if not addresses:
        return message.evolve(verdict=verdict.note(
            name, "no envelope recipient is a function address",
            action="hold", hold_reason="no function address among the recipients"))
    default = rules.queue_for(addresses[0])
    assert default is not None
    mail = message.parsed
    facts = Facts(
        function_addresses=addresses,
        sender=requester_of(message) or None,
        subject=mail.subject,
        text=mail.new_text,
        headers=mail.headers,
        flags=verdict.flags,
        automail=verdict.automail,
    )
    decision = evaluate(rules.routes, facts)
    queue = rules.queues.get(decision.queue) if decision.queue else default
    assert queue is not None  # load_routes refuses unknown queues
    verdict = verdict.note(
        name,
        decision.explanation or f"default route of {addresses[0]}",
        queue=queue.name,
        rule=decision.rule or f"default:{addresses[0]}",
        priority=decision.priority,
        tags=decision.tags,
        route_acknowledgement=decision.acknowledgement,  # decide settles it
        notify=decision.notify,
    )
    if decision.drop:
        verdict = verdict.note(name, f"rule {decision.rule} drops it", action="drop")
    elif decision.hold:
        verdict = verdict.note(name, f"rule {decision.rule} holds it", action="hold",
                               hold_reason=f"rule {decision.rule}")
    return message.evolve(verdict=verdict)
