"""One style for what the `ticketgate` command prints: references, tables and errors.

- References: spool rows `S9`, outbox rows `O12`, tickets by their code (`[DDG #5]`, written
  by the callers with the site's tag). Commands accept the same forms back (and bare numbers).
- Text listings are tables with a header row; `--json` listings are one object per line.
- Errors go to stderr as `ticketgate: error: ...`. Errors about a place in a file keep the
  `file:line:col: message` form that editors jump to.

Standard library only: the parser is built on every run and must stay cheap to import.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import TextIO

PREFIX = "ticketgate: error: "
_ID_DIGITS = 18  # anything longer is no row of ours (and would not fit SQLite's integers)


def error(message: str, err: TextIO | None = None) -> None:
    """Write one error line, with the command's one prefix."""
    (err or sys.stderr).write(f"{PREFIX}{message}\n")


def spool_ref(spool_id: int) -> str:
    return f"S{spool_id}"


def outbox_ref(outbox_id: int) -> str:
    return f"O{outbox_id}"



def clean(text: str) -> str:
    """Stored text is decoded already; keep terminals safe from control characters in mail."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "?", text)


def cell(text: str, width: int | None = None) -> str:
    """`text` for one cell of a table: one line, no control characters, at most `width`."""
    one = clean(re.sub(r"[\t\r\n]+", " ", text))
    return one if width is None or len(one) <= width else one[:width - 1] + "…"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO | None = None,
          *, notes: Sequence[str | None] = ()) -> None:
    """Columns padded to their widest cell, a header row first; the last column is not padded.
    `notes[i]`, when given, is printed indented under row i (a last error, say)."""
    out = out or sys.stdout
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows,
                                                                        strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [str(c).ljust(w) for c, w in zip(cells[:-1], widths, strict=False)]
        return "  ".join([*padded, str(cells[-1])]).rstrip()

    out.write(line(header) + "\n")
    for i, row in enumerate(rows):
        out.write(line(row) + "\n")
        note = notes[i] if i < len(notes) else None
        if note:
            out.write(f"    {note}\n")
