"""One style for the `ticketgate` command: references, header rows, one error prefix, help on
every option, unknown filter values refused (cliformat.py)."""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Running, db_rows, make_mail, run_cli, send, ticketgate_cmd
from integration_helpers import wait_until
from ticketgate import exits
from ticketgate.cli import build_parser
from ticketgate.cliargs import row_id
from ticketgate.cliformat import PREFIX, table

ERROR = PREFIX.encode()


def lines(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().splitlines()


@pytest.fixture
def busy_site(running: Running, site: Path) -> Path:
    """Two tickets, their spool rows and outbox rows (acknowledgements, notifications)."""
    send(running.port(), make_mail("Min dator surrar"))
    send(running.port(), make_mail("Skrivaren på plan 3 skriver inte ut",
                                   sender="Ola <ola@example.org>"))
    running.drain()
    wait_until(lambda: db_rows(site, "SELECT count(*), count(*) FILTER (WHERE state = 'sent')"
                                     " FROM outbox") == [(4, 4)],
               timeout=30, what="two acknowledgements and two notifications sent")
    return site


def test_listings_have_a_header_row_and_write_ids_one_way(busy_site: Path) -> None:
    tickets = lines(run_cli(busy_site, "tickets", "list"))
    assert tickets[0].split() == ["TICKET", "QUEUE", "STATUS", "CREATED", "REQUESTER", "FLAGS",
                                  "SUBJECT"]
    assert tickets[1].startswith("[DDG #2] ") and tickets[2].startswith("[DDG #1] ")
    assert "ola@example.org" in tickets[1] and "Skrivaren på plan 3" in tickets[1]
    spool = lines(run_cli(busy_site, "spool", "list"))
    assert spool[0].split() == ["ID", "STATE", "RECEIVED", "SIZE", "FROM", "TO", "REASON"]
    assert [row.split()[0] for row in spool[1:]] == ["S2", "S1"]
    outbox = lines(run_cli(busy_site, "outbox", "list"))
    assert outbox[0].split() == ["ID", "STATE", "KIND", "TICKET", "TO", "ATTEMPTS", "SENT/DUE",
                                 "SUBJECT"]
    rows = [row for row in outbox[1:] if not row.startswith(" ")]
    assert rows and all(row.startswith("O") for row in rows)
    assert any("[DDG #1]" in row for row in rows)
    # Columns line up: every row's second column starts where the header's does.
    for listing in (tickets, spool):
        at = listing[0].index(listing[0].split()[1])
        assert all(row[at - 2:at] == "  " and row[at] != " " for row in listing[1:]), listing
    first = json.loads(lines(run_cli(busy_site, "outbox", "list", "--json"))[0])
    retried = run_cli(busy_site, "outbox", "retry", f"O{first['id']}")
    assert retried.returncode == exits.DATAERR  # already sent: said with the same reference
    assert f"{PREFIX}outbox row O{first['id']} was already sent".encode() in retried.stderr


def test_an_empty_listing_still_has_its_header(site: Path) -> None:
    run_cli(site, "inject", "--rcpt", "helpdesk@example.org", stdin=make_mail())  # a database
    assert lines(run_cli(site, "tickets", "list"))[0].startswith("TICKET")
    assert lines(run_cli(site, "outbox", "list")) == [
        "ID  STATE  KIND  TICKET  TO  ATTEMPTS  SENT/DUE  SUBJECT"]


def test_unknown_status_or_queue_is_a_usage_error_not_an_empty_list(busy_site: Path) -> None:
    for args, word in ((("--status", "opne"), "unknown status 'opne'"),
                       (("--queue", "helpdsk"), "unknown queue 'helpdsk'")):
        result = run_cli(busy_site, "tickets", "list", *args)
        assert result.returncode == exits.USAGE, result
        assert result.stderr.startswith(ERROR + word.encode()), result.stderr
        assert result.stdout == b""
    listed = run_cli(busy_site, "tickets", "list", "--queue", "helpdesk")
    assert len(lines(listed)) == 3
    # A queue with no ticket yet is known from the rules: an empty list, rightly.
    assert lines(run_cli(busy_site, "tickets", "list", "--queue", "sot")) == [
        "TICKET  QUEUE  STATUS  CREATED  REQUESTER  FLAGS  SUBJECT"]
    assert len(lines(run_cli(busy_site, "tickets", "list", "--status", "resolved"))) == 1
    assert run_cli(busy_site, "spool", "list", "--state", "hold").returncode == exits.USAGE


@pytest.mark.parametrize("args", [
    ("tickets", "show", "DDG #99"),
    ("tickets", "show", "no-code"),
    ("spool", "retry", "S1"),
    ("spool", "retry", "T1"),
    ("spool", "retry", "99999999999999999999999"),
    ("outbox", "retry", "O999"),
    ("outbox", "retry", "x"),
    ("tickets", "list", "--limit", "0"),
    ("tickets", "list", "--limit", "many"),
    ("tickets", "lst"),
    ("inject", "--rcpt", "nobody@example.org"),
])
def test_every_error_has_the_one_prefix(busy_site: Path, args: tuple[str, ...]) -> None:
    result = run_cli(busy_site, *args, stdin=make_mail())
    assert result.returncode in (exits.USAGE, exits.DATAERR, exits.NOUSER), result
    assert result.stderr.startswith(ERROR), result.stderr
    assert b"Traceback" not in result.stderr and b"usage:" not in result.stderr


def test_errors_name_things_as_listings_do(busy_site: Path) -> None:
    assert run_cli(busy_site, "tickets", "show", "99").stderr == ERROR + b"no ticket [DDG #99]\n"
    assert run_cli(busy_site, "spool", "retry", "s2").stderr == (
        ERROR + b"spool row S2 is not held\n")
    assert run_cli(busy_site, "outbox", "retry", "o999").stderr == (
        ERROR + b"no outbox row O999\n")


def _options(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _options(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            found.append((path, action))
    return found


def test_every_option_and_argument_has_help() -> None:
    options = _options(build_parser(), "ticketgate")
    assert len(options) > 40
    missing = [f"{path} {'/'.join(a.option_strings) or a.dest}" for path, a in options
               if not a.help]
    assert not missing, missing
    limits = [a for _, a in options if "--limit" in a.option_strings]
    assert limits and all("(default: %(default)s)" in str(a.help) for a in limits)
    text = subprocess.run([*ticketgate_cmd(), "tickets", "list", "--help"], capture_output=True,
                          timeout=30).stdout.decode()
    assert "(default: 100)" in text and "--status STATUS" in text and "--json" in text


def _ref(parse: Callable[[str], int], text: str) -> int | None:
    try:
        return parse(text)
    except argparse.ArgumentTypeError:
        return None


def test_references_parse_back() -> None:
    spool, outbox = row_id("a spool row", prefix="S"), row_id("an outbox row", prefix="O")
    assert [_ref(spool, t) for t in ("S9", "s9", "9", " S 9 ", "O9", "S", "1" * 20)] == [
        9, 9, 9, 9, None, None, None]
    assert [_ref(outbox, t) for t in ("O12", "o12", "12", "S12")] == [12, 12, 12, None]


def test_table_pads_columns_to_the_widest_cell() -> None:
    import io

    out = io.StringIO()
    table(("ID", "NAME"), [("S1", "a"), ("S100", "b")], out, notes=[None, "why"])
    assert out.getvalue() == "ID    NAME\nS1    a\nS100  b\n    why\n"
