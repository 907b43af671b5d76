"""Pipe delivery: one new `ticketgate inject` process per mail, one after another, daemon running.

For each mail of the mix (default: 400 of realmix.py's) it runs `ticketgate inject` as an
MTA's pipe transport would (`--config`, `--from=`, `--rcpt=`, the message on stdin), then
waits until the daemon has processed that spool row (made the ticket or the follow-up) before
piping the next. It reports tickets per second (mails over the whole wall time) and the CPU
of each `inject` process (user + system, from the kernel's accounting of reaped children),
against `python -c pass` run as many times in the same session, and the daemon's CPU.

`--source DIR` measures another ticketgate source tree (its `daemon/` folder on PYTHONPATH,
for both `serve` and `inject`), e.g. the branch point extracted with `git archive`, so a
before/after pair runs on the same machine in one session. The package is byte-compiled
first (as pip does on install; this environment sets PYTHONDONTWRITEBYTECODE).

    python bench/inject.py                     # 400 mails of the realistic mix
    python bench/inject.py --source /tmp/base/daemon --mails 100
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import smtplib
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ingest import machine
from mails import Mail, MailFactory, parse_mix
from procs import REPO, database, start_ticketgate, write_site
from realmix import RealMix, from_mix


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_measured(command: list[str], stdin: bytes) -> tuple[subprocess.CompletedProcess[bytes],
                                                              float]:
    before = _children_cpu()
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=120)
    return done, _children_cpu() - before


def baseline(python: str, n: int) -> list[tuple[float, float]]:
    """(CPU seconds, wall seconds) of each of `n` runs of `python -c pass`."""
    runs = []
    for _ in range(n):
        started = time.perf_counter()
        cpu = _run_measured([python, "-c", "pass"], b"")[1]
        runs.append((cpu, time.perf_counter() - started))
    return runs


def _wait_processed(conn: sqlite3.Connection, spool_id: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute("SELECT state FROM spool WHERE id = ?", (spool_id,)).fetchone()
        if row is not None and row[0] != "new":
            return True
        time.sleep(0.001)
    return False


def _smtp(port: int) -> Callable[[Mail], tuple[subprocess.CompletedProcess[bytes], float]]:
    """One SMTP session per mail, as the reference: what inject's figures compare with."""
    def send(mail: Mail) -> tuple[subprocess.CompletedProcess[bytes], float]:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            client.ehlo()
            client.mail(mail.mail_from)
            client.rcpt(mail.rcpt)
            code, reply = client.data(mail.raw)
        out = reply.decode().replace("2.0.0 queued as ", "queued as ").encode()
        return subprocess.CompletedProcess([], 0 if code == 250 else 1, out, b""), 0.0

    return send


def pipe_all(mails: list[Mail], site: Path, command: list[str] | None,
             timeout: float) -> dict[str, object]:
    """Pipe every mail through a new inject process (or, without a command, send it in an
    SMTP session of its own), each to its ticket; the figures."""
    config = site / "ticketgate.yaml"
    server = start_ticketgate(site)
    smtp = _smtp(server.port) if command is None else None
    conn = sqlite3.connect(database(site), timeout=10)
    cpus: list[float] = []
    walls: list[float] = []  # the inject process alone, start to exit
    waits: list[float] = []
    failed: list[str] = []
    try:
        daemon_cpu0 = server.cpu()
        wall0 = time.perf_counter()
        for mail in mails:
            started = time.perf_counter()
            done, cpu = smtp(mail) if smtp is not None else _run_measured(
                [*(command or ()), "inject", "--config", str(config),
                 f"--from={mail.mail_from}", f"--rcpt={mail.rcpt}"], mail.raw)
            cpus.append(cpu)
            walls.append(time.perf_counter() - started)
            out = done.stdout.decode(errors="replace")
            if done.returncode != 0 or not out.startswith("queued as S"):
                failed.append(f"exit {done.returncode}: {done.stderr.decode()[-300:]}")
                continue
            spool_id = int(out.split()[2].lstrip("S"))
            if not _wait_processed(conn, spool_id, timeout):
                failed.append(f"S{spool_id} not processed within {timeout} s")
            waits.append(time.perf_counter() - started)
        wall = time.perf_counter() - wall0
        daemon_cpu = server.cpu() - daemon_cpu0
        tickets = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
        held = conn.execute("SELECT count(*) FROM spool WHERE state = 'held'").fetchone()[0]
    finally:
        conn.close()
        server.stop()
    n = len(mails)
    return {
        "mails": n, "failed": len(failed), "first_failures": failed[:3], "tickets": tickets,
        "held": held, "wall_s": round(wall, 2), "mails_per_s": round(n / wall, 2),
        "cpu_ms_mean": round(1000 * statistics.fmean(cpus), 2),
        "cpu_ms_median": round(1000 * statistics.median(cpus), 2),
        "cpu_ms_first": round(1000 * cpus[0], 1),
        "inject_wall_ms_median": round(1000 * statistics.median(walls), 1),
        "to_ticket_ms_median": round(1000 * statistics.median(waits), 1) if waits else None,
        "to_ticket_ms_p90": round(1000 * sorted(waits)[int(0.9 * len(waits))], 1)
        if waits else None,
        "daemon_cpu_ms_per_mail": round(1000 * daemon_cpu / n, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n")[-1])
    parser.add_argument("--mails", type=int, default=400)
    parser.add_argument("--mix", default="real",
                        help="`real` (realmix.py, the default) or a mix of mails.py's")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--source", type=Path, default=None, metavar="DIR",
                        help="a ticketgate source tree's daemon/ folder to measure instead of "
                             "this checkout's (put on PYTHONPATH for serve and inject)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for each mail's ticket")
    parser.add_argument("--smtp", action="store_true",
                        help="then send the same mails one by one over SMTP (a session each) "
                             "to a fresh site, waiting for each ticket: the reference")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE")
    args = parser.parse_args()

    package = (args.source or REPO / "daemon") / "ticketgate"
    if args.source is not None:
        os.environ["PYTHONPATH"] = str(args.source)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)],
                   stdout=subprocess.DEVNULL, check=True)
    script = Path(sys.executable).with_name("ticketgate")  # what an MTA's pipe runs
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ticketgate.cli"]

    real = from_mix(args.mix, args.seed)
    factory = real or MailFactory(seed=args.seed, mix=parse_mix(args.mix))
    mails = factory.take(args.mails)
    info = machine()
    root = Path(tempfile.mkdtemp(prefix="tg-inject-"))
    os.environ["XDG_CACHE_HOME"] = str(root / "cache")  # inject's memo of checked settings
    try:
        site = root / "site"
        write_site(site, directory_csv=real.directory_csv() if isinstance(real, RealMix)
                   else None)
        time.sleep(1.2)  # files younger than injectcache.RACY are checked again each time
        pass_cpu = baseline(sys.executable, args.mails)
        figures = pipe_all(mails, site, command, args.timeout)
        pass_again = baseline(sys.executable, args.mails)
        if args.smtp:
            write_site(root / "smtp", directory_csv=real.directory_csv()
                       if isinstance(real, RealMix) else None)
            over_smtp = pipe_all(mails, root / "smtp", None, args.timeout)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    pass_ms = 1000 * statistics.fmean(cpu for cpu, _ in pass_cpu + pass_again)
    figures.update(
        python_pass_cpu_ms=round(pass_ms, 2),
        python_pass_wall_ms_median=round(1000 * statistics.median(
            wall for _, wall in pass_cpu + pass_again), 1),
        ratio_to_pass=round(float(figures["cpu_ms_mean"]) / pass_ms, 2),  # type: ignore[arg-type]
        source=str(package), machine=info)
    print(f"# {info['date']}; {info['nproc']} CPUs; load average {info['loadavg']}; "
          f"ticketgate {info['revision'] if args.source is None else package}")
    print(f"{figures['mails']} mails piped one by one, each to its ticket: "
          f"{figures['mails_per_s']} tickets/s ({figures['wall_s']} s), "
          f"{figures['tickets']} tickets, {figures['held']} held, {figures['failed']} failed")
    print(f"inject CPU per mail: mean {figures['cpu_ms_mean']} ms, median "
          f"{figures['cpu_ms_median']} ms (first, with the full check: "
          f"{figures['cpu_ms_first']} ms); python -c pass: {figures['python_pass_cpu_ms']} ms; "
          f"ratio {figures['ratio_to_pass']}")
    print(f"python -c pass takes {figures['python_pass_wall_ms_median']} ms of wall time "
          "(median): the machine's floor for a process per mail")
    print(f"inject's own wall time: median {figures['inject_wall_ms_median']} ms; "
          f"from the pipe to the ticket: median {figures['to_ticket_ms_median']} ms, p90 "
          f"{figures['to_ticket_ms_p90']} ms; daemon CPU {figures['daemon_cpu_ms_per_mail']} "
          f"ms per mail")
    if args.smtp:
        figures["smtp"] = over_smtp
        print(f"the same over SMTP, a session each: {over_smtp['mails_per_s']} tickets/s; "
              f"to the ticket median {over_smtp['to_ticket_ms_median']} ms, p90 "
              f"{over_smtp['to_ticket_ms_p90']} ms; daemon CPU "
              f"{over_smtp['daemon_cpu_ms_per_mail']} ms per mail")
    for failure in figures["first_failures"]:  # type: ignore[attr-defined]
        print(f"  failed: {failure}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0 if not figures["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
