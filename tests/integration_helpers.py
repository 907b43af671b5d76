"""Real processes for integration tests: `ticketgate serve`, a private Postfix, a notify socket.

Everything here is bounded by timeouts and cleans up after itself, so a failing test leaves
no daemon or Postfix master behind.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A loopback port nobody listens on right now (bind to 0, read it, let it go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], T], *, timeout: float, what: str,
               interval: float = 0.2, detail: Callable[[], str] = lambda: "") -> T:
    """Poll `check` until it returns something truthy; fail with `what` (and `detail()`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{detail()}")
        time.sleep(interval)


def query(database: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Read the daemon's database from outside, as an admin's SQLite tool would."""
    if not database.exists():
        return []
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as conn:
        return conn.execute(sql, tuple(params)).fetchall()


class Served:
    """`ticketgate serve` as a child process; its JSON log lines (stderr) are collected.

    `prefix` runs the daemon under a wrapper (e.g. `unshare`) that must exec it, so that
    signals sent to `proc` reach the daemon itself.
    """

    def __init__(
        self,
        site: Path,
        *,
        env: Mapping[str, str] | None = None,
        prefix: Sequence[str] = (),
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "ticketgate.cli", "serve", "--config", str(site)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})}, preexec_fn=preexec_fn,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            with self._changed:
                self.lines.append(line)
                if isinstance(event, dict):
                    self.events.append(event)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def log(self, last: int = 60) -> str:
        with self._changed:
            return "\n".join(self.lines[-last:])

    def wait_for(self, event: str, *, count: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        """The first `count` log events named `event`; fail if the daemon exits first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [e for e in self.events if e.get("event") == event]
                if len(found) >= count:
                    return found[:count]
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(
                        f"ticketgate exited ({self.proc.returncode}) before {event!r}:\n"
                        + "\n".join(self.lines[-60:]))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {event!r} from ticketgate within {timeout} s:\n"
                                         + "\n".join(self.lines[-60:]))
                self._changed.wait(min(left, 0.5))

    def ports(self, *protocols: str, timeout: float = 30) -> dict[str, int]:
        """Where the listeners ended up (the site asks for port 0), from the `listening` log."""
        events = self.wait_for("listening", count=len(protocols), timeout=timeout)
        return {e["protocol"]: int(e["port"]) for e in events}

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, as systemd stops the service; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NotifySocket:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.received: list[str] = []

    def wait_for(self, line: str, *, timeout: float = 30) -> None:
        """Collect notifications until one of them has `line` (e.g. "READY=1") among its lines."""
        deadline = time.monotonic() + timeout
        while not any(line in message.splitlines() for message in self.received):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {line} on the notify socket within {timeout} s; "
                                     f"got {self.received}")
            self.sock.settimeout(left)
            with contextlib.suppress(TimeoutError):
                self.received.append(self.sock.recv(4096).decode())

    def close(self) -> None:
        self.sock.close()


# A master.cf with only the services this test needs, none chrooted (a chroot would need
# copies of /etc files in the queue directory).
_MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
smtp       unix  - - n -  - smtp
relay      unix  - - n -  - smtp
lmtp       unix  - - n -  - lmtp
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
virtual    unix  - n n -  - virtual
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
"""

# Mailboxes are written by virtual(8) as this uid (it refuses root); nobody on Debian.
MAILBOX_UID = 65534


class Postfix:
    """A private Postfix: main.cf, master.cf, queue, log and mailboxes under one temp dir.

    Its smtpd listens on 127.0.0.1:`port` only. `main` adds to (or overrides) main.cf;
    `tables` are written as files under etc/ and may be named in `main` as
    `texthash:{etc}/NAME` (texthash needs no postmap).
    """

    def __init__(self, *, port: int, main: Mapping[str, str], tables: Mapping[str, str]) -> None:
        # Not under pytest's tmp_path: its parents are mode 0700, and virtual(8) delivers
        # into the mailboxes as an unprivileged user.
        self.root = Path(tempfile.mkdtemp(prefix="ticketgate-postfix-"))
        self.root.chmod(0o755)
        self.port = port
        self.etc = self.root / "etc"
        self.mail = self.root / "mail"
        self.maillog_file = self.root / "maillog"
        for d in (self.etc, self.root / "queue", self.root / "data", self.mail):
            d.mkdir()
        shutil.chown(self.root / "data", "postfix")
        os.chown(self.mail, MAILBOX_UID, MAILBOX_UID)
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": f"{self.root}/queue",
            "data_directory": f"{self.root}/data",
            "maillog_file": str(self.maillog_file),  # there is no syslog in a container
            "maillog_file_prefixes": str(self.root),
            "myhostname": "mx.test.invalid",
            "mydomain": "test.invalid",
            "myorigin": "$myhostname",
            "mydestination": "",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "smtp_connect_timeout": "5s",
            "lmtp_connect_timeout": "5s",
            "virtual_mailbox_base": str(self.mail),
            "virtual_uid_maps": f"static:{MAILBOX_UID}",
            "virtual_gid_maps": f"static:{MAILBOX_UID}",
        }
        settings.update({k: v.format(etc=self.etc) for k, v in main.items()})
        (self.etc / "main.cf").write_text(
            "".join(f"{k} = {v}\n" for k, v in settings.items()))
        (self.etc / "master.cf").write_text(_MASTER_CF.format(listen=f"127.0.0.1:{port}"))
        for name, text in tables.items():
            (self.etc / name).write_text(text)
        self.running = False

    def add_services(self, entries: str) -> None:
        """Append master.cf entries (before start)."""
        with (self.etc / "master.cf").open("a") as f:
            f.write(entries)

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)

    def start(self, timeout: float = 30) -> None:
        out = self._run("postfix", "-c", str(self.etc), "start")
        if out.returncode != 0:
            raise AssertionError(f"postfix start failed: {out.stdout}{out.stderr}\n"
                                 f"{self.maillog()}")
        self.running = True
        wait_until(self._accepts, timeout=timeout, what=f"Postfix on port {self.port}",
                   detail=self.maillog)

    def _accepts(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        out = self._run("postfix", "-c", str(self.etc), "stop")
        if out.returncode != 0:
            self._run("postfix", "-c", str(self.etc), "abort")
        self._kill_master()

    def _kill_master(self) -> None:
        # `postfix stop` returns before the master is gone; make sure it is, by its pid file.
        pid_file = self.root / "queue/pid/master.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().split()[0])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def maillog(self) -> str:
        try:
            return self.maillog_file.read_text(errors="replace")
        except OSError:
            return "(no maillog)"

    def queue(self) -> list[dict[str, Any]]:
        """The mail queue as `postqueue -j` reports it: one dict per queued message."""
        out = self._run("postqueue", "-c", str(self.etc), "-j", timeout=30)
        assert out.returncode == 0, out.stderr
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def flush(self) -> None:
        """Deliver deferred mail now, whatever its backoff."""
        out = self._run("postqueue", "-c", str(self.etc), "-f", timeout=30)
        assert out.returncode == 0, out.stderr

    def mailbox(self, name: str) -> list[EmailMessage]:
        """The mails virtual(8) delivered into the Maildir `name/` (oldest first)."""
        base = self.mail / name
        files = sorted((p for sub in ("new", "cur") for p in (base / sub).glob("*")),
                       key=lambda p: p.stat().st_mtime_ns)
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in files]  # type: ignore[misc]


@contextlib.contextmanager
def held_write_lock(database: Path) -> Iterator[sqlite3.Connection]:
    """Hold SQLite's write lock from another process's point of view: the daemon's writer
    waits its busy timeout, its commit fails, and the SMTP/LMTP answer is 451."""
    conn = sqlite3.connect(database, isolation_level=None, timeout=10)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield conn
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        conn.close()


_BRIDGE_SH = """\
#!/bin/sh
# Stands in for the ticketgate executable in a pipe(8) transport: hands its arguments and
# the message to the test, waits for the real command's exit code and output, passes them on.
d="{dir}"; id="$$.$(date +%s%N)"
cat > "$d/$id.msg" || exit 75
printf '%s\\n' "$@" > "$d/$id.tmp" && mv "$d/$id.tmp" "$d/$id.argv" || exit 75
n=0
while [ ! -e "$d/$id.rc" ]; do
    n=$((n + 1)); [ "$n" -gt 1200 ] && exit 75
    sleep 0.1
done
cat "$d/$id.out"; rc=$(cat "$d/$id.rc"); rm -f "$d/$id".*; exit "$rc"
"""


class PipeBridge:
    """Runs a pipe(8) transport's command as root on the pipe's behalf.

    pipe(8) refuses to run commands as root, and an unprivileged user may not reach this
    test's Python (pyenv under /root, say). So the transport runs `/bin/sh SCRIPT ARGS...`
    as `user`; the script hands ARGS and the message over, and a thread here runs
    `command + ARGS` with the message on stdin and returns its exit code and output. Only the
    change of user is bridged: arguments, input and exit code are the real ones.
    """

    def __init__(self, root: Path, command: Sequence[str], *, user: int = MAILBOX_UID) -> None:
        self.dir = root / "pipe-bridge"
        self.dir.mkdir(mode=0o700)
        os.chown(self.dir, user, user)
        self.script = root / "pipe-bridge.sh"
        self.script.write_text(_BRIDGE_SH.format(dir=self.dir))
        self.script.chmod(0o755)
        self.command = list(command)
        self.calls: list[tuple[list[str], int]] = []
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.wait(0.1):
            for argv_file in sorted(self.dir.glob("*.argv")):
                call = argv_file.name.removesuffix(".argv")
                if call not in self._seen:
                    self._seen.add(call)
                    self._run(call, argv_file.read_text().splitlines())

    def _run(self, call: str, args: list[str]) -> None:
        try:
            out = subprocess.run([*self.command, *args],
                                 input=(self.dir / f"{call}.msg").read_bytes(),
                                 capture_output=True, timeout=120)
            rc, output = out.returncode, out.stdout + out.stderr
        except subprocess.TimeoutExpired:
            rc, output = 75, b"timed out\n"
        self.calls.append((args, rc))
        (self.dir / f"{call}.out").write_bytes(output[-2000:])
        (self.dir / f"{call}.rc.tmp").write_text(str(rc))
        (self.dir / f"{call}.rc.tmp").rename(self.dir / f"{call}.rc")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(130)
