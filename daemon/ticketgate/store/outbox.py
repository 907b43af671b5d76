"""The outbox: one row per rendered mail and recipient.

A row is `pending` until delivered (`sent`) or given up (`failed`). Its Message-ID (unique)
and raw bytes never change, so every attempt delivers the same mail. Each query here is
served by an index of schema.py (`outbox_due`, `outbox_state`, `outbox_rcpt`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from .base import Reading, Writing
from .records import OutboxRow

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
# The rate limit: one range scan of outbox_rcpt (rcpt_to, created_at) counts the day, and
# the hour within it.
COUNT_SQL = (
    "SELECT count(*), coalesce(sum(created_at >= ?), 0) FROM outbox"
    " WHERE rcpt_to = ? AND created_at >= ?"
)
INSERT_SQL = (
    "INSERT INTO outbox (ticket_id, kind, message_id, mail_from, rcpt_to, raw, state,"
    " attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)"
)


def from_row(row: Sequence[Any]) -> OutboxRow:
    return OutboxRow(*row)


class OutboxWrites(Writing):
    __slots__ = ()

    def queue_mail(
        self, *, ticket_id: int, kind: str, message_id: str, rcpt_to: str, raw: bytes,
        now: float, mail_from: str = "",
    ) -> int:
        """Queue one mail for delivery now; returns the row id."""
        cur = self.conn.execute(
            INSERT_SQL, (ticket_id, kind, message_id, mail_from, rcpt_to, raw, now, now))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def outbox_row(self, outbox_id: int) -> OutboxRow | None:
        """The row as it is in this transaction (without its raw bytes)."""
        row = self.conn.execute(f"SELECT {COLUMNS} FROM outbox WHERE id = ?",
                                (outbox_id,)).fetchone()
        return from_row(row) if row else None

    def mails_to(self, rcpt: str, *, hour_from: float, day_from: float) -> tuple[int, int]:
        """(rows created since `hour_from`, since `day_from`) to `rcpt`, whatever their state:
        what the per-recipient rate limit counts. Sees rows queued earlier in this transaction.
        """
        day, hour = self.conn.execute(COUNT_SQL, (hour_from, rcpt, day_from)).fetchone()
        return int(hour), int(day)

    def mark_sent(self, outbox_id: int, now: float) -> bool:
        """Record a delivery; False when the row was no longer pending."""
        cur = self.conn.execute(
            "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?,"
            " last_error = NULL WHERE id = ? AND state = 'pending'",
            (now, outbox_id),
        )
        return cur.rowcount == 1

    def mark_deferred(self, outbox_id: int, next_attempt_at: float, error: str) -> bool:
        """Record a temporary failure and when to try again."""
        cur = self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
            " WHERE id = ? AND state = 'pending'",
            (next_attempt_at, error, outbox_id),
        )
        return cur.rowcount == 1

    def mark_failed(self, outbox_id: int, error: str) -> bool:
        """Give up on a row (permanent failure, or temporary failures for too long)."""
        cur = self.conn.execute(
            "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?"
            " WHERE id = ? AND state = 'pending'",
            (error, outbox_id),
        )
        return cur.rowcount == 1

    def requeue_mail(self, outbox_id: int, now: float) -> bool:
        """Make a failed or pending row due now, with a fresh give-up clock (`outbox retry`).

        The give-up time counts from `created_at`, so a retry starts it again; attempts so far
        are kept, as the history of what happened.
        """
        cur = self.conn.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = ?, created_at = ?"
            " WHERE id = ? AND state IN ('pending', 'failed')",
            (now, now, outbox_id),
        )
        return cur.rowcount == 1


class OutboxReads(Reading):
    __slots__ = ()

    def is_our_message_id(self, message_id: str) -> bool:
        """True when we sent a message with this Message-ID (it is in the outbox)."""
        row = self.conn.execute(
            "SELECT 1 FROM outbox WHERE message_id = ? LIMIT 1", (message_id,)
        ).fetchone()
        return row is not None

    def due_mail(
        self, now: float, limit: int, skip: Collection[int] = ()
    ) -> list[OutboxRow]:
        """Pending rows whose time has come, earliest first, with their raw bytes; none of
        `skip`."""
        rows = self.conn.execute(DUE_SQL, (now, json.dumps(list(skip)), limit)).fetchall()
        return [from_row(r) for r in rows]

    def next_due(self, after: float) -> float | None:
        """When the next pending row not yet due becomes due, or None."""
        row = self.conn.execute(NEXT_DUE_SQL, (after,)).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def highest_outbox_id(self) -> int:
        """The id of the newest row, 0 for an empty outbox."""
        return int(self.conn.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0])

    def outbox_listing(self, *, state: str | None, limit: int) -> list[OutboxRow]:
        """Rows newest first (without raw bytes), optionally of one state."""
        if state:
            rows = self.conn.execute(
                f"SELECT {COLUMNS} FROM outbox WHERE state = ? ORDER BY id DESC LIMIT ?",
                (state, limit),
            ).fetchall()
        else:
            rows = self.conn.execute(
                f"SELECT {COLUMNS} FROM outbox ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [from_row(r) for r in rows]

    def outbox_raw(self, outbox_id: int) -> bytes | None:
        """The mail of a row, as it is delivered."""
        row = self.conn.execute("SELECT raw FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
        return bytes(row[0]) if row else None
