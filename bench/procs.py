"""Servers under test as subprocesses: the ceiling and `ticketgate serve` on a temporary site.

Both listen on 127.0.0.1 on a port the kernel picks; we learn it from their output. The
process's CPU time and memory come from /proc, so the figures are the server's own, not
the load generator's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # a child that just exited
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class StartError(Exception):
    """A server did not come up; the message carries the tail of its output."""


@dataclass
class Server:
    """A running server process and the port it listens on."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    site: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        """User + system CPU seconds so far of the process (all its threads) and of its live
        children (serve's pipeline process with `pipeline.process: separate`)."""
        return _cpu(self.pid) + sum(_cpu(child) for child in _children(self.pid))

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak RSS) in bytes, summed over the process and its live children
        (serve's pipeline process): the sum of peaks bounds the peak of the sum from above."""
        out: dict[str, int] = {"VmRSS": 0, "VmHWM": 0}
        for pid in (self.pid, *_children(self.pid)):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:  # a child that just exited
                continue
            for line in status.splitlines():
                key, _, value = line.partition(":")
                if key in out:
                    out[key] += int(value.split()[0]) * 1024
        return out

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait (SIGKILL after `timeout`); returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_for(proc: subprocess.Popen[bytes], log: Path, find: Callable[[str], int | None],
              timeout: float, name: str) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"{name} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            text = log.read_text(errors="replace")
        except OSError:
            text = ""
        port = find(text)
        if port is not None:
            return port
        time.sleep(0.05)
    proc.kill()
    raise StartError(f"{name} did not start within {timeout}s:\n{_tail(log)}")


def start_ceiling(workdir: Path) -> Server:
    """The do-nothing aiosmtpd server (bench/ceiling.py)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "ceiling.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(BENCH / "ceiling.py"), "--port", "0"],
                                stdout=out, stderr=subprocess.STDOUT)

    def find(text: str) -> int | None:
        for line in text.splitlines():
            if line.startswith("PORT "):
                return int(line.split()[1])
        return None

    return Server("ceiling", proc, _wait_for(proc, log, find, 30, "ceiling"), log)


def write_site(root: Path, extra: str = "", *, database: str = "var/ticketgate.db",
               pipeline_process: str | None = None,
               delivery_concurrency: int | None = None,
               directory_csv: str | None = None) -> Path:
    """A site like the tests' (tests/conftest.py): rules and templates copied, data in var/.
    `pipeline_process` ("inline" or "separate") writes the `pipeline.process` setting;
    `delivery_concurrency` the outbox's `delivery.concurrency` (default: the daemon's);
    `directory_csv` replaces rules/directory.csv (realmix.py's people)."""
    if pipeline_process is not None:
        extra = f"pipeline: {{process: {pipeline_process}}}\n" + extra
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "rules", root / "rules", ignore=shutil.ignore_patterns("schema"),
                    dirs_exist_ok=True)
    if (REPO / "templates").is_dir():
        shutil.copytree(REPO / "templates", root / "templates", dirs_exist_ok=True)
    if directory_csv is not None:
        (root / "rules/directory.csv").write_text(directory_csv)
    path = root / "ticketgate.yaml"
    path.write_text(
        "instance: gate.bench.invalid\n"
        "smtp: {host: 127.0.0.1, port: 0}\n"
        f"database: {database}\n"
        "log_format: json\n"
        "delivery: {transport: maildir, maildir: var/maildir"
        + (f", concurrency: {delivery_concurrency}" if delivery_concurrency else "") + "}\n"
        + extra
    )
    return path


# Runs the ticketgate command after setting the interpreter's GIL switch interval (an
# experiment the daemon has no setting for).
_WITH_SWITCH_INTERVAL = ("import sys; sys.setswitchinterval(float(sys.argv.pop(1))); "
                         "from ticketgate.cli import main; sys.exit(main())")


def start_ticketgate(site: Path, *, spool_only: bool = False, timeout: float = 60.0,
                     switch_interval: float | None = None) -> Server:
    """`ticketgate serve --config <site>/ticketgate.yaml`, its log in <site>/serve.log."""
    config = site / "ticketgate.yaml"
    log = site / "serve.log"
    command = [sys.executable, "-m", "ticketgate.cli"]
    if switch_interval is not None:
        command = [sys.executable, "-c", _WITH_SWITCH_INTERVAL, str(switch_interval)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*command, "serve", "--config", str(config),
             *(["--spool-only"] if spool_only else [])],
            stdout=out, stderr=subprocess.STDOUT, cwd=site,
        )

    def find(text: str) -> int | None:
        for line in text.splitlines():
            if '"listening"' in line:
                event = json.loads(line)
                if event.get("protocol") == "smtp":
                    return int(event["port"])
        return None

    return Server("ticketgate", proc, _wait_for(proc, log, find, timeout, "ticketgate"), log,
                  site)


def start_pipeline_process(site: Path, *, timeout: float = 60.0) -> Server:
    """bench/pipeline_proc.py: the pipeline worker alone, in its own process."""
    log = site / "pipeline.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, str(BENCH / "pipeline_proc.py"), "--config",
             str(site / "ticketgate.yaml")], stdout=out, stderr=subprocess.STDOUT, cwd=site)

    def find(text: str) -> int | None:
        return 0 if "PIPELINE READY" in text else None  # no port: it does not listen

    return Server("pipeline", proc, _wait_for(proc, log, find, timeout, "pipeline"), log, site)


def database(site: Path) -> Path:
    return site / "var" / "ticketgate.db"


class SpoolProbe:
    """Reads the spool of a running ticketgate through its own read connection."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)

    def backlog(self) -> int:
        """Rows accepted but not yet through the pipeline (served by the spool_new index)."""
        return int(self.conn.execute("SELECT count(*) FROM spool WHERE state = 'new'")
                   .fetchone()[0])

    def outbox_pending(self) -> int:
        """Acknowledgements and notifications not yet delivered (the outbox_state index)."""
        try:
            return int(self.conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'")
                       .fetchone()[0])
        except sqlite3.Error:  # no outbox table yet
            return 0

    def counts(self) -> dict[str, int]:
        out = {f"spool_{state}": n for state, n in self.conn.execute(
            "SELECT state, count(*) FROM spool GROUP BY state")}
        for table in ("tickets", "messages", "events", "outbox"):
            with contextlib.suppress(sqlite3.Error):  # a table a later schema may not have
                out[table] = int(self.conn.execute(f"SELECT count(*) FROM {table}")
                                 .fetchone()[0])
        return out

    def close(self) -> None:
        self.conn.close()
