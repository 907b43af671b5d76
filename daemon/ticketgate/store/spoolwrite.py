"""Writing spool rows: the statement every way in shares, and a one-row commit for `inject`.

`inject` is a new process for every mail an MTA pipes to it, so what it imports is most of
what it costs (BENCHMARKS.md, "Session 5"). This module needs only sqlite3: no writer
thread, no schema migration, not even the json package (its decoder imports re and enum).
`commit_one` returns None for a database it cannot use as it is (missing, or at another
schema version); the caller then opens the whole Store, which creates or migrates it.
"""

from __future__ import annotations

import os
import sqlite3
import time

from .schema import SCHEMA_VERSION, tune

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; type checkers honour it
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

_quote: Callable[[str], str] | None
try:  # the C string encoder json.dumps itself uses
    from _json import encode_basestring_ascii as _quote
except ImportError:  # an interpreter without json's accelerator
    _quote = None

# As long as the writer thread waits for the write lock (writer.LOCK_WAIT), polled as finely:
# SQLite's own busy handler sleeps up to 100 ms at a time.
LOCK_WAIT = 5.0
LOCK_POLL = 0.0005


def json_list(items: Iterable[str]) -> str:
    """Exactly `json.dumps(list(items))` for strings, without importing json."""
    if _quote is None:
        import json

        return json.dumps(list(items))
    return "[" + ", ".join(_quote(item) for item in items) + "]"


def insert(
    conn: sqlite3.Connection,
    *,
    raw: bytes,
    mail_from: str,
    rcpt_to: Sequence[str],
    peer: str,
    protocol: str,
    received_at: float | None = None,
) -> int:
    """Add an accepted delivery to the spool; return its id (the 'queued as' number)."""
    cur = conn.execute(
        "INSERT INTO spool (received_at, mail_from, rcpt_to, peer, protocol, size, raw)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            received_at if received_at is not None else time.time(),
            mail_from,
            json_list(rcpt_to),
            peer,
            protocol,
            len(raw),
            raw,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def _begin(conn: sqlite3.Connection) -> None:
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(LOCK_POLL)


def commit_one(
    database: str, *, raw: bytes, mail_from: str, rcpt_to: Sequence[str], peer: str,
    protocol: str,
) -> int | None:
    """Insert one spool row and commit it durably (synchronous=FULL); return its id.

    None, with nothing written, when there is no database file yet or its schema is not this
    ticketgate's. sqlite3 errors (a lock held past LOCK_WAIT, a full disk) propagate.
    """
    if not os.path.isfile(database):
        return None
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            return None
        tune(conn)
        conn.execute("PRAGMA busy_timeout=0")  # _begin waits for the lock itself
        _begin(conn)
        try:
            spool_id = insert(conn, raw=raw, mail_from=mail_from, rcpt_to=rcpt_to, peer=peer,
                              protocol=protocol)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return spool_id
    finally:
        conn.close()
