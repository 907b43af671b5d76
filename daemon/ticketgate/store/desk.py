"""What the staff desk (web/) reads and the few writes it shares with the staff actions: the
lists of tickets with their counts, a ticket with its owner, what was sent about it, and the
dashboard's figures.

The lists are indexed reads of at most `limit` rows per (queue, status): tickets_queue_status,
tickets_unowned (owner IS NULL) and tickets_owner, merged here by number, so a list costs the
same with a thousand tickets or a million. Counts come from ticket_tally and the dashboard from
ticket_days, both kept by triggers of schema.py (migration 4) in the transaction that writes
the ticket.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Sequence
from typing import Any

from .base import Reading, Writing
from .outbox import COLUMNS as OUTBOX_COLUMNS
from .outbox import from_row as outbox_from_row
from .records import DayFigures, DeskTicket, OutboxRow

DESK_COLUMNS = (
    "id, queue, status, subject, requester, flags, priority, owner, linked_to, created_at,"
    " updated_at, first_answer_at"
)
MAX_LIST = 1000  # rows a list may ask for at once


def desk_ticket(row: Sequence[Any]) -> DeskTicket:
    return DeskTicket(
        id=row[0], queue=row[1], status=row[2], subject=row[3], requester=row[4],
        flags=() if row[5] == "[]" else tuple(json.loads(row[5])), priority=row[6],
        owner=row[7], linked_to=row[8], created_at=row[9], updated_at=row[10],
        first_answer_at=row[11],
    )


class DeskWrites(Writing):
    __slots__ = ()

    def set_owner(self, ticket_id: int, owner: str | None) -> bool:
        """Give the ticket to `owner` (None: to nobody); False when nothing changed."""
        cur = self.conn.execute(
            "UPDATE tickets SET owner = ? WHERE id = ? AND owner IS NOT ?",
            (owner, ticket_id, owner),
        )
        return cur.rowcount == 1

    def mark_answered(self, ticket_id: int, at: float) -> bool:
        """Record the ticket's first answer by staff at `at`; False (nothing written) when it
        was answered before."""
        cur = self.conn.execute(
            "UPDATE tickets SET first_answer_at = ? WHERE id = ? AND first_answer_at IS NULL",
            (at, ticket_id),
        )
        return cur.rowcount == 1


class DeskReads(Reading):
    __slots__ = ()

    def desk_ticket(self, number: int) -> DeskTicket | None:
        row = self.conn.execute(f"SELECT {DESK_COLUMNS} FROM tickets WHERE id = ?",
                                (number,)).fetchone()
        return desk_ticket(row) if row else None

    def ticket_list(
        self, *, queues: Sequence[str], statuses: Sequence[str], owner: str | None = None,
        unowned: bool = False, oldest_first: bool = False, after: int | None = None,
        limit: int,
    ) -> list[DeskTicket]:
        """See interface.Reads.ticket_list."""
        limit = max(1, min(limit, MAX_LIST))
        order = "ASC" if oldest_first else "DESC"
        beyond = "id > ?" if oldest_first else "id < ?"
        bound = after if after is not None else (0 if oldest_first else 1 << 62)
        runs: list[list[DeskTicket]] = []
        if owner is not None:
            marks = ",".join("?" * len(queues))
            for status in statuses:
                runs.append([desk_ticket(r) for r in self.conn.execute(
                    f"SELECT {DESK_COLUMNS} FROM tickets WHERE owner = ? AND status = ?"
                    f" AND {beyond} AND queue IN ({marks}) ORDER BY id {order} LIMIT ?",
                    (owner, status, bound, *queues, limit))])
        else:
            owned = " AND owner IS NULL" if unowned else ""
            for queue in queues:
                for status in statuses:
                    runs.append([desk_ticket(r) for r in self.conn.execute(
                        f"SELECT {DESK_COLUMNS} FROM tickets WHERE queue = ? AND status = ?"
                        f"{owned} AND {beyond} ORDER BY id {order} LIMIT ?",
                        (queue, status, bound, limit))])
        merged = heapq.merge(*runs, key=lambda t: t.id, reverse=not oldest_first)
        return [t for _, t in zip(range(limit), merged, strict=False)]

    def ticket_tally(self) -> list[tuple[str, str, str | None, int]]:
        """(queue, status, owner or None, tickets) for every combination that has tickets."""
        return [(q, s, o or None, n) for q, s, o, n in self.conn.execute(
            "SELECT queue, status, owner, tickets FROM ticket_tally WHERE tickets > 0")]

    def outbox_of(self, ticket_id: int) -> list[OutboxRow]:
        """The ticket's outbox rows (without raw bytes), oldest first."""
        return [outbox_from_row(r) for r in self.conn.execute(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE ticket_id = ? ORDER BY id",
            (ticket_id,))]

    def tickets_of_requester(self, address: str, *, queues: Sequence[str],
                             limit: int) -> list[DeskTicket]:
        """The requester's tickets in these queues, newest first."""
        marks = ",".join("?" * len(queues))
        return [desk_ticket(r) for r in self.conn.execute(
            f"SELECT {DESK_COLUMNS} FROM tickets WHERE requester = ? AND queue IN ({marks})"
            " ORDER BY id DESC LIMIT ?", (address, *queues, max(1, min(limit, MAX_LIST))))]

    def day_figures(self, since_day: int) -> list[DayFigures]:
        """ticket_days from `since_day` (UTC days since the epoch) on, by day and queue."""
        return [DayFigures(*r) for r in self.conn.execute(
            "SELECT day, queue, tickets, vague_subject, multi_issue, private_address,"
            " missing_computer_name, answered_1h, answered_4h, answered_1d, answered_3d,"
            " answered_later FROM ticket_days WHERE day >= ? ORDER BY day, queue",
            (since_day,))]
