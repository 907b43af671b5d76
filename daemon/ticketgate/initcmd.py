"""`ticketgate init DIR`: a starter site (settings, rules, templates) for a new helpdesk.

The starter ships inside the package as real files in `ticketgate/starter/` (and the schemas
in `ticketgate/schemas/`), never as links into a checkout: an editable install whose checkout
holds an admin's edited `rules/` still writes the pristine example. `make starter` copies the
repository's example files there; tests/test_packaging.py fails when the two differ in a
commit. `rules check` accepts what `init` writes, and `serve --config DIR/ticketgate.yaml`
finds everything in DIR.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import TextIO

from . import exits
from .cliformat import error

SETTINGS = "ticketgate.yaml"

# What a new site gets, as (directory in the site, where it comes from in the package, file
# name patterns). Anything else the example deployment keeps beside its rules (a directory.csv
# of example people) stays out.
STARTER_FILES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("", "starter", (SETTINGS,)),
    ("rules", "starter/rules", ("*.yaml",)),
    ("rules/schema", "schemas", ("*.json",)),
    ("templates", "starter/templates", ("*.j2", "README.md")),
)

# The example settings point editors at the schema inside the source tree; a site has its
# own copy under rules/schema.
_MODELINE = "# yaml-language-server: $schema="
SITE_MODELINE = f"{_MODELINE}./rules/schema/settings.schema.json"


def package_root() -> Traversable:
    return resources.files("ticketgate")


def starter_files(root: Traversable | None = None) -> Iterator[tuple[PurePosixPath, bytes]]:
    """(path relative to the site, contents) of every starter file, in a stable order."""
    base = root if root is not None else package_root()
    for folder, source, patterns in STARTER_FILES:
        where = base.joinpath(*source.split("/"))
        if not where.is_dir():
            continue
        for entry in sorted(where.iterdir(), key=lambda e: e.name):
            if entry.is_file() and any(PurePosixPath(entry.name).match(p) for p in patterns):
                relative = PurePosixPath(folder, entry.name) if folder else PurePosixPath(
                    entry.name)
                yield relative, _for_site(relative, entry.read_bytes())


def _for_site(relative: PurePosixPath, data: bytes) -> bytes:
    if str(relative) != SETTINGS:
        return data
    first, sep, rest = data.decode("utf-8").partition("\n")
    if first.startswith(_MODELINE):
        first = SITE_MODELINE
    return (first + sep + rest).encode("utf-8")


def init(directory: Path, *, force: bool, out: TextIO = sys.stdout,
         err: TextIO = sys.stderr) -> int:
    """Write the starter into `directory`; refuse (73) to overwrite anything unless forced."""
    files = list(starter_files())
    if not any(str(path) == SETTINGS for path, _ in files):
        error("the starter files are missing from this installation", err)
        return exits.SOFTWARE
    existing = [path for path, _ in files if (directory / path).exists()]
    if existing and not force:
        named = ", ".join(str(p) for p in existing[:3])
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        error(f"{directory} already has {named}{more}; nothing written (--force overwrites "
              "them)", err)
        return exits.CANTCREAT
    try:
        for path, data in files:
            target = directory.joinpath(*path.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    except OSError as exc:
        error(f"cannot write {exc.filename}: {exc.strerror}", err)
        return exits.CANTCREAT
    settings = directory / SETTINGS
    from .web import secret

    try:  # the desk's session key (web.secret_file of the starter's settings)
        made = secret.create(directory / "var/web.secret")
    except OSError as exc:
        error(f"cannot write {exc.filename}: {exc.strerror}", err)
        return exits.CANTCREAT
    out.write(f"wrote {len(files)} files under {directory}"
              f"{' and the staff desk secret var/web.secret' if made else ''}\n"
              f"next: edit {directory / 'rules/queues.yaml'} (the function addresses), then\n"
              f"  ticketgate rules check --config {settings}\n"
              f"  ticketgate staff passwd --config {settings} STAFF-ADDRESS\n"
              f"  ticketgate serve --config {settings}   (the staff desk: http://127.0.0.1:8025/)\n")
    return exits.OK


def add_parser(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
               parents: Sequence[argparse.ArgumentParser],
               func: Callable[[argparse.Namespace], int]) -> None:
    p = sub.add_parser("init", parents=list(parents),
                       help="write a starter settings file, rules and templates into DIR")
    p.add_argument("directory", metavar="DIR", type=Path,
                   help="where the new site goes (created if missing)")
    p.add_argument("--force", action="store_true", help="overwrite existing starter files")
    p.set_defaults(func=func)


def run(args: argparse.Namespace) -> int:
    return init(args.directory, force=args.force)
