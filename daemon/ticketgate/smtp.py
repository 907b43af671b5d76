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

Who may take how much of the listener (per-client limits, slots for the trusted relays, busy
timeouts, commands that move no mail) is connections.py; STARTTLS, when the listener has a
certificate, is aiosmtpd's, with `tls.required` applied to clients not on loopback.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
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
from .config import Listener, Settings
from .connections import SHUTTING_DOWN, Door, Guarded, Sessions, relays_check
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
    "530 Must issue a STARTTLS command first": "530 5.7.0 Must issue a STARTTLS command first",
}
TEMPFAIL = "451 4.3.0 Temporary local problem storing the message; try again later"
_CONTINUED = re.compile(r"\d{3}-")  # a line of a reply with more lines to come (RFC 5321 4.2.1)
_TOO_BIG = ("552 Error: Too much mail data",
            "552 Error: message size exceeds fixed maximum message size")

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


_COMMANDS: dict[type, tuple[str, ...]] = {}


def _commands_of(cls: type) -> tuple[str, ...]:
    """The names aiosmtpd's SMTP.__init__ looks for in dir(self): commands and AUTH methods."""
    names = _COMMANDS.get(cls)
    if names is None:
        names = _COMMANDS[cls] = tuple(n for n in dir(cls) if n.startswith(("smtp_", "auth_")))
    return names


class _Limited(Guarded):
    """Behaviour shared by our SMTP and LMTP: enhanced codes, connection policy, draining."""

    # Overrides of aiosmtpd's internals (_handle_client, _timeout_cb, _getaddr, smtp_DATA, ...)
    # beyond its handle_<VERB> hooks: pyproject.toml pins the aiosmtpd version they were read
    # against, and tests/test_smtp_aiosmtpd_pin.py fails, naming the method, when it changes.

    _listing_commands = False  # True while aiosmtpd's __init__ runs: see __dir__
    _tls_required = False  # tls.required: clients not on loopback must STARTTLS first

    def __init__(self, handler: Any, *, sessions: Sessions, tls_required: bool = False,
                 **kwargs: Any) -> None:
        self.sessions = sessions
        self._tls_required = tls_required
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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._tls_required and getattr(self, "_original_transport", None) is None:
            peer = transport.get_extra_info("peername")
            # aiosmtpd's own form of the attribute: its context, or False
            self.require_starttls = self.tls_context and not _on_loopback(  # type: ignore[attr-defined]
                peer[0] if isinstance(peer, tuple) else "")

    async def smtp_MAIL(self, arg: str | None) -> None:
        # Draining: the transaction before this one finished; no new one starts.
        if self.sessions.draining:
            metrics.refused(self._protocol, SHUTTING_DOWN, "shutting_down")
            await self.push(SHUTTING_DOWN)
            self.transport.close()  # type: ignore[attr-defined]
            return
        await super().smtp_MAIL(arg)  # type: ignore[misc]

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
        # A refused command moved no mail either: past the limit, its 421 goes out instead.
        if self._leaving or (isinstance(text, str) and text[:1] == "5" and self.junk(text[:3])):
            return
        await super().push(text)  # type: ignore[misc]

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


class GateLMTP(_Limited, LMTP):
    line_length_limit = LINE_LIMIT


def _on_loopback(peer: object) -> bool:
    try:
        return ipaddress.ip_address(str(peer).split("%")[0]).is_loopback
    except ValueError:
        return False


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
        if isinstance(server, Guarded):
            server.mail_moved()
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
    listener: Listener,
    handler: SpoolHandler,
    settings: Settings,
    sessions: Sessions,
) -> asyncio.Server:
    """Listen for SMTP or LMTP on the listener's host:port (port 0 picks a free one)."""
    cls = GateLMTP if protocol == "lmtp" else GateSMTP
    loop = asyncio.get_running_loop()
    trusted = relays_check(listener.trusted_relays)
    tls = listener.tls
    context = tls.context() if tls is not None else None

    def session() -> _Limited:
        return cls(
            handler,
            sessions=sessions,
            tls_context=context,
            tls_required=bool(tls and tls.required),
            data_size_limit=settings.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=settings.instance,
            ident="ticketgate",
            timeout=settings.timeout,
            loop=loop,
        )

    def factory() -> Door:
        return Door(sessions, trusted, session, protocol)

    # A flood of connection attempts fills the kernel's queue of connections not yet accepted
    # (asyncio's default: 100); past it SYNs are dropped, and the site's MTA, dropped with
    # them, waits a second for its retry. A longer queue rides out what accept() works off.
    backlog = min(4096, max(100, 4 * settings.max_connections))
    return await loop.create_server(factory, host=listener.host, port=listener.port,
                                    backlog=backlog)
