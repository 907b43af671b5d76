"""The single writer: one thread owns the write connection and commits work in groups.

Async code and other threads hand it jobs, functions of the transaction (a
SqliteTransaction: the store's writes, see interface.Transaction), and wait for the result.
Every job in a group runs inside its own SAVEPOINT, so one failing job does not spoil the
others (a job of one statement needs none: SQLite undoes a failed statement by itself), and
the group is made durable by one COMMIT (one fsync under synchronous=FULL).
A job's future resolves only after that COMMIT has returned: "done" means "on disk".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

from .interface import Transaction
from .schema import tune
from .transaction import SqliteTransaction

T = TypeVar("T")
Job = Callable[[Transaction], Any]
log = structlog.get_logger("ticketgate.store")


class StorageError(Exception):
    """The store could not durably commit; the caller must answer with a temporary failure."""


@dataclass
class _Work:
    job: Job
    # Threads wait on a concurrent Future; `Writer.run` on an asyncio future of its loop,
    # which the writer answers together with the rest of its group (see _deliver).
    future: Future[Any] | asyncio.Future[Any]
    savepoint: bool = True  # False: the job runs one statement (see Writer.run)


_STOP = object()


def _settle(future: Future[Any] | asyncio.Future[Any], ok: bool, value: Any) -> None:
    """Give a job's result (ok) or exception to its future, unless nobody waits any more.

    A waiter may give up: an asyncio task cancelled while it awaits `Writer.run` (a client gone
    during its commit) cancels the future. The job has run all the same; setting the result
    of a cancelled future would raise, and that raise killed the writer thread.
    """
    if isinstance(future, asyncio.Future) and future.done():  # cancelled: asyncio's own state
        return
    with contextlib.suppress(InvalidStateError):
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _deliver(works: list[_Work], outcomes: list[tuple[bool, Any]]) -> None:
    """Settle each job's future with its (ok, result or exception), in order.

    Futures of an event loop are settled on that loop, all of a group in one callback.
    """
    answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    for work, (ok, value) in zip(works, outcomes, strict=True):
        if isinstance(work.future, asyncio.Future):
            answers.setdefault(work.future.get_loop(), []).append((work.future, ok, value))
        else:
            _settle(work.future, ok, value)
    for loop, settled in answers.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_settle_all, settled)


def _settle_all(settled: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in settled:
        _settle(future, ok, value)


class Batch:
    """Jobs one thread gathers and hands to the writer at once, so that they share a commit.

    `submit` gives each job's future as Writer.submit does, but nothing runs before `flush`:
    the owner must flush before it waits for any of these futures.
    """

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._works: list[_Work] = []
        self.since = 0.0  # time.monotonic() of the oldest job not yet handed over

    def __len__(self) -> int:
        return len(self._works)

    def submit(self, job: Callable[[Transaction], T]) -> Future[T]:
        """Add `job`; its future holds the result once the group it runs in is committed."""
        future: Future[T] = Future()
        if not self._works:
            self.since = time.monotonic()
        self._works.append(_Work(job, future))
        return future

    def flush(self) -> None:
        """Hand every job added so far to the writer, in order, as one piece of work."""
        if self._works:
            works, self._works = self._works, []
            self._writer._put(works)

# How long BEGIN IMMEDIATE keeps trying for the write lock before the group fails (451).
LOCK_WAIT = 5.0
# Between two tries: SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms, so a waiter
# meets a short transaction of another process late; polling finely keeps its wait short.
LOCK_POLL = 0.0005


class Writer:
    """Owns the write connection; see the module docstring."""

    def __init__(self, path: Path, *, max_batch: int = 512) -> None:
        self.path = path
        self.max_batch = max_batch
        # Set by a writer that shares the file with another process's writer (the pipeline
        # child beside the listener): while `yielding()` says the other one is busy, this
        # writer's groups end after `max_hold` seconds and it sleeps `pause` after each commit.
        self.yielding: Callable[[], bool] | None = None
        self.max_hold = 0.002
        self.pause = 0.010
        # A list of _Work is a Batch's jobs: they go into the same group, in order.
        self._queue: queue.SimpleQueue[_Work | list[_Work] | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ticketgate-writer", daemon=True)
        self._conn: sqlite3.Connection | None = None
        self._tx: SqliteTransaction | None = None  # the jobs' view of _conn
        self._inode: int | None = None
        self._after: list[Callable[[], None]] = []
        self.commits = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish every job already submitted, then close the connection."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def submit(self, job: Callable[[Transaction], T]) -> Future[T]:
        """Queue `job`; its future holds the result once the group it ran in is committed."""
        future: Future[T] = Future()
        if not self._thread.is_alive():
            future.set_exception(StorageError("the store is closed"))
            return future
        self._queue.put(_Work(job, future))
        return future

    def batch(self) -> Batch:
        """An empty Batch of this writer (see Batch)."""
        return Batch(self)

    def _put(self, works: list[_Work]) -> None:
        if not self._thread.is_alive():
            for work in works:
                _settle(work.future, False, StorageError("the store is closed"))
            return
        self._queue.put(works)

    def call(self, job: Callable[[Transaction], T], timeout: float | None = None) -> T:
        """Run `job` in the writer and wait for its commit (from any thread but the writer's)."""
        return self.submit(job).result(timeout)

    async def run(
        self, job: Callable[[Transaction], T], *, one_statement: bool = False
    ) -> T:
        """Run `job` in the writer and await its commit without blocking the event loop.

        `one_statement`: the job executes at most one statement that writes, so it needs no
        savepoint of its own (two statements less per job, each a release of the GIL): a
        statement that fails has changed nothing, as SQLite rolls it back by itself.
        """
        if not self._thread.is_alive():
            raise StorageError("the store is closed")
        # An asyncio future, not a wrapped concurrent one: the writer wakes the loop once per
        # group rather than once per job (each wake-up is a write to the loop's self-pipe).
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put(_Work(job, future, savepoint=not one_statement))
        return await future

    def after_commit(self, callback: Callable[[], None]) -> None:
        """From inside a job: run `callback` once this job's group is durably committed.

        Lets a job wake a reader (the outbox worker) only when its rows are visible; a
        rolled-back group drops its callbacks.
        """
        self._after.append(callback)

    def _connect(self) -> sqlite3.Connection:
        # mode=rw: Store.open() created the file; one gone by now must not silently become an
        # empty database without the schema (or beside the admin's restored copy).
        uri = f"{self.path.resolve().as_uri()}?mode=rw"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        except sqlite3.OperationalError as exc:
            raise StorageError(f"database file is gone: {self.path}: {exc}") from exc
        tune(conn)
        conn.execute("PRAGMA busy_timeout=0")  # _begin waits for the lock itself
        # The first file only: the worker's and outbox's readers keep reading it, so a file
        # restored or swapped in under us is refused too (451) until a restart opens it for all.
        if self._inode is None:
            self._inode = os.stat(self.path).st_ino
        return conn

    def _check_file(self) -> None:
        # A database deleted or replaced under us would accept writes into an unlinked inode:
        # refuse them, so nothing is acknowledged that a restart could not find.
        try:
            inode = os.stat(self.path).st_ino
        except OSError as exc:
            raise StorageError(f"database file is gone: {exc}") from exc
        if inode != self._inode:
            raise StorageError("database file was replaced under the running daemon")

    @staticmethod
    def _begin(conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(LOCK_POLL)

    def _run(self) -> None:
        stopping = False
        pending: list[_Work] = []  # taken from the queue but left for the next group
        while not stopping:
            if not pending:
                first = self._queue.get()
                if first is _STOP:
                    break
                self._take(pending, first)
            while len(pending) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                self._take(pending, item)
            polite = self.yielding is not None and self.yielding()
            pending = self._commit(pending, self.max_hold if polite else None)
            if polite:
                time.sleep(self.pause)
        while pending:  # a stop came while a time-bounded group left work over
            pending = self._commit(pending, None)
        if self._conn is not None:
            self._conn.close()
            self._conn = self._tx = None

    @staticmethod
    def _take(pending: list[_Work], item: _Work | list[_Work] | object) -> None:
        if isinstance(item, list):
            pending.extend(item)
        else:
            pending.append(item)  # type: ignore[arg-type]

    def _commit(self, batch: list[_Work], max_hold: float | None) -> list[_Work]:
        """Run and commit `batch`, or its head when `max_hold` ran out; return the rest."""
        results: list[tuple[bool, Any]] = []
        self._after = []
        rest: list[_Work] = []
        try:
            if self._conn is None or self._tx is None:
                self._conn = self._connect()
                self._tx = SqliteTransaction(self._conn)
            self._check_file()
            conn, tx = self._conn, self._tx
            self._begin(conn)
            began = time.monotonic()
            for index, work in enumerate(batch):
                if max_hold is not None and index and time.monotonic() - began > max_hold:
                    batch, rest = batch[:index], batch[index:]
                    break
                queued = len(self._after)
                try:
                    results.append((True, self._run_job(tx, work)))
                except Exception as exc:  # the job's own failure, reported to its caller
                    self._undo_job(conn, work, exc)
                    del self._after[queued:]
                    results.append((False, exc))
            conn.execute("COMMIT")
            self.commits += 1
        except Exception as exc:
            log.error("store_commit_failed", error=str(exc), jobs=len(batch))
            self._reset()
            failure = exc if isinstance(exc, StorageError) else StorageError(str(exc))
            _deliver(batch, [(False, failure)] * len(batch))
            return rest
        _deliver(batch, results)
        callbacks, self._after = self._after, []
        for callback in callbacks:
            try:
                callback()
            except Exception as exc:  # a callback's bug must not stop the writer
                log.error("after_commit_failed", error=str(exc))
        return rest

    @staticmethod
    def _run_job(tx: SqliteTransaction, work: _Work) -> Any:
        if not work.savepoint:
            return work.job(tx)
        tx.conn.execute("SAVEPOINT job")
        result = work.job(tx)
        tx.conn.execute("RELEASE job")
        return result

    @staticmethod
    def _undo_job(conn: sqlite3.Connection, work: _Work, exc: Exception) -> None:
        """Undo what a failed job wrote, keeping the group's other jobs; else fail the group."""
        # SQLite may already have rolled back the whole transaction (e.g. on an I/O error):
        # then the group fails, naming the job's own error.
        if not work.savepoint:
            if not conn.in_transaction:
                raise StorageError(f"{exc} (and then: the transaction was rolled back)") from exc
            return
        try:
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
        except sqlite3.Error as undo:
            raise StorageError(f"{exc} (and then: {undo})") from exc

    def _reset(self) -> None:
        # After a failed commit (a lock, a full disk), start from a fresh connection.
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = self._tx = None
