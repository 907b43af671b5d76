"""Address header values to mailboxes: flanker's address parser, else the stdlib's.

Split from parsed.py, which gives each address header's values, joined and capped, to
parse_list(); ParsedMail carries the Mailbox values made here.
"""

from __future__ import annotations

import email.utils
import functools
import re
from dataclasses import dataclass

from . import _flanker
from . import headers as mailheaders

MAX_MAILBOXES = 500

_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Mailbox:
    """One address of an address header."""

    address: str  # addr-spec, lowercased
    name: str  # decoded display name, "" if none; CR/LF/control chars removed


def clean_line(value: str) -> str:
    """One line of display text: every control character a space, runs of space collapsed."""
    return _SPACES.sub(" ", _CONTROL_ALL.sub(" ", value)).strip()


def parse_list(joined: str) -> tuple[Mailbox, ...]:
    """The mailboxes of an address list (raw, still RFC 2047-encoded): a plain one read here,
    others by flanker, else the stdlib."""
    if "@" not in joined:
        return ()
    if "=?" in joined:
        joined = shield_encoded_words(joined)
    plain = _PLAIN_MAILBOX.fullmatch(joined) if len(joined) <= 254 else None
    if plain:
        return (Mailbox((plain["enclosed"] or plain["bare"]).lower(), plain["name"] or ""),)
    if len(joined) <= _CACHED_LIST:
        return _cached_address_list(joined)
    return _address_list(joined)


# An RFC 2047 encoded word; its encoded text has no "?" and no white space.
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_SPECIALS = frozenset('()<>[]:;@\\,."')


def shield_encoded_words(joined: str) -> str:
    """`joined` with each encoded word that holds RFC 5322 specials made a quoted string.

    An encoded word is display text (RFC 2047 5), never structure, but its encoded text may
    hold ":", "@", "<" or ",", and a parser that meets them reads a group, an address or a
    second mailbox out of the name: `=?utf-8?q?Name=0D=0ABcc:_victim5@example.net?=
    <hi5@example.org>` gave the address `_victim5@example.net?=`. Quoted, the word is one
    phrase, and flanker still decodes it for the display name. Words inside quotes, comments
    or an angle address, and one that is a local part (followed by "@"), are left as they are.
    """
    out: list[str] = []
    i, n = 0, len(joined)
    quoted, angle, comments = False, False, 0
    while i < n:
        ch = joined[i]
        if quoted:
            if ch == "\\":
                out.append(joined[i:i + 2])
                i += 2
                continue
            quoted = ch != '"'
        elif comments:
            if ch == "\\":
                out.append(joined[i:i + 2])
                i += 2
                continue
            comments += {"(": 1, ")": -1}.get(ch, 0)
        elif angle:
            angle = ch != ">"
        elif ch == "=" and (word := _ENCODED_WORD.match(joined, i)):
            text = word.group()
            if _SPECIALS.intersection(text) and joined[word.end():word.end() + 1] != "@":
                text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
            out.append(text)
            i = word.end()
            continue
        else:
            quoted, angle = ch == '"', ch == "<"
            comments = 1 if ch == "(" else 0
        out.append(ch)
        i += 1
    return "".join(out)


# One mailbox in its plainest forms: "a.b@c.example", "<a.b@c.example>" or
# "Ann Berg <a.b@c.example>": ASCII words for the name, a dot-atom of letters and digits joined
# by . _ + - for the local part, hostname labels of letters, digits and single hyphens (so no
# IDNA "xn--" label, which flanker decodes) under an alphabetic top-level domain. flanker reads
# these exactly as written, its hostname lowercased (test_mail checks that against flanker on
# thousands of generated ones), so they skip its parser; anything else goes through it.
_PLAIN_ADDRESS = (
    r"[A-Za-z0-9]+(?:[._+-][A-Za-z0-9]+)*@(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)+[A-Za-z]{2,}"
)
_PLAIN_MAILBOX = re.compile(
    rf"(?:(?P<name>[A-Za-z0-9]+(?: [A-Za-z0-9]+)*) )?<(?P<enclosed>{_PLAIN_ADDRESS})>"
    rf"|(?P<bare>{_PLAIN_ADDRESS})"
)


def _address_list(joined: str) -> tuple[Mailbox, ...]:
    """The mailboxes of one address list; a pure function of `joined`."""
    found: list[Mailbox] = []
    try:
        for parsed in _flanker.address.parse_list(joined):
            if getattr(parsed, "addr_type", "") == "email":
                found.append(Mailbox(parsed.address.lower(), clean_line(parsed.display_name)))
    except Exception:  # flanker's lexer and parser raise a variety of things
        found = []
    if not found:  # flanker gives nothing for a list with one bad entry, or a group
        for name, addr in email.utils.getaddresses([joined]):
            if "@" in addr:
                found.append(
                    Mailbox(clean_line(addr).lower(), clean_line(mailheaders.decode_words(name)))
                )
    return tuple(found[:MAX_MAILBOXES])


# flanker's address parser (ply) takes 20-40 µs a list, and a helpdesk sees the same few lists
# again and again: its own function addresses in To, its regular requesters in From. Short
# lists only: ~1.5 MB when full of real ones, ~8 MB when full of 256-character lists of tiny
# addresses (measured with tracemalloc).
_CACHED_LIST = 256
_cached_address_list = functools.lru_cache(maxsize=2048)(_address_list)
