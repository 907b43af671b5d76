"""store/transaction.py: a job's savepoint block undoes its own writes and nothing before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ticketgate.store import DatabaseError, Store, Transaction


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "t.db") as s:
        yield s


def _ticket(tx: Transaction) -> int:
    return tx.create_ticket(queue="helpdesk", subject="s", requester="kim@example.org", now=1.0)


def test_a_failing_block_is_undone_and_the_job_keeps_what_it_wrote_before(store: Store) -> None:
    def job(tx: Transaction) -> str:
        ticket = _ticket(tx)
        tx.add_event(ticket, "created")
        try:
            with tx.savepoint("outbox_compose"):
                tx.queue_mail(ticket_id=ticket, kind="acknowledgement", message_id="a@x",
                              rcpt_to="kim@example.org", raw=b"r", now=1.0)
                tx.add_event(ticket, "acknowledgement_queued")
                raise ValueError("a template failed")
        except ValueError as exc:
            tx.add_event(ticket, "outbox_error", {"error": str(exc)})
        with tx.savepoint("outbox_compose"):  # the same name again, after the first ended
            tx.add_event(ticket, "notification_queued")
        return "committed"

    assert store.writer.call(job) == "committed"
    assert [e.kind for e in store.view.events_of(1)] == [
        "created", "outbox_error", "notification_queued"]
    assert store.view.outbox_listing(state=None, limit=10) == []


def test_a_database_error_in_the_block_goes_on_to_the_writer(store: Store) -> None:
    store.writer.call(lambda tx: tx.queue_mail(ticket_id=_ticket(tx), kind="acknowledgement",
                                               message_id="a@x", rcpt_to="r", raw=b"r",
                                               now=1.0))

    def job(tx: Transaction) -> None:
        with tx.savepoint("outbox_compose"):
            tx.queue_mail(ticket_id=1, kind="notification", message_id="a@x", rcpt_to="s",
                          raw=b"r", now=1.0)

    with pytest.raises(DatabaseError):
        store.writer.call(job)
    assert len(store.view.outbox_listing(state=None, limit=10)) == 1


def test_a_savepoint_name_must_be_an_identifier(store: Store) -> None:
    def job(tx: Transaction) -> None:
        with tx.savepoint("x; DROP TABLE tickets"):
            pass

    with pytest.raises(ValueError, match="not a savepoint name"):
        store.writer.call(job)
    assert store.view.tickets(queue=None, status=None, limit=1) == []
