"""The spool: every accepted delivery, exactly as received, and how far it got.

A row is `new` until the pipeline has written its ticket (`done`, in the same transaction)
or set it aside (`held`, with the reason). The ids grow with time: the lowest new id is the
oldest unfinished work. Served by spool_new (id WHERE state = 'new') and spool_state.

The INSERT lives in spoolwrite.py, which `inject` imports without the rest of the store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from .base import Reading, Writing
from .records import SpoolEntry, SpoolRow
from .spoolwrite import insert

COLUMNS = "id, received_at, mail_from, rcpt_to, peer, protocol, raw, state, error, attempts"
ROW_SQL = f"SELECT {COLUMNS} FROM spool WHERE id = ?"
NEW_SQL = "SELECT id FROM spool WHERE state = 'new' ORDER BY id LIMIT ?"


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


class SpoolWrites(Writing):
    __slots__ = ()

    def spool_delivery(
        self,
        *,
        raw: bytes,
        mail_from: str,
        rcpt_to: Sequence[str],
        peer: str,
        protocol: str,
        received_at: float | None = None,
    ) -> int:
        """Add an accepted delivery to the spool; return its id (the 'queued as' number)."""
        return insert(self.conn, raw=raw, mail_from=mail_from, rcpt_to=rcpt_to, peer=peer,
                      protocol=protocol, received_at=received_at)

    def claim_delivery(self, spool_id: int | None) -> bool:
        """True when there is no spool row (a direct apply) or it is still new."""
        if spool_id is None:
            return True
        row = self.conn.execute("SELECT state FROM spool WHERE id = ?", (spool_id,)).fetchone()
        return row is not None and row[0] == "new"

    def delivery_done(self, spool_id: int) -> None:
        self.conn.execute(
            "UPDATE spool SET state = 'done', error = NULL, processed_at = ?,"
            " attempts = attempts + 1 WHERE id = ?",
            (time.time(), spool_id),
        )

    def hold_delivery(self, spool_id: int, error: str) -> None:
        self.conn.execute(
            "UPDATE spool SET state = 'held', error = ?, processed_at = ?,"
            " attempts = attempts + 1 WHERE id = ? AND state = 'new'",
            (error[:4000], time.time(), spool_id),
        )

    def release_delivery(self, spool_id: int) -> bool:
        """Put a held row back to new so the worker runs it again; False when it was not held."""
        cur = self.conn.execute(
            "UPDATE spool SET state = 'new', error = NULL WHERE id = ? AND state = 'held'",
            (spool_id,),
        )
        return cur.rowcount == 1


class SpoolReads(Reading):
    __slots__ = ()

    def spool_row(self, spool_id: int) -> SpoolRow | None:
        row = self.conn.execute(ROW_SQL, (spool_id,)).fetchone()
        return from_row(row) if row else None

    def new_deliveries(self, limit: int) -> list[int]:
        """Ids of the rows still new, oldest first: the pipeline's work."""
        return [r[0] for r in self.conn.execute(NEW_SQL, (limit,)).fetchall()]

    def spool_listing(self, *, state: str | None, limit: int) -> list[SpoolEntry]:
        """Rows newest first, optionally of one state."""
        sql = "SELECT id, received_at, mail_from, rcpt_to, size, state, error FROM spool"
        args: list[Any] = []
        if state:
            sql += " WHERE state = ?"
            args.append(state)
        sql += " ORDER BY id DESC LIMIT ?"
        return [
            SpoolEntry(id=r[0], received_at=r[1], mail_from=r[2],
                       rcpt_to=tuple(json.loads(r[3])), size=r[4], state=r[5], error=r[6])
            for r in self.conn.execute(sql, (*args, limit)).fetchall()
        ]
