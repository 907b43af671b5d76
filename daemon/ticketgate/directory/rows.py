"""The person on a ticket: the rows the directory lookups read and write.

`tickets.person` holds the directory's entry as JSON; `tickets.person_lookup` says how the
lookup went: found, unknown, pending (the directory did not answer: looked up again later)
or NULL (never looked up: no directory, or mail that is not looked up).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from ..store import StoreView
from ..store import tickets as t

STATES = {"found": "found", "unknown": "unknown", "unavailable": "pending"}


def lookup_state(view: StoreView, ticket_id: int) -> str | None:
    """The ticket's person_lookup (None also for a database not yet migrated to have one)."""
    try:
        row = view.conn.execute("SELECT person_lookup FROM tickets WHERE id = ?",
                                (ticket_id,)).fetchone()
    except sqlite3.OperationalError:  # `rules test` against an older database
        return None
    return row[0] if row else None


def person_of(conn: sqlite3.Connection, ticket_id: int) -> tuple[dict[str, Any] | None, str | None]:
    """(person, person_lookup) of a ticket."""
    row = conn.execute("SELECT person, person_lookup FROM tickets WHERE id = ?",
                       (ticket_id,)).fetchone()
    if row is None:
        return None, None
    return (json.loads(row[0]) if row[0] else None), row[1]


def columns(outcome: str, person: Mapping[str, str] | None) -> tuple[str | None, str]:
    """The values of tickets.person and tickets.person_lookup for a lookup's result."""
    return (json.dumps(dict(person), ensure_ascii=False) if person else None), STATES[outcome]


def record(
    conn: sqlite3.Connection,
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
        _, before = person_of(conn, ticket_id)
        if before == "found":
            return
    if not stored:
        conn.execute(
            "UPDATE tickets SET person = ?, person_lookup = ? WHERE id = ?",
            (*columns(outcome, person), ticket_id),
        )
    extra: dict[str, Any] = {"retried": True} if retried else {}
    if outcome == "unavailable":
        t.event(conn, ticket_id, "directory_unavailable",
                {"error": detail, "retry": "looked up again when the directory answers",
                 **extra}, spool_id=spool_id)
        return
    if outcome == "unknown" and before == "unknown":
        return  # nothing new to say
    t.event(conn, ticket_id, "directory_lookup",
            {"outcome": outcome, **(dict(person) if person else {}), "detail": detail, **extra},
            spool_id=spool_id)
    if existing and person:
        _remove_flag(conn, ticket_id, "private_address")
    if retried and flag is not None:
        t.add_flags(conn, ticket_id, (flag[0],))
        t.event(conn, ticket_id, "flagged", {flag[0]: flag[1]}, spool_id=spool_id)


def _remove_flag(conn: sqlite3.Connection, ticket_id: int, flag: str) -> None:
    row = conn.execute("SELECT flags FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    flags = json.loads(row[0]) if row else []
    if flag in flags:
        conn.execute("UPDATE tickets SET flags = ? WHERE id = ?",
                     (json.dumps([f for f in flags if f != flag]), ticket_id))
        t.event(conn, ticket_id, "unflagged",
                {flag: "the directory knows the requester"})


def pending(conn: sqlite3.Connection, limit: int = 50) -> list[tuple[int, str, str | None]]:
    """(ticket, requester, username given) of tickets whose lookup is pending, oldest first."""
    rows = conn.execute(
        "SELECT id, requester FROM tickets WHERE person_lookup = 'pending' ORDER BY id LIMIT ?",
        (limit,),
    ).fetchall()
    out = []
    for ticket_id, requester in rows:
        given = conn.execute(
            "SELECT json_extract(verdict, '$.username') FROM messages"
            " WHERE ticket_id = ? AND direction = 'in'"
            " AND json_extract(verdict, '$.username') IS NOT NULL ORDER BY id DESC LIMIT 1",
            (ticket_id,),
        ).fetchone()
        out.append((int(ticket_id), str(requester), given[0] if given else None))
    return out
