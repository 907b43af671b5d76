"""Pipeline throughput: the worker alone draining a spool filled beforehand.

Spools N benchmark mails (bench/mails.py, the same mix as ingest.py) into a fresh site's
database, then starts the daemon's own worker and outbox composition (no listener, no
delivery) and times the drain: mails/s, and the process's CPU seconds per mail. With
`--profile FILE` the drain runs under py-spy (raw collapsed stacks, read with profiles.py).

    python bench/pipeline.py --mails 2000
    python bench/pipeline.py --mails 2000 --profile /tmp/pipe.txt
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

from mails import MailFactory, parse_mix
from procs import write_site
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--mix", default="new=0.6,code=0.3,thread=0.1")
    parser.add_argument("--size", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="record the drain with py-spy into FILE")
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
    try:
        settings = load_settings(write_site(root, delivery_concurrency=args.concurrency))
        configure("json", level=logging.WARNING)
        daemon = Daemon(settings)
        daemon.store.open()
        factory = MailFactory(seed=args.seed, size=args.size, mix=parse_mix(args.mix))
        mails = factory.take(args.mails)

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
        cpu0, wall0 = _cpu(), time.perf_counter()
        daemon.worker.start()
        if not daemon.worker.wait_idle(timeout=3600):
            print("the worker did not drain", file=sys.stderr)
            return 1
        wall, cpu = time.perf_counter() - wall0, _cpu() - cpu0
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            spy.wait(30)
        daemon.worker.stop()
        if args.null_transport:
            daemon.outbox.transport = _NullTransport()
        figures_outbox = _deliver_all(daemon) if args.outbox else {}
        counts = {
            table: daemon.store.view.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("tickets", "messages", "outbox")
        }
        done = daemon.store.view.conn.execute(
            "SELECT count(*) FROM spool WHERE state = 'done'").fetchone()[0]
        daemon.store.close()
        figures = {"mails": args.mails, "done": done, "seconds": round(wall, 3),
                   "mails_per_s": round(args.mails / wall, 1),
                   "cpu_ms_per_mail": round(1000 * cpu / args.mails, 2), **counts,
                   **figures_outbox}
        if args.json:
            print(json.dumps(figures))
        else:
            print(f"pipeline: {done}/{args.mails} done in {wall:.2f}s = {args.mails / wall:.0f}"
                  f" mails/s, CPU {1000 * cpu / args.mails:.2f} ms/mail; {counts}")
            if figures_outbox:
                print(f"outbox: {figures_outbox['delivered']} delivered in"
                      f" {figures_outbox['outbox_seconds']:.2f}s ="
                      f" {figures_outbox['deliveries_per_s']:.0f}/s, CPU"
                      f" {figures_outbox['cpu_ms_per_delivery']:.3f} ms/delivery (system"
                      f" {figures_outbox['sys_ms_per_delivery']:.3f})")
        return 0 if done == args.mails else 1
    finally:
        if args.keep:
            print(f"# site kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
