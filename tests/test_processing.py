"""Exactly-once processing: crash after 250, held messages and `spool retry`, `inject`, `show`."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (
    Running,
    db_rows,
    free_port,
    make_mail,
    run_cli,
    send,
    start_serve,
    ticketgate_cmd,
)
from ticketgate import exits
from ticketgate.pipeline import code as code_stage


def test_sigkill_after_250_before_processing_is_processed_exactly_once(site: Path) -> None:
    port = free_port()
    proc = start_serve(site, port, "--spool-only")
    send(port, make_mail("Min dator surrar"))
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert db_rows(site, "SELECT state FROM spool") == [("new",)]
    assert db_rows(site, "SELECT count(*) FROM tickets") == [(0,)]
    proc = start_serve(site, port)
    try:
        deadline = time.monotonic() + 20
        while db_rows(site, "SELECT state FROM spool") != [("done",)]:
            assert time.monotonic() < deadline, "the spooled row was not processed"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    proc = start_serve(site, port)  # a second restart must not process it again
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert db_rows(site, "SELECT count(*) FROM tickets") == [(1,)]
    assert db_rows(site, "SELECT count(*) FROM messages WHERE direction = 'in'") == [(1,)]
    assert db_rows(site, "SELECT count(*) FROM events WHERE kind = 'created'") == [(1,)]


def test_sigterm_exits_zero(site: Path) -> None:
    port = free_port()
    proc = start_serve(site, port)
    send(port, make_mail("Behöver programvara ABC till undervisning i hus X"))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert db_rows(site, "SELECT state FROM spool") == [("done",)]


def test_processing_error_holds_the_message_and_the_daemon_goes_on(
    running: Running, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    original = code_stage.process

    def broken(message, context):  # type: ignore[no-untyped-def]
        if "explodera" in message.parsed.subject:
            raise RuntimeError("stage bug triggered by this message")
        return original(message, context)

    monkeypatch.setattr(code_stage, "process", broken)
    raw = make_mail("Får detta programmet att explodera")
    send(running.port(), raw)
    send(running.port(), make_mail("Min dator surrar"))
    running.drain()
    rows = running.store.view.conn.execute(
        "SELECT id, state, error, raw FROM spool ORDER BY id").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(1, "held"), (2, "done")]
    assert "stage bug triggered" in rows[0][2]
    assert rows[0][3] == raw  # raw bytes kept, unchanged
    listing = run_cli(site, "spool", "list", "--state", "held", "--json")
    assert listing.returncode == 0
    assert b'"id": 1' in listing.stdout
    monkeypatch.setattr(code_stage, "process", original)  # the fix
    retried = run_cli(site, "spool", "retry", "S1")
    assert retried.returncode == 0, retried.stderr
    states = running.store.view.conn.execute("SELECT state FROM spool ORDER BY id").fetchall()
    assert states == [("done",), ("done",)]
    subjects = running.store.view.conn.execute("SELECT subject FROM tickets ORDER BY id").fetchall()
    assert sorted(s[0] for s in subjects) == ["Får detta programmet att explodera",
                                               "Min dator surrar"]
    again = run_cli(site, "spool", "retry", "1")
    assert again.returncode == exits.DATAERR  # not held any more


def test_inject_exit_codes(site: Path) -> None:
    ok = run_cli(site, "inject", "--rcpt", "helpdesk@example.org", "--from", "kim@example.org",
                 stdin=make_mail("Skrivaren drar in flera papper"))
    assert ok.returncode == exits.OK, ok.stderr
    assert ok.stdout.startswith(b"queued as S1")
    assert db_rows(site, "SELECT rcpt_to, mail_from, protocol FROM spool") == [
        ('["helpdesk@example.org"]', "kim@example.org", "inject")]
    nouser = run_cli(site, "inject", "--rcpt", "nobody@example.org", stdin=make_mail())
    assert nouser.returncode == exits.NOUSER
    usage = run_cli(site, "inject", stdin=make_mail())
    assert usage.returncode == exits.USAGE
    bad = site.parent / "bad.yaml"
    bad.write_text("smtp: {port: 'many'}\n")
    config = run_cli(bad, "inject", "--rcpt", "helpdesk@example.org", stdin=make_mail())
    # The mail is not at fault: the MTA keeps it queued (a pipe bounces on 78) and says why.
    assert config.returncode == exits.TEMPFAIL
    assert b"bad.yaml:1:" in config.stderr
    assert run_cli(bad, "tickets", "list").returncode == exits.CONFIG  # other commands: 78
    # The database path is a directory: storage fails, the MTA must retry later.
    broken = site.parent / "broken.yaml"
    (site.parent / "dbdir").mkdir()
    broken.write_text(site.read_text().replace("var/ticketgate.db", "dbdir"))
    temp = run_cli(broken, "inject", "--rcpt", "helpdesk@example.org", stdin=make_mail())
    assert temp.returncode == exits.TEMPFAIL, temp.stderr


@pytest.mark.parametrize("charset", ["iso-8859-1", "utf-8"])
def test_tickets_show_prints_non_ascii_text_readably(
    running: Running, site: Path, charset: str
) -> None:
    body = "Hej!\nJag når inte lokal Ä-123 på Östra gången.\nHälsningar Åsa"
    send(running.port(), make_mail("Dörren i hus Ö låser sig", body, charset=charset))
    running.drain()
    shown = run_cli(site, "tickets", "show", "DDG #1")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout.decode("utf-8")
    assert "[DDG #1] Dörren i hus Ö låser sig" in text
    assert "Jag når inte lokal Ä-123 på Östra gången." in text
    assert "Hälsningar Åsa" in text
    for form in ("[DDG #1]", "1", "ddg#1"):
        assert run_cli(site, "tickets", "show", form).returncode == 0
    listed = run_cli(site, "tickets", "list", "--json")
    assert '"code": "[DDG #1]"' in listed.stdout.decode()
    assert run_cli(site, "tickets", "show", "DDG #99").returncode == exits.DATAERR


def test_help_exits_zero() -> None:
    out = subprocess.run([*ticketgate_cmd(), "--help"], capture_output=True, timeout=30)
    assert out.returncode == 0
    assert b"inject" in out.stdout and b"serve" in out.stdout
    assert subprocess.run([*ticketgate_cmd(), "nonsense"], capture_output=True,
                          timeout=30).returncode == exits.USAGE


