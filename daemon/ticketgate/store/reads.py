"""StoreView: the reads of every area, the view the pipeline stages and the commands look
through (see interface.Reads for what each read promises).

Every query is served by an index (see schema.py); tests check `EXPLAIN QUERY PLAN`.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from .counts import CountReads
from .desk import DeskReads
from .messages import MessageReads
from .outbox import OutboxReads
from .person import PersonReads
from .records import Ticket
from .schema import tune
from .search import SearchReads
from .spool import SpoolReads
from .tickets import TicketReads


class StoreView(TicketReads, MessageReads, SpoolReads, OutboxReads, PersonReads, CountReads,
                DeskReads, SearchReads):
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
        """Close this thread's connection (another call opens a new one)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


__all__ = ["StoreView", "Ticket"]
