"""Shared fixtures: a site (settings + rules in a temp dir), a daemon on an ephemeral port."""

from __future__ import annotations

import asyncio
import email.policy
import os
import shutil
import smtplib
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from integration_gate import pytest_runtest_makereport  # noqa: F401  (the CI skip gate)
from ticketgate.config import Settings, load_settings
from ticketgate.daemon import Daemon

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"
DATASETS = SHARED / "datasets"


@pytest.fixture(autouse=True, scope="session")
def _inject_memos(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`inject` remembers checked settings under $XDG_CACHE_HOME (injectcache.py): keep the
    tests' memos out of the home directory."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


def write_site(root: Path, extra: str = "") -> Path:
    """Settings on ephemeral ports with everything under `root`; returns the settings file."""
    shutil.copytree(REPO / "rules", root / "rules", symlinks=False,
                    ignore=shutil.ignore_patterns("schema"))
    if (REPO / "templates").is_dir():
        shutil.copytree(REPO / "templates", root / "templates")
    path = root / "ticketgate.yaml"
    path.write_text(
        "instance: gate.test.invalid\n"
        "smtp: {host: 127.0.0.1, port: 0}\n"
        "database: var/ticketgate.db\n"
        "log_format: json\n"
        "delivery: {transport: maildir, maildir: var/maildir}\n" + extra
    )
    return path


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return write_site(tmp_path)


@pytest.fixture
def settings(site: Path) -> Settings:
    return load_settings(site)


class Running:
    """A Daemon serving in a background thread with its own event loop."""

    def __init__(self, settings: Settings) -> None:
        # In-process tests wait on the worker thread itself (drain), so the pipeline runs
        # inline here; daemons started as processes (start_serve) run the default, a child.
        if settings.pipeline.process != "inline":
            settings = replace(settings, pipeline=replace(settings.pipeline, process="inline"))
        self.settings = settings
        self.daemon = Daemon(settings, shutdown_grace=5.0)
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        if not self.daemon.ready.wait(15):
            raise RuntimeError(f"daemon did not start: {self.error}")

    def _main(self) -> None:
        try:
            self.loop.run_until_complete(self.daemon.run())
        except BaseException as exc:
            self.error = exc
            self.daemon.ready.set()

    def port(self, protocol: str = "smtp") -> int:
        return next(b.port for b in self.daemon.bound if b.protocol == protocol)

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.daemon.store

    def drain(self) -> None:
        assert self.daemon.worker.wait_idle(30), "worker did not drain the spool"

    def stop(self) -> None:
        self.daemon.request_stop(self.loop)
        self.thread.join(30)


@pytest.fixture
def running(settings: Settings) -> Iterator[Running]:
    r = Running(settings)
    yield r
    r.stop()


def make_mail(
    subject: str = "Min dator surrar",
    body: str = "Hej,\nmin dator surrar högt sedan i morse.\nMvh Kim",
    *,
    sender: str = "Kim Student <kim@example.org>",
    to: str = "helpdesk@example.org",
    cc: str | None = None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    charset: str = "utf-8",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="client.test.invalid")
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body, charset=charset)
    return msg.as_bytes(policy=email.policy.SMTP)  # CRLF line ends, as on the wire


def send(port: int, raw: bytes, *, mail_from: str = "kim@example.org",
         rcpt: str | list[str] = "helpdesk@example.org") -> dict[str, tuple[int, bytes]]:
    """Send with smtplib; returns refused recipients (raises on a DATA refusal)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail(mail_from, rcpt, raw)


def message_id_of(raw: bytes) -> str:
    for line in raw.splitlines():
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().strip(b"<>").decode()
    raise AssertionError("no Message-ID")


def ticketgate_cmd() -> list[str]:
    return [sys.executable, "-m", "ticketgate.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(site: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    text = site.read_text().replace("port: 0", f"port: {port}")
    site.write_text(text)
    proc = subprocess.Popen(
        [*ticketgate_cmd(), "serve", "--config", str(site), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(
                    proc.stderr.read().decode() if proc.stderr else "died"
                ) from None
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("serve did not start listening")


def run_cli(site: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*ticketgate_cmd(), *args, "--config", str(site)],
                          input=stdin, capture_output=True, timeout=60)


def db_rows(site: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(site.parent / "var/ticketgate.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


class FakeMTA:
    """A fake outgoing MTA (the smarthost): an aiosmtpd Controller that records what it gets.

    `rcpt_reply` (e.g. "550 5.1.1 no such user") refuses every recipient; `data_delay` holds
    each DATA that long (to see how many deliveries run at once, in `max_active`). Created
    stopped on a reserved port, so a test can show the smarthost down and then bring it up.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[str, list[str], bytes]] = []  # (mail_from, rcpt_tos, data)
        self.rcpt_attempts: list[str] = []
        self.rcpt_reply: str | None = None
        self.data_delay = 0.0
        self.active = 0
        self.max_active = 0
        self.controller: object | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        self.rcpt_attempts.append(address)
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.data_delay:
                await asyncio.sleep(self.data_delay)
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  bytes(envelope.original_content or envelope.content)))
        finally:
            self.active -= 1
        return f"250 2.0.0 queued as F{len(self.received)}"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        controller = Controller(self, hostname="127.0.0.1", port=self.port)
        controller.start()
        self.controller = controller

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()  # type: ignore[attr-defined]
            self.controller = None

    def wait_for(self, count: int, timeout: float = 20.0) -> list[tuple[str, list[str], bytes]]:
        """Block until at least `count` messages arrived; return them all."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} mails arrived"
            time.sleep(0.05)
        return list(self.received)

    def settings_line(self, **extra: object) -> str:
        """The `delivery:` setting that sends through this fake smarthost."""
        more = "".join(f", {k}: {v}" for k, v in extra.items())
        return f"delivery: {{transport: smtp, host: 127.0.0.1, port: {self.port}{more}}}"


@pytest.fixture
def fake_mta() -> Iterator[FakeMTA]:
    """A stopped FakeMTA on a reserved port; call `.start()` to bring it up."""
    mta = FakeMTA()
    yield mta
    mta.stop()


def smarthost_site(root: Path, mta: FakeMTA, extra: str = "", **delivery: object) -> Path:
    """write_site, delivering through `mta` instead of the Maildir."""
    path = write_site(root, extra)
    text = path.read_text().replace(
        "delivery: {transport: maildir, maildir: var/maildir}", mta.settings_line(**delivery))
    path.write_text(text)
    return path
