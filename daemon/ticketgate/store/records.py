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
    outbox_id: int | None = None  # our own mail: the outbox row that carried it


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



@dataclass(frozen=True)
class DeskTicket:
    """A ticket as the staff desk lists and shows it: with its owner and first answer."""

    id: int
    queue: str
    status: str
    subject: str
    requester: str
    flags: tuple[str, ...]
    priority: str | None
    owner: str | None  # None: nobody has taken it
    linked_to: int | None
    created_at: float
    updated_at: float
    first_answer_at: float | None


@dataclass(frozen=True)
class SearchHit:
    """A message that matched a search: its ticket, its rank (bm25: lower is better) and a
    snippet whose matches are enclosed in MARK_START and MARK_END (escape, then highlight)."""

    ticket_id: int
    message_row: int
    score: float
    snippet: str


MARK_START, MARK_END = "\ue000", "\ue001"  # private-use characters: never markup


@dataclass(frozen=True)
class DayFigures:
    """One UTC day of one queue, for the dashboard: new tickets, how many of them came with
    each etiquette flag, and how soon they were first answered (none of them: not yet)."""

    day: int  # days since the epoch (UTC)
    queue: str
    tickets: int
    vague_subject: int
    multi_issue: int
    private_address: int
    missing_computer_name: int
    answered_1h: int
    answered_4h: int
    answered_1d: int
    answered_3d: int
    answered_later: int
