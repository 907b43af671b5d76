"""Parsing: raw bytes to a ParsedMail, for any bytes at all.

flanker parses MIME structure and addresses (see DESIGN.md); when it refuses a message the stdlib
`email` package takes over, and a plain split by boundary lines after that (see mimetree.py).
Header blocks and charsets are handled here and in headers.py/charsets.py, the same way
whichever parser read the structure; address headers in mailboxes.py. Every fallback taken is
noted in ParsedMail.defects.

``python -m ticketgate.mail --build-tables`` (mail/__main__.py) writes flanker's address parser
tables at install time; without them they are built in memory at each start, and never written
at run time (so the installed package runs from a read-only file system): see plytables.py.
"""

from __future__ import annotations

import email.message
import email.utils
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from . import charsets, mailboxes, mimetree
from . import headers as mailheaders
from .mailboxes import MAX_MAILBOXES as MAX_MAILBOXES  # public here before the split
from .mailboxes import Mailbox, clean_line
from .text import html_to_text, strip_quotes_and_signature

_T = TypeVar("_T")

MAX_VALUE = 8 * 1024  # characters kept of each decoded header value
MAX_ATTACHMENTS = 100
MAX_DEFECTS = 20
_DEPTH_CEILING = 200  # text selection recurses once per level

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
_ANGLE_IDS = re.compile(r"<([^<>]*)>")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([\w.:-]{1,40})""", re.I)


@dataclass(frozen=True)
class ParsedMail:
    """What the pipeline needs of a message; see parse()."""

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    sender: Mailbox | None
    reply_to: Mailbox | None
    to: tuple[Mailbox, ...]
    cc: tuple[Mailbox, ...]
    date: datetime | None
    headers: tuple[tuple[str, str], ...]
    content_type: str
    report_type: str | None
    text: str
    new_text: str
    attachments: tuple[str, ...]
    parts: int
    defects: tuple[str, ...]
    senders: tuple[Mailbox, ...] = ()  # every mailbox of From; `sender` is the first

    def header(self, name: str) -> str | None:
        """The first value of header `name` (any case), or None."""
        values = self._by_name().get(name.lower())
        return values[0] if values else None

    def header_all(self, name: str) -> tuple[str, ...]:
        """Every value of header `name` (any case), in order."""
        return self._by_name().get(name.lower(), ())

    def _by_name(self) -> dict[str, tuple[str, ...]]:
        # The stages ask for a dozen headers of each message (automail alone for ten): the
        # values by name, made on the first question and kept on the instance (not a field:
        # equality, repr and the golden outputs see only the fields), answer each at once.
        index: dict[str, tuple[str, ...]] | None = self.__dict__.get("_header_index")
        if index is None:
            collected: dict[str, list[str]] = {}
            for field, value in self.headers:
                collected.setdefault(field, []).append(value)
            index = {field: tuple(values) for field, values in collected.items()}
            object.__setattr__(self, "_header_index", index)
        return index


def normalize_message_id(value: str) -> str | None:
    """A Message-ID without its angle brackets and whitespace: "<a@b>" -> "a@b"; None if empty."""
    match = _ANGLE_IDS.search(value)
    found = (match.group(1) if match else value).strip()
    found = _SPACES.sub("", found)
    return found or None


def _message_ids(value: str) -> tuple[str, ...]:
    """Every msg-id of an In-Reply-To or References value, in order.

    Ids in angle brackets are taken; without any, whitespace-separated words with an "@" are,
    which is what some old MUAs send.
    """
    found = [_SPACES.sub("", m) for m in _ANGLE_IDS.findall(value)]
    if not any(found):
        found = [w.strip("<>") for w in value.split() if "@" in w]
    return tuple(f for f in found if f)


def _mailboxes(values: tuple[str, ...]) -> tuple[Mailbox, ...]:
    """Parse address header values (raw, still RFC 2047-encoded) with flanker, else the stdlib."""
    return mailboxes.parse_list(", ".join(v for v in values if v.strip())[:MAX_VALUE])


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # "-0000" means "zone unknown": UTC is the honest reading
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Notes:
    """Defects, deduplicated and capped."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, note: str | None) -> None:
        if note and note not in self.items and len(self.items) < MAX_DEFECTS:
            self.items.append(note[:200])


def _once(compute: Callable[[], _T]) -> Callable[[], _T]:
    """`compute`, run on the first call only; its result is kept for the later ones.

    What functools.cache gives for a function of no arguments, for a fraction of the cost of
    making one (about 4 µs), which parse would pay for each message.
    """
    kept: list[_T] = []

    def get() -> _T:
        if not kept:
            kept.append(compute())
        return kept[0]

    return get


def _body_leaves(node: mimetree.Node, out: list[mimetree.Node]) -> None:
    """The text leaves that make up the body of `node`, in reading order."""
    if node.ctype.startswith("multipart/"):
        kids = [k for k in node.children if not k.is_attachment]
        if node.ctype == "multipart/alternative":
            options = []
            for kid in kids:
                leaves: list[mimetree.Node] = []
                _body_leaves(kid, leaves)
                if leaves:
                    options.append(leaves)
            # text/plain preferred, unless it is empty (some senders add an empty one)
            plain = [
                o for o in options if any(n.ctype == "text/plain" and n.body.strip() for n in o)
            ]
            out.extend(plain[0] if plain else options[-1] if options else [])
        elif node.ctype in ("multipart/related", "multipart/signed", "multipart/encrypted"):
            if kids:
                _body_leaves(kids[0], out)
        else:
            for kid in kids:
                _body_leaves(kid, out)
    elif node.ctype in ("text/plain", "text/html"):
        out.append(node)


def _fallback_leaves(root: mimetree.Node) -> list[mimetree.Node]:
    """Text of an enclosed message, else any text part: for mail that is only an attachment."""
    enclosed: list[mimetree.Node] = []
    any_text: list[mimetree.Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.ctype.startswith("message/") and not enclosed:
            for kid in node.children:
                _body_leaves(kid, enclosed)
        if node.ctype in ("text/plain", "text/html") and node.body.strip() and not any_text:
            any_text.append(node)
        stack.extend(reversed(node.children))
    return enclosed or any_text


def binary_placeholder(size: int) -> str:
    """What the text of a binary body says in its place."""
    return f"[binary content, {size} bytes]"


def _render(
    node: mimetree.Node, max_text: int, hint: charsets.Hint, notes: _Notes
) -> tuple[str, int]:
    """The readable text of one leaf (transfer- and charset-decoded, HTML made text), and how
    many bytes of input that took."""
    html = node.ctype == "text/html"
    data = node.payload()
    if charsets.looks_binary(data, node.charset):
        # An image or sound labelled text (or sent bare, with no header): as text it is a
        # screenful of mojibake, so the ticket says what it is instead.
        notes.add(f"{node.ctype}: binary content, shown as a placeholder")
        return binary_placeholder(len(data)), min(len(data), charsets.BINARY_SAMPLE)
    # html.parser handles ~1 MB/s: markup beyond a few times max_text is rarely text anyway
    limit = max_text * 4 + 16 if not html else max(max_text * 4, 256 * 1024)
    label = node.charset
    if html and not label:
        meta = _META_CHARSET.search(data, 0, 4096)
        label = meta.group(1).decode("ascii") if meta else None
    text, note = charsets.decode(data[:limit], label, hint=hint, final=len(data) <= limit)
    notes.add(note)
    return (html_to_text(text) if html else text), min(len(data), limit)


def _body_text(
    leaves: list[mimetree.Node], max_text: int, hint: charsets.Hint, notes: _Notes
) -> str:
    """The text of the body leaves, joined, within max_text and a total input budget."""
    pieces: list[str] = []
    size = 0
    budget = max(8 * max_text, 1 << 20)  # bytes decoded in all, against 1,000 parts of markup
    for leaf in leaves:
        if size >= max_text or budget <= 0:
            notes.add("text: more body parts than the size limits allow; the rest skipped")
            break
        text, used = _render(leaf, max_text, hint, notes)
        budget -= used
        if text.strip():
            pieces.append(text.strip("\r\n"))
            size += len(text)
    return _clean_text("\n\n".join(pieces), max_text)


def _clean_text(text: str, max_text: int) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _TEXT_CONTROL.sub(" ", text.replace("\x00", ""))
    return text[: max_text * 2].strip("\n")[:max_text]


def _attachments(root: mimetree.Node) -> tuple[str, ...]:
    """Names of the parts that carry a filename, in order."""
    names: list[str] = []
    stack = [root]
    while stack and len(names) < MAX_ATTACHMENTS:
        node = stack.pop()
        name = clean_line(node.filename)
        if name:
            names.append(name)
        stack.extend(reversed(node.children))
    return tuple(names)


def parse(
    raw: bytes, *, max_text: int = 100_000, max_parts: int = 1000, max_depth: int = 50
) -> ParsedMail:
    """Parse a message; never raises for any input bytes, in time and memory bounded by its size.

    `max_text` caps ParsedMail.text (characters), `max_parts` the MIME parts looked at, and
    `max_depth` the nesting followed (at most 200).
    """
    try:
        return _parse(bytes(raw), max_text, max_parts, min(max_depth, _DEPTH_CEILING))
    except Exception as exc:  # a bug of ours: still give the pipeline something to hold
        return _unparsed(raw, max_text, f"internal error: {type(exc).__name__}: {exc}")


def _parse(raw: bytes, max_text: int, max_parts: int, max_depth: int) -> ParsedMail:
    notes = _Notes()
    head = mimetree.read_head(raw)
    block, top, label = head.block, head.mime, head.charset
    if block.truncated:
        notes.add(f"headers: over {mailheaders.MAX_LINES} lines or {mailheaders.MAX_BLOCK} bytes")
    hint = _once(lambda: charsets.guess_message_charset(raw))

    raw_values: list[tuple[str, str]] = []
    headers: list[tuple[str, str]] = []
    for name, value in block.fields:
        text, note = mailheaders.to_text(value, label, hint)
        notes.add(note and f"header {name}: {note}")
        raw_values.append((name, text))
        decoded = _CONTROL.sub(" ", mailheaders.decode_words(text))
        headers.append((name, decoded[:MAX_VALUE]))

    def raw_all(name: str) -> tuple[str, ...]:
        return tuple(v[:MAX_VALUE] for n, v in raw_values if n == name)

    def first(name: str) -> str | None:
        return next(iter(raw_all(name)), None)

    root, limits, note = mimetree.build(raw, head, max_parts, max_depth)
    notes.add(note)
    if limits.too_many:
        notes.add(f"structure: more than {max_parts} parts; the rest skipped")
    if limits.too_deep:
        notes.add(f"structure: nested deeper than {max_depth} levels; the rest skipped")

    leaves: list[mimetree.Node] = []
    _body_leaves(root, leaves)
    if not any(leaf.body.strip() for leaf in leaves):
        leaves = _fallback_leaves(root)
    text = _body_text(leaves, max_text, hint, notes)
    ctype = top.get_content_type()
    froms = _mailboxes(raw_all("from"))
    reply_to = _mailboxes(raw_all("reply-to"))
    subject = next((v for n, v in headers if n == "subject"), "")
    return ParsedMail(
        message_id=normalize_message_id(first("message-id") or ""),
        in_reply_to=_message_ids(" ".join(raw_all("in-reply-to"))),
        references=_message_ids(" ".join(raw_all("references"))),
        subject=clean_line(subject),
        sender=froms[0] if froms else None,
        reply_to=reply_to[0] if reply_to else None,
        to=_mailboxes(raw_all("to")),
        cc=_mailboxes(raw_all("cc")),
        date=_date(first("date")),
        headers=tuple(headers),
        content_type=ctype,
        report_type=_report_type(top) if ctype == "multipart/report" else None,
        text=text,
        new_text=strip_quotes_and_signature(text),
        attachments=_attachments(root),
        parts=max_parts - limits.parts,
        defects=tuple(notes.items),
        senders=froms,
    )


def _report_type(top: email.message.Message) -> str | None:
    value = top.get_param("report-type")
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def _unparsed(raw: bytes, max_text: int, defect: str) -> ParsedMail:
    """The last resort when parsing itself failed: the bytes as Latin-1 text, nothing else."""
    try:
        data = bytes(raw)[: max_text * 2]
        text = _clean_text(data.decode("latin-1"), max_text)
    except Exception:
        text = ""
    return ParsedMail(
        message_id=None,
        in_reply_to=(),
        references=(),
        subject="",
        sender=None,
        reply_to=None,
        to=(),
        cc=(),
        date=None,
        headers=(),
        content_type="text/plain",
        report_type=None,
        text=text,
        new_text=text,
        attachments=(),
        parts=0,
        defects=(defect[:200],),
    )

