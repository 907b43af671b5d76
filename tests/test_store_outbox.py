"""store/outbox.py against a real SQLite file: each mail queued once, each result recorded once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ticketgate.store import Store, Transaction

RAW = b"Subject: [DDG #1] Skrivaren\r\n\r\nTack\r\n"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "t.db") as s:
        yield s


def _queue(tx: Transaction, message_id: str, rcpt: str = "kim@example.org", now: float = 100.0,
           ticket: int = 1) -> int:
    return tx.queue_mail(ticket_id=ticket, kind="acknowledgement", message_id=message_id,
                         rcpt_to=rcpt, raw=RAW, now=now, mail_from="")


@pytest.fixture
def ticket(store: Store) -> int:
    return store.writer.call(lambda tx: tx.create_ticket(queue="helpdesk", subject="s",
                                                         requester="kim@example.org", now=1.0))


def test_a_queued_mail_is_due_at_once_with_its_bytes(store: Store, ticket: int) -> None:
    outbox_id = store.writer.call(lambda tx: _queue(tx, "a@x"))
    (row,) = store.view.due_mail(100.0, 10)
    assert (row.id, row.ticket_id, row.kind, row.message_id, row.rcpt_to, row.raw) == (
        outbox_id, ticket, "acknowledgement", "a@x", "kim@example.org", RAW)
    assert (row.state, row.attempts, row.next_attempt_at, row.created_at) == (
        "pending", 0, 100.0, 100.0)
    assert store.view.due_mail(99.0, 10) == []
    assert store.view.outbox_raw(outbox_id) == RAW and store.view.outbox_raw(999) is None
    assert store.view.is_our_message_id("a@x") and not store.view.is_our_message_id("b@x")
    assert store.view.highest_outbox_id() == outbox_id


def test_the_same_message_id_makes_one_row_and_its_job_is_undone(store: Store,
                                                                 ticket: int) -> None:
    store.writer.call(lambda tx: _queue(tx, "a@x"))

    def twice(tx: Transaction) -> None:
        tx.add_event(ticket, "acknowledgement_queued")
        _queue(tx, "a@x", rcpt="other@example.org")

    batch = store.writer.batch()
    again = batch.submit(twice)
    other = batch.submit(lambda tx: _queue(tx, "b@x"))
    batch.flush()
    with pytest.raises(sqlite3.IntegrityError):
        again.result(5)
    assert other.result(5) > 0  # the rest of the group commits
    listed = store.view.outbox_listing(state=None, limit=10)
    assert sorted((r.message_id, r.rcpt_to) for r in listed) == [
        ("a@x", "kim@example.org"), ("b@x", "kim@example.org")]
    assert store.view.events_of(ticket) == []  # the failed job's event went with it


def test_a_result_is_recorded_once_whoever_records_it(store: Store, ticket: int) -> None:
    outbox_id = store.writer.call(lambda tx: _queue(tx, "a@x"))
    # Two recorders of the same row in one group (as two workers would race): one wins.
    batch = store.writer.batch()
    results = [batch.submit(lambda tx: tx.mark_sent(outbox_id, 200.0)),
               batch.submit(lambda tx: tx.mark_sent(outbox_id, 201.0)),
               batch.submit(lambda tx: tx.mark_deferred(outbox_id, 300.0, "451")),
               batch.submit(lambda tx: tx.mark_failed(outbox_id, "550"))]
    batch.flush()
    assert [f.result(5) for f in results] == [True, False, False, False]
    (row,) = store.view.outbox_listing(state="sent", limit=10)
    assert (row.attempts, row.sent_at, row.last_error) == (1, 200.0, None)
    assert store.view.due_mail(1e12, 10) == []
    assert store.writer.call(lambda tx: tx.requeue_mail(outbox_id, 400.0)) is False


def test_a_deferral_moves_the_due_time_and_a_failure_ends_the_row(store: Store,
                                                                  ticket: int) -> None:
    first = store.writer.call(lambda tx: _queue(tx, "a@x"))
    second = store.writer.call(lambda tx: _queue(tx, "b@x", now=150.0))
    assert store.writer.call(lambda tx: tx.mark_deferred(first, 500.0, "451 busy")) is True
    assert [r.id for r in store.view.due_mail(200.0, 10)] == [second]
    assert store.view.next_due(200.0) == 500.0
    assert store.view.next_due(500.0) is None
    assert [r.id for r in store.view.due_mail(500.0, 10)] == [second, first]
    assert [r.id for r in store.view.due_mail(500.0, 10, skip=[second])] == [first]
    assert [r.id for r in store.view.due_mail(500.0, 1)] == [second]
    row = store.writer.call(lambda tx: tx.outbox_row(first))
    assert row is not None and (row.attempts, row.last_error, row.raw) == (1, "451 busy", b"")
    assert store.writer.call(lambda tx: tx.mark_failed(first, "gave up")) is True
    assert store.writer.call(lambda tx: tx.mark_deferred(first, 600.0, "late")) is False
    (failed,) = store.view.outbox_listing(state="failed", limit=10)
    assert (failed.id, failed.attempts, failed.last_error) == (first, 2, "gave up")


def test_a_retry_makes_a_failed_row_due_now_with_a_fresh_clock(store: Store, ticket: int) -> None:
    outbox_id = store.writer.call(lambda tx: _queue(tx, "a@x"))
    store.writer.call(lambda tx: tx.mark_failed(outbox_id, "550 no such user"))
    assert store.writer.call(lambda tx: tx.requeue_mail(outbox_id, 900.0)) is True
    (row,) = store.view.due_mail(900.0, 10)
    assert (row.state, row.next_attempt_at, row.created_at, row.attempts, row.last_error) == (
        "pending", 900.0, 900.0, 1, "550 no such user")
    assert store.writer.call(lambda tx: tx.outbox_row(outbox_id + 1)) is None


def test_the_rate_count_sees_mail_queued_earlier_in_the_same_group(store: Store,
                                                                  ticket: int) -> None:
    now = 100_000.0
    for n, age in enumerate((30, 1800, 4000, 90_000)):
        store.writer.call(lambda tx, n=n, age=age: _queue(tx, f"old{n}@x", now=now - age))
    store.writer.call(lambda tx: _queue(tx, "other@x", rcpt="ola@example.org", now=now))

    def count_queue_count(tx: Transaction) -> tuple[tuple[int, int], tuple[int, int]]:
        before = tx.mails_to("kim@example.org", hour_from=now - 3600, day_from=now - 86400)
        _queue(tx, "new@x", now=now)  # not committed yet
        return before, tx.mails_to("kim@example.org", hour_from=now - 3600,
                                   day_from=now - 86400)

    batch = store.writer.batch()
    first = batch.submit(count_queue_count)
    later = batch.submit(lambda tx: tx.mails_to("kim@example.org", hour_from=now - 3600,
                                                day_from=now - 86400))
    batch.flush()
    assert first.result(5) == ((2, 3), (3, 4))
    assert later.result(5) == (3, 4)


def test_the_listing_is_newest_first_by_state_without_bytes(store: Store, ticket: int) -> None:
    ids = [store.writer.call(lambda tx, n=n: _queue(tx, f"m{n}@x")) for n in range(3)]
    store.writer.call(lambda tx: tx.mark_sent(ids[1], 200.0))
    listed = store.view.outbox_listing(state=None, limit=10)
    assert [r.id for r in listed] == ids[::-1] and {r.raw for r in listed} == {b""}
    assert [r.id for r in store.view.outbox_listing(state="pending", limit=10)] == [
        ids[2], ids[0]]
    assert [r.id for r in store.view.outbox_listing(state="pending", limit=1)] == [ids[2]]
    assert store.view.outbox_listing(state="failed", limit=10) == []
