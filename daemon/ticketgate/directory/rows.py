"""The person on a ticket: what a directory lookup's result writes (store/person.py keeps
the columns: person as JSON, person_lookup as found, unknown, pending or NULL).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..store import Transaction

STATES = {"found": "found", "unknown": "unknown", "unavailable": "pending"}


def columns(outcome: str, person: Mapping[str, str] | None) -> tuple[str | None, str]:
    """The values of tickets.person and tickets.person_lookup for a lookup's result."""
    return (json.dumps(dict(person), ensure_ascii=False) if person else None), STATES[outcome]


def record(
    tx: Transaction,
    ticket_id: int,
    *,
    outcome: str,
    detail: str,
    person: Mapping[str, str] | None,
    flag: tuple[str, str] | None = None,
    existing: bool,
    spool_id: int | None = None,
    retried: bool = False,
    stored: bool = False,
) -> None:
    """Store a lookup's result on the ticket, with its event, inside the caller's transaction.

    On an `existing` ticket (a follow-up, a retry) a person already found is kept; one found
    now clears private_address; a retry also sets the flag the answer calls for (a follow-up's
    flags are added by apply itself). `stored`: a new ticket inserted with columns() already
    holds the result, and only the events are written.
    """
    before = None
    if existing:
        _, before = tx.person_of(ticket_id)
        if before == "found":
            return
    if not stored:
        tx.set_person(ticket_id, *columns(outcome, person))
    extra: dict[str, Any] = {"retried": True} if retried else {}
    if outcome == "unavailable":
        tx.add_event(ticket_id, "directory_unavailable",
                     {"error": detail, "retry": "looked up again when the directory answers",
                      **extra}, spool_id=spool_id)
        return
    if outcome == "unknown" and before == "unknown":
        return  # nothing new to say
    tx.add_event(ticket_id, "directory_lookup",
                 {"outcome": outcome, **(dict(person) if person else {}), "detail": detail,
                  **extra}, spool_id=spool_id)
    if existing and person and tx.remove_flag(ticket_id, "private_address"):
        tx.add_event(ticket_id, "unflagged",
                     {"private_address": "the directory knows the requester"})
    if retried and flag is not None:
        tx.add_flags(ticket_id, (flag[0],))
        tx.add_event(ticket_id, "flagged", {flag[0]: flag[1]}, spool_id=spool_id)
