"""The running daemon: store, pipeline worker and SMTP/LMTP listeners, with reload and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import signal
import threading
from dataclasses import dataclass

import structlog

from . import metrics, wakeup
from .apply import ApplyOptions
from .config import Settings
from .directory import EXTRAS_KEY, open_directory
from .directory.retry import RetryJob
from .notify import sd_notify
from .outbox.compose import composer
from .outbox.worker import OutboxWorker
from .pipelineproc import Arrivals, PipelineChild, RulesReader, give_way
from .reloadanswer import ReloadAnswer, answer_path, write_answer
from .rules import Rules, load_rules
from .smtp import Sessions, SpoolHandler, start_server
from .store import Store
from .worker import Worker
from .yamlsource import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .web.server import Running as DeskServer

log = structlog.get_logger("ticketgate.daemon")

CHILD_NICENESS = 10
CHILD_MAX_LAG = 30.0  # seconds a spooled mail may wait before the child stops giving way


class ListenError(Exception):
    """A listener could not be opened (the address is busy, or not ours to bind)."""

    def __init__(self, protocol: str, host: str, port: int, error: OSError) -> None:
        self.protocol, self.host, self.port, self.errno = protocol, host, port, error.errno
        # asyncio words strerror as a whole sentence with the address; the plain reason reads
        # better after ours.
        reason = os.strerror(error.errno) if error.errno else str(error)
        super().__init__(f"cannot listen for {protocol.upper()} on {host}:{port}: {reason}")

    @property
    def busy(self) -> bool:
        return self.errno == errno.EADDRINUSE


def not_fully_qualified(instance: str) -> str | None:
    """Why `instance` is no fully qualified domain name (None when it is one). Our
    Message-IDs end in @instance: `localhost` or a bare host name makes them collide with
    other sites' and look like spam to filters."""
    name = instance.rstrip(".").lower()
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(name.strip("[]"))
        return "is an IP address"
    if "." not in name:
        return "has no domain"
    last = name.rsplit(".", 1)[1]
    if last in ("localhost", "localdomain", "local"):
        return f"ends in .{last}"
    return None


def _summary(rules: Rules) -> str:
    return (f"{len(rules.queues)} queues, {len(rules.function_addresses)} function addresses, "
            f"{len(rules.routes.rules)} routes")


@dataclass(frozen=True)
class Bound:
    """Where a listener ended up (port 0 in the settings picks a free port)."""

    protocol: str
    host: str
    port: int


class Daemon:
    """Composes the parts; `run()` serves until SIGTERM/SIGINT, SIGHUP reloads the rules."""

    def __init__(
        self, settings: Settings, *, shutdown_grace: float = 30.0, spool_only: bool = False,
        rules: Rules | None = None,  # given to a pipeline child by its parent
    ) -> None:
        self.settings = settings
        self.spool_only = spool_only
        self.shutdown_grace = shutdown_grace
        self._rules: Rules = (
            rules if rules is not None else load_rules(settings.rules_dir, settings.templates_dir)
        )
        self.store = Store(settings.database)
        self.outbox = OutboxWorker(self.store, settings)
        self.composer = composer(settings, self.rules, on_queued=self.outbox.wake_after_commit)
        self.directory = open_directory(settings)  # None when off; the worker's stage asks it
        self.directory_retry = (
            RetryJob(self.store, settings, self.directory) if self.directory else None
        )
        extras = {EXTRAS_KEY: self.directory} if self.directory else {}
        self.worker = Worker(self.store, settings, self.rules, self.apply_options, extras)
        # Tickets first: while the worker has spool rows left, the outbox starts no delivery
        # (bounded by outbox.worker.MAX_HOLD), and the end of the backlog wakes it. Both run
        # in this process whether the pipeline is inline or in the child.
        self.outbox.holding = lambda: self.worker.backlog
        self.worker.on_drained = self.outbox.wake
        self.sessions = Sessions(settings.max_connections, settings.connections)
        self.servers: list[asyncio.Server] = []
        self.bound: list[Bound] = []
        self._stop: asyncio.Event | None = None
        self.ready = threading.Event()
        self.metrics_address: tuple[str, int] | None = None  # where /metrics is served, if on
        self._doorbell: int | None = None  # the FIFO `inject` rings (wakeup.py)
        self.desk: DeskServer | None = None  # the staff desk (web/), when `web:` is set
        # pipeline.process: separate -> worker, outbox and retry job run in a child process
        self.child = (
            PipelineChild(settings, self.rules)
            if settings.pipeline.process == "separate" and not spool_only else None
        )

    def rules(self) -> Rules:
        return self._rules

    def apply_options(self) -> ApplyOptions:
        return ApplyOptions(after=(self.composer,))

    def reload(self) -> bool:
        """Load the rules again; invalid new rules are refused and the old ones kept. The
        answer also goes to a file for `ticketgate reload` (reloadanswer.py)."""
        try:
            rules = load_rules(self.settings.rules_dir, self.settings.templates_dir)
        except ConfigError as exc:
            for error in exc.errors:
                log.error("reload_refused", error=str(error))
            self._answer(ReloadAnswer(os.getpid(), False, tuple(str(e) for e in exc.errors)))
            return False
        self._rules = rules
        log.info("rules_reloaded", queues=len(rules.queues))
        self._answer(ReloadAnswer(os.getpid(), True, summary=_summary(rules)))
        return True

    def _answer(self, answer: ReloadAnswer) -> None:
        path = answer_path(self.settings.pid_file)
        try:
            write_answer(path, answer)
        except OSError as exc:  # `ticketgate reload` then says it got no answer
            log.warning("reload_answer_not_written", path=str(path), error=str(exc))

    def _reload_all(self) -> None:
        if self.reload() and self.child is not None:
            self.child.send_rules(self._rules)  # the child never reads the files itself

    def _wake_pipeline(self, _spool_id: int) -> None:
        if self.child is not None:
            self.child.wake()
        else:
            self.worker.wake()

    def _open_doorbell(self) -> None:
        """Listen on the FIFO `inject` rings, so a piped mail is processed at once."""
        path = str(self.settings.wake_path)
        try:
            fd = wakeup.listen(path)
        except OSError as exc:  # the idle check (1 s) still finds injected mail
            log.warning("doorbell_not_opened", path=path, error=str(exc))
            return
        self._doorbell = fd
        asyncio.get_running_loop().add_reader(fd, self._doorbell_rang)

    def _doorbell_rang(self) -> None:
        if self._doorbell is not None and wakeup.rung(self._doorbell):
            self._wake_pipeline(0)

    def _close_doorbell(self) -> None:
        if self._doorbell is not None:
            asyncio.get_running_loop().remove_reader(self._doorbell)
            os.close(self._doorbell)
            self._doorbell = None

    async def _start_pipeline(self) -> None:
        self.worker.start()
        if self.directory_retry is not None:
            self.directory_retry.start()
        await self.outbox.start()

    async def _stop_pipeline(self) -> None:
        await asyncio.to_thread(self.worker.stop)
        if self.directory_retry is not None:
            await asyncio.to_thread(self.directory_retry.stop)
        await self.outbox.stop(grace=min(5.0, self.shutdown_grace))

    async def start(self) -> None:
        why = not_fully_qualified(self.settings.instance)
        if why:
            log.warning("instance_not_fully_qualified", instance=self.settings.instance,
                        detail=f"the instance name {why}: Message-IDs end in "
                               f"@{self.settings.instance}; set `instance:` in the settings "
                               "to this host's fully qualified domain name")
        self.store.open()
        if self.spool_only:
            log.warning("spool_only", detail="accepting and spooling mail; the pipeline is off")
        elif self.child is not None:
            self.child.start()
        else:
            await self._start_pipeline()  # with the pipeline: --spool-only sends nothing either
        self.metrics_address = metrics.start(self.settings.metrics)
        if not self.spool_only:
            self._open_doorbell()
        listeners = [("smtp", self.settings.smtp), ("lmtp", self.settings.lmtp)]
        for protocol, listener in listeners:
            if listener is None:
                continue
            handler = SpoolHandler(
                settings=self.settings,
                rules=self.rules,
                store=self.store,
                on_spooled=self._wake_pipeline,
                protocol=protocol,
            )
            try:
                server = await start_server(
                    protocol=protocol, listener=listener, handler=handler,
                    settings=self.settings, sessions=self.sessions,
                )
            except OSError as exc:
                log.error("listen_failed", protocol=protocol, host=listener.host,
                          port=listener.port, error=str(exc))
                raise ListenError(protocol, listener.host, listener.port, exc) from exc
            self.servers.append(server)
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                self.bound.append(Bound(protocol, host, port))
                log.info("listening", protocol=protocol, host=host, port=port)
        await self._start_desk()
        self._write_pid()
        sd_notify("READY=1")
        self.ready.set()

    async def _start_desk(self) -> None:
        """The staff desk in this process's event loop, on the parent's store (its views
        read in worker threads; its writes go through the same writer)."""
        web = self.settings.web
        if web is None:
            return
        from .web.app import create_app, desk_for
        from .web.server import Running as DeskServer

        app = create_app(desk_for(self.settings, self.rules, self.store.view, self.store.writer))
        try:
            self.desk = DeskServer(app, web)
        except OSError as exc:
            log.error("listen_failed", protocol="web", host=web.listener.host,
                      port=web.listener.port, error=str(exc))
            raise ListenError("web", web.listener.host, web.listener.port, exc) from exc
        await self.desk.start()
        host, port = self.desk.address
        self.bound.append(Bound("web", host, port))
        log.info("listening", protocol="web", host=host, port=port)

    def _write_pid(self) -> None:
        try:
            self.settings.pid_file.write_text(f"{os.getpid()}\n")
        except OSError as exc:  # e.g. a read-only state directory: reload still works by signal
            log.warning("pid_file_not_written", path=str(self.settings.pid_file), error=str(exc))

    async def run(self) -> None:
        """Serve until stopped; install signal handlers when on the main thread."""
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            loop.add_signal_handler(signal.SIGTERM, self._stop.set)
            loop.add_signal_handler(signal.SIGINT, self._stop.set)
            loop.add_signal_handler(signal.SIGHUP, self._reload_all)
        try:
            await self.start()
        except ListenError:
            await self.shutdown()  # the child, the store and any listener already open
            raise
        await self._stop.wait()
        await self.shutdown()

    def request_stop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Thread-safe stop, for tests that run the daemon in a thread."""
        if self._stop is not None:
            loop.call_soon_threadsafe(self._stop.set)

    async def shutdown(self) -> None:
        """Refuse new sessions with 421, let those in flight finish, flush the writer."""
        sd_notify("STOPPING=1")
        log.info("shutting_down", sessions=self.sessions.active)
        self.sessions.draining = True
        finished = await self.sessions.wait_idle(self.shutdown_grace)
        if not finished:
            log.warning("sessions_cut_off", sessions=self.sessions.active)
        for server in self.servers:
            server.close()
        if self.desk is not None:
            await self.desk.stop()
            self.desk = None
        self._close_doorbell()
        if not self.spool_only and self.child is None:
            # Finish what was accepted while the last sessions ran, within the grace time;
            # anything left stays `new` and is processed at the next start.
            await asyncio.to_thread(self.worker.wait_idle, min(10.0, self.shutdown_grace))
        for server in self.servers:
            await server.wait_closed() if finished else None
        if self.child is not None:
            await self.child.stop(grace=max(30.0, self.shutdown_grace))
        elif not self.spool_only:
            await self._stop_pipeline()
        await asyncio.to_thread(self.store.close)
        if self.directory is not None:
            await asyncio.to_thread(self.directory.close)
        with contextlib.suppress(OSError):
            if self.settings.pid_file.read_text().strip() == str(os.getpid()):
                self.settings.pid_file.unlink()
        metrics.stop()
        log.info("stopped")

    async def run_pipeline_child(self, wake_fd: int, rules_fd: int, reader: RulesReader) -> None:
        """The child of `pipeline.process: separate`: worker, outbox and retry job, no listener.

        Woken through `wake_fd` (end of file: the parent stops or is gone, so finish what is
        queued, up to 10 s, and stop); new rules arrive on `rules_fd` (pipelineproc.py).
        SIGTERM (systemd signals the whole unit) does the same as end of file; SIGINT (a
        terminal's ^C) and SIGHUP are the parent's.
        """
        self._stop = stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        os.set_blocking(wake_fd, False)
        os.set_blocking(rules_fd, False)

        def rules_arrived() -> None:
            try:
                data = os.read(rules_fd, 65536)
            except BlockingIOError:
                return
            if not data:
                loop.remove_reader(rules_fd)
                return
            for rules in reader.feed(data):
                self._rules = rules
                log.info("rules_reloaded", queues=len(rules.queues))

        arrivals = Arrivals()

        def woken() -> None:
            try:
                data = os.read(wake_fd, 4096)
            except BlockingIOError:
                return
            if data:
                arrivals.add(len(data))
                self.worker.wake()
            else:
                log.info("pipeline_stop_requested")  # the parent stops, or died
                loop.remove_reader(wake_fd)
                stop.set()

        # The listener's spool commits are what senders wait for. During a burst the child
        # keeps its write transactions short and pauses between them, so the parent's inserts
        # get the write lock, and it always runs at a lower CPU priority: the pipeline catches
        # up after a burst rather than slowing the burst down (BENCHMARKS.md).
        yielding = give_way(arrivals, lambda: self.worker.lag, CHILD_MAX_LAG)
        self.store.writer.yielding = self.worker.yielding = yielding
        try:
            os.nice(CHILD_NICENESS)
        except OSError as exc:  # e.g. the systemd unit's SystemCallFilter=~@resources
            log.info("pipeline_child_priority_unchanged", error=str(exc))
        self.store.open()
        await self._start_pipeline()
        loop.add_reader(wake_fd, woken)
        loop.add_reader(rules_fd, rules_arrived)
        log.info("pipeline_child_ready", pid=os.getpid())
        await stop.wait()
        loop.remove_reader(wake_fd)
        loop.remove_reader(rules_fd)
        await asyncio.to_thread(self.worker.wait_idle, min(10.0, self.shutdown_grace))
        await self._stop_pipeline()
        await asyncio.to_thread(self.store.close)
        if self.directory is not None:
            await asyncio.to_thread(self.directory.close)
        log.info("pipeline_child_stopped")
