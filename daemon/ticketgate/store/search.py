"""Full-text search over the messages: SQLite FTS5 (`message_search`, schema migration 4).

The index holds each message's subject, sender and text, and triggers on `messages` keep it
in the transaction that writes the message. A query is a list of words, each matched as a
whole word (case and diacritics aside), all required; words are quoted for FTS5, so no user
input is ever read as FTS5 syntax. A `*` is not a prefix search: FTS5 merges the postings of
every word with that beginning in memory before it can rank any, which took 3 to 5 seconds
for `skriv*` with a million tickets (BENCHMARKS.md); it is dropped and the word matched whole.

Ranking: BM25 (k1 1.2, b 0.75; subject weighs 4, sender 2, text 1) over the newest
CANDIDATES matching messages, computed here from their stored text with every query word
weighted alike. FTS5's own bm25() first counts every message holding each word, to weigh the
words: 46 ms for a word found in a million messages (BENCHMARKS.md) however few are ranked;
for one word the weight changes no order, and for several it is the price of a search that
stays within a few tens of milliseconds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from .base import Reading
from .records import MARK_END, MARK_START, SearchHit

CANDIDATES = 300
MAX_WORDS = 12
_WORD = re.compile(r"[^\s\"]+")
_TOKEN = re.compile(r"\w+")
WEIGHTS = (4.0, 2.0, 1.0)  # subject, sender, text
K1, B = 1.2, 0.75


_MARKS = re.compile(r"[\u0300-\u036f]+")  # combining diacritical marks


def tokens(text: str) -> list[str]:
    """Words as the index's tokenizer (unicode61, diacritics removed) sees them, roughly."""
    folded = text.casefold()
    if not folded.isascii():
        folded = _MARKS.sub("", unicodedata.normalize("NFKD", folded))
    return _TOKEN.findall(folded)


def bm25(words: set[str], columns: Sequence[list[str]], averages: Sequence[float]) -> float:
    """Higher is better: BM25 of one message's columns for the query words."""
    score = 0.0
    for weight, column, average in zip(WEIGHTS, columns, averages, strict=True):
        if not column:
            continue
        norm = K1 * (1 - B + B * len(column) / (average or 1.0))
        for word in words:
            tf = column.count(word)
            if tf:
                score += weight * tf * (K1 + 1) / (tf + norm)
    return score


def fts_query(text: str) -> str | None:
    """The words of `text` as an FTS5 query of quoted strings (None: no words)."""
    words = _WORD.findall(text.replace(MARK_START, " ").replace(MARK_END, " "))[:MAX_WORDS]
    terms = [f'"{word.strip("*")}"' for word in words if word.strip("*")]
    return " ".join(terms) or None


def snippet(words: set[str], subject: str, text: str, width: int = 16) -> str:
    """About `width` words of the text around its first match (else the subject), each
    match between MARK_START and MARK_END; "…" where it is cut."""
    for source in (text, subject):
        spans = [(m.start(), m.end(), bool(set(tokens(m.group())) & words))
                 for m in _TOKEN.finditer(source)]
        first = next((i for i, span in enumerate(spans) if span[2]), None)
        if first is None:
            continue
        lo = max(0, first - width // 4)
        hi = min(len(spans), lo + width)
        out, at = [], spans[lo][0]
        for start, end, hit in spans[lo:hi]:
            out.append(source[at:start].replace(MARK_START, "").replace(MARK_END, ""))
            word = source[start:end]
            out.append(f"{MARK_START}{word}{MARK_END}" if hit else word)
            at = end
        return ("…" if lo else "") + " ".join("".join(out).split()) + (
            "…" if hi < len(spans) else "")
    return " ".join(text[:120].split())


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
            "SELECT m.id, m.ticket_id, m.subject, m.from_address, m.text FROM ("
            " SELECT rowid FROM message_search WHERE message_search MATCH ?"
            " ORDER BY rowid DESC LIMIT ?) AS h"
            " JOIN messages m ON m.id = h.rowid JOIN tickets t ON t.id = m.ticket_id"
            f" WHERE t.queue IN ({marks})",
            (query, CANDIDATES, *queues),
        ).fetchall()
        words = {w for word in _WORD.findall(text) for w in tokens(word)}
        parsed = [(row, ticket, (tokens(subject), tokens(sender), tokens(body)))
                  for row, ticket, subject, sender, body in rows]
        averages = [sum(len(p[2][i]) for p in parsed) / max(1, len(parsed)) for i in range(3)]
        ranked = sorted(((-bm25(words, columns, averages), -row, ticket)
                         for row, ticket, columns in parsed))
        best: dict[int, tuple[int, float]] = {}
        for score, row, ticket in ranked:  # the best message of each ticket
            if ticket not in best:
                best[ticket] = (-row, score)
                if len(best) >= limit:
                    break
        texts = {row: (subject, body) for row, _, subject, _, body in rows}
        return [SearchHit(ticket, row, score, snippet(words, *texts[row]))
                for ticket, (row, score) in best.items()]
