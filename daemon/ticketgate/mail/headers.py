"""Header blocks of messages and MIME parts: splitting, unfolding and RFC 2047 decoding.

We split header blocks ourselves rather than through a MIME library because every top-level header
is needed in order, with a size cap, whichever library manages the body; and because the scan must
stay bounded on hostile input (a 1 MB header, a million header lines, no blank line at all).
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from . import charsets

MAX_BLOCK = 2 * 1024 * 1024  # bytes of a header block looked at; the rest is skipped
MAX_LINES = 20_000  # lines of a header block looked at, continuation lines included
MAX_RAW_VALUE = 32 * 1024  # bytes kept of one raw value, before decoding

_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_ONLY_SPACE = re.compile(r"[ \t\r\n]*")
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/]*")


@dataclass(frozen=True)
class HeaderBlock:
    """The fields of a header block as raw unfolded bytes, and where the body starts."""

    fields: tuple[tuple[str, bytes], ...]  # (lowercased name, unfolded raw value)
    body_offset: int
    truncated: bool  # fields or bytes beyond the limits were skipped


def split(raw: bytes, start: int = 0, end: int | None = None) -> HeaderBlock:
    """Split the header block at raw[start:end]; never raises.

    A blank line ends the block; so does a line that is neither a field nor a continuation (as the
    stdlib parser does), which then belongs to the body. An mbox "From " line at the top is skipped.
    """
    stop = len(raw) if end is None else end
    limit = min(stop, start + MAX_BLOCK)
    pos = start
    if raw.startswith(b"From ", pos):
        eol = raw.find(b"\n", pos, stop)
        pos = stop if eol < 0 else eol + 1
    fields: list[tuple[bytes, bytearray]] = []
    truncated = False
    lines = 0
    while pos < stop:
        lines += 1
        if pos >= limit or lines > MAX_LINES:
            truncated = True
            blank = _BLANK_LINE.search(raw, max(start, pos - 1), stop)
            pos = stop if blank is None else blank.end()
            break
        eol = raw.find(b"\n", pos, stop)
        line_end, next_pos = (stop, stop) if eol < 0 else (eol, eol + 1)
        line = raw[pos:line_end]
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            pos = next_pos
            break
        if line[:1] in (b" ", b"\t"):
            if fields and len(fields[-1][1]) < MAX_RAW_VALUE:
                fields[-1][1].extend(line)
            pos = next_pos
            continue
        match = _FIELD.match(line)
        if match is None:
            break
        fields.append((match.group(1), bytearray(line[match.end() :])))
        pos = next_pos
    return HeaderBlock(
        fields=tuple(
            (name.decode("ascii").lower(), bytes(value[:MAX_RAW_VALUE]).strip(b" \t\r\n"))
            for name, value in fields
        ),
        body_offset=pos,
        truncated=truncated,
    )


def to_text(
    value: bytes, label: str | None = None, hint: charsets.Hint | None = None
) -> tuple[str, str | None]:
    """A raw header value as str, and a note when 8-bit bytes needed a fallback.

    ASCII is the rule; raw 8-bit is UTF-8 (RFC 6532) or, in old mail, usually the charset of
    the body (`label`) or of the rest of the message (`hint`).
    """
    if value.isascii():
        return value.decode("ascii"), None
    return charsets.decode(value, label, hint=hint)


def _payload(encoding: str, text: str) -> bytes:
    data = text.encode("utf-8")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    # Wrong padding is common and harmless; other stray characters mean it is no encoded word.
    data = data.rstrip(b"=")
    if not _BASE64_TEXT.fullmatch(data):
        raise ValueError("not base64")
    if len(data) % 4 == 1:  # one sextet too many can never be decoded: drop it
        data = data[:-1]
    return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words in a header value; never raises.

    Whitespace between adjacent encoded words is dropped, and adjacent words in one charset are
    joined as bytes before decoding, since senders split multibyte characters across words.
    Undecodable words are kept as they were.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            out.append(charsets.decode(bytes(pending), pending_charset)[0])
            pending.clear()
            pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        label = match.group(1).split("*", 1)[0]  # RFC 2231 adds *language
        try:
            data = _payload(match.group(2), match.group(3))
        except (binascii.Error, ValueError, UnicodeError):
            flush()
            out.append(between + match.group())
            pos = match.end()
            continue
        if pending_charset is None or not _ONLY_SPACE.fullmatch(between):
            flush()
            out.append(between)
        elif label.lower() != pending_charset.lower():
            flush()
        pending_charset = label if pending_charset is None else pending_charset
        pending += data
        pos = match.end()
    flush()
    out.append(value[pos:])
    return "".join(out)
