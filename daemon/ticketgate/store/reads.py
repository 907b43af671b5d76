"""Read-only queries: the view the pipeline stages and the command line look through.

Every query here is served by an index (see schema.py); tests check `EXPLAIN QUERY PLAN`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .schema import tune


@dataclass(frozen=True)
class Ticket:
    """A ticket as stored."""

    id: int
    queue: str
    status: str
    subject: str
    requester: str
    flags: tuple[str, ...]
    priority: str | None
    tags: tuple[str, ...]
    linked_to: int | None
    created_at: float
    updated_at: float


TICKET_COLUMNS = (
    "id, queue, status, subject, requester, flags, priority, tags, linked_to,"
    " created_at, updated_at"
)


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


class StoreView:
    """Read-only access, one connection per thread (WAL lets readers run beside the writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    @property
    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            tune(conn)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def ticket(self, number: int) -> Ticket | None:
        row = self.conn.execute(
            f"SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?", (number,)
        ).fetchone()
        return ticket_from_row(row) if row else None

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

    def participants(self, ticket_id: int) -> dict[str, str]:
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

    def is_our_message_id(self, message_id: str) -> bool:
        """True when we sent a message with this Message-ID (it is in the outbox)."""
        row = self.conn.execute(
            "SELECT 1 FROM outbox WHERE message_id = ? LIMIT 1", (message_id,)
        ).fetchone()
        return row is not None

    def recipients_of(self, message_row: int) -> tuple[str, ...]:
        """Envelope recipients of the delivery that stored this message row."""
        row = self.conn.execute(
            "SELECT s.rcpt_to FROM messages m JOIN spool s ON s.id = m.spool_id WHERE m.id = ?",
            (message_row,),
        ).fetchone()
        return tuple(json.loads(row[0])) if row else ()

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

