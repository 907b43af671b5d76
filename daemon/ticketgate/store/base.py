"""The two bases of the store's area modules: each area is a pair of mixins, one of writes
(combined into SqliteTransaction, the writer's transaction) and one of reads (combined into
StoreView). Methods call `self.conn.execute` directly: no layer between a caller and SQLite, so
the door costs nothing on the hot path.
"""

from __future__ import annotations

import sqlite3


class Writing:
    """Base of the write mixins: `conn` is the writer's connection, inside its transaction."""

    __slots__ = ()
    conn: sqlite3.Connection


class Reading:
    """Base of the read mixins: StoreView gives each thread a read-only connection."""

    __slots__ = ()

    @property
    def conn(self) -> sqlite3.Connection:
        raise NotImplementedError
