"""The `ticketgate` command: serve, inject, and the admin's tickets/spool/rules commands.

Exit codes follow sysexits: 0 ok, 64 usage, 65 bad data, 67 unknown user, 75 temporary
failure, 78 bad configuration. Every listing takes --json (one JSON object per line).
"""

from __future__ import annotations

import os
import sys

from . import __version__, exits

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; type checkers honour it
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from .config import Settings

# Each command imports what it needs when it runs: `inject` is a new process for every mail
# an MTA pipes to it, and the other commands' modules (the daemon, the rules with their
# etiquette word lists, Jinja2, flanker) would cost it twenty times its own work.


def _settings(args: argparse.Namespace) -> Settings:
    from pathlib import Path

    from .config import load_settings

    path = args.config or os.environ.get("TICKETGATE_CONFIG")
    return load_settings(Path(path) if path else None)


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    from dataclasses import replace

    from .daemon import Daemon
    from .log import configure

    if args.pipeline_child is not None:  # started by a `serve` with pipeline.process: separate
        from .pipelineproc import RulesReader, die_with_parent

        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # reloads come as rules from the parent
        if not die_with_parent():
            return exits.OK
        reader = RulesReader()
        settings = reader.settings(args.pipeline_rules)  # never the file: it may have changed
        configure(settings.log_format)
        rules = reader.first(args.pipeline_rules)
        inline = replace(settings, pipeline=replace(settings.pipeline, process="inline"))
        child = Daemon(inline, rules=rules)
        asyncio.run(child.run_pipeline_child(args.pipeline_child, args.pipeline_rules, reader))
        return exits.OK
    settings = _settings(args)
    configure(settings.log_format)
    # With `pipeline.process: inline` the pipeline thread would otherwise keep the GIL for
    # 5 ms slices while every SMTP reply waits behind it; shorter slices halved the accept
    # latency under load (BENCHMARKS.md, "--switch-interval"). The default, a pipeline child
    # process, shares no GIL with the listener.
    sys.setswitchinterval(0.0005)
    daemon = Daemon(settings, spool_only=args.spool_only)
    asyncio.run(daemon.run())
    return exits.OK


def _view(settings: Settings):  # type: ignore[no-untyped-def]
    from .store import open_readonly

    return open_readonly(settings.database)


def cmd_tickets(args: argparse.Namespace) -> int:
    import json

    from . import views

    settings = _settings(args)
    view = _view(settings)
    if args.tickets_cmd == "list":
        views.list_tickets(view, tag=settings.ticket_tag, queue=args.queue, status=args.status,
                           limit=args.limit, as_json=args.json)
        return exits.OK
    number = views.parse_code(args.code, settings.ticket_tag)
    if number is None:
        print(f"ticketgate: not a ticket code: {args.code!r}", file=sys.stderr)
        return exits.USAGE
    history = views.ticket_history(view, number)
    if history is None:
        print(f"ticketgate: no ticket #{number}", file=sys.stderr)
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
    return _retry(settings, args.id.lstrip("Ss"), as_json=args.json)


def _retry(settings: Settings, spool_id_text: str, *, as_json: bool) -> int:
    from .apply import ApplyOptions
    from .directory import EXTRAS_KEY, open_directory
    from .outbox.compose import composer as outbox_composer
    from .rules import load_rules
    from .store import Store
    from .store import spool as spool_rows
    from .worker import process_row

    if not spool_id_text.isdigit():
        print(f"ticketgate: not a spool id: {spool_id_text!r}", file=sys.stderr)
        return exits.USAGE
    spool_id = int(spool_id_text)
    rules = load_rules(settings.rules_dir, settings.templates_dir)
    with Store(settings.database) as store:
        released = store.writer.call(lambda c: spool_rows.release(c, spool_id))
        if not released:
            print(f"ticketgate: spool row S{spool_id} is not held", file=sys.stderr)
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
        import json

        print(json.dumps(outcome.__dict__))
    elif outcome.state == "held":
        print(f"S{spool_id} held again: {outcome.error}")
    else:
        print(f"S{spool_id} {outcome.state}: {outcome.action or ''} ticket {outcome.ticket_id}")
    return exits.OK if outcome.state in ("done", "skipped") else exits.DATAERR


def cmd_outbox(args: argparse.Namespace) -> int:
    from .outbox.commands import run

    return run(args, _settings(args))


def cmd_rules(args: argparse.Namespace) -> int:
    from . import rulescmd
    from .yamlsource import ConfigError

    settings = _settings(args)
    if args.rules_cmd == "check":
        return rulescmd.check(settings)
    try:
        return rulescmd.test(settings, args.files, rcpt=args.rcpt or (), sender=args.sender,
                             as_json=args.json)
    except ConfigError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
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
    import signal

    settings = _settings(args)
    try:
        pid = int(settings.pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        print(f"ticketgate: no running daemon found through {settings.pid_file}: {exc}",
              file=sys.stderr)
        return exits.TEMPFAIL
    print(f"sent SIGHUP to ticketgate (pid {pid}); see its log for the result")
    return exits.OK


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from . import inject
    from .directory.command import add_parser as add_directory_parser
    from .initcmd import add_parser as add_init_parser
    from .outbox.commands import add_parser as add_outbox_parser
    from .stats import add_parser as add_stats_parser

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE",
                        help="settings file (default: $TICKETGATE_CONFIG, else the embedded "
                             "default: SMTP on 127.0.0.1:2525, data under ./var)")
    listing = argparse.ArgumentParser(add_help=False)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--limit", type=int, default=100, help="at most this many rows")

    parser = argparse.ArgumentParser(
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
                       description=inject.DESCRIPTION)
    inject.add_arguments(p)
    p.set_defaults(func=inject.guarded)

    p = sub.add_parser("tickets", parents=[common], help="list and show tickets")
    tsub = p.add_subparsers(dest="tickets_cmd", required=True, metavar="ACTION")
    q = tsub.add_parser("list", parents=[common, listing], help="list tickets, newest first")
    q.add_argument("--queue")
    q.add_argument("--status")
    q = tsub.add_parser("show", parents=[common], help="a ticket with its messages and events")
    q.add_argument("code", help="ticket code: 'DDG #12', '[DDG #12]' or 12")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tickets)

    p = sub.add_parser("spool", parents=[common], help="inspect the spool, retry held messages")
    ssub = p.add_subparsers(dest="spool_cmd", required=True, metavar="ACTION")
    q = ssub.add_parser("list", parents=[common, listing], help="list spool rows, newest first")
    q.add_argument("--state", choices=["new", "done", "held"])
    q = ssub.add_parser("retry", parents=[common], help="run a held message through again")
    q.add_argument("id", help="spool id, e.g. 42 or S42")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_spool)

    add_outbox_parser(sub, [common], listing, cmd_outbox)

    p = sub.add_parser("rules", parents=[common], help="check the rules")
    rsub = p.add_subparsers(dest="rules_cmd", required=True, metavar="ACTION")
    rsub.add_parser("check", parents=[common],
                    help="validate every rules file (errors as file:line:col: message)")
    q = rsub.add_parser("test", parents=[common],
                        help="run the pipeline on message files read-only and print the verdict")
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
                       help="make the running daemon reload its rules and templates (SIGHUP)")
    p.set_defaults(func=cmd_reload)
    return parser


def _inject_call(argv: Sequence[str]) -> tuple[str | None, list[str]] | None:
    """(--config given before the command, inject's own arguments) when `argv` runs inject
    with nothing else before it; None for any other command line (the whole parser's)."""
    config: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "inject":
            return config, list(argv[i + 1:])
        if arg == "--config" and i + 1 < len(argv):
            config, i = argv[i + 1], i + 2
        elif arg.startswith("--config="):
            config, i = arg.removeprefix("--config="), i + 1
        else:
            return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    call = _inject_call(argv)
    if call is not None:  # without importing what the other commands need
        from . import inject

        return inject.main(call[1], config=call[0])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors; sysexits says 64
        return exits.USAGE if exc.code else exits.OK
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        return exits.OK
    except Exception as exc:
        from .store import StorageError
        from .yamlsource import ConfigError

        if isinstance(exc, ConfigError):
            for error in exc.errors:
                print(error, file=sys.stderr)
            return exits.CONFIG
        if isinstance(exc, StorageError):
            print(f"ticketgate: {type(exc).__name__}: {exc}", file=sys.stderr)
            return exits.TEMPFAIL
        raise


if __name__ == "__main__":
    sys.exit(main())
