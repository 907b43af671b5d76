"""flanker's address parser tables: read if current, never written while ticketgate runs.

flanker builds its address parsers with ply when first imported. ply reads tables from modules
beside flanker's parser (`*_parsetab.py`) and, when they are missing or were made from another
grammar signature, rebuilds them and writes them there, into the install directory. flanker's
published wheel carries tables made by an older ply whose signatures no longer match, so a plain
`pip install` would rewrite them at the first start, and fail to on a read-only install.

So at run time ticketgate lets ply read current tables but never write: stale or missing tables
are built in memory instead (about 15 ms for the five parsers). `build()` writes current tables
and their bytecode once, at install time (`python -m ticketgate.mail --build-tables`), which only
saves those milliseconds: nothing depends on it.
"""

from __future__ import annotations

import contextlib
import py_compile
from collections.abc import Iterator
from pathlib import Path

from ply import yacc

# flanker.addresslib._parser.parser builds one parser per start symbol, each with the table
# module `<start>_parsetab`.
START_SYMBOLS = ("mailbox", "addr_spec", "url", "mailbox_or_url", "mailbox_or_url_list")


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    """Within this block ply builds parser tables it cannot read in memory, and writes none."""
    original = yacc.LRGeneratedTable.write_table

    def write_nothing(self: yacc.LRGeneratedTable, *args: object, **kwargs: object) -> None:
        return None

    yacc.LRGeneratedTable.write_table = write_nothing  # type: ignore[method-assign]
    try:
        yield
    finally:
        yacc.LRGeneratedTable.write_table = original  # type: ignore[method-assign]


def build() -> list[Path]:
    """Write current tables (and their bytecode) beside flanker's parser; return their paths.

    For install time: needs write access to the install directory.
    """
    from flanker.addresslib._parser import parser

    directory = Path(parser.__file__).parent
    written = []
    for start in START_SYMBOLS:
        yacc.yacc(module=parser, start=start, tabmodule=f"{start}_parsetab", debug=False,
                  errorlog=yacc.NullLogger(), outputdir=str(directory))
        path = directory / f"{start}_parsetab.py"
        # Bytecode too: otherwise the next import would write it into the install directory.
        py_compile.compile(str(path), doraise=True)
        written.append(path)
    return written
