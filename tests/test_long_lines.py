"""Lines longer than RFC 5321's 1,000 octets are taken, up to smtp.LINE_LIMIT; longer ones get
500 5.5.2 and nothing is stored.

Refusing a long line bounces the requester's mail (HTML from some senders has lines of several
KB), so the daemon accepts them and stores them byte for byte; the bound only caps the memory
one line may take.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import Running, make_mail, write_site
from promise_helpers import Wire, received_form, stuffed
from ticketgate.config import Listener, load_settings
from ticketgate.smtp import LINE_LIMIT


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Running]:
    settings = load_settings(write_site(tmp_path))
    running = Running(replace(settings, lmtp=Listener("127.0.0.1", 0)))
    yield running
    running.stop()


def with_line(octets: int) -> bytes:
    """A mail whose longest line on the wire is `octets` long, its CRLF included."""
    raw = make_mail("Lång rad", "Hej,\nLONG\nMvh Kim")
    line = b"x" * (octets - 2)
    raw = raw.replace(b"LONG", line)
    assert max(len(x) + 2 for x in stuffed(raw).split(b"\r\n")) == octets
    return raw


def stored(gate: Running, spool_id: int | None) -> bytes:
    row = gate.store.view.conn.execute("SELECT raw FROM spool WHERE id = ?", (spool_id,))
    return bytes(row.fetchone()[0])


@pytest.mark.parametrize("octets", [1002, 20_000, LINE_LIMIT])
def test_a_line_over_1000_octets_is_accepted_and_stored_byte_identical(
    gate: Running, octets: int,
) -> None:
    raw = with_line(octets)
    with Wire(gate.port()) as wire:
        reply = wire.transaction(raw)
    assert reply.code == 250, reply.line
    assert stored(gate, reply.spool_id()) == received_form(raw)
    gate.drain()
    (text,) = gate.store.view.conn.execute(
        "SELECT text FROM messages WHERE spool_id = ?", (reply.spool_id(),)).fetchone()
    assert "x" * 900 in text  # the long line reached the ticket too


def test_a_long_line_is_accepted_over_lmtp(gate: Running) -> None:
    raw = with_line(5000)
    with Wire(gate.port("lmtp"), ehlo=False) as wire:
        assert wire.cmd(b"LHLO client.test.invalid").code == 250
        reply = wire.transaction(raw)
    assert reply.code == 250, reply.line
    assert stored(gate, reply.spool_id()) == received_form(raw)


def test_a_line_over_the_bound_gets_500_and_the_session_goes_on(gate: Running) -> None:
    with Wire(gate.port()) as wire:
        reply = wire.transaction(with_line(LINE_LIMIT + 1))
        assert (reply.code, reply.text[:5]) == (500, b"5.5.2"), reply.line
        assert wire.transaction(make_mail()).code == 250  # in step: the same session carries on
    count = gate.store.view.conn.execute("SELECT count(*) FROM spool").fetchone()[0]
    assert count == 1
