"""Applying a verdict: ticket, message, participants, events and spool row in one transaction."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import spool

# json.dumps(..., ensure_ascii=False) builds a new encoder on every call; one shared encoder
# gives the same text.
_JSON = json.JSONEncoder(ensure_ascii=False)


@dataclass(frozen=True)
class Applied:
    """What applying a verdict did: the ticket touched (if any) and how."""

    spool_id: int | None
    ticket_id: int | None
    action: str
    skipped: bool = False  # the spool row was no longer new: someone already did this work


def event(
    conn: sqlite3.Connection,
    ticket_id: int | None,
    kind: str,
    detail: dict[str, Any] | None = None,
    *,
    spool_id: int | None = None,
    message_row: int | None = None,
    at: float | None = None,
) -> None:
    """Append one row to a ticket's history."""
    conn.execute(
        EVENT_SQL,
        (
            ticket_id,
            at if at is not None else time.time(),
            kind,
            _JSON.encode(detail or {}),
            spool_id,
            message_row,
        ),
    )


EVENT_SQL = (
    "INSERT INTO events (ticket_id, at, kind, detail, spool_id, message_id)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def events(
    conn: sqlite3.Connection,
    ticket_id: int | None,
    entries: Iterable[tuple[str, dict[str, Any], int | None]],
    *,
    spool_id: int | None = None,
    at: float | None = None,
) -> None:
    """Append several rows to a ticket's history, in order: (kind, detail, message row) each."""
    when = at if at is not None else time.time()
    conn.executemany(
        EVENT_SQL,
        [(ticket_id, when, kind, _JSON.encode(detail), spool_id, row)
         for kind, detail, row in entries],
    )


def create_ticket(
    conn: sqlite3.Connection,
    *,
    queue: str,
    subject: str,
    requester: str,
    flags: Iterable[str] = (),
    priority: str | None = None,
    tags: Iterable[str] = (),
    linked_to: int | None = None,
    subject_key: str = "",
    person: str | None = None,
    person_lookup: str | None = None,
    now: float,
) -> int:
    """Insert a ticket; `person` (JSON) and `person_lookup` as directory.rows.columns() gives
    them, when the directory lookup is known already (saves an UPDATE of the new row)."""
    cur = conn.execute(
        "INSERT INTO tickets (queue, status, subject, requester, flags, priority, tags,"
        " linked_to, subject_key, person, person_lookup, created_at, updated_at)"
        " VALUES (?, 'new', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            queue,
            subject,
            requester,
            json.dumps(list(flags)),
            priority,
            json.dumps(list(tags)),
            linked_to,
            subject_key,
            person,
            person_lookup,
            now,
            now,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def add_message(
    conn: sqlite3.Connection,
    *,
    ticket_id: int,
    direction: str,
    message_id: str,
    from_address: str,
    to_addresses: Iterable[str],
    subject: str,
    text: str,
    verdict: dict[str, Any] | None = None,
    spool_id: int | None = None,
    outbox_id: int | None = None,
    now: float,
) -> int:
    cur = conn.execute(
        "INSERT INTO messages (ticket_id, direction, message_id, from_address, to_addresses,"
        " subject, text, verdict, spool_id, outbox_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            ticket_id,
            direction,
            message_id,
            from_address,
            json.dumps(list(to_addresses)),
            subject,
            text,
            _JSON.encode(verdict or {}),
            spool_id,
            outbox_id,
            now,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def add_participants(
    conn: sqlite3.Connection, ticket_id: int, people: Iterable[tuple[str, str]]
) -> None:
    """Add (address, role) pairs; an address already present keeps its first role."""
    conn.executemany(
        "INSERT OR IGNORE INTO participants (ticket_id, address, role) VALUES (?, ?, ?)",
        [(ticket_id, a, r) for a, r in people if a],
    )


def touch(conn: sqlite3.Connection, ticket_id: int, now: float, *, reopen: bool) -> None:
    if reopen:
        conn.execute(
            "UPDATE tickets SET updated_at = ?,"
            " status = CASE WHEN status IN ('resolved', 'closed') THEN 'open' ELSE status END"
            " WHERE id = ?",
            (now, ticket_id),
        )
    else:
        conn.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (now, ticket_id))


def add_flags(conn: sqlite3.Connection, ticket_id: int, flags: Iterable[str]) -> None:
    row = conn.execute("SELECT flags FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    current = json.loads(row[0]) if row else []
    merged = current + [f for f in flags if f not in current]
    if merged != current:
        conn.execute("UPDATE tickets SET flags = ? WHERE id = ?", (json.dumps(merged), ticket_id))


def claim(conn: sqlite3.Connection, spool_id: int | None) -> bool:
    """True when there is no spool row (e.g. a direct apply) or it is still new."""
    return spool_id is None or spool.claim_new(conn, spool_id)
