"""Shared by the promise tests (tests/test_promise_*.py): a raw SMTP client, the daemon as a
child process that can be killed, and readers of what the fake outgoing MTA received.

The raw client exists because smtplib rewrites what it sends (every bare CR or LF becomes
CRLF), and the promises are about exact bytes: what the client put on the wire, after
dot-stuffing, is what the spool must hold.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import re
import socket
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from integration_helpers import Served
from integration_helpers import wait_until as _wait_until

T = TypeVar("T")
CRLF = b"\r\n"
_QUEUED = re.compile(rb"queued as S(\d+)")


def env_int(name: str, default: int) -> int:
    """A count from the environment (so CI and a developer can scale a proof up or down)."""
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


@dataclass(frozen=True)
class Reply:
    """One SMTP reply: its code and the text of its last line (after the code)."""

    code: int
    text: bytes

    @property
    def line(self) -> str:
        return f"{self.code} {self.text.decode('utf-8', 'replace')}"

    def spool_id(self) -> int | None:
        """The spool row a 250 names ("250 2.0.0 queued as S12" -> 12)."""
        match = _QUEUED.search(self.text)
        return int(match.group(1)) if match else None


def stuffed(raw: bytes) -> bytes:
    """`raw` as DATA on the wire: dot-stuffed, ending in CRLF, then the lone dot.

    aiosmtpd splits DATA at CRLF only, so stuffing is needed exactly where a CRLF-line starts
    with a dot; a bare CR or LF is ordinary data and goes through untouched.
    """
    body = (b"." if raw.startswith(b".") else b"") + raw.replace(b"\r\n.", b"\r\n..")
    if body and not body.endswith(CRLF):
        body += CRLF
    return body + b".\r\n"


def received_form(raw: bytes) -> bytes:
    """What a server that follows RFC 5321 stores for `stuffed(raw)`: `raw` plus the CRLF
    a message needs to end in (nothing added to an empty one)."""
    return raw if not raw or raw.endswith(CRLF) else raw + CRLF


def crlf(raw: bytes) -> bytes:
    """Line ends made CRLF, as an MTA puts a message stored with bare LF on the wire."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


class Wire:
    """A bare SMTP client on a socket: exactly the bytes we choose, replies parsed."""

    def __init__(self, port: int, *, timeout: float = 15.0, ehlo: bool = True) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._buffer = b""
        self.greeting = self.reply()
        if ehlo and self.greeting.code == 220:
            self.cmd(b"EHLO client.test.invalid")

    def _line(self) -> bytes:
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"server closed the connection; pending {self._buffer!r}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.rstrip(b"\r")

    def reply(self) -> Reply:
        """Read one (possibly multi-line) reply."""
        line = self._line()
        while line[3:4] == b"-":
            line = self._line()
        return Reply(int(line[:3]), line[4:])

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def cmd(self, line: bytes) -> Reply:
        self.send(line + CRLF)
        return self.reply()

    def closed_by_server(self, timeout: float) -> bool:
        """True when the server closes the connection within `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self._buffer += chunk
        except TimeoutError:
            return False
        except OSError:
            return True

    def transaction(
        self, raw: bytes, *, mail_from: str = "kim@example.org",
        rcpt: Sequence[str] = ("helpdesk@example.org",),
    ) -> Reply:
        """MAIL, RCPT, DATA with `raw` sent as `stuffed(raw)`; the first refusal, or DATA's."""
        reply = self.cmd(b"MAIL FROM:<" + mail_from.encode() + b">")
        if reply.code != 250:
            return reply
        accepted = 0
        refusal = reply
        for address in rcpt:
            reply = self.cmd(b"RCPT TO:<" + address.encode() + b">")
            accepted += reply.code == 250
            refusal = refusal if reply.code == 250 else reply
        if not accepted:
            self.cmd(b"RSET")
            return refusal
        reply = self.cmd(b"DATA")
        if reply.code != 354:
            return reply
        self.send(stuffed(raw))
        return self.reply()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"QUIT\r\n")
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def deliver(port: int, raw: bytes, **kwargs: Any) -> Reply:
    """One message in one session."""
    with Wire(port) as wire:
        return wire.transaction(raw, **kwargs)


def wait_until(check: Callable[[], T], *, timeout: float, what: str,
               interval: float = 0.05) -> T:
    """integration_helpers.wait_until, polling faster: these tests watch a busy daemon."""
    return _wait_until(check, timeout=timeout, what=what, interval=interval)


def query(database: Path, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    """Read the database from outside, as an admin's sqlite3 would (never writes)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True,
                                            timeout=30)) as conn:
        return conn.execute(sql, tuple(params)).fetchall()


def site_on_port(site: Path, port: int) -> Path:
    """Pin the site's SMTP listener to `port`, so a restarted daemon is where clients retry."""
    site.write_text(site.read_text().replace("port: 0", f"port: {port}", 1))
    return site


def serve(site: Path, *, timeout: float = 30.0) -> Served:
    """`ticketgate serve` as a child whose log is read as it comes (a full pipe would stall it)."""
    served = Served(site)
    served.wait_for("listening", timeout=timeout)
    return served


def peak_rss(pid: int) -> int:
    """VmHWM of a live process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def header(raw: bytes, name: str) -> str | None:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    value = msg.get(name)
    return None if value is None else str(value).strip()


def acknowledgements(received: Iterable[tuple[str, list[str], bytes]]
                     ) -> dict[str, list[str]]:
    """Acknowledgements a fake MTA received: In-Reply-To -> their Message-IDs, one per copy.

    An acknowledgement is what we send with `Auto-Submitted: auto-replied` (notifications to
    staff are `auto-generated`).
    """
    found: dict[str, list[str]] = {}
    for _, _, data in received:
        if (header(data, "Auto-Submitted") or "").lower() != "auto-replied":
            continue
        parent = (header(data, "In-Reply-To") or "").strip("<>")
        found.setdefault(parent, []).append((header(data, "Message-ID") or "").strip("<>"))
    return found
