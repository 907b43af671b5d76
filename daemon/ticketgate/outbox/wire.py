"""The wire form of our outgoing mail, written by hand: folded header fields and a QP body.

`email.message.EmailMessage` did this before, at about a fifth of the pipeline's CPU: it
parses every value it is given into a token tree and folds the tree again. Our values are
few and of known shapes (a subject, display names, addr-specs, Message-IDs, a text body), so
the rules of RFC 5322, 2047 and 2045 they need fit in a page:

- A field is tokens joined by single spaces; a fold turns one of those spaces into CRLF SP,
  which unfolds back to the same space. Lines stay within 78 characters unless one token is
  longer (a long Message-ID), and never exceed 998.
- Text that is not printable ASCII, or that would read as an encoded word (`=?`), or a word
  too long to fold, is sent as RFC 2047 encoded words (UTF-8, Q or B, whichever is shorter),
  each at most 75 characters and holding whole characters. Adjacent words are encoded
  together, spaces included: the white space between two encoded words is not text.
- Display names of ASCII that are not plain atoms are quoted (RFC 5322 3.2.4); with non-ASCII
  the words that are not atoms are encoded words, as an encoded word may not stand in quotes.
- Message-IDs are never encoded (RFC 2047 5 forbids it); they are folded between IDs only.
- The body's lines end in CRLF and it is quoted-printable (binascii's, 76-character lines).
"""

from __future__ import annotations

import binascii
import string
from collections.abc import Callable, Iterable
from email.headerregistry import Address

MAX_LINE = 78  # RFC 5322 2.1.1: SHOULD, not counting CRLF
MAX_WIRE = 998  # RFC 5322 2.1.1: MUST
MAX_EW = 75  # RFC 2047 2: an encoded word's length
_EW_OVERHEAD = len("=?utf-8?q??=")
_MIN_PAYLOAD = 16  # less room than this at a line's end: start the next encoded word below

# RFC 2047 5(3): the characters Q may leave as they are in every context, phrases included.
_Q_SAFE = frozenset((string.ascii_letters + string.digits + "!*+-/").encode())
_Q = tuple(
    chr(b) if b in _Q_SAFE else "_" if b == 0x20 else f"={b:02X}" for b in range(256)
)
_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")


class _Field:
    """One header field being folded: tokens joined by spaces, a fold replacing a space."""

    __slots__ = ("empty", "lines", "wrap")

    def __init__(self, name: str) -> None:
        self.lines = [name + ":"]
        self.empty = True  # no token yet: the first one stays on the name's line
        self.wrap = False  # the next token starts a new line

    def room(self) -> int:
        """Characters a token can have and still fit, with its space, where it would go."""
        return MAX_LINE - 1 - (0 if self.wrap else len(self.lines[-1]))

    def fold(self) -> None:
        """Put the next token on a new line (never before the first token)."""
        self.wrap = not self.empty

    def add(self, token: str) -> None:
        """Append `token` after a space, on a new line when it does not fit on this one."""
        line = self.lines[-1]
        if self.empty or (not self.wrap and len(line) + 1 + len(token) <= MAX_LINE):
            line = self.lines[-1] = f"{line} {token}"
        else:
            line = f" {token}"
            self.lines.append(line)
        self.empty = self.wrap = False
        if len(line) > MAX_WIRE:
            raise ValueError(f"{self.lines[0].split(':', 1)[0]}: a token too long for a line")

    def text(self) -> str:
        return "\r\n".join(self.lines)


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (undecodable bytes let through somewhere) has no UTF-8 form: show
        # it as U+FFFD rather than refuse the mail.
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text).encode()


def _add_encoded(field: _Field, text: str) -> None:
    """Append `text` as encoded words, cut between characters to fit the lines."""
    data = _utf8(text)
    q = [_Q[b] for b in data]
    size = len(data)
    as_b = sum(map(len, q)) > 4 * -(-size // 3)  # B when Q would be longer
    prefix = "=?utf-8?b?" if as_b else "=?utf-8?q?"
    start = 0
    while start < size:
        room = min(MAX_EW, field.room()) - _EW_OVERHEAD
        if room < _MIN_PAYLOAD and not field.empty and not field.wrap:
            field.fold()
            continue
        if as_b:
            end = min(size, start + room // 4 * 3)
        else:
            end, used = start, 0
            while end < size and used + len(q[end]) <= room:
                used += len(q[end])
                end += 1
        while end < size and data[end] & 0xC0 == 0x80:  # not inside a UTF-8 sequence
            end -= 1
        if end == start:  # not one character fits in what is left of this line
            assert not (field.wrap or field.empty), "a line too short for one character"
            field.fold()
            continue
        if as_b:
            payload = binascii.b2a_base64(data[start:end], newline=False).decode("ascii")
        else:
            payload = "".join(q[start:end])
        field.add(f"{prefix}{payload}?=")
        start = end


def _plain(word: str) -> bool:
    """True when `word` can be sent as it is: printable ASCII that no decoder would decode."""
    return word.isascii() and word.isprintable() and "=?" not in word


def _check(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:  # what the email package refused too
        raise ValueError(f"{name}: a header value may not contain CR or LF: {value!r}")


def _add_words(field: _Field, words: list[str], plain: Callable[[str], bool]) -> None:
    """Append `words` (no empty ones), the `plain` ones as they are and each run of the others
    as encoded words, spaces included."""
    run: list[str] = []
    for word in words:
        # A plain word must also fit on a line, after the field's name if it comes first.
        room = MAX_LINE - len(field.lines[0]) - 1 if field.empty and not run else MAX_LINE - 1
        if len(word) <= room and plain(word):
            if run:
                _add_encoded(field, " ".join(run))
                run = []
            field.add(word)
        else:
            run.append(word)
    if run:
        _add_encoded(field, " ".join(run))


def text_field(name: str, value: str) -> str:
    """`name: value` for unstructured text (Subject and the like), folded and RFC 2047-encoded.

    Raises ValueError when `value` holds CR or LF: callers flatten untrusted text first.
    """
    _check(name, value)
    if (len(name) + 2 + len(value) <= MAX_LINE and _plain(value)
            and "  " not in value and value[:1] != " " and value[-1:] != " "):
        return f"{name}: {value}" if value else f"{name}:"
    field = _Field(name)
    words = value.split(" ")
    if "" in words:  # spaces at an end or doubled: only encoded words keep them all
        _add_encoded(field, value)
    else:
        _add_words(field, words, _plain)
    return field.text()


def _atom(word: str) -> bool:
    return _ATEXT.issuperset(word) and "=?" not in word


def _quoted(name: str, first_room: int) -> list[str] | None:
    """A printable ASCII display name as atoms, or as a quoted string in pieces; None when a
    piece would not fit on a line."""
    words = name.split(" ")
    if "" in words:  # spaces at an end or doubled: quoted, and not folded inside
        words = [name]
    if not all(map(_atom, words)):
        # RFC 5322 3.2.4; FWS inside a quoted string unfolds to the space it was.
        words = [w.replace("\\", "\\\\").replace('"', '\\"') for w in words]
        words[0] = '"' + words[0]
        words[-1] += '"'
    if len(words[0]) > first_room or max(map(len, words)) > MAX_LINE - 1:
        return None
    return words


def address_field(name: str, address: Address) -> str:
    """`name: display name <addr-spec>`, or just the addr-spec when there is no name.

    A display name of printable ASCII is atoms or a quoted string. Any other is atoms where
    it can be and encoded words for the rest (an encoded word may not stand inside quotes):
    fewer encoded words side by side, whose separating space RFC 2047 readers drop but the
    email package's address parser keeps. Raises ValueError when the addr-spec is not
    printable ASCII (`headers.mailbox()` makes sure it is).
    """
    spec = address.addr_spec  # the stdlib's: it quotes a local part that needs it
    if not (spec.isascii() and spec.isprintable()):
        raise ValueError(f"{name}: not an ASCII address: {spec!r}")
    field = _Field(name)
    display = address.display_name
    if display:
        _check(name, display)
        words = _quoted(display, MAX_LINE - len(name) - 2) if _plain(display) else None
        if words is not None:
            for word in words:
                field.add(word)
        elif "  " in display or display[:1] == " " or display[-1:] == " ":
            _add_encoded(field, display)
        else:
            _add_words(field, display.split(" "), _atom)
        field.add(f"<{spec}>")
    else:
        field.add(spec)
    return field.text()


def id_field(name: str, ids: Iterable[str]) -> str:
    """`name: <id> <id> …` (Message-ID, In-Reply-To, References), folded between IDs only.

    Raises ValueError for CR or LF, or an ID that is not printable ASCII.
    """
    field = _Field(name)
    for value in ids:
        _check(name, value)
        for token in value.split():
            if not (token.isascii() and token.isprintable()):
                raise ValueError(f"{name}: not a Message-ID: {token!r}")
            field.add(token)
    return field.text()


def qp_body(text: str) -> bytes:
    """`text` as a quoted-printable body: UTF-8, every line ending in CRLF (a final one added,
    as `set_content` does), soft breaks keeping lines within 76 characters.

    Raises UnicodeEncodeError for a lone surrogate, as `set_content` did.
    """
    lines = text.encode("utf-8").splitlines()  # CR, LF and CRLF, as set_content splits
    return binascii.b2a_qp(b"\r\n".join(lines) + b"\r\n", istext=True)
