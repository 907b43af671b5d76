"""The `ticketgate` command line as argparse sees it: every command, option and help text.

Kept apart from cli.py (what each command does) and imported only when a command other than
`inject` runs: argparse imports re, gettext and more, which `inject` does without.
"""

from __future__ import annotations

import argparse
from types import ModuleType
from typing import NoReturn

from . import __version__, cliargs, inject
from .cliformat import error
from .directory.command import add_parser as add_directory_parser
from .initcmd import add_parser as add_init_parser
from .outbox.commands import add_parser as add_outbox_parser
from .stats import add_parser as add_stats_parser
from .web.commands import add_parsers as add_web_parsers


class Parser(argparse.ArgumentParser):
    """argparse with the command's one error style; its exit 2 becomes 64 in `main`."""

    def error(self, message: str) -> NoReturn:
        error(f"{message} (see `{self.prog} --help`)")
        self.exit(2)


def build_parser(commands: ModuleType) -> argparse.ArgumentParser:
    """The whole command line; `commands` is cli.py, whose cmd_* functions run each command."""
    common = Parser(add_help=False)
    common.add_argument("--config", metavar="FILE",
                        help="settings file (default: $TICKETGATE_CONFIG, else the embedded "
                             "default: SMTP on 127.0.0.1:2525, data under ./var)")
    listing = Parser(add_help=False)
    listing.add_argument("--json", action="store_true",
                         help="one JSON object per line instead of a table")
    listing.add_argument("--limit", type=cliargs.limit, default=100, metavar="N",
                         help="at most N rows, newest first (default: %(default)s)")

    parser = Parser(
        prog="ticketgate", parents=[common],
        description="A mail daemon that turns mail to a helpdesk's function addresses into "
                    "tickets.",
    )
    parser.add_argument("--version", action="version", version=f"ticketgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", parents=[common], help="run the SMTP/LMTP daemon")
    p.add_argument("--spool-only", action="store_true",
                   help="accept and spool mail but run no pipeline (maintenance); the spooled "
                        "mail is processed at the next normal start")
    p.add_argument("--pipeline-child", type=int, metavar="FD", help=argparse.SUPPRESS)
    p.add_argument("--pipeline-rules", type=int, metavar="FD", help=argparse.SUPPRESS)
    p.set_defaults(func=commands.cmd_serve)

    p = sub.add_parser("inject", parents=[common],
                       help="spool one message from standard input (for an MTA's pipe)",
                       description=inject.DESCRIPTION)
    inject.add_arguments(p)
    p.set_defaults(func=inject.guarded)

    p = sub.add_parser("tickets", parents=[common], help="list and show tickets")
    tsub = p.add_subparsers(dest="tickets_cmd", required=True, metavar="ACTION")
    q = tsub.add_parser("list", parents=[common, listing], help="list tickets, newest first")
    q.add_argument("--queue", metavar="QUEUE",
                   help="only this queue's tickets (a queue of rules/queues.yaml)")
    q.add_argument("--status", metavar="STATUS",
                   help="only tickets with this status (new, open, waiting, resolved)")
    q = tsub.add_parser("show", parents=[common], help="a ticket with its messages and events")
    q.add_argument("code", metavar="CODE", help="ticket code: '[DDG #12]', 'DDG #12' or 12")
    q.add_argument("--json", action="store_true", help="the ticket as one JSON object")
    p.set_defaults(func=commands.cmd_tickets)

    p = sub.add_parser("spool", parents=[common], help="inspect the spool, retry held messages")
    ssub = p.add_subparsers(dest="spool_cmd", required=True, metavar="ACTION")
    q = ssub.add_parser("list", parents=[common, listing], help="list spool rows, newest first")
    q.add_argument("--state", choices=["new", "done", "held"],
                   help="only rows in this state (default: all)")
    q = ssub.add_parser("retry", parents=[common], help="run a held message through again")
    q.add_argument("id", metavar="ID", type=cliargs.row_id("a spool row", prefix="S"),
                   help="spool row, as `spool list` shows it (S42, or 42)")
    q.add_argument("--json", action="store_true", help="the outcome as one JSON object")
    p.set_defaults(func=commands.cmd_spool)

    add_outbox_parser(sub, [common], listing, commands.cmd_outbox)

    p = sub.add_parser("rules", parents=[common], help="check the rules")
    rsub = p.add_subparsers(dest="rules_cmd", required=True, metavar="ACTION")
    rsub.add_parser("check", parents=[common],
                    help="validate every rules file (errors as file:line:col: message)")
    q = rsub.add_parser("test", parents=[common],
                        help="run the pipeline on message files read-only and print the verdict,"
                             " with the acknowledgement planned or suppressed (and why)")
    q.add_argument("files", nargs="+", metavar="FILE", help="message files ('-' for stdin)")
    q.add_argument("--json", action="store_true", help="one JSON object per file")
    q.add_argument("--rcpt", action="append", metavar="ADDR",
                   help="envelope recipient (default: function addresses in To/Cc)")
    q.add_argument("--from", dest="sender", metavar="ADDR",
                   help="envelope sender (default: the From address)")
    p.set_defaults(func=commands.cmd_rules)

    add_directory_parser(sub, [common], commands.cmd_directory)

    add_stats_parser(sub, [common], commands.cmd_stats)
    add_init_parser(sub, [], commands.cmd_init)
    add_web_parsers(sub, [common], commands.cmd_web, commands.cmd_staff)

    p = sub.add_parser("reload", parents=[common],
                       help="make the running daemon reload its rules and templates (SIGHUP) "
                            "and wait for its answer",
                       description="Make the running daemon reload its rules and templates and "
                       "wait for its answer. Exits 0 when it took them, 65 when it refused them "
                       "(the errors as file:line:col on stderr; it keeps the old rules), 75 when "
                       "no daemon runs or it did not answer.")
    p.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                   help="how long to wait for the daemon's answer (default: %(default)s)")
    p.set_defaults(func=commands.cmd_reload)
    return parser
