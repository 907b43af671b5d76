"""Turn a pipeline verdict into rows, inside the writer's transaction.

Called by the worker through the single writer: the ticket, its message, participants,
events and the spool row's move to `done` (or `held`) commit together or not at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .addresses import canonical
from .directory import rows as directory_rows
from .identity import requester_of
from .store import Transaction
from .store.tickets import Applied
from .verdict import Message

# Extra writes in the same transaction (acknowledgements, notifications): later stages of
# the product plug in here without the worker knowing about them.
AfterApply = Callable[[Transaction, Message, Applied], None]


@dataclass(frozen=True)
class ApplyOptions:
    after: tuple[AfterApply, ...] = ()


def apply(tx: Transaction, message: Message, options: ApplyOptions) -> Applied:
    """Write `message` with its verdict; a no-op if its spool row was already processed."""
    spool_id = message.envelope.spool_id
    if not tx.claim_delivery(spool_id):
        return Applied(spool_id, None, "skipped", skipped=True)
    verdict = message.verdict
    now = time.time()
    if verdict.action == "hold":
        if spool_id is not None:
            tx.hold_delivery(spool_id, f"held by rule: {verdict.hold_reason}")
        return Applied(spool_id, None, "hold")
    mail = message.parsed
    ticket_id: int | None
    if verdict.action == "new_ticket":
        ticket_id = _new_ticket(tx, message, now)
    elif verdict.action == "followup":
        ticket_id = verdict.followup_of
        assert ticket_id is not None
        row = _store_message(tx, message, ticket_id, now)
        tx.touch_ticket(ticket_id, now, reopen=True)
        if verdict.flags:
            tx.add_flags(ticket_id, verdict.flags)
        tx.add_event(
            ticket_id,
            "correspondence" if verdict.staff_reply else "followup",
            {"from": requester_of(message), "threaded_by": verdict.threaded_by,
             "flags": list(verdict.flags)},
            spool_id=spool_id,
            message_row=row,
        )
        if verdict.staff_reply:  # the dashboard's time to first answer (store/desk.py)
            tx.mark_answered(ticket_id, now)
    elif verdict.action in ("duplicate", "event"):
        ticket_id = verdict.duplicate_of or verdict.followup_of
        kind = "duplicate_delivery" if verdict.action == "duplicate" else (
            verdict.automail or "event"
        )
        tx.add_event(
            ticket_id,
            kind,
            {"message_id": message.message_id, "rcpt_to": list(message.envelope.rcpt_to),
             "subject": mail.subject, "notes": [n for _, n in verdict.notes[-3:]]},
            spool_id=spool_id,
        )
    else:  # drop: stored in the spool, no ticket
        ticket_id = None
        tx.add_event(None, "dropped", {"rule": verdict.rule}, spool_id=spool_id)
    if ticket_id is not None and verdict.directory is not None and verdict.action in (
        "new_ticket", "followup"
    ):
        outcome, detail = verdict.directory
        new = verdict.action == "new_ticket"
        directory_rows.record(
            tx, ticket_id, outcome=outcome, detail=detail,
            person=dict(verdict.person) if verdict.person else None,
            existing=not new, spool_id=spool_id, stored=new,  # _new_ticket inserted it
        )
    applied = Applied(spool_id, ticket_id, verdict.action)
    for hook in options.after:
        hook(tx, message, applied)
    if spool_id is not None:
        tx.delivery_done(spool_id)
    return applied


def _store_message(tx: Transaction, message: Message, ticket_id: int, now: float) -> int:
    mail = message.parsed
    return tx.add_message(
        ticket_id=ticket_id,
        direction="in",
        message_id=message.message_id,
        from_address=requester_of(message),
        to_addresses=[m.address for m in (*mail.to, *mail.cc)],
        subject=mail.subject,
        text=mail.text,
        verdict=message.verdict.to_json(),
        spool_id=message.envelope.spool_id,
        now=now,
    )


def _new_ticket(tx: Transaction, message: Message, now: float) -> int:
    mail = message.parsed
    verdict = message.verdict
    requester = requester_of(message)
    assert verdict.queue is not None
    # The directory's answer goes in with the row (apply records its events afterwards).
    person, lookup = (None, None) if verdict.directory is None else directory_rows.columns(
        verdict.directory[0], dict(verdict.person) if verdict.person else None)
    ticket_id = tx.create_ticket(
        queue=verdict.queue,
        subject=mail.subject,
        requester=requester,
        flags=verdict.flags,
        priority=verdict.priority,
        tags=verdict.tags,
        linked_to=verdict.linked_to,
        subject_key=verdict.subject_key,
        person=person,
        person_lookup=lookup,
        now=now,
    )
    row = _store_message(tx, message, ticket_id, now)
    functions = set(verdict.function_addresses)
    others = [
        (m.address, "cc") for m in (*mail.to, *mail.cc) if canonical(m.address) not in functions
    ]
    tx.add_participants(ticket_id, [(requester, "requester"), *others])
    entries: list[tuple[str, dict[str, Any], int | None]] = [
        ("created",
         {"requester": requester, "function_addresses": list(verdict.function_addresses)}, row),
        ("routed", {"queue": verdict.queue, "rule": verdict.rule}, None),
    ]
    if verdict.flags:
        entries.append(("flagged", dict(verdict.reasons), None))
    if verdict.linked_to is not None:
        entries.append(("linked", {"to": verdict.linked_to}, None))
    tx.add_events(ticket_id, entries, spool_id=message.envelope.spool_id)
    return ticket_id
