"""Who may take how much of the listeners: per-client limits, slots kept for the site's own
relays, shorter timeouts when busy, and a limit on commands that move no mail.

The ideas come from Postfix (read, not copied): anvil(8) counts each client's connections and
connection rate, and smtpd under stress (its process limit reached) cuts its timeouts to
seconds and its junk-command limit. Here:

- a client not among the listener's trusted relays may hold `per_client` sessions and open
  `per_client_per_minute` a minute (an IPv6 client is its /64: one host has billions of
  addresses); together such clients get `max_connections` less the slots reserved for the
  relays, so one attacker, or many, never lock the site's own MTA out;
- once `busy_at` of `max_connections` are open, an untrusted session may stall for
  `busy_timeout` seconds instead of `timeout`, and the open ones are held to it at once;
- every session may send `junk_commands` commands that move no mail between two accepted
  mails (NOOP at a second's pace kept a session for ever);
- refusals are `421 4.7.0` before the greeting or in place of the next reply, then the
  connection closes (RFC 5321 3.8, RFC 3463 X.7.0: a policy reason, try again later).

`Sessions` is shared by the SMTP and LMTP listeners; `Guarded` is the part of their session
class that applies it (smtp.py).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from . import metrics
from .listeners import ConnectionLimits

log = structlog.get_logger("ticketgate.smtp")

SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"
TOO_BUSY = "421 4.7.0 Too many connections, try again later"
TOO_MANY_FROM_YOU = "421 4.7.0 Too many connections from your address, try again later"
TOO_FAST = "421 4.7.0 Too many connections from your address this minute, try again later"
TOO_MUCH_JUNK = "421 4.7.0 Too many commands that move no mail, closing connection"
TIMED_OUT = "421 4.4.2 Timeout exceeded, closing connection"
QUIET = 1.0  # seconds a session between transactions may idle once draining, before its 421
_SWEEP = 0.25  # how often a drain looks for such sessions

_TRACKED_CLIENTS = 10_000  # rate buckets kept before full (idle) ones are pruned
_REFUSAL_LOG_EVERY = 1.0  # seconds between log lines about refused connections, per reason


@functools.lru_cache(maxsize=4096)
def client_of(peer: str) -> str:
    """The client a connection counts for: an IPv4 address, or an IPv6 address's /64."""
    try:
        address = ipaddress.ip_address(peer.split("%")[0])
    except ValueError:
        return peer  # not IP (a Unix socket, a test): the peer itself
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def relays_check(networks: Iterable[str]) -> Callable[[str], bool]:
    """Whether a peer address is in `networks` (IPv4-mapped IPv6 counts as IPv4)."""
    nets = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    @functools.lru_cache(maxsize=4096)
    def trusted(peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer.split("%")[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in net for net in nets)

    return trusted


class _Rates:
    """Connections each client opened lately: a bucket of `per_minute` tokens per client,
    filled again at `per_minute` a minute."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)
        self._prune_at = _TRACKED_CLIENTS

    def take(self, client: str) -> bool:
        """Count one connection; False when the client has none left this minute."""
        now = self.clock()
        tokens, at = self._buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.refill)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._prune_at:
            self._prune(now)
        return allowed

    def _prune(self, now: float) -> None:
        # A full bucket says nothing a fresh one would not: forget it. Many clients with
        # tokens spent stay, and the next prune waits until there are twice as many.
        self._buckets = {
            c: (t, at) for c, (t, at) in self._buckets.items()
            if t + (now - at) * self.refill < self.capacity
        }
        self._prune_at = max(_TRACKED_CLIENTS, 2 * len(self._buckets))


class Sessions:
    """The open sessions of all listeners: admission, busy state and a graceful shutdown."""

    def __init__(self, limit: int, limits: ConnectionLimits | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.limits = limits or ConnectionLimits()
        self.reserved = self.limits.reserved(limit)
        self.active = 0
        self.draining = False
        self._open: set[Guarded] = set()
        self._per_client: dict[str, int] = {}
        self._rates = _Rates(self.limits.per_client_per_minute, clock)
        self._clock = clock
        self._refusals: dict[str, tuple[int, float]] = {}  # reason -> (not logged, logged at)
        self._busy_from = max(1, int(limit * self.limits.busy_at))
        # Calm again a little below: a listener hovering at the mark does not flap.
        self._calm_at = max(0, self._busy_from - max(1, limit // 16))
        self._busy = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        """Whether untrusted clients are held to busy_timeout now."""
        return self._busy

    def admit(self, client: str, trusted: bool) -> tuple[str, str] | None:
        """(421 reply, metrics reason) refusing a new connection, or None to let it in."""
        if self.draining:
            return SHUTTING_DOWN, "shutting_down"
        if trusted:
            return (TOO_BUSY, "too_busy") if self.active >= self.limit else None
        if not self._rates.take(client):
            return TOO_FAST, "client_rate"
        if self._per_client.get(client, 0) >= self.limits.per_client:
            return TOO_MANY_FROM_YOU, "client_connections"
        if self.active >= self.limit - self.reserved:
            return TOO_BUSY, "too_busy"
        return None

    def refused(self, protocol: str, refusal: tuple[str, str], client: str) -> None:
        """Count a refused connection; log at most one line a second for each reason (an
        attack makes thousands a second, and the log must not become its amplifier)."""
        status, reason = refusal
        metrics.refused(protocol, status, reason)
        if reason == "shutting_down":
            return
        now = self._clock()
        last = self._refusals.get(reason)
        if last is None:  # the first of its kind: said at once
            log.info("connections_refused", reason=reason, count=1, last_client=client)
            self._refusals[reason] = (0, now)
            return
        count, since = last[0] + 1, last[1]
        if now - since >= _REFUSAL_LOG_EVERY:
            log.info("connections_refused", reason=reason, count=count, last_client=client,
                     seconds=round(now - since, 1))
            self._refusals[reason] = (0, now)
        else:
            self._refusals[reason] = (count, since)

    def opened(self, session: Guarded) -> None:
        self.active += 1
        self._open.add(session)
        self._idle.clear()
        if not session.trusted:
            self._per_client[session.client] = self._per_client.get(session.client, 0) + 1
        if self.active >= self._busy_from and not self._busy:
            self._busy = True
            log.warning("listener_busy", sessions=self.active, limit=self.limit,
                        timeout=self.limits.busy_timeout)
            for other in self._open:  # the sessions already open are held to it too
                if not other.trusted:
                    other.stall_at_most(self.limits.busy_timeout)

    def closed(self, session: Guarded) -> None:
        self.active -= 1
        self._open.discard(session)
        if not session.trusted:
            left = self._per_client.get(session.client, 1) - 1
            if left > 0:
                self._per_client[session.client] = left
            else:
                self._per_client.pop(session.client, None)
        if self._busy and self.active <= self._calm_at:
            self._busy = False
            log.info("listener_not_busy", sessions=self.active)
        if self.active <= 0:
            self.active = 0
            self._idle.set()

    def timeout_for(self, session: Guarded) -> float | None:
        """The stall allowed to `session` now; None: the listener's own timeout."""
        if self._busy and not session.trusted:
            return self.limits.busy_timeout
        return None

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


def _peer_address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer or "")


class Door(asyncio.Protocol):
    """What a new connection meets first: a refused one gets its 421 and is closed here,
    without an SMTP session being built (150 µs of aiosmtpd's setup, times the thousands of
    attempts a second a flood makes, while the site's MTA waits in the same accept queue);
    an admitted one is handed to a new session, which takes the transport over."""

    def __init__(self, sessions: Sessions, trusted_check: Callable[[str], bool],
                 make_session: Callable[[], Guarded], protocol: str) -> None:
        self.sessions = sessions
        self.trusted_check = trusted_check
        self.make_session = make_session
        self.protocol = protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        address = _peer_address(transport)
        trusted = self.trusted_check(address)
        client = client_of(address)
        refusal = self.sessions.admit(client, trusted)
        if refusal is not None:
            self.sessions.refused(self.protocol, refusal, client)
            transport.write(f"{refusal[0]}\r\n".encode())  # type: ignore[attr-defined]
            transport.close()
            return
        try:
            session = self.make_session()
            session.trusted, session.client = trusted, client
            transport.set_protocol(session)  # type: ignore[arg-type]
            session.connection_made(transport)  # type: ignore[attr-defined]
        except Exception:  # a bug of ours must cost this connection, not the listener
            log.exception("session_setup_failed", client=client)
            transport.close()

    def data_received(self, data: bytes) -> None:
        pass  # a refused client talking on: its connection is closing


class Guarded:
    """Mixin for the aiosmtpd session classes (smtp.py): timeouts, junk commands, draining.

    Expects aiosmtpd's SMTP after it in the MRO; `sessions` is set by the session class's
    __init__, `trusted` and `client` by the Door that admitted the connection.
    """

    sessions: Sessions
    trusted = False
    client = ""
    last_reply = 0.0  # loop time of the last reply sent
    _leaving = False
    _junk = 0

    @property
    def _protocol(self) -> str:
        return str(getattr(self.event_handler, "protocol", "smtp"))  # type: ignore[attr-defined]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if getattr(self, "_original_transport", None) is None:  # not the TLS layer's call
            self.sessions.opened(self)
        super().connection_made(transport)  # type: ignore[misc]

    def connection_lost(self, error: Exception | None) -> None:
        if self in self.sessions._open:
            self.sessions.closed(self)
        super().connection_lost(error)  # type: ignore[misc]

    def between_transactions(self) -> bool:
        # aiosmtpd starts a fresh Envelope after DATA and RSET; MAIL fills in mail_from.
        return self.envelope.mail_from is None  # type: ignore[attr-defined,no-any-return]

    def goodbye(self, status: str = SHUTTING_DOWN) -> None:
        """Send a 421 unsolicited and close (RFC 5321 3.8)."""
        transport = self.transport  # type: ignore[attr-defined]
        if self._leaving or transport is None or transport.is_closing():
            return
        self._leaving = True
        transport.write(f"{status}\r\n".encode())
        transport.close()  # after the buffered 421 is written

    # -- timeouts ------------------------------------------------------------------------

    def _reset_timeout(self, duration: float | None = None) -> None:
        super()._reset_timeout(duration or self.sessions.timeout_for(self))  # type: ignore[misc]

    def stall_at_most(self, seconds: float) -> None:
        """Bring this session's timeout forward to `seconds` from now, if it is later."""
        handle = getattr(self, "_timeout_handle", None)
        loop = self.loop  # type: ignore[attr-defined]
        if handle is not None and handle.when() - loop.time() > seconds:
            self._reset_timeout(seconds)

    def _timeout_cb(self) -> None:
        # aiosmtpd just closes a stalled session; say why first (as Postfix does), so the
        # client logs a timeout rather than a dropped connection.
        transport = self.transport  # type: ignore[attr-defined]
        if transport is not None and not transport.is_closing():
            transport.write(f"{TIMED_OUT}\r\n".encode())
        super()._timeout_cb()  # type: ignore[misc]

    # -- commands that move no mail --------------------------------------------------------

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Each session class gets counting versions of the commands that move no mail,
        # wrapping what its next class (aiosmtpd's SMTP or LMTP) defines, HELP text included.
        super().__init_subclass__(**kwargs)
        mro = cls.__mro__
        before, after = mro[:mro.index(Guarded)], mro[mro.index(Guarded) + 1:]
        for verb in (*_NO_MAIL, *_GREETINGS):
            name = f"smtp_{verb}"
            base = next((k.__dict__[name] for k in after if name in k.__dict__), None)
            if base is not None and not any(name in k.__dict__ for k in before):
                setattr(cls, name, _counted(verb, base, greeting=verb in _GREETINGS))

    def junk(self, what: str) -> bool:
        """Count one command that moved no mail; True (and the session closing) past the limit."""
        self._junk += 1
        if self._junk <= self.sessions.limits.junk_commands:
            return False
        if not self._leaving:
            log.info("junk_commands_refused", client=self.client, last=what[:20],
                     count=self._junk - 1)
            metrics.refused(self._protocol, TOO_MUCH_JUNK, "junk_commands")
        self.goodbye(TOO_MUCH_JUNK)
        return True

    def mail_moved(self) -> None:
        """A mail was accepted: the session's junk count starts again."""
        self._junk = 0


_NO_MAIL = ("NOOP", "RSET", "HELP", "VRFY", "EXPN")
_GREETINGS = ("EHLO", "HELO", "LHLO")  # junk when the session was greeted already


def _counted(verb: str, base: Callable[..., Any], *, greeting: bool) -> Callable[..., Any]:
    @functools.wraps(base)  # keeps aiosmtpd's HELP text (__smtp_syntax__ and its kin)
    async def command(self: Guarded, arg: str | None) -> None:
        if greeting:
            session = self.session  # type: ignore[attr-defined]
            # A session after STARTTLS starts afresh (host_name None) and must greet again.
            if session is not None and session.host_name is not None and self.junk(verb):
                return
        elif self.junk(verb):
            return
        await base(self, arg)

    return command
