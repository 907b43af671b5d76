"""The store: the one door to the database (schema, the single writer, read-only views).

Everything else reaches the database only through this package, by the methods of
interface.py (written in the helpdesk's words), and writes no SQL of its own; so another
backend (PostgreSQL for several daemons) can be added without touching them. The package:

- interface.py: the contract (Transaction, Reads, Writer) and what is SQLite's own today
- records.py: the frozen records it hands out (Ticket, SpoolRow, OutboxRow, ...)
- schema.py: tables, indexes and migrations
- writer.py: the single writer thread, group commit; transaction.py: a job's writes
- reads.py: StoreView, the read-only view
- one module per area, each a pair of mixins (writes, reads): spool, tickets (with
  participants), messages (with events), outbox (with the rate limit's count), person (the
  directory's answer on a ticket), counts (`ticketgate stats`)

The package imports its parts when first asked for them: `inject` uses only schema.py and
spoolwrite.py, and the writer (asyncio, structlog) would cost it more than all its own work.
"""

from __future__ import annotations

import sqlite3

from .schema import SCHEMA_VERSION, migrate, tune

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; type checkers honour it
if TYPE_CHECKING:
    from pathlib import Path

    from .interface import Reads, Transaction
    from .reads import StoreView
    from .records import OutboxRow, SpoolRow, Ticket
    from .writer import StorageError, Writer

_LAZY = {
    "StoreView": ".reads", "StorageError": ".writer", "Reads": ".interface",
    "Transaction": ".interface", "OutboxRow": ".records", "SpoolRow": ".records",
    "Ticket": ".records",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The backend's own error: the database itself failed (not the caller's data). A caller
# that guards its own work in a savepoint lets these through to the writer.
DatabaseError = sqlite3.Error


def create(path: Path) -> None:
    """Create the database file (and its directories) if needed, and migrate it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        tune(conn)
        migrate(conn)
    finally:
        conn.close()


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
        create(self.path)
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


if TYPE_CHECKING:  # mypy checks that today's backend keeps the contract
    from . import interface
    from .transaction import SqliteTransaction

    def _contract(view: StoreView, tx: SqliteTransaction, writer: Writer) -> tuple[
            interface.Reads, interface.Transaction, interface.Writer]:
        return view, tx, writer


__all__ = [
    "SCHEMA_VERSION", "DatabaseError", "OutboxRow", "Reads", "SpoolRow", "StorageError",
    "Store", "StoreView", "Ticket", "Transaction", "create", "open_readonly",
]
