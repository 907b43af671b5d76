"""Tickets first: the outbox starts no delivery while the pipeline has spool rows waiting.

It resumes as soon as the worker's backlog is gone (the worker wakes it), and a row due for
longer than outbox.worker.MAX_HOLD goes out anyway, so a lasting backlog never starves mail.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import ticketgate.pipeline
from conftest import Running, make_mail, send, write_site
from test_outbox import maildir, outbox, wait_until
from ticketgate.config import load_settings
from ticketgate.outbox import rows
from ticketgate.outbox.worker import MAX_HOLD, OutboxWorker
from ticketgate.store import Store
from ticketgate.store import tickets as t


class Recording:
    """A transport that records what it was given."""

    name = "test"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def deliver(self, mail_from: str, rcpt_to: str, raw: bytes) -> str:
        self.sent.append(rcpt_to)
        return "ok"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _queue_one(store: Store, now: float) -> None:
    def job(conn: sqlite3.Connection) -> None:
        ticket = t.create_ticket(conn, queue="helpdesk", subject="x", requester="kim@example.org",
                                 now=now)
        rows.insert(conn, ticket_id=ticket, kind="acknowledgement", message_id="m1@x",
                    rcpt_to="kim@example.org", raw=b"Subject: x\r\n\r\nx\r\n", now=now)

    store.writer.call(job)


def _reads(worker: OutboxWorker) -> list[tuple[float, list[int]]]:
    """Record each read of due rows: (cutoff, ids found)."""
    seen: list[tuple[float, list[int]]] = []
    read = worker._due

    def recorded(cutoff: float, limit: int) -> Any:
        due, next_at = read(cutoff, limit)
        seen.append((cutoff, [r.id for r in due]))
        return due, next_at

    worker._due = recorded  # type: ignore[method-assign]
    return seen


async def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _run_worker(tmp_path: Path, scenario: Any, clock: Clock) -> Recording:
    settings = load_settings(write_site(tmp_path))
    store = Store(settings.database).open()
    transport = Recording()
    # A long poll: whatever is delivered below came from a wake-up or the hold's own timer.
    worker = OutboxWorker(store, settings, transport=transport, poll=60.0, clock=clock)
    try:
        _queue_one(store, clock.now)
        asyncio.run(scenario(worker, transport))
    finally:
        store.close()
    return transport


def test_the_outbox_holds_while_the_pipeline_has_a_backlog_and_goes_when_woken(
    tmp_path: Path,
) -> None:
    clock = Clock(1_000_000.0)
    backlog = {"on": True}

    async def scenario(worker: OutboxWorker, transport: Recording) -> None:
        worker.holding = lambda: backlog["on"]
        reads = _reads(worker)
        await worker.start()
        await _until(lambda: reads)
        await asyncio.sleep(0.2)
        assert reads[0] == (clock.now - MAX_HOLD, [])  # due, but held
        assert transport.sent == [] and not worker.in_flight
        backlog["on"] = False
        worker.wake()  # what the worker's on_drained does
        await _until(lambda: transport.sent)
        await worker.stop()

    transport = _run_worker(tmp_path, scenario, clock)
    assert transport.sent == ["kim@example.org"]


def test_a_row_held_past_the_bound_goes_out_anyway(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)

    async def scenario(worker: OutboxWorker, transport: Recording) -> None:
        worker.holding = lambda: True  # a backlog that never ends
        reads = _reads(worker)
        await worker.start()
        await _until(lambda: reads)
        assert transport.sent == []
        clock.now += MAX_HOLD - 1.0
        worker.wake()
        await _until(lambda: len(reads) >= 2)
        await asyncio.sleep(0.2)
        assert transport.sent == []  # still within the bound
        clock.now += 1.0
        worker.wake()
        await _until(lambda: transport.sent)
        await worker.stop()

    transport = _run_worker(tmp_path, scenario, clock)
    assert transport.sent == ["kim@example.org"]


def test_the_hold_timer_releases_a_row_without_a_wake_up(tmp_path: Path) -> None:
    class RealClock(Clock):
        def __call__(self) -> float:
            return time.time()

    async def scenario(worker: OutboxWorker, transport: Recording) -> None:
        worker.holding = lambda: True
        worker.max_hold = 0.3  # real time passes: nothing wakes it and the poll is 60 s
        await worker.start()
        await _until(lambda: transport.sent)
        await worker.stop()

    transport = _run_worker(tmp_path, scenario, RealClock(time.time()))
    assert transport.sent == ["kim@example.org"]


def test_the_daemon_delivers_nothing_new_until_its_worker_has_drained_the_spool(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    run = ticketgate.pipeline.run

    def blocking_run(message: Any, context: Any, stages: Any = None) -> Any:
        if b"block me" in message.raw and not release.is_set():
            entered.set()
            release.wait(20)
        return run(message, context) if stages is None else run(message, context, stages)

    monkeypatch.setattr(ticketgate.pipeline, "run", blocking_run)
    running = Running(load_settings(site))
    try:
        daemon = running.daemon
        assert daemon.worker.on_drained == daemon.outbox.wake
        drained: list[bool] = []
        daemon.worker.on_drained = lambda: (drained.append(True), daemon.outbox.wake())[-1]
        reads = _reads(daemon.outbox)

        send(running.port(), make_mail("block me, the worker is busy"))
        assert entered.wait(20), "the worker did not take the mail"
        assert daemon.worker.backlog
        _queue_one(daemon.store, time.time())  # a mail of an earlier ticket, due now
        n = len(reads)
        daemon.outbox.wake()
        wait_until(lambda: len(reads) > n, what="a read of due rows")
        assert reads[-1][1] == [] and maildir(site.parent) == []  # held

        release.set()
        running.drain()
        wait_until(lambda: outbox(running) and all(r.state == "sent" for r in outbox(running)),
                   what="every row sent")
        assert drained and not daemon.worker.backlog
        # The held mail and the blocked mail's acknowledgement and notification, once each.
        assert len(maildir(site.parent)) == len(outbox(running)) == 3
    finally:
        release.set()
        running.stop()
