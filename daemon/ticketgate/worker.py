"""The pipeline worker: takes spool rows in order, runs the stages, applies each verdict.

It runs in its own thread, never on the event loop. A row moves new -> done (or held) in the
transaction that writes its ticket, so after a crash the rows still `new` are exactly the
unfinished work, and the writer's claim check makes a second run of the same row a no-op.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from . import pipeline
from .apply import ApplyOptions, apply
from .config import Settings
from .pipeline.model import Context, Envelope, Message
from .rules import Rules
from .store import StorageError, Store
from .store import spool as spool_rows
from .store.tickets import Applied

log = structlog.get_logger("ticketgate.worker")


@dataclass(frozen=True)
class Outcome:
    spool_id: int
    state: str  # done, held, skipped, retry
    ticket_id: int | None = None
    action: str | None = None
    error: str | None = None


def load_row(store: Store, spool_id: int) -> spool_rows.SpoolRow | None:
    row = store.view.conn.execute(
        f"SELECT {spool_rows.COLUMNS} FROM spool WHERE id = ?", (spool_id,)
    ).fetchone()
    return spool_rows.from_row(row) if row else None


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


def process_row(
    store: Store,
    settings: Settings,
    rules: Rules,
    spool_id: int,
    options: ApplyOptions | None = None,
) -> Outcome:
    """Run one spool row through the pipeline and commit the result (or hold it)."""
    row = load_row(store, spool_id)
    if row is None or row.state != "new":
        return Outcome(spool_id, "skipped")
    bound = log.bind(spool_id=spool_id)
    context = Context(settings=settings, rules=rules, view=store.view)
    try:
        message = pipeline.run(to_message(row), context)
    except Exception as exc:
        error = _describe(exc)
        bound.error("message_held", error=error)
        store.writer.call(lambda c: spool_rows.mark_held(c, spool_id, error))
        return Outcome(spool_id, "held", error=error)
    bound = bound.bind(message_id=message.message_id)
    try:
        applied: Applied = store.writer.call(
            lambda c: apply(c, message, options or ApplyOptions())
        )
    except StorageError as exc:
        bound.warning("apply_deferred", error=str(exc))
        return Outcome(spool_id, "retry", error=str(exc))
    except Exception as exc:
        error = _describe(exc)
        bound.error("message_held", error=error)
        store.writer.call(lambda c: spool_rows.mark_held(c, spool_id, error))
        return Outcome(spool_id, "held", error=error)
    if applied.skipped:
        return Outcome(spool_id, "skipped")
    state = "held" if applied.action == "hold" else "done"
    bound.info(
        "message_processed",
        action=applied.action,
        ticket=applied.ticket_id,
        queue=message.verdict.queue,
        flags=list(message.verdict.flags),
    )
    return Outcome(spool_id, state, applied.ticket_id, applied.action)


def _describe(exc: BaseException) -> str:
    tail = traceback.format_exception(exc)[-3:]
    return f"{type(exc).__name__}: {exc}\n" + "".join(tail)[-1500:]


class Worker:
    """A thread that drains `new` spool rows in id order, waking on `wake()` or every second."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        rules: Callable[[], Rules],
        options: Callable[[], ApplyOptions] = ApplyOptions,
    ) -> None:
        self.store = store
        self.settings = settings
        self.rules = rules
        self.options = options
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
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
        self._idle.clear()
        self.wake()
        return self._idle.wait(timeout)

    def pending(self, limit: int = 256) -> list[int]:
        rows = self.store.view.conn.execute(
            "SELECT id FROM spool WHERE state = 'new' ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
        return [r[0] for r in rows]

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                ids = self.pending()
            except Exception as exc:  # the database may be briefly unavailable
                log.warning("spool_read_failed", error=str(exc))
                ids = []
                backoff = min(max(backoff * 2, 0.5), 10.0)
            if not ids:
                self._idle.set()
                self._wake.wait(backoff or 1.0)
                continue
            rules, options = self.rules(), self.options()
            for spool_id in ids:
                if self._stop.is_set():
                    break
                try:
                    outcome = process_row(self.store, self.settings, rules, spool_id, options)
                except Exception as exc:  # never let one row stop the daemon
                    log.error("worker_error", spool_id=spool_id, error=str(exc))
                    outcome = Outcome(spool_id, "retry", error=str(exc))
                if outcome.state == "retry":
                    backoff = min(max(backoff * 2, 0.5), 10.0)
                    self._wake.wait(backoff)
                    break
                backoff = 0.0
                self.processed += 1
        self.store.view.close()
