"""The `ticketgate` command: serve, inject, and the admin's tickets/spool/rules commands.

Exit codes follow sysexits: 0 ok, 64 usage, 65 bad data, 67 unknown user, 75 temporary
failure, 78 bad configuration. Every listing takes --json (one JSON object per line); text
listings, references and errors follow cliformat.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from . import __version__, cliargs, exits
from .cliformat import error, spool_ref
from .config import Settings, load_settings
from .directory.command import add_parser as add_directory_parser
from .initcmd import add_parser as add_init_parser
from .log import configure
from .outbox.commands import add_parser as add_outbox_parser
from .rules import load_rules
from .stats import add_parser as add_stats_parser
from .yamlsource import ConfigError

if TYPE_CHECKING:
    from .store import StoreView


def _settings(args: argparse.Namespace) -> Settings:
    path = args.config or os.environ.get("TICKETGATE_CONFIG")
    return load_settings(Path(path) if path else None)


def cmd_serve(args: argparse.Namespace) -> int:
    from .daemon import Daemon

    if args.pipeline_child is not None:  # started by a `serve` with pipeline.process: separate
        from .pipelineproc import RulesReader, die_with_parent

        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # reloads come as rules from the parent
        if not die_with_parent():
            return exits.OK
        reader = RulesReader()
        settings = reader.settings(args.pipeline_rules)  # never the file: it may have changed
        configure(settings.log_format, process="pipeline")
        rules = reader.first(args.pipeline_rules)
        inline = replace(settings, pipeline=replace(settings.pipeline, process="inline"))
        child = Daemon(inline, rules=rules)
        asyncio.run(child.run_pipeline_child(args.pipeline_child, args.pipeline_rules, reader))
        return exits.OK
    from .daemon import ListenError

    settings = _settings(args)
    configure(settings.log_format, process="serve")
    # With `pipeline.process: inline` the pipeline thread would otherwise keep the GIL for
    # 5 ms slices while every SMTP reply waits behind it; shorter slices halved the accept
    # latency under load (BENCHMARKS.md, "--switch-interval"). The default, a pipeline child
    # process, shares no GIL with the listener.
    sys.setswitchinterval(0.0005)
    daemon = Daemon(settings, spool_only=args.spool_only)
    try:
        asyncio.run(daemon.run())
    except ListenError as exc:
        # Busy: most likely another ticketgate; try again later. Anything else (an address
        # this host does not have, a port below 1024 without the right): the settings.
        error(f"{exc}{' (is another ticketgate running?)' if exc.busy else ''}")
        return exits.TEMPFAIL if exc.busy else exits.CONFIG
    return exits.OK


def cmd_inject(args: argparse.Namespace) -> int:
    from .store import Store

    settings = _settings(args)
    rules = load_rules(settings.rules_dir, settings.templates_dir)
    unknown = [r for r in args.rcpt if not rules.is_function_address(r)]
    if unknown:
        error(f"not a function address: {', '.join(unknown)}")
        return exits.NOUSER
    raw = sys.stdin.buffer.read(settings.max_message_size + 1)
    if len(raw) > settings.max_message_size:
        error(f"message larger than {settings.max_message_size} bytes")
        return exits.DATAERR
    try:
        with Store(settings.database) as store:
            spool_id = store.writer.call(
                lambda tx: tx.spool_delivery(
                    raw=raw, mail_from=args.sender, rcpt_to=tuple(args.rcpt), peer="inject",
                    protocol="inject",
                )
            )
    except Exception as exc:  # any storage problem: the MTA must keep the mail and retry
        error(f"temporary failure: {exc}")
        return exits.TEMPFAIL
    print(f"queued as {spool_ref(spool_id)}")
    return exits.OK


def _view(settings: Settings) -> StoreView:
    from .store import open_readonly

    return open_readonly(settings.database)


def _queue_names(settings: Settings) -> set[str]:
    """The queues the rules define; none when the rules do not load (a listing still works)."""
    try:
        return set(load_rules(settings.rules_dir, settings.templates_dir).queues)
    except ConfigError:
        return set()


def _unknown_filter(view: StoreView, settings: Settings, args: argparse.Namespace) -> str | None:
    """Why `--queue` or `--status` names nothing that exists (None when both are fine): a
    typo must not look like an empty queue."""
    from . import views

    if args.queue is not None:
        queues = _queue_names(settings) | views.values_in_use(view, "queue")
        if args.queue not in queues:
            return f"unknown queue {args.queue!r} (queues: {', '.join(sorted(queues)) or '-'})"
    if args.status is not None:
        statuses = set(views.TICKET_STATUSES) | views.values_in_use(view, "status")
        if args.status not in statuses:
            return f"unknown status {args.status!r} (statuses: {', '.join(sorted(statuses))})"
    return None


def cmd_tickets(args: argparse.Namespace) -> int:
    from . import views
    from .pipeline.code import format_code

    settings = _settings(args)
    view = _view(settings)
    if args.tickets_cmd == "list":
        problem = _unknown_filter(view, settings, args)
        if problem:
            error(problem)
            return exits.USAGE
        views.list_tickets(view, tag=settings.ticket_tag, queue=args.queue, status=args.status,
                           limit=args.limit, as_json=args.json)
        return exits.OK
    number = views.parse_code(args.code, settings.ticket_tag)
    if number is None:
        error(f"not a ticket code: {args.code!r} (expected e.g. '[{settings.ticket_tag} #12]' "
              "or 12)")
        return exits.USAGE
    history = views.ticket_history(view, number)
    if history is None:
        error(f"no ticket {format_code(number, settings.ticket_tag)}")
        return exits.DATAERR
    if args.json:
        print(json.dumps(history, ensure_ascii=False, indent=2))
    else:
        views.show_ticket(history, tag=settings.ticket_tag)
    return exits.OK


def cmd_spool(args: argparse.Namespace) -> int:
    from . import views

    settings = _settings(args)
    if args.spool_cmd == "list":
        views.list_spool(_view(settings), state=args.state, limit=args.limit, as_json=args.json)
        return exits.OK
    return _retry(settings, args.id, as_json=args.json)


def _retry(settings: Settings, spool_id: int, *, as_json: bool) -> int:
    from .apply import ApplyOptions
    from .directory import EXTRAS_KEY, open_directory
    from .outbox.compose import composer as outbox_composer
    from .pipeline.code import format_code
    from .store import Store
    from .worker import process_row

    rules = load_rules(settings.rules_dir, settings.templates_dir)
    with Store(settings.database) as store:
        released = store.writer.call(lambda tx: tx.release_delivery(spool_id))
        if not released:
            error(f"spool row {spool_ref(spool_id)} is not held")
            return exits.DATAERR
        # The same after-apply hook as the daemon's: a ticket made here is acknowledged too
        # (its mail waits in the outbox for the running daemon, or the next start).
        hook = outbox_composer(settings, lambda: rules)
        directory = open_directory(settings)
        extras = {EXTRAS_KEY: directory} if directory else {}
        outcome = process_row(store, settings, rules, spool_id, ApplyOptions(after=(hook,)),
                              extras)
        if directory is not None:
            directory.close()
    if as_json:
        print(json.dumps(outcome.__dict__))
    elif outcome.state == "held":
        print(f"{spool_ref(spool_id)} held again: {outcome.error}")
    else:
        ticket = format_code(outcome.ticket_id, settings.ticket_tag) if outcome.ticket_id else "-"
        print(f"{spool_ref(spool_id)} {outcome.state}: {outcome.action or '-'}, ticket {ticket}")
    return exits.OK if outcome.state in ("done", "skipped") else exits.DATAERR


def cmd_outbox(args: argparse.Namespace) -> int:
    from .outbox.commands import run

    return run(args, _settings(args))


def cmd_rules(args: argparse.Namespace) -> int:
    from . import rulescmd

    settings = _settings(args)
    if args.rules_cmd == "check":
        return rulescmd.check(settings)
    try:
        return rulescmd.test(settings, args.files, rcpt=args.rcpt or (), sender=args.sender,
                             as_json=args.json)
    except ConfigError as exc:
        for problem in exc.errors:
            print(problem, file=sys.stderr)
        error(f"{len(exc.errors)} error(s) in the rules")
        return exits.DATAERR


def cmd_directory(args: argparse.Namespace) -> int:
    from .directory.command import lookup

    return lookup(_settings(args), args.key, as_json=args.json)


def cmd_init(args: argparse.Namespace) -> int:
    from .initcmd import run

    return run(args)


def cmd_stats(args: argparse.Namespace) -> int:
    from .stats import run

    return run(args, _settings(args))


def cmd_reload(args: argparse.Namespace) -> int:
    """SIGHUP the daemon and wait for its answer (reloadanswer.py): 0 taken, 65 refused (the
    errors on stderr; the daemon keeps its old rules), 75 no daemon or no answer."""
    from .reloadanswer import answer_path, read_answer, wait_for_answer

    settings = _settings(args)
    path = answer_path(settings.pid_file)
    before = read_answer(path)
    try:
        pid = int(settings.pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        error(f"no running daemon found through {settings.pid_file}: {exc}")
        return exits.TEMPFAIL
    answer = wait_for_answer(path, pid, before, args.wait)
    if answer is None:
        error(f"sent SIGHUP to the daemon (pid {pid}) but it did not answer within "
              f"{args.wait:g} s through {path}; see its log for the result")
        return exits.TEMPFAIL
    if not answer.accepted:
        for problem in answer.errors:
            print(problem, file=sys.stderr)
        error(f"the daemon (pid {pid}) refused the new rules ({len(answer.errors)} error(s)) "
              "and keeps running with the old ones")
        return exits.DATAERR
    print(f"the daemon (pid {pid}) reloaded its rules: {answer.summary}")
    return exits.OK


class Parser(argparse.ArgumentParser):
    """argparse with the command's one error style; its exit 2 becomes 64 in `main`."""

    def error(self, message: str) -> NoReturn:
        error(f"{message} (see `{self.prog} --help`)")
        self.exit(2)


def build_parser() -> argparse.ArgumentParser:
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
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("inject", parents=[common],
                       help="spool one message from standard input (for an MTA's pipe)",
                       description="Spool one message from standard input. Exits 0 when it is "
                       "stored, 67 for a recipient that is no function address, 65 for a "
                       "message over max_message_size, and 75 (the MTA keeps the mail and "
                       "retries) for anything else, a broken settings or rules file included.")
    p.add_argument("--rcpt", action="append", required=True, metavar="ADDR",
                   help="envelope recipient: a function address (repeatable)")
    p.add_argument("--from", dest="sender", default="", metavar="ADDR",
                   help="envelope sender (empty for a null sender)")
    p.set_defaults(func=cmd_inject)

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
    p.set_defaults(func=cmd_tickets)

    p = sub.add_parser("spool", parents=[common], help="inspect the spool, retry held messages")
    ssub = p.add_subparsers(dest="spool_cmd", required=True, metavar="ACTION")
    q = ssub.add_parser("list", parents=[common, listing], help="list spool rows, newest first")
    q.add_argument("--state", choices=["new", "done", "held"],
                   help="only rows in this state (default: all)")
    q = ssub.add_parser("retry", parents=[common], help="run a held message through again")
    q.add_argument("id", metavar="ID", type=cliargs.row_id("a spool row", prefix="S"),
                   help="spool row, as `spool list` shows it (S42, or 42)")
    q.add_argument("--json", action="store_true", help="the outcome as one JSON object")
    p.set_defaults(func=cmd_spool)

    add_outbox_parser(sub, [common], listing, cmd_outbox)

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
    p.set_defaults(func=cmd_rules)

    add_directory_parser(sub, [common], cmd_directory)

    add_stats_parser(sub, [common], cmd_stats)
    add_init_parser(sub, [], cmd_init)

    p = sub.add_parser("reload", parents=[common],
                       help="make the running daemon reload its rules and templates (SIGHUP) "
                            "and wait for its answer",
                       description="Make the running daemon reload its rules and templates and "
                       "wait for its answer. Exits 0 when it took them, 65 when it refused them "
                       "(the errors as file:line:col on stderr; it keeps the old rules), 75 when "
                       "no daemon runs or it did not answer.")
    p.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                   help="how long to wait for the daemon's answer (default: %(default)s)")
    p.set_defaults(func=cmd_reload)
    return parser


def _reader_gone() -> int:
    """Standard output was closed by its reader (`tickets list | head -2`): stop quietly, as
    `cat` does. Whatever is still buffered goes nowhere, so exiting flushes without a second
    BrokenPipeError."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return exits.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors; sysexits says 64
        return exits.USAGE if exc.code else exits.OK
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # here, where a closed pipe is still ours to handle
        return code
    except BrokenPipeError:
        return _reader_gone()
    except ConfigError as exc:
        for problem in exc.errors:
            print(problem, file=sys.stderr)
        error(f"{len(exc.errors)} error(s) in the settings or rules")
        # A broken settings or rules file is no fault of the mail that `inject` was given:
        # 75 keeps it in the MTA's queue until an admin fixes the file; 78 would bounce it.
        return exits.TEMPFAIL if args.command == "inject" else exits.CONFIG
    except KeyboardInterrupt:
        return exits.OK
    except Exception as exc:
        from .store import StorageError

        # For `inject` any surprise is temporary: an MTA's pipe bounces the mail on most
        # other codes, and a bug of ours must not send a requester's mail back.
        if isinstance(exc, StorageError) or args.command == "inject":
            error(str(exc) if isinstance(exc, StorageError) else f"{type(exc).__name__}: {exc}")
            return exits.TEMPFAIL
        raise


if __name__ == "__main__":
    sys.exit(main())
