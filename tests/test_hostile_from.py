"""Hostile From headers: an encoded word is never an address, and a From that does not hold
exactly one valid address gets no acknowledgement, with the reason on the ticket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Running, write_site
from promise_helpers import deliver
from ticketgate.addressform import address_problem
from ticketgate.config import load_settings
from ticketgate.mail import parse
from ticketgate.mail.mailboxes import parse_list, shield_encoded_words

ATTACK = "=?utf-8?q?Name=0D=0ABcc:_victim5@example.net?= <hi5@example.org>"


def mail(from_header: str | None, subject: str = "Skrivaren i rum 2110 matar fel") -> bytes:
    head = f"From: {from_header}\r\n" if from_header is not None else ""
    return (head + "To: helpdesk@example.org\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{abs(hash(from_header))}@client.test.invalid>"
            "\r\n\r\nHej,\r\nskrivaren i rum 2110 matar fel sedan i morse.\r\nMvh\r\n").encode()


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "address", "name"), [
    (ATTACK, "hi5@example.org", "Name Bcc: victim5@example.net"),
    ("=?utf-8?q?x<evil@a.example>,?= <real@example.org>", "real@example.org", "x<evil@a.example>,"),
    ("=?utf-8?b?S2ltQGV4YW1wbGUubmV0?= <kim@example.org>", "kim@example.org", "Kim@example.net"),
    ("=?utf-8?q?Kim_Str=C3=B6m?= <kim@example.org>", "kim@example.org", "Kim Ström"),
    ('"=?utf-8?q?a@b?=" <kim@example.org>', "kim@example.org", "a@b"),
    ("(=?utf-8?q?a:b@c?=) Kim <kim@example.org>", "kim@example.org", "Kim"),
])
def test_an_encoded_word_is_display_text_never_an_address(header: str, address: str,
                                                          name: str) -> None:
    parsed = parse(mail(header))
    assert parsed.sender is not None
    assert (parsed.sender.address, parsed.sender.name) == (address, name)
    assert [m.address for m in parsed.senders] == [address]


def test_an_encoded_word_as_a_local_part_is_kept_literally_and_is_not_valid() -> None:
    (box,) = parse_list("=?utf-8?q?evil@x.example?=")
    assert box.address == "=?utf-8?q?evil@x.example?="  # not decoded into evil@x.example
    assert address_problem(box.address) is not None


def test_shielding_leaves_quotes_comments_and_angle_addresses_alone() -> None:
    for text in ['"=?utf-8?q?a:b?=" <k@example.org>', "(=?utf-8?q?a:b?=) <k@example.org>",
                 "<=?utf-8?q?a:b?=@example.org>", "=?utf-8?q?plain?= <k@example.org>"]:
        assert shield_encoded_words(text) == text
    assert shield_encoded_words('=?x?q?a"b:c?= <k@e.org>') == '"=?x?q?a\\"b:c?=" <k@e.org>'


@pytest.mark.parametrize(("address", "valid"), [
    ("kim@example.org", True), ("åsa@exempel.se", True), ('"a b"@example.org', True),
    ("a@[192.0.2.1]", True), ("_victim5@example.net?=", False), ("a..b@example.org", False),
    ("root@localhost", False), ("a@-x.example", False), ("@example.org", False),
    ("x" * 65 + "@example.org", False), ("kim@exa mple.org", False),
])
def test_address_validity(address: str, valid: bool) -> None:
    assert (address_problem(address) is None) == valid, address_problem(address)


# -- through the daemon ----------------------------------------------------------------------


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Running]:
    running = Running(load_settings(write_site(tmp_path)))
    yield running
    running.stop()


def ticket_facts(gate: Running) -> tuple[str, list[str], list[dict[str, str]], list[str]]:
    """(requester, acknowledged addresses, suppression events, flags) of the only ticket."""
    conn = gate.store.view.conn
    ((ticket_id, requester, flags),) = conn.execute(
        "SELECT id, requester, flags FROM tickets").fetchall()
    acked = [r for (r,) in conn.execute(
        "SELECT rcpt_to FROM outbox WHERE kind = 'acknowledgement'")]
    suppressed = [json.loads(d) for (d,) in conn.execute(
        "SELECT detail FROM events WHERE kind = 'acknowledgement_suppressed'"
        " AND ticket_id = ?", (ticket_id,))]
    return requester, acked, suppressed, json.loads(flags)


def test_the_encoded_word_attack_makes_the_real_address_the_requester(gate: Running) -> None:
    reply = deliver(gate.port(), mail(ATTACK), mail_from="hi5@example.org")
    assert reply.code == 250, reply.line
    gate.drain()
    requester, acked, suppressed, flags = ticket_facts(gate)
    assert requester == "hi5@example.org"
    assert acked == ["hi5@example.org"]  # never _victim5@example.net?= or victim5@...
    assert suppressed == [] and "invalid_from" not in flags


@pytest.mark.parametrize(("header", "why"), [
    ("kim@example.org, victim@example.net", "From holds 2 addresses"),
    ("Kim <kim@localhost>", "is not a host name"),
    ("undisclosed-recipients:;", "no address in From"),
    (None, "no From header"),
])
def test_a_from_without_one_valid_address_gets_no_acknowledgement_and_the_ticket_says_why(
    gate: Running, header: str | None, why: str
) -> None:
    reply = deliver(gate.port(), mail(header), mail_from="kim@example.org")
    assert reply.code == 250, reply.line
    gate.drain()
    _, acked, suppressed, flags = ticket_facts(gate)
    assert acked == []
    assert "invalid_from" in flags
    (event,) = suppressed
    assert event["reason"].startswith("invalid From:") and why in event["reason"], event
