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
    # 4: the staff desk (web/). A ticket's owner (NULL: nobody has taken it) and when staff
    # first answered it; the lists' counts kept by triggers in ticket_tally; the dashboard's
    # day-by-day figures in ticket_days (new tickets, etiquette flags as the new mail had
    # them, and how soon each was first answered); full-text search over the messages
    # (message_search, an FTS5 index of messages kept by triggers, so in the same
    # transaction as each message). The migration fills all of them from the rows there are.
    # Our automatic mail (acknowledgements: boilerplate; notifications: the requester's text
    # again) is not indexed: it found nothing new and cost a quarter of the pipeline's CPU.
    """
    ALTER TABLE tickets ADD COLUMN owner TEXT;
    ALTER TABLE tickets ADD COLUMN first_answer_at REAL;
    CREATE INDEX tickets_owner ON tickets(owner, status, id) WHERE owner IS NOT NULL;
    CREATE INDEX tickets_unowned ON tickets(queue, status, id) WHERE owner IS NULL;
    CREATE INDEX tickets_requester ON tickets(requester, id);
    CREATE INDEX outbox_ticket ON outbox(ticket_id, id);

    CREATE TABLE ticket_tally (
        queue TEXT NOT NULL,
        status TEXT NOT NULL,
        owner TEXT NOT NULL,                    -- '' for nobody
        tickets INTEGER NOT NULL,
        PRIMARY KEY (queue, status, owner)
    ) WITHOUT ROWID;
    INSERT INTO ticket_tally (queue, status, owner, tickets)
        SELECT queue, status, coalesce(owner, ''), count(*) FROM tickets GROUP BY 1, 2, 3;
    CREATE TRIGGER ticket_tally_insert AFTER INSERT ON tickets BEGIN
        INSERT INTO ticket_tally (queue, status, owner, tickets)
            VALUES (new.queue, new.status, coalesce(new.owner, ''), 1)
            ON CONFLICT (queue, status, owner) DO UPDATE SET tickets = tickets + 1;
    END;
    CREATE TRIGGER ticket_tally_update AFTER UPDATE OF queue, status, owner ON tickets
    WHEN old.queue IS NOT new.queue OR old.status IS NOT new.status
         OR old.owner IS NOT new.owner BEGIN
        UPDATE ticket_tally SET tickets = tickets - 1
            WHERE queue = old.queue AND status = old.status AND owner = coalesce(old.owner, '');
        INSERT INTO ticket_tally (queue, status, owner, tickets)
            VALUES (new.queue, new.status, coalesce(new.owner, ''), 1)
            ON CONFLICT (queue, status, owner) DO UPDATE SET tickets = tickets + 1;
    END;
    CREATE TRIGGER ticket_tally_delete AFTER DELETE ON tickets BEGIN
        UPDATE ticket_tally SET tickets = tickets - 1
            WHERE queue = old.queue AND status = old.status AND owner = coalesce(old.owner, '');
    END;

    CREATE TABLE ticket_days (
        day INTEGER NOT NULL,                   -- UTC days since the epoch: created_at / 86400
        queue TEXT NOT NULL,
        tickets INTEGER NOT NULL DEFAULT 0,
        vague_subject INTEGER NOT NULL DEFAULT 0,
        multi_issue INTEGER NOT NULL DEFAULT 0,
        private_address INTEGER NOT NULL DEFAULT 0,
        missing_computer_name INTEGER NOT NULL DEFAULT 0,
        answered_1h INTEGER NOT NULL DEFAULT 0, -- first answered within an hour of creation
        answered_4h INTEGER NOT NULL DEFAULT 0, -- ... within 1 to 4 hours
        answered_1d INTEGER NOT NULL DEFAULT 0, -- ... 4 to 24 hours
        answered_3d INTEGER NOT NULL DEFAULT 0, -- ... 1 to 3 days
        answered_later INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, queue)
    ) WITHOUT ROWID;
    INSERT INTO ticket_days (day, queue, tickets, vague_subject, multi_issue, private_address,
                             missing_computer_name)
        SELECT CAST(created_at / 86400 AS INTEGER), queue, count(*),
               sum(instr(flags, '"vague_subject"') > 0), sum(instr(flags, '"multi_issue"') > 0),
               sum(instr(flags, '"private_address"') > 0),
               sum(instr(flags, '"missing_computer_name"') > 0)
        FROM tickets GROUP BY 1, 2;
    CREATE TRIGGER ticket_days_insert AFTER INSERT ON tickets BEGIN
        INSERT INTO ticket_days (day, queue, tickets, vague_subject, multi_issue,
                                 private_address, missing_computer_name)
            VALUES (CAST(new.created_at / 86400 AS INTEGER), new.queue, 1,
                    instr(new.flags, '"vague_subject"') > 0,
                    instr(new.flags, '"multi_issue"') > 0,
                    instr(new.flags, '"private_address"') > 0,
                    instr(new.flags, '"missing_computer_name"') > 0)
            ON CONFLICT (day, queue) DO UPDATE SET
                tickets = tickets + 1,
                vague_subject = vague_subject + excluded.vague_subject,
                multi_issue = multi_issue + excluded.multi_issue,
                private_address = private_address + excluded.private_address,
                missing_computer_name = missing_computer_name + excluded.missing_computer_name;
    END;
    CREATE TRIGGER ticket_days_answered AFTER UPDATE OF first_answer_at ON tickets
    WHEN old.first_answer_at IS NULL AND new.first_answer_at IS NOT NULL BEGIN
        INSERT INTO ticket_days (day, queue) VALUES (CAST(new.created_at / 86400 AS INTEGER),
                                                     new.queue)
            ON CONFLICT (day, queue) DO NOTHING;
        UPDATE ticket_days SET
            answered_1h = answered_1h + (new.first_answer_at - new.created_at < 3600),
            answered_4h = answered_4h + (new.first_answer_at - new.created_at >= 3600
                                         AND new.first_answer_at - new.created_at < 14400),
            answered_1d = answered_1d + (new.first_answer_at - new.created_at >= 14400
                                         AND new.first_answer_at - new.created_at < 86400),
            answered_3d = answered_3d + (new.first_answer_at - new.created_at >= 86400
                                         AND new.first_answer_at - new.created_at < 259200),
            answered_later = answered_later + (new.first_answer_at - new.created_at >= 259200)
            WHERE day = CAST(new.created_at / 86400 AS INTEGER) AND queue = new.queue;
    END;

    CREATE VIRTUAL TABLE message_search USING fts5(
        subject, from_address, text,
        content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    );
    INSERT INTO message_search (rowid, subject, from_address, text)
        SELECT m.id, m.subject, m.from_address, m.text FROM messages m
        WHERE m.direction = 'in' OR NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = m.outbox_id
                                                AND o.kind IN ('acknowledgement', 'notification'));
    CREATE TRIGGER message_search_insert AFTER INSERT ON messages
    WHEN new.direction = 'in' OR NOT EXISTS (SELECT 1 FROM outbox WHERE id = new.outbox_id
                                             AND kind IN ('acknowledgement', 'notification'))
    BEGIN
        INSERT INTO message_search (rowid, subject, from_address, text)
            VALUES (new.id, new.subject, new.from_address, new.text);
    END;
    CREATE TRIGGER message_search_delete AFTER DELETE ON messages
    WHEN old.direction = 'in' OR NOT EXISTS (SELECT 1 FROM outbox WHERE id = old.outbox_id
                                             AND kind IN ('acknowledgement', 'notification'))
    BEGIN
        INSERT INTO message_search (message_search, rowid, subject, from_address, text)
            VALUES ('delete', old.id, old.subject, old.from_address, old.text);
    END;
    CREATE TRIGGER message_search_update AFTER UPDATE OF subject, from_address, text
    ON messages
    WHEN new.direction = 'in' OR NOT EXISTS (SELECT 1 FROM outbox WHERE id = new.outbox_id
                                             AND kind IN ('acknowledgement', 'notification'))
    BEGIN
        INSERT INTO message_search (message_search, rowid, subject, from_address, text)
            VALUES ('delete', old.id, old.subject, old.from_address, old.text);
        INSERT INTO message_search (rowid, subject, from_address, text)
            VALUES (new.id, new.subject, new.from_address, new.text);
    END;
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
