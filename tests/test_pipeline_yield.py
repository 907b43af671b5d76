"""How the pipeline child gives way to the listener: burst detection and bounded transactions."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import make_mail, write_site
from ticketgate.config import load_settings
from ticketgate.daemon import Daemon
from ticketgate.pipelineproc import Arrivals, RulesReader, frame, give_way, rules_frame
from ticketgate.rules import load_rules
from ticketgate.store import StorageError, Store
from ticketgate.store import writer as writer_module
from ticketgate.store.transaction import SqliteTransaction

REPO = Path(__file__).resolve().parents[1]


def test_a_burst_is_more_mails_than_the_threshold_within_the_window() -> None:
    arrivals = Arrivals(window=0.2, threshold=5)
    assert not arrivals.burst()
    arrivals.add(5)
    assert not arrivals.burst()  # at the threshold, not above
    arrivals.add(1)
    assert arrivals.burst()
    time.sleep(0.25)
    assert not arrivals.burst()  # the window has passed


def test_rules_survive_the_pipe_in_pieces() -> None:
    rules = load_rules(REPO / "rules", REPO / "templates")
    frame = rules_frame(rules) + rules_frame(rules)
    reader = RulesReader()
    got = []
    for i in range(0, len(frame), 4093):  # chunks that split the length prefix and the body
        got += reader.feed(frame[i:i + 4093])
    assert got == [rules, rules]
    assert got[0].queues == rules.queues and got[0].is_function_address("helpdesk@example.org")


def test_the_settings_come_first_and_the_rules_after_them_are_left_whole(tmp_path: Path) -> None:
    settings = load_settings(write_site(tmp_path))
    rules = load_rules(REPO / "rules", REPO / "templates")
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, frame(settings))  # small: fits in the pipe's buffer
        writer = threading.Thread(target=os.write, args=(write_end, rules_frame(rules)))
        writer.start()
        reader = RulesReader()
        assert reader.settings(read_end) == settings
        assert reader.first(read_end) == rules  # not swallowed by the settings read
        writer.join()
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_pipe_that_does_not_start_with_settings_is_refused(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, rules_frame(load_rules(REPO / "rules", REPO / "templates"))[:60000])
        with pytest.raises(RuntimeError, match="settings"):
            os.close(write_end)
            RulesReader().settings(read_end)
    finally:
        os.close(read_end)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "t.db").open()
    s.writer.call(lambda tx: tx.conn.execute("CREATE TABLE IF NOT EXISTS probe (n INTEGER)"))
    yield s
    s.close()


def test_while_yielding_a_group_ends_after_max_hold(store: Store) -> None:
    writer = store.writer
    writer.yielding = lambda: True
    writer.max_hold, writer.pause = 0.01, 0.0
    started = threading.Event()
    release = threading.Event()
    # Hold the writer on a first job so the next twenty queue up and form one batch.
    gate = writer.submit(lambda c: (started.set(), release.wait(5)))
    assert started.wait(5)

    def job(tx: SqliteTransaction, n: int) -> int:
        time.sleep(0.004)
        tx.conn.execute("INSERT INTO probe VALUES (?)", (n,))
        return n

    futures = [writer.submit(lambda c, n=n: job(c, n)) for n in range(20)]
    before = writer.commits
    release.set()
    gate.result(5)
    assert [f.result(10) for f in futures] == list(range(20))
    # 20 jobs of 4 ms with a 10 ms budget: at least 6 commits, none holding all of them.
    assert writer.commits - before >= 6
    rows = store.view.conn.execute("SELECT count(*) FROM probe").fetchone()
    assert rows == (20,)


def test_without_yielding_the_same_jobs_share_one_commit(store: Store) -> None:
    writer = store.writer
    started, release = threading.Event(), threading.Event()
    gate = writer.submit(lambda c: (started.set(), release.wait(5)))
    assert started.wait(5)
    futures = [writer.submit(lambda c, n=n: (time.sleep(0.004), n)[1]) for n in range(20)]
    before = writer.commits
    release.set()
    gate.result(5)
    assert [f.result(10) for f in futures] == list(range(20))
    assert writer.commits - before == 2  # the gate's group, then all twenty in one


def test_a_batch_runs_only_when_flushed_and_in_one_commit(store: Store) -> None:
    writer = store.writer
    batch = writer.batch()
    futures = [batch.submit(lambda tx, n=n: tx.conn.execute("INSERT INTO probe VALUES (?)",
                                                            (n,)) and n) for n in range(10)]
    time.sleep(0.1)
    assert len(batch) == 10 and not any(f.done() for f in futures)
    before = writer.commits
    batch.flush()
    assert [f.result(5) for f in futures] == list(range(10))
    assert writer.commits - before == 1
    assert len(batch) == 0
    batch.flush()  # nothing left: a no-op
    assert store.view.conn.execute("SELECT count(*) FROM probe").fetchone() == (10,)


def test_a_batch_flushed_after_close_fails_its_futures(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db").open()
    batch = store.writer.batch()
    future = batch.submit(lambda c: 1)
    store.close()
    batch.flush()
    with pytest.raises(StorageError):
        future.result(1)


def test_the_writer_waits_for_another_process_lock_then_commits(store: Store) -> None:
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    future = store.writer.submit(
        lambda tx: tx.conn.execute("INSERT INTO probe VALUES (1)").rowcount)
    time.sleep(0.3)
    assert not future.done()  # waiting for the lock, not failed
    other.execute("COMMIT")
    assert future.result(5) == 1
    other.close()


def test_the_writer_gives_up_after_lock_wait(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "LOCK_WAIT", 0.3)
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        began = time.monotonic()
        with pytest.raises(StorageError, match="locked"):
            store.writer.call(lambda tx: tx.conn.execute("INSERT INTO probe VALUES (1)"),
                              timeout=10)
        assert 0.25 < time.monotonic() - began < 3
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_at_start_the_newest_rules_win_and_a_partial_frame_waits() -> None:
    import fcntl
    old = load_rules(REPO / "rules", REPO / "templates")
    newer = old.__class__(queues=old.queues, function_addresses=old.function_addresses,
                          routes=old.routes, lexicon=old.lexicon, templates=frozenset({"x"}))
    third = rules_frame(old)
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1 << 20)  # all frames fit: both are waiting
    os.write(write_end, rules_frame(old) + rules_frame(newer) + third[:10])
    reader = RulesReader()
    first = reader.first(read_end)
    assert first.templates == frozenset({"x"})
    assert reader.feed(third[10:]) == [old]
    os.close(read_end)
    os.close(write_end)


def test_the_child_stops_giving_way_once_mail_has_waited_too_long() -> None:
    arrivals = Arrivals(window=10.0, threshold=5)
    lag = [0.0]
    yielding = give_way(arrivals, lambda: lag[0], max_lag=30.0)
    assert not yielding()  # no burst
    arrivals.add(50)
    assert yielding()  # a burst, and the backlog is young
    lag[0] = 31.0
    assert not yielding()  # a flood: processing comes first now


def test_the_worker_knows_how_long_its_current_mail_waited(tmp_path: Path) -> None:
    settings = load_settings(write_site(tmp_path))
    settings = replace(settings, pipeline=replace(settings.pipeline, process="inline"))
    daemon = Daemon(settings)
    daemon.store.open()
    try:
        raw = make_mail("Skrivaren krånglar", "Skrivaren i rum 1 skriver inte.")
        daemon.store.writer.call(lambda tx: tx.spool_delivery(
            raw=raw, mail_from="kim@example.org", rcpt_to=["helpdesk@example.org"],
            peer="127.0.0.1", protocol="SMTP", received_at=time.time() - 100))
        daemon.worker.start()
        assert daemon.worker.wait_idle(30)
        assert 100 <= daemon.worker.lag < 130
    finally:
        daemon.worker.stop()
        daemon.store.close()
