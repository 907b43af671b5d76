"""SQL on the `outbox` table: one row per rendered mail and recipient.

A row is `pending` until delivered (`sent`) or given up (`failed`). Its Message-ID and raw
bytes never change, so every attempt delivers the same mail. Each query here is served by an
index of schema.py (`outbox_due`, `outbox_state`, `outbox_rcpt`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

COLUMNS = (
    "id, ticket_id, kind, message_id, mail_from, rcpt_to, state, attempts, next_attempt_at,"
    " last_error, created_at, sent_at"
)

# Both read the partial index outbox_due(next_attempt_at) WHERE state = 'pending', named with
# INDEXED BY: without statistics the planner picks outbox_state and sorts every pending row.
# The rows the worker already has in hand (a JSON array of ids) are passed over in the index,
# so their raw bytes are not read again.
DUE_SQL = (
    f"SELECT {COLUMNS}, raw FROM outbox INDEXED BY outbox_due"
    " WHERE state = 'pending' AND next_attempt_at <= ?"
    " AND id NOT IN (SELECT value FROM json_each(?))"
    " ORDER BY next_attempt_at LIMIT ?"
)
NEXT_DUE_SQL = (
    "SELECT min(next_attempt_at) FROM outbox INDEXED BY outbox_due"
    " WHERE state = 'pending' AND next_attempt_at > ?"
)


@dataclass(frozen=True)
class OutboxRow:
    """One outbox row, without its raw bytes unless asked for."""

    id: int
    ticket_id: int | None
    kind: str
    message_id: str
    mail_from: str
    rcpt_to: str
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    sent_at: float | None
    raw: bytes = b""


def from_row(row: Sequence[Any]) -> OutboxRow:
    return OutboxRow(*row)


def insert(
    conn: sqlite3.Connection, *, ticket_id: int, kind: str, message_id: str, rcpt_to: str,
    raw: bytes, now: float, mail_from: str = "",
) -> int:
    """Queue one mail for delivery now; returns the row id."""
    cur = conn.execute(
        "INSERT INTO outbox (ticket_id, kind, message_id, mail_from, rcpt_to, raw, state,"
        " attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
        (ticket_id, kind, message_id, mail_from, rcpt_to, raw, now, now),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def due(
    conn: sqlite3.Connection, now: float, limit: int, skip: Collection[int] = ()
) -> list[OutboxRow]:
    """Pending rows whose time has come, earliest first, with their raw bytes; none of `skip`."""
    rows = conn.execute(DUE_SQL, (now, json.dumps(list(skip)), limit)).fetchall()
    return [from_row(r) for r in rows]


def highest_id(conn: sqlite3.Connection) -> int:
    """The id of the newest row, 0 for an empty outbox."""
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0])


def next_due(conn: sqlite3.Connection, after: float) -> float | None:
    """When the next pending row not yet due becomes due, or None."""
    row = conn.execute(NEXT_DUE_SQL, (after,)).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def get(conn: sqlite3.Connection, outbox_id: int) -> OutboxRow | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
    return from_row(row) if row else None


def raw_of(conn: sqlite3.Connection, outbox_id: int) -> bytes | None:
    row = conn.execute("SELECT raw FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
    return bytes(row[0]) if row else None


def listing(conn: sqlite3.Connection, state: str | None, limit: int) -> list[OutboxRow]:
    """Rows newest first, optionally of one state."""
    if state:
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM outbox WHERE state = ? ORDER BY id DESC LIMIT ?",
            (state, limit),
        ).fetchall()
    else:
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM outbox ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
    return [from_row(r) for r in rows]


def mark_sent(conn: sqlite3.Connection, outbox_id: int, now: float) -> bool:
    """Record a delivery; False when the row was no longer pending."""
    cur = conn.execute(
        "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?,"
        " last_error = NULL WHERE id = ? AND state = 'pending'",
        (now, outbox_id),
    )
    return cur.rowcount == 1


def mark_deferred(
    conn: sqlite3.Connection, outbox_id: int, next_attempt_at: float, error: str
) -> bool:
    """Record a temporary failure and when to try again."""
    cur = conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
        " WHERE id = ? AND state = 'pending'",
        (next_attempt_at, error, outbox_id),
    )
    return cur.rowcount == 1


def mark_failed(conn: sqlite3.Connection, outbox_id: int, error: str) -> bool:
    """Give up on a row (permanent failure, or temporary failures for too long)."""
    cur = conn.execute(
        "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?"
        " WHERE id = ? AND state = 'pending'",
        (error, outbox_id),
    )
    return cur.rowcount == 1


def requeue(conn: sqlite3.Connection, outbox_id: int, now: float) -> bool:
    """Make a failed or pending row due now, with a fresh give-up clock (`outbox retry`).

    The give-up time counts from `created_at`, so a retry starts it again; attempts so far
    are kept, as the history of what happened.
    """
    cur = conn.execute(
        "UPDATE outbox SET state = 'pending', next_attempt_at = ?, created_at = ?"
        " WHERE id = ? AND state IN ('pending', 'failed')",
        (now, now, outbox_id),
    )
    return cur.rowcount == 1
