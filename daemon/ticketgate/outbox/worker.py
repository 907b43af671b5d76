"""The outbox worker: delivers pending rows on the event loop's schedule, never on its time.

Due rows are read with the `outbox_due` partial index, in a reader thread of its own; each
delivery runs in a pool of `delivery.concurrency` threads, so at most that many are in flight
and a slow or dead smarthost only ever occupies those threads, never the event loop that
serves SMTP ingest. Results are recorded through the single writer, with the ticket's event
in the same commit. A delivery's slot is free as soon as the mail is out; its result waits
(the row counted as busy, so no read launches it again) to share one writer job and one
commit with the results of the deliveries still running: up to RECORD_BATCH results or
RECORD_LINGER seconds, and at once when no other delivery is running. Results the store
refuses (a full disk, an I/O error) are kept and written again later (RECORD_RETRY_FIRST,
doubling); meanwhile their rows stay busy and no new delivery starts, so a failing store never
makes the outbox hand the same mail over twice. Only a stop before the store recovers leaves
them pending, to be delivered again at the next start.

Retries: a temporary failure is tried again after `first` seconds (30, with up to 10% jitter:
within a minute), then doubling up to `cap` (2 hours), until `delivery.give_up_after` has
passed since the row was created (5 days by default); then it fails. A permanent failure fails
at once. Deferrals become events on the ticket at attempts 1, 2, 4, 8, ..., so a long outage
does not bury the ticket's history; the row's `attempts` and `last_error` always say the rest.

After a crash, rows left `pending` are simply delivered again at start: their Message-ID and
bytes are fixed, so a mail that had in fact gone out arrives as the same mail.

Tickets first: while `holding()` says the pipeline of the same process has spool rows waiting
(the daemon wires it to the worker's backlog), no new delivery starts, so the CPU and the write
lock go to turning mail into tickets; deliveries in flight finish. The worker wakes us when
its backlog is gone. The hold is bounded: a row due for longer than `MAX_HOLD` seconds goes
out anyway, so a lasting flood (or a worker stuck on a failing store) delays mail by at most
that much and never starves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog

from .. import metrics
from ..config import Settings
from ..identity import format_code
from ..store import OutboxRow, Store, StoreView, Transaction
from .transport import PermanentFailure, TemporaryFailure, Transport, settle, transport_for

log = structlog.get_logger("ticketgate.outbox")

# The longest a due row waits for the pipeline's backlog. Deliveries interleaved with the
# pipeline cost both more than the same work done one after the other (the threads of one
# process contend): after a 60 s flood at 0.8 x the ceiling, a 30 s bound left every ticket
# in place 234 s after the load and the outbox empty at 239 s; five minutes gave 165 s and
# 213 s, with 36% less CPU (BENCHMARKS.md, session 4). A burst of a few thousand mails is
# worked off in seconds either way. Five minutes is also what a flood, or a worker stuck on a
# failing store, can delay an acknowledgement by: a mail system's ordinary queueing delay.
MAX_HOLD = 300.0

# Results recorded together: a commit (an fsync) per result cost more than the result. The
# linger is short next to a delivery's own fsyncs or SMTP dialogue, and it only widens the
# window, already there, in which a crash makes a sent mail go again as the same mail.
RECORD_BATCH = 32
RECORD_LINGER = 0.05
# A recording the store refused is tried again after this long, doubling up to the cap.
RECORD_RETRY_FIRST = 0.2
RECORD_RETRY_CAP = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for temporary failures (see the module docstring)."""

    first: float = 30.0
    factor: float = 2.0
    cap: float = 2 * 3600.0
    jitter: float = 0.1

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (1 for the first)."""
        base = min(self.first * self.factor ** max(attempts - 1, 0), self.cap)
        return base * (1.0 + random.uniform(0.0, self.jitter))


@dataclass(frozen=True)
class Result:
    """How one attempt ended: sent, deferred or failed, and what the far end said."""

    outcome: str
    detail: str


@dataclass(frozen=True)
class _Ended:
    """A delivery that ended, waiting for its result to be recorded."""

    row: OutboxRow
    result: Result
    at: float  # the clock when it ended
    seconds: float  # how long the delivery took
    log: Any  # the row's bound logger


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def record(
    tx: Transaction, row: OutboxRow, result: Result, *, now: float,
    retry: RetryPolicy, give_up_after: float,
) -> str:
    """Write the result of one attempt and its event; returns the row's new state."""
    attempts = row.attempts + 1
    base = {"outbox_id": row.id, "to": row.rcpt_to, "message_id": row.message_id,
            "attempts": attempts}
    if result.outcome == "sent":
        if tx.mark_sent(row.id, now):
            tx.add_event(row.ticket_id, f"{row.kind}_sent", {**base, "result": result.detail},
                         at=now)
        return "sent"
    deadline = row.created_at + give_up_after
    if result.outcome == "deferred" and now < deadline:
        next_at = min(now + retry.delay(attempts), deadline)
        if tx.mark_deferred(row.id, next_at, result.detail) and _is_power_of_two(attempts):
            tx.add_event(row.ticket_id, f"{row.kind}_deferred",
                         {**base, "error": result.detail, "next_attempt_at": next_at}, at=now)
        return "pending"
    error = result.detail
    if result.outcome == "deferred":
        error = f"gave up after {attempts} attempts over {give_up_after:.0f}s: {error}"
    if tx.mark_failed(row.id, error):
        tx.add_event(row.ticket_id, f"{row.kind}_failed", {**base, "error": error}, at=now)
    return "failed"


class OutboxWorker:
    """Runs on the daemon's event loop: `await start()`, `wake()` from anywhere, `await stop()`."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
        poll: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.transport = transport or transport_for(settings)
        self.retry = retry or RetryPolicy()  # tests may replace it on a running worker
        self.poll = poll
        self.clock = clock
        self.concurrency = max(1, settings.delivery.concurrency)
        # Set by the daemon: True while the pipeline has spool rows waiting (module docstring).
        self.holding: Callable[[], bool] | None = None
        self.max_hold = MAX_HOLD  # tests shorten it on a worker
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        # Rows whose result was committed (or whose delivery was abandoned) while a read of
        # due rows was under way: that read's snapshot may predate the commit and still show
        # them pending. (Their end also set the wake-up, so the next read, which sees the
        # commit, follows at once.)
        self._ended_during_read: set[int] = set()
        # Delivered, result not yet committed: still `pending` in the store, so never launched.
        self._unrecorded: list[_Ended] = []
        self._recording: set[int] = set()  # ids of _unrecorded and of the batch being written
        self._record_task: asyncio.Task[None] | None = None
        self._record_timer: asyncio.TimerHandle | None = None
        self.delivered = 0
        # A transport looks for an earlier copy of a mail (`again`) only for a row that may
        # have been handed to it before: one that existed when this worker first read the
        # outbox (an earlier process may have delivered it and died before recording it), or
        # one tried before. A row delivered here is never launched again before its result is
        # committed (see _record).
        self._before: int | None = None  # the highest row id at the first read
        self._record_failures = 0  # failed recordings in a row; while > 0 no delivery starts
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="ticketgate-outbox-read")
        self._senders = ThreadPoolExecutor(self.concurrency,
                                           thread_name_prefix="ticketgate-outbox")
        self._view = StoreView(store.path)  # used only in the reader thread

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="ticketgate-outbox")
        log.info("outbox_started", transport=self.transport.name, concurrency=self.concurrency)

    def wake(self) -> None:
        """Look for due rows now (thread-safe)."""
        loop, event = self._loop, self._wakeup
        if loop is None or event is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(event.set)

    def wake_after_commit(self) -> None:
        """Wake once the writer's current group is on disk (call from inside a writer job).

        The job that queued the rows has not committed yet: waking now would find nothing.
        """
        self.store.writer.after_commit(self.wake)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking rows; give deliveries in flight `grace` seconds, then leave them
        pending (they are delivered at the next start, as the same mail)."""
        self._stopping = True
        self.wake()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.in_flight:
            _, late = await asyncio.wait(list(self.in_flight.values()), timeout=grace)
            for task in late:
                task.cancel()
            if late:
                log.warning("outbox_deliveries_abandoned", count=len(late))
        try:
            await asyncio.wait_for(self._record_all(), grace)
        except TimeoutError:  # the store is stuck: those rows stay pending, sent again later
            log.warning("outbox_results_unrecorded", count=len(self._recording))
        self._senders.shutdown(wait=False, cancel_futures=True)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            await loop.run_in_executor(self._reader, self._view.close)
        self._reader.shutdown(wait=False)

    def _due(self, cutoff: float, limit: int,
             skip: frozenset[int] = frozenset()) -> tuple[list[OutboxRow], float | None]:
        """Rows due at `cutoff` or before but those in `skip`, and when the next one after
        `cutoff` becomes due."""
        view = self._view
        if self._before is None:
            self._before = view.highest_outbox_id()
        return view.due_mail(cutoff, limit, skip), view.next_due(cutoff)

    def _again(self, row: OutboxRow) -> bool:
        """May `row`'s mail have been handed to the transport before? (see __init__)"""
        return self._before is None or row.id <= self._before or row.attempts > 0

    def _cutoff(self, now: float) -> float:
        """The due time up to which rows may start now: `now`, or MAX_HOLD earlier while the
        pipeline has a backlog (a held row goes once it has been due for `max_hold`)."""
        held = False
        if self.holding is not None:
            try:
                held = self.holding()
            except Exception as exc:  # a broken hook must not stop delivery
                log.error("outbox_holding_failed", error=str(exc))
        return now - self.max_hold if held else now

    async def _run(self) -> None:
        assert self._wakeup is not None and self._loop is not None
        while not self._stopping:
            self._wakeup.clear()
            timeout = self.poll
            # While results cannot be recorded, send nothing more: each would wait unrecorded.
            free = 0 if self._record_failures else self.concurrency - len(self.in_flight)
            if free > 0:
                cutoff = self._cutoff(self.clock())
                self._ended_during_read.clear()
                busy = frozenset(self.in_flight.keys() | self._recording)
                try:
                    due, next_at = await self._loop.run_in_executor(
                        self._reader, self._due, cutoff, free, busy)
                except Exception as exc:  # the database may be briefly unavailable
                    log.warning("outbox_read_failed", error=str(exc))
                    due, next_at = [], None
                skip = self.in_flight.keys() | self._recording | self._ended_during_read
                for row in [r for r in due if r.id not in skip][:free]:
                    self._launch(row)
                if next_at is not None:  # the cutoff reaches it after next_at - cutoff
                    timeout = min(max(next_at - cutoff, 0.01), self.poll)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _launch(self, row: OutboxRow) -> None:
        task = asyncio.create_task(self._deliver(row), name=f"ticketgate-outbox-{row.id}")
        self.in_flight[row.id] = task

        def done(_task: asyncio.Task[None]) -> None:
            self.in_flight.pop(row.id, None)
            if row.id not in self._recording:  # abandoned: it may be read again at once
                self._ended_during_read.add(row.id)
            if self._wakeup is not None:
                self._wakeup.set()  # a slot is free
            self._maybe_record()

        task.add_done_callback(done)

    async def _deliver(self, row: OutboxRow) -> None:
        assert self._loop is not None
        # An outgoing mail has no spool row: its lines name the outbox row, its own Message-ID
        # and the ticket.
        code = format_code(row.ticket_id, self.settings.ticket_tag) if row.ticket_id else None
        bound = log.bind(outbox_id=row.id, message_id=row.message_id, ticket=code, kind=row.kind,
                         to=row.rcpt_to)
        started = time.monotonic()
        deliver = functools.partial(self.transport.deliver, row.mail_from, row.rcpt_to, row.raw,
                                    again=self._again(row))
        try:
            detail = await self._loop.run_in_executor(self._senders, deliver)
            result = Result("sent", detail)
        except TemporaryFailure as exc:
            result = Result("deferred", str(exc))
        except PermanentFailure as exc:
            result = Result("failed", str(exc))
        except RuntimeError as exc:  # the pool was shut down under us: leave it pending
            bound.warning("outbox_delivery_abandoned", error=str(exc))
            return
        except Exception as exc:  # a bug or an unexpected library error: try again later
            bound.exception("outbox_delivery_error")
            result = Result("deferred", f"{type(exc).__name__}: {exc}")
        ended = _Ended(row, result, self.clock(), time.monotonic() - started, bound)
        self._unrecorded.append(ended)  # recorded by _maybe_record, called as this task ends
        self._recording.add(row.id)

    # -- recording results, several to a commit -----------------------------------------------

    def _maybe_record(self) -> None:
        """Start writing the waiting results now, or once more of them have come."""
        if not self._unrecorded or self._record_task is not None:
            return  # nothing to write, or a batch is being written: it looks again when done
        if self._record_failures:
            return  # the retry timer set by _record starts the next attempt
        if self.in_flight and len(self._unrecorded) < RECORD_BATCH:
            if self._record_timer is None:  # others may end soon: wait for them a little
                assert self._loop is not None
                self._record_timer = self._loop.call_later(RECORD_LINGER, self._linger_over)
            return
        self._start_recording()

    def _linger_over(self) -> None:
        self._record_timer = None
        if self._record_task is None and self._unrecorded:
            self._start_recording()

    def _start_recording(self) -> None:
        if self._record_timer is not None:
            self._record_timer.cancel()
            self._record_timer = None
        batch, self._unrecorded = self._unrecorded, []
        self._record_task = asyncio.create_task(self._record(batch),
                                                name="ticketgate-outbox-record")

    async def _record_all(self, attempts: int = 3) -> None:
        """Write every result still waiting (at stop); a failing store gets a few tries."""
        while self._record_task is not None or self._unrecorded:
            if self._record_task is None:
                if attempts <= 0:
                    return  # those rows stay pending, delivered again at the next start
                attempts -= 1
                self._start_recording()
            assert self._record_task is not None
            await asyncio.shield(self._record_task)
            if self._record_failures:
                await asyncio.sleep(RECORD_RETRY_FIRST)

    async def _record(self, batch: list[_Ended]) -> None:
        retry, give_up = self.retry, self.settings.delivery.give_up_after

        def job(tx: Transaction) -> list[str]:
            return [record(tx, e.row, e.result, now=e.at, retry=retry, give_up_after=give_up)
                    for e in batch]

        try:
            if any(e.result.outcome == "sent" for e in batch):
                assert self._loop is not None
                await self._loop.run_in_executor(None, settle, self.transport)
            states = await self.store.writer.run(job)
        except Exception as exc:
            self._record_task = None
            self._record_later(batch, exc)
            return
        self._record_failures = 0
        for e in batch:
            self._recording.discard(e.row.id)
            self._ended_during_read.add(e.row.id)  # a read under way may predate the commit
        self._record_task = None
        if self._wakeup is not None:
            self._wakeup.set()  # free to deliver; deferred rows change when the next is due
        for e, state in zip(batch, states, strict=True):
            self._recorded(e, state)
        self._maybe_record()

    def _record_later(self, batch: list[_Ended], exc: Exception) -> None:
        """Keep results the store refused and try them again, later and later. Their rows stay
        busy, so no read launches them again: over SMTP that would send the mail twice."""
        self._record_failures += 1
        delay = min(RECORD_RETRY_FIRST * 2 ** (self._record_failures - 1), RECORD_RETRY_CAP)
        log.error("outbox_record_failed", error=str(exc), results=len(batch),
                  failures=self._record_failures, retry_in=delay)
        self._unrecorded[:0] = batch  # first in line, before results that came meanwhile
        if self._record_timer is not None:
            self._record_timer.cancel()
            self._record_timer = None
        if not self._stopping:  # at stop, _record_all makes the last tries itself
            assert self._loop is not None
            self._record_timer = self._loop.call_later(delay, self._linger_over)

    def _recorded(self, e: _Ended, state: str) -> None:
        row, result, bound = e.row, e.result, e.log
        metrics.delivered(row.kind, "deferred" if state == "pending" else state,
                          self.transport.name, e.seconds)
        if state == "sent":
            self.delivered += 1
            bound.info("outbox_sent", attempts=row.attempts + 1, result=result.detail)
        elif state == "pending":
            bound.warning("outbox_deferred", attempts=row.attempts + 1, error=result.detail)
        else:
            bound.error("outbox_failed", attempts=row.attempts + 1, error=result.detail)

    def stats(self) -> dict[str, Any]:
        return {"in_flight": len(self.in_flight), "delivered": self.delivered}
