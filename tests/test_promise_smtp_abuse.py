"""Promise: not an open relay, and hostile SMTP clients get the right code while the server
stays responsive to everyone else.

Each test speaks raw SMTP on a socket (smtplib would correct what these clients do wrong)
to a daemon with small limits: 3 recipients, 4 connections, a 1.5 s timeout. After every
abuse a well-behaved client still gets its mail accepted at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Running, make_mail, write_site
from promise_helpers import CRLF, Wire, deliver, stuffed, wait_until
from ticketgate.config import load_settings
from ticketgate.smtp import LINE_LIMIT

TIMEOUT = 1.5
JUNK = 20  # connections.junk_commands, the default
LIMITS = f"max_recipients: 3\nmax_connections: 4\ntimeout: {TIMEOUT}\n"


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Running]:
    running = Running(load_settings(write_site(tmp_path, LIMITS)))
    yield running
    running.stop()


def spool(gate: Running) -> list[tuple[str, bytes]]:
    return gate.store.view.conn.execute("SELECT rcpt_to, raw FROM spool ORDER BY id").fetchall()


def still_serving(gate: Running) -> None:
    """A well-behaved client is greeted and its mail accepted at once (within 2 s)."""
    started = time.monotonic()
    reply = deliver(gate.port(), make_mail("Skrivaren i rum 2110 matar fel"))
    assert reply.code == 250, reply.line
    assert time.monotonic() - started < 2.0


# -- relay attempts ------------------------------------------------------------------------

REFUSED = [
    "victim@elsewhere.invalid",
    "helpdesk@elsewhere.invalid",  # our local part, someone else's domain
    "helpdesk@example.org.elsewhere.invalid",
    "@relay.invalid:victim@elsewhere.invalid",  # source route to a stranger
    "@example.org:victim@elsewhere.invalid",  # source route through our own domain
    "victim%elsewhere.invalid@example.org",  # the % hack
    "helpdesk%elsewhere.invalid@example.org",
    '"victim@elsewhere.invalid"@example.org',  # quoted local part hiding an address
    '"helpdesk@example.org"@elsewhere.invalid',
    "elsewhere.invalid!victim@example.org",  # bang path
    "victim@elsewhere.invalid@example.org",
    "helpdesk@example.org@elsewhere.invalid",
    "nobody@example.org",  # our domain, not a function address
    "postmaster@example.org",
    "helpdesk@[127.0.0.1]",
    "helpdesk",
    "helpdesk@example.org.",
    "\u00e5sa@example.org",
]


@pytest.mark.parametrize("address", REFUSED)
def test_relay_attempts_are_refused(gate: Running, address: str) -> None:
    with Wire(gate.port()) as wire:
        assert wire.cmd(b"MAIL FROM:<kim@example.org>").code == 250
        reply = wire.cmd(b"RCPT TO:<" + address.encode() + b">")
        assert reply.code in (550, 553), reply.line  # 553: malformed, refused before policy
        assert reply.text[:5] in (b"5.1.1", b"5.1.3"), reply.line
        assert wire.cmd(b"DATA").code == 503  # nothing was accepted: no transaction
    assert spool(gate) == []
    still_serving(gate)


def test_a_source_route_to_a_function_address_is_ours_and_the_route_is_dropped(
    gate: Running,
) -> None:
    # RFC 5321 C: a server ignores the route; the mail is for us, nothing is relayed.
    reply = deliver(gate.port(), make_mail(), rcpt=("@relay.invalid:helpdesk@example.org",))
    assert reply.code == 250, reply.line
    assert [r for r, _ in spool(gate)] == ['["helpdesk@example.org"]']


# -- overlong commands and lines -------------------------------------------------------------


@pytest.mark.parametrize("length", [600, 2000, 1 << 20])
def test_overlong_commands_get_500_and_the_session_goes_on(gate: Running, length: int) -> None:
    with Wire(gate.port()) as wire:
        reply = wire.cmd(b"MAIL FROM:<" + b"a" * length + b"@example.org>")
        assert reply.code == 500, reply.line
        assert wire.cmd(b"NOOP").code == 250
        assert wire.transaction(make_mail()).code == 250
    still_serving(gate)


def test_a_data_line_over_the_line_limit_gets_500_and_nothing_is_stored(gate: Running) -> None:
    long_line = make_mail("Lång rad").replace(b"Hej,", b"Hej," + b"x" * LINE_LIMIT)
    with Wire(gate.port()) as wire:
        reply = wire.transaction(long_line)
        assert (reply.code, reply.text[:5]) == (500, b"5.5.2"), reply.line
        assert wire.transaction(make_mail()).code == 250  # the same session carries on
    assert len(spool(gate)) == 1
    still_serving(gate)


# -- too many recipients ---------------------------------------------------------------------


def test_recipients_past_the_limit_get_452_and_the_rest_are_delivered(gate: Running) -> None:
    rcpts = ["helpdesk@example.org", "support@example.org", "sot@example.org",
             "lukortet@example.org", "sot-helpdesk@example.org"]
    with Wire(gate.port()) as wire:
        assert wire.cmd(b"MAIL FROM:<kim@example.org>").code == 250
        codes = [wire.cmd(b"RCPT TO:<" + r.encode() + b">") for r in rcpts]
        assert [c.code for c in codes] == [250, 250, 250, 452, 452]
        assert codes[3].text.startswith(b"4.5.3")
        assert wire.cmd(b"DATA").code == 354
        wire.send(stuffed(make_mail()))
        assert wire.reply().code == 250
    assert [r for r, _ in spool(gate)] == [
        '["helpdesk@example.org", "support@example.org", "sot@example.org"]']


# -- stalls and connection limits -----------------------------------------------------------


@pytest.mark.parametrize("stall", ["after greeting", "mid command", "mid data"])
def test_a_stalled_client_is_told_421_and_cut_off(gate: Running, stall: str) -> None:
    with Wire(gate.port()) as wire:
        if stall == "mid command":
            wire.send(b"MAIL FROM:<kim@exam")
        elif stall == "mid data":
            assert wire.cmd(b"MAIL FROM:<kim@example.org>").code == 250
            assert wire.cmd(b"RCPT TO:<helpdesk@example.org>").code == 250
            assert wire.cmd(b"DATA").code == 354
            wire.send(make_mail()[:200])
        started = time.monotonic()
        assert wire.closed_by_server(TIMEOUT * 4), "the stalled session was never closed"
        waited = time.monotonic() - started
        assert TIMEOUT * 0.8 <= waited < TIMEOUT * 3, waited
        assert wire._buffer.startswith(b"421 4.4.2"), wire._buffer
    assert spool(gate) == []
    still_serving(gate)


def test_connections_past_the_limit_get_421_and_a_freed_slot_is_reused(gate: Running) -> None:
    held = [Wire(gate.port()) for _ in range(4)]
    try:
        assert all(w.greeting.code == 220 for w in held)
        extra = Wire(gate.port(), ehlo=False)
        assert (extra.greeting.code, extra.greeting.text[:5]) == (421, b"4.7.0")
        assert extra.closed_by_server(2.0)
        # Those let in are served as usual.
        assert held[0].transaction(make_mail("Skärmen flimrar")).code == 250
        held.pop().close()
        wait_until(lambda: gate.daemon.sessions.active < 4, timeout=5, what="a freed slot")
        with Wire(gate.port()) as again:
            assert again.greeting.code == 220
            assert again.transaction(make_mail("Tangentbordet saknar tangent")).code == 250
    finally:
        for w in held:
            w.close()
    wait_until(lambda: gate.daemon.sessions.active == 0, timeout=5, what="all sessions closed")
    still_serving(gate)


def test_stalled_clients_holding_every_slot_are_timed_out_and_the_slots_come_back(
    gate: Running,
) -> None:
    stalled = [Wire(gate.port()) for _ in range(4)]
    assert Wire(gate.port(), ehlo=False).greeting.code == 421
    for w in stalled:
        assert w.closed_by_server(TIMEOUT * 4)
        w.close()
    wait_until(lambda: gate.daemon.sessions.active == 0, timeout=5, what="the slots back")
    still_serving(gate)


# -- SMTP smuggling --------------------------------------------------------------------------

SMUGGLED = (b"MAIL FROM:<mallory@evil.invalid>\r\nRCPT TO:<helpdesk@example.org>\r\nDATA\r\n"
            b"From: mallory@evil.invalid\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n")
# Every way of writing "end of data" that is not CRLF.CRLF (RFC 5321 4.1.1.4, CVE-2023-51766).
FAKE_ENDS = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r", b"\n.\r",
             b"\r\n.\r\r\n", b"\r\n\x00.\r\n"]


def unstuffed(wire: bytes) -> bytes:
    """RFC 5321 4.5.2 on the receiving side: a CRLF-line that starts with a dot loses it."""
    lines = wire.split(CRLF)
    return CRLF.join(line[1:] if line.startswith(b".") and line != b"." else line
                     for line in lines)


@pytest.mark.parametrize("fake_end", FAKE_ENDS, ids=[repr(e)[2:-1] for e in FAKE_ENDS])
@pytest.mark.parametrize("client", ["stuffing", "careless"])
def test_smuggling_around_the_end_of_data_is_one_message(
    gate: Running, fake_end: bytes, client: str
) -> None:
    """Bare CR/LF around a dot never ends DATA: what follows is data of the same message.

    A `stuffing` client dot-stuffs correctly, so its bytes are stored unchanged. A `careless`
    one (the smuggling attacker's own MTA, say) sends them as they are: still one message,
    with at most the stuffing dot of a CRLF-started line removed, as RFC 5321 4.5.2 says.
    """
    first = make_mail("Skrivaren i rum 2110", "Första delen.")
    raw = first + b"trailer" + fake_end + SMUGGLED
    with Wire(gate.port()) as wire:
        assert wire.cmd(b"MAIL FROM:<kim@example.org>").code == 250
        assert wire.cmd(b"RCPT TO:<helpdesk@example.org>").code == 250
        assert wire.cmd(b"DATA").code == 354
        wire.send(stuffed(raw) if client == "stuffing" else raw + b".\r\n")
        reply = wire.reply()
        assert reply.code == 250, reply.line
        # Nothing smuggled was taken as commands: no further reply is waiting.
        assert not wire.closed_by_server(0.3) and wire._buffer == b""
        assert wire.cmd(b"QUIT").code == 221
    stored = spool(gate)
    assert len(stored) == 1
    if client == "stuffing":
        assert stored[0][1] == raw
    else:
        assert stored[0][1] == unstuffed(raw + b".\r\n")[: -len(b".\r\n")]
        assert b"MAIL FROM:<mallory@evil.invalid>" in stored[0][1]
    gate.drain()
    subjects = gate.store.view.conn.execute("SELECT subject FROM tickets").fetchall()
    assert subjects == [("Skrivaren i rum 2110",)]


def test_a_real_end_of_data_then_pipelined_commands_are_two_messages(gate: Running) -> None:
    """The control: CRLF.CRLF does end DATA, so the parser above is not simply blind."""
    with Wire(gate.port()) as wire:
        assert wire.cmd(b"MAIL FROM:<kim@example.org>").code == 250
        assert wire.cmd(b"RCPT TO:<helpdesk@example.org>").code == 250
        assert wire.cmd(b"DATA").code == 354
        wire.send(make_mail("Första") + b".\r\n" + SMUGGLED + b".\r\n")
        assert [wire.reply().code for _ in range(5)] == [250, 250, 250, 354, 250]
    assert len(spool(gate)) == 2


# -- commands out of order --------------------------------------------------------------------

OUT_OF_ORDER = [
    ([b"RCPT TO:<helpdesk@example.org>"], 503),
    ([b"DATA"], 503),
    ([b"MAIL FROM:<kim@example.org>", b"DATA"], 503),
    ([b"MAIL FROM:<kim@example.org>", b"MAIL FROM:<kim@example.org>"], 503),
    ([b"MAIL FROM:<kim@example.org>", b"RCPT TO:<helpdesk@example.org>", b"RSET", b"DATA"], 503),
    ([b"BDAT 100 LAST"], 500),  # CHUNKING is not offered
    ([b"XYZZY"], 500),
    ([b""], 500),
    ([b"MAIL FROM kim@example.org"], 501),
    ([b"STARTTLS"], 454),  # not offered: "TLS not available", try again in the clear
]


@pytest.mark.parametrize(("commands", "code"), OUT_OF_ORDER,
                         ids=[b" / ".join(c).decode() or "empty" for c, _ in OUT_OF_ORDER])
def test_commands_out_of_order_are_refused_and_the_session_recovers(
    gate: Running, commands: list[bytes], code: int
) -> None:
    with Wire(gate.port()) as wire:
        replies = [wire.cmd(c) for c in commands]
        assert replies[-1].code == code, replies[-1].line
        wire.cmd(b"RSET")
        assert wire.transaction(make_mail()).code == 250
    assert len(spool(gate)) == 1


def test_mail_before_ehlo_is_refused(gate: Running) -> None:
    with Wire(gate.port(), ehlo=False) as wire:
        reply = wire.cmd(b"MAIL FROM:<kim@example.org>")
        assert (reply.code, reply.text[:5]) == (503, b"5.5.1"), reply.line
        assert wire.cmd(b"HELO client.test.invalid").code == 250
        assert wire.transaction(make_mail()).code == 250


def test_pipelined_transaction_sent_before_any_reply_is_one_message(gate: Running) -> None:
    """An early talker: everything in one write, DATA's text before the 354."""
    with Wire(gate.port()) as wire:
        wire.send(b"MAIL FROM:<kim@example.org>\r\nRCPT TO:<helpdesk@example.org>\r\nDATA\r\n"
                  + stuffed(make_mail()) + b"QUIT" + CRLF)
        assert [wire.reply().code for _ in range(5)] == [250, 250, 354, 250, 221]
    assert len(spool(gate)) == 1


def test_abuse_from_many_sides_at_once_never_slows_a_good_client(gate: Running) -> None:
    """Three abusers take slots (a stall, a megabyte line, refused relaying); mail still flows."""
    staller = Wire(gate.port())
    flooder = Wire(gate.port())
    relayer = Wire(gate.port())
    try:
        flooder.send(b"NOOP " + b"x" * (4 << 20))  # no line end yet: the server keeps reading
        assert relayer.cmd(b"MAIL FROM:<spam@elsewhere.invalid>").code == 250
        codes = [relayer.cmd(f"RCPT TO:<victim{i}@elsewhere.invalid>".encode()).code
                 for i in range(JUNK)]
        # Refused commands move no mail: past connections.junk_commands the session is closed.
        assert codes == [550] * JUNK
        assert relayer.cmd(b"RCPT TO:<victim@elsewhere.invalid>").code == 421
        assert relayer.closed_by_server(2.0)
        still_serving(gate)
        flooder.send(CRLF)
        assert flooder.reply().code == 500
    finally:
        for w in (staller, flooder, relayer):
            w.close()


# -- LMTP: a refusal after DATA is one reply per recipient ------------------------------------


@pytest.mark.parametrize("fault", ["too big", "line too long"])
def test_lmtp_refuses_after_data_once_per_recipient(tmp_path: Path, fault: str) -> None:
    """RFC 2033 4.2: after the final dot an LMTP client reads one reply for each accepted
    recipient; one reply for two would leave the MTA waiting until its own timeout."""
    from dataclasses import replace

    from ticketgate.config import Listener

    size = 4000 if fault == "too big" else 4 * LINE_LIMIT  # a line over the limit fits
    settings = load_settings(write_site(tmp_path, f"max_message_size: {size}\n"))
    running = Running(replace(settings, lmtp=Listener("127.0.0.1", 0)))
    try:
        raw = make_mail("Stor", ("x" * 70 + "\n") * 80) if fault == "too big" else (
            make_mail("Lång rad").replace(b"Hej,", b"Hej," + b"x" * LINE_LIMIT))
        with Wire(running.port("lmtp"), ehlo=False) as wire:
            assert wire.cmd(b"LHLO client.test.invalid").code == 250
            assert wire.cmd(b"MAIL FROM:<kim@example.org>").code == 250
            for rcpt in (b"helpdesk@example.org", b"sot@example.org"):
                assert wire.cmd(b"RCPT TO:<" + rcpt + b">").code == 250
            assert wire.cmd(b"DATA").code == 354
            wire.send(stuffed(raw))
            codes = [wire.reply().code, wire.reply().code]
            assert codes == ([552, 552] if fault == "too big" else [500, 500])
            assert wire.cmd(b"NOOP").code == 250  # in step: no reply left over
        assert spool(running) == []
    finally:
        running.stop()
