"""`pipeline.process: separate`: serve keeps SMTP and the spool, a child runs the pipeline.

Each test runs a real `ticketgate serve` subprocess; the child is found through /proc.
"""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import (
    FakeMTA,
    db_rows,
    free_port,
    make_mail,
    send,
    smarthost_site,
    start_serve,
    write_site,
)
from integration_helpers import held_write_lock

SEPARATE = "pipeline: {process: separate}\n"


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def the_child(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        kids = children(proc.pid)
        if len(kids) == 1:
            return kids[0]
        assert time.monotonic() < deadline, f"children of serve: {kids}"
        time.sleep(0.05)


def wait_done(site: Path, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while db_rows(site, "SELECT count(*) FROM spool WHERE state != 'new'") != [(count,)]:
        assert time.monotonic() < deadline, db_rows(site, "SELECT id, state FROM spool")
        time.sleep(0.05)


def maildir_files(site: Path) -> list[Path]:
    base = site.parent / "var/maildir"
    return [p for sub in ("new", "cur") for p in (base / sub).glob("*")]


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[Path, int, subprocess.Popen[bytes]]]:
    site = write_site(tmp_path, extra=SEPARATE)
    port = free_port()
    proc = start_serve(site, port)
    try:
        yield site, port, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(40) == 0
    assert proc.stderr is not None
    return proc.stderr.read().decode()


def test_mail_becomes_tickets_with_acknowledgements(serving) -> None:  # type: ignore[no-untyped-def]
    site, port, proc = serving
    child = the_child(proc)
    sent = [make_mail(f"Skrivaren {n} krånglar", f"Skrivaren i rum {n} skriver inte.")
            for n in range(3)]
    for raw in sent:
        send(port, raw)
    wait_done(site, 3)
    assert db_rows(site, "SELECT count(*) FROM tickets") == [(3,)]
    deadline = time.monotonic() + 15
    while len(maildir_files(site)) < 6:  # an acknowledgement and a notification each
        assert time.monotonic() < deadline, maildir_files(site)
        time.sleep(0.05)
    acks = [p.read_bytes() for p in maildir_files(site)]
    assert sum(b"To: kim@example.org" in a for a in acks) == 3
    log = stop(proc)
    assert "pipeline_child_ready" in log and "message_processed" in log
    assert not Path(f"/proc/{child}").exists()  # the child is gone with its parent


def test_sighup_reaches_the_child(serving) -> None:  # type: ignore[no-untyped-def]
    site, port, proc = serving
    the_child(proc)
    send(port, make_mail("Skärmen är trasig", "Bildskärmen i rum 2110 är trasig."))
    wait_done(site, 1)
    (site.parent / "rules/routes.yaml").write_text(
        "routes:\n  - name: screens\n    when: {subject: {contains: [skärm]}}\n"
        "    then: {queue: sot, tags: [screens]}\n"
    )
    proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    send(port, make_mail("Skärmen flimrar", "Bildskärmen i rum 3110 flimrar."))
    wait_done(site, 2)
    assert db_rows(site, "SELECT queue FROM tickets ORDER BY id") == [("helpdesk",), ("sot",)]
    log = stop(proc)
    assert log.count("rules_reloaded") == 2  # the parent's RCPT rules and the child's


def test_killed_child_is_restarted_and_nothing_is_doubled(serving) -> None:  # type: ignore[no-untyped-def]
    site, port, proc = serving
    first = the_child(proc)
    send(port, make_mail("Skrivaren 1 krånglar", "Skrivaren i rum 1 skriver inte."))
    wait_done(site, 1)
    os.kill(first, signal.SIGKILL)
    # Accepted while there is no pipeline: the rows wait as `new`.
    for n in (2, 3):
        send(port, make_mail(f"Skrivaren {n} krånglar", f"Skrivaren i rum {n} skriver inte."))
    deadline = time.monotonic() + 20
    while (kids := children(proc.pid)) in ([], [first]):
        assert time.monotonic() < deadline, "the child was not restarted"
        time.sleep(0.05)
    wait_done(site, 3)
    send(port, make_mail("Skrivaren 4 krånglar", "Skrivaren i rum 4 skriver inte."))
    wait_done(site, 4)
    assert db_rows(site, "SELECT count(*) FROM tickets") == [(4,)]
    assert db_rows(site, "SELECT count(*) FROM spool WHERE state = 'done'") == [(4,)]
    time.sleep(0.5)
    ids = [line for p in maildir_files(site) for line in p.read_bytes().splitlines()
           if line.lower().startswith(b"message-id:")]
    assert len(ids) == 8 and len(set(ids)) == 8  # 4 acknowledgements, 4 notifications, once
    log = stop(proc)
    assert "pipeline_child_died" in log
    assert not any(Path(f"/proc/{k}").exists() for k in kids)


def test_storage_failure_in_the_parent_answers_451(serving) -> None:  # type: ignore[no-untyped-def]
    site, port, proc = serving
    the_child(proc)
    send(port, make_mail())
    wait_done(site, 1)
    with held_write_lock(site.parent / "var/ticketgate.db"):
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(port, make_mail("Andra", "Andra försöket."))
        assert refused.value.smtp_code == 451
    send(port, make_mail("Tredje", "Tredje försöket."))
    wait_done(site, 2)
    stop(proc)


def test_a_restarted_child_runs_the_last_good_rules_not_the_broken_files(serving) -> None:  # type: ignore[no-untyped-def]
    site, port, proc = serving
    first = the_child(proc)
    routes = site.parent / "rules/routes.yaml"
    routes.write_text(
        "routes:\n  - name: screens\n    when: {subject: {contains: [skärm]}}\n"
        "    then: {queue: sot}\n"
    )
    proc.send_signal(signal.SIGHUP)  # accepted: the child gets these rules
    time.sleep(1.0)
    routes.write_text("routes:\n  - name: broken\n    then: {queue: nowhere}\n")
    proc.send_signal(signal.SIGHUP)  # refused by the parent: the files stay broken
    time.sleep(0.5)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while children(proc.pid) in ([], [first]):
        assert time.monotonic() < deadline, "the child was not restarted"
        time.sleep(0.05)
    send(port, make_mail("Skärmen flimrar", "Bildskärmen i rum 3110 flimrar."))
    wait_done(site, 1)
    # Routed by the last rules the parent accepted, which the new child never read from disk.
    assert db_rows(site, "SELECT queue FROM tickets") == [("sot",)]
    log = stop(proc)
    assert "reload_refused" in log
    assert log.count("pipeline_child_started") == 2


def test_a_restarted_child_runs_the_parents_settings_not_a_broken_file(serving) -> None:  # type: ignore[no-untyped-def]
    site, port, proc = serving
    first = the_child(proc)
    site.write_text("this: [is not: valid yaml\n")  # an admin's half-saved edit
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while children(proc.pid) in ([], [first]):
        assert time.monotonic() < deadline, "the child was not restarted"
        time.sleep(0.05)
    send(port, make_mail("Skrivaren krånglar", "Skrivaren i rum 3110 skriver inte ut."))
    wait_done(site, 1)  # the new child started and works, on the settings serve started with
    assert db_rows(site, "SELECT count(*) FROM tickets") == [(1,)]
    log = stop(proc)
    assert log.count("pipeline_child_started") == 2
    assert "pipeline_child_died" in log and "pipeline_child_ready" in log


def test_orderly_stop_lets_the_child_finish_what_was_spooled(tmp_path: Path) -> None:
    site = write_site(tmp_path, extra=SEPARATE)
    port = free_port()
    proc = start_serve(site, port)
    # Sent and stopped at once, before the child has started: closing the wake pipe (not
    # a signal) stops it, so it still starts, works through the spool and exits.
    for n in range(3):
        send(port, make_mail(f"Skrivaren {n} krånglar", f"Skrivaren i rum {n} skriver inte."))
    log = stop(proc)
    assert db_rows(site, "SELECT state, count(*) FROM spool GROUP BY state") == [("done", 3)]
    assert "pipeline_child_stopped" in log


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_crashed_parent_takes_the_child_with_it(tmp_path: Path) -> None:
    mta = FakeMTA()
    mta.data_delay = 8.0  # the acknowledgement is still being handed over when serve dies
    mta.start()
    site = smarthost_site(tmp_path, mta, SEPARATE)
    port = free_port()
    proc = start_serve(site, port)
    try:
        child = the_child(proc)
        send(port, make_mail("Skrivaren krånglar", "Skrivaren i rum 1 skriver inte."))
        deadline = time.monotonic() + 20
        while mta.active == 0:
            assert time.monotonic() < deadline, "no delivery began"
            time.sleep(0.02)
        # As when systemd kills a failed unit: no orphan may go on delivering beside the
        # next start's child (both would send the same pending acknowledgements). An
        # orderly stop would let that delivery run for up to 5 s.
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 2.0
        while _alive(child):
            assert time.monotonic() < deadline, "the child outlived its parent"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
        mta.stop()
