"""The store is the one door to the database: no module of ticketgate outside `store/` holds
SQL, imports a database driver or executes statements.

SQL here is written with upper-case keywords (the project's style), so the check reads the
string constants of each module (with the ast module: comments and names do not count) for
the shapes of statements in upper case; lower-case SQL would still need a driver's
`execute`, which the third check finds.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "daemon" / "ticketgate"
STORE = PACKAGE / "store"

SQL = re.compile(
    r"""\bSELECT\s+[\w*(]
      | \bINSERT\s+(?:OR\s+\w+\s+)?INTO\b
      | \bUPDATE\s+\w+\s+SET\b
      | \bDELETE\s+FROM\b
      | \b(?:CREATE|DROP|ALTER)\s+(?:UNIQUE\s+|VIRTUAL\s+)?(?:TABLE|INDEX|VIEW|TRIGGER)\b
      | \bPRAGMA\s+\w+
      | \b(?:SAVEPOINT|RELEASE|ROLLBACK\s+TO)\s+\w+
      | \bBEGIN\s+(?:IMMEDIATE|EXCLUSIVE|DEFERRED|TRANSACTION)\b
      | ^\s*(?:BEGIN|COMMIT|ROLLBACK|END)\s*;?\s*$""",
    re.VERBOSE,
)
DRIVERS = {"sqlite3", "sqlite_utils", "psycopg", "psycopg2", "apsw"}
EXECUTE = {"execute", "executemany", "executescript"}


def _text(node: ast.JoinedStr) -> str:
    """An f-string as text, each {value} as a placeholder word."""
    return "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "x"
                   for v in node.values)


def sql_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string constant or f-string that holds SQL."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            text = _text(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if SQL.search(text):
            found.append((node.lineno, text))
    return found


def driver_imports(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [(node.lineno, n) for n in names if n.split(".")[0] in DRIVERS]
    return found


def executes(source: str) -> list[tuple[int, str]]:
    return [(node.lineno, node.func.attr) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in EXECUTE]


def modules_outside_the_store() -> list[Path]:
    found = [p for p in sorted(PACKAGE.rglob("*.py")) if STORE not in p.parents]
    assert len(found) > 50 and PACKAGE / "cli.py" in found
    return found


@pytest.mark.parametrize("check", [sql_strings, driver_imports, executes],
                         ids=lambda f: f.__name__)
def test_no_module_outside_the_store_reaches_the_database(
        check: Callable[[str], list[tuple[int, str]]]) -> None:
    offences = [f"{path.relative_to(PACKAGE.parent)}:{line}: {what[:80]!r}"
                for path in modules_outside_the_store()
                for line, what in check(path.read_text(encoding="utf-8"))]
    assert offences == [], "\n".join(["outside store/ (add a function to the store):",
                                      *offences])


def test_the_store_itself_is_found_to_hold_sql() -> None:
    """The checks see what they are looking for: run on the store, they find it."""
    source = (STORE / "spool.py").read_text(encoding="utf-8")
    assert sql_strings(source) and driver_imports((STORE / "schema.py").read_text()) and (
        executes(source))


@pytest.mark.parametrize("snippet", [
    'q = "SELECT id FROM spool WHERE state = ?"',
    'q = f"SELECT {COLUMNS} FROM outbox WHERE id = ?"',
    'q = ("UPDATE outbox SET state = \'sent\'"\n     " WHERE id = ?")',
    'q = "INSERT OR IGNORE INTO participants VALUES (?, ?, ?)"',
    'q = "DELETE FROM events"',
    'c.execute("SAVEPOINT outbox_compose")',
    'c.execute(f"ROLLBACK TO {name}")',
    'q = "PRAGMA user_version"',
    'q = "BEGIN IMMEDIATE"',
    'q = "COMMIT"',
    'q = "CREATE UNIQUE INDEX x ON t(a)"',
    'def f():\n    """Reads SELECT count(*) FROM spool."""',
])
def test_sql_in_any_string_is_found(snippet: str) -> None:
    assert sql_strings(snippet), snippet


@pytest.mark.parametrize("snippet", [
    '"""Select the queue; update the ticket; begin again; commit to it."""',
    'x = "SELECT"  # a word alone',
    'log.info("message_held", state="new")',
    'help = "which rows to SELECT: new, done or held"',
    'text = "-----BEGIN PGP SIGNATURE-----"',
])
def test_prose_is_not_sql(snippet: str) -> None:
    assert sql_strings(snippet) == [], snippet


def test_a_driver_import_and_an_execute_call_are_found() -> None:
    source = ("import sqlite3\nfrom sqlite_utils import Database\nimport psycopg.rows\n"
              "conn.execute(sql)\nconn.executemany(sql, rows)\n")
    assert [n for _, n in driver_imports(source)] == ["sqlite3", "sqlite_utils", "psycopg.rows"]
    assert [n for _, n in executes(source)] == ["execute", "executemany"]
