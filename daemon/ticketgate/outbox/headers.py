"""Safe header values from untrusted text: subjects, display names, addresses, Message-IDs.

Subjects and names come from the requester's mail, already decoded from RFC 2047, so they may
carry CR/LF (raw or smuggled inside an encoded word), other control characters or Unicode line
separators. Each is flattened to one line here; `wire` then encodes non-ASCII text per RFC 2047
when `render.build` writes the mail.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from email.errors import HeaderParseError
from email.headerregistry import Address

from ..recipients import address_parts

MAX_SUBJECT = 200  # characters of the original subject kept in ours
MAX_NAME = 100
MAX_REFERENCES = 20  # Message-IDs in References: the first (the root) and the latest ones

_SPACES = re.compile(r"\s+")
_MSG_ID = re.compile(r"[\x21-\x3b\x3d\x3f-\x7e]{1,250}@[\x21-\x3b\x3d\x3f-\x7e]{1,250}")


def one_line(text: str, limit: int) -> str:
    """`text` as a single line: control characters and line breaks of any kind become spaces."""
    # Printable text has no Cc, Zl or Zp character (str.isprintable's definition): the usual
    # case, and no per-character look-up for it.
    if text.isprintable():
        # The only white space a printable string can hold is the ASCII space (every other is
        # a Separator or Other): without a double one there is no run to squeeze.
        line = (text if "  " not in text else _SPACES.sub(" ", text)).strip()
    else:
        cleaned = "".join(
            " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text
        )
        line = _SPACES.sub(" ", cleaned).strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def mailbox(address: str, name: str = "") -> Address | None:
    """An Address for a header, or None when `address` is not a plain addr-spec we can send to
    (recipients.address_parts says which are)."""
    parts = address_parts(address)
    if parts is None:
        return None
    local, domain = parts
    try:
        return Address(display_name=one_line(name, MAX_NAME), username=local, domain=domain)
    except (HeaderParseError, ValueError, IndexError):
        return None


def msg_id(value: str) -> str | None:
    """`<value>` when it is a syntactically safe Message-ID, else None."""
    value = value.strip().removeprefix("<").removesuffix(">")
    return f"<{value}>" if _MSG_ID.fullmatch(value) else None


def references(ids: Iterable[str]) -> list[str]:
    """Safe, de-duplicated Message-IDs in order; long chains keep their root and newest."""
    out = list(dict.fromkeys(m for m in (msg_id(i) for i in ids) if m))
    if len(out) > MAX_REFERENCES:
        out = [out[0], *out[-(MAX_REFERENCES - 1):]]
    return out
