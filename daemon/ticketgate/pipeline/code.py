"""Stage `code`: find the ticket this message continues, by its code or by its headers.

A code in the subject only continues a ticket for its participants (requester, the
addresses on its first message, the queue's staff) or when the mail threads to a message we
sent for it. Anyone else naming the code gets the site's `foreign_code` policy: by default a
new ticket linked to the named one and flagged, so nobody can write into a stranger's ticket.
"""

from __future__ import annotations

from ..identity import (
    Flag,
    find_code,
    format_code,
    requester_of,
    site_tags,
    ticket_of_reference,
)
from ..store.reads import Ticket
from .model import Context, Message, Reads, Verdict

name = "code"
description = "Find a ticket code in the subject, or a Message-ID of ours in the headers."


def reads(message: Message, context: Context) -> Reads:
    """The Message-IDs the mail threads to, and the ticket its subject's code names."""
    mail = message.parsed
    number = find_code(mail.subject, site_tags(context.settings))
    return Reads(message_ids=frozenset((*mail.in_reply_to, *mail.references)),
                 tickets=frozenset(() if number is None else (number,)))


def _may_continue(ticket: Ticket, sender: str, context: Context) -> bool:
    queue = context.rules.queues.get(ticket.queue)
    if queue is not None and queue.is_staff(sender):
        return True
    return bool(sender) and context.view.is_participant(ticket.id, sender)


def _foreign(verdict: Verdict, ticket: Ticket, sender: str, context: Context) -> Verdict:
    policy = context.settings.pipeline.foreign_code
    code = format_code(ticket.id, context.settings.ticket_tag)
    why = f"{sender or 'an unknown sender'} is not a participant of {code}"
    verdict = verdict.with_flag(Flag.FOREIGN_CODE, why, name)
    if policy == "followup":
        return verdict.note(name, f"policy followup: continues {code} flagged",
                            followup_of=ticket.id, threaded_by="subject")
    if policy == "hold":
        return verdict.note(name, "policy hold", action="hold", hold_reason=why)
    return verdict.note(name, f"policy new_ticket: a new ticket linked to {code}",
                        linked_to=ticket.id, followup_of=None, threaded_by=None)


def process(message: Message, context: Context) -> Message:
    verdict = message.verdict
    if verdict.action != "new_ticket":
        return message.evolve(verdict=verdict.note(name, f"skipped: action {verdict.action}"))
    mail = message.parsed
    tag = context.settings.ticket_tag
    sender = requester_of(message)
    view = context.view
    named = (*mail.references, *mail.in_reply_to)
    thread = view.thread_of(named)
    if thread is None:
        # Our stable per-ticket reference survives clients that trim References, but it is
        # guessable: it threads like a requester's own Message-ID, never as proof.
        refs = [ticket_of_reference(m, context.settings.instance) for m in named]
        numbers = [r for r in refs if r is not None]
        thread = (numbers[-1], False) if numbers else None
    number = find_code(mail.subject, site_tags(context.settings))
    ticket = message.ticket(view, number) if number is not None else None
    if number is not None and ticket is None:
        verdict = verdict.note(name, f"subject names {format_code(number, tag)}, "
                                     "which does not exist", ticket_code=number)
    if ticket is not None:
        verdict = verdict.note(name, f"subject names {format_code(ticket.id, tag)}",
                               ticket_code=ticket.id)
        if thread is not None and thread[0] == ticket.id and thread[1]:
            return message.evolve(verdict=verdict.note(
                name, "and threads to a message we sent for it: a follow-up",
                followup_of=ticket.id, threaded_by="subject"))
        if _may_continue(ticket, sender, context):
            return message.evolve(verdict=verdict.note(
                name, f"{sender} is a participant: a follow-up",
                followup_of=ticket.id, threaded_by="subject"))
        return message.evolve(verdict=_foreign(verdict, ticket, sender, context))
    if thread is not None:
        threaded, ours = thread
        found = message.ticket(view, threaded)
        code = format_code(threaded, tag)
        if found is not None and (ours or _may_continue(found, sender, context)):
            return message.evolve(verdict=verdict.note(
                name, f"In-Reply-To/References name a message of {code}: a follow-up",
                followup_of=threaded, threaded_by="headers"))
        if found is not None:
            return message.evolve(verdict=_foreign(verdict, found, sender, context))
    if verdict.followup_of is not None:
        return message.evolve(verdict=verdict.note(name, "no code; keeps the resend match"))
    return message.evolve(verdict=verdict.note(name, "no known code or thread: a new ticket"))
