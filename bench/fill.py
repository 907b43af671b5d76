"""Fill a ticketgate database with N realistic tickets, fast, straight through SQL.

The schema is ticketgate's own (its migrations run first). Each ticket gets what the daemon
would have written: a spooled delivery (state done), its incoming message with a Message-ID,
participants, events (created, routed, acknowledgement), an acknowledgement in the outbox with
its outgoing message, and for about a third of the tickets one or two follow-ups. Names follow
bench/mails.py (`requester`, `first_message_id`, `ack_message_id`) so generated replies can
continue these tickets. Tickets are spread over two years, the newest within the last days.

Speed comes from big transactions, `synchronous=OFF` while filling, and building the indexes
once at the end instead of row by row. Spooled raw bytes are short stand-ins (--raw-bytes)
so a million tickets stay a few GB; no lookup reads them.

    python bench/fill.py /tmp/t1m.db --tickets 1000000
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mails import CLIENT_DOMAIN, WORDS, ack_message_id, first_message_id, requester
from ticketgate.store.schema import migrate

Row = tuple[object, ...]
YEAR = 365 * 24 * 3600.0
QUEUES = (("helpdesk", "helpdesk@example.org", 0.7), ("lukortet", "lukortet@example.org", 0.2),
          ("sot", "sot@example.org", 0.1))
SUBJECTS = ("Min dator surrar", "Skrivaren på plan {n} fastnar", "Cannot log in to eduroam",
            "Lösenordet fungerar inte", "VPN disconnects every {n} minutes", "Nytt passerkort",
            "Screen flickers in room E{n}", "Konto för ny doktorand", "Laptop will not charge",
            "Mejlen kommer inte fram", "Projector in lecture hall {n}", "Programvara {n}")


@dataclass
class FillStats:
    tickets: int
    rows: int
    seconds: float
    size: int


def _key(subject: str) -> str:
    # The daemon's own normalisation when it has one, so resend lookups find these tickets.
    try:
        from ticketgate.identity import subject_key
    except ImportError:
        return subject.casefold()
    return subject_key(subject, "DDG")


def _texts(rng: random.Random, count: int = 64) -> list[str]:
    return [" ".join(rng.choices(WORDS, k=90)) for _ in range(count)]


def _rows(n_from: int, n_to: int, total: int, now: float, rng: random.Random, texts: list[str],
          keys: dict[str, str], ids: dict[str, int], raw: bytes) -> Iterator[tuple[str, Row]]:
    """(table, row) for tickets n_from..n_to-1, with their ids drawn from `ids` counters."""
    weights = [q[2] for q in QUEUES]
    for k in range(n_from, n_to):
        age = (total - k) / total * 2 * YEAR  # ticket 1 is two years old, the last is new
        created = now - age - rng.random() * 3600
        queue, function, _ = rng.choices(QUEUES, weights)[0]
        who = requester(k)
        subject = rng.choice(SUBJECTS).format(n=k % 40)
        status = "new" if age < 3 * 24 * 3600 else ("open" if age < 30 * 24 * 3600
                                                     else rng.choice(("resolved", "closed")))
        followups = rng.choices((0, 1, 2), (0.65, 0.25, 0.10))[0]
        updated = created + followups * 3600
        yield "tickets", (k, queue, status, subject, who, "[]", None, "[]", None, keys[subject],
                          created, updated)
        people = [(k, who, "requester")]
        if rng.random() < 0.3:
            people.append((k, f"colleague{rng.randrange(1000)}@example.org", "cc"))
        for p in people:
            yield "participants", p
        rcpts = json.dumps([function])
        # the first message, its delivery and its acknowledgement
        mids = [first_message_id(k)] + [f"t{k}.{j + 2}@{CLIENT_DOMAIN}" for j in range(followups)]
        for j, mid in enumerate(mids):
            at = created + j * 3600
            ids["spool"] += 1
            ids["messages"] += 1
            yield "spool", (ids["spool"], at, who, rcpts, "192.0.2.1", "smtp", len(raw), raw,
                            "done", at + 0.1)
            subj = subject if j == 0 else f"Re: [DDG #{k}] {subject}"
            yield "messages", (ids["messages"], k, "in", mid, who, rcpts, subj,
                               rng.choice(texts), "{}", ids["spool"], None, at)
            kind = "created" if j == 0 else "followup"
            yield "events", (k, at, kind, "{}", ids["spool"], ids["messages"])
            if j == 0:
                yield "events", (k, at, "routed", json.dumps({"queue": queue}), ids["spool"], None)
        ids["outbox"] += 1
        ids["messages"] += 1
        ack = ack_message_id(k)
        yield "outbox", (ids["outbox"], k, "acknowledgement", ack, "", who, raw, "sent", 1,
                         created + 1, created + 1, created + 1)
        yield "messages", (ids["messages"], k, "out", ack, "helpdesk@example.org",
                           json.dumps([who]), f"[DDG #{k}] {subject}", "Tack för ditt mejl.",
                           "{}", None, ids["outbox"], created + 1)
        yield "events", (k, created + 1, "acknowledgement_sent", "{}", None, ids["messages"])


INSERTS = {
    "tickets": "INSERT INTO tickets (id, queue, status, subject, requester, flags, priority,"
               " tags, linked_to, subject_key, created_at, updated_at)"
               " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    "participants": "INSERT OR IGNORE INTO participants (ticket_id, address, role)"
                    " VALUES (?,?,?)",
    "spool": "INSERT INTO spool (id, received_at, mail_from, rcpt_to, peer, protocol, size, raw,"
             " state, processed_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
    "messages": "INSERT INTO messages (id, ticket_id, direction, message_id, from_address,"
                " to_addresses, subject, text, verdict, spool_id, outbox_id, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    "events": "INSERT INTO events (ticket_id, at, kind, detail, spool_id, message_id)"
              " VALUES (?,?,?,?,?,?)",
    "outbox": "INSERT INTO outbox (id, ticket_id, kind, message_id, mail_from, rcpt_to, raw,"
              " state, attempts, next_attempt_at, created_at, sent_at)"
              " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
}


def fill(path: Path, tickets: int, *, seed: int = 1, batch: int = 50_000, raw_bytes: int = 300,
         progress: bool = False) -> FillStats:
    """Create `path` (it must not exist) holding `tickets` tickets; see the module docstring."""
    if path.exists():
        raise FileExistsError(f"{path} exists; fill makes a new database")
    start = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    migrate(conn)
    # Build the indexes once at the end: far faster than keeping them up to date row by row.
    indexes = [sql for (sql,) in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")]
    for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall():
        conn.execute(f"DROP INDEX {name}")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")  # ids are consistent by construction
    conn.execute("PRAGMA cache_size=-1000000")
    rng = random.Random(seed)
    texts = _texts(rng)
    keys = {s.format(n=n): _key(s.format(n=n)) for s in SUBJECTS for n in range(40)}
    ids = {"spool": 0, "messages": 0, "outbox": 0}
    raw = (b"Received: from bench\r\nSubject: stand-in\r\n\r\n" + b"x" * raw_bytes)[:raw_bytes]
    now = time.time()
    rows = 0
    for lo in range(1, tickets + 1, batch):
        hi = min(tickets + 1, lo + batch)
        grouped: dict[str, list[Row]] = {t: [] for t in INSERTS}
        for table, row in _rows(lo, hi, tickets, now, rng, texts, keys, ids, raw):
            grouped[table].append(row)
        conn.execute("BEGIN")
        for table, sql in INSERTS.items():
            conn.executemany(sql, grouped[table])
            rows += len(grouped[table])
        conn.execute("COMMIT")
        if progress:
            print(f"  {hi - 1} tickets, {rows} rows, {time.perf_counter() - start:.0f}s",
                  file=sys.stderr, flush=True)
    for sql in indexes:
        conn.execute(sql)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return FillStats(tickets, rows, time.perf_counter() - start, path.stat().st_size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", type=Path, help="the database file to create")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--raw-bytes", type=int, default=300,
                        help="bytes of stand-in raw message per spooled delivery")
    args = parser.parse_args()
    stats = fill(args.database, args.tickets, seed=args.seed, raw_bytes=args.raw_bytes,
                 progress=True)
    print(f"{stats.tickets} tickets, {stats.rows} rows, {stats.size / 1e6:.0f} MB "
          f"in {stats.seconds:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
