"""`pipeline.process: separate`: the pipeline in a child process, and what parent and child share.

`serve` keeps SMTP/LMTP and the spool; one child (`ticketgate serve --pipeline-child FD
--pipeline-rules FD`) runs the pipeline worker, the outbox worker and the directory retry job
on the same database. Two pipes join them:

- wake: the parent writes one byte per spooled mail (never blocking: a full pipe already
  means "wake up"); the child counts them to see a burst (Arrivals). Closing it is the
  orderly stop: the child works through what is queued, then exits.
- rules: the parent sends its settings and the rules it has accepted, pickled, at each start
  of a child, and the rules again after each successful reload. The child reads neither the
  settings file nor the rules files, so a child restarted after the admin saved a broken one
  runs what the parent runs (settings change only with a restart of `serve`).

The parent restarts a child that dies, with a backoff. Rows the child has not processed stay
`new` and are taken up by the next child; apply's claim check keeps that exactly-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

import structlog

from .config import Settings
from .rules import Rules

log = structlog.get_logger("ticketgate.pipelineproc")

MAX_BACKOFF = 30.0


class Arrivals:
    """The child's view of how fast mail is arriving: the parent writes one byte per spooled mail.

    `burst()` is true while more than `threshold` mails came in the last `window` seconds, a
    rate above what the pipeline processes anyway. Only then does the child give way to the
    listener (short write transactions, pauses): a burst is taken in at the listener's speed
    and worked off after it, while a steady stream the pipeline can follow gets its full speed.
    The default, 600 a second, is below the ~700 a second the pipeline does on the 2-core
    development machine (BENCHMARKS.md, session 3): a threshold below the stream the child
    could follow made it give way to a listener that had CPU to spare, and fall behind.
    """

    def __init__(self, window: float = 0.1, threshold: int = 60) -> None:
        self.window = window
        self.threshold = threshold
        self._seen: deque[tuple[float, int]] = deque()
        self._count = 0
        self._lock = threading.Lock()  # added to on the event loop, asked from the threads

    def add(self, mails: int) -> None:
        with self._lock:
            self._seen.append((time.monotonic(), mails))
            self._count += mails

    def burst(self) -> bool:
        with self._lock:
            horizon = time.monotonic() - self.window
            while self._seen and self._seen[0][0] < horizon:
                self._count -= self._seen.popleft()[1]
            return self._count > self.threshold


def give_way(arrivals: Arrivals, lag: Callable[[], float], max_lag: float) -> Callable[[], bool]:
    """When the child gives way to the listener: during a burst, but not once the mail it is
    working on has waited `max_lag` seconds. A flood that lasts that long is no burst, and
    tickets then matter more than a faster 250: the backlog stops growing faster."""

    def yielding() -> bool:
        return lag() < max_lag and arrivals.burst()

    return yielding


_LENGTH = struct.Struct("!Q")


def frame(value: Settings | Rules) -> bytes:
    """`value` as one length-prefixed frame for the rules pipe."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def rules_frame(rules: Rules) -> bytes:
    """`rules` as one frame for the rules pipe."""
    return frame(rules)


class RulesReader:
    """The child's end of the rules pipe: bytes in, the settings first, then whole Rules."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def _frames(self) -> list[object]:
        out: list[object] = []
        while len(self._buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._buffer)
            if len(self._buffer) < _LENGTH.size + size:
                break
            body = bytes(self._buffer[_LENGTH.size:_LENGTH.size + size])
            del self._buffer[:_LENGTH.size + size]
            # Written by our own parent on a pipe only the two share.
            out.append(pickle.loads(body))
        return out

    def feed(self, data: bytes) -> list[Rules]:
        self._buffer += data
        out = self._frames()
        if not all(isinstance(r, Rules) for r in out):
            raise RuntimeError("the rules pipe carried something other than rules")
        return out  # type: ignore[return-value]

    def _fill(self, fd: int, size: int) -> None:
        """Read until the buffer holds `size` bytes, and not one more."""
        while len(self._buffer) < size:
            data = os.read(fd, size - len(self._buffer))
            if not data:
                raise RuntimeError("the parent closed the rules pipe before sending settings")
            self._buffer += data

    def settings(self, fd: int) -> Settings:
        """Block until the settings, the pipe's first frame, arrive on `fd` (the child's start).
        Nothing after that frame is read: the rules follow with `first`."""
        self._fill(fd, _LENGTH.size)
        self._fill(fd, _LENGTH.size + _LENGTH.unpack_from(self._buffer)[0])
        (value,) = self._frames()
        if not isinstance(value, Settings):
            raise RuntimeError("the rules pipe did not start with the settings")
        return value

    def first(self, fd: int) -> Rules:
        """Block until rules arrive on `fd` (the child's start); the newest if several did.
        Bytes of a frame still on the way stay here for `feed`."""
        newest: Rules | None = None
        while newest is None or select.select([fd], [], [], 0)[0]:
            data = os.read(fd, 65536)
            if not data:
                if newest is not None:
                    return newest
                raise RuntimeError("the parent closed the rules pipe before sending rules")
            got = self.feed(data)
            if got:
                newest = got[-1]
        return newest


_PARENT_ENV = "TICKETGATE_PIPELINE_PARENT"


def die_with_parent() -> bool:
    """In the child: be killed (SIGKILL) when the parent dies, as a whole systemd unit is.

    A parent that crashed must not leave a child finishing deliveries beside the next
    parent's child: both would send the same pending acknowledgements. An orderly stop
    closes the wake pipe with the parent still alive instead. False when the parent is
    already gone (then exit) or the kernel refused (then the closed pipe still stops it).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        if libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("pipeline_child_pdeathsig_refused", errno=ctypes.get_errno())
    except (OSError, AttributeError) as exc:
        log.warning("pipeline_child_pdeathsig_refused", error=str(exc))
    # The parent may have died before prctl: then we were already handed to a reaper.
    return os.environ.get(_PARENT_ENV) in (None, str(os.getppid()))


def _write_all(fd: int, data: bytes, lock: threading.Lock) -> None:
    with lock:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BrokenPipeError:  # that child is gone; its successor gets its own pipe
                return


class PipelineChild:
    def __init__(self, settings: Settings, rules: Callable[[], Rules]) -> None:
        self.settings = settings
        self.rules = rules
        self.proc: subprocess.Popen[bytes] | None = None
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._rules_fd: int | None = None  # the write end of the current child's rules pipe
        self._rules_lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def command(self, rules_fd: int) -> list[str]:
        # No --config: the settings come over the rules pipe, as the parent read them.
        return [sys.executable, "-m", "ticketgate.cli", "serve", "--pipeline-child",
                str(self._read_fd), "--pipeline-rules", str(rules_fd)]

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}  # the parent's
        env[_PARENT_ENV] = str(os.getpid())
        child_end, ours = os.pipe()
        try:
            proc = subprocess.Popen(self.command(child_end), pass_fds=(self._read_fd, child_end),
                                    env=env)
        except BaseException:
            os.close(ours)
            raise
        finally:
            os.close(child_end)
        if self._rules_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._rules_fd)
        self._rules_fd = ours
        self._send(frame(self.settings) + rules_frame(self.rules()))
        log.info("pipeline_child_started", pid=proc.pid)
        return proc

    def send_rules(self, rules: Rules) -> None:
        """Hand `rules` to the running child (in a thread: the frame may exceed a pipe's buffer)."""
        self._send(rules_frame(rules))

    def _send(self, data: bytes) -> None:
        fd = self._rules_fd
        if fd is None:
            return
        threading.Thread(target=_write_all, args=(fd, data, self._rules_lock),
                         name="ticketgate-rules-send", daemon=True).start()

    def start(self) -> None:
        self.proc = self._spawn()
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def _supervise(self) -> None:
        backoff = 1.0
        while True:
            proc = self.proc
            assert proc is not None
            started = time.monotonic()
            while proc.poll() is None:
                await asyncio.sleep(0.2)
            if self._stopping:
                return
            if time.monotonic() - started > 60:
                backoff = 1.0
            log.error("pipeline_child_died", pid=proc.pid, returncode=proc.returncode,
                      restart_in=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            if self._stopping:
                return
            self.proc = self._spawn()
            self.wake()  # whatever was spooled meanwhile

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # full: the child has a wake-up pending
            os.write(self._write_fd, b"\0")

    async def stop(self, grace: float = 30.0) -> None:
        """Close the wake pipe (the child finishes what is queued and exits); after `grace`
        seconds SIGTERM, then SIGKILL."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        os.close(self._write_fd)
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                await asyncio.to_thread(proc.wait, grace)
            except subprocess.TimeoutExpired:
                log.warning("pipeline_child_terminated", pid=proc.pid, after=grace)
                proc.terminate()
                try:
                    await asyncio.to_thread(proc.wait, 10.0)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    await asyncio.to_thread(proc.wait)
        if proc is not None:
            log.info("pipeline_child_stopped", pid=proc.pid, returncode=proc.returncode)
        os.close(self._read_fd)
        if self._rules_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._rules_fd)
