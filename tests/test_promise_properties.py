"""Promise: any bytes, any header value: stored unchanged, then processed or held, never a crash.

Property tests (hypothesis) against a running daemon over raw SMTP: arbitrary bytes as DATA,
and messages whose header values carry encoded words in known, unknown and bogus charsets,
bare CR and LF, NUL, 8-bit bytes and long lines. For each example the spool must hold exactly
what was sent (RFC 5321: plus the CRLF a message ends in), the row must leave `new` for
`done` or `held` (with its error), and the daemon's threads must still be alive. The parser
must never reach its last-resort fallback, which is there for bugs of ours.

TICKETGATE_PROPERTY_EXAMPLES scales the number of examples (default 120 per property).
"""

from __future__ import annotations

import asyncio
import base64
import quopri
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Running, write_site
from promise_helpers import Wire, env_int, received_form, stuffed, wait_until
from ticketgate import mail
from ticketgate.config import load_settings
from ticketgate.smtp import LINE_LIMIT
from ticketgate.smtpdata import read_data

EXAMPLES = env_int("TICKETGATE_PROPERTY_EXAMPLES", 120)

CHARSETS = ["utf-8", "UTF-8", "us-ascii", "iso-8859-1", "windows-1252", "gb2312", "gbk",
            "big5", "iso-2022-jp", "shift_jis", "euc-kr", "ks_c_5601-1987", "windows-1258",
            "koi8-r", "utf-7", "utf-16", "x-unknown", "unknown-8bit", "", "utf-8*sv",
            # names Python knows that are not charsets of text at all
            "zlib", "hex", "base64", "bz2", "uu", "quopri", "rot13", "unicode-escape",
            "idna", "punycode", "undefined", "raw_unicode_escape"]


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    site = write_site(tmp_path_factory.mktemp("properties"),
                      "acknowledgements: {per_hour: 1000, per_day: 10000}\n")
    running = Running(load_settings(site))
    yield running
    running.stop()


def send_and_settle(gate: Running, raw: bytes) -> None:
    """Deliver `raw`; assert what the promise says about its bytes and its processing."""
    longest = max(len(line) + 2 for line in stuffed(raw).split(b"\r\n"))
    with Wire(gate.port()) as wire:
        reply = wire.transaction(raw)
    if longest > LINE_LIMIT:  # the daemon's line bound: a clear refusal, nothing stored
        assert (reply.code, reply.text[:5]) == (500, b"5.5.2"), reply.line
        return
    assert reply.code == 250, reply.line
    spool_id = reply.spool_id()
    assert spool_id is not None
    conn = gate.store.view.conn
    (stored,) = conn.execute("SELECT raw FROM spool WHERE id = ?", (spool_id,)).fetchone()
    assert stored == received_form(raw)
    state, error = wait_until(
        lambda: conn.execute("SELECT state, error FROM spool WHERE id = ? AND state != 'new'",
                             (spool_id,)).fetchone(),
        timeout=30, what=f"S{spool_id} processed")
    assert state in ("done", "held")
    if state == "held":
        assert error, "a held row names its error"
        assert error.startswith("held by rule"), error  # the pipeline failed on this input
    assert gate.daemon.worker._thread.is_alive()
    assert not mail_fallback(stored)


def mail_fallback(raw: bytes) -> list[str]:
    """Defects that say mail.parse fell back to its last resort (a bug of ours)."""
    return [d for d in mail.parse(raw).defects if d.startswith("internal error")]


# -- arbitrary bytes as DATA -----------------------------------------------------------------

PIECES = [b"\r\n", b"\n", b"\r", b".", b"..", b"\r\n.\r\n", b"\n.\n", b"\x00", b"\xff\xfe",
          b"From: ", b"Subject: ", b"Message-ID: <a@b>", b"Content-Type: multipart/mixed;"
          b" boundary=x", b"--x", b"--x--", b"Content-Transfer-Encoding: base64", b"=?utf-8?b?",
          b"?=", b"begin 644 f\n", b"\r\n\r\n", b" ", b"\t", b"<html><body>", b"<!--",
          b"Content-Type: message/rfc822", b"charset=zlib"]

raw_bytes = st.one_of(
    st.binary(max_size=3000),
    st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=40)), max_size=80)
    .map(b"".join),
)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=raw_bytes)
def test_any_bytes_as_data_are_stored_unchanged_and_processed(gate: Running, raw: bytes) -> None:
    send_and_settle(gate, raw)


# -- arbitrary header values -----------------------------------------------------------------


@st.composite
def encoded_word(draw: st.DrawFn) -> bytes:
    charset = draw(st.sampled_from(CHARSETS))
    payload = draw(st.binary(max_size=40))
    if draw(st.booleans()):
        text = base64.b64encode(payload)
        kind = b"B"
    else:
        text = quopri.encodestring(payload, header=True).replace(b"?", b"=3F")
        kind = b"Q"
    if draw(st.booleans()):  # broken: cut short, bad padding, stray characters
        text = text[: draw(st.integers(0, len(text)))] + draw(st.sampled_from([b"", b"=", b"!"]))
    return b"=?" + charset.encode() + b"?" + kind + b"?" + text + b"?="


header_value = st.lists(
    st.one_of(
        encoded_word(),
        st.binary(max_size=60),  # 8-bit, NUL, anything
        st.sampled_from([b"\r\n", b"\n", b"\r", b"\x00", b"\r\n ", b"\r\n\t", b" ", b"\xe5",
                         b"kim@example.org", b"<a@b.c>", b"\"Kim\" <kim@example.org>", b","]),
        st.integers(200, 990).map(lambda n: b"x" * n),  # long, within SMTP's line limit
        st.integers(1000, 5000).map(lambda n: b"y" * n),  # over it: refused, not stored
    ),
    max_size=8,
).map(b"".join)

HEADERS = [b"Subject", b"From", b"To", b"Cc", b"Reply-To", b"Sender", b"Message-ID",
           b"In-Reply-To", b"References", b"Date", b"Content-Type",
           b"Content-Transfer-Encoding", b"Content-Disposition", b"Auto-Submitted",
           b"Precedence", b"List-Id", b"Return-Path", b"X-Ticketgate-Loop", b"X-Anything"]


@st.composite
def message_with_odd_headers(draw: st.DrawFn) -> bytes:
    fields = [b"From: Kim <kim@example.org>", b"To: helpdesk@example.org",
              b"Subject: Skrivaren i rum 2110", b"Message-ID: <prop@client.test.invalid>"]
    for _ in range(draw(st.integers(1, 4))):
        fields.insert(draw(st.integers(0, len(fields))),
                      draw(st.sampled_from(HEADERS)) + b": " + draw(header_value))
    ctype = draw(st.sampled_from([None, *CHARSETS]))
    if ctype is not None:
        fields.append(b"Content-Type: text/plain; charset=" + ctype.encode())
    body = draw(st.sampled_from([b"Hej,\r\nskrivaren matar fel.\r\n", b"", b"\xe5\xe4\xf6\r\n",
                                 "Привет".encode("koi8-r") + b"\r\n"]))
    return b"\r\n".join(fields) + b"\r\n\r\n" + body


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=message_with_odd_headers())
def test_any_header_values_are_stored_unchanged_and_processed(gate: Running,
                                                              raw: bytes) -> None:
    send_and_settle(gate, raw)


# -- the parser alone, many more examples (no SMTP, no disk) -----------------------------------


@settings(max_examples=EXAMPLES * 10, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=st.one_of(raw_bytes, message_with_odd_headers()))
def test_the_parser_never_falls_back_to_its_last_resort(raw: bytes) -> None:
    parsed = mail.parse(raw)
    assert not [d for d in parsed.defects if d.startswith("internal error")], parsed.defects
    assert isinstance(parsed.subject, str) and isinstance(parsed.text, str)
    assert "\r" not in parsed.subject and "\n" not in parsed.subject


def test_the_charset_labels_of_codecs_that_are_not_text(tmp_path: Path) -> None:
    """The example hypothesis found first: `=?zlib?B?...?=` or charset=hex must not cost the
    message its sender and subject (they once sent mail.parse to its last resort)."""
    for label in ("zlib", "hex", "base64", "bz2", "uu", "quopri", "rot13"):
        payload = base64.b64encode(b"x\x9c\xcbH\xcd\xc9\xc9\x07\x00\x06,\x02\x15").decode()
        raw = (f"From: Kim <kim@example.org>\r\nSubject: =?{label}?B?{payload}?= hej\r\n"
               f"Content-Type: text/plain; charset={label}\r\n\r\nhello\r\n").encode()
        parsed = mail.parse(raw)
        assert parsed.sender is not None and parsed.sender.address == "kim@example.org", label
        assert parsed.subject.endswith("hej") and parsed.text == "hello", label
        assert not mail_fallback(raw), label


# -- the DATA reader (smtpdata.py) against RFC 5321's line rules, any stream, any chunking ------


def rfc_reference(stream: bytes, size_limit: int, line_limit: int
                  ) -> tuple[bytes | None, set[str], bytes] | None:
    """RFC 5321 read line by line, as aiosmtpd does: (message, refusals, what follows), or
    None when the stream never ends the data."""
    pos, kept, size, refusals = 0, [], 0, set()
    while True:
        end = stream.find(b"\r\n", pos)
        if end < 0:
            return None
        line, pos = stream[pos:end + 2], end + 2
        if line == b".\r\n":
            break
        size += len(line)
        if len(line) > line_limit:
            refusals.add("500")
        if size > size_limit:
            refusals.add("552")
        kept.append(line[1:] if line.startswith(b".") else line)
    return (None if refusals else b"".join(kept)), refusals, stream[pos:]


stream_pieces = st.lists(
    st.one_of(st.sampled_from([b"\r\n", b".", b"..", b"\r", b"\n", b".\r\n", b"\r\n.\r\n",
                               b"\r\n.", b"x", b"\r\r\n", b"\n.\n"]),
              st.binary(max_size=30), st.integers(5, 120).map(lambda n: b"y" * n)),
    max_size=60)


@settings(max_examples=EXAMPLES * 10, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(pieces=stream_pieces, ends=st.booleans(), cuts=st.lists(st.integers(1, 40), max_size=30),
       reader_limit=st.sampled_from([8, 64, 1001]), line_limit=st.sampled_from([12, 60, 1001]),
       size_limit=st.integers(1, 3000))
def test_the_data_reader_follows_the_rfc_for_any_stream_and_chunking(
    pieces: list[bytes], ends: bool, cuts: list[int], reader_limit: int, line_limit: int,
    size_limit: int,
) -> None:
    stream = b"".join(pieces) + (b"\r\n.\r\nQUIT\r\n" if ends else b"")
    expected = rfc_reference(stream, size_limit, line_limit)

    async def run() -> tuple[tuple[bytes | None, str | None] | None, bytes]:
        reader = asyncio.StreamReader(limit=reader_limit)

        async def feed() -> None:
            pos = 0
            for cut in [*cuts, len(stream)]:
                reader.feed_data(stream[pos:pos + cut])
                pos += cut
                await asyncio.sleep(0)
            reader.feed_data(stream[pos:])
            reader.feed_eof()

        feeder = asyncio.create_task(feed())
        try:
            got = await read_data(reader, size_limit=size_limit, line_limit=line_limit)
        except asyncio.IncompleteReadError:
            got = None
        await feeder
        return got, await reader.read()

    got, rest = asyncio.run(run())
    if expected is None:
        assert got is None  # no end of data: nothing is taken for a message
        return
    message, refusals, after = expected
    assert got is not None
    assert rest == after  # not a byte of the next commands was swallowed
    if refusals:
        assert got[0] is None and got[1] is not None and got[1][:3] in refusals
    else:
        assert got == (message, None)
