"""store/desk.py and store/search.py against a real SQLite file: the desk's lists, counts,
dashboard figures and full-text search, and migration 4 filling them from older rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ticketgate.store import Store
from ticketgate.store.records import MARK_END, MARK_START
from ticketgate.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate, tune
from ticketgate.store.search import fts_query

DAY = 86400.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "t.db") as s:
        yield s


def _ticket(store: Store, text: str = "Min dator surrar", **fields: object) -> int:
    values: dict[str, object] = {"queue": "helpdesk", "subject": "Datorn", "requester":
                                 "kim@example.org", "now": 10 * DAY, **fields}

    def job(tx):  # type: ignore[no-untyped-def]
        number = tx.create_ticket(**values)
        tx.add_message(ticket_id=number, direction="in", message_id=f"m{number}@x",
                       from_address=str(values["requester"]), to_addresses=(),
                       subject=str(values["subject"]), text=text, now=values["now"])
        return number
    return store.writer.call(job)


def _tally(store: Store) -> dict[tuple[str, str, str | None], int]:
    return {(q, s, o): n for q, s, o, n in store.view.ticket_tally()}


def test_counts_follow_creation_owner_and_status(store: Store) -> None:
    a, b = _ticket(store), _ticket(store, queue="lukortet")
    assert _tally(store) == {("helpdesk", "new", None): 1, ("lukortet", "new", None): 1}
    assert store.writer.call(lambda tx: tx.set_owner(a, "it-staff@example.org"))
    assert not store.writer.call(lambda tx: tx.set_owner(a, "it-staff@example.org"))
    store.writer.call(lambda tx: tx.conn.execute(
        "UPDATE tickets SET status = 'resolved' WHERE id = ?", (b,)))
    store.writer.call(lambda tx: tx.touch_ticket(b, 11 * DAY, reopen=True))  # -> open
    assert _tally(store) == {("helpdesk", "new", "it-staff@example.org"): 1,
                             ("lukortet", "open", None): 1}
    store.writer.call(lambda tx: tx.set_owner(a, None))
    assert _tally(store)[("helpdesk", "new", None)] == 1


def test_lists_merge_queues_and_statuses_by_number_and_page_on(store: Store) -> None:
    numbers = [_ticket(store, queue=("helpdesk", "sot")[i % 2]) for i in range(7)]
    store.writer.call(lambda tx: tx.conn.execute(
        "UPDATE tickets SET status = 'open' WHERE id IN (2, 5)"))
    store.writer.call(lambda tx: tx.set_owner(3, "me@example.org"))
    view = store.view
    everything = view.ticket_list(queues=["helpdesk", "sot"], statuses=["new", "open"], limit=50)
    assert [t.id for t in everything] == numbers[::-1]
    first = view.ticket_list(queues=["helpdesk", "sot"], statuses=["new", "open"], limit=3)
    assert [t.id for t in first] == [7, 6, 5]
    more = view.ticket_list(queues=["helpdesk", "sot"], statuses=["new", "open"], limit=3,
                            after=first[-1].id)
    assert [t.id for t in more] == [4, 3, 2]
    oldest = view.ticket_list(queues=["sot"], statuses=["new", "open"], oldest_first=True,
                              limit=10)
    assert [t.id for t in oldest] == [2, 4, 6]
    unowned = view.ticket_list(queues=["helpdesk", "sot"], statuses=["new"], unowned=True,
                               limit=10)
    assert [t.id for t in unowned] == [7, 6, 4, 1]
    mine = view.ticket_list(queues=["helpdesk"], statuses=["new", "open"],
                            owner="me@example.org", limit=10)
    assert [(t.id, t.owner) for t in mine] == [(3, "me@example.org")]
    assert view.ticket_list(queues=["sot"], statuses=["new"], owner="me@example.org",
                            limit=10) == []  # not in a queue asked for


def test_day_figures_count_flags_at_creation_and_answer_buckets(store: Store) -> None:
    a = _ticket(store, flags=("vague_subject", "private_address"))
    b = _ticket(store, flags=("multi_issue",))
    c = _ticket(store, queue="sot", now=12 * DAY + 5, flags=("missing_computer_name",))
    store.writer.call(lambda tx: tx.add_flags(b, ("vague_subject",)))  # later: not counted
    assert store.writer.call(lambda tx: tx.mark_answered(a, 10 * DAY + 600))  # 10 minutes
    assert not store.writer.call(lambda tx: tx.mark_answered(a, 10 * DAY + 9000))
    store.writer.call(lambda tx: tx.mark_answered(c, 12 * DAY + 5 + 2 * DAY))  # two days
    figures = {(f.day, f.queue): f for f in store.view.day_figures(10)}
    day10 = figures[(10, "helpdesk")]
    assert (day10.tickets, day10.vague_subject, day10.multi_issue, day10.private_address,
            day10.missing_computer_name) == (2, 1, 1, 1, 0)
    assert (day10.answered_1h, day10.answered_4h, day10.answered_3d) == (1, 0, 0)
    day12 = figures[(12, "sot")]
    assert (day12.tickets, day12.missing_computer_name, day12.answered_3d) == (1, 1, 1)
    assert store.view.day_figures(11) == [day12]
    ticket = store.view.desk_ticket(a)
    assert ticket is not None and ticket.first_answer_at == 10 * DAY + 600


def test_search_ranks_snippets_and_respects_queues(store: Store) -> None:
    printer = _ticket(store, subject="Skrivaren på plan 3", text="Papperet fastnar hela tiden")
    _ticket(store, subject="Datorn", text="skrivaren nämns här i förbigående, inget mer")
    hidden = _ticket(store, queue="sot", subject="Skrivaren i SoT", text="skrivaren")
    hits = store.view.search_messages("skrivaren", queues=["helpdesk"], limit=10)
    assert hits[0].ticket_id == printer  # the subject weighs more
    assert hidden not in [h.ticket_id for h in hits]
    assert f"{MARK_START}Skrivaren{MARK_END}" in hits[0].snippet
    # diacritics and case do not matter; a * is no prefix search; every word is required
    assert [h.ticket_id for h in store.view.search_messages(
        "PAPPERET fastnar*", queues=["helpdesk"], limit=10)] == [printer]
    assert store.view.search_messages("fastn*", queues=["helpdesk"], limit=10) == []
    assert store.view.search_messages("papperet datorn", queues=["helpdesk"], limit=10) == []
    assert [h.ticket_id for h in store.view.search_messages(
        "kim@example.org", queues=["sot"], limit=10)] == [hidden]


@pytest.mark.parametrize("text", ['"', 'a" OR b', "NEAR(a b)", "subject:x", "*", "(", "-x",
                                  "a AND", "^a", f"{MARK_START}x"])
def test_search_input_is_never_query_syntax(store: Store, text: str) -> None:
    _ticket(store, text="a b x subject")
    store.view.search_messages(text, queues=["helpdesk"], limit=10)  # never raises


def test_fts_queries_quote_every_word() -> None:
    assert fts_query('skrivare "plan 3" fast*') == '"skrivare" "plan" "3" "fast"'
    assert fts_query("  * ") is None


def test_migration_4_indexes_and_counts_older_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    tune(conn)
    for version, step in enumerate(MIGRATIONS[:3]):
        conn.executescript(f"BEGIN;\n{step}\nPRAGMA user_version={version + 1};\nCOMMIT;")
    conn.execute("INSERT INTO tickets (queue, status, subject, requester, flags, created_at,"
                 " updated_at) VALUES ('helpdesk', 'open', 'Nätverket', 'kim@example.org',"
                 " '[\"vague_subject\"]', ?, ?)", (3 * DAY, 3 * DAY))
    conn.execute("INSERT INTO messages (ticket_id, direction, message_id, subject, text,"
                 " created_at) VALUES (1, 'in', 'a@x', 'Nätverket', 'eduroam kopplar ner', 1)")
    assert migrate(conn) == 3
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    with Store(path) as store:
        assert store.view.ticket_tally() == [("helpdesk", "open", None, 1)]
        [figures] = store.view.day_figures(0)
        assert (figures.day, figures.tickets, figures.vague_subject) == (3, 1, 1)
        assert [h.ticket_id for h in store.view.search_messages(
            "eduroam", queues=["helpdesk"], limit=5)] == [1]


def test_our_automatic_mail_is_not_indexed_but_replies_are(store: Store) -> None:
    number = _ticket(store, text="Hej, skrivaren")

    def ours(tx, kind: str, text: str) -> None:  # type: ignore[no-untyped-def]
        row = tx.queue_mail(ticket_id=number, kind=kind, message_id=f"{kind}@x",
                            rcpt_to="kim@example.org", raw=b"r", now=1.0)
        tx.add_message(ticket_id=number, direction="out", message_id=f"{kind}@x",
                       from_address="helpdesk@example.org", to_addresses=(), subject="s",
                       text=text, outbox_id=row, now=2.0)
    store.writer.call(lambda tx: ours(tx, "acknowledgement", "tack toner"))
    store.writer.call(lambda tx: ours(tx, "notification", "nytt toner"))
    store.writer.call(lambda tx: ours(tx, "reply", "byt tonerkassetten"))
    assert store.view.search_messages("toner", queues=["helpdesk"], limit=5) == []
    [hit] = store.view.search_messages("tonerkassetten", queues=["helpdesk"], limit=5)
    assert hit.ticket_id == number
