"""SQL lives behind one door: no string literal outside `store/` holds an SQL statement.

Every string constant of the package's code (f-strings by their constant parts) is read with
`ast`; one that starts with an SQL statement keyword, or holds `SELECT ... FROM`,
`INSERT INTO`, `UPDATE ... SET` or `DELETE FROM`, is SQL. Files still expected to hold SQL
are listed in ALLOWED: moving their statements into the store empties the list (the test
also fails when a listed file has none left, so the list never outlives its reason).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "daemon" / "ticketgate"

# Files with SQL outside store/, to be moved behind the store's interface (issue 14's
# "SQL behind one door"); each one that moves comes off this list.
ALLOWED = frozenset({
    "directory/rows.py",
    "outbox/compose.py",
    "outbox/ratelimit.py",
    "outbox/rows.py",
    "stats.py",
    "views.py",
    "worker.py",
})

_KEYWORD = (r"SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|SAVEPOINT|RELEASE"
            r"|ROLLBACK|BEGIN|COMMIT|WITH|REPLACE|VACUUM|ANALYZE|ATTACH")
_SQL = re.compile(
    rf"^\s*(?:{_KEYWORD})\b"  # a statement keyword first, in SQL's capitals
    r"|\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b"
    r"|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
)


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values
                           if isinstance(v, ast.Constant) and isinstance(v.value, str))
            found.append((node.lineno, text))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    """Line numbers of docstrings (prose may say "SELECT" without being SQL)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                lines.add(body[0].value.lineno)
    return lines


def sql_outside_the_store() -> dict[str, list[str]]:
    """{file relative to the package: ["line: statement", ...]} for every file outside store/."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("store/"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        skip = _docstrings(tree)
        hits = [f"{line}: {text.strip()[:60]}" for line, text in _strings(tree)
                if line not in skip and _SQL.search(text)]
        if hits:
            found[relative] = hits
    return found


def test_no_sql_outside_the_store_but_the_listed_files() -> None:
    found = sql_outside_the_store()
    unlisted = {f: hits for f, hits in found.items() if f not in ALLOWED}
    assert not unlisted, f"SQL outside store/ (put it behind the store's interface): {unlisted}"
    clean = sorted(ALLOWED - set(found))
    assert not clean, f"no SQL left in {clean}: take them off ALLOWED"


def test_the_check_sees_sql_in_its_forms() -> None:
    source = (
        'Q = "SELECT id FROM tickets WHERE x = ?"\n'
        'conn.execute(f"UPDATE outbox SET state = ? WHERE id = {n}")\n'
        'conn.execute("SAVEPOINT s")\n'
        'X = ("INSERT INTO events (kind)"\n     " VALUES (?)")\n'
        'prose = "a select few, from the update desk"\n'
        'def f():\n    """SELECT nothing: a docstring."""\n'
    )
    tree = ast.parse(source)
    skip = _docstrings(tree)
    hits = {line for line, text in _strings(tree) if line not in skip and _SQL.search(text)}
    assert hits == {1, 2, 3, 4}
