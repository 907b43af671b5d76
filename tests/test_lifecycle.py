"""The ticket's statuses and what moves them (ticketgate.lifecycle)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ticketgate.lifecycle import (
    DEFAULT_REOPEN_WINDOW,
    Happening,
    Status,
    Transition,
    TransitionError,
    next_status,
)

NOW = datetime(2025, 6, 3, 10, 0, tzinfo=UTC)


def after(current: Status, happening: Happening, **kw: object) -> Transition:
    return next_status(current, happening, now=NOW, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("current", "expected", "reason"), [
    (Status.NEW, Status.OPEN, "answered"),
    (Status.OPEN, Status.OPEN, "unchanged"),
    (Status.WAITING, Status.WAITING, "unchanged"),
    (Status.RESOLVED, Status.RESOLVED, "unchanged"),
])
def test_a_staff_reply_opens_a_new_ticket_and_leaves_the_others(
        current: Status, expected: Status, reason: str) -> None:
    moved = after(current, Happening.STAFF_REPLY)
    assert (moved.status, moved.new_ticket, moved.reason) == (expected, False, reason)


@pytest.mark.parametrize(("current", "expected", "reason"), [
    (Status.NEW, Status.NEW, "unchanged"),
    (Status.OPEN, Status.OPEN, "unchanged"),
    (Status.WAITING, Status.OPEN, "requester_answered"),
    (Status.RESOLVED, Status.OPEN, "reopened"),
])
def test_a_requester_mail_reopens_waiting_and_resolved_tickets(
        current: Status, expected: Status, reason: str) -> None:
    moved = after(current, Happening.REQUESTER_MAIL, resolved_at=NOW - timedelta(days=1))
    assert (moved.status, moved.new_ticket, moved.reason) == (expected, False, reason)


def test_the_reopen_window_is_14_days_by_default_and_its_last_moment_still_reopens() -> None:
    assert timedelta(days=14) == DEFAULT_REOPEN_WINDOW
    edge = after(Status.RESOLVED, Happening.REQUESTER_MAIL, resolved_at=NOW - timedelta(days=14))
    assert (edge.status, edge.new_ticket) == (Status.OPEN, False)
    late = after(Status.RESOLVED, Happening.REQUESTER_MAIL,
                 resolved_at=NOW - timedelta(days=14, seconds=1))
    assert (late.status, late.new_ticket, late.reason) == (
        Status.RESOLVED, True, "reopen_window_passed")
    assert not late.changed


def test_the_reopen_window_is_a_setting() -> None:
    resolved_at = NOW - timedelta(days=3)
    short = after(Status.RESOLVED, Happening.REQUESTER_MAIL, resolved_at=resolved_at,
                  reopen_window=timedelta(days=2))
    long = after(Status.RESOLVED, Happening.REQUESTER_MAIL, resolved_at=resolved_at,
                 reopen_window=timedelta(days=30))
    assert short.new_ticket and not long.new_ticket


def test_a_resolved_ticket_of_unknown_age_reopens_rather_than_splits() -> None:
    moved = after(Status.RESOLVED, Happening.REQUESTER_MAIL, resolved_at=None)
    assert (moved.status, moved.new_ticket) == (Status.OPEN, False)


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("happening", [Happening.AUTOMATIC_MAIL, Happening.STAFF_NOTE])
def test_automatic_mail_and_notes_change_nothing(current: Status, happening: Happening) -> None:
    moved = after(current, happening, resolved_at=NOW - timedelta(days=100))
    assert (moved.status, moved.new_ticket, moved.changed) == (current, False, False)


@pytest.mark.parametrize("requested", [Status.OPEN, Status.WAITING, Status.RESOLVED])
@pytest.mark.parametrize("current", list(Status))
def test_a_command_sets_open_waiting_or_resolved(current: Status, requested: Status) -> None:
    moved = after(current, Happening.STAFF_COMMAND, requested=requested)
    assert moved.status is requested and not moved.new_ticket
    assert moved.changed == (current is not requested)


@pytest.mark.parametrize("requested", [Status.NEW, None])
def test_a_command_cannot_make_a_ticket_new_again(requested: Status | None) -> None:
    with pytest.raises(TransitionError):
        after(Status.OPEN, Happening.STAFF_COMMAND, requested=requested)


def test_a_reply_with_a_status_command_is_the_reply_first_then_the_command() -> None:
    replied = after(Status.NEW, Happening.STAFF_REPLY)
    commanded = after(replied.status, Happening.STAFF_COMMAND, requested=Status.WAITING)
    assert (replied.status, commanded.status) == (Status.OPEN, Status.WAITING)


def test_every_status_and_happening_has_an_answer() -> None:
    for current in Status:
        for happening in Happening:
            requested = Status.OPEN if happening is Happening.STAFF_COMMAND else None
            moved = after(current, happening, requested=requested, resolved_at=NOW)
            assert moved.status in Status
