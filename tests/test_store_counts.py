"""store/counts.py against a real SQLite file: what `ticketgate stats` counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ticketgate.store import Store, Transaction


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "t.db") as s:
        yield s


def test_an_empty_store_counts_nothing(store: Store) -> None:
    view = store.view
    assert (view.spool_counts(), view.ticket_counts(), view.flag_counts(),
            view.outbox_counts()) == ({}, [], {}, {})
    assert view.oldest_new_delivery() is None and view.oldest_pending_mail() is None


def test_counts_by_state_queue_status_and_flag_with_the_oldest_rows(store: Store) -> None:
    def fill(tx: Transaction) -> tuple[list[int], list[int]]:
        spooled = [tx.spool_delivery(raw=b"x", mail_from="", rcpt_to=("h@x",), peer="p",
                                     protocol="smtp", received_at=10.0 + n) for n in range(4)]
        tx.delivery_done(spooled[0])
        tx.hold_delivery(spooled[2], "why")
        tickets = [
            tx.create_ticket(queue="helpdesk", subject="s", requester="r",
                             flags=("vague_subject", "multi_issue"), now=1.0),
            tx.create_ticket(queue="helpdesk", subject="s", requester="r",
                             flags=("vague_subject",), now=1.0),
            tx.create_ticket(queue="lukortet", subject="s", requester="r", now=1.0),
        ]
        tx.touch_ticket(tickets[2], 2.0, reopen=False)
        queued = [tx.queue_mail(ticket_id=tickets[0], kind="acknowledgement",
                                message_id=f"m{n}@x", rcpt_to="r", raw=b"r", now=20.0 + n)
                  for n in range(3)]
        tx.mark_sent(queued[0], 30.0)
        tx.mark_deferred(queued[1], 99.0, "451 busy")
        return spooled, queued

    spooled, queued = store.writer.call(fill)
    view = store.view
    assert view.spool_counts() == {"done": 1, "held": 1, "new": 2}
    assert view.oldest_new_delivery() == (spooled[1], 11.0)
    assert sorted(view.ticket_counts()) == [("helpdesk", "new", 2), ("lukortet", "new", 1)]
    assert view.flag_counts() == {"vague_subject": 2, "multi_issue": 1}
    assert view.outbox_counts() == {"sent": 1, "pending": 2}
    oldest = view.oldest_pending_mail()
    assert oldest is not None
    assert (oldest.id, oldest.created_at, oldest.attempts, oldest.next_attempt_at,
            oldest.last_error) == (queued[1], 21.0, 1, 99.0, "451 busy")
