"""store/messages.py against a real SQLite file: a ticket's messages and its history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ticketgate.store import Store, Transaction


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "t.db") as s:
        yield s


def _ticket(tx: Transaction) -> int:
    return tx.create_ticket(queue="helpdesk", subject="s", requester="kim@example.org", now=1.0)


def _message(tx: Transaction, ticket: int, message_id: str, direction: str = "in",
             spool_id: int | None = None) -> int:
    return tx.add_message(ticket_id=ticket, direction=direction, message_id=message_id,
                          from_address="kim@example.org", to_addresses=("helpdesk@example.org",),
                          subject="Skrivaren", text="Hej", spool_id=spool_id, now=2.0)


def test_a_message_reads_back_with_its_verdict(store: Store) -> None:
    verdict = {"notes": [["code", "ingen kod ✓"]], "flags": ["vague_subject"]}

    def job(tx: Transaction) -> tuple[int, int]:
        ticket = _ticket(tx)
        row = tx.add_message(ticket_id=ticket, direction="in", message_id="a@x",
                             from_address="kim@example.org",
                             to_addresses=["helpdesk@example.org", "ola@example.org"],
                             subject="Skrivaren på plan 3", text="Hej\nden surrar",
                             verdict=verdict, now=5.0)
        tx.add_message(ticket_id=ticket, direction="out", message_id="b@x",
                       from_address="helpdesk@example.org", to_addresses=["kim@example.org"],
                       subject="[DDG #1] Skrivaren", text="Tack", outbox_id=7, now=6.0)
        return ticket, row

    ticket, row = store.writer.call(job)
    first, second = store.view.messages_of(ticket)
    assert (first.id, first.direction, first.message_id, first.from_address) == (
        row, "in", "a@x", "kim@example.org")
    assert first.to_addresses == ("helpdesk@example.org", "ola@example.org")
    assert (first.subject, first.text, first.verdict, first.created_at) == (
        "Skrivaren på plan 3", "Hej\nden surrar", verdict, 5.0)
    assert (second.direction, second.verdict, second.spool_id) == ("out", {}, None)
    assert store.view.messages_of(ticket + 1) == []


def test_message_ids_find_their_ticket_the_last_named_first(store: Store) -> None:
    def job(tx: Transaction) -> tuple[int, int]:
        one, two = _ticket(tx), _ticket(tx)
        _message(tx, one, "one@x")
        _message(tx, two, "two@x")
        _message(tx, two, "ours@x", direction="out")
        return one, two

    one, two = store.writer.call(job)
    view = store.view
    assert view.ticket_of_message_ids(["one@x", "two@x"]) == two
    assert view.ticket_of_message_ids(["two@x", "one@x", "unknown@x"]) == one
    assert view.ticket_of_message_ids(["unknown@x"]) is None
    assert view.thread_of(["one@x", "ours@x"]) == (two, True)
    assert view.thread_of(["ours@x", "one@x"]) == (one, False)
    assert view.thread_of([]) is None


def test_our_own_message_wins_over_an_incoming_one_with_the_same_id(store: Store) -> None:
    def job(tx: Transaction) -> tuple[int, int]:
        one, two = _ticket(tx), _ticket(tx)
        _message(tx, one, "same@x")  # someone reused our Message-ID
        _message(tx, two, "same@x", direction="out")
        return one, two

    one, two = store.writer.call(job)
    assert store.view.thread_of(["same@x"]) == (two, True)
    message = store.view.message("same@x")
    assert message is not None and message[1] == one  # only incoming mail is a duplicate


def test_an_incoming_message_knows_its_envelope_recipients(store: Store) -> None:
    def job(tx: Transaction) -> tuple[int, int]:
        spool_id = tx.spool_delivery(raw=b"x", mail_from="kim@example.org",
                                     rcpt_to=("helpdesk@example.org", "lukortet@example.org"),
                                     peer="p", protocol="smtp")
        ticket = _ticket(tx)
        with_spool = _message(tx, ticket, "a@x", spool_id=spool_id)
        without = _message(tx, ticket, "b@x", direction="out")
        return with_spool, without

    with_spool, without = store.writer.call(job)
    assert store.view.message("a@x") == (with_spool, 1)
    assert store.view.message("b@x") is None  # outgoing
    assert store.view.recipients_of(with_spool) == ("helpdesk@example.org",
                                                    "lukortet@example.org")
    assert store.view.recipients_of(without) == ()


def test_events_are_appended_in_order_and_kept_exactly(store: Store) -> None:
    def job(tx: Transaction) -> int:
        ticket = _ticket(tx)
        row = _message(tx, ticket, "a@x")
        tx.add_event(ticket, "created", {"requester": "kim@example.org", "text": "å ✓"},
                     message_row=row, spool_id=3, at=10.0)
        tx.add_events(ticket, [("routed", {"queue": "helpdesk"}, None),
                               ("flagged", {"vague_subject": "för kort"}, row)], at=11.0)
        tx.add_event(None, "dropped", {"rule": "spam"}, spool_id=4)
        tx.add_event(ticket, "noted")
        return ticket

    ticket = store.writer.call(job)
    events = store.view.events_of(ticket)
    assert [(e.kind, e.detail, e.spool_id) for e in events] == [
        ("created", {"requester": "kim@example.org", "text": "å ✓"}, 3),
        ("routed", {"queue": "helpdesk"}, None),
        ("flagged", {"vague_subject": "för kort"}, None),
        ("noted", {}, None),
    ]
    assert [e.at for e in events[:3]] == [10.0, 11.0, 11.0] and events[3].at > 11.0
    assert [e.id for e in events] == sorted(e.id for e in events)
    rows = store.view.conn.execute(
        "SELECT message_id FROM events WHERE ticket_id = ? ORDER BY id", (ticket,)).fetchall()
    assert rows == [(1,), (None,), (1,), (None,)]
    dropped = store.view.conn.execute(
        "SELECT ticket_id, spool_id FROM events WHERE kind = 'dropped'").fetchall()
    assert dropped == [(None, 4)]


def test_a_failing_job_leaves_no_message_and_the_rest_of_its_group_commits(store: Store) -> None:
    ticket = store.writer.call(_ticket)

    def failing(tx: Transaction) -> None:
        _message(tx, ticket, "lost@x")
        tx.add_event(ticket, "followup")
        raise RuntimeError("a bug after the writes")

    batch = store.writer.batch()
    bad = batch.submit(failing)
    good = batch.submit(lambda tx: _message(tx, ticket, "kept@x"))
    batch.flush()
    with pytest.raises(RuntimeError):
        bad.result(5)
    assert good.result(5) > 0
    assert [m.message_id for m in store.view.messages_of(ticket)] == ["kept@x"]
    assert store.view.events_of(ticket) == []
