"""A ticket's messages (in and out) and its history of events.

Served by messages_message_id, messages_ticket, messages_spool and events_ticket.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from .base import Reading, Writing
from .records import StoredEvent, StoredMessage

# json.dumps(..., ensure_ascii=False) builds a new encoder on every call; one shared encoder
# gives the same text.
_JSON = json.JSONEncoder(ensure_ascii=False)

EVENT_SQL = (
    "INSERT INTO events (ticket_id, at, kind, detail, spool_id, message_id)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
MESSAGE_SQL = (
    "INSERT INTO messages (ticket_id, direction, message_id, from_address, to_addresses,"
    " subject, text, verdict, spool_id, outbox_id, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class MessageWrites(Writing):
    __slots__ = ()

    def add_message(
        self,
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
        """Store a message on a ticket; returns its row id (events may name it)."""
        cur = self.conn.execute(
            MESSAGE_SQL,
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

    def add_event(
        self,
        ticket_id: int | None,
        kind: str,
        detail: dict[str, Any] | None = None,
        *,
        spool_id: int | None = None,
        message_row: int | None = None,
        at: float | None = None,
    ) -> None:
        """Append one row to a ticket's history (ticket None: an event of no ticket)."""
        self.conn.execute(
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

    def add_events(
        self,
        ticket_id: int | None,
        entries: Iterable[tuple[str, dict[str, Any], int | None]],
        *,
        spool_id: int | None = None,
        at: float | None = None,
    ) -> None:
        """Append several rows to a ticket's history, in order: (kind, detail, message row)."""
        when = at if at is not None else time.time()
        self.conn.executemany(
            EVENT_SQL,
            [(ticket_id, when, kind, _JSON.encode(detail), spool_id, row)
             for kind, detail, row in entries],
        )


class MessageReads(Reading):
    __slots__ = ()

    def ticket_of_message_ids(self, message_ids: Iterable[str]) -> int | None:
        """The ticket that stored any of these Message-IDs (in or out), last named first."""
        for mid in reversed(list(message_ids)):
            row = self.conn.execute(
                "SELECT ticket_id FROM messages WHERE message_id = ? LIMIT 1", (mid,)
            ).fetchone()
            if row:
                return int(row[0])
        return None

    def thread_of(self, message_ids: Iterable[str]) -> tuple[int, bool] | None:
        """(ticket, sent by us) for the last-named of these Message-IDs that we stored."""
        for mid in reversed(list(message_ids)):
            row = self.conn.execute(
                "SELECT ticket_id, direction FROM messages WHERE message_id = ?"
                " ORDER BY direction = 'out' DESC LIMIT 1",
                (mid,),
            ).fetchone()
            if row:
                return int(row[0]), row[1] == "out"
        return None

    def message(self, message_id: str) -> tuple[int, int] | None:
        """(message row id, ticket id) of an incoming message with this Message-ID."""
        row = self.conn.execute(
            "SELECT id, ticket_id FROM messages WHERE message_id = ? AND direction = 'in'"
            " LIMIT 1",
            (message_id,),
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def recipients_of(self, message_row: int) -> tuple[str, ...]:
        """Envelope recipients of the delivery that stored this message row."""
        row = self.conn.execute(
            "SELECT s.rcpt_to FROM messages m JOIN spool s ON s.id = m.spool_id WHERE m.id = ?",
            (message_row,),
        ).fetchone()
        return tuple(json.loads(row[0])) if row else ()

    def messages_of(self, ticket_id: int) -> list[StoredMessage]:
        """The ticket's messages, oldest first."""
        return [
            StoredMessage(id=m[0], direction=m[1], message_id=m[2], from_address=m[3],
                          to_addresses=tuple(json.loads(m[4])), subject=m[5], text=m[6],
                          verdict=json.loads(m[7]), spool_id=m[8], created_at=m[9],
                          outbox_id=m[10])
            for m in self.conn.execute(
                "SELECT id, direction, message_id, from_address, to_addresses, subject, text,"
                " verdict, spool_id, created_at, outbox_id FROM messages WHERE ticket_id = ?"
                " ORDER BY id",
                (ticket_id,),
            )
        ]

    def events_of(self, ticket_id: int) -> list[StoredEvent]:
        """The ticket's history, oldest first."""
        return [
            StoredEvent(id=e[0], at=e[1], kind=e[2], detail=json.loads(e[3]), spool_id=e[4])
            for e in self.conn.execute(
                "SELECT id, at, kind, detail, spool_id FROM events WHERE ticket_id = ?"
                " ORDER BY id",
                (ticket_id,),
            )
        ]
