"""Counts for `ticketgate stats`: how much is where.

Every count but one reads a covering index (spool_state, tickets_queue_status, outbox_state)
rather than the tables, and the oldest rows are found through an index in O(log n); tests
check the plans. The flag count is the exception: flags are a JSON list per ticket, so it
reads every ticket row once. That is accepted for an admin command (about a second per
million tickets); nothing calls it in a loop.
"""

from __future__ import annotations

from .base import Reading
from .outbox import COLUMNS, from_row
from .records import OutboxRow

QUERIES = {
    "spool": "SELECT state, count(*) FROM spool GROUP BY state",
    # ids grow with time, so the lowest id is the oldest row (spool_new, outbox_state).
    "spool_oldest_new": "SELECT id, received_at FROM spool WHERE state = 'new' ORDER BY id LIMIT 1",
    "tickets": "SELECT queue, status, count(*) FROM tickets GROUP BY queue, status",
    "flags": "SELECT f.value, count(*) FROM tickets AS t, json_each(t.flags) AS f"
             " GROUP BY f.value",
    "outbox": "SELECT state, count(*) FROM outbox GROUP BY state",
    "outbox_oldest_pending": f"SELECT {COLUMNS} FROM outbox WHERE state = 'pending'"
                             " ORDER BY id LIMIT 1",
}


class CountReads(Reading):
    __slots__ = ()

    def spool_counts(self) -> dict[str, int]:
        """Spool rows by state (states without rows are absent)."""
        return dict(self.conn.execute(QUERIES["spool"]).fetchall())

    def oldest_new_delivery(self) -> tuple[int, float] | None:
        """(id, received_at) of the oldest spool row still new."""
        row = self.conn.execute(QUERIES["spool_oldest_new"]).fetchone()
        return (int(row[0]), float(row[1])) if row else None

    def ticket_counts(self) -> list[tuple[str, str, int]]:
        """(queue, status, tickets) for every pair that has tickets."""
        return [(str(q), str(s), int(n)) for q, s, n in self.conn.execute(QUERIES["tickets"])]

    def flag_counts(self) -> dict[str, int]:
        """Tickets by flag."""
        return dict(self.conn.execute(QUERIES["flags"]).fetchall())

    def outbox_counts(self) -> dict[str, int]:
        """Outbox rows by state (states without rows are absent)."""
        return dict(self.conn.execute(QUERIES["outbox"]).fetchall())

    def oldest_pending_mail(self) -> OutboxRow | None:
        """The oldest pending outbox row (without its raw bytes)."""
        row = self.conn.execute(QUERIES["outbox_oldest_pending"]).fetchone()
        return from_row(row) if row else None
