"""SqliteTransaction: the writes of every area, on the writer's connection inside its group.

The writer hands one to each job; see interface.Transaction for what each write promises.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from .desk import DeskWrites
from .messages import MessageWrites
from .outbox import OutboxWrites
from .person import PersonWrites
from .spool import SpoolWrites
from .tickets import TicketWrites


class SqliteTransaction(SpoolWrites, TicketWrites, MessageWrites, OutboxWrites, PersonWrites,
                        DeskWrites):
    """The write side of the store on one SQLite connection (see interface.Transaction)."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @contextlib.contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """Writes in the block are undone together when it raises (and the error goes on);
        what the job wrote before the block stays."""
        if not name.isidentifier():
            raise ValueError(f"not a savepoint name: {name!r}")
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        self.conn.execute(f"RELEASE {name}")
