"""The store's contract (store/interface.py) and today's SQLite backend: the same methods, and
every statement a method runs is served by an index."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ticketgate.store import Store, StoreView, interface
from ticketgate.store.transaction import SqliteTransaction
from ticketgate.store.writer import Batch, Writer

PAIRS = [(interface.Transaction, SqliteTransaction), (interface.Reads, StoreView),
         (interface.Writer, Writer), (interface.JobBatch, Batch)]


def methods(protocol: type) -> set[str]:
    return {name for name, value in vars(protocol).items()
            if callable(value) and not name.startswith("_")}


def shape(function: object) -> list[tuple[str, object, object]]:
    """Parameter names, kinds and defaults (mypy checks the types)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("protocol,backend", PAIRS, ids=lambda c: c.__name__)
def test_the_sqlite_backend_has_every_method_of_the_contract(protocol: type,
                                                             backend: type) -> None:
    names = methods(protocol)
    assert names, protocol
    for name in sorted(names):
        assert hasattr(backend, name), f"{backend.__name__} lacks {name}"
        assert shape(getattr(backend, name)) == shape(getattr(protocol, name)), name
        assert getattr(protocol, name).__doc__, f"{protocol.__name__}.{name} says nothing"
    # Nothing public beyond the contract, but the connection itself (the store's own).
    extra = {n for n in dir(backend) if not n.startswith("_") and callable(getattr(backend, n))}
    assert extra - names <= {"start", "stop", "conn"}, extra - names


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "t.db") as s:
        yield s


def _every_write(tx: SqliteTransaction) -> set[str]:
    """Call each write of the contract once; returns the names called."""
    called: set[str] = set()

    def call(name: str, *args: object, **kwargs: object) -> object:
        called.add(name)
        return getattr(tx, name)(*args, **kwargs)

    spool_id = call("spool_delivery", raw=b"x", mail_from="kim@example.org",
                    rcpt_to=("helpdesk@example.org",), peer="p", protocol="smtp")
    other = tx.spool_delivery(raw=b"y", mail_from="", rcpt_to=("h@x",), peer="p", protocol="smtp")
    call("claim_delivery", spool_id)
    call("delivery_done", spool_id)
    call("hold_delivery", other, "why")
    call("release_delivery", other)
    ticket = call("create_ticket", queue="q", subject="s", requester="kim@example.org",
                  flags=("resent",), subject_key="s", now=1.0)
    call("add_participants", ticket, [("kim@example.org", "requester")])
    call("touch_ticket", ticket, 2.0, reopen=True)
    call("touch_ticket", ticket, 2.0, reopen=False)
    call("add_flags", ticket, ("vague_subject",))
    call("remove_flag", ticket, "resent")
    call("queue_of", ticket)
    row = call("add_message", ticket_id=ticket, direction="in", message_id="a@x",
               from_address="kim@example.org", to_addresses=(), subject="s", text="t",
               verdict={"username": "kim"}, spool_id=spool_id, now=1.0)
    call("add_event", ticket, "created", {"a": 1}, message_row=row)
    call("add_events", ticket, [("routed", {}, None)])
    call("person_of", ticket)
    call("set_person", ticket, None, "pending")
    outbox_id = call("queue_mail", ticket_id=ticket, kind="acknowledgement", message_id="o@x",
                     rcpt_to="kim@example.org", raw=b"r", now=1.0)
    call("outbox_row", outbox_id)
    call("mails_to", "kim@example.org", hour_from=0.0, day_from=0.0)
    call("mark_deferred", outbox_id, 5.0, "451")
    call("mark_failed", outbox_id, "550")
    call("requeue_mail", outbox_id, 6.0)
    call("mark_sent", outbox_id, 7.0)
    call("set_owner", ticket, "it-staff@example.org")
    call("set_owner", ticket, None)
    call("mark_answered", ticket, 3.0)
    with tx.savepoint("probe"):
        called.add("savepoint")
    return called


def _every_read(view: StoreView) -> set[str]:
    called: set[str] = set()

    def call(name: str, *args: object, **kwargs: object) -> object:
        called.add(name)
        return getattr(view, name)(*args, **kwargs)

    call("ticket", 1)
    for queue, status in ((None, None), ("q", None), (None, "new"), ("q", "new")):
        call("tickets", queue=queue, status=status, limit=10)
    call("participants", 1)
    call("ticket_values_in_use", "queue")
    call("ticket_values_in_use", "status")
    call("is_participant", 1, "kim@example.org")
    call("resend_candidates", "kim@example.org", "s", 0.0)
    call("ticket_of_message_ids", ["a@x"])
    call("thread_of", ["a@x"])
    call("message", "a@x")
    call("recipients_of", 1)
    call("messages_of", 1)
    call("events_of", 1)
    call("spool_row", 1)
    call("new_deliveries", 10)
    for state in (None, "held"):
        call("spool_listing", state=state, limit=10)
        call("outbox_listing", state=state, limit=10)
    call("is_our_message_id", "o@x")
    call("due_mail", 10.0, 10, [1, 2])
    call("next_due", 1.0)
    call("highest_outbox_id")
    call("outbox_raw", 1)
    call("person_of", 1)
    call("lookup_state", 1)
    call("pending_lookups", 10)
    call("desk_ticket", 1)
    for unowned, oldest in ((False, False), (True, True)):
        call("ticket_list", queues=["q", "r"], statuses=["new", "open"], unowned=unowned,
             oldest_first=oldest, limit=10)
    call("ticket_list", queues=["q"], statuses=["open"], owner="a@x", after=5, limit=10)
    call("ticket_tally")
    call("outbox_of", 1)
    call("tickets_of_requester", "kim@example.org", queues=["q"], limit=10)
    call("search_messages", "dator surrar*", queues=["q"], limit=10)
    call("day_figures", 0)
    for name in ("spool_counts", "oldest_new_delivery", "ticket_counts", "flag_counts",
                 "outbox_counts", "oldest_pending_mail"):
        call(name)
    call("close")
    return called


def test_every_statement_of_the_store_is_served_by_an_index(store: Store) -> None:
    statements: list[str] = []

    def traced(tx: SqliteTransaction) -> set[str]:
        tx.conn.set_trace_callback(statements.append)
        try:
            return _every_write(tx)
        finally:
            tx.conn.set_trace_callback(None)

    assert store.writer.call(traced) == methods(interface.Transaction)
    store.view.conn.set_trace_callback(statements.append)
    assert _every_read(store.view) == methods(interface.Reads)
    conn = store.view.conn
    checked = 0
    for sql in dict.fromkeys(statements):
        if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            continue  # inserts and savepoints look nothing up
        plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        checked += 1
        if "json_each(t.flags)" in sql:
            continue  # the flag count reads every ticket (an admin command: store/counts.py)
        if "FROM ticket_tally" in sql:
            continue  # one row per (queue, status, owner): read whole, never a ticket
        if "FROM message_search" in sql:
            # Full-text search: the FTS5 index finds the matches; what is read whole and
            # sorted is its bounded result (the newest CANDIDATES matches, ranked).
            assert any("VIRTUAL TABLE INDEX" in step for step in plan), (sql, plan)
            continue
        # A whole table read is allowed only for a listing that reads the newest rows by id
        # and stops at its LIMIT; so is a sort, for a listing of one queue only (`tickets
        # list --queue Q`: tickets_queue_status is ordered by status first).
        # thread_of sorts the rows of one Message-ID: one or two.
        listing = re.search(r"ORDER BY id DESC LIMIT \d+$", sql) is not None
        few = "WHERE message_id = " in sql
        for step in plan:
            assert listing or not re.fullmatch(r"SCAN \w+", step), (sql, plan)
            sorts = "TEMP B-TREE FOR ORDER BY" in step and (listing or few)
            assert "TEMP B-TREE" not in step or sorts, (sql, plan)
    assert checked > 30
