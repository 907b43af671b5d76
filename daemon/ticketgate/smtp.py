"""The SMTP and LMTP front: RCPT policy, size limit, and 250 only after a durable spool commit.

aiosmtpd does the protocol. The handler accepts RCPT only for function addresses (so the
daemon is never a relay), writes the raw bytes and envelope to the spool through the single
writer, and answers 250 once that commit has returned; any storage failure answers 451 so
the client keeps the message and retries.

Shutdown (SIGTERM) drains the sessions: a new connection gets 421 in place of the greeting; a
transaction in flight (MAIL given, DATA not yet answered) finishes and gets its 250 or 451;
the next MAIL on that connection gets 421 and the connection closes; a session with no
transaction open is sent 421 and closed once it has been quiet for a second. Once no session
is left (or the daemon's grace time is over) the listeners close, and connections are refused.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Callable, Iterable
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import Any

import structlog
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from . import metrics
from .config import Settings
from .mail import normalize_message_id
from .rules import Rules
from .smtpdata import smtp_DATA as read_DATA
from .store import Store

log = structlog.get_logger("ticketgate.smtp")

# aiosmtpd's own replies carry no enhanced status codes (RFC 3463); MTAs log and act on them.
_ENHANCED = {
    "552 Error: Too much mail data": "552 5.3.4 Message too big for this helpdesk",
    "552 Error: message size exceeds fixed maximum message size":
        "552 5.3.4 Message size exceeds the fixed maximum",
    "500 Line too long (see RFC5321 4.5.3.1.6)": "500 5.5.2 Line too long (RFC 5321 4.5.3.1.6)",
    "500 Error: line too long": "500 5.5.2 Line too long",
    "503 Error: need MAIL command": "503 5.5.1 Need MAIL command first",
    "503 Error: need RCPT command": "503 5.5.1 Need RCPT command first",
    "503 Error: nested MAIL command": "503 5.5.1 Nested MAIL command",
    "503 Error: send HELO first": "503 5.5.1 Send EHLO or HELO first",
    "554 Command refused due to lack of security": "554 5.7.0 Command refused",
}
TEMPFAIL = "451 4.3.0 Temporary local problem storing the message; try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"
TOO_BUSY = "421 4.7.0 Too many connections, try again later"
TIMED_OUT = "421 4.4.2 Timeout exceeded, closing connection"
_CONTINUED = re.compile(r"\d{3}-")  # a line of a reply with more lines to come (RFC 5321 4.2.1)
_TOO_BIG = ("552 Error: Too much mail data",
            "552 Error: message size exceeds fixed maximum message size")
QUIET = 1.0  # seconds a session between transactions may idle once draining, before its 421
_SWEEP = 0.25  # how often a drain looks for such sessions

# The Message-ID of the top header block, for the accept log line (see peek_message_id).
_PEEK_BYTES = 64 * 1024
_PEEK_LINES = 1000
_FIELD_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")


def peek_message_id(raw: bytes) -> str | None:
    """The Message-ID, read cheaply for the accept line's log; None if not found so.

    The event loop must not stall on a hostile header, so this looks at no more than the first
    64 KiB and 1000 lines, and reads the header block by the rules mail.py uses (a blank line,
    or a line that is neither a field nor a continuation, ends it). For any Message-ID found
    there it gives the id the pipeline stores; mail without one (or with one further down) gets
    its id only in the pipeline's lines, and its accept line says message_id null.
    """
    lines = raw[:_PEEK_BYTES].split(b"\n", _PEEK_LINES)[:_PEEK_LINES]
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]  # an mbox separator, as mailheaders.split skips it
    value: bytes | None = None
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if value is not None:
                value += line  # unfolding
            continue
        if value is not None:
            break
        field = _FIELD_NAME.match(line)
        if field is None:
            return None  # the end of the header block
        if field.group(1).lower() == b"message-id":
            value = line[field.end():]
    if value is None:
        return None
    return normalize_message_id(value.decode("utf-8", "replace"))


# Arguments of MAIL and RCPT longer than this are parsed without being remembered: a path is
# at most 256 octets (RFC 5321 4.5.3.1.3), and the cache must not hold a client's junk.
_PATH_CACHED = 512


@functools.lru_cache(maxsize=1024)
def _parse_path(arg: str) -> tuple[str, str] | None:
    """(address, what follows it) of a MAIL FROM:/RCPT TO: argument; None if unparseable.

    The same reading as aiosmtpd's `SMTP._getaddr` (the email package's address parser), whose
    cost was a fifth of the listener's CPU per mail: it builds a typing.Protocol class on every
    call, and the parser itself is slow. A helpdesk sees the same few recipients and senders
    again and again, so the result is remembered; it depends on the argument alone.
    """
    parse = get_angle_addr if arg.lstrip().startswith("<") else get_addr_spec
    try:
        address, rest = parse(arg)
    except HeaderParseError:
        return None
    return str(address.addr_spec), rest


class Sessions:
    """Counts open sessions, for the connection limit and for a graceful shutdown."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.draining = False
        self._open: set[_Limited] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def opened(self, session: _Limited) -> None:
        self.active += 1
        self._open.add(session)
        self._idle.clear()

    def closed(self, session: _Limited) -> None:
        self.active -= 1
        self._open.discard(session)
        if self.active <= 0:
            self.active = 0
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no session is open; while draining, close those between transactions."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.draining:
                now = loop.time()
                for session in list(self._open):
                    if session.between_transactions() and now - session.last_reply >= QUIET:
                        session.goodbye()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return self._idle.is_set()
            try:
                await asyncio.wait_for(self._idle.wait(), min(remaining, _SWEEP))
                return True
            except TimeoutError:
                continue


_COMMANDS: dict[type, tuple[str, ...]] = {}


def _commands_of(cls: type) -> tuple[str, ...]:
    """The names aiosmtpd's SMTP.__init__ looks for in dir(self): commands and AUTH methods."""
    names = _COMMANDS.get(cls)
    if names is None:
        names = _COMMANDS[cls] = tuple(n for n in dir(cls) if n.startswith(("smtp_", "auth_")))
    return names


class _Limited:
    """Behaviour shared by our SMTP and LMTP: enhanced codes, connection limits, draining."""

    # Overrides of aiosmtpd's internals (_handle_client, _timeout_cb, _getaddr, smtp_DATA, ...)
    # beyond its handle_<VERB> hooks: pyproject.toml pins the aiosmtpd version they were read
    # against, and tests/test_smtp_aiosmtpd_pin.py fails, naming the method, when it changes.

    sessions: Sessions
    last_reply = 0.0  # loop time of the last reply sent
    _leaving = False
    _listing_commands = False  # True while aiosmtpd's __init__ runs: see __dir__

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        self._continued: list[str] = []  # lines of a multi-line reply not yet sent (see push)
        self._listing_commands = True
        try:
            super().__init__(handler, **kwargs)  # type: ignore[call-arg]
        finally:
            self._listing_commands = False

    def __dir__(self) -> Iterable[str]:
        # For every connection aiosmtpd's __init__ finds the session's command and AUTH methods
        # through dir(self), once by inspect.getmembers, which fetches every attribute listed:
        # ~100 us, a fifth of the listener's CPU with one mail per connection. While it does,
        # dir lists just the names it keeps (they are the class's, so known once per class).
        if self._listing_commands:
            return _commands_of(type(self))
        return super().__dir__()

    @property
    def _protocol(self) -> str:
        return str(getattr(self.event_handler, "protocol", "smtp"))  # type: ignore[attr-defined]

    def _refusal(self) -> str | None:
        if self.sessions.draining:
            return SHUTTING_DOWN
        if self.sessions.active >= self.sessions.limit:
            return TOO_BUSY
        return None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._refusal_status = self._refusal()
        if self._refusal_status is None:
            self.sessions.opened(self)
        else:
            reason = "shutting_down" if self._refusal_status == SHUTTING_DOWN else "too_busy"
            metrics.refused(self._protocol, self._refusal_status, reason)
        super().connection_made(transport)  # type: ignore[misc]

    def connection_lost(self, error: Exception | None) -> None:
        if self._refusal_status is None:
            self.sessions.closed(self)
        super().connection_lost(error)  # type: ignore[misc]

    def between_transactions(self) -> bool:
        # aiosmtpd starts a fresh Envelope after DATA and RSET; MAIL fills in mail_from.
        return self.envelope.mail_from is None  # type: ignore[attr-defined,no-any-return]

    def goodbye(self) -> None:
        """Send 421 unsolicited and close, as RFC 5321 3.8 allows a server shutting down."""
        transport = self.transport  # type: ignore[attr-defined]
        if self._leaving or transport is None or transport.is_closing():
            return
        self._leaving = True
        transport.write(f"{SHUTTING_DOWN}\r\n".encode())
        transport.close()  # after the buffered 421 is written

    async def smtp_MAIL(self, arg: str | None) -> None:
        # Draining: the transaction before this one finished; no new one starts.
        if self.sessions.draining:
            metrics.refused(self._protocol, SHUTTING_DOWN, "shutting_down")
            await self.push(SHUTTING_DOWN)
            self.transport.close()  # type: ignore[attr-defined]
            return
        await super().smtp_MAIL(arg)  # type: ignore[misc]

    async def _handle_client(self) -> None:
        # A refused client gets its 421 in place of the greeting, then the door closes.
        if self._refusal_status is not None:
            await super().push(self._refusal_status)  # type: ignore[misc]
            self.transport.close()  # type: ignore[attr-defined]
            return
        await super()._handle_client()  # type: ignore[misc]

    async def push(self, status: Any) -> None:
        if status in _TOO_BIG:
            metrics.refused(self._protocol, status, "too_big")
        # aiosmtpd's loop attribute: asyncio.get_running_loop() makes a getpid() system call.
        self.last_reply = self.loop.time()  # type: ignore[attr-defined]
        text = _ENHANCED.get(status, status)
        if isinstance(text, str):
            if _CONTINUED.match(text):
                # A line of a multi-line reply (EHLO's five): aiosmtpd pushes the next one at
                # once, so it waits for them and the reply goes out in one write, not five.
                self._continued.append(text)
                return
            if self._continued:
                text = "\r\n".join([*self._continued, text])
                self._continued.clear()
        await super().push(text)  # type: ignore[misc]

    def _timeout_cb(self) -> None:
        # aiosmtpd just closes a stalled session; say why first (as Postfix does), so the
        # client logs a timeout rather than a dropped connection.
        transport = self.transport  # type: ignore[attr-defined]
        if transport is not None and not transport.is_closing():
            transport.write(f"{TIMED_OUT}\r\n".encode())
        super()._timeout_cb()  # type: ignore[misc]

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd's contract: ("", "") for no argument, (None, None) when it does not parse
        # or the local part is over the limit.
        if not arg:
            return "", ""
        parsed = _parse_path(arg) if len(arg) <= _PATH_CACHED else _parse_path.__wrapped__(arg)
        if parsed is None:
            return None, None
        address, rest = parsed
        limit = self.local_part_limit  # type: ignore[attr-defined]
        if limit and len(address.rpartition("@")[0]) > limit:
            return None, None
        return address, rest

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        # aiosmtpd keeps each line of DATA as an object of its own (25 MiB of blank lines took
        # 2 GB and 40 s): the same protocol, read in blocks into one buffer (smtpdata.py).
        await read_DATA(self, arg)


# Octets of one line with its CRLF, in commands and DATA alike (aiosmtpd's StreamReader limit).
# RFC 5321 4.5.3.1.6 sets 1,000, and aiosmtpd refuses past it, but real mail has longer lines
# (HTML from some senders, flanker's and talon's test mail): refusing them bounces the
# requester's mail. A generous bound still caps what one line may hold in memory; past it, 500.
LINE_LIMIT = 64 * 1024


class GateSMTP(_Limited, SMTP):
    line_length_limit = LINE_LIMIT

    def __init__(self, handler: Any, *, sessions: Sessions, **kwargs: Any) -> None:
        self.sessions = sessions
        super().__init__(handler, **kwargs)


class GateLMTP(_Limited, LMTP):
    line_length_limit = LINE_LIMIT

    def __init__(self, handler: Any, *, sessions: Sessions, **kwargs: Any) -> None:
        self.sessions = sessions
        super().__init__(handler, **kwargs)


class SpoolHandler:
    """aiosmtpd handler: RCPT policy and durable spooling of DATA."""

    def __init__(
        self,
        *,
        settings: Settings,
        rules: Callable[[], Rules],
        store: Store,
        on_spooled: Callable[[int], None] = lambda _id: None,
        protocol: str = "smtp",
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.store = store
        self.on_spooled = on_spooled
        self.protocol = protocol

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            metrics.refused(self.protocol, "452", "too_many_recipients")
            return "452 4.5.3 Too many recipients"
        if not self.rules().is_function_address(address):
            log.info("rcpt_refused", rcpt=address, peer=str(session.peer))
            metrics.refused(self.protocol, "550", "not_function_address")
            return f"550 5.1.1 <{address}>: not a function address of this helpdesk"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        started = time.monotonic()
        raw = envelope.original_content or b""
        message_id = peek_message_id(raw)
        rcpts = tuple(envelope.rcpt_tos)
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        # aiosmtpd keeps MAIL FROM:<> as "<>"; the spool, inject and automail say "" for it.
        mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        received = time.time()
        try:
            spool_id = await self.store.writer.run(
                lambda tx: tx.spool_delivery(
                    raw=raw, mail_from=mail_from, rcpt_to=rcpts, peer=peer,
                    protocol=self.protocol, received_at=received,
                ),
                one_statement=True,  # the INSERT of the row, no more
            )
        except Exception as exc:
            log.error("spool_failed", error=str(exc), peer=peer, size=len(raw),
                      message_id=message_id)
            metrics.refused(self.protocol, TEMPFAIL, "storage")
            return self._per_recipient(TEMPFAIL, len(rcpts))
        # No ticket yet: the pipeline decides that later (its lines carry the ticket code).
        log.info("message_spooled", spool_id=spool_id, message_id=message_id, size=len(raw),
                 rcpt=list(rcpts))
        metrics.accepted(self.protocol, time.monotonic() - started)
        self.on_spooled(spool_id)
        return self._per_recipient(f"250 2.0.0 queued as S{spool_id}", len(rcpts))

    def _per_recipient(self, status: str, count: int) -> str:
        # LMTP answers once per accepted recipient; the spool row is shared, so all agree.
        if self.protocol == "lmtp":
            return "\r\n".join([status] * max(count, 1))
        return status


async def start_server(
    *,
    protocol: str,
    host: str,
    port: int,
    handler: SpoolHandler,
    settings: Settings,
    sessions: Sessions,
) -> asyncio.Server:
    """Listen for SMTP or LMTP on host:port (port 0 picks a free one)."""
    cls = GateLMTP if protocol == "lmtp" else GateSMTP
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        return cls(
            handler,
            sessions=sessions,
            data_size_limit=settings.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=settings.instance,
            ident="ticketgate",
            timeout=settings.timeout,
            loop=loop,
        )

    return await loop.create_server(factory, host=host, port=port)
