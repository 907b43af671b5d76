"""The pipeline worker: takes spool rows in order, runs the stages, applies each verdict.

It runs in its own thread, never on the event loop. A row moves new -> done (or held) in the
transaction that writes its ticket, so after a crash the rows still `new` are exactly the
unfinished work, and the writer's claim check makes a second run of the same row a no-op.

Applies are pipelined: the worker hands verdicts to the writer and goes on with the next row
without waiting for the commit, so many messages share one fsync. It hands them over in groups
(APPLY_GROUP verdicts, or what it has after APPLY_LINGER seconds): one at a time, the writer,
faster than the stages, would commit each on its own. A row that could depend on a verdict not
yet committed (the same Message-ID, a reply to one, or the same requester and subject, which
resend detection looks up) first waits for everything in flight to commit.

Every log line about a row, the stages' own included, carries its spool_id, message_id (once
parsed) and ticket code (once known), bound with structlog's contextvars.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog

from . import metrics, pipeline
from .apply import ApplyOptions, apply
from .config import Settings
from .identity import format_code
from .pipeline import Context, Envelope, Message, Reads
from .rules import Rules
from .store import StorageError, Store, Transaction
from .store import spool as spool_rows
from .store.tickets import Applied
from .store.writer import Batch

log = structlog.get_logger("ticketgate.worker")

MAX_IN_FLIGHT = 256
# Verdicts handed to the writer together, to share one commit; the oldest waits at most
# APPLY_LINGER seconds (checked between rows) before its group goes anyway.
APPLY_GROUP = 32
APPLY_LINGER = 0.05


@dataclass(frozen=True)
class Outcome:
    spool_id: int
    state: str  # done, held, skipped, retry
    ticket_id: int | None = None
    action: str | None = None
    error: str | None = None


def load_row(store: Store, spool_id: int) -> spool_rows.SpoolRow | None:
    return store.view.spool_row(spool_id)


def to_message(row: spool_rows.SpoolRow) -> Message:
    return Message(
        raw=row.raw,
        envelope=Envelope(
            mail_from=row.mail_from,
            rcpt_to=row.rcpt_to,
            peer=row.peer,
            received_at=row.received_at,
            spool_id=row.id,
        ),
    )


def _describe(exc: BaseException) -> str:
    tail = traceback.format_exception(exc)[-3:]
    return f"{type(exc).__name__}: {exc}\n" + "".join(tail)[-1500:]


def _hold(store: Store, spool_id: int, exc: BaseException) -> Outcome:
    error = _describe(exc)
    log.error("message_held", spool_id=spool_id, error=error)
    metrics.pipeline_done(spool_id, "error")
    store.writer.call(lambda tx: tx.hold_delivery(spool_id, error))
    return Outcome(spool_id, "held", error=error)


def _settle(message: Message, future: Future[Applied], tag: str) -> Outcome:
    """Wait for an apply's commit and log what it did."""
    spool_id = message.envelope.spool_id or 0
    bound = log.bind(spool_id=spool_id, message_id=message.message_id)
    try:
        applied = future.result()
    except StorageError as exc:
        bound.warning("apply_deferred", error=str(exc))
        metrics.pipeline_done(spool_id, "deferred")
        return Outcome(spool_id, "retry", error=str(exc))
    except Exception as exc:
        return Outcome(spool_id, "failed", error=_describe(exc))
    if applied.skipped:
        metrics.pipeline_done(spool_id, "skipped")
        return Outcome(spool_id, "skipped")
    metrics.pipeline_done(spool_id, applied.action)
    bound.info(
        "message_processed",
        action=applied.action,
        ticket=format_code(applied.ticket_id, tag) if applied.ticket_id is not None else None,
        queue=message.verdict.queue,
        flags=list(message.verdict.flags),
    )
    state = "held" if applied.action == "hold" else "done"
    return Outcome(spool_id, state, applied.ticket_id, applied.action)


def process_row(
    store: Store,
    settings: Settings,
    rules: Rules,
    spool_id: int,
    options: ApplyOptions | None = None,
    extras: Mapping[str, Any] | None = None,
) -> Outcome:
    """Run one spool row through the pipeline and commit the result (or hold it)."""
    row = load_row(store, spool_id)
    if row is None or row.state != "new":
        return Outcome(spool_id, "skipped")
    context = Context(settings=settings, rules=rules, view=store.view, extras=extras or {})
    try:
        message = pipeline.run(to_message(row), context)
    except Exception as exc:
        return _hold(store, spool_id, exc)
    chosen = options or ApplyOptions()
    outcome = _settle(message, store.writer.submit(lambda c: apply(c, message, chosen)),
                      settings.ticket_tag)
    if outcome.state == "failed":
        return _hold(store, spool_id, RuntimeError(outcome.error))
    return outcome


def _apply(conn: Transaction, *, message: Message, options: ApplyOptions) -> Applied:
    return apply(conn, message, options)


@dataclass
class _InFlight:
    """Verdicts handed to the writer but not yet known to be committed."""

    items: list[tuple[Message, Future[Applied]]] = field(default_factory=list)
    message_ids: set[str] = field(default_factory=set)
    requests: set[tuple[str, str]] = field(default_factory=set)

    def add(self, message: Message, future: Future[Applied], reads: Reads) -> None:
        # What a verdict writes that later stages read: its Message-ID, and its request
        # (requester and subject key), which is what resend detection looks up.
        self.items.append((message, future))
        self.message_ids.add(message.message_id)
        self.requests.update(reads.requests)

    def depends(self, reads: Reads, context: Context) -> bool:
        """True when the stages read something a verdict in flight will write."""
        if not self.items:
            return False
        if not self.message_ids.isdisjoint(reads.message_ids):
            return True
        if not self.requests.isdisjoint(reads.requests):
            return True
        # A code for a ticket not yet visible may name one still in flight.
        return any(context.view.ticket(number) is None for number in reads.tickets)


class Worker:
    """A thread that drains `new` spool rows in id order, waking on `wake()` or every second."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        rules: Callable[[], Rules],
        options: Callable[[], ApplyOptions] = ApplyOptions,
        extras: Mapping[str, Any] | None = None,  # the stages' services, e.g. the directory
    ) -> None:
        self.store = store
        self.settings = settings
        self.rules = rules
        self.options = options
        self.extras = dict(extras or {})
        # Set in the pipeline child: while it says mail is arriving, the worker sleeps
        # `pause` seconds after each row, leaving the CPU to the listener.
        self.yielding: Callable[[], bool] | None = None
        self.pause = 0.040
        self.lag = 0.0  # seconds the last row taken had waited in the spool
        # True from a spool read that found rows until one that finds none. The outbox of the
        # same process reads it and starts no new delivery meanwhile (tickets first);
        # `on_drained` is called when it turns false, so deliveries start at once.
        self.backlog = False
        self.on_drained: Callable[[], None] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._epoch = 0  # bumped by wait_idle: only a spool read begun after it proves idleness
        self._epoch_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ticketgate-worker", daemon=True)
        self.processed = 0

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until the spool has no new rows (for tests and orderly shutdown)."""
        with self._epoch_lock:
            self._epoch += 1
            self._idle.clear()
        self.wake()
        return self._idle.wait(timeout)

    def pending(self, limit: int = 512) -> list[int]:
        return self.store.view.new_deliveries(limit)

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            self._wake.clear()
            epoch = self._epoch
            try:
                ids = self.pending()
            except Exception as exc:  # the database may be briefly unavailable
                log.warning("spool_read_failed", error=str(exc))
                ids = []
                backoff = min(max(backoff * 2, 0.5), 10.0)
            self._set_backlog(bool(ids))
            if not ids:
                with self._epoch_lock:
                    if epoch == self._epoch:
                        self._idle.set()
                self._wake.wait(backoff or 1.0)
                continue
            # _drain binds each row's spool_id, message_id and ticket; this unbinds them.
            with structlog.contextvars.bound_contextvars(spool_id=None, message_id=None,
                                                         ticket=None):
                drained = self._drain(ids)
            if drained:
                backoff = 0.0
            else:
                backoff = min(max(backoff * 2, 0.5), 10.0)
                self._wake.wait(backoff)
        self._set_backlog(False)  # a stopped worker holds nothing back
        self.store.view.close()

    def _set_backlog(self, backlog: bool) -> None:
        was, self.backlog = self.backlog, backlog
        if was and not backlog and self.on_drained is not None:
            try:
                self.on_drained()
            except Exception as exc:  # a hook's bug must not stop the worker
                log.error("on_drained_failed", error=str(exc))

    def _drain(self, ids: list[int]) -> bool:
        """Process these rows; False when storage failed and the rest must wait."""
        rules, options = self.rules(), self.options()
        context = Context(settings=self.settings, rules=rules, view=self.store.view,
                          extras=self.extras)
        inflight = _InFlight()
        batch = self.store.writer.batch()
        healthy = True
        for spool_id in ids:
            if self._stop.is_set() or not healthy:
                break
            structlog.contextvars.bind_contextvars(spool_id=spool_id, message_id=None,
                                                   ticket=None)
            try:
                row = load_row(self.store, spool_id)
                if row is None or row.state != "new":
                    continue
                self.lag = time.time() - row.received_at
                metrics.pipeline_started(spool_id)
                message = pipeline.run(to_message(row), context, pipeline.PIPELINE[:1])
                structlog.contextvars.bind_contextvars(message_id=message.message_id)
                reads = pipeline.reads(message, context)
                if (inflight.depends(reads, context)
                        or len(inflight.items) >= MAX_IN_FLIGHT):
                    healthy = self._settle_all(inflight, batch)
                    inflight = _InFlight()
                    if not healthy:
                        break
                message = pipeline.run(message, context, pipeline.PIPELINE[1:])
            except Exception as exc:  # a bug met by this message: hold it, go on
                healthy = self._settle_all(inflight, batch)
                inflight = _InFlight()
                _hold(self.store, spool_id, exc)
                continue
            future = batch.submit(partial(_apply, message=message, options=options))
            inflight.add(message, future, reads)
            if len(batch) >= APPLY_GROUP or time.monotonic() - batch.since >= APPLY_LINGER:
                batch.flush()
            if self.yielding is not None and self.yielding():
                batch.flush()  # nothing waits for the writer while this thread sleeps
                time.sleep(self.pause)
        return self._settle_all(inflight, batch) and healthy

    def _settle_all(self, inflight: _InFlight, batch: Batch) -> bool:
        batch.flush()  # the futures below resolve only once the writer has their jobs
        healthy = True
        for message, future in inflight.items:
            with structlog.contextvars.bound_contextvars(
                spool_id=message.envelope.spool_id, message_id=message.message_id, ticket=None
            ):
                outcome = _settle(message, future, self.settings.ticket_tag)
                if outcome.state == "retry":
                    healthy = False  # left `new`: processed again once storage is back
                elif outcome.state == "failed":
                    _hold(self.store, outcome.spool_id, RuntimeError(outcome.error))
            self.processed += 1
        return healthy
