"""`ticketgate stats`: counts by spool state, queue, status and flag, and the outbox backlog,
as text and JSON, from queries an index serves (the flag count excepted, by design)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from conftest import FakeMTA, Running, db_rows, make_mail, run_cli, send, smarthost_site
from ticketgate import stats
from ticketgate.config import load_settings
from ticketgate.store import Store, StoreView, Transaction
from ticketgate.store.counts import QUERIES


def _wait(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _site_with_history(tmp_path: Path, fake_mta: FakeMTA) -> Path:
    """Two tickets in two queues, one flagged; the smarthost is down, so the outbox waits;
    then one spool row held and one still new."""
    site = smarthost_site(tmp_path, fake_mta)
    running = Running(load_settings(site))
    try:
        port = running.port()
        send(port, make_mail(subject="Hjälp"))  # a vague subject
        send(port, make_mail(subject="Mitt LU-kort fungerar inte i dörren till biblioteket",
                             to="lukortet@example.org",
                             sender="Alex Student <alex@example.org>"),
             rcpt="lukortet@example.org")
        running.drain()
        _wait(lambda: db_rows(site, "SELECT count(*) FROM outbox WHERE attempts > 0")[0][0] > 0)
    finally:
        running.stop()
    with Store(tmp_path / "var/ticketgate.db") as store:
        def add(tx: Transaction) -> int:
            return tx.spool_delivery(raw=make_mail(), mail_from="kim@example.org",
                                     rcpt_to=("helpdesk@example.org",), peer="test",
                                     protocol="inject")
        held = store.writer.call(add)
        store.writer.call(lambda tx: tx.hold_delivery(held, "RuntimeError: for the test"))
        store.writer.call(add)
    return site


def test_stats_json_agrees_with_the_tables(tmp_path: Path, fake_mta: FakeMTA) -> None:
    site = _site_with_history(tmp_path, fake_mta)
    done = run_cli(site, "stats", "--json")
    assert done.returncode == 0, done.stderr.decode()
    got = json.loads(done.stdout)

    spool = dict(db_rows(site, "SELECT state, count(*) FROM spool GROUP BY state"))
    assert {k: got["spool"][k] for k in ("new", "done", "held")} == {
        "new": spool.get("new", 0), "done": spool.get("done", 0), "held": spool.get("held", 0)}
    assert got["spool"]["held"] == 1 and got["spool"]["new"] == 1
    oldest_new = db_rows(site, "SELECT min(id) FROM spool WHERE state = 'new'")[0][0]
    assert got["spool"]["oldest_new"]["id"] == oldest_new
    assert got["spool"]["oldest_new"]["age"] >= 0

    tickets = db_rows(site, "SELECT queue, status, flags FROM tickets")
    assert got["tickets"]["total"] == len(tickets) == 2
    assert got["tickets"]["by_queue"] == dict(Counter(q for q, _, _ in tickets))
    assert set(got["tickets"]["by_queue"]) == {"helpdesk", "lukortet"}
    assert got["tickets"]["by_status"] == dict(Counter(s for _, s, _ in tickets))
    flags = Counter(f for _, _, fl in tickets for f in json.loads(str(fl)))
    assert got["tickets"]["by_flag"] == dict(flags)
    assert "vague_subject" in got["tickets"]["by_flag"]

    outbox = dict(db_rows(site, "SELECT state, count(*) FROM outbox GROUP BY state"))
    assert got["outbox"]["pending"] == outbox["pending"] > 0
    assert got["outbox"]["sent"] == 0 and got["outbox"]["failed"] == 0
    pending = got["outbox"]["oldest_pending"]
    oldest = db_rows(site, "SELECT min(id) FROM outbox WHERE state = 'pending'")[0][0]
    assert pending["id"] == oldest
    assert pending["age"] >= 0 and pending["next_attempt_in"] >= 0
    if pending["attempts"]:
        assert pending["last_error"]


def test_stats_text(tmp_path: Path, fake_mta: FakeMTA) -> None:
    site = _site_with_history(tmp_path, fake_mta)
    done = run_cli(site, "stats")
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode()
    assert "spool:    new 1 (oldest S" in text and "held 1" in text
    assert "by queue:  helpdesk 1, lukortet 1" in text
    assert "vague_subject 1" in text
    assert "outbox:   pending" in text and "(oldest O" in text


def test_stats_on_an_empty_database(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db"):
        pass
    got = stats.collect(StoreView(tmp_path / "t.db"))
    assert got["spool"] == {"new": 0, "done": 0, "held": 0, "oldest_new": None}
    assert got["tickets"] == {"total": 0, "by_queue": {}, "by_status": {}, "by_flag": {}}
    assert got["outbox"]["oldest_pending"] is None


def test_stats_queries_read_indexes(tmp_path: Path) -> None:
    """Cheap on a big database: counts scan a covering index, the oldest rows are a search;
    only the flag count reads the tickets table (flags are a JSON list per ticket)."""
    with Store(tmp_path / "t.db"):
        pass
    conn = StoreView(tmp_path / "t.db").conn
    for name, sql in QUERIES.items():
        plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
        if name == "flags":
            assert "SCAN t" in plan
        elif name.endswith(("oldest_new", "oldest_pending")):
            assert "SEARCH" in plan and "USING INDEX" in plan and "TEMP B-TREE" not in plan, plan
        else:
            assert "USING COVERING INDEX" in plan and "TEMP B-TREE" not in plan, plan
