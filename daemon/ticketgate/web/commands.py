"""`ticketgate web` (the desk alone) and `ticketgate staff passwd ADDRESS`.

Imports beyond the standard library are made inside the functions, so building the command's
parser (on every `ticketgate` run) stays cheap.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .. import exits
from ..cliformat import error

if TYPE_CHECKING:
    from ..config import Settings


def add_parsers(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
                parents: Sequence[argparse.ArgumentParser],
                web: Callable[[argparse.Namespace], int],
                staff: Callable[[argparse.Namespace], int]) -> None:
    p = sub.add_parser("web", parents=list(parents),
                       help="serve the staff desk alone (serve runs it too when web: is set)",
                       description="Serve the staff desk in the browser on web.host:web.port "
                       "(default 127.0.0.1:8025) without the mail daemon. Exits 75 when the "
                       "address is in use, 78 for bad settings.")
    p.set_defaults(func=web)
    p = sub.add_parser("staff", parents=list(parents), help="staff accounts of the desk")
    ssub = p.add_subparsers(dest="staff_cmd", required=True, metavar="ACTION")
    q = ssub.add_parser("passwd", parents=list(parents),
                        help="set a staff address's desk password (web.auth: local)",
                        description="Set the desk password of ADDRESS (a queue's staff address "
                        "or an admin) in web.password_file, as an argon2id hash. The password "
                        "is read from the terminal (twice, without echo) or as one line of "
                        "standard input. Exits 67 for an address that is no account.")
    q.add_argument("address", metavar="ADDRESS",
                   help="the staff address (of a queue in rules/queues.yaml, or an admin)")
    p.set_defaults(func=staff)


def _read_password(stdin_is_tty: bool) -> str | None:
    if stdin_is_tty:
        import getpass

        first = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != first:
            error("the two passwords differ; nothing changed")
            return None
        return first
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def passwd(settings: Settings, address: str) -> int:
    from ..rules import load_rules
    from .access import viewer
    from .passwords import PasswordFile, weak

    if settings.web is None:
        error("no web: section in the settings: there is no desk to set a password for")
        return exits.CONFIG
    address = address.strip().lower()
    rules = load_rules(settings.rules_dir, settings.templates_dir)
    if viewer(rules, settings.web.admins, address) is None:
        error(f"{address} is no account: not a staff address of any queue "
              "(rules/queues.yaml) and not in web.admins")
        return exits.NOUSER
    if settings.web.auth != "local":
        print(f"note: web.auth is {settings.web.auth}: the desk checks passwords there, "
              "not in this file", file=sys.stderr)
    password = _read_password(sys.stdin.isatty())
    if password is None:
        return exits.DATAERR
    problem = weak(password)
    if problem:
        error(f"{problem}; nothing changed")
        return exits.DATAERR
    try:
        PasswordFile(settings.web.password_file).set(address, password)
    except OSError as exc:
        error(f"cannot write {settings.web.password_file}: {exc.strerror}")
        return exits.CANTCREAT
    print(f"password set for {address} in {settings.web.password_file}")
    return exits.OK


def serve_desk(settings: Settings) -> int:
    """The desk alone, until SIGTERM or SIGINT."""
    from ..rules import load_rules
    from ..store import Store
    from .app import create_app, desk_for
    from .server import bind, server

    if settings.web is None:
        error("no web: section in the settings: nothing to serve (add `web: {port: 8025}`)")
        return exits.CONFIG
    rules = load_rules(settings.rules_dir, settings.templates_dir)
    web = settings.web
    try:
        sock = bind(web)
    except OSError as exc:
        busy = exc.errno == errno.EADDRINUSE
        error(f"cannot listen for the desk on {web.listener.host}:{web.listener.port}: "
              f"{exc.strerror}{' (is another ticketgate running?)' if busy else ''}")
        return exits.TEMPFAIL if busy else exits.CONFIG
    with Store(settings.database) as store:
        app = create_app(desk_for(settings, lambda: rules, store.view, store.writer))
        host, port = sock.getsockname()[:2]
        print(f"staff desk on http://{host}:{port}/", file=sys.stderr, flush=True)
        server(app, web).run(sockets=[sock])
    return exits.OK
