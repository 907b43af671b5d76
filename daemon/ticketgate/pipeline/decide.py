"""Stage `decide`: settle the action, and whether the requester gets an acknowledgement.

The acknowledgement is decided here, once, for the daemon and `rules test` alike: the route's
choice, the queue's `acknowledge`, `acknowledgements.on_followup`, a request sent again, staff,
mail written by a machine, a null sender, `never_to`, our own addresses and an address we
cannot write to. The verdict then says "planned" (template and recipient) or "suppressed:
REASON"; the outbox renders what is planned and may still hold it back only for the
per-address rate limit, which depends on what was already sent.
"""

from __future__ import annotations

from ..identity import ACKNOWLEDGEMENT_TEMPLATE, LOOP_HEADER, Flag, requester_of
from ..recipients import Own, answerable, never_to
from ..routing import NO_ACK
from .model import Context, Message, Verdict

name = "decide"
description = "Settle the action (new ticket, follow-up, duplicate, event, hold, drop)."

_LOOP = LOOP_HEADER.lower()


def machine_signal(message: Message) -> str | None:
    """Why the incoming mail was written by a machine, judged by the sure signs only.

    The automail stage classifies; these repeat its cheapest signals, so that no order of
    the stages can make us answer a machine.
    """
    verdict = message.verdict
    if verdict.automail:
        return f"automail: {verdict.automail}"
    if not message.envelope.mail_from:
        return "null envelope sender"
    mail = message.parsed
    auto = (mail.header("auto-submitted") or "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto[:40]}"
    if mail.header(_LOOP) is not None:
        return f"carries a {LOOP_HEADER} header"
    return None


def unanswerable(message: Message) -> str | None:
    """Why the From names no one to answer (the parse stage's `invalid_from`): a forged or
    mangled From is how backscatter is aimed at a victim."""
    reasons = dict(message.verdict.reasons)
    if Flag.INVALID_FROM not in reasons:
        return None
    return f"invalid From: {reasons[Flag.INVALID_FROM]}"


def _suppressed(verdict: Verdict, why: str, *, quiet: bool = False,
                note: str | None = None) -> Verdict:
    return verdict.note(name, note or f"acknowledgement suppressed: {why}",
                        acknowledgement=None, acknowledgement_to=None,
                        acknowledgement_suppressed=why, acknowledgement_quiet=quiet)


def _template(message: Message, context: Context, staff: bool) -> tuple[str | None, str, bool]:
    """(template, "", False) when one is due; else (None, why, quiet)."""
    verdict = message.verdict
    queue = context.rules.queues.get(verdict.queue) if verdict.queue else None
    if verdict.action == "followup":
        if staff:
            return None, "written by the queue's staff", True
        resent = Flag.RESENT in verdict.flags
        if not (resent or context.settings.acknowledgements.on_followup):
            return None, "follow-ups are not acknowledged (acknowledgements.on_followup)", True
        if queue is not None and not queue.acknowledge:
            return None, _queue_says_none(queue.name), False
        signal = machine_signal(message) or unanswerable(message)
        return (None, signal, False) if signal else (ACKNOWLEDGEMENT_TEMPLATE, "", False)
    signal = machine_signal(message) or unanswerable(message)  # the stronger reason first
    if signal:
        return None, signal, False
    chosen = verdict.route_acknowledgement
    if chosen == NO_ACK:
        return None, "the route asks for no acknowledgement", False
    if chosen:
        return chosen, "", False
    if queue is not None and not queue.acknowledge:
        return None, _queue_says_none(queue.name), False
    return ACKNOWLEDGEMENT_TEMPLATE, "", False


def _queue_says_none(queue: str) -> str:
    return f"queue {queue} asks for no acknowledgement (acknowledge: false)"


def acknowledgement(message: Message, context: Context, *, staff: bool = False) -> Verdict:
    """The verdict with its acknowledgement planned or suppressed (for a new ticket or a
    follow-up; other actions send nothing)."""
    verdict = message.verdict
    template, why, quiet = _template(message, context, staff)
    if template is None:
        return _suppressed(verdict, why, quiet=quiet)
    rcpt = requester_of(message)
    if not rcpt:
        return _suppressed(verdict, "no requester address")
    rules, settings = context.rules, context.settings
    if rcpt in Own(rules.function_addresses, settings.instance):
        return _suppressed(verdict, f"{rcpt} is our own address")
    pattern = never_to(rcpt, settings.acknowledgements.never_to)
    if pattern:
        return _suppressed(verdict, f"{rcpt} matches never_to pattern {pattern!r}")
    if not answerable(rcpt):
        return _suppressed(verdict, f"not an address we can answer: {rcpt[:100]!r}")
    return verdict.note(name, f"acknowledgement planned: {template} to {rcpt}",
                        acknowledgement=template, acknowledgement_to=rcpt,
                        acknowledgement_suppressed=None, acknowledgement_quiet=False)


def process(message: Message, context: Context) -> Message:
    verdict = message.verdict
    if verdict.action in ("hold", "drop", "duplicate", "event"):
        return message.evolve(verdict=_suppressed(
            verdict, machine_signal(message) or f"action {verdict.action}: nothing is sent",
            quiet=True,
            note=f"action {verdict.action}; nothing is sent"))
    if verdict.followup_of is not None:
        ticket = message.ticket(context.view, verdict.followup_of)
        sender = requester_of(message)
        queue = context.rules.queues.get(ticket.queue) if ticket else None
        staff = queue is not None and queue.is_staff(sender)
        verdict = verdict.note(
            name,
            f"follow-up on #{verdict.followup_of}" + (" by staff: correspondence" if staff else ""),
            action="followup", staff_reply=staff)
        return message.evolve(verdict=acknowledgement(message.evolve(verdict=verdict), context,
                                                      staff=staff))
    verdict = verdict.note(name, "new ticket", action="new_ticket")
    return message.evolve(verdict=acknowledgement(message.evolve(verdict=verdict), context))
