"""Ingest benchmark: the do-nothing ceiling and ticketgate, the same mails, the same session.

For each (connections, mails per connection) pair it starts bench/ceiling.py, loads it,
stops it; then starts `ticketgate serve` on a fresh temporary site (rules copied from ./rules,
SQLite in the temp dir, Maildir delivery), loads it with the same mails, and waits until the
pipeline has processed every spooled row. It prints mails/s, p50/p99 end-of-DATA->250, the
ratio to the ceiling, how long the pipeline took to drain after the load, and the largest
spool backlog seen. `make bench` runs the default: 1,000 mails at 8 and 32 connections,
10 mails per connection and 1, waiting at most 20 s for the pipeline after each load.

    python bench/ingest.py --connections 32 --per-connection 10 --duration 60 \\
        --rate-of-ceiling 0.8        # the sustained run of issue 7
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from loadgen import Result, add_load_arguments, factory_from, run_load
from mails import Mail
from procs import (
    REPO,
    Server,
    SpoolProbe,
    database,
    start_ceiling,
    start_pipeline_process,
    start_ticketgate,
    write_site,
)
from realmix import from_mix


@dataclass
class GateRun:
    """ticketgate's side of one configuration."""

    load: Result
    cpu_load: float
    cpu_drain: float = 0.0
    drain: float | None = None  # seconds from the end of the load to an empty backlog
    max_backlog: int = 0
    backlog_at_end: int = 0
    backlog_left: int = 0  # when the drain timed out
    pipeline_rate: float | None = None  # rows processed per second while draining
    outbox_drain: float | None = None  # seconds from the end of the load to an empty outbox
    peak_rss: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)


@dataclass
class Config:
    """One (connections, mails per connection) pair, measured in one or more rounds."""

    connections: int
    per_connection: int
    ceilings: list[tuple[Result, float]] = field(default_factory=list)  # (load, server CPU)
    gates: list[GateRun] = field(default_factory=list)
    gate_error: str | None = None

    @property
    def ceiling(self) -> Result | None:
        """The round with the median rate (on a shared machine, a mean would follow bursts)."""
        runs = sorted((r for r, _ in self.ceilings), key=lambda r: r.rate)
        return runs[len(runs) // 2] if runs else None

    @property
    def ceiling_cpu(self) -> float:
        return next((cpu for r, cpu in self.ceilings if r is self.ceiling), 0.0)

    @property
    def gate(self) -> GateRun | None:
        runs = sorted(self.gates, key=lambda g: g.load.rate)
        return runs[len(runs) // 2] if runs else None

    @property
    def ratio(self) -> float | None:
        if self.ceiling is None or self.gate is None or not self.ceiling.rate:
            return None
        return self.gate.load.rate / self.ceiling.rate

    def ratios(self) -> list[float]:
        """Each round's ticketgate rate over the ceiling measured just before it."""
        return [g.load.rate / c.rate for (c, _), g in zip(self.ceilings, self.gates,
                                                           strict=False) if c.rate]


def machine() -> dict[str, str]:
    """What BENCHMARKS.md records about where a figure came from."""
    mem = next((line.split(":")[1].strip() for line in Path("/proc/meminfo").read_text()
                .splitlines() if line.startswith("MemTotal")), "?")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": str(os.cpu_count()),
        "memory": mem,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "revision": _revision(),
    }


def _revision() -> str:
    """The commit measured, with `+dirty` when the working tree differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "daemon"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+dirty" if dirty else "")


def _mails(args: argparse.Namespace, fixed: list[Mail] | None) -> Iterable[Mail]:
    return fixed if fixed is not None else factory_from(args).stream()


async def _load(args: argparse.Namespace, server: Server, mails: Iterable[Mail], c: int, k: int,
                rate: float | None) -> Result:
    return await run_load(port=server.port, mails=mails, connections=c, per_connection=k,
                          count=None if args.duration else args.mails, duration=args.duration,
                          rate=rate)


async def measure_ceiling(args: argparse.Namespace, mails: Iterable[Mail], c: int, k: int,
                          workdir: Path) -> tuple[Result, float]:
    server = start_ceiling(workdir)
    try:
        cpu0 = server.cpu()
        result = await _load(args, server, mails, c, k, args.rate)
        return result, server.cpu() - cpu0
    finally:
        server.stop()


class _Spy:
    """py-spy recording the daemon (raw collapsed stacks), when --profile asks for it."""

    def __init__(self, pid: int, out: Path | None, extra: tuple[str, ...] = ()) -> None:
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None
        if out is not None:
            spy = Path(sys.executable).with_name("py-spy")
            self.proc = subprocess.Popen(
                [str(spy), "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
                 "--threads", "--nonblocking", "--output", str(out), *extra],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # let it attach before the phase starts

    def stop(self) -> str | None:
        if self.proc is None:
            return None
        self.proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(30)
        return str(self.out)


async def measure_gate(args: argparse.Namespace, mails: Iterable[Mail], c: int, k: int,
                       rate: float | None, site: Path, tag: str) -> GateRun:
    write_site(site, pipeline_process=args.pipeline_process,
               directory_csv=real.directory_csv() if (real := from_mix(args.mix, args.seed))
               else None)
    server = start_ticketgate(site, spool_only=args.spool_only or args.split_pipeline,
                              switch_interval=args.switch_interval)
    helper = start_pipeline_process(site) if args.split_pipeline else None
    probe = SpoolProbe(database(site))
    if args.prelude_mails:  # the open tickets the load's replies answer, made in order first
        await run_load(port=server.port, mails=args.prelude_mails, connections=1,
                       per_connection=10, count=len(args.prelude_mails))
        while probe.backlog():
            await asyncio.sleep(0.1)
    try:
        spy_args = ("--gil",) if args.profile_gil else ()
        spy = _Spy(server.pid, args.profile / f"{tag}-load.txt" if args.profile else None,
                   spy_args)
        stats = {"max": 0}
        done = asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                stats["max"] = max(stats["max"], await asyncio.to_thread(probe.backlog))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(done.wait(), 0.25)

        sampler = asyncio.create_task(sample())
        def cpu() -> float:  # the daemon's CPU, and the pipeline process's when split off
            return server.cpu() + (helper.cpu() if helper else 0.0)

        cpu0 = cpu()
        result = await _load(args, server, mails, c, k, rate)
        loaded = time.perf_counter()
        done.set()
        await sampler
        run = GateRun(load=result, cpu_load=cpu() - cpu0)
        profile = spy.stop()
        if profile:
            run.profiles.append(profile)
        run.backlog_at_end = probe.backlog()
        run.max_backlog = max(stats["max"], run.backlog_at_end)
        spy = _Spy(server.pid, args.profile / f"{tag}-drain.txt" if args.profile else None,
                   spy_args)
        cpu1 = cpu()
        backlog = 0 if args.spool_only else run.backlog_at_end
        while backlog and time.perf_counter() - loaded < args.drain_timeout:
            for proc in (server, helper):
                if proc is not None and proc.proc.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode}")
            await asyncio.sleep(0.05)
            backlog = await asyncio.to_thread(probe.backlog)
        waited = time.perf_counter() - loaded
        run.drain = None if backlog else waited
        run.backlog_left = backlog
        if run.backlog_at_end and not args.spool_only:
            run.pipeline_rate = (run.backlog_at_end - backlog) / waited
        run.cpu_drain = cpu() - cpu1
        # The outbox holds its deliveries while the pipeline has a backlog (tickets first):
        # when the acknowledgements are all out is a figure of its own.
        pending = 0 if args.spool_only or backlog else await asyncio.to_thread(
            probe.outbox_pending)
        while pending and time.perf_counter() - loaded < args.drain_timeout:
            await asyncio.sleep(0.1)
            pending = await asyncio.to_thread(probe.outbox_pending)
        if not args.spool_only and not backlog and not pending:
            run.outbox_drain = time.perf_counter() - loaded
        profile = spy.stop()
        if profile:
            run.profiles.append(profile)
        run.peak_rss = server.memory().get("VmHWM", 0)
        run.counts = probe.counts()
        return run
    finally:
        probe.close()
        if helper is not None:
            helper.stop()
        status = server.stop()
        if status not in (0, None):
            print(f"  ticketgate exited with {status}; log: {server.log}", file=sys.stderr)


def _ms(result: Result, p: float) -> str:
    return f"{result.percentile(p) * 1000:.1f}"


def report(configs: list[Config], info: dict[str, str], args: argparse.Namespace) -> str:
    lines = [
        f"# {info['date']}; {info['nproc']} CPUs, {info['memory']} RAM; Python "
        f"{info['python']}; SQLite {info['sqlite']}; load average {info['loadavg']}; "
        f"ticketgate {info['revision']}",
        f"# mails: {f'{args.duration:g} s' if args.duration else args.mails} "
        + (f"of the realistic mix {args.mix} (realmix.py)" if args.mix.startswith("real")
           else f"of ~{args.size} B, mix {args.mix}")
        + f", {args.rounds} round(s), median shown"
        + (f", paced at {args.rate:g}/s" if args.rate else "")
        + (f", ticketgate paced at {args.rate_of_ceiling:g} x ceiling"
           if args.rate_of_ceiling else ""),
        "",
        "| C | mails/conn | ceiling mails/s | p50/p99 ms | ticketgate mails/s | p50/p99 ms "
        "| ratio (rounds) "
        "| drain s | pipeline mails/s | max backlog | done/held | CPU s load+drain |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for cf in configs:
        ceil = cf.ceiling
        row = [str(cf.connections), str(cf.per_connection)]
        row += ([f"{ceil.rate:.0f}", f"{_ms(ceil, 50)}/{_ms(ceil, 99)}"] if ceil
                else ["-", "-"])
        gate = cf.gate
        if gate is None:
            row += ["failed: " + (cf.gate_error or "?").splitlines()[0][:60]] + ["-"] * 7
        else:
            g = gate.load
            row += [
                f"{g.rate:.0f}" + ("" if g.accepted == g.sent else f" ({g.sent - g.accepted} "
                                                                   "not accepted)"),
                f"{_ms(g, 50)}/{_ms(g, 99)}",
                _ratio_cell(cf),
                f"{gate.drain:.1f}" if gate.drain is not None
                else f"> {args.drain_timeout:g} ({gate.backlog_left} left)",
                f"{gate.pipeline_rate:.1f}" if gate.pipeline_rate is not None else "-",
                str(gate.max_backlog),
                f"{gate.counts.get('spool_done', 0)}/{gate.counts.get('spool_held', 0)}",
                f"{gate.cpu_load:.1f}+{gate.cpu_drain:.1f}",
            ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _ratio_cell(cf: Config) -> str:
    if cf.ratio is None:
        return "-"
    ratios = cf.ratios()
    if len(ratios) < 2:
        return f"{cf.ratio:.2f}"
    return f"{cf.ratio:.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def _as_json(cf: Config) -> dict[str, object]:
    gate = cf.gate
    return {
        "connections": cf.connections, "per_connection": cf.per_connection,
        "ceiling": cf.ceiling.summary() if cf.ceiling else None,
        "ceiling_cpu": round(cf.ceiling_cpu, 2),
        "ticketgate": None if gate is None else {
            "load": gate.load.summary(), "cpu_load": round(gate.cpu_load, 2),
            "cpu_drain": round(gate.cpu_drain, 2), "drain_s": gate.drain,
            "outbox_drain_s": gate.outbox_drain,
            "backlog_left": gate.backlog_left, "pipeline_rate": gate.pipeline_rate,
            "max_backlog": gate.max_backlog, "backlog_at_end": gate.backlog_at_end,
            "peak_rss": gate.peak_rss, "counts": gate.counts, "profiles": gate.profiles,
        },
        "ticketgate_error": cf.gate_error,
        "ratio": cf.ratio,
        "rounds": {"ceiling": [r.summary() for r, _ in cf.ceilings],
                   "ticketgate": [g.load.summary() for g in cf.gates],
                   "drain_s": [g.drain for g in cf.gates],
                   "pipeline_rate": [g.pipeline_rate for g in cf.gates],
                   "ratios": cf.ratios()},
    }


async def measure_config(args: argparse.Namespace, cf: Config, fixed: list[Mail] | None,
                         work: Path, tag: str) -> None:
    """One round of one configuration: the ceiling, then ticketgate, with the same mails."""
    c, k = cf.connections, cf.per_connection
    ceiling: Result | None = None
    if args.only in (None, "ceiling") or args.rate_of_ceiling:
        ceiling, cpu = await measure_ceiling(args, _mails(args, fixed), c, k,
                                             work / f"ceiling-{tag}")
        cf.ceilings.append((ceiling, cpu))
        print(f"ceiling    {ceiling.line()}; server CPU {cpu:.1f}s", flush=True)
    if args.only == "ceiling":
        return
    rate = args.rate
    if args.rate_of_ceiling and ceiling is not None:
        rate = args.rate_of_ceiling * ceiling.rate
    try:
        g = await measure_gate(args, _mails(args, fixed), c, k, rate, work / f"site-{tag}",
                               tag)
    except Exception as exc:  # report it in the table; keep measuring the others
        cf.gate_error = f"{type(exc).__name__}: {exc}"
        print(f"ticketgate FAILED: {cf.gate_error}", file=sys.stderr, flush=True)
        return
    cf.gates.append(g)
    drain = (f"{g.drain:.1f}s" if g.drain is not None
             else f"not within {args.drain_timeout:g}s ({g.backlog_left} left)")
    if g.pipeline_rate is not None:
        drain += f" (pipeline {g.pipeline_rate:.1f} mails/s)"
    if g.outbox_drain is not None:
        drain += f", outbox empty {g.outbox_drain:.1f}s"
    print(f"ticketgate {g.load.line()}; drained {drain} after the load, max backlog "
          f"{g.max_backlog}, server CPU {g.cpu_load:.1f}+{g.cpu_drain:.1f}s, "
          f"{g.counts}", flush=True)
    for err in g.load.first_errors:
        print(f"  error: {err}", file=sys.stderr)


async def main_async(args: argparse.Namespace) -> int:
    info = machine()
    fixed = None if args.duration else factory_from(args).take(args.prelude + args.mails)
    args.prelude_mails = fixed[:args.prelude] if fixed is not None else []
    fixed = fixed[args.prelude:] if fixed is not None else None
    configs = [Config(c, k) for k in args.per_connection for c in args.connections]
    with tempfile.TemporaryDirectory(prefix="ticketgate-bench-") as tmp:
        work = Path(tmp)
        if args.keep:
            work = Path(tempfile.mkdtemp(prefix="ticketgate-bench-kept-"))
            print(f"# keeping sites under {work}", file=sys.stderr)
        for r in range(args.rounds):
            for cf in configs:
                tag = f"c{cf.connections}-k{cf.per_connection}-r{r + 1}"
                await measure_config(args, cf, fixed, work, tag)
    table = report(configs, info, args)
    print("\n" + table)
    if args.json:
        args.json.write_text(json.dumps(
            {"machine": info, "argv": sys.argv, "configs": [_as_json(cf) for cf in configs]},
            indent=1))
    failed = any(cf.gate_error or any(g.drain is None for g in cf.gates) for cf in configs)
    return 1 if failed else 0


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n")[-1])
    parser.add_argument("--connections", type=_ints, default=[8, 32],
                        help="comma-separated connection counts (default 8,32)")
    parser.add_argument("--per-connection", type=_ints, default=[10, 1],
                        help="comma-separated mails per SMTP session (default 10,1)")
    parser.add_argument("--rate-of-ceiling", type=float, default=None,
                        help="pace ticketgate at this fraction of the ceiling just measured")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every configuration this many times, alternating, and "
                             "report the median round (use 3 on a shared machine)")
    parser.add_argument("--only", choices=("ceiling", "ticketgate"), default=None)
    parser.add_argument("--drain-timeout", type=float, default=20.0,
                        help="stop waiting for the pipeline this many seconds after the load "
                             "(default 20, so `make bench` stays short); the table then shows "
                             "the backlog left and the pipeline's rate")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="record the daemon with py-spy (load and drain phases) into DIR")
    parser.add_argument("--profile-gil", action="store_true",
                        help="with --profile: sample only the thread holding the GIL")
    parser.add_argument("--spool-only", action="store_true",
                        help="run `serve --spool-only`: ingest without the pipeline (diagnosis)")
    parser.add_argument("--split-pipeline", action="store_true",
                        help="experiment: `serve --spool-only` plus the pipeline worker in a "
                             "process of its own (bench/pipeline_proc.py), sharing no GIL")
    parser.add_argument("--pipeline-process", choices=("inline", "separate"), default=None,
                        help="write `pipeline.process` into the site's settings (separate: "
                             "serve runs the pipeline in a child process of its own)")
    parser.add_argument("--switch-interval", type=float, default=None, metavar="SECONDS",
                        help="experiment: run serve with sys.setswitchinterval(SECONDS) "
                             "(Python's default is 0.005)")
    parser.add_argument("--prelude", type=int, default=0, metavar="N",
                        help="with --mix real: first send N new requests over one connection "
                             "to ticketgate and let them become tickets (not measured); the "
                             "load's replies, resends and auto-replies answer these, since "
                             "the load's own requests get their numbers in commit order")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write every figure as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary sites")
    add_load_arguments(parser)
    args = parser.parse_args()
    if args.prelude and (args.duration or not args.mix.startswith("real")):
        parser.error("--prelude needs --mix real and a count of mails, not --duration")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
