"""The backbone end to end: a real smtplib client against the real daemon and a real SQLite file."""

from __future__ import annotations

import smtplib
import sqlite3

import pytest

from conftest import Running, make_mail, message_id_of, send
from ticketgate.config import Settings


def tickets(running: Running) -> list[tuple[int, str, str, str]]:
    running.drain()
    return running.store.view.conn.execute(
        "SELECT id, queue, subject, requester FROM tickets ORDER BY id"
    ).fetchall()


def messages_of(running: Running, ticket_id: int) -> list[str]:
    rows = running.store.view.conn.execute(
        "SELECT message_id FROM messages WHERE ticket_id = ? AND direction = 'in' ORDER BY id",
        (ticket_id,),
    ).fetchall()
    return [r[0] for r in rows]


def test_new_mail_gets_250_and_becomes_a_ticket(running: Running) -> None:
    with smtplib.SMTP("127.0.0.1", running.port()) as client:
        client.ehlo()
        assert "size" in client.esmtp_features
        assert client.esmtp_features["size"] == str(25 * 1024 * 1024)
        assert "smtputf8" in client.esmtp_features
        client.mail("kim@example.org")
        client.rcpt("helpdesk@example.org")
        code, reply = client.data(make_mail("Behöver ett nytt tangentbord"))
    assert code == 250
    assert reply.startswith(b"2.0.0 queued as S")
    rows = tickets(running)
    assert rows == [(1, "helpdesk", "Behöver ett nytt tangentbord", "kim@example.org")]
    spool = running.store.view.conn.execute("SELECT state FROM spool").fetchall()
    assert spool == [("done",)]


def test_reply_with_code_behind_prefixes_lands_on_the_ticket(running: Running) -> None:
    send(running.port(), make_mail("Skrivaren i rum 2110 fungerar inte"))
    send(running.port(), make_mail("Skärmen flimrar"))
    reply = make_mail("SV: Re: [DDG #1] Skrivaren i rum 2110 fungerar inte", "Nu fungerar den.")
    send(running.port(), reply)
    for subject in ("re: fw:[ddg#2] hmm", "AW:  VS: [ DDG  #  2 ] tack"):
        send(running.port(), make_mail(subject, "mer info"))
    assert [t[0] for t in tickets(running)] == [1, 2]
    assert message_id_of(reply) in messages_of(running, 1)
    assert len(messages_of(running, 1)) == 2
    assert len(messages_of(running, 2)) == 3


def test_reply_without_code_threads_by_in_reply_to(running: Running) -> None:
    first = make_mail("Jag kommer inte in i lokal XYZ")
    send(running.port(), first)
    reply = make_mail(
        "Re: Jag kommer inte in i lokal XYZ",
        "Det gäller dörren mot korridoren.",
        headers={"In-Reply-To": f"<{message_id_of(first)}>"},
    )
    send(running.port(), reply)
    refs = make_mail(
        "En till sak",
        "hänvisar via References",
        headers={"References": f"<unknown@x.invalid> <{message_id_of(first)}>"},
    )
    send(running.port(), refs)
    assert len(tickets(running)) == 1
    assert messages_of(running, 1) == [message_id_of(m) for m in (first, reply, refs)]


def test_unknown_code_makes_a_new_ticket(running: Running) -> None:
    send(running.port(), make_mail("Re: [DDG #4711] gammalt ärende"))
    rows = tickets(running)
    assert [r[0] for r in rows] == [1]
    events = running.store.view.conn.execute("SELECT kind FROM events").fetchall()
    assert ("created",) in events


def test_rcpt_to_non_function_address_is_refused_550(running: Running) -> None:
    with smtplib.SMTP("127.0.0.1", running.port()) as client:
        client.ehlo()
        client.mail("kim@example.org")
        for address in ("someone@example.org", "helpdesk@example.com", "kim@elsewhere.invalid"):
            code, reply = client.rcpt(address)
            assert code == 550, address
            assert reply.startswith(b"5.1.1"), reply
        code, _ = client.rcpt("HelpDesk+urgent@EXAMPLE.org")
        assert code == 250
        code, _ = client.rcpt("lukortet@example.org")
        assert code == 250


def test_plus_detail_routes_to_the_function_address_queue(running: Running) -> None:
    send(running.port(), make_mail(to="lukortet+spärr@example.org"),
         rcpt="LUkortet+sparr@example.org")
    assert [r[1] for r in tickets(running)] == ["lukortet"]


def test_data_over_the_size_limit_gets_552(tmp_path, site) -> None:  # type: ignore[no-untyped-def]
    from ticketgate.config import load_settings

    text = site.read_text() + "max_message_size: 20000\n"
    site.write_text(text)
    running = Running(load_settings(site))
    try:
        big = make_mail("Stor bilaga", ("x" * 70 + "\n") * 400)
        with smtplib.SMTP("127.0.0.1", running.port()) as client:
            client.ehlo()
            client.mail("kim@example.org")
            client.rcpt("helpdesk@example.org")
            code, reply = client.data(big)
            assert code == 552
            assert reply.startswith(b"5.3.4")
            # SIZE declared up front is refused at MAIL FROM.
            client.rset()
            code, reply = client.mail("kim@example.org", ["SIZE=50000"])
            assert code == 552
            assert reply.startswith(b"5.3.4")
        assert running.store.view.conn.execute("SELECT count(*) FROM spool").fetchone() == (0,)
    finally:
        running.stop()


def test_failing_spool_commit_answers_451_and_stores_nothing(running: Running) -> None:
    writer = running.store.writer
    writer.call(lambda tx: tx.conn.execute("PRAGMA query_only=ON"))  # the database turns read-only
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(running.port(), make_mail("Detta får inte försvinna"))
    assert refused.value.smtp_code == 451
    assert refused.value.smtp_error.startswith(b"4.3.0")
    count = running.store.view.conn.execute("SELECT count(*) FROM spool").fetchone()[0]
    assert count == 0
    # The fault is gone: accept again.
    writer.call(lambda tx: tx.conn.execute("PRAGMA query_only=OFF"))
    send(running.port(), make_mail("Detta får inte försvinna"))
    assert len(tickets(running)) == 1


def _lmtp_dialogue(port: int, raw: bytes, rcpts: list[str]) -> list[bytes]:
    """Speak LMTP by hand: smtplib reads only one reply after DATA, LMTP sends one each."""
    import socket

    replies: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rwb")

        def reply() -> bytes:
            lines = [stream.readline()]
            while lines[-1][3:4] == b"-":
                lines.append(stream.readline())
            return lines[-1].rstrip()

        def command(line: bytes) -> bytes:
            stream.write(line + b"\r\n")
            stream.flush()
            return reply()

        reply()  # greeting
        command(b"LHLO client.test.invalid")
        command(b"MAIL FROM:<kim@example.org>")
        for r in rcpts:
            replies.append(command(b"RCPT TO:<" + r.encode() + b">"))
        command(b"DATA")
        stream.write(raw.replace(b"\n.", b"\n..") + b".\r\n")
        stream.flush()
        accepted = sum(1 for r in replies if r.startswith(b"250"))
        replies.extend(reply() for _ in range(accepted))
        command(b"QUIT")
    return replies


def test_lmtp_answers_once_per_recipient(settings: Settings) -> None:
    from dataclasses import replace

    from ticketgate.config import Listener

    running = Running(replace(settings, lmtp=Listener("127.0.0.1", 0)))
    try:
        raw = make_mail(to="helpdesk@example.org, sot@example.org")
        replies = _lmtp_dialogue(
            running.port("lmtp"), raw,
            ["helpdesk@example.org", "nobody@example.org", "sot@example.org"],
        )
        assert replies[0].startswith(b"250")
        assert replies[1].startswith(b"550 5.1.1")
        assert replies[2].startswith(b"250")
        assert [r[:17] for r in replies[3:]] == [b"250 2.0.0 queued "] * 2
        assert len(tickets(running)) == 1
    finally:
        running.stop()


def test_database_is_wal_and_full_sync(running: Running) -> None:
    conn = sqlite3.connect(running.settings.database)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    sync = running.store.writer.call(lambda tx: tx.conn.execute("PRAGMA synchronous").fetchone()[0])
    assert sync == 2  # FULL
    conn.close()
