"""A stored mail as the desk shows it: its body parts and attachments, from the raw bytes.

The stored message row has the text the pipeline extracted; the raw mail (the spool row of an
incoming message, the outbox row of ours) gives the rest: whether it has a plain text part,
its HTML (cleaned by sanitize.py, and shown only when there is no text part), and its
attachments, numbered in the order of the MIME tree, so a download names part N.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from ..mail import clean_line, mimetree
from ..mail.mimeparts import Node, read_head
from ..store.interface import Reads
from ..store.records import StoredMessage
from .sanitize import clean

MAX_PARTS, MAX_DEPTH = 1000, 50
MAX_HTML = 512 * 1024  # bytes of HTML cleaned for display; the raw download has all of it


@dataclass(frozen=True)
class Attachment:
    index: int
    filename: str
    ctype: str
    size: int


@dataclass(frozen=True)
class MailView:
    html: str | None  # cleaned HTML, only when the mail has no plain text part
    attachments: tuple[Attachment, ...]


def _leaves(node: Node, out: list[Node]) -> None:
    if node.children:
        for kid in node.children:
            _leaves(kid, out)
    else:
        out.append(node)


def leaves(raw: bytes) -> list[Node]:
    root, _, _ = mimetree.build(raw, read_head(raw), MAX_PARTS, MAX_DEPTH)
    found: list[Node] = []
    _leaves(root, found)
    return found


def _decode(data: bytes, charset: str | None) -> str:
    try:
        codecs.lookup(charset or "utf-8")
    except LookupError:
        charset = "utf-8"
    return data.decode(charset or "utf-8", errors="replace")


def _name(node: Node, index: int) -> str:
    name = clean_line(node.filename).replace("/", "_").replace("\\", "_").strip(". ")
    return name or f"part-{index}"


def view(raw: bytes) -> MailView:
    parts = leaves(raw)
    body = [n for n in parts if not n.is_attachment and n.ctype in ("text/plain", "text/html")]
    has_plain = any(n.ctype == "text/plain" and n.body.strip() for n in body)
    html = None
    if not has_plain:
        pieces = [_decode(n.payload()[:MAX_HTML], n.charset) for n in body
                  if n.ctype == "text/html"]
        html = clean("\n".join(pieces)) if pieces else None
    attachments = tuple(
        Attachment(i, _name(n, i), n.ctype, len(n.payload()))
        for i, n in enumerate(parts)
        if n.is_attachment or n.ctype not in ("text/plain", "text/html")
    )
    return MailView(html, attachments)


def attachment(raw: bytes, index: int) -> tuple[str, bytes] | None:
    """(file name, decoded bytes) of part `index` (as view() numbered it), or None."""
    parts = leaves(raw)
    if not 0 <= index < len(parts):
        return None
    node = parts[index]
    return _name(node, index), node.payload()


def raw_of(reads: Reads, message: StoredMessage) -> bytes | None:
    """The raw bytes behind a stored message: its spool row's, or its outbox row's."""
    if message.spool_id is not None:
        row = reads.spool_row(message.spool_id)
        return row.raw if row is not None else None
    if message.outbox_id is not None:
        return reads.outbox_raw(message.outbox_id)
    return None
