"""`pipeline.process: separate`: the parent's side of the pipeline child process.

`serve` keeps SMTP/LMTP and the spool; one child (`ticketgate serve --pipeline-child FD`)
runs the pipeline worker, the outbox worker and the directory retry job on the same
database. The parent wakes the child through a pipe after each spool commit (one byte,
never blocking: a full pipe already means "wake up"), forwards SIGHUP, restarts the child
with a backoff if it dies, and stops it at shutdown. Rows the child has not processed stay
`new` and are taken up by the next child; apply's claim check keeps that exactly-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import structlog

log = structlog.get_logger("ticketgate.pipelineproc")

MAX_BACKOFF = 30.0


class PipelineChild:
    def __init__(self, config: Path | None) -> None:
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "ticketgate.cli", "serve", "--pipeline-child",
               str(self._read_fd)]
        return cmd + (["--config", str(self.config)] if self.config else [])

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}  # the parent's
        proc = subprocess.Popen(self.command(), pass_fds=(self._read_fd,), env=env)
        log.info("pipeline_child_started", pid=proc.pid)
        return proc

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

    def reload(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)

    async def stop(self, grace: float = 30.0) -> None:
        """SIGTERM the child and wait for it, at most `grace` seconds, then SIGKILL."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                await asyncio.to_thread(proc.wait, grace)
            except subprocess.TimeoutExpired:
                log.warning("pipeline_child_killed", pid=proc.pid, after=grace)
                proc.kill()
                await asyncio.to_thread(proc.wait)
        if proc is not None:
            log.info("pipeline_child_stopped", pid=proc.pid, returncode=proc.returncode)
        os.close(self._write_fd)
        os.close(self._read_fd)
