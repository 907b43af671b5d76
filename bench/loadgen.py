"""An asyncio raw-SMTP load generator (a reusable module and a command).

C connections share one stream of mails; each connection sends K mails (MAIL, RCPT, DATA)
and QUITs, then opens a new session, until N mails are sent or the duration is over.
The latency of a mail is the time from handing the final ".\\r\\n" to the kernel to reading
the reply: exactly what a durable "250 only after commit" adds. Traffic goes to loopback only.

    python bench/loadgen.py --port 2525 --mails 2000 --connections 32 --per-connection 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import resource
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from mails import Mail, MailFactory, parse_mix
from realmix import RealMix, from_mix

LOOPBACK = ("127.0.0.1", "::1", "localhost")
STEP_TIMEOUT = 120.0  # seconds for any one reply; a stuck server fails the run, not hangs it


class Refused(Exception):
    """The server answered a command with something other than 2xx/3xx."""

    def __init__(self, step: str, reply: bytes) -> None:
        super().__init__(f"{step}: {reply.decode(errors='replace').strip()}")
        self.reply = reply


@dataclass
class Result:
    """What one load run saw; latencies in seconds, one per accepted mail."""

    connections: int
    per_connection: int
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    errors: int = 0
    sessions: int = 0
    elapsed: float = 0.0
    client_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    accepted_at: list[float] = field(default_factory=list)  # seconds since the start
    first_errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        """The p-th percentile latency (nearest rank), in seconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
        return ordered[rank]

    def summary(self) -> dict[str, object]:
        data = asdict(self)
        del data["latencies"], data["accepted_at"]
        data.update(
            rate=round(self.rate, 1),
            p50_ms=round(self.percentile(50) * 1000, 2),
            p99_ms=round(self.percentile(99) * 1000, 2),
            max_ms=round(max(self.latencies, default=0.0) * 1000, 2),
            elapsed=round(self.elapsed, 3),
            client_cpu=round(self.client_cpu, 2),
        )
        return data

    def line(self) -> str:
        return (f"{self.accepted}/{self.sent} accepted in {self.elapsed:.2f}s: "
                f"{self.rate:.0f} mails/s, p50 {self.percentile(50) * 1000:.1f} ms, "
                f"p99 {self.percentile(99) * 1000:.1f} ms (C={self.connections}, "
                f"K={self.per_connection}, client CPU {self.client_cpu:.1f}s)")


class _Feed:
    """Hands out mails to the connections, optionally paced to `rate` mails/s overall."""

    def __init__(self, mails: Iterator[Mail], *, limit: int | None, deadline: float | None,
                 rate: float | None, start: float) -> None:
        self._mails = mails
        self._limit = limit
        self._deadline = deadline
        self._rate = rate
        self._start = start
        self.taken = 0

    async def next(self) -> Mail | None:
        if self._limit is not None and self.taken >= self._limit:
            return None
        now = time.perf_counter()
        if self._deadline is not None and now >= self._deadline:
            return None
        if self._rate:
            due = self._start + self.taken / self._rate
            self.taken += 1
            if due > now:
                await asyncio.sleep(due - now)
        else:
            self.taken += 1
        return next(self._mails, None)


async def _reply(reader: asyncio.StreamReader) -> bytes:
    """Read one (possibly multi-line) SMTP reply."""
    lines = []
    while True:
        line = await asyncio.wait_for(reader.readline(), STEP_TIMEOUT)
        if not line:
            raise ConnectionError("connection closed by the server")
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            return b"".join(lines)


async def _command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes,
                   step: str, ok: bytes = b"2") -> bytes:
    writer.write(data)
    reply = await _reply(reader)
    if not reply.startswith(ok):
        raise Refused(step, reply)
    return reply


async def _session(host: str, port: int, feed: _Feed, result: Result, t0: float) -> bool:
    """One SMTP session of up to K mails; False when the feed is exhausted."""
    first = await feed.next()
    if first is None:
        return False
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), STEP_TIMEOUT)
    result.sessions += 1
    mail: Mail | None = first
    try:
        greeting = await _reply(reader)
        if not greeting.startswith(b"220"):
            raise Refused("greeting", greeting)
        await _command(reader, writer, b"EHLO loadgen.bench.invalid\r\n", "EHLO")
        for i in range(result.per_connection):
            if i:
                mail = await feed.next()
            if mail is None:
                break
            result.sent += 1
            try:
                await _command(reader, writer, f"MAIL FROM:<{mail.mail_from}>\r\n".encode(),
                               "MAIL")
                await _command(reader, writer, f"RCPT TO:<{mail.rcpt}>\r\n".encode(), "RCPT")
                await _command(reader, writer, b"DATA\r\n", "DATA", ok=b"354")
                writer.write(mail.wire)
                await writer.drain()
                sent_at = time.perf_counter()
                reply = await _reply(reader)
                if not reply.startswith(b"250"):
                    raise Refused("end of DATA", reply)
                done = time.perf_counter()
                result.accepted += 1
                result.latencies.append(done - sent_at)
                result.accepted_at.append(done - t0)
            except Refused as exc:
                result.refused += 1
                _note(result, str(exc))
                if exc.reply.startswith(b"421"):
                    return True  # the server closes the session; open another
                await _command(reader, writer, b"RSET\r\n", "RSET")
        writer.write(b"QUIT\r\n")
        await _reply(reader)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    return True


def _note(result: Result, text: str) -> None:
    if len(result.first_errors) < 5:
        result.first_errors.append(text)


async def _connection(host: str, port: int, feed: _Feed, result: Result, t0: float) -> None:
    while True:
        try:
            if not await _session(host, port, feed, result, t0):
                return
        except (OSError, ConnectionError, TimeoutError, Refused) as exc:
            result.errors += 1
            _note(result, f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(0.05)


async def run_load(
    *,
    port: int,
    mails: Iterable[Mail],
    connections: int = 32,
    per_connection: int = 10,
    count: int | None = None,
    duration: float | None = None,
    rate: float | None = None,
    host: str = "127.0.0.1",
) -> Result:
    """Send `count` mails (or for `duration` seconds) over `connections` connections."""
    if host not in LOOPBACK:
        raise ValueError("the load generator only talks to loopback")
    if count is None and duration is None:
        raise ValueError("give a count, a duration, or both")
    result = Result(connections=connections, per_connection=per_connection)
    cpu0 = _cpu()
    t0 = time.perf_counter()
    feed = _Feed(iter(mails), limit=count, deadline=t0 + duration if duration else None,
                 rate=rate, start=t0)
    await asyncio.gather(*(_connection(host, port, feed, result, t0)
                           for _ in range(connections)))
    result.elapsed = time.perf_counter() - t0
    result.client_cpu = _cpu() - cpu0
    return result


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by loadgen.py and ingest.py."""
    parser.add_argument("--mails", type=int, default=1000, help="mails per run (default 1000)")
    parser.add_argument("--duration", type=float, default=None,
                        help="send for this many seconds instead of a fixed count")
    parser.add_argument("--rate", type=float, default=None,
                        help="pace the load to this many mails/s overall (default: flat out)")
    parser.add_argument("--mix", default="new=0.6,code=0.3,thread=0.1",
                        help="kinds of mail and their weights: new, code (a reply with the "
                             "ticket code in the subject), thread (a reply by In-Reply-To), "
                             "dup (a redelivery); or `real`: realmix.py's realistic helpdesk "
                             "mail (its own sizes and shares, or real:new=1,code=0.5,...; "
                             "--size is then ignored)")
    parser.add_argument("--size", type=int, default=3000, help="approximate bytes per mail")
    parser.add_argument("--seed", type=int, default=1)


def factory_from(args: argparse.Namespace, known_tickets: int = 0) -> MailFactory | RealMix:
    """The mails `--mix` asks for: `real` is realmix.py's, anything else mails.py's."""
    real = from_mix(args.mix, args.seed, getattr(args, "prelude", 0))
    if real is not None:
        if known_tickets:
            raise ValueError("--mix real answers only its own new requests (no filled database)")
        return real
    return MailFactory(seed=args.seed, size=args.size, mix=parse_mix(args.mix),
                       known_tickets=known_tickets)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", choices=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--per-connection", type=int, default=10,
                        help="mails per SMTP session (1: a new connection for every mail)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_load_arguments(parser)
    args = parser.parse_args()
    factory = factory_from(args)
    # A fixed count is generated up front, so generation does not count against the client.
    mails = factory.take(args.mails) if args.duration is None else factory.stream()
    result = asyncio.run(run_load(
        host=args.host, port=args.port, mails=mails, connections=args.connections,
        per_connection=args.per_connection,
        count=None if args.duration else args.mails, duration=args.duration, rate=args.rate,
    ))
    print(json.dumps(result.summary()) if args.json else result.line())
    return 0 if result.accepted == result.sent and not result.errors else 1


if __name__ == "__main__":
    sys.exit(main())
