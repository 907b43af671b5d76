"""Promise: no ticket hijack. Mail that names another ticket, from someone who is not one of
its participants, never lands in that ticket unflagged, and nothing we send to that someone
quotes the other ticket's content.

Alice opens a ticket with a secret in it. Mallory, a stranger, then writes every way a mail
can name that ticket: its code in the subject (any spelling, beside his own code, behind
prefixes), In-Reply-To Alice's Message-ID, References our stable per-ticket reference (which
is guessable), a Reply-To or a display name that claims to be Alice, an auto-reply. For each
of the three `pipeline.foreign_code` policies: Mallory's mail is a new linked ticket flagged
`foreign_code`, a follow-up flagged `foreign_code`, or held; he never becomes a participant;
and whatever reaches him at the smarthost (with acknowledgements of follow-ups on, so as much
as possible is sent) carries nothing of Alice's ticket: not her subject, text or address.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import FakeMTA, Running, make_mail, message_id_of, smarthost_site
from promise_helpers import deliver, wait_until
from ticketgate.config import load_settings

SECRET = "Koden till serverrummet är HEMLIG-4711"
ALICE_SUBJECT = "Passerkortet till serverrum B-014 slutade fungera"
ALICE = "alice@example.org"
MALLORY = "mallory@example.org"  # an institutional address: nothing else gives him away


@pytest.fixture(params=["new_ticket", "followup", "hold"])
def gate(request: pytest.FixtureRequest, tmp_path: Path, fake_mta: FakeMTA
         ) -> Iterator[tuple[Running, FakeMTA, str]]:
    fake_mta.start()
    site = smarthost_site(
        tmp_path, fake_mta,
        "acknowledgements: {on_followup: true, per_hour: 1000, per_day: 10000}\n"
        f"pipeline: {{foreign_code: {request.param}}}\n")
    running = Running(load_settings(site))
    yield running, fake_mta, request.param
    running.stop()


def mallory_mails(alice_mid: str, instance: str) -> list[bytes]:
    def mail(subject: str, **headers: str) -> bytes:
        return make_mail(subject, "Jag vill också veta vad som står i det här ärendet.",
                         sender=f"Mallory <{MALLORY}>", headers=headers or None)

    return [
        mail("Re: [DDG #1] jag har samma problem"),
        mail("SV: VS: AW: [ ddg  #  1 ] hur går det"),
        mail("[DDG #1] [DDG #2] båda ärendena"),
        mail("Fråga om ert ärende", **{"In-Reply-To": f"<{alice_mid}>"}),
        mail("Fråga om ert ärende igen", References=f"<tg.1@{instance}>"),
        mail("Re: [DDG #1] från Alice", **{"Reply-To": ALICE}),
        make_mail("Re: [DDG #1] det är jag", "Hej", sender=f"Alice <{MALLORY}>"),
        mail("Re: [DDG #1] Autosvar", **{"Auto-Submitted": "auto-replied"}),
    ]


def test_a_stranger_naming_a_ticket_never_gets_into_it_unflagged(
    gate: tuple[Running, FakeMTA, str],
) -> None:
    running, mta, policy = gate
    port = running.port()
    alice_mail = make_mail(ALICE_SUBJECT, f"Hej,\n{SECRET}.\nMvh Alice",
                           sender=f"Alice <{ALICE}>")
    assert deliver(port, alice_mail, mail_from=ALICE).code == 250
    running.drain()
    wait_until(lambda: [r for r in mta.received if ALICE in r[1]], timeout=20,
               what="Alice's acknowledgement")
    instance = running.settings.instance
    strangers = mallory_mails(message_id_of(alice_mail), instance)
    for raw in strangers:
        assert deliver(port, raw, mail_from=MALLORY).code == 250
    running.drain()
    conn = running.store.view.conn

    # Never unflagged in Alice's ticket; never a participant of it.
    for raw in strangers:
        mid = message_id_of(raw)
        row = conn.execute("SELECT ticket_id, verdict FROM messages WHERE message_id = ?"
                           " AND direction = 'in'", (mid,)).fetchone()
        if row is None:  # held: kept in the spool, in no ticket
            assert policy == "hold", mid
            (state,) = conn.execute(
                "SELECT state FROM spool WHERE raw = ?", (raw,)).fetchone()
            assert state == "held"
            continue
        ticket, verdict = row[0], json.loads(row[1])
        if ticket == 1:
            assert policy == "followup", mid
            assert "foreign_code" in verdict["flags"], (mid, verdict["flags"])
        else:
            flags, linked = conn.execute("SELECT flags, linked_to FROM tickets WHERE id = ?",
                                         (ticket,)).fetchone()
            if "[DDG #2]" in str(verdict.get("notes")) and ticket == 2:
                continue  # the second code named his own (new) ticket: nobody else's
            assert "foreign_code" in json.loads(flags), (mid, flags)
            assert linked == 1
    participants = dict(conn.execute("SELECT address, role FROM participants"
                                     " WHERE ticket_id = 1").fetchall())
    assert participants == {ALICE: "requester"}
    if policy == "followup":
        flags = json.loads(conn.execute("SELECT flags FROM tickets WHERE id = 1").fetchone()[0])
        assert "foreign_code" in flags  # the ticket itself shows it, for staff to see

    # Nothing that reached Mallory quotes Alice's ticket.
    wait_until(lambda: not conn.execute(
        "SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0],
        timeout=30, what="the outbox delivered")
    to_mallory = [data for _, rcpts, data in mta.received if MALLORY in rcpts]
    if policy != "hold":
        assert to_mallory, "the control: Mallory is answered at all"
    for data in to_mallory:
        # His own To (he may have put Alice's address in his display name) is not a leak.
        text = "\n".join(line for line in data.decode("utf-8", "replace").splitlines()
                         if not line.lower().startswith("to:"))
        for leak in (SECRET, "HEMLIG", ALICE_SUBJECT, "B-014", ALICE,
                     message_id_of(alice_mail)):
            assert leak not in text, leak


def test_a_forged_bounce_never_writes_into_another_ticket(tmp_path: Path,
                                                          fake_mta: FakeMTA) -> None:
    """Bounces are tied to a ticket only by a Message-ID we generated (random, sent to the
    requester alone), never by one anybody can name: the requester's own Message-ID, or our
    per-ticket reference <tg.N@instance>, which is guessable."""
    fake_mta.start()
    running = Running(load_settings(smarthost_site(tmp_path, fake_mta)))
    try:
        port = running.port()
        alice_mail = make_mail(ALICE_SUBJECT, SECRET, sender=f"Alice <{ALICE}>")
        assert deliver(port, alice_mail, mail_from=ALICE).code == 250
        (_, _, ack), = wait_until(lambda: [r for r in fake_mta.received if ALICE in r[1]],
                                  timeout=20, what="Alice's acknowledgement")
        ack_id = message_id_of(ack)
        instance = running.settings.instance

        def bounce(subject: str, names: str) -> bytes:
            return make_mail(f"Undelivered Mail Returned to Sender: {subject}",
                             f"Your message could not be delivered.\n\nMessage-ID: <{names}>\n",
                             sender="MAILER-DAEMON <mailer-daemon@evil.invalid>",
                             headers={"References": f"<{names}>"})

        forged = [bounce("KÖP KLOCKOR", message_id_of(alice_mail)),
                  bounce("KÖP KLOCKOR IGEN", f"tg.1@{instance}")]
        for raw in forged:
            assert deliver(port, raw, mail_from="").code == 250
        real = bounce("a real one", ack_id)  # the control: it names our acknowledgement
        assert deliver(port, real, mail_from="").code == 250
        assert deliver(port, ack, mail_from="").code == 250  # our own mail, looping back
        running.drain()
        events = running.store.view.conn.execute(
            "SELECT ticket_id, detail FROM events WHERE kind = 'bounce' ORDER BY id").fetchall()
        assert [t for t, _ in events] == [None, None, 1]
        assert "a real one" in events[2][1]
        loops = running.store.view.conn.execute(
            "SELECT ticket_id FROM events WHERE kind = 'loop'").fetchall()
        assert loops == [(1,)]
    finally:
        running.stop()
