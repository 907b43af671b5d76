"""Promise: no lock-out. Hostile clients cannot take the listener from the site's own MTA.

`ticketgate serve` runs with the default limits (256 connections, 10 per client, 60 a minute
per client, an eighth kept for the trusted relays, busy at half, 20 commands that move no mail)
and `trusted_relays: [127.0.0.1/32]`, so other loopback addresses are other clients. For
DURATION seconds:

- attacker A keeps 500 idle connections open from 127.0.0.2, opening each again as soon as
  it is refused or closed;
- attacker B sends one NOOP a second from 127.0.0.3, connecting again when cut off;
- a swarm of 30 more addresses (127.0.0.10-39) keeps 10 idle connections each, to fill every
  slot an untrusted client may have and make the listener busy;
- the trusted MTA (127.0.0.1) delivers a mail every half second, each on a new connection.

Every one of the MTA's mails must get its 250 within a second of connecting; A never holds
more than 10 connections and the ones it does hold are closed by the server (the listener
is busy, so an untrusted client may stall for 10 s); B is cut off with 421 4.7.0 after 20
NOOPs. Run with -s for the figures.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import make_mail, write_site
from promise_helpers import Wire, env_float, serve

pytestmark = pytest.mark.slow

DURATION = env_float("LOCKOUT_SECONDS", 25.0)  # longer than 20 NOOPs at one a second
PER_CLIENT = 10  # connections.per_client, the default
BUSY_TIMEOUT = 10.0  # connections.busy_timeout, the default
JUNK = 20  # connections.junk_commands, the default
SWARM = [f"127.0.0.{i}" for i in range(10, 40)]


@dataclass
class Held:
    """What one source address got over the run."""

    attempts: int = 0
    greeted: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # first line of a 421 -> count
    holding: int = 0
    peak: int = 0
    closed_after: list[float] = field(default_factory=list)  # greeting to server's close, s
    open_at_end: int = 0


@dataclass
class Pacer:
    """Attacker B: NOOPs answered per session, and how each session ended."""

    answered: list[int] = field(default_factory=list)
    endings: list[str] = field(default_factory=list)


class Attack:
    """The hostile clients, on an event loop of their own in a thread (of `attack_process`)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.held: dict[str, Held] = {}
        self.holding = 0  # untrusted connections greeted and still open, all sources
        self.peak = 0
        self.pacer = Pacer()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        pacer = asyncio.create_task(self._noops("127.0.0.3"))
        await asyncio.sleep(0.5)  # B is in before the others fill the slots
        await asyncio.gather(pacer, *(self._idle("127.0.0.2") for _ in range(500)),
                             *(self._idle(source) for source in SWARM for _ in range(PER_CLIENT)))

    async def _idle(self, source: str) -> None:
        """Keep one idle connection from `source` open, again and again."""
        held = self.held.setdefault(source, Held())
        while not self.stop.is_set():
            held.attempts += 1
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", self.port, local_addr=(source, 0))
            except OSError:
                await asyncio.sleep(0.5)
                continue
            try:
                greeting = await asyncio.wait_for(reader.readline(), 10)
                if greeting.startswith(b"220"):
                    held.greeted += 1
                    held.holding += 1
                    held.peak = max(held.peak, held.holding)
                    self.holding += 1
                    self.peak = max(self.peak, self.holding)
                    since = time.monotonic()
                    try:
                        while not self.stop.is_set():
                            try:
                                if not await asyncio.wait_for(reader.read(4096), 0.5):
                                    held.closed_after.append(time.monotonic() - since)
                                    break
                            except TimeoutError:
                                continue
                        else:
                            held.open_at_end += 1
                    finally:
                        held.holding -= 1
                        self.holding -= 1
                else:
                    line = greeting.decode(errors="replace").strip()
                    held.refused[line] = held.refused.get(line, 0) + 1
            except (OSError, TimeoutError):
                pass
            finally:
                writer.close()
            await asyncio.sleep(1.0)  # then try again, as a patient attacker would

    async def _noops(self, source: str) -> None:
        """One NOOP a second; a new connection when cut off."""
        while not self.stop.is_set():
            answered, ending = 0, "still open"
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", self.port, local_addr=(source, 0))
            except OSError:
                await asyncio.sleep(1.0)
                continue
            try:
                greeting = await reader.readline()
                ending = greeting.decode(errors="replace").strip() or "closed"
                if greeting.startswith(b"220"):
                    ending = "still open"
                    writer.write(b"EHLO noop.test.invalid\r\n")
                    while (await reader.readline())[3:4] == b"-":
                        pass
                    while not self.stop.is_set():
                        writer.write(b"NOOP\r\n")
                        line = await asyncio.wait_for(reader.readline(), 15)
                        if not line.startswith(b"250"):
                            ending = line.decode(errors="replace").strip() or "closed"
                            break
                        answered += 1
                        await asyncio.sleep(1.0)
            except (OSError, TimeoutError) as exc:
                ending = f"{type(exc).__name__}"
            finally:
                writer.close()
                self.pacer.answered.append(answered)
                self.pacer.endings.append(ending)
            await asyncio.sleep(1.0)


def attack_process(port: int, seconds: float,
                   results: multiprocessing.connection.Connection) -> None:
    """Run the attack for `seconds` and send back what each attacker got. A process of its
    own: sharing the test's GIL would slow the trusted MTA's client, not the daemon."""
    attack = Attack(port)
    attack.thread.start()
    time.sleep(seconds)
    attack.stop.set()
    attack.thread.join(30)
    results.send((attack.held, attack.pacer, attack.peak))
    results.close()


def trusted_delivery(port: int, n: int) -> tuple[int, float]:
    """One mail from the trusted MTA on a new connection: (reply code, seconds from connect)."""
    started = time.monotonic()
    with Wire(port, timeout=10) as wire:
        if wire.greeting.code != 220:  # refused at the door
            return wire.greeting.code, time.monotonic() - started
        reply = wire.transaction(make_mail(f"Skrivaren i rum {2100 + n} matar fel"),
                                 mail_from="mta-relay@example.org")
    return reply.code, time.monotonic() - started


def test_hostile_clients_never_lock_the_trusted_mta_out(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    site.write_text(site.read_text().replace(
        "smtp: {host: 127.0.0.1, port: 0}",
        "smtp: {host: 127.0.0.1, port: 0, trusted_relays: [127.0.0.1/32]}"))
    served = serve(site)
    try:
        port = served.ports("smtp")["smtp"]
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        attacker = context.Process(target=attack_process, args=(port, DURATION + 2.0, send))
        attacker.start()
        time.sleep(2.0)  # the flood is on
        deliveries: list[tuple[float, int, float]] = []  # (at, code, seconds)
        began = time.monotonic()
        while time.monotonic() - began < DURATION:
            at = time.monotonic() - began
            code, seconds = trusted_delivery(port, len(deliveries))
            deliveries.append((at, code, seconds))
            time.sleep(max(0.0, 0.5 - seconds))
        assert receive.poll(60), "the attackers never reported"
        held, pacer, untrusted_peak = receive.recv()
        attacker.join(30)
    finally:
        served.terminate()

    a = held["127.0.0.2"]
    latencies = [s for _, _, s in deliveries]
    figures = {
        "trusted_mails": len(deliveries),
        "trusted_250": sum(code == 250 for _, code, _ in deliveries),
        "trusted_seconds_max": round(max(latencies), 3),
        "trusted_seconds_median": round(statistics.median(latencies), 3),
        "a_attempts": a.attempts, "a_greeted": a.greeted, "a_peak_held": a.peak,
        "a_refused": a.refused,
        "a_closed_by_server_after_s": sorted(round(x, 1) for x in a.closed_after)[:3],
        "untrusted_peak_held": untrusted_peak,
        "swarm_greeted": sum(held[s].greeted for s in SWARM),
        "b_noops_per_session": pacer.answered, "b_endings": pacer.endings[:3],
    }
    print(f"\nlockout: {figures}")
    assert [(at, code) for at, code, _ in deliveries if code != 250] == []
    assert max(latencies) < 1.0, [d for d in deliveries if d[2] >= 1.0]
    assert len(deliveries) >= DURATION  # about two a second: none waited behind the flood
    # A: ten at a time, the rest refused with 421 4.7.0, and the ten cut off (busy listener).
    assert 0 < a.peak <= PER_CLIENT
    assert a.refused and all(line.startswith("421 4.7.0") for line in a.refused)
    assert a.closed_after and max(a.closed_after) < BUSY_TIMEOUT + 3
    assert a.greeted > a.peak  # slots were taken back and given again
    # The swarm filled what untrusted clients may have (256 less the 32 kept for relays).
    assert 128 <= untrusted_peak <= 256 - 32  # busy (at 128), never in the relays' slots
    # B: 20 NOOPs, then 421 4.7.0 and the door closed, session after session.
    sessions = list(zip(pacer.answered, pacer.endings, strict=True))
    cut_off = [(n, end) for n, end in sessions if end.startswith("421 4.7.0 Too many commands")]
    assert cut_off and all(n == JUNK for n, _ in cut_off), sessions
    assert all(end.startswith("421 4.7.0") or end == "still open" for _, end in sessions)
