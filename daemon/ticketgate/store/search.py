"""Full-text search over the messages: SQLite FTS5 (`message_search`, schema migration 4).

The index holds each message's subject, sender and text, and triggers on `messages` keep it
in the transaction that writes the message. A query is a list of words, each matched as a
whole word (case and diacritics aside), all required; words are quoted for FTS5, so no user
input is ever read as FTS5 syntax. A `*` is not a prefix search: FTS5 merges the postings of
every word with that beginning in memory before it can rank any, which took 3 to 5 seconds
for `skriv*` with a million tickets (BENCHMARKS.md); it is dropped and the word matched whole.

Ranking: bm25 (subject weighs 4, sender 2, text 1) among the newest CANDIDATES matching
messages: a word found in half the mail of a million tickets is ranked over its newest
matches instead of over all of them, which keeps a search within a few tens of milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .base import Reading
from .records import MARK_END, MARK_START, SearchHit

CANDIDATES = 500
MAX_WORDS = 12
_WORD = re.compile(r"[^\s\"]+")


def fts_query(text: str) -> str | None:
    """The words of `text` as an FTS5 query of quoted strings (None: no words)."""
    words = _WORD.findall(text.replace(MARK_START, " ").replace(MARK_END, " "))[:MAX_WORDS]
    terms = [f'"{word.strip("*")}"' for word in words if word.strip("*")]
    return " ".join(terms) or None


class SearchReads(Reading):
    __slots__ = ()

    def search_messages(self, text: str, *, queues: Sequence[str],
                        limit: int) -> list[SearchHit]:
        """See interface.Reads.search_messages."""
        query = fts_query(text)
        if query is None or not queues:
            return []
        marks = ",".join("?" * len(queues))
        rows = self.conn.execute(
            "SELECT h.rowid, h.score, m.ticket_id FROM ("
            " SELECT rowid, bm25(message_search, 4.0, 2.0, 1.0) AS score FROM message_search"
            " WHERE message_search MATCH ? ORDER BY rowid DESC LIMIT ?) AS h"
            " JOIN messages m ON m.id = h.rowid JOIN tickets t ON t.id = m.ticket_id"
            f" WHERE t.queue IN ({marks}) ORDER BY h.score, h.rowid DESC",
            (query, CANDIDATES, *queues),
        ).fetchall()
        best: dict[int, tuple[int, float]] = {}
        for row, score, ticket in rows:  # the best message of each ticket
            if ticket not in best:
                best[ticket] = (row, score)
                if len(best) >= limit:
                    break
        hits = []
        for ticket, (row, score) in best.items():
            found = self.conn.execute(
                "SELECT snippet(message_search, -1, ?, ?, '…', 16) FROM message_search"
                " WHERE message_search MATCH ? AND rowid = ?",
                (MARK_START, MARK_END, query, row),
            ).fetchone()
            hits.append(SearchHit(ticket, row, score, found[0] if found else ""))
        return hits
