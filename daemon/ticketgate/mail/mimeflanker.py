"""The MIME tree by flanker (the design's parser), and its plain text fast path.

flanker gets a str we decoded ourselves (UTF-8, else Latin-1, which maps bytes one to one), so
its whole-message charset guessing never runs and every part's bytes can be recovered exactly
for our own charset handling. Plain text mail (one text/plain or text/html part: most helpdesk
mail) gets the tree flanker would give without running it, from the header block already read
(`single_part`). Callers use these through mimetree.py.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from . import _flanker
from .mimeparts import ENCLOSING, Head, Limits, Node, enclose, entity, leaf

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
    message, so from_flanker's tree is one leaf: `entity(raw, 0, len(raw))` (whose header block
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
    node = leaf(head.mime, raw[body_at:], head.charset)
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
        node, _, _ = entity(data, 0, len(data))
        return Node(ctype=name, disposition=node.disposition, filename=node.filename)
    # A leaf: its exact bytes, re-encoded with the codec that made them a str.
    data = part.to_string().encode(codec)
    default = "message/rfc822" if parent == "multipart/digest" else "text/plain"
    node, _, _ = entity(data, 0, len(data), default)
    if node.ctype in ENCLOSING:  # a digest's default, which flanker does not know
        return enclose(node, depth, limits)
    return replace(node, ctype=name)
