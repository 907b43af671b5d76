"""The connection policy (connections.Sessions) on its own: per-client limits, the relays'
reserved slots, the busy state, and who counts as one client. The same policy over real
sockets is tests/test_promise_lockout.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import run_cli, write_site
from ticketgate.config import load_settings
from ticketgate.connections import (
    TOO_BUSY,
    TOO_FAST,
    TOO_MANY_FROM_YOU,
    Door,
    Sessions,
    client_of,
    relays_check,
)
from ticketgate.listeners import ConnectionLimits, is_loopback
from ticketgate.yamlsource import ConfigError


@dataclass(eq=False)
class FakeSession:
    client: str
    trusted: bool = False
    stalls: list[float] = field(default_factory=list)

    def stall_at_most(self, seconds: float) -> None:
        self.stalls.append(seconds)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()  # Sessions makes an asyncio.Event
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


def open_(sessions: Sessions, client: str, trusted: bool = False) -> str | FakeSession:
    """Admit and open one session; the refusal's reply when refused."""
    refusal = sessions.admit(client, trusted)
    if refusal:
        return refusal[0]
    session = FakeSession(client, trusted)
    sessions.opened(session)  # type: ignore[arg-type]
    return session


def test_one_client_gets_per_client_sessions_and_others_still_get_in(
    loop: asyncio.AbstractEventLoop,
) -> None:
    sessions = Sessions(256, ConnectionLimits(per_client=10, per_client_per_minute=1000))
    got = [open_(sessions, "192.0.2.7") for _ in range(500)]
    held = [s for s in got if isinstance(s, FakeSession)]
    assert len(held) == 10
    assert set(got[10:]) == {TOO_MANY_FROM_YOU}
    assert isinstance(open_(sessions, "192.0.2.8"), FakeSession)
    sessions.closed(held[0])  # type: ignore[arg-type]
    assert isinstance(open_(sessions, "192.0.2.7"), FakeSession)  # a freed slot is its again


def test_the_rate_limit_refills_over_the_minute(loop: asyncio.AbstractEventLoop) -> None:
    clock = Clock()
    sessions = Sessions(256, ConnectionLimits(per_client=1000, per_client_per_minute=60),
                        clock=clock)
    assert all(isinstance(open_(sessions, "192.0.2.7"), FakeSession) for _ in range(60))
    assert open_(sessions, "192.0.2.7") == TOO_FAST
    clock.now += 5.0  # five more a minute's pace later
    assert sum(isinstance(open_(sessions, "192.0.2.7"), FakeSession) for _ in range(10)) == 5


def test_trusted_relays_keep_their_reserved_slots_and_skip_client_limits(
    loop: asyncio.AbstractEventLoop,
) -> None:
    sessions = Sessions(40, ConnectionLimits(per_client=2, reserved_for_relays=8))
    untrusted = [open_(sessions, f"192.0.2.{i}") for i in range(1, 60) for _ in range(2)]
    assert sum(isinstance(s, FakeSession) for s in untrusted) == 32  # 40 less the 8 reserved
    assert TOO_BUSY in untrusted
    relays = [open_(sessions, "127.0.0.1", trusted=True) for _ in range(9)]
    assert sum(isinstance(s, FakeSession) for s in relays) == 8
    assert relays[-1] == TOO_BUSY  # the limit itself holds for everyone


def test_busy_shortens_the_untrusted_sessions_already_open(
    loop: asyncio.AbstractEventLoop,
) -> None:
    limits = ConnectionLimits(per_client=100, busy_at=0.5, busy_timeout=3.0)
    sessions = Sessions(10, limits)
    relay = open_(sessions, "127.0.0.1", trusted=True)
    early = [open_(sessions, "192.0.2.9") for _ in range(3)]
    assert isinstance(relay, FakeSession) and not sessions.busy
    assert all(isinstance(s, FakeSession) and s.stalls == [] for s in early)
    last = open_(sessions, "192.0.2.9")  # the fifth of ten: busy
    assert sessions.busy
    assert all(s.stalls == [3.0] for s in early if isinstance(s, FakeSession))
    assert relay.stalls == []  # the relay keeps its timeout
    assert isinstance(last, FakeSession)
    assert sessions.timeout_for(last) == 3.0  # type: ignore[arg-type]
    assert sessions.timeout_for(relay) is None  # type: ignore[arg-type]
    sessions.closed(last)  # type: ignore[arg-type]
    assert not sessions.busy and sessions.timeout_for(early[0]) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(("peer", "client"), [
    ("192.0.2.7", "192.0.2.7"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),  # the same /64: the same client
    ("fe80::1%eth0", "fe80::/64"),
])
def test_a_client_is_an_ipv4_address_or_an_ipv6_64(peer: str, client: str) -> None:
    assert client_of(peer) == client


def test_trusted_relays_match_networks_and_mapped_addresses() -> None:
    trusted = relays_check(("127.0.0.1/32", "192.0.2.0/28", "2001:db8::/48"))
    assert trusted("127.0.0.1") and trusted("::ffff:192.0.2.5") and trusted("2001:db8::25")
    assert not trusted("127.0.0.2") and not trusted("192.0.2.16") and not trusted("x")


# -- settings ------------------------------------------------------------------------------


def test_defaults_are_loopback_relays_and_safe_limits(tmp_path: Path) -> None:
    settings = load_settings(write_site(tmp_path))
    assert settings.smtp is not None
    assert settings.smtp.trusted_relays == ("127.0.0.0/8", "::1/128")
    limits = settings.connections
    assert (limits.per_client, limits.per_client_per_minute, limits.junk_commands) == (10, 60, 20)
    assert limits.reserved(settings.max_connections) == 32  # an eighth of 256


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("", False), ("192.0.2.2", False),
    ("mail.example.org", False),
])
def test_which_binds_stay_on_this_machine(host: str, loopback: bool) -> None:
    assert is_loopback(host) == loopback


def test_a_public_bind_needs_trusted_relays(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    site.write_text(site.read_text().replace("smtp: {host: 127.0.0.1, port: 0}",
                                             "smtp: {host: 0.0.0.0, port: 0}"))
    with pytest.raises(ConfigError, match="not a loopback address"):
        load_settings(site)
    site.write_text(site.read_text().replace(
        "smtp: {host: 0.0.0.0, port: 0}",
        "smtp: {host: 0.0.0.0, port: 0, trusted_relays: [192.0.2.25, '2001:db8::/64']}"))
    assert load_settings(site).smtp.trusted_relays == (  # type: ignore[union-attr]
        "192.0.2.25/32", "2001:db8::/64")


@pytest.mark.parametrize("listener", ["smtp", "lmtp"])
def test_serve_on_a_public_address_without_trusted_relays_exits_78_with_the_reason(
    tmp_path: Path, listener: str,
) -> None:
    site = write_site(tmp_path)
    text = site.read_text()
    if listener == "smtp":
        text = text.replace("smtp: {host: 127.0.0.1, port: 0}", "smtp: {host: 0.0.0.0, port: 0}")
    else:
        text += "lmtp: {host: '::', port: 0}\n"
    site.write_text(text)
    done = run_cli(site, "serve")
    stderr = done.stderr.decode()
    assert done.returncode == 78, stderr
    assert f"ticketgate.yaml:{6 if listener == 'lmtp' else 2}:" in stderr
    assert f"{listener}.host" in stderr and f"{listener}.trusted_relays is not set" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(("extra", "words"), [
    ("max_connections: 8\nconnections: {reserved_for_relays: 8}\n", "must be below"),
    ("smtp: {host: 127.0.0.1, port: 0, trusted_relays: [300.1.2.3]}\n", "300.1.2.3"),
    ("smtp: {host: 127.0.0.1, port: 0, tls: {cert_file: no.pem, key_file: no.key}}\n",
     "cannot use the certificate"),
])
def test_bad_edge_settings_are_config_errors(tmp_path: Path, extra: str, words: str) -> None:
    site = write_site(tmp_path)
    text = site.read_text()
    if extra.startswith("smtp:"):
        text = text.replace("smtp: {host: 127.0.0.1, port: 0}\n", "")
    site.write_text(text + extra)
    done = run_cli(site, "rules", "check")
    assert done.returncode == 78, done.stderr
    assert words in done.stderr.decode()


class FakeTransport:
    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str) -> object:
        return (self.peer, 40000) if name == "peername" else None

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True


def test_the_door_refuses_without_a_session_and_survives_a_failing_one(
    loop: asyncio.AbstractEventLoop,
) -> None:
    made: list[int] = []

    def broken() -> object:
        made.append(1)
        raise RuntimeError("a bug")

    sessions = Sessions(4, ConnectionLimits(per_client=1, reserved_for_relays=1))
    door = Door(sessions, relays_check(("127.0.0.1/32",)), broken, "smtp")  # type: ignore[arg-type]
    held = FakeSession("192.0.2.7")
    sessions.opened(held)  # type: ignore[arg-type]
    refused = FakeTransport("192.0.2.7")
    door.connection_made(refused)  # type: ignore[arg-type]
    assert refused.written == f"{TOO_MANY_FROM_YOU}\r\n".encode() and refused.closed
    assert made == []  # no SMTP session was built for it
    failing = FakeTransport("192.0.2.8")
    door.connection_made(failing)  # type: ignore[arg-type]
    assert made == [1] and failing.closed  # logged, closed, and the listener goes on


def test_refusals_are_logged_once_a_second_per_reason(loop: asyncio.AbstractEventLoop) -> None:
    from structlog.testing import capture_logs

    clock = Clock()
    sessions = Sessions(256, ConnectionLimits(per_client_per_minute=5), clock=clock)
    with capture_logs() as logs:
        for _ in range(1000):  # a flood within the same instant
            sessions.refused("smtp", (TOO_FAST, "client_rate"), "192.0.2.7")
        clock.now += 1.0
        sessions.refused("smtp", (TOO_FAST, "client_rate"), "192.0.2.7")
    lines = [e for e in logs if e["event"] == "connections_refused"]
    assert [(e["count"], e.get("seconds")) for e in lines] == [(1, None), (1000, 1.0)]
