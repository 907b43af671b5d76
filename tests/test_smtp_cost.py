"""The listener's shortcuts for CPU per mail give exactly what aiosmtpd's own code gives."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from unittest import mock

import pytest
from aiosmtpd.smtp import SMTP

from ticketgate import smtp as gate_smtp
from ticketgate.smtp import GateLMTP, GateSMTP, Sessions
from ticketgate.smtpdata import read_data, reading_data


class _Handler:
    async def handle_DATA(self, *args: object) -> str:
        return "250 OK"


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _make(cls: type, loop: asyncio.AbstractEventLoop) -> SMTP:
    kwargs = {"data_size_limit": 1000, "enable_SMTPUTF8": True, "decode_data": False,
              "hostname": "gate.test.invalid", "ident": "t", "timeout": 30, "loop": loop}
    if cls is SMTP:
        return SMTP(_Handler(), **kwargs)  # type: ignore[arg-type]
    return cls(_Handler(), sessions=Sessions(10), **kwargs)  # type: ignore[no-any-return]


# MAIL FROM:/RCPT TO: arguments after the keyword, as aiosmtpd hands them to _getaddr.
PATHS = [
    "", "<>", " <>", "<helpdesk@example.org>", "<helpdesk@example.org> SIZE=3000 BODY=8BITMIME",
    "helpdesk@example.org", "helpdesk@example.org SIZE=1", "<@relay.example:helpdesk@example.org>",
    '<"quoted local"@example.org>', "<kim.öberg@exempel.se>", "<a..b@example.org>",
    "<user@[192.0.2.1]>", "<no-at-sign>", "<unterminated@example.org", "<<x@example.org>>",
    "<x@example.org>>", "(comment) <x@example.org>", "<x@example.org> (comment)", "@", "<@>",
    "\t<tab@example.org>", "<" + "l" * 70 + "@example.org>", "<x@" + "d" * 600 + ".org>",
    "<x@example.org>\x00", "<😀@example.org>", "x" * 2000,
]


@pytest.mark.parametrize("cls", [GateSMTP, GateLMTP])
@pytest.mark.parametrize("limit", [0, 64])
def test_addresses_are_read_as_aiosmtpd_reads_them(
    cls: type, limit: int, loop: asyncio.AbstractEventLoop
) -> None:
    ours, theirs = _make(cls, loop), _make(SMTP, loop)
    ours.local_part_limit = theirs.local_part_limit = limit
    for arg in PATHS * 2:  # the second time from the cache
        try:
            expected: object = theirs._getaddr(arg)
        except Exception as exc:  # whatever the parser raises besides HeaderParseError
            expected = type(exc)
            with pytest.raises(expected):
                ours._getaddr(arg)
            continue
        assert ours._getaddr(arg) == expected, arg


def test_an_address_seen_before_is_not_parsed_again(loop: asyncio.AbstractEventLoop) -> None:
    session = _make(GateSMTP, loop)
    gate_smtp._parse_path.cache_clear()
    with mock.patch.object(gate_smtp, "get_angle_addr", wraps=gate_smtp.get_angle_addr) as parse:
        for _ in range(3):
            assert session._getaddr("<helpdesk@example.org>") == ("helpdesk@example.org", "")
    assert parse.call_count == 1


def test_an_overlong_argument_is_not_remembered(loop: asyncio.AbstractEventLoop) -> None:
    session = _make(GateSMTP, loop)
    gate_smtp._parse_path.cache_clear()
    junk = "<" + "x" * 1000 + "@example.org>"
    assert session._getaddr(junk) == (junk[1:-1], "")
    assert gate_smtp._parse_path.cache_info().currsize == 0


def _tables(session: SMTP) -> tuple[object, ...]:
    return (
        {name: method.__func__ for name, method in session._smtp_methods.items()},
        {name: (impl.method.__func__, impl.is_builtin)
         for name, impl in session._auth_methods.items()},
        set(session._handle_hooks),
    )


@pytest.mark.parametrize("cls", [GateSMTP, GateLMTP])
def test_a_session_knows_the_commands_a_full_dir_would_give(
    cls: type, loop: asyncio.AbstractEventLoop
) -> None:
    class FullDir(cls):  # type: ignore[misc,valid-type]
        def __dir__(self):  # type: ignore[no-untyped-def]
            return object.__dir__(self)

    session, reference = _make(cls, loop), _make(FullDir, loop)
    assert _tables(session) == _tables(reference)
    assert {"DATA", "MAIL", "RCPT", "EHLO", "QUIT"} <= set(session._smtp_methods)
    assert session._smtp_methods["DATA"].__self__ is session
    # Once built, the session lists all its attributes again.
    assert "sessions" in dir(session) and "push" in dir(session)


def test_building_a_session_fetches_only_its_command_methods(
    loop: asyncio.AbstractEventLoop
) -> None:
    # aiosmtpd's __init__ runs inspect.getmembers on every new session; fetching each of the
    # ~130 attributes cost more than the rest of the connection's setup.
    fetched: list[str] = []
    getmembers = inspect.getmembers

    def recording(obj: object, *args: object) -> list[tuple[str, object]]:
        members = getmembers(obj, *args)  # type: ignore[arg-type]
        if isinstance(obj, GateSMTP):
            fetched.extend(name for name, _ in members)
        return members

    with mock.patch.object(inspect, "getmembers", recording):
        _make(GateSMTP, loop)
    assert fetched and all(name.startswith(("smtp_", "auth_")) for name in fetched)


class _Wire:
    """A StreamWriter stand-in that keeps every write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    async def drain(self) -> None:
        return None


def _ehlo(session: SMTP, loop: asyncio.AbstractEventLoop) -> list[bytes]:
    wire = _Wire()
    session._writer = wire  # type: ignore[assignment]
    session.session = session._create_session()
    hello = session.smtp_LHLO if isinstance(session, GateLMTP) else session.smtp_EHLO
    loop.run_until_complete(hello("client.example.org"))
    loop.run_until_complete(session.smtp_NOOP(""))
    return wire.writes


@pytest.mark.parametrize("cls", [GateSMTP, GateLMTP])
def test_the_ehlo_reply_goes_out_whole_in_one_write(
    cls: type, loop: asyncio.AbstractEventLoop
) -> None:
    ours, theirs = _ehlo(_make(cls, loop), loop), _ehlo(_make(SMTP, loop), loop)
    assert len(theirs) > 3 and len(ours) == 2  # the EHLO reply, then NOOP's
    assert b"".join(ours) == b"".join(theirs)  # the same bytes on the wire
    assert ours[0].startswith(b"250-gate.test.invalid\r\n") and ours[0].endswith(b"250 HELP\r\n")


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.pauses = 0

    def pause_reading(self) -> None:
        self.pauses += 1

    def resume_reading(self) -> None:
        return None


def test_data_is_read_without_pausing_the_socket_and_commands_keep_their_limit(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # asyncio pauses a socket once its reader holds twice its limit; aiosmtpd's limit (1001,
    # the command line length) paused and resumed every mail over 2 KB: two system calls each.
    reader = asyncio.StreamReader(limit=1001, loop=loop)
    transport = _Transport()
    reader.set_transport(transport)
    body = b"".join(b"line %05d of a mail of 20 KB or so\r\n" % n for n in range(600))

    async def scenario() -> bytes | None:
        with reading_data(reader):
            reader.feed_data(body + b".\r\n")
            data, refusal = await read_data(reader, size_limit=None, line_limit=1001)
        assert refusal is None
        return data

    assert loop.run_until_complete(scenario()) == body
    assert transport.pauses == 0
    reader.feed_data(b"MAIL FROM:<" + b"x" * 2500 + b">\r\n")
    with pytest.raises(asyncio.LimitOverrunError):  # a command line still has its limit
        loop.run_until_complete(reader.readuntil(b"\r\n"))
    assert transport.pauses == 1
