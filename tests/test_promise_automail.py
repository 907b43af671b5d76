"""Promise: no answer to a machine, and no person taken for one, on real automatic mail.

../shared/corpora/automail/ (its README says what is where) holds 516 automatic mails from
many projects' test suites (bounces from many MTAs and providers, auto-replies in several
languages, ARF and other abuse reports, DMARC and TLS reports, challenge-response, list
notices) and, in `_human/`, 33 mails written by people that look automatic. Each goes over
SMTP to the running daemon with its example rules, as test_promise_corpus.py sends them: line
ends CRLF, the Return-Path (else the From) as envelope sender.

Asserted: not one automatic mail is acknowledged or makes the queue's staff hear of a new
request, and not one human mail is classed automatic. Run with -s for the counts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from conftest import CORPORA, Running, write_site
from promise_helpers import Wire, crlf
from test_promise_corpus import envelope_sender
from ticketgate.config import load_settings

pytestmark = pytest.mark.slow

AUTOMAIL = CORPORA / "automail"
HUMAN = "_human/"


@dataclass(frozen=True)
class Sent:
    name: str  # relative to AUTOMAIL
    spool_id: int
    human: bool


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, list[Sent]]]:
    files = sorted(p for p in AUTOMAIL.rglob("*")
                   if p.is_file() and p.name not in ("README.md", "MANIFEST.tsv"))
    if not files:
        pytest.skip(f"no automail corpus at {AUTOMAIL}")
    running = Running(load_settings(write_site(tmp_path_factory.mktemp("automail"))))
    done: list[Sent] = []
    try:
        with Wire(running.port()) as wire:
            for path in files:
                name = path.relative_to(AUTOMAIL).as_posix()
                data = crlf(path.read_bytes())
                reply = wire.transaction(data, mail_from=envelope_sender(data, name))
                assert reply.code == 250, (name, reply.line)
                spool_id = reply.spool_id()
                assert spool_id is not None
                done.append(Sent(name, spool_id, name.startswith(HUMAN)))
        running.daemon.worker.wake()
        running.drain()
        yield running, done
    finally:
        running.stop()


def outcome(running: Running, spool_id: int) -> tuple[str, str | None, str | None]:
    """(what became of a delivery, its automail class, its Message-ID): a ticket, an event,
    dropped, held, or a duplicate (whose class is its original's: see `outcomes`)."""
    conn = running.store.view.conn
    row = conn.execute("SELECT verdict, message_id FROM messages WHERE spool_id = ?"
                       " AND direction = 'in'", (spool_id,)).fetchone()
    if row is not None:
        return "ticket", json.loads(row[0]).get("automail"), row[1]
    state = conn.execute("SELECT state FROM spool WHERE id = ?", (spool_id,)).fetchone()[0]
    if state == "held":
        return "held", None, None
    for kind, text in conn.execute("SELECT kind, detail FROM events WHERE spool_id = ?",
                                   (spool_id,)):
        detail = json.loads(text)
        if kind == "dropped":  # the example rules drop list and bulk mail ("newsletters")
            automatic = "list or bulk" if detail.get("rule") == "newsletters" else None
            return "dropped", automatic, None
        if kind in ("bounce", "feedback", "loop", "auto_reply", "list", "bulk"):
            return "event", kind, detail.get("message_id")
        if kind == "duplicate_delivery":
            return "duplicate", None, detail.get("message_id")
    return "unknown", None, None


def outcomes(running: Running, done: list[Sent]) -> dict[int, tuple[str, str | None]]:
    """outcome() of each delivery; a duplicate (the same Message-ID in two files of the
    corpus) takes the class its first delivery was given."""
    found = {s.spool_id: outcome(running, s.spool_id) for s in done}
    first = {mid: kind for o, kind, mid in found.values() if o != "duplicate" and mid}
    return {sid: (o, first.get(mid) if o == "duplicate" and mid else kind)
            for sid, (o, kind, mid) in found.items()}


def opened_by(running: Running, spool_ids: set[int], kind: str) -> list[int]:
    """Outbox rows of `kind` on tickets whose first message came from one of `spool_ids`."""
    conn = running.store.view.conn
    rows = conn.execute(
        "SELECT o.id, m.spool_id FROM outbox o JOIN messages m ON m.ticket_id = o.ticket_id"
        " WHERE o.kind = ? AND m.direction = 'in' AND m.id = (SELECT min(id) FROM messages"
        " WHERE ticket_id = o.ticket_id AND direction = 'in')", (kind,)).fetchall()
    return [outbox_id for outbox_id, spool_id in rows if spool_id in spool_ids]


def acknowledged(running: Running, spool_ids: set[int]) -> list[int]:
    """Acknowledgements caused by one of `spool_ids`, whatever ticket they went to."""
    conn = running.store.view.conn
    events = conn.execute("SELECT spool_id FROM events WHERE kind = 'acknowledgement_queued'")
    return [s for (s,) in events if s in spool_ids]


def test_automatic_mail_is_never_answered_and_people_are_never_taken_for_machines(
    sent: tuple[Running, list[Sent]],
) -> None:
    running, done = sent
    machines = {s.spool_id for s in done if not s.human}
    people = [s for s in done if s.human]
    found = outcomes(running, done)
    classed_automatic = [s.name for s in people if found[s.spool_id][1] is not None]
    unclassified = sorted(s.name for s in done if not s.human and found[s.spool_id][1] is None)
    counts = {
        "automatic": len(machines),
        "human": len(people),
        "automatic_outcomes": dict(Counter(
            f"{o}:{k}" for sid, (o, k) in found.items() if sid in machines)),
        "automatic_acknowledged": len(acknowledged(running, machines)),
        "automatic_new_request_notifications": len(opened_by(running, machines,
                                                             "notification")),
        "automatic_not_classed": len(unclassified),
        "human_classed_automatic": len(classed_automatic),
        "human_outcomes": dict(Counter(o for sid, (o, _) in found.items()
                                       if sid not in machines)),
        "human_acknowledged": len(acknowledged(running, {s.spool_id for s in people})),
    }
    print(f"\nautomail: {counts}")
    assert len(machines) >= 500 and len(people) >= 30  # the corpus is all there
    assert counts["automatic_acknowledged"] == 0, acknowledged(running, machines)
    assert counts["automatic_new_request_notifications"] == 0, unclassified
    assert classed_automatic == []
    # Every human mail made (or joined) a ticket, unless a rule held it or it came again.
    assert {found[s.spool_id][0] for s in people} <= {"ticket", "held", "duplicate"}
