"""Postfix in front of ticketgate, for real: Debian's postfix on loopback ports of its own.

Postfix hands the function addresses to ticketgate with the settings docs/postfix.md gives
admins: over SMTP (helpdesk@), LMTP (lukortet@) and a pipe to `ticketgate inject` (sot@). It is
also ticketgate's smarthost: acknowledgements go back out through it into the requester's
Maildir. With the database locked, ticketgate answers 451 (inject exits 75), Postfix keeps
the mail deferred, and a queue flush after the lock is gone delivers each message once.
"""

from __future__ import annotations

import smtplib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import make_mail, message_id_of, write_site
from integration_gate import need
from integration_helpers import (
    PipeBridge,
    Postfix,
    Served,
    free_port,
    held_write_lock,
    query,
    wait_until,
)
from ticketgate.rules import load_rules

pytestmark = pytest.mark.integration

REQUESTER = "kim@student.example.org"
# How each queue's function addresses reach ticketgate.
LMTP_QUEUE = "lukortet"
PIPE_QUEUE = "sot"


@dataclass
class Stack:
    postfix: Postfix
    gate: Served
    database: Path
    bridge: PipeBridge

    def send(self, raw: bytes, rcpt: str) -> None:
        """Hand a mail to Postfix, as a requester's mail client would."""
        with smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=30) as client:
            assert client.sendmail(REQUESTER, [rcpt], raw) == {}

    def tickets_of(self, *message_ids: str) -> dict[str, tuple[int, str]]:
        """Message-ID -> (ticket number, queue) for each incoming message already stored."""
        marks = ",".join("?" * len(message_ids))
        rows = query(self.database,
                     "SELECT m.message_id, t.id, t.queue FROM messages m "
                     "JOIN tickets t ON t.id = m.ticket_id "
                     f"WHERE m.direction = 'in' AND m.message_id IN ({marks})", message_ids)
        return {mid: (ticket, queue) for mid, ticket, queue in rows}

    def details(self) -> str:
        return (f"--- postfix queue: {self.postfix.queue()}\n--- maillog:\n"
                f"{self.postfix.maillog()[-6000:]}\n--- ticketgate:\n{self.gate.log()}")


def pipe_service(bridge: PipeBridge, site: Path) -> str:
    """docs/postfix.md's master.cf entry, with the bridge in place of the ticketgate binary
    and `nobody` in place of the ticketgate user."""
    return ("ticketgate unix - n n - - pipe\n"
            f"  flags=Xq user=nobody null_sender= argv=/bin/sh {bridge.script} inject"
            f" --config {site} --from=${{sender}} --rcpt=${{recipient}}\n")


def postfix_settings(rules_dir: Path, ports: dict[str, int]) -> tuple[dict[str, str], dict]:
    """main.cf additions and lookup tables: the admin's settings from docs/postfix.md, plus
    mailboxes for the requester and the staff (standing in for the organisation's mail
    server)."""
    rules = load_rules(rules_dir)
    transport, recipients = [], []
    for address, queue in sorted(rules.function_addresses.items()):
        nexthop = {LMTP_QUEUE: f"lmtp:inet:[127.0.0.1]:{ports['lmtp']}",
                   PIPE_QUEUE: "ticketgate:"}.get(queue, f"smtp:[127.0.0.1]:{ports['smtp']}")
        transport.append(f"{address} {nexthop}")
        recipients.append(f"{address} ok")
    staff = sorted({a for q in rules.queues.values() for a in q.staff})
    transport.append("example.org virtual:")  # the rest of example.org: staff mailboxes
    recipients += [f"{a} ok" for a in staff]
    mailboxes = [f"{REQUESTER} kim/", *(f"{a} staff/" for a in staff)]
    main = {
        "relay_domains": "example.org",
        "relay_recipient_maps": "texthash:{etc}/relay_recipients",
        "transport_maps": "texthash:{etc}/transport",
        "virtual_mailbox_domains": "student.example.org",
        "virtual_mailbox_maps": "texthash:{etc}/mailboxes",
        "ticketgate_destination_recipient_limit": "1",  # one ${recipient} per command
        # relay_domains would otherwise claim student.example.org too (and Postfix warns).
        "parent_domain_matches_subdomains": "debug_peer_list, fast_flush_domains, mynetworks, "
                                            "permit_mx_backup_networks, qmqpd_authorized_clients, "
                                            "smtpd_access_maps",
        # Scan the queue often, but leave deferred mail alone until the test flushes it.
        "queue_run_delay": "1s",
        "minimal_backoff_time": "300s",
        "maximal_backoff_time": "300s",
    }
    tables = {"transport": "\n".join(transport) + "\n",
              "relay_recipients": "\n".join(recipients) + "\n",
              "mailboxes": "\n".join(mailboxes) + "\n"}
    return main, tables


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    need("postfix", "postqueue", root=True,
         purpose="a private Postfix instance in front of ticketgate; its master process runs "
                 "as root")
    postfix_port = free_port()
    site = write_site(tmp_path)
    site.write_text(
        "instance: gate.test.invalid\n"
        "smtp: {host: 127.0.0.1, port: 0}\n"
        "lmtp: {host: 127.0.0.1, port: 0}\n"
        "database: var/ticketgate.db\n"
        "log_format: json\n"
        f"delivery: {{transport: smtp, host: 127.0.0.1, port: {postfix_port}, timeout: 10}}\n"
    )
    gate = Served(site)
    postfix: Postfix | None = None
    bridge: PipeBridge | None = None
    try:
        ports = gate.ports("smtp", "lmtp")
        main, tables = postfix_settings(tmp_path / "rules", ports)
        postfix = Postfix(port=postfix_port, main=main, tables=tables)
        bridge = PipeBridge(postfix.root, [sys.executable, "-m", "ticketgate.cli"])
        postfix.add_services(pipe_service(bridge, site))
        postfix.start()
        stack = Stack(postfix, gate, tmp_path / "var/ticketgate.db", bridge)
        yield stack
        print(stack.details())  # shown by pytest when the test failed
    finally:
        if postfix is not None:
            postfix.stop()
        if bridge is not None:
            bridge.close()
        if postfix is not None:
            postfix.cleanup()
        gate.terminate()


def request(subject: str, body: str, to: str) -> tuple[bytes, str]:
    raw = make_mail(subject, body, sender=f"Kim Student <{REQUESTER}>", to=to)
    return raw, message_id_of(raw)


def acknowledgements(stack: Stack, count: int) -> list[EmailMessage]:
    return wait_until(lambda: (lambda m: len(m) >= count and m)(stack.postfix.mailbox("kim")),
                      timeout=60, what=f"{count} acknowledgements in {REQUESTER}'s Maildir",
                      detail=stack.details)


def check_acknowledgements(stack: Stack, tickets: dict[str, tuple[int, str]]) -> None:
    """One acknowledgement per message, each answering it with its ticket's code."""
    acks = acknowledgements(stack, len(tickets))
    assert len(acks) == len(tickets), [a["Subject"] for a in acks]
    by_reply = {a["In-Reply-To"].strip().strip("<>"): a for a in acks}
    assert set(by_reply) == set(tickets)
    for mid, (number, _queue) in tickets.items():
        ack = by_reply[mid]
        assert f"#{number}]" in ack["Subject"], ack["Subject"]
        assert ack["Auto-Submitted"] == "auto-replied"
        assert ack["Return-Path"] == "<>"  # a null envelope sender, as RFC 3834 wants
        assert ack["Delivered-To"] == REQUESTER


def test_postfix_relays_over_smtp_lmtp_and_pipe_and_acknowledgements_come_back(
    stack: Stack,
) -> None:
    raw_a, mid_a = request("Skrivaren på plan 3 skriver inte ut",
                           "Hej,\nskrivaren pr-3 på plan 3 tar emot jobben men inget kommer ut.\n"
                           "Min dator heter ddg-ws-17.\nMvh Kim", "helpdesk@example.org")
    raw_b, mid_b = request("Mitt LU-kort öppnar inte dörren till biblioteket",
                           "Hej,\nkortet blinkar rött vid läsaren sedan i måndags.\nMvh Kim",
                           "lukortet@example.org")
    raw_c, mid_c = request("Kan inte logga in i Canvas",
                           "Hej,\nCanvas säger att mitt konto är låst sedan igår.\nMvh Kim",
                           "sot@example.org")
    stack.send(raw_a, "helpdesk@example.org")
    stack.send(raw_b, "lukortet@example.org")
    stack.send(raw_c, "sot@example.org")

    tickets = wait_until(
        lambda: (lambda t: len(t) == 3 and t)(stack.tickets_of(mid_a, mid_b, mid_c)),
        timeout=60, what="three tickets", detail=stack.details)
    assert [tickets[m][1] for m in (mid_a, mid_b, mid_c)] == ["helpdesk", "lukortet", "sot"]
    spooled = query(stack.database, "SELECT protocol, mail_from, rcpt_to FROM spool ORDER BY id")
    assert sorted(spooled) == [
        ("inject", REQUESTER, '["sot@example.org"]'),
        ("lmtp", REQUESTER, '["lukortet@example.org"]'),
        ("smtp", REQUESTER, '["helpdesk@example.org"]'),
    ]
    # Postfix logs a delivery once its agent is done, which may be after ticketgate has
    # already made the ticket (pipe: after `inject` exits): wait for all three.
    logged = ("to=<helpdesk@example.org>, relay=", "to=<lukortet@example.org>, relay=",
              "delivered via ticketgate service")
    log = wait_until(lambda: (lambda text: all(w in text for w in logged) and text)(
        stack.postfix.maillog()), timeout=30, what="the three deliveries in Postfix's log",
        detail=stack.details)
    assert "to=<helpdesk@example.org>, relay=127.0.0.1[127.0.0.1]" in log
    assert "status=sent (250 2.0.0 queued as S" in log
    assert "to=<lukortet@example.org>, relay=127.0.0.1[127.0.0.1]" in log
    assert "to=<sot@example.org>, relay=ticketgate" in log
    assert "status=sent (delivered via ticketgate service (queued as S" in log

    check_acknowledgements(stack, tickets)
    wait_until(lambda: not stack.postfix.queue(), timeout=30, what="an empty Postfix queue",
               detail=stack.details)


def deferred(stack: Stack, count: int, reason: str) -> list[dict]:
    """The deferred mail, once there are `count` of them, each for `reason`."""
    queued = [m for m in stack.postfix.queue() if m["queue_name"] == "deferred"]
    reasons = [r.get("delay_reason", "") for m in queued for r in m["recipients"]]
    return queued if len(queued) == count and all(reason in r for r in reasons) else []


def test_database_outage_defers_in_postfix_and_nothing_is_lost_or_doubled(
    stack: Stack,
) -> None:
    sent = {
        "helpdesk@example.org": request(  # relayed over SMTP
            "VPN-anslutningen bryts var femte minut",
            "Hej,\nVPN:en kopplar ner hela tiden hemifrån.\nDatorn heter ddg-lt-42.\nMvh Kim",
            "helpdesk@example.org"),
        "lukortet@example.org": request(  # over LMTP
            "Jag har tappat mitt LU-kort",
            "Hej,\njag behöver spärra mitt kort och få ett nytt.\nMvh Kim",
            "lukortet@example.org"),
        "sot@example.org": request(  # through the pipe to ticketgate inject
            "Ljudet fungerar inte i sal B214",
            "Hej,\nhögtalarna i B214 är tysta sedan lunch.\nMvh Kim", "sot@example.org"),
    }
    mids = [mid for _raw, mid in sent.values()]
    with held_write_lock(stack.database):
        for rcpt, (raw, _mid) in sent.items():
            stack.send(raw, rcpt)
        # The writer waits out its busy timeout; SMTP and LMTP then answer 451, inject
        # exits 75 (EX_TEMPFAIL), and Postfix defers each of them.
        wait_until(lambda: len([m for m in stack.postfix.queue()
                                if m["queue_name"] == "deferred"]) == 3,
                   timeout=90, what="all three mails deferred", detail=stack.details)
        assert stack.tickets_of(*mids) == {}
    queued = {m["recipients"][0]["address"]: m["recipients"][0]["delay_reason"]
              for m in stack.postfix.queue()}
    assert " said: 451 4.3.0 " in queued["helpdesk@example.org"], queued
    assert " said: 451 4.3.0 " in queued["lukortet@example.org"], queued
    assert "temporary failure" in queued["sot@example.org"], queued
    assert [rc for _args, rc in stack.bridge.calls] == [75]
    assert query(stack.database, "SELECT COUNT(*) FROM spool") == [(0,)]

    # The lock is gone, but Postfix holds the mail until its backoff ends or a flush.
    assert len(deferred(stack, 3, "")) == 3
    stack.postfix.flush()
    tickets = wait_until(lambda: (lambda t: len(t) == 3 and t)(stack.tickets_of(*mids)),
                         timeout=60, what="three tickets after the flush", detail=stack.details)
    wait_until(lambda: not [m for m in stack.postfix.queue() if m["queue_name"] == "deferred"],
               timeout=30, what="an empty deferred queue", detail=stack.details)

    # Nothing lost, nothing doubled: one spool row, one message and one ticket per mail.
    spooled = [message_id_of(raw) for (raw,) in query(stack.database, "SELECT raw FROM spool")]
    assert sorted(spooled) == sorted(mids)
    stored = query(stack.database,
                   "SELECT message_id, COUNT(*) FROM messages WHERE direction = 'in' "
                   "GROUP BY message_id")
    assert sorted(stored) == sorted((mid, 1) for mid in mids)
    assert query(stack.database, "SELECT COUNT(*) FROM tickets") == [(3,)]
    assert {tickets[mid][1] for mid in mids} == {"helpdesk", "lukortet", "sot"}
    assert [rc for _args, rc in stack.bridge.calls] == [75, 0]

    check_acknowledgements(stack, tickets)
    wait_until(lambda: not stack.postfix.queue(), timeout=30, what="an empty Postfix queue",
               detail=stack.details)
    assert len(stack.postfix.mailbox("kim")) == 3
