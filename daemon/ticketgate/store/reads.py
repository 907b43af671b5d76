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


def ticket_from_row(row: Sequence[Any]) -> Ticket:
    return Ticket(
        id=row[0],
        queue=row[1],
        status=row[2],
        subject=row[3],
        requester=row[4],
        flags=tuple(json.loads(row[5])),
        priority=row[6],
        tags=tuple(json.loads(row[7])),
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
