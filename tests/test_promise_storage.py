"""Promise: a storage fault never turns into a 250 without a commit, and the daemon recovers.

Three real faults under a running `ticketgate serve`:

- disk full: the database lives on a small tmpfs that a filler file fills up (needs root and
  mount(8); skipped with the reason otherwise);
- database locked: another process holds `BEGIN EXCLUSIVE` longer than the writer's
  busy_timeout (5 s);
- database file deleted (or replaced) under the daemon.

Each answers 451 4.3.0 (the MTA keeps the mail), logs one clear line, and leaves the daemon
serving. Recovery: for a full disk or a lock, as soon as the fault is gone, with no restart,
and mail spooled before the fault is processed once it can be. For a deleted database the
admin's fix is a restart: until then the running daemon refuses every mail rather than write
into a file nobody will find (it does not create a new one behind the admin's back); the
restart creates a fresh database (or opens the restored one) and takes mail again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import make_mail, run_cli, write_site
from integration_gate import need
from integration_helpers import Served
from promise_helpers import Wire, deliver, query, serve, wait_until
from ticketgate import exits


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs, a real file system that really fills up."""
    where = tmp_path / "disk"
    where.mkdir()
    need("mount", "umount", root=True, purpose="a real full disk: a small tmpfs")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)],
                          capture_output=True, timeout=30)
    if made.returncode != 0:
        pytest.skip(f"mount -t tmpfs not permitted here: {made.stderr.decode().strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True, timeout=30).returncode:
            subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill `disk` to the last byte, then give back `leave` bytes; returns the filler file."""
    filler = disk / "filler"
    chunk = b"\0" * (1 << 16)
    with filler.open("wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    with contextlib.suppress(OSError):  # a partly written last chunk may stay in the buffer
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def disk_site(root: Path, disk: Path) -> Path:
    site = write_site(root)
    site.write_text(site.read_text().replace("database: var/ticketgate.db",
                                             f"database: {disk / 'ticketgate.db'}"))
    return site


def events_with(daemon: Served, event: str, needle: str) -> list[dict[str, object]]:
    """The `event` log lines whose error names `needle`, waiting a little for the log pipe."""

    def found() -> list[dict[str, object]]:
        with daemon._changed:
            lines = [e for e in daemon.events if e.get("event") == event]
        return [e for e in lines if needle in str(e.get("error", "")).lower()]

    with contextlib.suppress(AssertionError):
        return wait_until(found, timeout=5, what=f"{event} naming {needle!r}")
    return []


def responsive(port: int) -> bool:
    """A new session is greeted and answers EHLO and NOOP at once."""
    started = time.monotonic()
    with Wire(port, timeout=3) as wire:
        ok = wire.greeting.code == 220 and wire.cmd(b"NOOP").code == 250
    return ok and time.monotonic() - started < 2.0


def inject_fails_temporarily(site: Path) -> bool:
    """`ticketgate inject` (an MTA's pipe transport) exits 75, EX_TEMPFAIL: the MTA retries."""
    done = run_cli(site, "inject", "--rcpt", "helpdesk@example.org", "--from",
                   "kim@example.org", stdin=big_mail("Via pipe", 100))
    assert done.returncode == exits.TEMPFAIL, (done.returncode, done.stderr)
    return b"temporary failure" in done.stderr


def big_mail(subject: str, kib: int = 200) -> bytes:
    line = "Skrivaren skriver ut tomma sidor och felkoden blinkar.\n"
    return make_mail(subject, line * (kib * 1024 // len(line)))


@pytest.mark.integration
def test_disk_full_answers_451_and_takes_mail_again_once_there_is_room(
    tmp_path: Path, small_disk: Path
) -> None:
    db = small_disk / "ticketgate.db"
    site = disk_site(tmp_path, small_disk)
    daemon = serve(site)
    try:
        port = daemon.ports("smtp")["smtp"]
        assert deliver(port, make_mail("Skrivaren i rum 2110")).code == 250
        wait_until(lambda: query(db, "SELECT count(*) FROM tickets")[0][0] == 1, timeout=20,
                   what="the first ticket")
        filler = fill(small_disk)
        refused = deliver(port, big_mail("Skärmen flimrar i hus B"))
        assert (refused.code, refused.text[:5]) == (451, b"4.3.0"), refused.line
        daemon.wait_for("spool_failed", timeout=5)
        assert events_with(daemon, "spool_failed", "full"), daemon.log()
        assert responsive(port)
        assert inject_fails_temporarily(site)
        filler.unlink()  # the admin makes room; no restart
        accepted = deliver(port, big_mail("Skärmen flimrar i hus B"))
        assert accepted.code == 250, accepted.line
        wait_until(lambda: query(db, "SELECT count(*) FROM tickets")[0][0] == 2, timeout=20,
                   what="the second ticket")
        assert query(db, "SELECT state, count(*) FROM spool GROUP BY state") == [("done", 2)]
        assert daemon.terminate(30) == 0
    finally:
        daemon.close()


def test_disk_full_while_processing_leaves_rows_new_and_processes_them_later(
    tmp_path: Path, small_disk: Path
) -> None:
    """Spooled mail whose tickets cannot be written is retried, never held, never lost."""
    db = small_disk / "ticketgate.db"
    site = disk_site(tmp_path, small_disk)
    spooling = subprocess.Popen(
        [sys.executable, "-m", "ticketgate.cli", "serve", "--spool-only", "--config", str(site)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = _port_from_log(spooling)
        for i in range(5):
            assert deliver(port, big_mail(f"Skrivare {i} skriver ut tomma sidor", 60)).code == 250
    finally:
        spooling.terminate()
        assert spooling.wait(30) == 0
    filler = fill(small_disk, leave=160 * 1024)  # room to open, not for five tickets
    daemon = serve(site)
    try:
        port = daemon.ports("smtp")["smtp"]
        wait_until(lambda: daemon.events and [e for e in daemon.events
                                              if e.get("event") == "apply_deferred"],
                   timeout=30, what="an apply deferred by the full disk")
        held = query(db, "SELECT count(*) FROM spool WHERE state = 'held'")[0][0]
        assert held == 0, "a full disk held messages instead of retrying them"
        assert responsive(port)
        filler.unlink()
        wait_until(lambda: query(db, "SELECT count(*) FROM spool WHERE state = 'done'")[0][0]
                   == 5, timeout=60, what="all five processed once there was room")
        assert query(db, "SELECT count(*) FROM tickets")[0][0] == 5
        assert query(db, "SELECT count(*) FROM spool WHERE state != 'done'")[0][0] == 0
        assert daemon.terminate(30) == 0
    finally:
        daemon.close()


def _port_from_log(proc: subprocess.Popen[bytes]) -> int:
    import json

    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if event.get("event") == "listening":
                return int(event["port"])
    raise AssertionError("the spool-only daemon did not start listening")


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()  # held until the test says so, however slow the machine
conn.execute("ROLLBACK")
"""


def test_database_locked_by_another_process_answers_451_then_recovers(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    db = tmp_path / "var/ticketgate.db"
    daemon = serve(site)
    try:
        port = daemon.ports("smtp")["smtp"]
        assert deliver(port, make_mail("Skrivaren i rum 2110")).code == 250
        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline() == b"locked\n"
            started = time.monotonic()
            refused = deliver(port, make_mail("Skärmen flimrar i hus B"))
            waited = time.monotonic() - started
            assert (refused.code, refused.text[:5]) == (451, b"4.3.0"), refused.line
            assert waited >= 4.5, f"451 after {waited:.1f} s, before the busy timeout"
            assert events_with(daemon, "spool_failed", "locked"), daemon.log()
            assert responsive(port)  # the event loop never waited for the lock
            assert inject_fails_temporarily(site)
        finally:
            holder.stdin.close()  # the other process commits nothing and lets go
            assert holder.wait(20) == 0
        accepted = deliver(port, make_mail("Skärmen flimrar i hus B"))
        assert accepted.code == 250, accepted.line
        wait_until(lambda: query(db, "SELECT count(*) FROM tickets")[0][0] == 2, timeout=30,
                   what="both tickets after the lock was released")
        assert query(db, "SELECT state, count(*) FROM spool GROUP BY state") == [("done", 2)]
        assert daemon.terminate(30) == 0
    finally:
        daemon.close()


@pytest.mark.parametrize("fault", ["deleted", "replaced"])
def test_database_file_deleted_refuses_until_restart(tmp_path: Path, fault: str) -> None:
    site = write_site(tmp_path)
    db = tmp_path / "var/ticketgate.db"
    daemon = serve(site)
    try:
        port = daemon.ports("smtp")["smtp"]
        assert deliver(port, make_mail("Skrivaren i rum 2110")).code == 250
        wait_until(lambda: query(db, "SELECT count(*) FROM tickets")[0][0] == 1, timeout=20,
                   what="the first ticket")
        if fault == "deleted":
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{db}{suffix}")
        else:  # a copy moved over it: the running writer's file is no longer the one on disk
            shutil.copy(db, tmp_path / "copy.db")
            os.replace(tmp_path / "copy.db", db)
        for attempt in range(3):  # every retry by the MTA is refused, not only the first
            refused = deliver(port, make_mail("Skärmen flimrar i hus B"))
            assert (refused.code, refused.text[:5]) == (451, b"4.3.0"), (attempt, refused.line)
        needle = "database file is gone" if fault == "deleted" else "replaced"
        assert events_with(daemon, "store_commit_failed", needle), daemon.log()
        if fault == "deleted":
            assert not db.exists(), "the running daemon made a new database behind the admin"
        assert responsive(port)
        assert daemon.terminate(30) == 0
    finally:
        daemon.close()
    daemon = serve(site)  # the admin's fix
    try:
        port = daemon.ports("smtp")["smtp"]
        accepted = deliver(port, make_mail("Skärmen flimrar i hus B"))
        assert accepted.code == 250, accepted.line
        subjects = wait_until(
            lambda: [s for (s,) in query(db, "SELECT subject FROM tickets")
                     if s == "Skärmen flimrar i hus B"],
            timeout=20, what="the retried mail as a ticket")
        assert len(subjects) == 1
        assert query(db, "SELECT count(*) FROM spool WHERE state != 'done'")[0][0] == 0
        assert daemon.terminate(30) == 0
    finally:
        daemon.close()
