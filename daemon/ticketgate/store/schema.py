"""The SQLite schema and its migrations; `PRAGMA user_version` is the schema version."""

from __future__ import annotations

import sqlite3

# Each entry moves the schema from version i to i+1. Never edit a released step: add one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE spool (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at REAL NOT NULL,
        mail_from TEXT NOT NULL,
        rcpt_to TEXT NOT NULL,              -- JSON list of envelope recipients
        peer TEXT NOT NULL DEFAULT '',
        protocol TEXT NOT NULL DEFAULT 'smtp',
        size INTEGER NOT NULL,
        raw BLOB NOT NULL,
        state TEXT NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'done', 'held')),
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        processed_at REAL
    );
    CREATE INDEX spool_new ON spool(id) WHERE state = 'new';
    CREATE INDEX spool_state ON spool(state, id);

    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,   -- the number in the ticket code
        queue TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'new',
        subject TEXT NOT NULL DEFAULT '',
        requester TEXT NOT NULL DEFAULT '',
        flags TEXT NOT NULL DEFAULT '[]',       -- JSON list of flag names
        priority TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        linked_to INTEGER REFERENCES tickets(id),
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX tickets_queue_status ON tickets(queue, status, id);
    CREATE INDEX tickets_status ON tickets(status, id);

    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        message_id TEXT NOT NULL,
        from_address TEXT NOT NULL DEFAULT '',
        to_addresses TEXT NOT NULL DEFAULT '[]',
        subject TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        verdict TEXT NOT NULL DEFAULT '{}',     -- JSON: what each pipeline stage decided
        spool_id INTEGER REFERENCES spool(id),
        outbox_id INTEGER,
        created_at REAL NOT NULL
    );
    CREATE INDEX messages_message_id ON messages(message_id);
    CREATE INDEX messages_ticket ON messages(ticket_id, id);

    CREATE TABLE participants (
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        address TEXT NOT NULL,
        role TEXT NOT NULL,                     -- requester, cc, recipient, staff
        PRIMARY KEY (ticket_id, address)
    ) WITHOUT ROWID;

    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ticket_id INTEGER REFERENCES tickets(id),
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}',      -- JSON
        spool_id INTEGER,
        message_id INTEGER
    );
    CREATE INDEX events_ticket ON events(ticket_id, id);

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ticket_id INTEGER REFERENCES tickets(id),
        kind TEXT NOT NULL,                     -- acknowledgement, notification
        message_id TEXT NOT NULL UNIQUE,
        mail_from TEXT NOT NULL DEFAULT '',
        rcpt_to TEXT NOT NULL,                  -- one recipient per row
        raw BLOB NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        created_at REAL NOT NULL,
        sent_at REAL
    );
    CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE state = 'pending';
    CREATE INDEX outbox_state ON outbox(state, id);
    CREATE INDEX outbox_rcpt ON outbox(rcpt_to, created_at);
    """,
    # 2: resend detection looks up open tickets by requester and normalised subject.
    """
    ALTER TABLE tickets ADD COLUMN subject_key TEXT NOT NULL DEFAULT '';
    CREATE INDEX tickets_resend ON tickets(requester, subject_key, created_at);
    CREATE INDEX messages_spool ON messages(spool_id);
    """,
    # 3: the requester as the directory knows them (JSON), and how the lookup went: found,
    # unknown, pending (the directory did not answer; looked up again later) or NULL.
    """
    ALTER TABLE tickets ADD COLUMN person TEXT;
    ALTER TABLE tickets ADD COLUMN person_lookup TEXT;
    CREATE INDEX tickets_person_pending ON tickets(id) WHERE person_lookup = 'pending';
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def tune(conn: sqlite3.Connection) -> None:
    """Per-connection settings: WAL for concurrent readers, FULL sync so a commit is durable."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    # Savepoint journals and sorts stay in memory: the service may run with a read-only
    # root and no writable temporary directory.
    conn.execute("PRAGMA temp_store=MEMORY")


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to SCHEMA_VERSION; return the version it had before."""
    before = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if before > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema version {before} is newer than this ticketgate ({SCHEMA_VERSION})"
        )
    for version in range(before, SCHEMA_VERSION):
        # executescript commits first; the user_version bump inside the script makes each
        # step atomic with its DDL.
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{MIGRATIONS[version]}\nPRAGMA user_version={version + 1};\nCOMMIT;"
        )
    return before
