"""Looking for an earlier copy only where one can be: a Maildir's cost stays flat as it fills.

A Maildir delivery that may be a repeat (an earlier process delivered it and died before the
outbox recorded it) looks for the file in new/ and in cur/, where a mail client moves what it
has read, with flags after the name. Reading cur/ costs one directory entry per mail ever read,
so the outbox says (`again`) when a copy can exist at all: for rows that existed before its
first read (a process that died may have delivered them) and rows tried before.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import write_site
from ticketgate.config import load_settings
from ticketgate.outbox import transport as transport_module
from ticketgate.outbox import worker as outbox_worker
from ticketgate.outbox.transport import MaildirTransport
from ticketgate.outbox.worker import OutboxWorker
from ticketgate.store import Store, Transaction

RAW = b"Message-ID: <tg.7.ack.00@gate.invalid>\r\nSubject: x\r\n\r\nhej\r\n"


def _counting_scandir(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    scanned: list[str] = []
    real = os.scandir

    def scandir(path: Any) -> Any:
        scanned.append(str(path))
        return real(path)

    monkeypatch.setattr(transport_module.os, "scandir", scandir)
    return scanned


def test_a_first_maildir_delivery_reads_no_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = tmp_path / "maildir"
    transport = MaildirTransport(box)
    transport.deliver("", "warm@example.org", b"Subject: warm\r\n\r\nx\r\n")
    for n in range(200):  # mail a client has read
        (box / "cur" / f"old{n}.host:2,S").write_bytes(b"x")
    scanned = _counting_scandir(monkeypatch)

    first = transport.deliver("", "kim@example.org", RAW, again=False)

    assert scanned == []
    assert "delivered before" not in first and len(list((box / "new").iterdir())) == 2


def test_a_repeat_still_finds_its_copy_in_new_and_in_cur(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = tmp_path / "maildir"
    transport = MaildirTransport(box)
    transport.deliver("", "kim@example.org", RAW, again=False)
    scanned = _counting_scandir(monkeypatch)
    assert "delivered before" in transport.deliver("", "kim@example.org", RAW, again=True)
    assert scanned == []  # found in new/ without reading cur/
    (only,) = (box / "new").iterdir()
    only.rename(box / "cur" / f"{only.name}:2,RS")
    assert "delivered before" in transport.deliver("", "kim@example.org", RAW, again=True)
    assert scanned == [str(box / "cur")]
    assert not list((box / "new").iterdir())


class Recording:
    """A transport that records each recipient with the `again` it was given."""

    name = "test"

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def deliver(self, mail_from: str, rcpt_to: str, raw: bytes, *, again: bool = True) -> str:
        self.calls.append((rcpt_to, again))
        return "ok"


def _queue(store: Store, rcpt: str) -> None:
    def job(tx: Transaction) -> None:
        ticket = tx.create_ticket(queue="helpdesk", subject="x",
                                  requester="kim@example.org", now=time.time())
        tx.queue_mail(ticket_id=ticket, kind="acknowledgement", message_id=f"{rcpt}.m@x",
                      rcpt_to=rcpt, raw=RAW, now=time.time())

    store.writer.call(job)


async def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _states(store: Store) -> dict[str, str]:
    return dict(store.view.conn.execute("SELECT rcpt_to, state FROM outbox").fetchall())


def test_the_outbox_asks_for_a_copy_only_where_one_can_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(write_site(tmp_path))
    store = Store(settings.database).open()
    transport = Recording()
    worker = OutboxWorker(store, settings, transport=transport, poll=0.05)
    _queue(store, "before@example.org")  # may have gone out from a process that died

    failing = {"left": 1}
    real_record = outbox_worker.record

    def record(*args: Any, **kwargs: Any) -> str:
        row = args[1]
        if row.rcpt_to == "unrecorded@example.org" and failing["left"]:
            failing["left"] -= 1
            raise sqlite3.OperationalError("disk I/O error")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(outbox_worker, "record", record)

    async def scenario() -> None:
        await worker.start()
        await _until(lambda: _states(store).get("before@example.org") == "sent")
        _queue(store, "new@example.org")
        worker.wake()
        await _until(lambda: _states(store).get("new@example.org") == "sent")
        _queue(store, "unrecorded@example.org")
        worker.wake()
        await _until(lambda: _states(store).get("unrecorded@example.org") == "sent")
        await worker.stop()

    try:
        asyncio.run(scenario())
    finally:
        store.close()
    assert transport.calls == [
        ("before@example.org", True),
        ("new@example.org", False),
        # Its first result was refused by the store and written at the next try: the mail
        # was not handed over again (over SMTP that would have sent it twice).
        ("unrecorded@example.org", False),
    ]
    assert failing["left"] == 0
