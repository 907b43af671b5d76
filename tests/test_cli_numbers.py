"""Numbers on the command line: out of range or not numbers at all are usage errors (exit 64)
with a message that says which argument and why, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_mail, run_cli, write_site

HUGE = "99999999999999999999999"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site with a database holding one processed message (so the commands reach it)."""
    site = write_site(tmp_path_factory.mktemp("cli"))
    injected = run_cli(site, "inject", "--rcpt", "helpdesk@example.org", "--from",
                       "kim@example.org", stdin=make_mail())
    assert injected.returncode == 0, injected.stderr
    return site


@pytest.mark.parametrize(("args", "words"), [
    (("spool", "retry", HUGE), "a spool row out of range"),
    (("spool", "retry", "S" + HUGE), "a spool row out of range"),
    (("spool", "retry", "9223372036854775808"), "a spool row out of range"),  # 2**63
    (("spool", "retry", "0"), "a spool row out of range"),
    (("spool", "retry", "-1"), "not a spool row"),
    (("spool", "retry", "S\u00b2"), "not a spool row"),  # "²".isdigit(), but int() refuses it
    (("outbox", "retry", HUGE), "an outbox row out of range"),
    (("outbox", "retry", "1e3"), "not an outbox row"),
    (("spool", "list", "--limit", HUGE), "a row count out of range"),
    (("outbox", "list", "--limit", "0"), "a row count out of range"),
    (("tickets", "list", "--limit", "-5"), "not a row count"),
    (("tickets", "show", HUGE), "not a ticket code"),
])
def test_numbers_out_of_range_are_usage_errors(site: Path, args: tuple[str, ...],
                                               words: str) -> None:
    done = run_cli(site, *args)
    stderr = done.stderr.decode()
    assert done.returncode == 64, stderr
    assert words in stderr
    assert "Traceback" not in stderr and done.stdout == b""


def test_the_largest_id_is_taken_and_simply_not_found(site: Path) -> None:
    """2**63-1 fits the database: the answer is about the row, not the number."""
    done = run_cli(site, "outbox", "retry", str(2**63 - 1))
    assert done.returncode == 65, done.stderr
    assert b"no outbox row O9223372036854775807" in done.stderr
    done = run_cli(site, "spool", "retry", f"S{2**63 - 1}")
    assert done.returncode == 65, done.stderr
    assert b"is not held" in done.stderr


def test_plain_numbers_still_work(site: Path) -> None:
    listed = run_cli(site, "spool", "list", "--limit", "1", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 1
