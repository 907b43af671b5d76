"""The store: the one narrow door to SQLite (schema, the single writer, read-only views).

Stages and commands reach the database only through this package, so another backend
(PostgreSQL for several daemons) can be added without touching them.

The package imports its parts when first asked for them: `inject` uses only schema.py and
spoolwrite.py, and the writer (asyncio, structlog) would cost it more than all its own work.
"""

from __future__ import annotations

import sqlite3

from .schema import SCHEMA_VERSION, migrate, tune

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; type checkers honour it
if TYPE_CHECKING:
    from pathlib import Path

    from .reads import StoreView, Ticket
    from .writer import StorageError

_LAZY = {"StoreView": ".reads", "Ticket": ".reads", "StorageError": ".writer"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Store:
    """Opens (and migrates) the database; owns the writer thread and a read-only view."""

    def __init__(self, path: Path) -> None:
        from .reads import StoreView
        from .writer import Writer

        self.path = path
        self.writer = Writer(path)
        self.view = StoreView(path)

    def open(self) -> Store:
        """Create the file and directories if needed, migrate, and start the writer."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            tune(conn)
            migrate(conn)
        finally:
            conn.close()
        self.writer.start()
        return self

    def close(self) -> None:
        self.writer.stop()
        self.view.close()

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_readonly(path: Path) -> StoreView:
    """A view for commands that only read; raises StorageError when there is no database."""
    from .reads import StoreView
    from .writer import StorageError

    if not path.exists():
        raise StorageError(f"no database at {path}")
    return StoreView(path)


__all__ = ["SCHEMA_VERSION", "StorageError", "Store", "StoreView", "Ticket", "open_readonly"]
