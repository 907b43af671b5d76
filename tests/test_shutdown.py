"""Shutdown: SIGTERM while mail arrives. New connections get 421 (and, once the last session
is gone and the listener closed, are refused); transactions in flight finish with a 250 that
follows a commit; the next MAIL and idle sessions get 421; the daemon exits 0 within a bound;
every mail that got a 250 is in the spool and processed exactly once (after a restart if the
drain could not finish it)."""

from __future__ import annotations

import random
import re
import signal
import smtplib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import Running, db_rows, free_port, make_mail, start_serve, write_site
from ticketgate.config import load_settings

SENDERS = 16
PER_SENDER = 40  # at most, so the load stops by itself
EXIT_BOUND = 15.0  # seconds from SIGTERM to exit
QUEUED = re.compile(rb"queued as S(\d+)")


def _wait(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_drain_finishes_transactions_and_says_421_to_the_rest(tmp_path: Path) -> None:
    running = Running(load_settings(write_site(tmp_path)))
    port = running.port()
    busy = smtplib.SMTP("127.0.0.1", port, timeout=10)
    busy.ehlo()
    assert busy.mail("kim@example.org")[0] == 250  # a transaction in flight
    idle = smtplib.SMTP("127.0.0.1", port, timeout=10)
    idle.ehlo()  # a session with no transaction open

    running.daemon.request_stop(running.loop)
    _wait(lambda: running.daemon.sessions.draining)
    with pytest.raises(smtplib.SMTPConnectError) as refused:  # a new connection: 421
        smtplib.SMTP("127.0.0.1", port, timeout=10)
    assert refused.value.smtp_code == 421

    # The idle session is told 421 once quiet for a second, and closed.
    idle.sock.settimeout(5)
    assert idle.sock.recv(200).startswith(b"421 4.3.2")

    # The transaction in flight finishes, committed before its 250; the next MAIL gets 421.
    assert busy.rcpt("helpdesk@example.org")[0] == 250
    code, reply = busy.data(make_mail(subject="Skrivaren på plan 3 skriver inte ut"))
    assert code == 250
    spool_id = int(QUEUED.search(reply).group(1))  # type: ignore[union-attr]
    assert busy.mail("alex@example.org")[0] == 421
    busy.close()
    idle.close()

    running.thread.join(20)
    assert not running.thread.is_alive() and running.error is None
    assert db_rows(tmp_path / "ticketgate.yaml", "SELECT id, state FROM spool") == [
        (spool_id, "done")]  # the drain processed it before the exit
    with pytest.raises(ConnectionRefusedError):  # the listener is closed
        socket.create_connection(("127.0.0.1", port), timeout=5)


@dataclass
class Load:
    """SENDERS threads sending mail, a few per connection, until told to stop or refused."""

    port: int
    stop: threading.Event = field(default_factory=threading.Event)
    acked: dict[int, str] = field(default_factory=dict)  # spool id -> subject
    acked_after_signal: int = 0  # transactions in flight at SIGTERM, or begun just before it
    refusals: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # failures before SIGTERM
    signalled: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> Iterator[threading.Thread]:
        for n in range(SENDERS):
            thread = threading.Thread(target=self._sender, args=(n,), daemon=True)
            thread.start()
            yield thread

    def _sender(self, n: int) -> None:
        sent = 0
        rng = random.Random(n)
        while sent < PER_SENDER and not self.stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=20) as client:
                    client.ehlo()
                    for _ in range(rng.randint(1, 3)):
                        subject = f"Sändare {n}, nr {sent}: skrivaren i rum {n}{sent} krånglar"
                        raw = make_mail(subject=subject, sender=f"User {n} <user{n}@example.org>")
                        sent += 1
                        client.mail(f"user{n}@example.org")
                        client.rcpt("helpdesk@example.org")
                        code, reply = client.data(raw)
                        match = QUEUED.search(reply)
                        if code != 250 or match is None:
                            raise smtplib.SMTPResponseException(code, reply)
                        with self.lock:
                            self.acked[int(match.group(1))] = subject
                            self.acked_after_signal += self.signalled.is_set()
            except (smtplib.SMTPException, OSError) as exc:
                with self.lock:
                    (self.refusals if self.signalled.is_set() else self.errors).append(repr(exc))
                if self.signalled.is_set():
                    return


def _read_lines(stream, into: list[str], seen: threading.Event) -> None:  # type: ignore[no-untyped-def]
    for line in iter(stream.readline, b""):
        text = line.decode(errors="replace")
        into.append(text)
        if '"shutting_down"' in text:
            seen.set()


@pytest.mark.parametrize("mode", ["", "--spool-only"])
def test_sigterm_under_load(tmp_path: Path, mode: str) -> None:
    """With the pipeline on, the drain usually finishes the spool before the exit; with
    --spool-only every row is left for the restart, which processes each exactly once."""
    site = write_site(tmp_path)
    port = free_port()
    proc = start_serve(site, port, *filter(None, [mode]))
    log: list[str] = []
    shutting_down = threading.Event()
    reader = threading.Thread(target=_read_lines, args=(proc.stderr, log, shutting_down),
                              daemon=True)
    reader.start()  # a full stderr pipe would stall the daemon
    load = Load(port)
    senders = list(load.run())
    try:
        _wait(lambda: len(load.acked) >= 150 or bool(load.errors), timeout=30)
        assert not load.errors, load.errors
        load.signalled.set()
        proc.send_signal(signal.SIGTERM)
        signalled_at = time.monotonic()

        # Once the daemon acts on the signal, a new connection is told 421 (or refused once
        # the listener is closed); never greeted.
        assert shutting_down.wait(10), "".join(log[-20:])
        outcomes = []
        for _ in range(5):
            try:
                smtplib.SMTP("127.0.0.1", port, timeout=10).close()
                outcomes.append("greeted")
            except smtplib.SMTPConnectError as exc:
                outcomes.append(str(exc.smtp_code))
            except (ConnectionRefusedError, smtplib.SMTPServerDisconnected,
                    ConnectionResetError):
                outcomes.append("refused")
            time.sleep(0.05)
        assert set(outcomes) <= {"421", "refused"}, outcomes

        proc.wait(timeout=EXIT_BOUND + 5)
        elapsed = time.monotonic() - signalled_at
    finally:
        load.stop.set()
        if proc.poll() is None:
            proc.kill()
        for thread in senders:
            thread.join(30)
        reader.join(10)
    assert proc.returncode == 0, "".join(log[-30:])
    assert elapsed < EXIT_BOUND, f"exit took {elapsed:.1f} s"
    assert not load.errors, load.errors

    # Every 250 was a commit: each acknowledged spool id is there; nothing else is.
    spooled = dict(db_rows(site, "SELECT id, state FROM spool"))
    assert set(load.acked) == set(spooled)
    # Whatever the drain left `new` is processed at the next start, each row exactly once.
    left = sum(1 for state in spooled.values() if state == "new")
    if left:
        again = start_serve(site, port)
        threading.Thread(target=_read_lines, args=(again.stderr, [], threading.Event()),
                         daemon=True).start()
        try:
            _wait(lambda: db_rows(site, "SELECT count(*) FROM spool WHERE state = 'new'")
                  == [(0,)], timeout=60)
        finally:
            again.send_signal(signal.SIGTERM)
            again.wait(timeout=30)
        assert again.returncode == 0
    assert db_rows(site, "SELECT state, count(*) FROM spool GROUP BY state") == [
        ("done", len(load.acked))]
    per_row = dict(db_rows(site, "SELECT spool_id, count(*) FROM messages"
                                 " WHERE direction = 'in' GROUP BY spool_id"))
    assert per_row == dict.fromkeys(load.acked, 1)
    print(f"\n{len(load.acked)} accepted ({load.acked_after_signal} after SIGTERM), {left} "
          f"left for the restart, exit after "
          f"{elapsed:.1f} s; after SIGTERM: {len(load.refusals)} refusals, new connections "
          f"{outcomes}")


def test_sigterm_with_nothing_arriving_exits_at_once(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    port = free_port()
    proc = start_serve(site, port)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0
    assert time.monotonic() - started < 5
