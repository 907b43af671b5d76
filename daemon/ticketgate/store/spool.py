"""Write-side operations on the spool: what the SMTP server and the worker commit.

`insert` lives in spoolwrite.py, which `inject` imports without the rest of the store.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .spoolwrite import insert as insert  # re-exported: every spool write in one place


@dataclass(frozen=True)
class SpoolRow:
    """One accepted delivery, exactly as received."""

    id: int
    received_at: float
    mail_from: str
    rcpt_to: tuple[str, ...]
    peer: str
    protocol: str
    raw: bytes
    state: str
    error: str | None
    attempts: int


def from_row(row: Sequence[Any]) -> SpoolRow:
    (id_, received_at, mail_from, rcpt_to, peer, protocol, raw, state, error, attempts) = row
    return SpoolRow(
        id=int(id_),
        received_at=float(received_at),
        mail_from=str(mail_from),
        rcpt_to=tuple(json.loads(str(rcpt_to))),
        peer=str(peer),
        protocol=str(protocol),
        raw=bytes(raw),
        state=str(state),
        error=None if error is None else str(error),
        attempts=int(attempts),
    )


COLUMNS = "id, received_at, mail_from, rcpt_to, peer, protocol, raw, state, error, attempts"


def claim_new(conn: sqlite3.Connection, spool_id: int) -> bool:
    """Inside the applying transaction: True when the row is still new (guards double work)."""
    row = conn.execute("SELECT state FROM spool WHERE id = ?", (spool_id,)).fetchone()
    return row is not None and row[0] == "new"


def mark_done(conn: sqlite3.Connection, spool_id: int) -> None:
    conn.execute(
        "UPDATE spool SET state = 'done', error = NULL, processed_at = ?,"
        " attempts = attempts + 1 WHERE id = ?",
        (time.time(), spool_id),
    )


def mark_held(conn: sqlite3.Connection, spool_id: int, error: str) -> None:
    conn.execute(
        "UPDATE spool SET state = 'held', error = ?, processed_at = ?, attempts = attempts + 1"
        " WHERE id = ? AND state = 'new'",
        (error[:4000], time.time(), spool_id),
    )


def release(conn: sqlite3.Connection, spool_id: int) -> bool:
    """Put a held row back to new so the worker runs it again; False when it was not held."""
    cur = conn.execute(
        "UPDATE spool SET state = 'new', error = NULL WHERE id = ? AND state = 'held'",
        (spool_id,),
    )
    return cur.rowcount == 1
