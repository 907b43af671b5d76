"""The shapes of the Message-IDs we make, and the loop header that marks our mail.

Every mail this instance sends carries a Message-ID of one documented shape, so our own mail
is recognisable when it comes back (a bounce, a vacation reply, a misconfigured forward):

    <tg.{ticket}.{kind}.{16 hex digits}@{instance}>   one outgoing mail (kind: ack, notify)
    <tg.{ticket}@{instance}>                           the stable reference of a ticket

The first is stored with the outbox row and the outgoing `messages` row, so a reply that keeps
only In-Reply-To still threads. The second is put into References of everything we send about a
ticket, so a reply from a client that trims References to its root still names the ticket.
Mail that comes without a Message-ID is stored under one derived from its bytes
(`derived_message_id`), so that a second delivery of it is still recognised.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from functools import cache

# The header that names the instance on everything we send (the automail stage matches it
# case-insensitively, as header names are).
LOOP_HEADER = "X-Ticketgate-Loop"

KIND_CODES = {"acknowledgement": "ack", "notification": "notify"}

DERIVED_DOMAIN = "derived.ticketgate.invalid"


@cache
def _shape(instance: str) -> re.Pattern[str]:
    return re.compile(
        r"<?tg\.(\d{1,18})(?:\.([a-z]{1,12})\.[0-9a-f]{16})?@" + re.escape(instance) + r">?",
        re.IGNORECASE,
    )


class _RandomHex:
    """16 hex digits at a time from os.urandom, read 4 KiB at once: as random as
    secrets.token_hex(8), without a system call per Message-ID."""

    _CHUNK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0
        self._pid = -1

    def next16(self) -> str:
        with self._lock:
            if self._at + 8 > len(self._pool) or self._pid != os.getpid():
                # Refilled in a forked child too: it must not repeat its parent's digits.
                self._pool, self._at, self._pid = os.urandom(self._CHUNK), 0, os.getpid()
            start = self._at
            self._at += 8
            return self._pool[start:start + 8].hex()


_random_hex = _RandomHex()


def new_message_id(ticket_id: int, kind: str, instance: str) -> str:
    """A fresh, unique Message-ID (without angle brackets) for one outgoing mail."""
    code = KIND_CODES.get(kind, "mail")
    return f"tg.{ticket_id}.{code}.{_random_hex.next16()}@{instance}"


def ticket_reference(ticket_id: int, instance: str) -> str:
    """The stable per-ticket reference (without angle brackets)."""
    return f"tg.{ticket_id}@{instance}"


def is_our_message_id(mid: str, instance: str) -> bool:
    """True when `mid` (with or without <>) has the shape of a Message-ID this instance made."""
    return _shape(instance).fullmatch(mid.strip()) is not None


def ticket_of_reference(mid: str, instance: str) -> int | None:
    """The ticket number named by one of our Message-IDs or ticket references, else None."""
    match = _shape(instance).fullmatch(mid.strip())
    return int(match.group(1)) if match else None


def derived_message_id(raw: bytes) -> str:
    """A stable Message-ID for mail that has none, so a redelivery is still recognised."""
    return f"{hashlib.sha256(raw).hexdigest()[:40]}@{DERIVED_DOMAIN}"
