"""`ticketgate directory lookup ADDRESS|USERNAME`: what the pipeline would attach for a sender.

Exit codes: 0 found, 67 (EX_NOUSER) not in the directory, 75 (EX_TEMPFAIL) the directory did
not answer, 78 (EX_CONFIG) no directory configured.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .. import exits
from ..cliformat import error

if TYPE_CHECKING:
    from ..config import Settings


def add_parser(sub: Any, parents: Sequence[argparse.ArgumentParser],
               func: Callable[[argparse.Namespace], int]) -> None:
    """Add `directory lookup` to the `ticketgate` command's subparsers."""
    p = sub.add_parser("directory", parents=list(parents),
                       help="look requesters up in the directory")
    dsub = p.add_subparsers(dest="directory_cmd", required=True, metavar="ACTION")
    q = dsub.add_parser("lookup", parents=list(parents),
                        help="what the pipeline would attach for an address or username")
    q.add_argument("key", metavar="ADDRESS|USERNAME",
                   help="a sender's mail address, or a username (anything without @)")
    q.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=func)


def lookup(settings: Settings, key: str, *, as_json: bool, out: TextIO = sys.stdout,
           err: TextIO = sys.stderr) -> int:
    """Look `key` up as the directory stage would and print the result."""
    from . import open_directory
    from .resolve import resolve

    directory = open_directory(settings)
    if directory is None:
        error("no directory configured (directory.backend is none, or there is no "
              f"{settings.rules_dir / 'directory.csv'})", err)
        return exits.CONFIG
    try:
        key = key.strip()
        by_address = "@" in key
        found = resolve(directory, key if by_address else None, None if by_address else key,
                        settings.pipeline.institutional_domains)
    finally:
        directory.close()
    if found is None:
        error("nothing to look up", err)
        return exits.USAGE
    data = {
        "query": key,
        "by": "address" if by_address else "username",
        "outcome": found.outcome,
        "person": found.person.to_json() if found.person else None,
        "flag": found.flag[0] if found.flag else None,
        "detail": found.detail,
        "directory": directory.description,
    }
    if as_json:
        out.write(json.dumps(data, ensure_ascii=False) + "\n")
    else:
        _show(data, out)
    return {"found": exits.OK, "unknown": exits.NOUSER}.get(found.outcome, exits.TEMPFAIL)


def _show(data: dict[str, Any], out: TextIO) -> None:
    if data["outcome"] == "unavailable":
        out.write(f"{data['query']}: the directory did not answer: {data['detail']}\n")
        out.write("  the pipeline would record directory_unavailable and look it up again later\n")
        return
    if data["outcome"] == "unknown":
        out.write(f"{data['query']}: not in the directory ({data['directory']})\n")
        if data["flag"]:
            out.write(f"  the pipeline would flag {data['flag']}\n")
        return
    out.write(f"{data['query']}: found by {data['by']} ({data['directory']})\n")
    for field, value in data["person"].items():
        out.write(f"  {field + ':':<12} {value or '-'}\n")
