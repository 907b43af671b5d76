"""The single writer's contract with its waiters: results after the commit, whoever gives up."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ticketgate.store import StorageError, Store
from ticketgate.store.transaction import SqliteTransaction


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "t.db").open()
    s.writer.call(lambda tx: tx.conn.execute("CREATE TABLE IF NOT EXISTS probe (n INTEGER)"))
    yield s
    s.close()


def _insert(n: int, gate: threading.Event | None = None):  # type: ignore[no-untyped-def]
    def job(tx: SqliteTransaction) -> int:
        if gate is not None:
            gate.wait(5)
        tx.conn.execute("INSERT INTO probe VALUES (?)", (n,))
        return n
    return job


def test_a_waiter_cancelled_during_the_commit_leaves_the_writer_working(store: Store) -> None:
    # A client that goes away while its mail is being committed cancels the awaiting task.
    async def scenario() -> int:
        gate = threading.Event()
        waiting = asyncio.ensure_future(store.writer.run(_insert(1, gate)))
        await asyncio.sleep(0.05)  # the job is running in the writer, held by the gate
        waiting.cancel()
        await asyncio.sleep(0)
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return await asyncio.wait_for(store.writer.run(_insert(2)), 5)

    assert asyncio.run(scenario()) == 2
    assert store.writer._thread.is_alive()
    # The cancelled job ran and committed all the same: only its answer went nowhere.
    assert store.view.conn.execute("SELECT n FROM probe ORDER BY n").fetchall() == [(1,), (2,)]


def test_a_future_cancelled_before_its_group_runs_leaves_the_writer_working(store: Store) -> None:
    gate = threading.Event()
    first = store.writer.submit(_insert(1, gate))
    second = store.writer.submit(_insert(2))
    assert second.cancel()
    gate.set()
    assert first.result(5) == 1
    assert store.writer.call(_insert(3), timeout=5) == 3


def test_a_group_awaited_from_a_loop_is_answered_in_one_wake_up(store: Store) -> None:
    def failing(tx: SqliteTransaction) -> int:
        tx.conn.execute("INSERT INTO probe VALUES (99)")
        raise ValueError("job 5 fails alone")

    async def scenario() -> tuple[list[object], int]:
        loop = asyncio.get_running_loop()
        wake_ups = 0
        threadsafe = loop.call_soon_threadsafe

        def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal wake_ups
            wake_ups += 1
            return threadsafe(*args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        gate = threading.Event()
        held = store.writer.submit(_insert(0, gate))  # the next ten queue up behind it
        jobs = [failing if n == 5 else _insert(n) for n in range(1, 11)]
        waiting = [asyncio.ensure_future(store.writer.run(job)) for job in jobs]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert held.result(5) == 0
        return results, wake_ups

    results, wake_ups = asyncio.run(scenario())
    assert [r if isinstance(r, int) else str(r) for r in results] == [
        1, 2, 3, 4, "job 5 fails alone", 6, 7, 8, 9, 10]
    assert wake_ups == 1
    rows = store.view.conn.execute("SELECT n FROM probe ORDER BY n").fetchall()
    assert rows == [(n,) for n in range(11) if n != 5]


def test_run_on_a_closed_store_fails_with_storage_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db").open()
    store.close()
    with pytest.raises(StorageError):
        asyncio.run(store.writer.run(_insert(1)))


def test_a_one_statement_job_runs_without_a_savepoint_and_fails_alone(store: Store) -> None:
    store.writer.call(lambda tx: tx.conn.execute(
        "CREATE TABLE IF NOT EXISTS positive (n INTEGER CHECK (n > 0))"))
    statements: list[str] = []
    store.writer.call(lambda tx: tx.conn.set_trace_callback(statements.append))

    def insert(n: int):  # type: ignore[no-untyped-def]
        return lambda tx: tx.conn.execute("INSERT INTO positive VALUES (?)", (n,)).rowcount

    async def scenario() -> list[object]:
        gate = threading.Event()
        held = store.writer.submit(_insert(0, gate))  # the three below form one group
        waiting = [asyncio.ensure_future(store.writer.run(insert(n), one_statement=True))
                   for n in (1, -1, 2)]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert held.result(5) == 0
        return results

    first, failed, last = asyncio.run(scenario())
    store.writer.call(lambda tx: tx.conn.set_trace_callback(None))
    assert (first, last) == (1, 1)
    assert isinstance(failed, sqlite3.IntegrityError)
    assert store.view.conn.execute("SELECT n FROM positive ORDER BY n").fetchall() == [(1,), (2,)]
    inserts = [i for i, s in enumerate(statements) if s.startswith("INSERT INTO positive")]
    assert len(inserts) == 3
    assert all(statements[i - 1] != "SAVEPOINT job" for i in inserts)
    assert all(statements[i + 1] != "RELEASE job" for i in inserts)
    # A job that did not say so still runs in a savepoint of its own: the held one did.
    held = statements.index("INSERT INTO probe VALUES (0)")
    assert statements[held - 1] == "SAVEPOINT job" and statements[held + 1] == "RELEASE job"
