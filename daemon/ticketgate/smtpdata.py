"""DATA read in blocks into one buffer: aiosmtpd's protocol, with memory bounded by the size.

aiosmtpd (1.4.6) reads DATA one line at a time and keeps each line as an object of its own, so
a 25 MiB message of blank lines (13 million lines) took 2 GB and 40 s of the event loop
(bench/mime_bombs.py --daemon). This reads up to the end of data, or as much as the stream
holds when there is none yet, into one bytearray, and applies the same rules:

- only CRLF "." CRLF ends the data (or "." CRLF as its first line): a bare CR or LF around a
  dot is data (RFC 5321 4.1.1.4; the SMTP smuggling attacks rely on servers that differ);
- a CRLF-line that starts with "." loses that dot (4.5.2);
- a line longer than the server's `line_length_limit` (smtp.LINE_LIMIT, 64 KiB) is refused
  with 500, more than `data_size_limit` octets with 552, both once the data has ended
  (4.5.3.1); the data is dropped as soon as either is known. Over LMTP the refusal is
  repeated for each accepted recipient (RFC 2033 4.2), which aiosmtpd did not do.

Used by the SMTP and LMTP sessions (smtp.py) in place of aiosmtpd's `smtp_DATA`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING

END = b"\r\n.\r\n"
# While DATA is read, the session's StreamReader may hold this much before it pauses reading
# the socket (twice this, as asyncio counts) and looks this far for END in one go.
DATA_READ_LIMIT = 64 * 1024
TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"  # aiosmtpd's texts: smtp.py maps them
TOO_MUCH = "552 Error: Too much mail data"


class _Lines:
    """The longest CRLF-line seen so far, fed the stream piece by piece."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.current = 0  # octets of the line not yet ended
        self.ends_in_cr = False  # the last piece ended in CR: a CRLF may straddle two pieces
        self.too_long = False

    def feed(self, piece: bytes) -> None:
        window = (b"\r" + piece) if self.ends_in_cr else piece
        lines = window.split(b"\r\n")
        carried = self.current - (1 if self.ends_in_cr else 0)  # that CR is in `window`
        if len(lines) == 1:
            self.current += len(piece)
        else:
            longest = max([carried + len(lines[0]), *map(len, lines[1:-1])]) + 2
            self.too_long = self.too_long or longest > self.limit
            self.current = len(lines[-1])
        self.ends_in_cr = piece.endswith(b"\r")
        self.too_long = self.too_long or self.current > self.limit


async def read_data(
    reader: asyncio.StreamReader, *, size_limit: int | None, line_limit: int
) -> tuple[bytes | None, str | None]:
    """Read DATA up to its end; (the unstuffed message, None) or (None, the refusal)."""
    raw = bytearray(await reader.readexactly(3))  # even an empty message is ".\r\n"
    if raw == b".\r\n":
        return b"", None
    # A first line may end where the end of data begins ("x\r\n" + ".\r\n"): read on byte by
    # byte while what we hold ends in a start of END, so that END lies wholly ahead of us.
    while not raw.endswith(END) and any(raw.endswith(END[:k]) for k in range(1, 5)):
        raw += await reader.readexactly(1)
    lines = _Lines(line_limit)
    total = 0
    refusal: str | None = None
    ended = raw.endswith(END)
    piece = bytes(raw)
    raw = bytearray()
    while True:
        total += len(piece)
        if refusal is None:
            lines.feed(piece)
            if lines.too_long:
                refusal = TOO_LONG
            elif size_limit and total - 3 > size_limit:  # the final ".\r\n" is not data
                refusal = TOO_MUCH
            if refusal is None:
                raw += piece
            else:
                raw = bytearray()  # drop it at once, but read on to the end of data
        if ended:
            break
        try:
            piece = await reader.readuntil(END)
            ended = True
        except asyncio.LimitOverrunError as exc:
            # END not (or not yet) in the buffer: take what cannot be part of it.
            piece = await reader.read(exc.consumed)
        if not piece:  # the client went away; aiosmtpd cancels the session anyway
            raise asyncio.IncompleteReadError(bytes(raw[-64:]), None)
    if refusal is not None:
        return None, refusal
    del raw[-3:]  # ".\r\n"; the CRLF before it ends the last line
    data = bytes(raw)
    del raw
    if data.startswith(b"."):
        data = data[1:]
    return data.replace(b"\r\n.", b"\r\n"), None


@contextlib.contextmanager
def reading_data(reader: asyncio.StreamReader) -> Iterator[None]:
    """Raise the reader's limit to DATA_READ_LIMIT for a while (aiosmtpd sets it to its line
    length limit, 1001, for the commands).

    With 1001 asyncio paused the socket once 2002 octets were waiting and resumed it when they
    were taken: two epoll_ctl calls and a tenth of the listener's CPU for every mail over 2 KB,
    and readuntil raising LimitOverrunError for any piece over 1001 octets. DATA has no such limit
    (its lines are checked by _Lines), so it is read in larger steps; memory stays bounded
    by DATA_READ_LIMIT. StreamReader has no public way to change its limit: when its private
    `_limit` is not there, this does nothing.
    """
    limit = getattr(reader, "_limit", None)
    if not isinstance(limit, int) or limit >= DATA_READ_LIMIT:
        yield
        return
    reader._limit = DATA_READ_LIMIT  # type: ignore[attr-defined]
    try:
        yield
    finally:
        reader._limit = limit  # type: ignore[attr-defined]


async def smtp_DATA(session: Any, arg: str | None) -> None:
    """aiosmtpd's `SMTP.smtp_DATA`, reading with `read_data`; `session` is the SMTP protocol."""
    if await session.check_helo_needed():
        return
    if await session.check_auth_needed("DATA"):
        return
    if not session.envelope.rcpt_tos:
        await session.push("503 Error: need RCPT command")
        return
    if arg:
        await session.push("501 Syntax: DATA")
        return
    with reading_data(session._reader):  # raised before the 354 that lets the data come
        await session.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            data, refusal = await read_data(session._reader, size_limit=session.data_size_limit,
                                            line_limit=session.line_length_limit)
        except asyncio.CancelledError:  # the connection was lost during DATA
            session._writer.close()
            raise
    if refusal is not None or data is None:
        # LMTP answers once per accepted recipient (RFC 2033 4.2), refusals too: one reply
        # for two recipients would leave the client waiting for the second until it times out.
        rcpts = session.envelope.rcpt_tos if session.envelope is not None else []
        replies = len(rcpts) if isinstance(session, LMTP) else 1
        session._set_post_data_state()
        for _ in range(max(replies, 1)):
            await session.push(refusal or TOO_MUCH)
        return
    content: bytes | str = data
    if session._decode_data:  # not ticketgate's setting; kept for aiosmtpd's contract
        if session.enable_SMTPUTF8:
            content = data.decode("utf-8", errors="surrogateescape")
        else:
            try:
                content = data.decode("ascii", errors="strict")
            except UnicodeDecodeError:
                await session.push("500 Error: strict ASCII mode")
                return
    session.envelope.content = content
    session.envelope.original_content = data
    status = await session._call_handler_hook("DATA")
    session._set_post_data_state()
    await session.push("250 OK" if status is MISSING else status)
