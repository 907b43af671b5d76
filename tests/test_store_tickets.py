"""store/tickets.py against a real SQLite file: numbers, status, flags and participants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ticketgate.store import Store, Transaction


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "t.db") as s:
        yield s


def _ticket(store: Store, **fields: object) -> int:
    values: dict[str, object] = {"queue": "helpdesk", "subject": "Skrivaren", "requester":
                                 "kim@example.org", "now": 100.0, **fields}
    return store.writer.call(lambda tx: tx.create_ticket(**values))  # type: ignore[arg-type]


def test_a_ticket_reads_back_as_created(store: Store) -> None:
    number = _ticket(store, flags=("vague_subject", "multi_issue"), priority="high",
                     tags=("printer",), subject="Skrivaren på plan 3 ✓")
    other = _ticket(store, linked_to=number)
    ticket = store.view.ticket(number)
    assert ticket is not None
    assert (ticket.queue, ticket.status, ticket.subject, ticket.requester) == (
        "helpdesk", "new", "Skrivaren på plan 3 ✓", "kim@example.org")
    assert (ticket.flags, ticket.priority, ticket.tags, ticket.linked_to) == (
        ("vague_subject", "multi_issue"), "high", ("printer",), None)
    assert (ticket.created_at, ticket.updated_at) == (100.0, 100.0)
    linked = store.view.ticket(other)
    assert linked is not None and (linked.linked_to, linked.flags, linked.tags) == (number, (), ())
    assert store.view.ticket(other + 1) is None


def test_ticket_numbers_are_never_the_same_even_in_one_group(store: Store) -> None:
    batch = store.writer.batch()
    futures = [batch.submit(lambda tx: tx.create_ticket(queue="q", subject="s", requester="r",
                                                        now=1.0)) for _ in range(5)]
    batch.flush()
    numbers = [f.result(5) for f in futures] + [_ticket(store)]
    assert numbers == list(range(1, 7))


def test_the_listing_is_newest_first_by_queue_and_status(store: Store) -> None:
    a = _ticket(store, queue="helpdesk")
    b = _ticket(store, queue="lukortet")
    c = _ticket(store, queue="helpdesk")
    store.writer.call(lambda tx: tx.conn.execute("UPDATE tickets SET status = 'open' WHERE id = ?",
                                                 (c,)))
    view = store.view
    assert [t.id for t in view.tickets(queue=None, status=None, limit=10)] == [c, b, a]
    assert [t.id for t in view.tickets(queue="helpdesk", status=None, limit=10)] == [c, a]
    assert [t.id for t in view.tickets(queue="helpdesk", status="new", limit=10)] == [a]
    assert [t.id for t in view.tickets(queue=None, status=None, limit=1)] == [c]


@pytest.mark.parametrize("status,after", [("resolved", "open"), ("closed", "open"),
                                          ("waiting", "waiting"), ("new", "new")])
def test_activity_reopens_only_a_resolved_or_closed_ticket(store: Store, status: str,
                                                           after: str) -> None:
    number = _ticket(store)
    store.writer.call(lambda tx: tx.conn.execute("UPDATE tickets SET status = ? WHERE id = ?",
                                                 (status, number)))
    store.writer.call(lambda tx: tx.touch_ticket(number, 200.0, reopen=False))
    ticket = store.view.ticket(number)
    assert ticket is not None and (ticket.status, ticket.updated_at) == (status, 200.0)
    store.writer.call(lambda tx: tx.touch_ticket(number, 300.0, reopen=True))
    ticket = store.view.ticket(number)
    assert ticket is not None and (ticket.status, ticket.updated_at) == (after, 300.0)


def test_flags_are_added_once_in_order_and_removed(store: Store) -> None:
    number = _ticket(store, flags=("vague_subject",))
    store.writer.call(lambda tx: tx.add_flags(number, ("resent", "vague_subject", "resent")))
    store.writer.call(lambda tx: tx.add_flags(number, ("private_address",)))
    ticket = store.view.ticket(number)
    assert ticket is not None and ticket.flags == ("vague_subject", "resent", "private_address")
    assert store.writer.call(lambda tx: tx.remove_flag(number, "resent")) is True
    assert store.writer.call(lambda tx: tx.remove_flag(number, "resent")) is False
    ticket = store.view.ticket(number)
    assert ticket is not None and ticket.flags == ("vague_subject", "private_address")


def test_a_participant_is_one_row_and_keeps_its_first_role(store: Store) -> None:
    number = _ticket(store)

    def add(tx: Transaction) -> None:
        tx.add_participants(number, [("kim@example.org", "requester"), ("", "cc"),
                                     ("ola@example.org", "cc")])
        tx.add_participants(number, [("kim@example.org", "cc"), ("ola@example.org", "staff")])

    store.writer.call(add)
    assert store.view.participants(number) == {"kim@example.org": "requester",
                                               "ola@example.org": "cc"}
    rows = store.view.conn.execute("SELECT count(*) FROM participants").fetchone()[0]
    assert rows == 2
    assert store.view.is_participant(number, "ola@example.org")
    assert not store.view.is_participant(number, "eve@example.org")
    assert not store.view.is_participant(number + 1, "kim@example.org")


def test_resend_candidates_are_the_requesters_newest_with_their_first_text(store: Store) -> None:
    def ticket_with_text(created: float, text: str, requester: str = "kim@example.org",
                         key: str = "skrivaren") -> int:
        def job(tx: Transaction) -> int:
            number = tx.create_ticket(queue="helpdesk", subject="Skrivaren", requester=requester,
                                      subject_key=key, now=created)
            for n, body in enumerate((text, "a later reply")):
                tx.add_message(ticket_id=number, direction="in", message_id=f"{number}.{n}@x",
                               from_address=requester, to_addresses=(), subject="s", text=body,
                               now=created)
            return number
        return store.writer.call(job)

    numbers = [ticket_with_text(100.0 + i, f"text {i}") for i in range(7)]
    ticket_with_text(200.0, "other requester", requester="ola@example.org")
    ticket_with_text(200.0, "other subject", key="natverket")
    found = store.view.resend_candidates("kim@example.org", "skrivaren", 101.0)
    assert found == [(n, "new", f"text {n - 1}") for n in numbers[:0:-1][:5]]
    assert store.view.resend_candidates("kim@example.org", "skrivaren", 1000.0) == []


def test_the_queue_of_a_ticket_inside_the_transaction(store: Store) -> None:
    def job(tx: Transaction) -> tuple[str | None, str | None]:
        number = tx.create_ticket(queue="lukortet", subject="s", requester="r", now=1.0)
        return tx.queue_of(number), tx.queue_of(number + 1)  # seen before any commit

    assert store.writer.call(job) == ("lukortet", None)
