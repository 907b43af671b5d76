"""The outbox: delivery through a fake smarthost and the Maildir, retries, failures, the CLI.

Acknowledgement content (headers, paragraphs, suppression) is in test_acknowledgement.py;
the helpers here are shared with it.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conftest import FakeMTA, Running, make_mail, run_cli, send, smarthost_site, write_site
from ticketgate.config import load_settings
from ticketgate.outbox import render
from ticketgate.outbox.worker import RetryPolicy
from ticketgate.store import OutboxRow, Transaction
from ticketgate.store.outbox import COUNT_SQL, DUE_SQL, NEXT_DUE_SQL
from ticketgate.store.schema import migrate

T = TypeVar("T")
FAST = RetryPolicy(first=0.3, factor=1.0, cap=0.3, jitter=0.0)


# -- helpers shared with test_acknowledgement.py -------------------------------------------


def q(running: Running, sql: str, *args: object) -> list[tuple[Any, ...]]:
    return running.store.view.conn.execute(sql, args).fetchall()


def wait_until(check: Callable[[], T], *, timeout: float = 20.0, what: str = "it") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def events(running: Running, kind: str) -> list[dict[str, Any]]:
    return [json.loads(d) for (d,) in q(running, "SELECT detail FROM events WHERE kind = ?"
                                        " ORDER BY id", kind)]


def outbox(running: Running, kind: str | None = None) -> list[OutboxRow]:
    found = running.store.view.outbox_listing(state=None, limit=1000)
    return sorted((r for r in found if kind is None or r.kind == kind), key=lambda r: r.id)


def to(received: list[tuple[str, list[str], bytes]], rcpt: str) -> list[EmailMessage]:
    """The mails a FakeMTA received for `rcpt`."""
    return [parse(data) for _, rcpts, data in received if rcpt in rcpts]


def maildir(root: Path) -> list[EmailMessage]:
    new = root / "var/maildir/new"
    return [parse(p.read_bytes()) for p in sorted(new.iterdir())] if new.is_dir() else []


@contextmanager
def serving(site: Path, retry: RetryPolicy | None = None) -> Iterator[Running]:
    running = Running(load_settings(site))
    if retry is not None:
        running.daemon.outbox.retry = retry
    try:
        yield running
    finally:
        running.stop()


# -- the Maildir default ---------------------------------------------------------------------


def test_acknowledgement_and_notification_land_in_the_maildir_by_default(
    running: Running, site: Path
) -> None:
    send(running.port(), make_mail("Min dator surrar"))
    mails = wait_until(lambda: len(maildir(site.parent)) >= 2 and maildir(site.parent),
                       what="two mails in the Maildir")
    by_rcpt = {m["Delivered-To"]: m for m in mails}
    ack = by_rcpt["kim@example.org"]
    assert ack["Return-Path"] == "<>"  # the null envelope sender, as an MDA records it
    assert ack["Subject"] == "[DDG #1] Min dator surrar"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert "it-staff@example.org" in by_rcpt
    wait_until(lambda: all(r.state == "sent" for r in outbox(running)), what="rows sent")
    sent = events(running, "acknowledgement_sent")
    assert len(sent) == 1 and sent[0]["to"] == "kim@example.org"
    assert sent[0]["result"].startswith("maildir ")


# -- the smarthost ---------------------------------------------------------------------------


def test_smarthost_down_then_up_delivers_once_with_the_same_message_id(
    tmp_path: Path, fake_mta: FakeMTA
) -> None:
    site = smarthost_site(tmp_path, fake_mta)  # the MTA is not started: connection refused
    with serving(site, retry=FAST) as running:
        send(running.port(), make_mail("Min dator surrar"))
        wait_until(lambda: [r for r in outbox(running, "acknowledgement") if r.attempts >= 2],
                   what="two failed attempts")
        (row,) = outbox(running, "acknowledgement")
        assert row.state == "pending"
        assert "Connection refused" in (row.last_error or "") or "Errno" in (row.last_error or "")
        deferred = events(running, "acknowledgement_deferred")
        assert deferred and deferred[0]["attempts"] == 1
        fake_mta.start()
        wait_until(lambda: outbox(running, "acknowledgement")[0].state == "sent", what="sent")
        time.sleep(1.0)  # any duplicate delivery would arrive by now
        acks = to(fake_mta.received, "kim@example.org")
        assert len(acks) == 1
        stored = outbox(running, "acknowledgement")[0].message_id
        assert acks[0]["Message-ID"] == f"<{stored}>"
        assert q(running, "SELECT direction FROM messages WHERE message_id = ?", stored) == [
            ("out",)]
        assert outbox(running, "acknowledgement")[0].attempts >= 3


def test_permanent_failure_fails_at_once_and_outbox_retry_sends_it_again(
    tmp_path: Path, fake_mta: FakeMTA
) -> None:
    fake_mta.rcpt_reply = "550 5.1.1 <kim@example.org>: Recipient address rejected"
    fake_mta.start()
    site = smarthost_site(tmp_path, fake_mta)
    with serving(site, retry=FAST) as running:
        send(running.port(), make_mail("Min dator surrar"))
        row = wait_until(lambda: [r for r in outbox(running, "acknowledgement")
                                  if r.state == "failed"], what="a failed row")[0]
        assert row.attempts == 1
        assert "RCPT: 550 5.1.1" in (row.last_error or "")
        failed = events(running, "acknowledgement_failed")
        assert len(failed) == 1 and "550" in failed[0]["error"]
        time.sleep(1.0)  # FAST would have retried three times by now
        assert fake_mta.rcpt_attempts.count("kim@example.org") == 1
        assert outbox(running, "acknowledgement")[0].attempts == 1

        listed = run_cli(site, "outbox", "list", "--state", "failed", "--json")
        assert listed.returncode == 0, listed.stderr
        lines = [json.loads(line) for line in listed.stdout.decode().splitlines()]
        assert {line["id"] for line in lines} >= {row.id}
        assert next(x for x in lines if x["id"] == row.id)["subject"] == \
            "[DDG #1] Min dator surrar"

        fake_mta.rcpt_reply = None
        retried = run_cli(site, "outbox", "retry", str(row.id))
        assert retried.returncode == 0, retried.stderr
        wait_until(lambda: outbox(running, "acknowledgement")[0].state == "sent",
                   what="the retried row sent", timeout=30)
        (ack,) = to(fake_mta.received, "kim@example.org")
        assert ack["Message-ID"] == f"<{row.message_id}>"
        assert events(running, "acknowledgement_retry")[0]["was"] == "failed"
        again = run_cli(site, "outbox", "retry", str(row.id))
        assert again.returncode == 65 and b"already sent" in again.stderr
        assert run_cli(site, "outbox", "retry", "x").returncode == 64


def test_giving_up_after_the_configured_time(tmp_path: Path, fake_mta: FakeMTA) -> None:
    fake_mta.rcpt_reply = "451 4.3.0 try again later"
    fake_mta.start()
    site = smarthost_site(tmp_path, fake_mta, give_up_after=1)
    with serving(site, retry=FAST) as running:
        send(running.port(), make_mail("Min dator surrar"))
        row = wait_until(lambda: [r for r in outbox(running, "acknowledgement")
                                  if r.state == "failed"], what="given up", timeout=10)[0]
        assert row.last_error and row.last_error.startswith("gave up after")
        assert "451 4.3.0" in row.last_error
        assert 2 <= row.attempts <= 6


def test_deliveries_run_concurrently_up_to_the_bound(tmp_path: Path, fake_mta: FakeMTA) -> None:
    fake_mta.data_delay = 0.5
    fake_mta.start()
    site = smarthost_site(tmp_path, fake_mta, concurrency=2)
    with serving(site) as running:
        for i, who in enumerate(("kim", "ola", "lisa", "per")):
            send(running.port(), make_mail(f"Skrivare {i} i rum 21{i}0 fungerar inte",
                                           sender=f"{who}@example.org"),
                 mail_from=f"{who}@example.org")
        running.drain()
        total = len(outbox(running))
        assert total >= 8  # four acknowledgements, four notifications
        fake_mta.wait_for(total, timeout=30)
    assert fake_mta.max_active == 2


class Tarpit:
    """A smarthost that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_a_dead_smarthost_never_slows_ingest(tmp_path: Path) -> None:
    tarpit = Tarpit()
    site = write_site(tmp_path)
    site.write_text(site.read_text().replace(
        "delivery: {transport: maildir, maildir: var/maildir}",
        f"delivery: {{transport: smtp, host: 127.0.0.1, port: {tarpit.port}, timeout: 20,"
        " concurrency: 2}"))
    try:
        with serving(site) as running:
            slowest = 0.0
            for i in range(12):
                started = time.monotonic()
                send(running.port(), make_mail(f"Dator {i} i rum 31{i:02d} startar inte",
                                               sender=f"user{i}@example.org"),
                     mail_from=f"user{i}@example.org")
                slowest = max(slowest, time.monotonic() - started)
            running.drain()
            assert q(running, "SELECT count(*) FROM tickets") == [(12,)]
            assert slowest < 2.0, f"a send took {slowest:.1f}s"
            wait_until(lambda: len(tarpit.conns) >= 2, what="deliveries stuck in the tarpit")
            time.sleep(0.3)
            assert len(tarpit.conns) == 2  # the bound holds while both hang
            assert running.daemon.outbox.stats()["in_flight"] == 2
            assert all(r.state == "pending" for r in outbox(running))
    finally:
        tarpit.close()


def test_rows_left_pending_are_delivered_at_start(tmp_path: Path, fake_mta: FakeMTA) -> None:
    site = smarthost_site(tmp_path, fake_mta)
    with serving(site) as running:  # the smarthost is down: everything stays pending
        send(running.port(), make_mail("Min dator surrar"))
        wait_until(lambda: [r for r in outbox(running) if r.attempts >= 1], what="an attempt")
        pending = [r.message_id for r in outbox(running)]
    db = sqlite3.connect(tmp_path / "var/ticketgate.db")
    with db:
        db.execute("UPDATE outbox SET next_attempt_at = 0")  # as if the retry time had come
    db.close()
    fake_mta.start()
    with serving(site) as running:
        wait_until(lambda: all(r.state == "sent" for r in outbox(running)), what="all sent")
        got = sorted(parse(data)["Message-ID"] for _, _, data in fake_mta.received)
        assert got == sorted(f"<{m}>" for m in pending)


def test_spool_retry_acknowledges_and_the_daemon_delivers_later(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    injected = run_cli(site, "inject", "--rcpt", "helpdesk@example.org", "--from",
                       "kim@example.org", stdin=make_mail("Min dator surrar"))
    assert injected.returncode == 0, injected.stderr
    db = sqlite3.connect(tmp_path / "var/ticketgate.db")
    with db:
        db.execute("UPDATE spool SET state = 'held', error = 'a bug, since fixed'")
    retried = run_cli(site, "spool", "retry", "S1")
    assert retried.returncode == 0, retried.stderr
    kinds = db.execute("SELECT kind, state FROM outbox ORDER BY id").fetchall()
    db.close()
    assert kinds == [("acknowledgement", "pending"), ("notification", "pending")]
    with serving(site) as running:
        wait_until(lambda: all(r.state == "sent" for r in outbox(running)), what="delivered")
    assert sorted(m["Delivered-To"] for m in maildir(tmp_path)) == [
        "it-staff@example.org", "kim@example.org"]


def test_outbox_list_shows_rows_as_text(running: Running, site: Path) -> None:
    send(running.port(), make_mail("Min dator surrar"))
    wait_until(lambda: [r for r in outbox(running) if r.state == "sent"], what="a sent row")
    listed = run_cli(site, "outbox", "list")
    assert listed.returncode == 0, listed.stderr
    text = listed.stdout.decode()
    assert "acknowledgement" in text and "[DDG #1]" in text and "kim@example.org" in text


# -- the queries -----------------------------------------------------------------------------


def test_outbox_queries_use_their_indexes() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn)

    def plan(sql: str, args: tuple[object, ...]) -> str:
        return " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))

    assert "USING COVERING INDEX outbox_rcpt (rcpt_to=? AND created_at>?)" in plan(
        COUNT_SQL, (0.0, "kim@example.org", 0.0))
    due = plan(DUE_SQL, (0.0, "[1, 2]", 4))
    assert "USING INDEX outbox_due" in due and "TEMP B-TREE" not in due
    assert "USING INDEX outbox_due" in plan(NEXT_DUE_SQL, (0.0,))


@pytest.mark.parametrize("attempts", [1, 2, 5, 12])
def test_backoff_is_exponential_and_starts_within_a_minute(attempts: int) -> None:
    policy = RetryPolicy()
    delay = policy.delay(attempts)
    base = min(30.0 * 2 ** (attempts - 1), 7200.0)
    assert base <= delay <= base * 1.1
    assert policy.delay(1) < 60.0


def test_maildir_delivery_repeated_after_a_crash_adds_no_second_copy(tmp_path: Path) -> None:
    from ticketgate.outbox.transport import MaildirTransport

    box = tmp_path / "maildir"
    transport = MaildirTransport(box)
    raw = b"Message-ID: <tg.1.ack.00@gate.invalid>\r\nSubject: x\r\n\r\nhej\r\n"
    first = transport.deliver("", "kim@example.org", raw)
    # The crash fell between the file and the outbox's commit: the same row is tried again.
    again = transport.deliver("", "kim@example.org", raw)
    assert "delivered before" in again and "delivered before" not in first
    files = list((box / "new").iterdir())
    assert len(files) == 1 and not list((box / "tmp").iterdir())
    assert files[0].read_bytes() == (
        b"Return-Path: <>\nDelivered-To: kim@example.org\n" + raw.replace(b"\r\n", b"\n"))
    # Read by a mail client: moved to cur/ with flags; still found, still one copy.
    files[0].rename(box / "cur" / f"{files[0].name}:2,S")
    assert "delivered before" in transport.deliver("", "kim@example.org", raw)
    assert not list((box / "new").iterdir())
    # Another recipient of the same bytes is another delivery.
    transport.deliver("", "sam@example.org", raw)
    assert len(list((box / "new").iterdir())) == 1


def test_a_maildir_removed_between_deliveries_is_made_again_at_once(tmp_path: Path) -> None:
    import shutil

    from ticketgate.outbox.transport import MaildirTransport

    box = tmp_path / "maildir"
    transport = MaildirTransport(box)
    transport.deliver("", "kim@example.org", b"Subject: one\r\n\r\n1\r\n")
    shutil.rmtree(box)  # e.g. an admin emptied it: the transport still thinks it is there
    assert transport.deliver("", "kim@example.org", b"Subject: two\r\n\r\n2\r\n").startswith(
        "maildir tg")
    assert len(list((box / "new").iterdir())) == 1


def test_a_read_begun_before_a_delivery_ended_does_not_send_it_twice(tmp_path: Path) -> None:
    import asyncio

    from ticketgate.outbox.worker import OutboxWorker
    from ticketgate.store import Store

    settings = load_settings(write_site(tmp_path))
    store = Store(settings.database).open()
    sent: list[str] = []

    class Slowish:
        name = "test"

        def deliver(self, mail_from: str, rcpt_to: str, raw: bytes, *, again: bool = True) -> str:
            if rcpt_to == "staff@example.org":
                time.sleep(0.1)  # still in flight when the first one's end wakes the loop
            sent.append(rcpt_to)
            return "ok"

    worker = OutboxWorker(store, settings, transport=Slowish(), poll=0.05)
    read = worker._due

    def stale_read(*args):  # type: ignore[no-untyped-def]
        found = read(*args)  # the snapshot: both rows pending
        time.sleep(0.3)  # returned after the slow delivery has ended and been recorded
        return found

    worker._due = stale_read  # type: ignore[method-assign]

    def queue_two(tx: Transaction) -> None:
        ticket = tx.create_ticket(queue="helpdesk", subject="x", requester="kim@example.org",
                                  now=time.time())
        for n, rcpt in enumerate(("kim@example.org", "staff@example.org")):
            tx.queue_mail(ticket_id=ticket, kind="acknowledgement", message_id=f"m{n}@x",
                          rcpt_to=rcpt, raw=b"Subject: x\r\n\r\nx\r\n", now=time.time())

    store.writer.call(queue_two)

    async def run() -> None:
        await worker.start()
        worker.wake()
        await asyncio.sleep(1.5)
        await worker.stop()

    try:
        asyncio.run(run())
    finally:
        store.close()
    assert sorted(sent) == ["kim@example.org", "staff@example.org"]


# -- composition shortcuts: the same output as the plain calls they replace -----------------


@pytest.mark.parametrize("when", [0.0, 1.9999994, 1.9999995, 1.9999996, 2.0000004,
                                  1_764_441_000.4999995, 1_764_441_000.9999995,
                                  1_764_441_000.9999994, 1_764_441_001.0])
def test_the_date_of_a_second_is_formatdates(when: float) -> None:
    from email.utils import formatdate

    from ticketgate.outbox.render import _date

    assert _date(when) == formatdate(when, localtime=True)
    assert _date(when + 0.25) == formatdate(when + 0.25, localtime=True)  # a cached second


def test_template_languages_follow_files_added_and_removed(tmp_path: Path) -> None:
    import os

    from ticketgate.outbox.render import Templates

    (tmp_path / "ack.sv.txt.j2").write_text("Hej\n")
    old = time.time() - 60
    os.utime(tmp_path, (old, old))  # an old directory: its listing is reused
    templates = Templates(tmp_path)
    assert templates.languages("ack", ["en", "sv"]) == ["sv"]
    assert templates.languages("ack", ["en", "sv"]) == ["sv"]  # from the listing
    (tmp_path / "ack.en.txt.j2").write_text("Hello\n")
    assert templates.languages("ack", ["en", "sv"]) == ["en", "sv"]
    assert templates.render("ack", ["en", "sv"], {}) == "Hello" + render.LANGUAGE_RULE + "Hej\n"
    (tmp_path / "ack.sv.txt.j2").unlink()
    assert templates.languages("ack", ["en", "sv"]) == ["en"]
    # A symlink is looked at each time: its target can go without the directory changing.
    (tmp_path / "real").mkdir()
    (tmp_path / "real/ack.de").write_text("Hallo\n")
    (tmp_path / "ack.de.txt.j2").symlink_to(tmp_path / "real/ack.de")
    (tmp_path / "notes.sv.txt.j2").mkdir()  # a directory is no template
    os.utime(tmp_path, (old, old))
    assert templates.languages("ack", ["de", "en"]) == ["de", "en"]
    assert templates.languages("notes", ["sv"]) == []
    (tmp_path / "real/ack.de").unlink()
    assert templates.languages("ack", ["de", "en"]) == ["en"]


def test_message_ids_are_unique_and_a_forked_child_draws_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from ticketgate.identity import message_ids as ids

    made = [ids.new_message_id(7, "acknowledgement", "gate.test.invalid") for _ in range(2000)]
    assert len(set(made)) == len(made)
    assert all(ids.is_our_message_id(m, "gate.test.invalid") for m in made)
    assert all(ids.ticket_of_reference(m, "gate.test.invalid") == 7 for m in made)
    pool = ids._random_hex
    before = (pool._pool, pool._at)
    monkeypatch.setattr(os, "getpid", lambda: -12345)  # as in a child after fork()
    ids.new_message_id(7, "notification", "gate.test.invalid")
    assert pool._pid == -12345 and pool._pool != before[0] and pool._at == 8


def _tidy_oracle(text: str) -> str:
    """render._tidy as it was written first: a loop over the lines."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out)


def test_tidy_keeps_one_blank_line_of_each_run_as_the_loop_did() -> None:
    import random

    pieces = ["Hej", "du", " ", "\t", "\n", "\r\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "ö",
              "  \n", "\n\n\n"]
    rng = random.Random(5)
    texts = ["", "\n\n", "a\n\n\n\nb", " a \n \n\t\n b \n", *(
        "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(20_000))]
    for text in texts:
        assert render._tidy(text) == _tidy_oracle(text), repr(text)


def test_never_to_names_the_first_matching_glob_as_fnmatch_does() -> None:
    from fnmatch import fnmatchcase

    from ticketgate.config import DEFAULT_NEVER_TO
    from ticketgate.recipients import never_to

    def oracle(address: str, patterns: tuple[str, ...]) -> str | None:
        return next((p for p in patterns if fnmatchcase(address.lower(), p.lower())), None)

    patterns = (*DEFAULT_NEVER_TO, "*@Example.ORG", "k?m@*", "[!a]*@x", "a[b-d]*")
    for address in ("kim@example.org", "KIM@x", "noreply@x.org", "Mailer-Daemon@gate",
                    "list-bounces@lists.x", "bounce@x", "abc", "", "a@x", "owner-request@x"):
        for chosen in (patterns, patterns[::-1], patterns[-4:], ()):
            assert never_to(address, chosen) == oracle(address, chosen), (address, chosen)


def test_one_lines_shortcut_rests_on_the_space_being_the_only_printable_white_space() -> None:
    import sys

    from ticketgate.outbox.headers import _SPACES, one_line

    printable_spaces = [c for c in map(chr, range(sys.maxunicode + 1))
                        if c.isprintable() and _SPACES.fullmatch(c)]
    assert printable_spaces == [" "]
    assert one_line(" Min  dator\u00a0surrar ", 200) == "Min dator surrar"
    assert one_line("Min dator surrar", 200) == "Min dator surrar"
    assert one_line("a\u2028b\tc", 200) == "a b c"
