"""The outbox's pace: it gives way to the pipeline, and records results several to a commit.

Tickets first: the outbox starts no delivery while the pipeline has spool rows waiting. It
resumes as soon as the worker's backlog is gone (the worker wakes it), and a row due for
longer than outbox.worker.MAX_HOLD goes out anyway, so a lasting backlog never starves mail.

Results of deliveries that end together share one commit; a delivered row waiting for its
result to be written is never delivered again, and stopping writes what is waiting.
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
from ticketgate.outbox import worker as outbox_worker
from ticketgate.outbox.worker import MAX_HOLD, OutboxWorker
from ticketgate.store import Store, Transaction


class Recording:
    """A transport that records what it was given."""

    name = "test"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def deliver(self, mail_from: str, rcpt_to: str, raw: bytes, *, again: bool = True) -> str:
        self.sent.append(rcpt_to)
        return "ok"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _queue_one(store: Store, now: float, *rcpts: str) -> None:
    def job(tx: Transaction) -> None:
        ticket = tx.create_ticket(queue="helpdesk", subject="x", requester="kim@example.org",
                                  now=now)
        for n, rcpt in enumerate(rcpts or ("kim@example.org",)):
            tx.queue_mail(ticket_id=ticket, kind="acknowledgement", message_id=f"m{n}@x",
                          rcpt_to=rcpt, raw=b"Subject: x\r\n\r\nx\r\n", now=now)

    store.writer.call(job)


def _reads(worker: OutboxWorker) -> list[tuple[float, list[int]]]:
    """Record each read of due rows: (cutoff, ids found)."""
    seen: list[tuple[float, list[int]]] = []
    read = worker._due

    def recorded(cutoff: float, *args: Any) -> Any:
        due, next_at = read(cutoff, *args)
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


# -- recording results ---------------------------------------------------------------------


class Gated(Recording):
    """Deliveries to `slow` wait for `release`; `together` holds the first n until all came."""

    def __init__(self, slow: str = "", together: int = 0) -> None:
        super().__init__()
        self.slow, self.release = slow, threading.Event()
        self.barrier = threading.Barrier(together) if together else None

    def deliver(self, mail_from: str, rcpt_to: str, raw: bytes, *, again: bool = True) -> str:
        if self.barrier is not None:
            self.barrier.wait(10)
        if rcpt_to == self.slow:
            self.release.wait(10)
        return super().deliver(mail_from, rcpt_to, raw)


def _states(store: Store) -> dict[str, str]:
    return dict(store.view.conn.execute("SELECT rcpt_to, state FROM outbox").fetchall())


def _serve(tmp_path: Path, transport: Recording, scenario: Any, *rcpts: str) -> Store:
    settings = load_settings(write_site(tmp_path))
    assert settings.delivery.concurrency >= 4
    store = Store(settings.database).open()
    worker = OutboxWorker(store, settings, transport=transport, poll=0.05)
    _queue_one(store, time.time(), *rcpts)
    try:
        asyncio.run(scenario(worker, store))
        return store
    finally:
        store.close()


FOUR = ("a@example.org", "b@example.org", "c@example.org", "d@example.org")


def test_results_of_deliveries_ending_together_share_one_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_worker, "RECORD_LINGER", 30.0)  # only the last end writes
    transport = Gated(together=4)
    found: dict[str, Any] = {}

    async def scenario(worker: OutboxWorker, store: Store) -> None:
        commits = store.writer.commits
        await worker.start()
        await _until(lambda: set(_states(store).values()) == {"sent"})
        found["commits"] = store.writer.commits - commits
        await worker.stop()

    _serve(tmp_path, transport, scenario, *FOUR)
    assert sorted(transport.sent) == list(FOUR)
    assert found["commits"] == 1


def test_a_delivered_row_waiting_for_its_record_is_not_delivered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_worker, "RECORD_LINGER", 30.0)
    transport = Gated(slow="b@example.org")

    async def scenario(worker: OutboxWorker, store: Store) -> None:
        await worker.start()
        await _until(lambda: transport.sent == ["a@example.org"])
        for _ in range(10):  # reads come and go; a is still `pending` in the store
            worker.wake()
            await asyncio.sleep(0.05)
        assert _states(store) == {"a@example.org": "pending", "b@example.org": "pending"}
        transport.release.set()
        await _until(lambda: set(_states(store).values()) == {"sent"})
        await worker.stop()

    _serve(tmp_path, transport, scenario, "a@example.org", "b@example.org")
    assert sorted(transport.sent) == ["a@example.org", "b@example.org"]


def _refusing(
    monkeypatch: pytest.MonkeyPatch, times: int, retry_first: float = 0.05
) -> dict[str, int]:
    """Make the store refuse the first `times` recordings of results; the outbox tries again
    after `retry_first` seconds, doubling."""
    monkeypatch.setattr(outbox_worker, "RECORD_RETRY_FIRST", retry_first)
    left = {"times": times, "refused": 0}
    real = outbox_worker.record

    def record(*args: Any, **kwargs: Any) -> str:
        if left["times"]:
            left["times"] -= 1
            left["refused"] += 1
            raise sqlite3.OperationalError("database or disk is full")
        return real(*args, **kwargs)

    monkeypatch.setattr(outbox_worker, "record", record)
    return left


def test_results_the_store_refuses_are_kept_and_written_later_without_sending_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusing = _refusing(monkeypatch, times=3)
    transport = Recording()

    async def scenario(worker: OutboxWorker, store: Store) -> None:
        await worker.start()
        await _until(lambda: refusing["refused"] >= 1)
        for _ in range(5):  # reads come and go meanwhile; the rows are still `pending`
            worker.wake()
            await asyncio.sleep(0.01)
        await _until(lambda: set(_states(store).values()) == {"sent"})
        await worker.stop()

    _serve(tmp_path, transport, scenario, *FOUR)
    assert refusing["refused"] == 3
    assert sorted(transport.sent) == sorted(FOUR)  # each mail handed over once


def test_no_delivery_starts_while_results_cannot_be_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusing = _refusing(monkeypatch, times=1, retry_first=0.3)
    settings = load_settings(write_site(tmp_path))
    store = Store(settings.database).open()
    transport = Recording()
    worker = OutboxWorker(store, settings, transport=transport, poll=0.05)
    _queue_one(store, time.time(), "a@example.org")
    found: dict[str, Any] = {}

    async def scenario() -> None:
        await worker.start()
        await _until(lambda: refusing["refused"] == 1)

        def another(tx: Transaction) -> None:
            tx.queue_mail(ticket_id=1, kind="notification", message_id="b@x",
                          rcpt_to="b@example.org", raw=b"Subject: b\r\n\r\nb\r\n",
                          now=time.time())

        store.writer.call(another)
        worker.wake()
        await asyncio.sleep(0.15)  # within the retry's wait: b is due, and waits
        found["during"] = list(transport.sent)
        await _until(lambda: set(_states(store).values()) == {"sent"})
        await worker.stop()

    try:
        asyncio.run(scenario())
    finally:
        store.close()
    assert found["during"] == ["a@example.org"]
    assert transport.sent == ["a@example.org", "b@example.org"]


def test_stopping_with_a_store_that_refuses_ends_and_leaves_the_rows_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusing = _refusing(monkeypatch, times=1_000_000)
    transport = Recording()
    found: dict[str, Any] = {}

    async def scenario(worker: OutboxWorker, store: Store) -> None:
        await worker.start()
        await _until(lambda: refusing["refused"] >= 1)
        started = time.monotonic()
        await worker.stop(grace=5)
        found["stop_s"] = time.monotonic() - started
        refused = refusing["refused"]
        await asyncio.sleep(0.3)  # no timer left behind keeps trying
        found["refused_after_stop"] = refusing["refused"] - refused
        found["states"] = _states(store)

    _serve(tmp_path, transport, scenario, "a@example.org")
    assert found["stop_s"] < 5  # a few quick tries, not the whole grace
    assert found["refused_after_stop"] == 0
    assert found["states"] == {"a@example.org": "pending"}  # delivered again at the next start
    assert transport.sent == ["a@example.org"]


def test_stopping_writes_the_results_still_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_worker, "RECORD_LINGER", 30.0)
    transport = Gated(slow="b@example.org")
    found: dict[str, Any] = {}

    async def scenario(worker: OutboxWorker, store: Store) -> None:
        await worker.start()
        await _until(lambda: transport.sent == ["a@example.org"])
        stopping = asyncio.create_task(worker.stop(grace=10))
        await asyncio.sleep(0.1)
        transport.release.set()
        await stopping
        found["states"] = _states(store)

    _serve(tmp_path, transport, scenario, "a@example.org", "b@example.org")
    assert found["states"] == {"a@example.org": "sent", "b@example.org": "sent"}
    assert sorted(transport.sent) == ["a@example.org", "b@example.org"]


# -- Maildir durability: one directory fsync per recorded group ----------------------------


class Settling:
    """A Maildir transport that logs its steps, and whose first `settle` can fail."""

    name = "maildir"

    def __init__(self, box: Path, fail_first: bool = False) -> None:
        from ticketgate.outbox.transport import MaildirTransport

        self.maildir = MaildirTransport(box)
        self.steps: list[str] = []
        self.fail_first = fail_first
        self.sent: list[str] = []

    def deliver(self, mail_from: str, rcpt_to: str, raw: bytes, *, again: bool = True) -> str:
        self.steps.append("deliver")
        self.sent.append(rcpt_to)
        return self.maildir.deliver(mail_from, rcpt_to, raw)

    def settle(self) -> None:
        self.steps.append("settle")
        if self.fail_first:
            self.fail_first = False
            raise OSError("disk went away")
        self.maildir.settle()


def test_deliveries_are_recorded_sent_only_after_their_maildir_is_settled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_worker, "RECORD_LINGER", 30.0)  # the four share one record
    transport = Settling(tmp_path / "box", fail_first=True)
    found: dict[str, Any] = {}

    async def scenario(worker: OutboxWorker, store: Store) -> None:
        await worker.start()
        await _until(lambda: transport.steps.count("settle") >= 1)
        await _until(lambda: set(_states(store).values()) == {"sent"})
        found["states_after"] = _states(store)
        await worker.stop()

    gated = Gated(together=4)  # the four deliveries end together
    original = transport.deliver

    def deliver(mail_from: str, rcpt_to: str, raw: bytes, *, again: bool = True) -> str:
        assert gated.barrier is not None
        gated.barrier.wait(10)
        return original(mail_from, rcpt_to, raw)

    transport.deliver = deliver  # type: ignore[method-assign]
    _serve(tmp_path, transport, scenario, *FOUR)  # type: ignore[arg-type]
    # The first settle failed: nothing was recorded, and the same results were recorded after
    # a settle that worked, without delivering anything again; one file each.
    first_settle = transport.steps.index("settle")
    assert transport.steps[:first_settle] == ["deliver"] * 4
    assert transport.steps.count("settle") >= 2
    assert sorted(transport.sent) == sorted(FOUR)
    assert len(list((tmp_path / "box" / "new").iterdir())) == 4


def test_a_group_of_maildir_deliveries_costs_one_directory_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ticketgate.outbox import transport as transport_module

    synced: list[Path] = []
    real = transport_module._fsync_dir
    monkeypatch.setattr(transport_module, "_fsync_dir", lambda p: (synced.append(p), real(p)))
    box = transport_module.MaildirTransport(tmp_path / "box")
    for n in range(5):
        box.deliver("", f"u{n}@example.org", b"Subject: x\r\n\r\nx\r\n")
    assert synced == []  # not yet durable by name: the outbox records none of them yet
    box.settle()
    box.settle()  # nothing new since: no second fsync
    assert synced == [tmp_path / "box" / "new"]
    transport_module.settle(Recording())  # a transport without settle: nothing to do
