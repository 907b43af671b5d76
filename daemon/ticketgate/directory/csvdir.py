"""The `csv` backend: a file with one person per row, for small sites and for tests.

The first row that is not a comment names the columns, in any order; only `username` is
required:

    username,name,email,affiliation,department,phone
    kim,Kim Student,kim@example.org kim@student.example.org,student,Physics,

- `email`: the person's addresses, separated by spaces (the first is the primary one). A
  private address listed here is recognised too.
- `affiliation`: staff, student, guest, or empty.
- Lines starting with `#` are comments. UTF-8; a `;`-separated file (as spreadsheets in
  some locales write) works as well. Usernames and addresses match in any case.

The file is read at start (an invalid file stops the daemon with file:line:col) and again
whenever it changes; an invalid change is refused and the last good contents kept.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from ..yamlsource import ConfigError, Position, SourceError
from .model import AFFILIATIONS, FIELDS, DirectoryUnavailable, Person

log = structlog.get_logger("ticketgate.directory")

_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class Table:
    """The parsed file: people by username and by every address they have."""

    by_username: dict[str, Person] = field(default_factory=dict)
    by_address: dict[str, Person] = field(default_factory=dict)


def _column(row: list[str], index: int) -> int:
    """The character column where field `index` starts (exact for unquoted fields)."""
    return 1 + sum(len(f) + 1 for f in row[:index])


def parse(text: str, source: str) -> Table:
    """Parse the file's text; raise ConfigError with every problem at file:line:col."""
    lines = text.splitlines(keepends=True)
    # Comments become empty lines, so the reader's line numbers stay those of the file.
    kept = ["\n" if line.lstrip().startswith("#") else line for line in lines]
    header_line = next((line for line in kept if line.strip()), "")
    delimiter = ";" if ";" in header_line and "," not in header_line else ","
    reader = csv.reader(io.StringIO("".join(kept)), delimiter=delimiter)
    errors: list[SourceError] = []
    columns: list[str] | None = None
    table = Table()
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        at = reader.line_num
        if columns is None:
            columns = [c.strip().lower() for c in row]
            for i, name in enumerate(columns):
                if name not in FIELDS:
                    errors.append(SourceError(Position(source, at, _column(row, i)),
                                              f"unknown column {name!r} (columns: "
                                              f"{', '.join(FIELDS)})"))
            if "username" not in columns:
                errors.append(SourceError(Position(source, at, 1), "no 'username' column"))
            if errors:
                break
            continue
        if len(row) > len(columns):
            errors.append(SourceError(Position(source, at, _column(row, len(columns))),
                                      f"{len(row)} fields, but {len(columns)} columns"))
            continue
        values = {name: row[i].strip() if i < len(row) else "" for i, name in enumerate(columns)}
        username = values.get("username", "").lower()
        problems: list[tuple[str, str]] = []
        if not username:
            problems.append(("username", "empty username"))
        elif username in table.by_username:
            problems.append(("username", f"username {username!r} appears twice"))
        affiliation = values.get("affiliation", "").lower()
        if affiliation and affiliation not in AFFILIATIONS:
            problems.append(("affiliation", f"affiliation {affiliation!r} is not one of "
                                            f"{', '.join(AFFILIATIONS)} (or empty)"))
        addresses = [a.lower() for a in _SPLIT.split(values.get("email", "")) if a]
        for address in addresses:
            if "@" not in address.strip("@"):
                problems.append(("email", f"{address!r} is not a mail address"))
            elif address in table.by_address:
                problems.append(("email", f"address {address!r} belongs to "
                                          f"{table.by_address[address].username!r} too"))
        for name, message in problems:
            errors.append(SourceError(Position(source, at, _column(row, columns.index(name))),
                                      message))
        if problems:
            continue
        person = Person(
            username=username,
            name=values.get("name", ""),
            email=addresses[0] if addresses else "",
            affiliation=affiliation,  # type: ignore[arg-type]
            department=values.get("department", ""),
            phone=values.get("phone", ""),
        )
        table.by_username[username] = person
        for address in addresses:
            table.by_address[address] = person
    if columns is None:
        errors.append(SourceError(Position(source, 1, 1), "no header row naming the columns"))
    if errors:
        raise ConfigError(errors)
    return table


def load(path: Path) -> Table:
    """Read and parse the file at `path` (ConfigError when unreadable or invalid)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([SourceError(Position(str(path), 1, 1), f"cannot read: {exc}")]) from None
    return parse(text, str(path))


class CsvDirectory:
    """People from a CSV file, re-read when the file changes."""

    timeout: float | None = None  # a local file: nothing to wait for

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"csv {path}"
        self._lock = threading.Lock()
        self._table = load(path)
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int]:
        st = self.path.stat()
        return st.st_mtime_ns, st.st_size

    def _current(self) -> Table:
        with self._lock:
            try:
                stamp = self._stat()
            except OSError as exc:
                raise DirectoryUnavailable(f"cannot read {self.path}: {exc.strerror}") from None
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._table = load(self.path)
                    log.info("directory_reloaded", path=str(self.path),
                             people=len(self._table.by_username))
                except ConfigError as exc:
                    for error in exc.errors:
                        log.error("directory_reload_refused", error=str(error))
            return self._table

    def by_address(self, address: str) -> Person | None:
        return self._current().by_address.get(address.lower())

    def by_username(self, username: str) -> Person | None:
        return self._current().by_username.get(username.lower())

    def close(self) -> None:
        pass
