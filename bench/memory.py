"""Memory: the daemon's peak RSS with 32 concurrent 10 MB mails, and RSS over a soak.

Big mails are what real helpdesks get (a screenshot, a log, a scanned form): a short text
part and a base64 attachment, each mail distinct. Three phases, each a fresh measurement of
the `ticketgate serve` process (VmHWM from /proc/PID/status is its peak RSS):

  ingest    `serve --spool-only`: 32 mails at once over 32 connections; SMTP and spool only
  pipeline  `serve` on that spool: the pipeline parses and stores the 32 big mails
  both      `serve` on a fresh site: the 32 mails at once, the pipeline running meanwhile

The goal is a peak of at most 3x the data in flight (32 x 10 MB). `--soak SECONDS` then
runs steady mixed mail at `--soak-rate` and samples RSS every few seconds; after warm-up it
should stay flat.

    python bench/memory.py --mails 32 --mail-size 10000000 --soak 600
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from loadgen import run_load
from mails import CLIENT_DOMAIN, Mail, MailFactory, parse_mix
from procs import Server, SpoolProbe, database, start_ticketgate, write_site

MB = 1_000_000


def big_mail(index: int, size: int, rng: random.Random) -> Mail:
    """A mail of about `size` bytes: text part plus a base64 attachment of random bytes."""
    who = f"user{index}@example.org"
    boundary = f"=_bench_{index}_{rng.getrandbits(32):08x}"
    raw_len = max(1, (size - 1200) * 3 // 4)
    payload = base64.encodebytes(rng.randbytes(raw_len)).replace(b"\n", b"\r\n")
    head = (
        f"From: User {index} <{who}>\r\nTo: helpdesk@example.org\r\n"
        f"Subject: Loggfil från dator DDG-PC-{index:03d}\r\n"
        f"Date: Mon, 3 Mar 2025 09:14:00 +0100\r\n"
        f"Message-ID: <big.{index}.{rng.getrandbits(32):08x}@{CLIENT_DOMAIN}>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        f"Hej,\r\nhär är loggen från DDG-PC-{index:03d}; den kraschar vid start.\r\nMvh\r\n\r\n"
        f"--{boundary}\r\nContent-Type: application/octet-stream; name=\"log{index}.bin\"\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment; filename=\"log{index}.bin\"\r\n\r\n"
    ).encode()
    return Mail("new", who, "helpdesk@example.org",
                head + payload + f"\r\n--{boundary}--\r\n".encode())


async def _wait_drained(server: Server, probe: SpoolProbe, timeout: float) -> float | None:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if server.proc.poll() is not None:
            raise RuntimeError(f"ticketgate exited with {server.proc.returncode}")
        if probe.backlog() == 0:
            return time.perf_counter() - start
        await asyncio.sleep(0.2)
    return None


async def _warm(server: Server) -> int:
    """A few small mails so imports and caches are in place; returns RSS afterwards."""
    await run_load(port=server.port, mails=MailFactory(seed=99).take(20), connections=2,
                   per_connection=10, count=20)
    await asyncio.sleep(1.0)
    return server.memory()["VmRSS"]


async def phase(name: str, site: Path, mails: list[Mail] | None, *, spool_only: bool,
                drain_timeout: float) -> dict[str, object]:
    server = start_ticketgate(site, spool_only=spool_only)
    probe = SpoolProbe(database(site))
    try:
        baseline = await _warm(server)
        loaded = None
        if mails:
            result = await run_load(port=server.port, mails=mails, connections=len(mails),
                                    per_connection=1, count=len(mails))
            loaded = result.summary()
        drain = None if spool_only else await _wait_drained(server, probe, drain_timeout)
        mem = server.memory()
        counts = probe.counts()
    finally:
        probe.close()
        server.stop()
    in_flight = sum(len(m.raw) for m in mails) if mails else 0
    out: dict[str, object] = {
        "phase": name, "baseline_rss": baseline, "peak_rss": mem["VmHWM"],
        "rss_after": mem["VmRSS"], "drain_s": drain, "load": loaded, "counts": counts,
    }
    line = (f"{name:9} baseline {baseline / MB:.0f} MB, peak {mem['VmHWM'] / MB:.0f} MB, "
            f"after {mem['VmRSS'] / MB:.0f} MB")
    if in_flight:
        out["in_flight"] = in_flight
        out["peak_over_in_flight"] = mem["VmHWM"] / in_flight
        out["growth_over_in_flight"] = (mem["VmHWM"] - baseline) / in_flight
        line += (f"; in flight {in_flight / MB:.0f} MB: peak/in-flight "
                 f"{mem['VmHWM'] / in_flight:.2f}, (peak-baseline)/in-flight "
                 f"{(mem['VmHWM'] - baseline) / in_flight:.2f}")
    if loaded:
        line += f"; {loaded['accepted']}/{loaded['sent']} accepted, p99 {loaded['p99_ms']} ms"
    if drain is not None:
        line += f"; pipeline drained in {drain:.1f}s"
    print(line, flush=True)
    return out


async def soak(site: Path, seconds: float, rate: float, mix: str,
               every: float) -> dict[str, object]:
    """Steady load for `seconds`; RSS sampled every `every` seconds."""
    server = start_ticketgate(site)
    probe = SpoolProbe(database(site))
    samples: list[tuple[float, int, int]] = []  # (t, rss, backlog)
    try:
        await _warm(server)
        t0 = time.perf_counter()
        stream = MailFactory(seed=5, mix=parse_mix(mix)).stream()
        load = asyncio.create_task(run_load(port=server.port, mails=stream, connections=8,
                                            per_connection=10, duration=seconds, rate=rate))
        while not load.done():
            samples.append((time.perf_counter() - t0, server.memory()["VmRSS"],
                            probe.backlog()))
            await asyncio.wait([load], timeout=every)
        result = await load
        samples.append((time.perf_counter() - t0, server.memory()["VmRSS"], probe.backlog()))
        drain = await _wait_drained(server, probe, 600)
        peak = server.memory()["VmHWM"]
    finally:
        probe.close()
        server.stop()
    warm = [s for s in samples if s[0] >= min(120.0, seconds * 0.2)]
    slope = _slope([(t, r) for t, r, _ in warm]) * 60 if len(warm) > 2 else 0.0
    first, last = warm[0][1], warm[-1][1]
    print(f"soak      {seconds:.0f}s at {rate:g}/s: {result.accepted} mails; RSS after warm-up "
          f"{first / MB:.0f} MB, at the end {last / MB:.0f} MB, max "
          f"{max(r for _, r, _ in warm) / MB:.0f} MB, trend {slope / MB:+.2f} MB/min; peak "
          f"{peak / MB:.0f} MB; backlog at the end {samples[-1][2]}, drained in "
          f"{drain if drain is None else round(drain, 1)}s", flush=True)
    return {"phase": "soak", "seconds": seconds, "rate": rate, "load": result.summary(),
            "rss_after_warmup": first, "rss_end": last, "slope_bytes_per_min": slope,
            "peak_rss": peak, "drain_s": drain,
            "samples": [{"t": round(t, 1), "rss": r, "backlog": b} for t, r, b in samples]}


def _slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope (bytes per second)."""
    mt = statistics.fmean(t for t, _ in points)
    mr = statistics.fmean(r for _, r in points)
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (r - mr) for t, r in points) / den if den else 0.0


async def main_async(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    mails = [big_mail(i, args.mail_size, rng) for i in range(args.mails)]
    results = []
    with tempfile.TemporaryDirectory(prefix="ticketgate-memory-") as tmp:
        root = Path(tmp)
        if not args.soak_only:
            write_site(root / "split")
            results.append(await phase("ingest", root / "split", mails, spool_only=True,
                                       drain_timeout=args.drain_timeout))
            results.append(await phase("pipeline", root / "split", None, spool_only=False,
                                       drain_timeout=args.drain_timeout))
            write_site(root / "both")
            results.append(await phase("both", root / "both", mails, spool_only=False,
                                       drain_timeout=args.drain_timeout))
        if args.soak:
            write_site(root / "soak")
            results.append(await soak(root / "soak", args.soak, args.soak_rate, args.mix,
                                      args.sample_every))
    if args.json:
        args.json.write_text(json.dumps({"argv": sys.argv, "phases": results}, indent=1))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n")[-1])
    parser.add_argument("--mails", type=int, default=32, help="concurrent big mails")
    parser.add_argument("--mail-size", type=int, default=10 * MB, help="bytes per big mail")
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                        help="also run a steady soak this long (600 for the 10-minute soak)")
    parser.add_argument("--soak-only", action="store_true", help="skip the big-mail phases")
    parser.add_argument("--soak-rate", type=float, default=20.0, help="mails/s during the soak")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--mix", default="new=0.6,code=0.3,thread=0.1")
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, metavar="FILE")
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
