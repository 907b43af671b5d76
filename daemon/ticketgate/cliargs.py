"""Numbers on the command line: parsed once, in range, or a usage error (exit 64).

argparse calls these as `type=`; an ArgumentTypeError becomes its usage message and exit 2,
which `cli.main` turns into 64. A number the database cannot hold must never reach it: SQLite
raises OverflowError past a signed 64-bit integer, which used to end in a traceback.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

MAX_ROW_ID = 2**63 - 1  # SQLite's INTEGER and PostgreSQL's bigint
MAX_LIMIT = 1_000_000_000  # rows a listing may be asked for; more is surely a typo

_ASCII_DIGITS = re.compile(r"[0-9]+")


def _whole_number(text: str, what: str, lowest: int, highest: int, *, shown: str = "") -> int:
    digits = text.strip()
    text = shown or text
    # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
    if not _ASCII_DIGITS.fullmatch(digits):
        raise argparse.ArgumentTypeError(f"not {what}: {text[:40]!r}")
    if len(digits.lstrip("0")) > len(str(highest)) or not lowest <= int(digits) <= highest:
        raise argparse.ArgumentTypeError(
            f"{what} out of range ({lowest} to {highest}): {text[:40]!r}")
    return int(digits)


def row_id(what: str, prefix: str = "") -> Callable[[str], int]:
    """An argparse type for the id of a row (1 .. 2**63-1), with an optional letter before
    it, as in `S42` for spool rows (case-insensitive)."""

    def parse(text: str) -> int:
        bare = text.strip()
        if prefix and bare[:1].upper() == prefix.upper():
            bare = bare[1:]
        return _whole_number(bare, what, 1, MAX_ROW_ID, shown=text)

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def limit(text: str) -> int:
    """An argparse type for `--limit`: at least 1, at most MAX_LIMIT rows."""
    return _whole_number(text, "a row count", 1, MAX_LIMIT)
