"""Reading MIME entities from bytes: the Node tree's nodes, and the plain split by boundary lines.

The pieces every builder of mimetree.py shares: Node and Limits, undoing transfer encodings,
reading an entity's MIME fields (our way with raw 8-bit values), and the third builder, a split by
boundary lines that is linear in the input and never fails (from_plain). Enclosed messages are
read with it by every builder, flanker's included (a digest's default type, which flanker does not
know), so it lives here rather than beside the library builders.
"""

from __future__ import annotations

import binascii
import contextlib
import email.message
import quopri
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from . import charsets
from . import headers as mailheaders


@dataclass(frozen=True)
class Node:
    """One MIME entity. Leaves keep their body still transfer-encoded; containers have children."""

    ctype: str  # "main/sub", lowercased
    charset: str | None = None
    disposition: str = ""  # "attachment", "inline" or ""
    filename: str = ""
    cte: str = ""  # Content-Transfer-Encoding, lowercased; "binary" when already decoded
    body: bytes = b""
    children: list[Node] = field(default_factory=list)

    @property
    def is_attachment(self) -> bool:
        """An attached file rather than part of the body text."""
        return self.disposition == "attachment" or bool(self.filename)

    def payload(self) -> bytes:
        """The body with its transfer encoding undone; lenient with broken base64."""
        return decode_transfer(self.cte, self.body)


@dataclass
class Limits:
    """How much of the tree to build; `parts` counts down as nodes are made."""

    parts: int
    depth: int
    scan: int = 0  # bytes that may still be read again: nested parts, attached messages
    too_many: bool = False
    too_deep: bool = False

    def take(self, depth: int) -> bool:
        """Whether a node at `depth` may be made; counts it when so."""
        self.too_many |= self.parts <= 0
        self.too_deep |= depth > self.depth
        if self.parts <= 0 or depth > self.depth:
            return False
        self.parts -= 1
        return True


def decode_transfer(cte: str, body: bytes) -> bytes:
    """Undo a Content-Transfer-Encoding; unknown encodings leave the bytes as they are."""
    try:
        if cte == "base64":
            try:
                return binascii.a2b_base64(body)
            except binascii.Error:  # bad padding or a stray character: keep what decodes
                data = body.translate(None, _NOT_BASE64)
                data = data[:-1] if len(data) % 4 == 1 else data  # a lone sextet decodes to nothing
                return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
        if cte == "quoted-printable":
            return quopri.decodestring(body)
    except (binascii.Error, ValueError):
        pass
    return body


_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_BASE64 = bytes(c for c in range(256) if c not in _BASE64)


def mime_fields(fields: Iterable[tuple[str, bytes]]) -> email.message.Message:
    """A stdlib Message holding just the first of each MIME field, for its RFC 2045/2231
    parameter parsing. Raw 8-bit values (filenames) are decoded here, our way."""
    msg = email.message.Message()
    for name, value in fields:
        if name in _MIME_FIELDS and msg.get(name) is None:
            text = mailheaders.to_text(value)[0]
            msg[name] = text.replace("\r", " ").replace("\n", " ")
    return msg


_MIME_FIELDS = ("content-type", "content-disposition", "content-transfer-encoding")


@dataclass(frozen=True)
class Head:
    """A message's top-level header block, read once for all uses: its fields for the headers,
    its MIME fields and charset for decoding them and, for plain text mail, for the tree."""

    block: mailheaders.HeaderBlock
    mime: email.message.Message  # mime_fields(block.fields)
    charset: str | None  # mime.get_content_charset()


def read_head(raw: bytes) -> Head:
    """The top-level header block of `raw` and what its MIME fields say."""
    block = mailheaders.split(raw)
    mime = mime_fields(block.fields)
    return Head(block, mime, content_charset(mime))


# get_content_charset() parses the Content-Type parameters (~5 µs); its answer depends on the
# field's value alone, and most mail carries one of a few values. Bounded: cleared when full.
_CHARSETS: dict[str, str | None] = {}
_CHARSETS_MAX = 512


def content_charset(mime: email.message.Message) -> str | None:
    """mime.get_content_charset(), remembered for each Content-Type value seen."""
    value = mime.get("content-type")
    if type(value) is not str:  # absent, or a Header object (a value with raw 8-bit bytes)
        return mime.get_content_charset()
    try:
        return _CHARSETS[value]
    except KeyError:
        pass
    charset = mime.get_content_charset()
    if len(_CHARSETS) >= _CHARSETS_MAX:
        _CHARSETS.clear()
    _CHARSETS[value] = charset
    return charset


def describe(
    fields: Iterable[tuple[str, bytes]], body: bytes, default: str = "text/plain"
) -> tuple[Node, str]:
    """A leaf Node from an entity's header fields and body, and its boundary parameter.

    `default` is the type without a Content-Type: message/rfc822 in a multipart/digest.
    """
    msg = mime_fields(fields)
    msg.set_default_type(default)
    return leaf(msg, body, msg.get_content_charset()), msg.get_boundary() or ""


def leaf(msg: email.message.Message, body: bytes, charset: str | None) -> Node:
    """A leaf Node from an entity's MIME fields (see mime_fields), body and charset parameter."""
    return Node(
        ctype=msg.get_content_type(),
        charset=charset,
        disposition=(msg.get_content_disposition() or "").lower(),
        filename=_filename(msg),
        cte=(msg.get("content-transfer-encoding") or "").strip().lower(),
        body=body,
    )


def _filename(msg: email.message.Message) -> str:
    # get_filename() parses the parameters of both fields again; without a Content-Disposition
    # it finds a name only in a Content-Type parameter called "name" (or "name*0"...).
    if "content-disposition" not in msg and "name" not in (msg.get("content-type") or "").lower():
        return ""
    try:
        name = msg.get_filename() or ""
    except Exception:  # odd RFC 2231 continuations
        name = ""
    if any("\udc80" <= c <= "\udcff" for c in name):  # raw 8-bit bytes, escaped by the stdlib
        name = charsets.decode(name.encode("utf-8", "surrogateescape"), None)[0]
    if "\x1b" in name:  # an ISO-2022-JP name a MUA or RFC 2231 decoding left as bytes
        with contextlib.suppress(UnicodeError):
            name = name.encode("latin-1").decode("iso2022_jp_2")
    return mailheaders.decode_words(name)[:255]


ENCLOSING = ("message/rfc822", "message/global")


def entity(raw: bytes, start: int, end: int, default: str = "text/plain") -> tuple[Node, int, str]:
    """The leaf Node for raw[start:end], with where its body starts and its boundary."""
    block = mailheaders.split(raw, start, end)
    node, boundary = describe(block.fields, raw[block.body_offset : end], default)
    return node, block.body_offset, boundary


def enclose(node: Node, depth: int, limits: Limits) -> Node:
    """A message/rfc822 leaf with its enclosed message parsed as its one child."""
    if node.ctype not in ENCLOSING or not node.body.strip() or not limits.take(depth + 1):
        return node
    body = decode_transfer(node.cte, node.body)
    child, start, boundary = entity(body, 0, len(body))
    child = _expand(body, child, start, len(body), boundary, depth + 1, limits)
    return replace(node, body=b"", children=[child])


def from_plain(raw: bytes, limits: Limits) -> Node:
    """Split by boundary lines: linear in the input, bounded by `limits`, never raises."""
    limits.take(0)
    top, body_start, boundary = entity(raw, 0, len(raw))
    top = _expand(raw, top, body_start, len(raw), boundary, 0, limits)
    return enclose(top, 0, limits)


def _expand(
    raw: bytes, node: Node, start: int, end: int, boundary: str, depth: int, limits: Limits
) -> Node:
    if not node.ctype.startswith("multipart/"):
        return node
    sections = _sections(raw, start, end, boundary.encode("utf-8", "replace"), limits)
    if sections is None:  # out of budget: leave it unread rather than show raw MIME
        return replace(node, body=b"")
    if not sections:  # no usable boundary: show what is there as text
        return replace(node, ctype="text/plain")
    container = replace(node, body=b"", children=[])
    default = "message/rfc822" if node.ctype == "multipart/digest" else "text/plain"
    for sec_start, sec_end in sections:
        if not limits.take(depth + 1):
            break
        child, child_start, child_boundary = entity(raw, sec_start, sec_end, default)
        child = _expand(raw, child, child_start, sec_end, child_boundary, depth + 1, limits)
        container.children.append(enclose(child, depth + 1, limits))
    return container


def _sections(
    raw: bytes, start: int, end: int, boundary: bytes, limits: Limits
) -> list[tuple[int, int]] | None:
    """Offsets of the parts between `--boundary` lines in raw[start:end] (preamble and epilogue
    dropped); None when the search budget is spent."""
    if limits.scan <= 0:
        limits.too_many = True
        return None
    if not boundary:
        return []
    limits.scan -= end - start
    delimiter = b"--" + boundary
    sections: list[tuple[int, int]] = []
    opened: int | None = None
    pos = start
    misses = 0
    while pos < end and len(sections) <= limits.parts and misses <= limits.parts:
        at = raw.find(delimiter, pos, end)
        if at < 0:
            break
        eol = raw.find(b"\n", at, end)
        eol = end if eol < 0 else eol + 1
        after = at + len(delimiter)
        rest = raw[after : min(eol, after + 80)].rstrip()
        if (at > start and raw[at - 1] != 0x0A) or rest not in (b"", b"--"):
            misses += 1  # "--boundary" inside a line, or a longer boundary
            pos = at + 1
            continue
        if opened is not None:
            stop = at - 1 if at > start else at
            stop -= 1 if stop > opened and raw[stop - 1] == 0x0D else 0
            sections.append((opened, max(opened, stop)))
        if rest == b"--":
            return sections
        opened = eol
        pos = eol
    if opened is not None:
        sections.append((opened, end))  # no closing delimiter: the last part runs to the end
    return sections
