"""The MIME structure of a message as a small bounded tree: from flanker, the stdlib or a split.

Three builders give the same `Node` tree, tried in this order:

1. flanker (the design's parser). It gets a str we decoded ourselves (UTF-8, else Latin-1, which
   maps bytes one to one), so its whole-message charset guessing never runs and every part's bytes
   can be recovered exactly for our own charset handling. Plain text mail (one text/plain or
   text/html part: most helpdesk mail) gets the tree flanker would give without running it,
   from the header block already read (`single_part`).
2. the stdlib `email` package (compat32), which accepts the false and missing boundaries flanker
   refuses.
3. a plain split by boundary lines, linear in the input, which never fails.

Both libraries slow down badly on some inputs (flanker took 20 s for a 25 MiB body of blank lines,
the stdlib parser checks every line against every open boundary), so `costs` estimates their time
from cheap counts first, and a message over a library's budget skips it.
"""

from __future__ import annotations

import binascii
import contextlib
import email
import email.message
import email.policy
import quopri
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from . import _flanker, charsets, mailheaders

# Estimated nanoseconds each library may spend on one message (see costs()).
FLANKER_BUDGET = 400_000_000
STDLIB_BUDGET = 400_000_000
# Up to this size costs().flanker stays within FLANKER_BUDGET whatever the bytes, so the counts
# need not be made: with every count at its most (lines = n, "\n--" n/3, "content-type:" n/13,
# blank lines n/2 + n/3) it is 3,216 n + 5 (n/3)(n/13) ns, 243 ms at 32 KiB.
FLANKER_SURELY_AFFORDABLE = 32 * 1024


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


@dataclass(frozen=True)
class Costs:
    """Estimated parse times in nanoseconds, measured on CPython 3.11 with flanker 0.9.11.

    flanker's tokenizer runs a regex over the whole message (12-45 ns a byte) and spends ~1.5 µs
    on each line that starts with "--", is a Content-Type or is blank, and compares each "--" line
    with every Content-Type seen before it. The stdlib parser spends
    ~0.4 µs a line, checks each line against every open boundary, and ~10 µs a part.
    """

    flanker: int
    stdlib: int


def costs(raw: bytes) -> Costs:
    """Estimate, with counts that run at memchr speed, what flanker and the stdlib would cost."""
    lower = raw.lower()
    dashes = raw.count(b"\n--")
    ctypes = lower.count(b"content-type:")
    tokens = dashes + ctypes
    tokens += 2 * (raw.count(b"\n\n") + raw.count(b"\n\r\n"))  # count() sees every other blank
    lines = raw.count(b"\n")
    multiparts = lower.count(b"multipart/")
    return Costs(
        flanker=30 * len(raw) + 70 * lines + 1500 * tokens + 5 * dashes * ctypes,
        stdlib=10 * len(raw) + 400 * lines + 150 * lines * multiparts + 10_000 * dashes,
    )


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
    return Head(block, mime, mime.get_content_charset())


def _describe(
    fields: Iterable[tuple[str, bytes]], body: bytes, default: str = "text/plain"
) -> tuple[Node, str]:
    """A leaf Node from an entity's header fields and body, and its boundary parameter.

    `default` is the type without a Content-Type: message/rfc822 in a multipart/digest.
    """
    msg = mime_fields(fields)
    msg.set_default_type(default)
    return _leaf(msg, body, msg.get_content_charset()), msg.get_boundary() or ""


def _leaf(msg: email.message.Message, body: bytes, charset: str | None) -> Node:
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


_ENCLOSING = ("message/rfc822", "message/global")


def _entity(raw: bytes, start: int, end: int, default: str = "text/plain") -> tuple[Node, int, str]:
    """The leaf Node for raw[start:end], with where its body starts and its boundary."""
    block = mailheaders.split(raw, start, end)
    node, boundary = _describe(block.fields, raw[block.body_offset : end], default)
    return node, block.body_offset, boundary


def _enclose(node: Node, depth: int, limits: Limits) -> Node:
    """A message/rfc822 leaf with its enclosed message parsed as its one child."""
    if node.ctype not in _ENCLOSING or not node.body.strip() or not limits.take(depth + 1):
        return node
    body = decode_transfer(node.cte, node.body)
    child, start, boundary = _entity(body, 0, len(body))
    child = _expand(body, child, start, len(body), boundary, depth + 1, limits)
    return replace(node, body=b"", children=[child])


# flanker's tokenizer finds Content-Type fields with this pattern (the "ctype" group of
# flanker.mime.message.scanner._RE_TOKENIZER), anywhere in the message. As bytes it matches
# what it matches in the str flanker is given: every character it takes is ASCII.
_FLANKER_CTYPE = re.compile(
    rb"content-type:[\x21-\x7e \t]+(?:(?:\r\n|\n)[ \t]+[\x20-\x7e \t]+)*", re.IGNORECASE
)
# text/plain or text/html with parameters that flanker's parser reads without error or surprise:
# tokens or quoted tokens, no boundary, no RFC 2231 (name*) or encoded-word (=?) values.
_SIMPLE_TEXT_TYPE = re.compile(
    rb"[ \t]*text/(?:plain|html)[ \t]*"
    rb"(?:;[ \t]*(?!boundary[ \t]*=)[a-z][a-z0-9-]*[ \t]*=[ \t]*"
    rb'(?:[a-z0-9.:+_-]+|"[a-z0-9.:+_ -]+")[ \t]*)*'
    rb";?[ \t]*",
    re.IGNORECASE,
)
_SIMPLE_TYPES = ("text/plain", "text/html")


def single_part(raw: bytes, head: Head, limits: Limits) -> Node | None:
    """The tree `from_flanker(raw, limits)` builds, made without flanker, for a message that
    flanker certainly reads as one text/plain or text/html part; None when that is not certain.

    `head` is read_head(raw). flanker reads such a message as one part whose string is the whole
    message, so from_flanker's tree is one leaf: `_entity(raw, 0, len(raw))` (whose header block
    is head.block) with the type flanker saw. That type must be ours, so the conditions are
    those under which flanker's scanner sees the Content-Type field we see (or none when we see
    none) and reads the same type from it: the header block ends at a blank line, as flanker's
    header section does (ours also ends at a line that is no field); "content-type:" occurs at
    most once in the message, as the name of our field at the start of a line; flanker's pattern
    reads that field to its end (all printable ASCII, value starting on the first line); and
    the value is simple enough that both parsers read the same type from it and flanker cannot
    raise on it. Most helpdesk mail qualifies; the rest goes through from_flanker as before.
    """
    block = head.block
    if block.truncated or not block.fields:
        return None
    body_at = block.body_offset
    if not raw.endswith((b"\n\n", b"\n\r\n"), 0, body_at):
        return None
    values = [value for name, value in block.fields if name == "content-type"]
    lower = raw.lower()
    if len(values) > 1 or lower.count(b"content-type:") != len(values):
        return None
    if values:
        at = lower.find(b"content-type:")
        if at >= body_at or (at > 0 and raw[at - 1] != 0x0A):
            return None
        match = _FLANKER_CTYPE.match(raw, at)
        if match is None:
            return None
        end = match.end()
        newline = 1 if raw.startswith(b"\n", end) else 2 if raw.startswith(b"\r\n", end) else 0
        if not newline or raw[end + newline : end + newline + 1] in (b" ", b"\t"):
            return None  # flanker's match stopped inside the field
        if len(values[0]) > 1024 or not _SIMPLE_TEXT_TYPE.fullmatch(values[0]):
            return None
    node = _leaf(head.mime, raw[body_at:], head.charset)
    if node.ctype not in _SIMPLE_TYPES:
        return None
    limits.take(0)
    return node


def from_flanker(raw: bytes, limits: Limits) -> Node:
    """Build the tree with flanker; raises whatever flanker raises on a message it rejects."""
    try:
        text, codec = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, codec = raw.decode("latin-1"), "latin-1"
    root = _flanker.mime.from_string(text)
    limits.take(0)
    top = _flanker_node(root, codec, "", 0, limits)
    stack = [(root, top, 0)]
    while stack:
        part, node, depth = stack.pop()
        kids = list(part.parts or ())
        if part.enclosed is not None:
            kids.append(part.enclosed)
        for kid in kids:
            if not limits.take(depth + 1):
                break
            child = _flanker_node(kid, codec, node.ctype, depth + 1, limits)
            node.children.append(child)
            if kid.parts or kid.enclosed is not None:
                stack.append((kid, child, depth + 1))
    return top


def _flanker_node(part: Any, codec: str, parent: str, depth: int, limits: Limits) -> Node:
    ctype = part.content_type
    name = f"{ctype.main}/{ctype.sub}".lower()
    if part.parts or part.enclosed is not None:
        if depth == 0 or not name.startswith("message/") or limits.scan <= 0:
            return Node(ctype=name)
        # An attached message: its filename is in its own header block, which flanker would
        # parse slowly (~1 µs a byte of encoded words); ours reads it from a bounded copy.
        data = part.to_string().encode(codec)
        limits.scan -= len(data)
        node, _, _ = _entity(data, 0, len(data))
        return Node(ctype=name, disposition=node.disposition, filename=node.filename)
    # A leaf: its exact bytes, re-encoded with the codec that made them a str.
    data = part.to_string().encode(codec)
    default = "message/rfc822" if parent == "multipart/digest" else "text/plain"
    node, _, _ = _entity(data, 0, len(data), default)
    if node.ctype in _ENCLOSING:  # a digest's default, which flanker does not know
        return _enclose(node, depth, limits)
    return replace(node, ctype=name)


def from_stdlib(raw: bytes, limits: Limits) -> Node:
    """Build the tree with the stdlib parser, which accepts most broken structure."""
    root = email.message_from_bytes(raw, policy=email.policy.compat32)
    limits.take(0)
    top = _stdlib_node(root)
    stack = [(root, top, 0)]
    while stack:
        msg, node, depth = stack.pop()
        payload = msg.get_payload()
        for kid in payload if isinstance(payload, list) else ():
            if not isinstance(kid, email.message.Message):
                continue
            if not limits.take(depth + 1):
                break
            child = _stdlib_node(kid)
            node.children.append(child)
            if kid.is_multipart():
                stack.append((kid, child, depth + 1))
    return top


def _stdlib_node(msg: email.message.Message) -> Node:
    # The raw fields, not the stdlib's reading: it replaces raw 8-bit bytes in a filename.
    fields = [
        (name.lower(), str(value).encode("utf-8", "surrogateescape"))
        for name, value in msg.raw_items()
    ]
    node, _ = _describe(fields, b"", msg.get_default_type())
    if msg.is_multipart():
        return replace(node, ctype=msg.get_content_type(), charset=None, cte="")
    ctype = node.ctype
    if ctype.startswith("multipart/"):  # no usable boundary: the body is all there is
        ctype = "text/plain"
    body = msg.get_payload(decode=True) if ctype.startswith("text/") else None
    # get_payload(decode=True) undid the transfer encoding
    return replace(node, ctype=ctype, cte="binary", body=body if isinstance(body, bytes) else b"")


def from_plain(raw: bytes, limits: Limits) -> Node:
    """Split by boundary lines: linear in the input, bounded by `limits`, never raises."""
    limits.take(0)
    top, body_start, boundary = _entity(raw, 0, len(raw))
    top = _expand(raw, top, body_start, len(raw), boundary, 0, limits)
    return _enclose(top, 0, limits)


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
        child, child_start, child_boundary = _entity(raw, sec_start, sec_end, default)
        child = _expand(raw, child, child_start, sec_end, child_boundary, depth + 1, limits)
        container.children.append(_enclose(child, depth + 1, limits))
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
