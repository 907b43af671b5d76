"""Tickets and their participants: one row each, the number in a ticket's code from the
table's id sequence.

Flags and tags are JSON lists of names. Served by tickets_queue_status, tickets_status,
tickets_resend (requester, subject_key, created_at) and the participants' primary key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .base import Reading, Writing
from .records import Ticket

TICKET_COLUMNS = (
    "id, queue, status, subject, requester, flags, priority, tags, linked_to,"
    " created_at, updated_at"
)
TICKET_SQL = f"SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?"


@dataclass(frozen=True)
class Applied:
    """What applying a verdict did: the ticket touched (if any) and how."""

    spool_id: int | None
    ticket_id: int | None
    action: str
    skipped: bool = False  # the spool row was no longer new: someone already did this work


def _strings(value: str) -> tuple[str, ...]:
    # Most tickets have no flags or tags: "[]" needs no JSON parser.
    return () if value == "[]" else tuple(json.loads(value))


def ticket_from_row(row: Sequence[Any]) -> Ticket:
    return Ticket(
        id=row[0],
        queue=row[1],
        status=row[2],
        subject=row[3],
        requester=row[4],
        flags=_strings(row[5]),
        priority=row[6],
        tags=_strings(row[7]),
        linked_to=row[8],
        created_at=row[9],
        updated_at=row[10],
    )


class TicketWrites(Writing):
    __slots__ = ()

    def create_ticket(
        self,
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
        cur = self.conn.execute(
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

    def touch_ticket(self, ticket_id: int, now: float, *, reopen: bool) -> None:
        """Note new activity; `reopen` moves a resolved or closed ticket back to open."""
        if reopen:
            self.conn.execute(
                "UPDATE tickets SET updated_at = ?,"
                " status = CASE WHEN status IN ('resolved', 'closed') THEN 'open' ELSE status END"
                " WHERE id = ?",
                (now, ticket_id),
            )
        else:
            self.conn.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (now, ticket_id))

    def add_flags(self, ticket_id: int, flags: Iterable[str]) -> None:
        """Add flags the ticket does not have yet, after those it has, each once."""
        current = self._flags(ticket_id)
        merged = list(dict.fromkeys([*current, *flags]))
        if merged != current:
            self._set_flags(ticket_id, merged)

    def remove_flag(self, ticket_id: int, flag: str) -> bool:
        """Take `flag` off the ticket; False when it did not have it."""
        current = self._flags(ticket_id)
        if flag not in current:
            return False
        self._set_flags(ticket_id, [f for f in current if f != flag])
        return True

    def add_participants(self, ticket_id: int, people: Iterable[tuple[str, str]]) -> None:
        """Add (address, role) pairs; an address already present keeps its first role."""
        self.conn.executemany(
            "INSERT OR IGNORE INTO participants (ticket_id, address, role) VALUES (?, ?, ?)",
            [(ticket_id, a, r) for a, r in people if a],
        )

    def queue_of(self, ticket_id: int) -> str | None:
        row = self.conn.execute("SELECT queue FROM tickets WHERE id = ?",
                                (ticket_id,)).fetchone()
        return str(row[0]) if row else None

    def _flags(self, ticket_id: int) -> list[str]:
        row = self.conn.execute("SELECT flags FROM tickets WHERE id = ?",
                                (ticket_id,)).fetchone()
        return json.loads(row[0]) if row else []

    def _set_flags(self, ticket_id: int, flags: list[str]) -> None:
        self.conn.execute("UPDATE tickets SET flags = ? WHERE id = ?",
                          (json.dumps(flags), ticket_id))


class TicketReads(Reading):
    __slots__ = ()

    def ticket(self, number: int) -> Ticket | None:
        row = self.conn.execute(TICKET_SQL, (number,)).fetchone()
        return ticket_from_row(row) if row else None

    def tickets(self, *, queue: str | None, status: str | None, limit: int) -> list[Ticket]:
        """Tickets newest first, optionally of one queue and/or status."""
        where, args = [], []
        if queue:
            where.append("queue = ?")
            args.append(queue)
        if status:
            where.append("status = ?")
            args.append(status)
        sql = f"SELECT {TICKET_COLUMNS} FROM tickets"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        return [ticket_from_row(r) for r in self.conn.execute(sql, (*args, limit)).fetchall()]

    def ticket_values_in_use(self, column: Literal["queue", "status"]) -> set[str]:
        """The queues (or statuses) some ticket has: an index read, not a table scan."""
        if column not in ("queue", "status"):  # named in the SQL: never from outside
            raise ValueError(f"not a ticket column to list: {column!r}")
        return {r[0] for r in self.conn.execute(f"SELECT DISTINCT {column} FROM tickets")}

    def participants(self, ticket_id: int) -> dict[str, str]:
        """address -> role (requester, cc, recipient, staff) of everyone on the ticket."""
        rows = self.conn.execute(
            "SELECT address, role FROM participants WHERE ticket_id = ?", (ticket_id,)
        ).fetchall()
        return {a: r for a, r in rows}

    def is_participant(self, ticket_id: int, address: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM participants WHERE ticket_id = ? AND address = ?",
            (ticket_id, address),
        ).fetchone()
        return row is not None

    def resend_candidates(
        self, requester: str, subject_key: str, since: float
    ) -> list[tuple[int, str, str]]:
        """(ticket, status, first message text) of this requester's tickets with this subject."""
        rows = self.conn.execute(
            "SELECT t.id, t.status, (SELECT m.text FROM messages m WHERE m.ticket_id = t.id"
            " ORDER BY m.id LIMIT 1) FROM tickets t"
            " WHERE t.requester = ? AND t.subject_key = ? AND t.created_at >= ?"
            " ORDER BY t.created_at DESC LIMIT 5",
            (requester, subject_key, since),
        ).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2] or "")) for r in rows]
