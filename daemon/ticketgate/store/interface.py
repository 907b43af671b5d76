"""The store's contract: every read and write the rest of ticketgate may ask of a database.

This file is the one place where the store's interface is written down. SQLite is today's
only backend (SqliteTransaction in transaction.py, StoreView in reads.py, Writer in
writer.py; a test checks that they satisfy these protocols); a PostgreSQL backend (psycopg 3)
implements the same three protocols and passes the same tests (tests/test_store_*.py).
Nothing outside `store/` writes SQL: it calls these methods, named in the helpdesk's words.

Three doors:

- `Writer`: the only way to write. A caller hands it a *job*, a function of a `Transaction`,
  and gets the job's result once the job is durably committed ("done" means "on disk").
  Jobs are committed in groups (one COMMIT, one fsync, for many jobs); each job is atomic
  on its own: a job that raises is undone alone (a savepoint per job) and the others of its
  group commit. Within a job, reads see what the job and the jobs before it in the same
  group wrote; nobody else sees it before the commit.
- `Transaction`: the writes (and the few reads that must see uncommitted work) available
  inside a job. Never kept beyond the job, never used from another thread.
- `Reads` (StoreView): read-only queries on committed state. Each method is one statement
  (or a short loop of indexed lookups) on its own: no snapshot spans two calls, so a caller
  that needs "nothing changed in between" must ask the writer instead. One connection per
  thread.

Two errors reach callers: `StorageError` (writer.py) when the store could not commit at all
(the edge answers 451, the pipeline leaves the row new), and the backend's own error class,
`store.DatabaseError` (sqlite3.Error here, psycopg.Error there), as a job's exception when one
of its statements failed (a constraint, say): that job alone is undone.

Uniqueness comes from constraints, never from a read before a write; where today's SQLite
code relies on its single writer instead (BEGIN IMMEDIATE: one writing transaction at a time
across every process on the file), the method says so under "Safe:", and what a backend with
several concurrent writers must do in its place.

What is SQLite's own in today's SQL (for the PostgreSQL backend):

- `INSERT OR IGNORE` (participants) is `INSERT ... ON CONFLICT DO NOTHING`.
- `cursor.lastrowid` after INSERT (spool, tickets, messages, outbox) is `RETURNING id`;
  `INTEGER PRIMARY KEY AUTOINCREMENT` is an identity column (ids must never be reused: the
  ticket number is the code, the spool id the "queued as" number).
- `PRAGMA` (journal_mode=WAL, synchronous=FULL, foreign_keys, busy_timeout, temp_store,
  query_only, user_version as the schema version) has no counterpart; the schema version
  would live in a table. `BEGIN IMMEDIATE` is a plain BEGIN plus the row locks named below.
- `INDEXED BY outbox_due` (due_mail, next_due) names SQLite's partial index; PostgreSQL has
  partial indexes too (`WHERE state = 'pending'`) and chooses them from statistics.
- JSON kept as TEXT: `json_each` (due_mail's skip list, flag_counts), `json_extract`
  (pending_lookups: the username in a message's verdict); PostgreSQL: jsonb with
  `jsonb_array_elements_text` and `->>`, or `= ANY(%s)` for the skip list.
- `sum(created_at >= ?)` (mails_to) sums booleans as integers; PostgreSQL:
  `count(*) FILTER (WHERE created_at >= %s)`. `ORDER BY direction = 'out' DESC` (thread_of)
  works in both.
- `WITHOUT ROWID` (participants) is a storage hint only.
- Timestamps are REAL seconds since the epoch (time.time()); keep them as double precision
  or convert at the door.
- Triggers keep three things in the transaction that writes the rows (schema.py, migration
  4): `ticket_tally` (tickets by queue, status and owner: the desk's counts),
  `ticket_days` (by UTC day of creation and queue: new tickets, the etiquette flags they came
  with, and how soon staff first answered them) and `message_search`. PostgreSQL: the same
  tables with PL/pgSQL triggers (`INSERT ... ON CONFLICT DO UPDATE` works there as written;
  `instr(flags, '"x"') > 0` is `flags::jsonb ? 'x'`; a boolean summed needs `::int`). Several
  writers may update one tally row at once: the row lock of the upsert serialises them.
- Full-text search (`search_messages`) is SQLite FTS5: an external-content table over
  `messages` (subject, from_address, text; tokenizer unicode61 with diacritics removed),
  ranked by BM25 (column weights 4, 2, 1; every word weighted alike) over the newest 300
  matching messages, computed in store/search.py from their text, as are the snippets (with
  MARK_START/MARK_END around the matches): the index only finds. PostgreSQL must give
  the same answers in its own way: a `tsvector` column (or an expression index) over
  `setweight(to_tsvector('simple', unaccent(subject)), 'A') || ... 'B' || ... 'C'`, kept by
  the same transaction (a generated column or a trigger), a GIN index, `websearch`-free
  matching of each word (`plainto_tsquery`; no prefix matching) for the newest 300 matches
  by message id; the ranking and snippets of store/search.py then serve both. Either way:
  every word required and matched whole (a `*` is dropped), input never read as query
  syntax, our acknowledgements and notifications not indexed (only incoming mail and what
  staff write).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol, TypeVar

from .records import (
    DayFigures,
    DeskTicket,
    OutboxRow,
    PendingLookup,
    SearchHit,
    SpoolEntry,
    SpoolRow,
    StoredEvent,
    StoredMessage,
    Ticket,
)

T = TypeVar("T")


class Transaction(Protocol):
    """The writes of one job, inside the writer's transaction (see the module docstring)."""

    # -- spool: every accepted delivery, as received --------------------------------------

    def spool_delivery(
        self, *, raw: bytes, mail_from: str, rcpt_to: Sequence[str], peer: str, protocol: str,
        received_at: float | None = None,
    ) -> int:
        """Add an accepted delivery (state new); returns its id, the "queued as" number.

        Shape: one INSERT, a job of its own (the SMTP edge runs it with one_statement=True);
        the 250 waits for its commit. Safe: nothing to be unique; every delivery is a row,
        duplicates are recognised later by Message-ID (the dedupe stage).
        """

    def claim_delivery(self, spool_id: int | None) -> bool:
        """True when the spool row is still new (or there is none: a direct apply); False
        means someone already did this work and the job must write nothing.

        Shape: the first call of the job that writes the row's ticket, which ends with
        delivery_done; both commit together. Safe: SQLite, a read under the single writer's
        lock. Several writers: lock the row (`SELECT ... FOR UPDATE`) or claim with a
        conditional UPDATE (`... WHERE id = %s AND state = 'new'`, one row changed = ours).
        """

    def delivery_done(self, spool_id: int) -> None:
        """The row's work is written: state done, attempts + 1, error cleared.

        Shape: last write of the claiming job."""

    def hold_delivery(self, spool_id: int, error: str) -> None:
        """Set a row aside with the reason (at most 4000 characters) for an admin.

        Safe: conditional on state new, so a row already done is never held."""

    def release_delivery(self, spool_id: int) -> bool:
        """Put a held row back to new, to be run again; False when it was not held.

        Safe: conditional UPDATE on state held: of two releases one wins."""

    # -- tickets and their participants ---------------------------------------------------

    def create_ticket(
        self, *, queue: str, subject: str, requester: str, flags: Iterable[str] = (),
        priority: str | None = None, tags: Iterable[str] = (), linked_to: int | None = None,
        subject_key: str = "", person: str | None = None, person_lookup: str | None = None,
        now: float,
    ) -> int:
        """A new ticket (status new); returns its number, the one in its code. `person` is
        the directory's entry as JSON, `person_lookup` the lookup's outcome, when known.

        Safe: the number comes from the table's id sequence: never the same twice, never
        reused."""

    def add_participants(self, ticket_id: int, people: Iterable[tuple[str, str]]) -> None:
        """Add (address, role) pairs; an address already on the ticket keeps its first role;
        empty addresses are skipped.

        Safe: PRIMARY KEY (ticket_id, address) with INSERT OR IGNORE: no read first."""

    def touch_ticket(self, ticket_id: int, now: float, *, reopen: bool) -> None:
        """Note activity (updated_at); `reopen` moves resolved or closed back to open.

        Safe: one UPDATE deciding the status in the statement (CASE), no read first."""

    def add_flags(self, ticket_id: int, flags: Iterable[str]) -> None:
        """Add the flags the ticket lacks, after those it has (order kept, no repeats).

        Safe: SQLite, a read-modify-write of the JSON list under the single writer. Several
        writers: `SELECT ... FOR UPDATE` first, or one UPDATE with jsonb operators."""

    def remove_flag(self, ticket_id: int, flag: str) -> bool:
        """Take one flag off the ticket; False when it did not have it (nothing written).

        Safe: as add_flags."""

    def queue_of(self, ticket_id: int) -> str | None:
        """The ticket's queue as this transaction sees it (None: no such ticket)."""

    # -- messages and events ----------------------------------------------------------------

    def add_message(
        self, *, ticket_id: int, direction: str, message_id: str, from_address: str,
        to_addresses: Iterable[str], subject: str, text: str,
        verdict: dict[str, Any] | None = None, spool_id: int | None = None,
        outbox_id: int | None = None, now: float,
    ) -> int:
        """Store a message of a ticket: `in` (from the spool row `spool_id`, with the
        pipeline's verdict) or `out` (our mail, the outbox row `outbox_id`); returns its row.

        Safe: messages.message_id is indexed, not unique. An incoming Message-ID is stored
        once because the dedupe stage finds it on the view and the pipeline worker lets a
        message that names a Message-ID still in flight wait for that commit: a read before
        a write, made safe by SQLite's single writer and the single pipeline worker. Several
        nodes need a partial unique index (message_id) WHERE direction = 'in', and a conflict
        treated as a duplicate delivery.
        """

    def add_event(
        self, ticket_id: int | None, kind: str, detail: dict[str, Any] | None = None, *,
        spool_id: int | None = None, message_row: int | None = None, at: float | None = None,
    ) -> None:
        """Append one entry to a ticket's history (ticket None: an event of no ticket, e.g. a
        dropped mail). `at` defaults to now. Safe: append-only."""

    def add_events(
        self, ticket_id: int | None, entries: Iterable[tuple[str, dict[str, Any], int | None]],
        *, spool_id: int | None = None, at: float | None = None,
    ) -> None:
        """Append several entries, in order, each (kind, detail, message row), at one time.

        Shape: one executemany; the same rows as add_event for each."""

    # -- the person on a ticket (directory lookups) ---------------------------------------

    def person_of(self, ticket_id: int) -> tuple[dict[str, Any] | None, str | None]:
        """(the directory's entry, the lookup's outcome) as this transaction sees them."""

    def set_person(self, ticket_id: int, person: str | None, lookup: str) -> None:
        """Store a lookup's result: the entry as JSON (None: nobody found) and the outcome
        (found, unknown, pending).

        Safe: the caller reads person_of first to keep a person already found: SQLite's
        single writer; several writers: `SELECT ... FOR UPDATE` in person_of."""

    # -- the outbox -------------------------------------------------------------------------

    def queue_mail(
        self, *, ticket_id: int, kind: str, message_id: str, rcpt_to: str, raw: bytes,
        now: float, mail_from: str = "",
    ) -> int:
        """Queue one rendered mail to one recipient, due now (state pending); returns its row.

        Safe: outbox.message_id is UNIQUE: the same mail cannot be queued twice (the second
        insert raises, and its job is undone)."""

    def outbox_row(self, outbox_id: int) -> OutboxRow | None:
        """The row (without its raw bytes) as this transaction sees it."""

    def mails_to(self, rcpt: str, *, hour_from: float, day_from: float) -> tuple[int, int]:
        """(rows created since `hour_from`, since `day_from`) to `rcpt`, in any state: what
        the per-recipient rate limit counts. Sees rows queued earlier in the same group.

        Safe: SQLite's single writer makes count-then-queue exact. Several writers may both
        count below the limit and queue one each: serialise per recipient (an advisory lock
        on the address) or accept that overshoot."""

    def mark_sent(self, outbox_id: int, now: float) -> bool:
        """Record a delivery; False (nothing written) when the row was no longer pending.

        Safe: conditional UPDATE on state pending: a result is recorded once, so its event
        is written once."""

    def mark_deferred(self, outbox_id: int, next_attempt_at: float, error: str) -> bool:
        """Record a temporary failure and when to try again; False when no longer pending.

        Safe: as mark_sent."""

    def mark_failed(self, outbox_id: int, error: str) -> bool:
        """Give a row up; False when no longer pending. Safe: as mark_sent."""

    def requeue_mail(self, outbox_id: int, now: float) -> bool:
        """Make a pending or failed row due now, with a fresh give-up clock (created_at);
        False for a sent row. Safe: conditional UPDATE on the state."""

    # -- the staff desk and actions ---------------------------------------------------------

    def set_owner(self, ticket_id: int, owner: str | None) -> bool:
        """Give the ticket to a staff address (None: to nobody); False when it already was
        (nothing written). Keeps ticket_tally in step (a trigger).

        Safe: one conditional UPDATE; of two takes at once the later wins, as in any desk."""

    def mark_answered(self, ticket_id: int, at: float) -> bool:
        """The ticket's first answer by staff happened at `at` (time to first answer: from
        the ticket's creation to the first staff reply relayed to the requester, or the first
        mail from the queue's staff recorded as correspondence); False when it was answered
        already. Keeps ticket_days' answer buckets in step (a trigger).

        Safe: conditional UPDATE on first_answer_at IS NULL: the first answer wins."""

    # -- transaction control ----------------------------------------------------------------

    def savepoint(self, name: str) -> AbstractContextManager[None]:
        """A block whose writes are undone together when it raises (the error goes on),
        keeping what the job wrote before it: the outbox composer's guard, so that a failure
        there costs the mail and never the ticket. `name` is an identifier."""


class Reads(Protocol):
    """Read-only queries on committed state (see the module docstring)."""

    # -- tickets --------------------------------------------------------------------------------

    def ticket(self, number: int) -> Ticket | None:
        """The ticket with this number."""

    def tickets(self, *, queue: str | None, status: str | None, limit: int) -> list[Ticket]:
        """Tickets newest first, of one queue and/or status when given."""

    def ticket_values_in_use(self, column: Literal["queue", "status"]) -> set[str]:
        """The queues (or statuses) that some ticket has."""

    def participants(self, ticket_id: int) -> dict[str, str]:
        """address -> role of everyone on the ticket."""

    def is_participant(self, ticket_id: int, address: str) -> bool:
        """Is this (lower-case) address on the ticket?"""

    def resend_candidates(
        self, requester: str, subject_key: str, since: float
    ) -> list[tuple[int, str, str]]:
        """(ticket, status, first message's text) of the requester's tickets with this
        subject key created since `since`, newest first, at most five."""

    # -- messages and events --------------------------------------------------------------------

    def ticket_of_message_ids(self, message_ids: Iterable[str]) -> int | None:
        """The ticket that stored any of these Message-IDs (in or out), the last named first."""

    def thread_of(self, message_ids: Iterable[str]) -> tuple[int, bool] | None:
        """(ticket, sent by us) for the last named of these Message-IDs that is stored; our
        own message wins over an incoming one with the same Message-ID."""

    def message(self, message_id: str) -> tuple[int, int] | None:
        """(message row, ticket) of the incoming message with this Message-ID."""

    def recipients_of(self, message_row: int) -> tuple[str, ...]:
        """Envelope recipients of the delivery that stored this message row."""

    def messages_of(self, ticket_id: int) -> list[StoredMessage]:
        """The ticket's messages, oldest first."""

    def events_of(self, ticket_id: int) -> list[StoredEvent]:
        """The ticket's history, oldest first."""

    # -- spool ----------------------------------------------------------------------------------

    def spool_row(self, spool_id: int) -> SpoolRow | None:
        """A spooled delivery with its raw bytes."""

    def new_deliveries(self, limit: int) -> list[int]:
        """Ids of rows still new, oldest first: the pipeline's work."""

    def spool_listing(self, *, state: str | None, limit: int) -> list[SpoolEntry]:
        """Spooled deliveries newest first (without raw bytes), of one state when given."""

    # -- outbox ---------------------------------------------------------------------------------

    def is_our_message_id(self, message_id: str) -> bool:
        """Did we queue a mail with this Message-ID?"""

    def due_mail(self, now: float, limit: int, skip: Collection[int] = ()) -> list[OutboxRow]:
        """Pending rows due at `now` or before, earliest first, with their raw bytes, leaving
        out the ids in `skip` (rows the caller has in hand).

        Safe: today one outbox worker reads and keeps the rows it delivers in memory; the
        store only records each result once (mark_sent). Several outbox workers need a claim
        on the row before delivering (`UPDATE ... SET claimed_by ... WHERE state = 'pending'
        AND claimed_by IS NULL RETURNING ...` or `SELECT ... FOR UPDATE SKIP LOCKED`)."""

    def next_due(self, after: float) -> float | None:
        """When the next pending row due after `after` becomes due."""

    def highest_outbox_id(self) -> int:
        """The newest row's id, 0 for an empty outbox."""

    def outbox_listing(self, *, state: str | None, limit: int) -> list[OutboxRow]:
        """Rows newest first (without raw bytes), of one state when given."""

    def outbox_raw(self, outbox_id: int) -> bytes | None:
        """A row's mail, as it is delivered."""

    # -- the person on a ticket -----------------------------------------------------------------

    def person_of(self, ticket_id: int) -> tuple[dict[str, Any] | None, str | None]:
        """(the directory's entry, the lookup's outcome) of a ticket."""

    def lookup_state(self, ticket_id: int) -> str | None:
        """The lookup's outcome (found, unknown, pending) or None: never looked up, no such
        ticket, or a database from before lookups were stored (`rules test`)."""

    def pending_lookups(self, limit: int = 50) -> list[PendingLookup]:
        """Tickets whose lookup waits for the directory, oldest first."""

    # -- the staff desk (web/) --------------------------------------------------------------------

    def desk_ticket(self, number: int) -> DeskTicket | None:
        """The ticket with its owner and first answer time."""

    def ticket_list(
        self, *, queues: Sequence[str], statuses: Sequence[str], owner: str | None = None,
        unowned: bool = False, oldest_first: bool = False, after: int | None = None,
        limit: int,
    ) -> list[DeskTicket]:
        """Tickets of these queues with one of these statuses, newest first (oldest first),
        starting after ticket number `after` (the previous page's last), at most `limit`
        (capped at 1,000). `owner`: only that owner's tickets; `unowned`: only those nobody
        owns.

        Shape: one indexed query per (queue, status) (per status for an owner), each reading
        at most `limit` rows, merged by number: the cost does not grow with the table."""

    def ticket_tally(self) -> list[tuple[str, str, str | None, int]]:
        """(queue, status, owner or None, tickets) for each combination that has tickets:
        every count the desk shows, from a table triggers keep (no count(*) of tickets)."""

    def outbox_of(self, ticket_id: int) -> list[OutboxRow]:
        """What was sent (or is still to be sent) about the ticket, to whom: its outbox rows
        without raw bytes, oldest first."""

    def tickets_of_requester(self, address: str, *, queues: Sequence[str],
                             limit: int) -> list[DeskTicket]:
        """The tickets of one requester (an exact, lower-case address) in these queues,
        newest first."""

    def search_messages(self, text: str, *, queues: Sequence[str],
                        limit: int) -> list[SearchHit]:
        """Tickets of these queues whose messages match every word of `text` (subject, sender
        and text; whole words, case and diacritics aside), best first, one hit per ticket (its best
        message), at most `limit`, each with a snippet (see the module docstring for the
        ranking and what PostgreSQL must do)."""

    def day_figures(self, since_day: int) -> list[DayFigures]:
        """The dashboard's figures by UTC day of creation (days since the epoch) and queue,
        from `since_day` on, oldest first."""

    # -- counts (`ticketgate stats`) --------------------------------------------------------------

    def spool_counts(self) -> dict[str, int]:
        """Spool rows by state (a state without rows is absent)."""

    def oldest_new_delivery(self) -> tuple[int, float] | None:
        """(id, received_at) of the oldest row still new."""

    def ticket_counts(self) -> list[tuple[str, str, int]]:
        """(queue, status, tickets) for each pair that has tickets."""

    def flag_counts(self) -> dict[str, int]:
        """Tickets by flag (reads every ticket: for an admin command only)."""

    def outbox_counts(self) -> dict[str, int]:
        """Outbox rows by state (a state without rows is absent)."""

    def oldest_pending_mail(self) -> OutboxRow | None:
        """The oldest pending outbox row (without raw bytes)."""

    def close(self) -> None:
        """Close the calling thread's connection; a later read opens another."""


class JobBatch(Protocol):
    """Jobs one thread gathers for the writer, to share a commit (Writer.batch)."""

    since: float  # time.monotonic() of the oldest job not yet handed over

    def __len__(self) -> int: ...

    def submit(self, job: Callable[[Transaction], T]) -> Future[T]:
        """Add a job; nothing runs before flush(), so flush before waiting on the future."""

    def flush(self) -> None:
        """Hand every job added so far to the writer, in order, as one piece of work."""


class Writer(Protocol):
    """The door for writes (see the module docstring)."""

    def submit(self, job: Callable[[Transaction], T]) -> Future[T]:
        """Queue a job; its future holds the result (or the job's exception) once the group
        it ran in is committed. StorageError: the store could not commit (answer 451)."""

    def call(self, job: Callable[[Transaction], T], timeout: float | None = None) -> T:
        """submit() and wait (from any thread but the writer's)."""

    def run(
        self, job: Callable[[Transaction], T], *, one_statement: bool = False
    ) -> Awaitable[T]:
        """submit() for the event loop: await the commit without blocking the loop.
        `one_statement`: the job writes with one statement at most and needs no savepoint."""

    def batch(self) -> JobBatch:
        """An empty batch of this writer."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        """From inside a job: call `callback` once the job's group is committed (dropped if
        it is rolled back), e.g. to wake the outbox when its rows are visible."""
