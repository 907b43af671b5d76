"""The person on a ticket: what the directory said about its requester.

`tickets.person` holds the directory's entry as JSON; `tickets.person_lookup` says how the
lookup went: found, unknown, pending (the directory did not answer: looked up again later)
or NULL (never looked up: no directory, or mail that is not looked up). Pending lookups are
found through the partial index tickets_person_pending.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .base import Reading, Writing
from .records import PendingLookup

PERSON_SQL = "SELECT person, person_lookup FROM tickets WHERE id = ?"


def _person(row: tuple[Any, ...] | None) -> tuple[dict[str, Any] | None, str | None]:
    if row is None:
        return None, None
    return (json.loads(row[0]) if row[0] else None), row[1]


class PersonWrites(Writing):
    __slots__ = ()

    def person_of(self, ticket_id: int) -> tuple[dict[str, Any] | None, str | None]:
        """(person, person_lookup) of a ticket, as they are in this transaction."""
        return _person(self.conn.execute(PERSON_SQL, (ticket_id,)).fetchone())

    def set_person(self, ticket_id: int, person: str | None, lookup: str) -> None:
        """Store a lookup's result: `person` as JSON (None when nobody was found)."""
        self.conn.execute("UPDATE tickets SET person = ?, person_lookup = ? WHERE id = ?",
                          (person, lookup, ticket_id))


class PersonReads(Reading):
    __slots__ = ()

    def person_of(self, ticket_id: int) -> tuple[dict[str, Any] | None, str | None]:
        """(person, person_lookup) of a ticket."""
        return _person(self.conn.execute(PERSON_SQL, (ticket_id,)).fetchone())

    def lookup_state(self, ticket_id: int) -> str | None:
        """The ticket's person_lookup (None also for a database not yet migrated to have one)."""
        try:
            row = self.conn.execute("SELECT person_lookup FROM tickets WHERE id = ?",
                                    (ticket_id,)).fetchone()
        except sqlite3.OperationalError:  # `rules test` against an older database
            return None
        return row[0] if row else None

    def pending_lookups(self, limit: int = 50) -> list[PendingLookup]:
        """Tickets whose lookup is pending, oldest first, with the username their requester
        gave last."""
        rows = self.conn.execute(
            "SELECT id, requester FROM tickets WHERE person_lookup = 'pending'"
            " ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        out = []
        for ticket_id, requester in rows:
            given = self.conn.execute(
                "SELECT json_extract(verdict, '$.username') FROM messages"
                " WHERE ticket_id = ? AND direction = 'in'"
                " AND json_extract(verdict, '$.username') IS NOT NULL ORDER BY id DESC LIMIT 1",
                (ticket_id,),
            ).fetchone()
            out.append(PendingLookup(int(ticket_id), str(requester), given[0] if given else None))
        return out
