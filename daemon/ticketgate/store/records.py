"""What the store hands out: frozen records, the same whichever backend holds the rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Ticket:
    """A ticket as stored."""

    id: int
    queue: str
    status: str
    subject: str
    requester: str
    flags: tuple[str, ...]
    priority: str | None
    tags: tuple[str, ...]
    linked_to: int | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class SpoolRow:
    """One accepted delivery, exactly as received."""

    id: int
    received_at: float
    mail_from: str
    rcpt_to: tuple[str, ...]
    peer: str
    protocol: str
    raw: bytes
    state: str
    error: str | None
    attempts: int


@dataclass(frozen=True)
class SpoolEntry:
    """A spooled delivery as `spool list` shows it: without its raw bytes."""

    id: int
    received_at: float
    mail_from: str
    rcpt_to: tuple[str, ...]
    size: int
    state: str
    error: str | None


@dataclass(frozen=True)
class OutboxRow:
    """One outbox row: a rendered mail to one recipient, without its raw bytes unless asked."""

    id: int
    ticket_id: int | None
    kind: str
    message_id: str
    mail_from: str
    rcpt_to: str
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    sent_at: float | None
    raw: bytes = b""


@dataclass(frozen=True)
class StoredMessage:
    """A message of a ticket, in (from a requester or staff) or out (sent by us)."""

    id: int
    direction: str
    message_id: str
    from_address: str
    to_addresses: tuple[str, ...]
    subject: str
    text: str
    verdict: dict[str, Any]  # what each pipeline stage decided; {} for our own mail
    spool_id: int | None
    created_at: float


@dataclass(frozen=True)
class StoredEvent:
    """One entry of a ticket's history."""

    id: int
    at: float
    kind: str
    detail: dict[str, Any]
    spool_id: int | None


@dataclass(frozen=True)
class PendingLookup:
    """A ticket whose directory lookup waits for the directory to answer again."""

    ticket_id: int
    requester: str
    username: str | None  # the username the requester's latest mail gave, if any

