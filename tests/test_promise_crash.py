"""Promise: nothing acknowledged is lost, nothing is processed twice, across SIGKILL.

Many distinct mails arrive over many connections while the daemon is killed with SIGKILL at
random moments; the senders behave like an MTA (a connection that dies, or a 4xx, means
"try the same mail again later"). After the last restart has drained the spool and the outbox:
every mail is exactly one ticket (a mail stored but not answered before a kill, then sent
again, is a duplicate delivery on its ticket, not a second ticket) and every ticket has
exactly one acknowledgement, counted at the fake outgoing MTA by In-Reply-To. A copy of an
acknowledgement delivered again after a kill is the same mail: same Message-ID, same bytes.

Counts scale with TICKETGATE_CRASH_MAILS (2000), TICKETGATE_CRASH_CONNECTIONS (16),
TICKETGATE_CRASH_KILLS (3); TICKETGATE_CRASH_SEED replays one run's kill moments.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import FakeMTA, free_port, make_mail, smarthost_site
from integration_helpers import Served
from promise_helpers import (
    Wire,
    acknowledgements,
    env_int,
    header,
    query,
    serve,
    site_on_port,
    stuffed,
    wait_until,
)

pytestmark = pytest.mark.slow

MAILS = env_int("TICKETGATE_CRASH_MAILS", 2000)
CONNECTIONS = env_int("TICKETGATE_CRASH_CONNECTIONS", 16)
KILLS = env_int("TICKETGATE_CRASH_KILLS", 3)
SEED = env_int("TICKETGATE_CRASH_SEED", random.randrange(1 << 30))
OUTBOX_MAILS = env_int("TICKETGATE_CRASH_OUTBOX_MAILS", 120)


@dataclass
class Mail:
    """One distinct mail and what its sender saw."""

    number: int
    sender: str
    raw: bytes
    message_id: str
    accepted: int = 0  # 250s received (more than one would be our bug, not the MTA's)
    unanswered: int = 0  # final dot sent, connection died before the reply
    tempfails: int = 0  # 4xx answers
    refusals: list[str] = field(default_factory=list)  # 5xx: must stay empty


def make_mails(count: int, tag: str) -> list[Mail]:
    mails = []
    for i in range(count):
        sender = f"user{i}@example.org"  # distinct requesters: no rate limit, no resend match
        mid = f"{tag}-{i}@client.test.invalid"
        raw = make_mail(f"Skrivaren i rum {i} matar fel papper",
                        f"Hej,\nskrivaren PRN-{i} i rum {i} drar in två ark i taget.\nMvh {i}",
                        sender=f"User {i} <{sender}>", message_id=f"<{mid}>")
        mails.append(Mail(i, sender, raw, mid))
    return mails


def send_like_an_mta(port: int, mails: list[Mail], deadline: float) -> None:
    """Send each mail until it gets a 250, over one connection, reconnecting as needed."""
    wire: Wire | None = None
    backoff = 0.05
    for mail in mails:
        while time.monotonic() < deadline:
            dot_sent = False
            try:
                if wire is None:
                    wire = Wire(port, timeout=30)
                    if wire.greeting.code != 220:
                        raise ConnectionError(wire.greeting.line)
                steps = [b"MAIL FROM:<" + mail.sender.encode() + b">",
                         b"RCPT TO:<helpdesk@example.org>", b"DATA"]
                reply = None
                for step in steps:
                    reply = wire.cmd(step)
                    if reply.code >= 400:
                        break
                assert reply is not None
                if reply.code == 354:
                    wire.send(stuffed(mail.raw))
                    dot_sent = True
                    reply = wire.reply()
            except OSError:  # refused, reset, closed: the daemon is down or was killed
                mail.unanswered += dot_sent
                if wire is not None:
                    wire.close()
                wire = None
                time.sleep(backoff)
                backoff = min(backoff * 2, 0.5)
                continue
            backoff = 0.05
            if reply.code == 250:
                mail.accepted += 1
                break
            if 400 <= reply.code < 500:
                mail.tempfails += 1
                wire.cmd(b"RSET")
                time.sleep(0.05)
                continue
            mail.refusals.append(reply.line)
            wire.cmd(b"RSET")
            break
    if wire is not None:
        wire.close()


def drained(db: Path, expected_tickets: int) -> bool:
    (new,), = query(db, "SELECT count(*) FROM spool WHERE state = 'new'")
    (pending,), = query(db, "SELECT count(*) FROM outbox WHERE state = 'pending'")
    (tickets,), = query(db, "SELECT count(*) FROM tickets")
    return new == 0 and pending == 0 and tickets >= expected_tickets


def figures(db: Path, mails: list[Mail], mta: FakeMTA, kills: int) -> dict[str, object]:
    """The note's figures, from the database and the fake MTA (not from the daemon's word)."""
    tickets_of: dict[str, list[int]] = {}
    for mid, ticket in query(db, "SELECT message_id, ticket_id FROM messages"
                                 " WHERE direction = 'in'"):
        tickets_of.setdefault(mid, []).append(ticket)
    states = dict(query(db, "SELECT state, count(*) FROM spool GROUP BY state"))
    acks = acknowledgements(mta.received)
    accepted = [m for m in mails if m.accepted]
    return {
        "seed": SEED,
        "mails": len(mails),
        "kills": kills,
        "sessions_250": sum(m.accepted for m in mails),
        "mails_250": len(accepted),
        "unanswered_dots": sum(m.unanswered for m in mails),
        "tempfails": sum(m.tempfails for m in mails),
        "refused_5xx": sum(len(m.refusals) for m in mails),
        "spool_rows": sum(states.values()),
        "stored": len(tickets_of),
        "tickets": query(db, "SELECT count(*) FROM tickets")[0][0],
        "lost": sum(1 for m in accepted if m.message_id not in tickets_of),
        "doubled": sum(1 for t in tickets_of.values() if len(t) > 1),
        "duplicate_deliveries": query(
            db, "SELECT count(*) FROM events WHERE kind = 'duplicate_delivery'")[0][0],
        "held": states.get("held", 0),
        "new_left": states.get("new", 0),
        "acknowledged": sum(1 for m in mails if m.message_id in acks),
        "ack_copies": sum(len(v) for v in acks.values()),
        "tickets_with_two_acks": sum(1 for v in acks.values() if len(set(v)) > 1),
    }


def report(name: str, data: dict[str, object]) -> None:
    # Printed for the note (run with -s); the seed replays the kill moments.
    print(f"\n{name}: {json.dumps(data)}")


def test_sigkill_during_ingest_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    mta = FakeMTA()
    mta.start()
    port = free_port()
    site = site_on_port(smarthost_site(tmp_path, mta), port)
    db = tmp_path / "var/ticketgate.db"
    mails = make_mails(MAILS, f"crash{SEED}")
    daemon: Served = serve(site)
    crashes = 0
    try:
        deadline = time.monotonic() + 240
        chunks = [mails[i::CONNECTIONS] for i in range(CONNECTIONS)]
        senders = [threading.Thread(target=send_like_an_mta, args=(port, chunk, deadline),
                                    daemon=True) for chunk in chunks]
        for s in senders:
            s.start()
        # Kill at random points of the stream: after a random share of the mails got 250.
        moments = sorted(rng.uniform(0.1, 0.9) * MAILS for _ in range(KILLS))
        for moment in moments:
            wait_until(lambda m=moment: sum(x.accepted for x in mails) >= m, timeout=120,
                       what=f"{moment:.0f} mails accepted", interval=0.01)
            time.sleep(rng.uniform(0.0, 0.2))
            daemon.proc.send_signal(signal.SIGKILL)
            daemon.proc.wait(10)
            daemon.close()
            crashes += 1
            daemon = serve(site)
        for s in senders:
            s.join(max(1.0, deadline - time.monotonic()))
        assert not any(s.is_alive() for s in senders), "senders did not finish"
        wait_until(lambda: drained(db, MAILS), timeout=180, what="spool and outbox drained",
                   interval=0.2)
        # The MTA has said 250 for every delivery the outbox recorded as sent.
        assert daemon.terminate(30) == 0
    finally:
        daemon.close()
        mta.stop()
    result = figures(db, mails, mta, crashes)
    report("crash_ingest", result)
    assert crashes == KILLS
    assert all(m.accepted == 1 for m in mails), "every mail got exactly one 250"
    assert result["refused_5xx"] == 0
    assert result["lost"] == 0 and result["stored"] == MAILS
    assert result["doubled"] == 0 and result["tickets"] == MAILS
    assert result["held"] == 0 and result["new_left"] == 0
    # Every spool row beyond one per mail is a redelivery after a lost 250, recorded as such.
    assert result["spool_rows"] == MAILS + result["duplicate_deliveries"]
    acks = acknowledgements(mta.received)
    for mail in mails:
        assert len(set(acks.get(mail.message_id, []))) == 1, mail.message_id
    assert result["tickets_with_two_acks"] == 0


class SlowAnsweringMTA(FakeMTA):
    """Takes each mail at once but answers 250 late: a kill in between is a lost 250."""

    delay = 0.15

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                              bytes(envelope.original_content or envelope.content)))
        self.active += 1
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.active -= 1
        return "250 2.0.0 queued"


def test_sigkill_during_outbox_delivery_sends_each_acknowledgement_as_one_mail(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED + 1)
    mta = SlowAnsweringMTA()
    mta.start()
    site = smarthost_site(tmp_path, mta)
    db = tmp_path / "var/ticketgate.db"
    mails = make_mails(OUTBOX_MAILS, f"outbox{SEED}")
    daemon = serve(site)
    crashes = 0
    try:
        port = daemon.ports("smtp")["smtp"]
        deadline = time.monotonic() + 60
        send_like_an_mta(port, mails, deadline)
        assert all(m.accepted == 1 for m in mails)
        for _ in range(KILLS):
            # Kill while deliveries are in flight: the MTA has the mail, we lack its 250.
            wait_until(lambda: mta.active > 0, timeout=30, what="a delivery in flight",
                       interval=0.005)
            time.sleep(rng.uniform(0.0, SlowAnsweringMTA.delay / 3))
            daemon.proc.send_signal(signal.SIGKILL)
            daemon.proc.wait(10)
            daemon.close()
            crashes += 1
            daemon = serve(site)
        wait_until(lambda: drained(db, OUTBOX_MAILS), timeout=120, what="outbox drained",
                   interval=0.2)
        assert daemon.terminate(30) == 0
    finally:
        daemon.close()
        mta.stop()
    result = figures(db, mails, mta, crashes)
    report("crash_outbox", result)
    assert result["lost"] == 0 and result["doubled"] == 0 and result["held"] == 0
    acks = acknowledgements(mta.received)
    copies: dict[str, set[bytes]] = {}
    for _, _, data in mta.received:
        copies.setdefault(header(data, "Message-ID") or "", set()).add(data)
    assert all(len(v) == 1 for v in copies.values()), "a redelivery differs from the first copy"
    for mail in mails:
        assert len(set(acks.get(mail.message_id, []))) == 1, mail.message_id
    # The kills did cut deliveries short: some mails reached the MTA twice, as the same mail.
    assert len(mta.received) > len(copies), "no kill fell between a mail and its 250"
