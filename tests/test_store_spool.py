"""store/spool.py against a real SQLite file: every delivery kept as received, claimed once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ticketgate.store import Store, Transaction

RAW = b"From: kim@example.org\r\nSubject: Skrivaren \xe5\r\n\r\nHej\r\n"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "t.db") as s:
        yield s


def _spool(store: Store, received_at: float | None = None) -> int:
    def job(tx: Transaction) -> int:
        return tx.spool_delivery(raw=RAW, mail_from="kim@example.org",
                                 rcpt_to=("helpdesk@example.org", "lukortet@example.org"),
                                 peer="192.0.2.7", protocol="lmtp", received_at=received_at)
    return store.writer.call(job)


def test_a_delivery_reads_back_byte_for_byte_with_its_envelope(store: Store) -> None:
    spool_id = _spool(store, received_at=1234.5)
    row = store.view.spool_row(spool_id)
    assert row is not None
    assert (row.raw, row.mail_from, row.rcpt_to, row.peer, row.protocol) == (
        RAW, "kim@example.org", ("helpdesk@example.org", "lukortet@example.org"), "192.0.2.7",
        "lmtp")
    assert (row.state, row.error, row.attempts, row.received_at) == ("new", None, 0, 1234.5)
    assert store.view.spool_row(spool_id + 1) is None


def test_queued_as_numbers_grow_and_are_never_the_same(store: Store) -> None:
    ids = [_spool(store) for _ in range(3)]
    ids += store.writer.call(lambda tx: [tx.spool_delivery(
        raw=b"x", mail_from="", rcpt_to=("helpdesk@example.org",), peer="p", protocol="smtp")
        for _ in range(3)])
    assert ids == sorted(set(ids)) and len(ids) == 6


def test_a_row_is_claimed_until_it_is_done_and_never_after(store: Store) -> None:
    spool_id = _spool(store)

    def apply_once(tx: Transaction) -> bool:
        if not tx.claim_delivery(spool_id):
            return False
        tx.delivery_done(spool_id)
        return True

    # Two applies of the same row in one group, as after a crash and a second worker run:
    # the second sees the first's work (the same transaction) and writes nothing.
    batch = store.writer.batch()
    first, second = batch.submit(apply_once), batch.submit(apply_once)
    batch.flush()
    assert (first.result(5), second.result(5)) == (True, False)
    assert store.writer.call(apply_once) is False
    row = store.view.spool_row(spool_id)
    assert row is not None and (row.state, row.attempts) == ("done", 1)
    assert store.writer.call(lambda tx: tx.claim_delivery(None)) is True  # a direct apply


def test_a_done_row_is_never_held_and_only_a_held_row_is_released(store: Store) -> None:
    done, held = _spool(store), _spool(store)
    store.writer.call(lambda tx: tx.delivery_done(done))
    store.writer.call(lambda tx: tx.hold_delivery(done, "too late"))
    store.writer.call(lambda tx: tx.hold_delivery(held, "RuntimeError: " + "x" * 5000))
    done_row, held_row = store.view.spool_row(done), store.view.spool_row(held)
    assert done_row is not None and (done_row.state, done_row.error) == ("done", None)
    assert held_row is not None and held_row.state == "held"
    assert held_row.error is not None and len(held_row.error) == 4000
    assert store.writer.call(lambda tx: tx.release_delivery(done)) is False
    # Two releases of the same row: one wins.
    batch = store.writer.batch()
    releases = [batch.submit(lambda tx: tx.release_delivery(held)) for _ in range(2)]
    batch.flush()
    assert [f.result(5) for f in releases] == [True, False]
    again = store.view.spool_row(held)
    assert again is not None and (again.state, again.error) == ("new", None)


def test_the_pipelines_work_is_the_new_rows_oldest_first(store: Store) -> None:
    ids = [_spool(store) for _ in range(5)]
    store.writer.call(lambda tx: tx.delivery_done(ids[1]))
    store.writer.call(lambda tx: tx.hold_delivery(ids[3], "held"))
    assert store.view.new_deliveries(10) == [ids[0], ids[2], ids[4]]
    assert store.view.new_deliveries(2) == [ids[0], ids[2]]


def test_the_listing_is_newest_first_by_state_without_raw_bytes(store: Store) -> None:
    ids = [_spool(store) for _ in range(3)]
    store.writer.call(lambda tx: tx.hold_delivery(ids[1], "why"))
    listed = store.view.spool_listing(state=None, limit=10)
    assert [e.id for e in listed] == ids[::-1]
    assert listed[0].size == len(RAW) and listed[0].rcpt_to == (
        "helpdesk@example.org", "lukortet@example.org")
    assert [(e.id, e.error) for e in store.view.spool_listing(state="held", limit=10)] == [
        (ids[1], "why")]
    assert [e.id for e in store.view.spool_listing(state=None, limit=2)] == ids[:0:-1]
