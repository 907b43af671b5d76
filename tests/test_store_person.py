"""store/person.py against a real SQLite file: the directory's answer kept on a ticket."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ticketgate.store import Store, StoreView, Transaction
from ticketgate.store.schema import MIGRATIONS


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "t.db") as s:
        yield s


def _ticket(store: Store, lookup: str | None = None, requester: str = "kim@example.org") -> int:
    return store.writer.call(lambda tx: tx.create_ticket(
        queue="helpdesk", subject="s", requester=requester, person_lookup=lookup, now=1.0))


def test_a_lookup_result_is_stored_and_read_on_both_sides(store: Store) -> None:
    number = _ticket(store)
    person = {"name": "Kim Åberg", "username": "kimab"}
    assert store.view.person_of(number) == (None, None)
    assert store.view.lookup_state(number) is None

    def job(tx: Transaction) -> tuple[object, object]:
        before = tx.person_of(number)
        tx.set_person(number, json.dumps(person, ensure_ascii=False), "found")
        return before, tx.person_of(number)  # this transaction sees its own write

    assert store.writer.call(job) == ((None, None), (person, "found"))
    assert store.view.person_of(number) == (person, "found")
    assert store.view.lookup_state(number) == "found"
    store.writer.call(lambda tx: tx.set_person(number, None, "unknown"))
    assert store.view.person_of(number) == (None, "unknown")
    assert store.view.person_of(number + 1) == (None, None)
    assert store.view.lookup_state(number + 1) is None


def test_pending_lookups_are_oldest_first_with_the_latest_username_given(store: Store) -> None:
    found = _ticket(store, "found")
    first = _ticket(store, "pending")
    second = _ticket(store, "pending", requester="ola@example.org")
    third = _ticket(store, "pending", requester="eva@example.org")

    def messages(tx: Transaction) -> None:
        for ticket, direction, verdict in (
            (first, "in", {"username": "kim1"}),
            (first, "in", {"username": "kim2"}),
            (first, "in", {}),  # the latest mail gave none: the one before counts
            (first, "out", {"username": "ours"}),  # our own mail never counts
            (second, "in", {"flags": []}),
            (found, "in", {"username": "x"}),
        ):
            tx.add_message(ticket_id=ticket, direction=direction, message_id=f"{ticket}{verdict}",
                           from_address="a", to_addresses=(), subject="s", text="t",
                           verdict=verdict, now=2.0)

    store.writer.call(messages)
    pending = store.view.pending_lookups()
    assert [(p.ticket_id, p.requester, p.username) for p in pending] == [
        (first, "kim@example.org", "kim2"), (second, "ola@example.org", None),
        (third, "eva@example.org", None)]
    assert [p.ticket_id for p in store.view.pending_lookups(limit=2)] == [first, second]


def test_a_database_from_before_lookups_answers_none(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0] + MIGRATIONS[1])  # schema version 2: no person columns
    conn.execute("INSERT INTO tickets (queue, created_at, updated_at) VALUES ('q', 1, 1)")
    conn.close()
    view = StoreView(path)
    try:
        assert view.lookup_state(1) is None  # `rules test` against an older database
    finally:
        view.close()
