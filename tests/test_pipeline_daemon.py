"""The rule pipeline end to end through the daemon: dedupe, foreign codes, flags and routing."""

from __future__ import annotations

import json
import smtplib
from dataclasses import replace

import pytest

from conftest import Running, make_mail, message_id_of, send
from ticketgate.config import PipelineSettings, Settings


def q(running: Running, sql: str, *args: object) -> list[tuple[object, ...]]:
    running.drain()
    return running.store.view.conn.execute(sql, args).fetchall()


def test_same_message_id_twice_is_a_duplicate_delivery_noting_new_recipients(
    running: Running,
) -> None:
    raw = make_mail("Skrivaren i rum 2110 drar in flera papper",
                    to="helpdesk@example.org, sot@example.org")
    send(running.port(), raw, rcpt="helpdesk@example.org")
    send(running.port(), raw, rcpt="sot@example.org")  # a second transaction, another address
    send(running.port(), raw, rcpt="helpdesk@example.org")  # a plain retry
    assert q(running, "SELECT count(*) FROM tickets") == [(1,)]
    assert q(running, "SELECT count(*) FROM messages WHERE direction = 'in'") == [(1,)]
    events = q(running, "SELECT kind, detail FROM events WHERE kind = 'duplicate_delivery'")
    assert len(events) == 2
    assert "sot@example.org" in events[0][1]
    assert q(running, "SELECT state FROM spool") == [("done",)] * 3


def test_one_transaction_to_two_function_addresses_is_one_ticket(running: Running) -> None:
    raw = make_mail("Behöver programvaran Zotero", to="helpdesk@example.org, sot@example.org")
    send(running.port(), raw, rcpt=["helpdesk@example.org", "sot@example.org"])
    assert q(running, "SELECT queue FROM tickets") == [("helpdesk",)]
    created = q(running, "SELECT detail FROM events WHERE kind = 'created'")
    assert json.loads(str(created[0][0]))["function_addresses"] == [
        "helpdesk@example.org", "sot@example.org"]


def test_message_without_message_id_gets_a_derived_one(running: Running) -> None:
    raw = (b"From: kim@example.org\r\nTo: helpdesk@example.org\r\n"
           b"Subject: Min dator surrar\r\n\r\nDen surrar.\r\n")
    send(running.port(), raw)
    send(running.port(), raw)
    rows = q(running, "SELECT message_id FROM messages WHERE direction = 'in'")
    assert len(rows) == 1
    assert str(rows[0][0]).endswith("@derived.ticketgate.invalid")
    assert q(running, "SELECT count(*) FROM events WHERE kind = 'duplicate_delivery'") == [(1,)]


def test_same_request_sent_again_is_a_resent_followup(running: Running) -> None:
    body = "Hej,\nmin bildskärm flimrar hela tiden sedan i går.\nMvh Kim"
    send(running.port(), make_mail("Bildskärmen flimrar", body))
    send(running.port(), make_mail("Bildskärmen flimrar", body + "\n"))  # new Message-ID
    send(running.port(), make_mail("Fwd: bildskärmen  FLIMRAR", body))
    assert q(running, "SELECT count(*) FROM tickets") == [(1,)]
    flags = q(running, "SELECT flags FROM tickets")
    assert "resent" in json.loads(str(flags[0][0]))
    # Another requester with the same words is someone else's matter.
    send(running.port(), make_mail("Bildskärmen flimrar", body, sender="ola@example.org"))
    # Different text is a new request, even with the same subject.
    send(running.port(), make_mail("Bildskärmen flimrar", "Nu är det den andra skärmen, "
                                   "den i rum 3110, som har slutat visa något alls."))
    assert q(running, "SELECT count(*) FROM tickets") == [(3,)]


def test_resent_after_resolution_is_a_new_ticket(running: Running) -> None:
    body = "Hej,\nskrivaren i rum 2110 är trasig.\nMvh Kim"
    send(running.port(), make_mail("Skrivaren i rum 2110 är trasig", body))
    running.drain()
    running.store.writer.call(lambda tx: tx.conn.execute("UPDATE tickets SET status = 'resolved'"))
    send(running.port(), make_mail("Skrivaren i rum 2110 är trasig", body))
    assert q(running, "SELECT count(*) FROM tickets") == [(2,)]


def _foreign_setup(running: Running) -> None:
    send(running.port(), make_mail("Passerkortet fungerar inte i hus E", sender="kim@example.org",
                                   cc="lisa@example.org"))


def test_code_from_a_non_participant_makes_a_linked_flagged_ticket(running: Running) -> None:
    _foreign_setup(running)
    send(running.port(), make_mail("Re: [DDG #1] Passerkortet", "Jag vill också veta!",
                                   sender="mallory@example.net"))
    rows = q(running, "SELECT id, linked_to, flags FROM tickets ORDER BY id")
    assert rows[1][0] == 2 and rows[1][1] == 1
    assert "foreign_code" in json.loads(str(rows[1][2]))
    inbound = "SELECT count(*) FROM messages WHERE ticket_id = 1 AND direction = 'in'"
    assert q(running, inbound) == [(1,)]
    # participants: the requester and the Cc of the first message, and the queue's staff
    # (routes.yaml sends access-card mail to the lukortet queue)
    for sender in ("kim@example.org", "lisa@example.org", "kortkontoret@example.org"):
        send(running.port(), make_mail("SV: [DDG #1] Passerkortet", "svar", sender=sender))
    assert q(running, inbound) == [(4,)]
    events = q(running, "SELECT kind FROM events WHERE ticket_id = 1 AND kind IN "
                        "('followup', 'correspondence') ORDER BY id")
    assert events == [("followup",), ("followup",), ("correspondence",)]
    # the staff mail is the ticket's first answer (the desk's time to first answer)
    answered = q(running, "SELECT first_answer_at > created_at FROM tickets WHERE id = 1")
    assert answered == [(1,)]


@pytest.mark.parametrize(("policy", "state", "tickets"), [("hold", "held", 1),
                                                           ("followup", "done", 1)])
def test_foreign_code_policies(settings: Settings, policy: str, state: str, tickets: int) -> None:
    running = Running(replace(settings, pipeline=PipelineSettings(foreign_code=policy)))  # type: ignore[arg-type]
    try:
        _foreign_setup(running)
        send(running.port(), make_mail("Re: [DDG #1] hmm", "text", sender="mallory@example.net"))
        assert q(running, "SELECT state FROM spool ORDER BY id")[-1] == (state,)
        assert q(running, "SELECT count(*) FROM tickets") == [(tickets,)]
        if policy == "followup":
            flags = q(running, "SELECT flags FROM tickets WHERE id = 1")[0][0]
            assert "foreign_code" in json.loads(str(flags))
    finally:
        running.stop()


def test_threading_to_an_inbound_message_id_by_a_stranger_is_foreign(running: Running) -> None:
    first = make_mail("Skrivaren i rum 2110 drar in flera papper")
    send(running.port(), first)
    send(running.port(), make_mail("Re: Skrivaren", "jag med", sender="eve@example.net",
                                   headers={"In-Reply-To": f"<{message_id_of(first)}>"}))
    rows = q(running, "SELECT id, linked_to FROM tickets ORDER BY id")
    assert rows == [(1, None), (2, 1)]


def test_flags_and_route_are_stored_with_the_message(running: Running) -> None:
    send(running.port(), make_mail("Hjälp!", "Min dator startar inte.", sender="kim@gmail.com"))
    row = q(running, "SELECT t.flags, m.verdict FROM tickets t JOIN messages m"
                     " ON m.ticket_id = t.id")[0]
    flags = json.loads(str(row[0]))
    assert {"vague_subject", "private_address", "missing_computer_name"} <= set(flags)
    verdict = json.loads(str(row[1]))
    assert verdict["queue"] == "helpdesk"
    assert [n[0] for n in verdict["notes"]][:3] == ["parse", "automail", "dedupe"]
    assert verdict["acknowledgement"] == "acknowledgement"


def test_automatic_mail_is_stored_never_acknowledged(running: Running) -> None:
    send(running.port(), make_mail("Autosvar: semester", "Jag är borta till måndag.",
                                   headers={"Auto-Submitted": "auto-replied"}))
    send(running.port(), make_mail("Undelivered Mail Returned to Sender", "no such user",
                                   sender="MAILER-DAEMON@mx.example.net"),
         mail_from="")
    rows = q(running, "SELECT kind FROM events WHERE ticket_id IS NULL")
    assert ("bounce",) in rows
    inbound = q(running, "SELECT verdict FROM messages WHERE direction = 'in'")
    verdicts = [json.loads(str(v[0])) for v in inbound]
    assert [v["automail"] for v in verdicts] == ["auto_reply"]
    assert all(v["acknowledgement"] is None for v in verdicts)


def test_null_envelope_sender_over_smtp_is_a_bounce(running: Running) -> None:
    # A notification with MAIL FROM:<> and no other machine sign (the From looks like a person):
    # the null reverse-path alone says it must get no ticket and no acknowledgement.
    send(running.port(), make_mail("Ditt meddelande", "Meddelandet kunde inte levereras.",
                                   sender="kim@example.org"), mail_from="")
    assert q(running, "SELECT mail_from FROM spool") == [("",)]
    assert q(running, "SELECT count(*) FROM tickets") == [(0,)]
    assert q(running, "SELECT kind FROM events WHERE ticket_id IS NULL") == [("bounce",)]
    assert q(running, "SELECT count(*) FROM outbox") == [(0,)]


def test_rcpt_refusal_does_not_leak_into_spool(running: Running) -> None:
    with smtplib.SMTP("127.0.0.1", running.port()) as client:
        client.ehlo()
        client.mail("kim@example.org")
        assert client.rcpt("helpdesk%evil.example.net@example.org")[0] == 550
        assert client.rcpt("@relay.example.net:helpdesk@example.org")[0] in (550, 501, 553)
        assert client.rcpt('"helpdesk@evil.example.net"@example.org')[0] == 550
        # a quoted local part that means the same address is that address (RFC 5321 4.1.2)
        assert client.rcpt('"helpdesk"@example.org')[0] == 250
        client.rset()
    assert q(running, "SELECT count(*) FROM spool") == [(0,)]
