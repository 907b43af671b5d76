"""`ticketgate inject`, the pipe way in: what it loads, what it remembers of checked settings,
the sender it records without --from, and the running daemon woken at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import db_rows, make_mail, run_cli, write_site
from integration_helpers import Served, query, wait_until
from ticketgate import exits, injectcache
from ticketgate.store.spoolwrite import json_list

RACY_WAIT = injectcache.RACY + 0.2  # until a fresh site's files are old enough to remember

# What spooling does not need. Each of these costs `inject` (a new process per mail) more
# than its own work; re and json count too: together they are a fifth of an `inject`.
FORBIDDEN = ("ticketgate.etiquette", "ticketgate.rules", "ticketgate.routing",
             "ticketgate.config", "ticketgate.mail", "ticketgate.pipeline", "ticketgate.outbox",
             "ticketgate.daemon", "flanker", "jinja2", "yaml", "jsonschema", "sqlite_utils",
             "structlog", "asyncio", "email", "dataclasses", "typing", "argparse", "re",
             "json", "pathlib")

LOADED = """
import os, sys
from ticketgate.cli import main
code = main(sys.argv[1:])
with open(os.environ["MODULES_OUT"], "w") as out:
    out.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


def inject_loading(site: Path, tmp_path: Path, *args: str,
                   stdin: bytes) -> tuple[subprocess.CompletedProcess[bytes], set[str]]:
    """Run `ticketgate inject` as the console script does; also what it had imported."""
    out = tmp_path / "modules.txt"
    done = subprocess.run([sys.executable, "-c", LOADED, "inject", "--config", str(site), *args],
                          input=stdin, capture_output=True, timeout=60,
                          env={**os.environ, "MODULES_OUT": str(out)})
    return done, set(out.read_text().split())


def forbidden(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))


def test_inject_loads_only_what_spooling_needs(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    time.sleep(RACY_WAIT)
    args = ("--rcpt", "helpdesk@example.org", "--from", "kim@example.org")
    first, loaded = inject_loading(site, tmp_path, *args, stdin=make_mail("Skrivaren"))
    assert first.returncode == exits.OK, first.stderr
    assert "ticketgate.rules" in loaded  # the first one checks settings and rules in full
    again, loaded = inject_loading(site, tmp_path, *args, stdin=make_mail("Skärmen"))
    assert again.returncode == exits.OK, again.stderr
    assert forbidden(loaded) == []
    assert "ticketgate.store.spoolwrite" in loaded
    assert db_rows(site, "SELECT id, mail_from, protocol FROM spool") == [
        (1, "kim@example.org", "inject"), (2, "kim@example.org", "inject")]


def test_a_changed_file_is_checked_again_before_anything_is_spooled(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    time.sleep(RACY_WAIT)
    args = ("--rcpt", "helpdesk@example.org", "--from", "kim@example.org")
    assert run_cli(site, "inject", *args, stdin=make_mail()).returncode == exits.OK
    assert injectcache.recall(str(site)) is not None  # remembered
    queues = tmp_path / "rules/queues.yaml"
    text = queues.read_text()

    queues.write_text(text + "  broken: [\n")  # a typo saved into the rules
    broken = run_cli(site, "inject", *args, stdin=make_mail())
    assert broken.returncode == exits.TEMPFAIL  # the MTA keeps the mail
    assert b"queues.yaml:" in broken.stderr
    routes = tmp_path / "rules/routes.yaml"
    queues.write_text(text)
    routes.write_text(routes.read_text() + "\n  - {name: odd, queue: nosuchqueue}\n")
    assert run_cli(site, "inject", *args, stdin=make_mail()).returncode == exits.TEMPFAIL
    routes.unlink()  # routes are optional: valid again, through a change of the directory
    assert run_cli(site, "inject", *args, stdin=make_mail()).returncode == exits.OK

    # A function address added is one at once; the settings file moving the database too.
    queues.write_text(text.replace("helpdesk@example.org", "servicedesk@example.org"))
    renamed = ("--rcpt", "servicedesk@example.org", "--from", "kim@example.org")
    assert run_cli(site, "inject", *renamed, stdin=make_mail()).returncode == exits.OK
    assert run_cli(site, "inject", *args, stdin=make_mail()).returncode == exits.NOUSER
    site.write_text(site.read_text().replace("var/ticketgate.db", "var/other.db"))
    assert run_cli(site, "inject", *renamed, stdin=make_mail()).returncode == exits.OK
    assert query(tmp_path / "var/other.db", "SELECT count(*) FROM spool") == [(1,)]
    assert db_rows(site, "SELECT count(*) FROM spool") == [(3,)]


def test_no_memo_is_written_while_a_file_is_too_young_to_trust(tmp_path: Path) -> None:
    site = write_site(tmp_path)  # just written: a second edit in the same clock tick would
    args = ("--rcpt", "helpdesk@example.org", "--from", "kim@example.org")  # go unseen
    assert run_cli(site, "inject", *args, stdin=make_mail()).returncode == exits.OK
    assert injectcache.recall(str(site)) is None


def test_inject_without_a_writable_cache_checks_in_full_every_time(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    time.sleep(RACY_WAIT)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    env = {**os.environ, "XDG_CACHE_HOME": str(blocked)}
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "ticketgate.cli", "inject", "--config",
                               str(site), "--rcpt", "helpdesk@example.org", "--from", ""],
                              input=make_mail(), capture_output=True, timeout=60, env=env)
        assert done.returncode == exits.OK, done.stderr
    assert db_rows(site, "SELECT mail_from FROM spool") == [("",), ("",)]


@pytest.mark.parametrize(("headers", "sender", "origin"), [
    ({"Return-Path": "<bounces+x@lists.example.net>"}, "bounces+x@lists.example.net",
     "the Return-Path header"),
    ({"Return-Path": "<>"}, "", "the Return-Path header"),
    ({}, "kim@example.org", "the From header"),
])
def test_without_from_the_sender_comes_from_the_message(
    site: Path, headers: dict[str, str], sender: str, origin: str
) -> None:
    done = run_cli(site, "inject", "--rcpt", "helpdesk@example.org",
                   stdin=make_mail(headers=headers))
    assert done.returncode == exits.OK, done.stderr
    assert done.stdout.decode().strip() == f"queued as S1 (sender {sender or '<>'} from {origin})"
    assert db_rows(site, "SELECT mail_from FROM spool") == [(sender,)]


def test_a_message_without_sender_headers_gets_a_null_sender(site: Path) -> None:
    done = run_cli(site, "inject", "--rcpt", "helpdesk@example.org",
                   stdin=b"Subject: nothing else\r\n\r\nhej\r\n")
    assert done.returncode == exits.OK, done.stderr
    assert b"no Return-Path or From header: a null sender" in done.stdout
    assert db_rows(site, "SELECT mail_from FROM spool") == [("",)]


@pytest.mark.parametrize(("given", "recorded"), [
    (["--from", ""], ""), (["--from="], ""), (["--from=-odd@example.org"], "-odd@example.org"),
    (["--from", "kim@example.org", "--from", "sam@example.org"], "sam@example.org"),
])
def test_from_given_is_the_envelope_sender_whatever_the_message_says(
    site: Path, given: list[str], recorded: str
) -> None:
    raw = make_mail(headers={"Return-Path": "<someone@example.net>"})
    done = run_cli(site, "inject", "--rcpt", "helpdesk@example.org", *given, stdin=raw)
    assert done.returncode == exits.OK, done.stderr
    assert done.stdout.strip() == b"queued as S1"
    assert db_rows(site, "SELECT mail_from FROM spool") == [(recorded,)]


def test_the_quick_reading_of_the_command_line_leaves_odd_ones_to_argparse(site: Path) -> None:
    cmd = [sys.executable, "-m", "ticketgate.cli"]
    helped = subprocess.run([*cmd, "inject", "--help"], capture_output=True, timeout=60)
    assert helped.returncode == exits.OK
    assert b"Without --from" in helped.stdout and b"Return-Path" in helped.stdout
    full = subprocess.run([*cmd, "--help"], capture_output=True, timeout=60)
    assert b"inject" in full.stdout
    for odd in (["--from", "--rcpt", "helpdesk@example.org"],  # --from missing its value
                ["--rcpt"], ["--rcpt", "helpdesk@example.org", "--frm", "x@example.org"],
                ["--rcpt", "helpdesk@example.org", "extra"]):
        done = run_cli(site, "inject", *odd, stdin=make_mail())
        assert done.returncode == exits.USAGE, (odd, done.stderr)
        assert b"usage: ticketgate inject" in done.stderr
    # --config before the command, and two recipients, as MTAs without a limit pass them
    both = subprocess.run([*cmd, "--config", str(site), "inject", "--rcpt=helpdesk@example.org",
                           "--rcpt", "support@example.org", "--from", "kim@example.org"],
                          input=make_mail(), capture_output=True, timeout=60)
    assert both.returncode == exits.OK, both.stderr
    assert db_rows(site, "SELECT rcpt_to FROM spool") == [
        ('["helpdesk@example.org", "support@example.org"]',)]


def test_recipients_are_stored_as_json_dumps_writes_them() -> None:
    for rcpt in ([], ["a@example.org"], ['"odd \\"quoted\\""@example.org', "Åsa@exempel.se",
                                         "tab\tand\nnewline@example.org", "\x00@example.org"]):
        assert json_list(rcpt) == json.dumps(rcpt)


@pytest.mark.integration
def test_a_piped_mail_is_a_ticket_at_once_when_the_daemon_runs(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    with Served(site) as served:
        served.ports("smtp")
        served.wait_for("pipeline_child_ready")
        database = tmp_path / "var/ticketgate.db"
        waits = []
        for n in range(3):
            # Right after the previous ticket the pipeline is idle: without a wake-up its
            # next look at the spool is about a second away.
            done = run_cli(site, "inject", "--rcpt", "helpdesk@example.org", "--from",
                           "kim@example.org", stdin=make_mail(f"Skrivare {n} på plan 4"))
            assert done.returncode == exits.OK, done.stderr
            spooled = time.monotonic()
            wait_until(lambda n=n: query(database, "SELECT id FROM tickets WHERE subject = ?",
                                         (f"Skrivare {n} på plan 4",)),
                       timeout=30, interval=0.005, what=f"ticket {n}", detail=served.log)
            waits.append(time.monotonic() - spooled)
        assert max(waits) < 0.5, waits  # the idle check alone: about 1 s each
        assert not any(e.get("event") == "doorbell_not_opened" for e in served.events)
