"""A ticket's life: its statuses and what moves it from one to the next, as data.

    new       nobody of the staff has answered yet
    open      being worked on (a staff member answered, or the requester wrote again)
    waiting   waiting on the requester
    resolved  done; a requester's mail within the reopen window opens it again

What moves a ticket (`Happening`):

    mail from the requester   new stays new; open stays open; waiting -> open;
                              resolved -> open within the reopen window (default 14 days after
                              it was resolved); later, the ticket stays resolved and the mail
                              starts a new ticket linked to it
    automatic mail            nothing (an out-of-office reply never reopens a ticket)
    a staff reply (public)    new -> open; the others stay
    a staff note (internal)   nothing
    a staff command           the status it names: open, waiting or resolved (never new)

A staff mail with a reply and a command is two happenings, in that order (the reply is recorded
first, then the status applied): `#status waiting` on a new ticket ends waiting, not open.

This module imports nothing of ours, so the pipeline (requester mail) and the staff actions
(replies, notes, commands) decide with the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Status(StrEnum):
    """The statuses a ticket can have; the values are what the store keeps."""

    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"
    RESOLVED = "resolved"


class Happening(StrEnum):
    """What happened to a ticket, as far as its status cares."""

    REQUESTER_MAIL = "requester_mail"
    AUTOMATIC_MAIL = "automatic_mail"
    STAFF_REPLY = "staff_reply"
    STAFF_NOTE = "staff_note"
    STAFF_COMMAND = "staff_command"


DEFAULT_REOPEN_WINDOW = timedelta(days=14)

# What a staff command may set. `new` means "nobody has answered", which a command cannot make
# true again.
SETTABLE = (Status.OPEN, Status.WAITING, Status.RESOLVED)

# The table for everything but a late requester mail and commands: (happening, status) -> status.
_MOVES: dict[tuple[Happening, Status], Status] = {
    (Happening.REQUESTER_MAIL, Status.NEW): Status.NEW,
    (Happening.REQUESTER_MAIL, Status.OPEN): Status.OPEN,
    (Happening.REQUESTER_MAIL, Status.WAITING): Status.OPEN,
    (Happening.REQUESTER_MAIL, Status.RESOLVED): Status.OPEN,  # within the window
    (Happening.STAFF_REPLY, Status.NEW): Status.OPEN,
    (Happening.STAFF_REPLY, Status.OPEN): Status.OPEN,
    (Happening.STAFF_REPLY, Status.WAITING): Status.WAITING,
    (Happening.STAFF_REPLY, Status.RESOLVED): Status.RESOLVED,
}


@dataclass(frozen=True)
class Transition:
    """What a happening does to a ticket.

    `status` is the ticket's status afterwards. With `new_ticket` the mail does not belong on
    this ticket at all: the caller makes a new ticket (status new) linked to this one, flags it
    and tells the requester; this ticket keeps `status`. `reason` is a short snake_case word for
    the ticket's events (`reopened`, `requester_answered`, `answered`, `set_by_staff`,
    `reopen_window_passed`, `unchanged`).
    """

    status: Status
    new_ticket: bool
    reason: str

    @property
    def changed(self) -> bool:
        return self.reason not in ("unchanged", "reopen_window_passed")


class TransitionError(ValueError):
    """A staff command asked for a status it cannot set (only open, waiting, resolved)."""


def next_status(
    current: Status,
    happening: Happening,
    *,
    now: datetime,
    resolved_at: datetime | None = None,
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
    requested: Status | None = None,
) -> Transition:
    """The status after `happening`, for a ticket that has `current`.

    `resolved_at` is when the ticket was last resolved (needed for a resolved ticket; when it is
    unknown the mail reopens the ticket rather than splitting it). `requested` is the status a
    STAFF_COMMAND names; it raises TransitionError for `new` or when missing. Aware and naive
    datetimes must not be mixed (Python refuses to compare them).
    """
    if happening is Happening.STAFF_COMMAND:
        if requested not in SETTABLE:
            allowed = ", ".join(SETTABLE)
            raise TransitionError(f"a command can set {allowed}, not {requested}")
        assert requested is not None  # for mypy: SETTABLE holds no None
        if requested == current:
            return Transition(current, False, "unchanged")
        return Transition(requested, False, "set_by_staff")
    if happening in (Happening.AUTOMATIC_MAIL, Happening.STAFF_NOTE):
        return Transition(current, False, "unchanged")
    if (
        happening is Happening.REQUESTER_MAIL
        and current is Status.RESOLVED
        and resolved_at is not None
        and now - resolved_at > reopen_window
    ):
        return Transition(current, True, "reopen_window_passed")
    after = _MOVES[(happening, current)]
    if after == current:
        return Transition(current, False, "unchanged")
    if happening is Happening.STAFF_REPLY:
        return Transition(after, False, "answered")
    if current is Status.RESOLVED:
        return Transition(after, False, "reopened")
    return Transition(after, False, "requester_answered")
