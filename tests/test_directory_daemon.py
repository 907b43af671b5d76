"""The directory stage in the running daemon: people on tickets, flags, acknowledgements,
follow-ups that name a username, and a directory that is down or slow (never a held mail)."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Running, free_port, make_mail, run_cli, send, write_site
from ticketgate.config import load_settings
from ticketgate.directory import Lookup
from ticketgate.directory.csvdir import CsvDirectory
from ticketgate.directory.retry import RetryJob, retry_pending

ASKS_FOR_USERNAME = ("med ditt användarnamn", "with your username")


def q(running: Running, sql: str, *args: object) -> list[tuple[Any, ...]]:
    return running.store.view.conn.execute(sql, args).fetchall()


def ticket(running: Running, number: int) -> dict[str, Any]:
    flags, person, lookup = q(running, "SELECT flags, person, person_lookup FROM tickets"
                                       " WHERE id = ?", number)[0]
    return {"flags": json.loads(flags), "person": json.loads(person) if person else None,
            "lookup": lookup}


def events(running: Running, number: int, kind: str) -> list[dict[str, Any]]:
    return [json.loads(d) for (d,) in q(running, "SELECT detail FROM events WHERE ticket_id = ?"
                                                 " AND kind = ? ORDER BY id", number, kind)]


def acknowledgements(root: Path, rcpt: str, timeout: float = 10.0) -> list[str]:
    """The bodies of the acknowledgements to `rcpt` (the outbox delivers after the commit)."""
    new = root / "var/maildir/new"
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for path in sorted(new.iterdir()) if new.is_dir() else []:
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if msg["To"] and rcpt in str(msg["To"]) and msg["Auto-Submitted"]:
                body = msg.get_body(("plain",))
                found.append(str(body.get_content()) if body else "")
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def deliver(running: Running, raw: bytes, sender: str) -> None:
    assert send(running.port(), raw, mail_from=sender) == {}
    running.drain()


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Running]:
    running = Running(load_settings(write_site(tmp_path)))
    yield running
    running.stop()


def test_a_known_requester_is_put_on_the_ticket(gate: Running, tmp_path: Path) -> None:
    deliver(gate, make_mail(sender="Kim <kim@student.example.org>"), "kim@student.example.org")
    t = ticket(gate, 1)
    assert t["lookup"] == "found"
    assert t["person"] == {"username": "kim", "name": "Kim Student", "email": "kim@example.org",
                           "affiliation": "student", "department": "Fysiska institutionen",
                           "phone": ""}
    assert "unknown_person" not in t["flags"]
    (found,) = events(gate, 1, "directory_lookup")
    assert (found["outcome"], found["username"]) == ("found", "kim")
    verdict = json.loads(q(gate, "SELECT verdict FROM messages WHERE ticket_id = 1")[0][0])
    assert verdict["person"]["username"] == "kim" and verdict["username"] == "kim"
    assert verdict["directory"][0] == "found"
    site = tmp_path / "ticketgate.yaml"
    shown = run_cli(site, "tickets", "show", "1").stdout.decode()
    assert "  person: Kim Student (kim), student, Fysiska institutionen, kim@example.org" in shown
    assert "event directory_lookup" in shown
    data = json.loads(run_cli(site, "tickets", "show", "1", "--json").stdout)
    assert data["person"]["name"] == "Kim Student" and data["person_lookup"] == "found"


def test_an_institutional_address_the_directory_does_not_know_is_flagged(gate: Running) -> None:
    deliver(gate, make_mail("Skrivaren i rum 2110", "Den drar in papper.",
                            sender="Eve <eve@example.org>"), "eve@example.org")
    t = ticket(gate, 1)
    assert (t["person"], t["lookup"]) == (None, "unknown")
    assert "unknown_person" in t["flags"]
    (flagged,) = events(gate, 1, "flagged")
    assert flagged["unknown_person"] == "eve@example.org is not in the directory"


def test_a_username_in_a_mail_from_a_private_address_finds_the_person(
    gate: Running, tmp_path: Path
) -> None:
    deliver(gate, make_mail("Skrivaren i rum 2110", "Den drar in papper. Användarnamn: ab1234cd",
                            sender="Alex <alex.private@hotmail.com>"), "alex.private@hotmail.com")
    t = ticket(gate, 1)
    assert t["person"]["username"] == "ab1234cd" and "private_address" not in t["flags"]
    (ack,) = acknowledgements(tmp_path, "alex.private@hotmail.com")
    assert not any(p in ack for p in ASKS_FOR_USERNAME)


def test_the_acknowledgement_asks_for_a_username_only_while_none_is_known(
    gate: Running, tmp_path: Path
) -> None:
    # A private address the directory knows (registered in rules/directory.csv): not asked.
    deliver(gate, make_mail("Skrivaren i rum 2110", "Den drar in papper.",
                            sender="Alex <alex.berg@gmail.com>"), "alex.berg@gmail.com")
    t = ticket(gate, 1)
    assert t["person"]["name"] == "Alex Berg" and "private_address" not in t["flags"]
    (ack,) = acknowledgements(tmp_path, "alex.berg@gmail.com")
    assert not any(p in ack for p in ASKS_FOR_USERNAME)
    # An unknown private address without a username: asked, in both languages.
    deliver(gate, make_mail("Skrivaren i rum 2110", "Den drar in papper.",
                            sender="Zed <zed@gmail.com>"), "zed@gmail.com")
    assert "private_address" in ticket(gate, 2)["flags"]
    (ack,) = acknowledgements(tmp_path, "zed@gmail.com")
    assert all(p in ack for p in ASKS_FOR_USERNAME)


def test_a_reply_with_the_username_completes_the_ticket(gate: Running) -> None:
    deliver(gate, make_mail("Skrivaren i rum 2110", "Den drar in papper.",
                            sender="Alex <alex.private@hotmail.com>"), "alex.private@hotmail.com")
    assert ticket(gate, 1)["lookup"] == "unknown"
    assert "private_address" in ticket(gate, 1)["flags"]
    deliver(gate, make_mail("SV: [DDG #1] Skrivaren i rum 2110", "Mitt användarnamn är ab1234cd.",
                            sender="Alex <alex.private@hotmail.com>"), "alex.private@hotmail.com")
    t = ticket(gate, 1)
    assert (t["lookup"], t["person"]["username"]) == ("found", "ab1234cd")
    assert "private_address" not in t["flags"]
    assert events(gate, 1, "unflagged") == [
        {"private_address": "the directory knows the requester"}]
    # Someone else in the thread does not become the requester.
    deliver(gate, make_mail("SV: [DDG #1] Skrivaren i rum 2110", "Jag har samma problem.",
                            sender="Kim <kim@example.org>"), "kim@example.org")
    assert ticket(gate, 1)["person"]["username"] == "ab1234cd"


# -- a directory that is down or slow ------------------------------------------------------


def ldap_site(root: Path, url: str, extra: str = "") -> Path:
    return write_site(root, (
        "directory:\n"
        "  backend: ldap\n"
        "  retry_after: 60\n"
        f"  ldap: {{url: '{url}', base_dn: 'ou=people,dc=example,dc=org', timeout: 0.5{extra}}}\n"
    ))


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def assert_kept_and_pending(running: Running, count: int) -> None:
    states = q(running, "SELECT state, count(*) FROM spool GROUP BY state")
    assert states == [("done", count)], states
    for number in range(1, count + 1):
        t = ticket(running, number)
        assert (t["lookup"], t["person"]) == ("pending", None)
        (warning,) = events(running, number, "directory_unavailable")
        assert warning["retry"] == "looked up again when the directory answers"


def test_a_directory_that_is_down_costs_one_try_and_holds_no_mail(tmp_path: Path) -> None:
    running = Running(load_settings(ldap_site(tmp_path, f"ldap://127.0.0.1:{free_port()}")))
    try:
        deliver(running, make_mail(sender="Kim <kim@example.org>"), "kim@example.org")
        deliver(running, make_mail("Skrivaren i rum 2110", "Den drar in papper.",
                                   sender="Ola <ola@example.org>"), "ola@example.org")
        assert_kept_and_pending(running, 2)
        first, second = (events(running, n, "directory_unavailable")[0] for n in (1, 2))
        assert "LDAPSocketOpenError" in first["error"]
        assert "not asked again" in second["error"]  # the circuit: no second connection try
        assert "unknown_person" not in ticket(running, 1)["flags"]
        # The retry job, once the directory answers (here: the example CSV file).
        answering = Lookup(CsvDirectory(tmp_path / "rules/directory.csv"))
        assert retry_pending(running.store, running.settings, answering) == 2
        kim, ola = ticket(running, 1), ticket(running, 2)
        assert (kim["lookup"], kim["person"]["username"]) == ("found", "kim")
        assert (ola["lookup"], ola["person"]["affiliation"]) == ("found", "staff")
        (retried,) = events(running, 1, "directory_lookup")
        assert retried["retried"] is True and retried["outcome"] == "found"
        assert retry_pending(running.store, running.settings, answering) == 0
    finally:
        running.stop()


@pytest.mark.parametrize(("scheme", "starttls"), [("ldap", False), ("ldap", True),
                                                   ("ldaps", False)])
def test_a_directory_that_never_answers_is_given_up_on_in_time(
    tmp_path: Path, silent_port: int, scheme: str, starttls: bool
) -> None:
    extra = ", starttls: true" if starttls else ""
    site = ldap_site(tmp_path, f"{scheme}://127.0.0.1:{silent_port}", extra)
    running = Running(load_settings(site))
    try:
        started = time.monotonic()
        deliver(running, make_mail(sender="Kim <kim@example.org>"), "kim@example.org")
        deliver(running, make_mail("Skrivaren i rum 2110", "Den drar in papper.",
                                   sender="Ola <ola@example.org>"), "ola@example.org")
        assert time.monotonic() - started < 5  # one 0.5 s timeout, then the open circuit
        assert_kept_and_pending(running, 2)
        (warning,) = events(running, 1, "directory_unavailable")
        assert "no answer within 0.5 s" in warning["error"] or "timed out" in warning["error"]
    finally:
        running.stop()


def test_the_retry_job_runs_by_itself(tmp_path: Path) -> None:
    running = Running(load_settings(ldap_site(tmp_path, f"ldap://127.0.0.1:{free_port()}")))
    try:
        deliver(running, make_mail(sender="Kim <kim@example.org>"), "kim@example.org")
        assert ticket(running, 1)["lookup"] == "pending"
        job = RetryJob(running.store, running.settings,
                       Lookup(CsvDirectory(tmp_path / "rules/directory.csv")), interval=0.1)
        job.start()
        try:
            deadline = time.monotonic() + 10
            while ticket(running, 1)["lookup"] == "pending":
                assert time.monotonic() < deadline, "the retry job did not settle the ticket"
                time.sleep(0.05)
        finally:
            job.stop()
        assert ticket(running, 1)["person"]["username"] == "kim"
    finally:
        running.stop()
