"""Pipeline throughput: the worker alone draining a spool filled beforehand.

Spools N benchmark mails (bench/mails.py, the same mix as ingest.py, or `--mix real`:
realmix.py's realistic helpdesk mail) into a fresh site's database, then starts the daemon's
own worker and outbox composition (no listener, no delivery) and times the drain: mails/s,
and the process's CPU seconds per mail, with the count of each action and flag. With
`--profile FILE` the drain runs under py-spy (raw collapsed stacks, read with profiles.py);
with `--cprofile FILE` the worker thread runs under cProfile and the costs are printed by
area (parsing, each stage, the etiquette heuristics, storing, composing the mails).
`--sweep-kb 1,2,4,8,16` instead spools new requests whose own text is padded to each size
and prints the CPU per new ticket at each, with the cost per KB of text (least squares).

    python bench/pipeline.py --mails 2000
    python bench/pipeline.py --mails 2000 --mix real --cprofile /tmp/pipe.prof
    python bench/pipeline.py --mix real --sweep-kb 1,2,4,8,16,32 --mails 300
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mails import Mail, MailFactory, parse_mix
from procs import write_site
from realmix import RealMix, from_mix
from ticketgate.config import load_settings
from ticketgate.daemon import Daemon
from ticketgate.log import configure


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sys() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


class _NullTransport:
    name = "null"

    def deliver(self, mail_from: str, rcpt_to: str, raw: bytes, *, again: bool = True) -> str:
        return "discarded"


def _deliver_all(daemon: Daemon) -> dict[str, float]:
    """Run the daemon's outbox on its own loop until no row is pending; time it."""
    import asyncio

    def pending() -> int:
        return int(daemon.store.view.conn.execute(
            "SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0])

    async def drain() -> None:
        await daemon.outbox.start()
        while pending():
            await asyncio.sleep(0.05)
        await daemon.outbox.stop()

    cpu0, sys0, wall0 = _cpu(), _sys(), time.perf_counter()
    asyncio.run(drain())
    wall, cpu, system = time.perf_counter() - wall0, _cpu() - cpu0, _sys() - sys0
    sent = daemon.store.view.conn.execute(
        "SELECT count(*) FROM outbox WHERE state = 'sent'").fetchone()[0]
    return {"delivered": sent, "outbox_seconds": round(wall, 3),
            "deliveries_per_s": round(sent / wall, 1),
            "cpu_ms_per_delivery": round(1000 * cpu / max(sent, 1), 3),
            "sys_ms_per_delivery": round(1000 * system / max(sent, 1), 3)}


def _factory(args: argparse.Namespace) -> MailFactory | RealMix:
    real = from_mix(args.mix, args.seed)
    if real is not None and args.text_kb:
        real.text_size = int(args.text_kb * 1024)
        real.html_share = real.attachment_share = 0.0
    return real or MailFactory(seed=args.seed, size=args.size,
                                                         mix=parse_mix(args.mix))


class _Profiles:
    """cProfile, in thread CPU time, of the two threads the pipeline runs in: the worker
    (parsing and the stages) and the writer (applying the verdict and composing the mails,
    which run inside its transaction). cProfile sees only the thread it is enabled in, so
    the worker's runs under it from the start and the writer's is switched on and off by
    jobs that the writer itself runs."""

    def __init__(self, daemon: Daemon) -> None:
        import cProfile
        import threading

        self.worker = cProfile.Profile(time.thread_time)
        self.writer = cProfile.Profile(time.thread_time)
        self.cpu: dict[str, float] = {}
        self._writer_started = 0.0
        worker = daemon.worker
        run = worker._run

        def profiled() -> None:
            t0 = time.thread_time()
            try:
                self.worker.runcall(run)
            finally:
                self.cpu["worker"] = time.thread_time() - t0

        worker._thread = threading.Thread(target=profiled, name="ticketgate-worker", daemon=True)
        self._daemon = daemon

    def start_writer(self) -> None:
        def on(_conn: object) -> None:
            self._writer_started = time.thread_time()
            self.writer.enable()

        self._daemon.store.writer.call(on)

    def stop_writer(self) -> None:
        def off(_conn: object) -> None:
            self.writer.disable()
            self.cpu["writer"] = time.thread_time() - self._writer_started

        self._daemon.store.writer.call(off)

    def dump(self, out: Path) -> None:
        import pstats

        self.worker.dump_stats(str(out) + ".worker")
        self.writer.dump_stats(str(out) + ".writer")
        stats = pstats.Stats(str(out) + ".worker")
        stats.add(str(out) + ".writer")
        stats.dump_stats(str(out))



def drain(args: argparse.Namespace, mails: list[Mail], root: Path,
          directory_csv: str | None, cprofile: Path | None = None) -> dict[str, object]:
    """Spool `mails` into a fresh site under `root`, drain them, return the figures."""
    settings = load_settings(write_site(root, delivery_concurrency=args.concurrency,
                                        directory_csv=directory_csv))
    daemon = Daemon(settings)
    daemon.store.open()

    def fill(tx):  # type: ignore[no-untyped-def]
        for mail in mails:
            tx.spool_delivery(raw=mail.raw, mail_from=mail.mail_from,
                              rcpt_to=[mail.rcpt], peer="127.0.0.1", protocol="SMTP")

    daemon.store.writer.call(fill)
    spy = None
    if args.profile:
        spy = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw",
             "--threads", "--rate", "250", "--nonblocking", "--pid", str(os.getpid()),
             "-o", str(args.profile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    profiles = _Profiles(daemon) if cprofile is not None else None
    if profiles is not None:
        profiles.start_writer()
    cpu0, wall0 = _cpu(), time.perf_counter()
    daemon.worker.start()
    if not daemon.worker.wait_idle(timeout=3600):
        raise RuntimeError("the worker did not drain")
    wall, cpu = time.perf_counter() - wall0, _cpu() - cpu0
    if profiles is not None and cprofile is not None:
        profiles.stop_writer()
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        spy.wait(30)
    daemon.worker.stop()
    if profiles is not None and cprofile is not None:
        profiles.dump(cprofile)
    if args.null_transport:
        daemon.outbox.transport = _NullTransport()
    figures_outbox = _deliver_all(daemon) if args.outbox else {}
    conn = daemon.store.view.conn
    counts = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
              for table in ("tickets", "messages", "outbox")}
    done = conn.execute("SELECT count(*) FROM spool WHERE state = 'done'").fetchone()[0]
    actions = dict(conn.execute(
        "SELECT json_extract(verdict, '$.action'), count(*) FROM messages GROUP BY 1"
    ).fetchall())
    flags: dict[str, int] = {}
    for (text,) in conn.execute("SELECT flags FROM tickets"):
        for flag in json.loads(text):
            flags[flag] = flags.get(flag, 0) + 1
    daemon.store.close()
    n = len(mails)
    new_tickets = counts["tickets"]
    return {"mails": n, "done": done, "seconds": round(wall, 3),
            "mails_per_s": round(n / wall, 1), "cpu_ms_per_mail": round(1000 * cpu / n, 2),
            "cpu_ms_per_new_ticket": round(1000 * cpu / max(new_tickets, 1), 2),
            "thread_cpu_ms_per_mail": {k: round(1000 * v / n, 2)
                                       for k, v in profiles.cpu.items()} if profiles else None,
            **counts, "actions": actions, "flags": dict(sorted(flags.items())),
            **figures_outbox}


def _sweep(args: argparse.Namespace, root: Path) -> int:
    """CPU per new ticket at each text size; the slope is the cost per KB of text."""
    points: list[tuple[float, float]] = []
    for kb in (float(x) for x in args.sweep_kb.split(",")):
        mix = RealMix(seed=args.seed, shares={"new": 1.0}, text_size=int(kb * 1024),
                      html_share=0.0, attachment_share=0.0)
        mails = mix.take(args.mails)
        text = sum(len(m.raw) for m in mails) / len(mails)
        figures = drain(args, mails, root / f"sweep-{kb:g}", mix.directory_csv())
        ms = float(figures["cpu_ms_per_new_ticket"])  # type: ignore[arg-type]
        points.append((kb, ms))
        print(f"text ~{kb:g} KB (raw {text / 1024:.1f} KB): {ms:.2f} ms CPU per new ticket, "
              f"{figures['tickets']} tickets, {figures['outbox']} mails composed", flush=True)
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / max(
        sum((x - mean_x) ** 2 for x, _ in points), 1e-9)
    print(f"cost per KB of text: {slope:.3f} ms (least squares over {len(points)} sizes); "
          f"at 0 KB: {mean_y - slope * mean_x:.2f} ms")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--mix", default="new=0.6,code=0.3,thread=0.1",
                        help="as ingest.py's --mix; `real` is realmix.py's realistic mix")
    parser.add_argument("--size", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="record the drain with py-spy into FILE")
    parser.add_argument("--cprofile", type=Path,
                        help="run the worker thread under cProfile, write its stats to FILE "
                             "and print them by area (profile_areas.py)")
    parser.add_argument("--sweep-kb", metavar="KB,KB,...",
                        help="new requests only, their text padded to each size: CPU per new "
                             "ticket at each, and the cost per KB of text")
    parser.add_argument("--text-kb", type=float, default=None, metavar="KB",
                        help="with --mix real: pad each new request's text to KB (plain text "
                             "only), as one point of --sweep-kb, e.g. to profile it")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--outbox", action="store_true",
                        help="then time the outbox delivering every row (Maildir transport)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the site (deleting thousands of files makes the next"
                             " file creations on a journal-less ext4 dearer: see README.md)")
    parser.add_argument("--null-transport", action="store_true",
                        help="with --outbox: a transport that accepts every mail and writes"
                             " nothing (the outbox's own cost)")
    parser.add_argument("--concurrency", type=int,
                        help="the outbox's delivery.concurrency (default: the daemon's)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="tg-pipe-"))
    configure("json", level=logging.WARNING)
    try:
        if args.sweep_kb:
            return _sweep(args, root)
        factory = _factory(args)
        mails = factory.take(args.mails)
        directory_csv = factory.directory_csv() if isinstance(factory, RealMix) else None
        figures = drain(args, mails, root / "site", directory_csv, args.cprofile)
        if args.json:
            print(json.dumps(figures))
        else:
            print(f"pipeline: {figures['done']}/{args.mails} done in {figures['seconds']:.2f}s"
                  f" = {figures['mails_per_s']:.0f} mails/s, CPU {figures['cpu_ms_per_mail']:.2f}"
                  f" ms/mail, {figures['cpu_ms_per_new_ticket']:.2f} ms per new ticket;"
                  f" {figures['tickets']} tickets, {figures['messages']} messages,"
                  f" {figures['outbox']} outbox rows")
            print(f"actions: {figures['actions']}; flags: {figures['flags']}")
            if figures.get("delivered") is not None:
                print(f"outbox: {figures['delivered']} delivered in"
                      f" {figures['outbox_seconds']:.2f}s ="
                      f" {figures['deliveries_per_s']:.0f}/s, CPU"
                      f" {figures['cpu_ms_per_delivery']:.3f} ms/delivery (system"
                      f" {figures['sys_ms_per_delivery']:.3f})")
        if args.cprofile:
            from profile_areas import report

            print(report(args.cprofile, mails=args.mails,
                         new_tickets=int(figures["tickets"]),  # type: ignore[call-overload]
                         threads=figures["thread_cpu_ms_per_mail"]))  # type: ignore[arg-type]
        return 0 if figures["done"] == args.mails else 1
    finally:
        if args.keep:
            print(f"# site kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
