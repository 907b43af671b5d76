"""The `ticketgate` command: serve, inject, and the admin's tickets/spool/rules commands.

Exit codes follow sysexits: 0 ok, 64 usage, 65 bad data, 67 unknown user, 75 temporary
failure, 78 bad configuration. Every listing takes --json (one JSON object per line); text
listings, references and errors follow cliformat.py.
"""

from __future__ import annotations

import os
import sys

from . import exits

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; type checkers honour it
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from .config import Settings
    from .store import StoreView

# Each command imports what it needs when it runs: `inject` is a new process for every mail
# an MTA pipes to it, and the other commands' modules (the daemon, the rules with their
# etiquette word lists, Jinja2, flanker, argparse itself) would cost it twenty times its own
# work. The argparse table is cliparser.py.


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
        configure(settings.log_format, process="pipeline")
        rules = reader.first(args.pipeline_rules)
        inline = replace(settings, pipeline=replace(settings.pipeline, process="inline"))
        child = Daemon(inline, rules=rules)
        asyncio.run(child.run_pipeline_child(args.pipeline_child, args.pipeline_rules, reader))
        return exits.OK
    from .cliformat import error
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


def _view(settings: Settings) -> StoreView:
    from .store import open_readonly

    return open_readonly(settings.database)


def _queue_names(settings: Settings) -> set[str]:
    """The queues the rules define; none when the rules do not load (a listing still works)."""
    from .rules import load_rules
    from .yamlsource import ConfigError

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
    import json

    from . import views
    from .cliformat import error
    from .identity import format_code

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
    import json

    from .apply import ApplyOptions
    from .cliformat import error, spool_ref
    from .directory import EXTRAS_KEY, open_directory
    from .identity import format_code
    from .outbox.compose import composer as outbox_composer
    from .rules import load_rules
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
    from .cliformat import error
    from .yamlsource import ConfigError

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


def cmd_web(args: argparse.Namespace) -> int:
    from .log import configure
    from .web.commands import serve_desk

    settings = _settings(args)
    configure(settings.log_format, process="web")
    return serve_desk(settings)


def cmd_staff(args: argparse.Namespace) -> int:
    from .web.commands import passwd

    return passwd(_settings(args), args.address)


def cmd_init(args: argparse.Namespace) -> int:
    from .initcmd import run

    return run(args)


def cmd_stats(args: argparse.Namespace) -> int:
    from .stats import run

    return run(args, _settings(args))


def cmd_reload(args: argparse.Namespace) -> int:
    """SIGHUP the daemon and wait for its answer (reloadanswer.py): 0 taken, 65 refused (the
    errors on stderr; the daemon keeps its old rules), 75 no daemon or no answer."""
    import signal

    from .cliformat import error
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


def _reader_gone() -> int:
    """Standard output was closed by its reader (`tickets list | head -2`): stop quietly, as
    `cat` does. Whatever is still buffered goes nowhere, so exiting flushes without a second
    BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return exits.OK


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


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (cliparser.py), running this module's cmd_* functions."""
    from . import cliparser

    return cliparser.build_parser(sys.modules[__name__])


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    call = _inject_call(argv)
    if call is not None:  # without importing what the other commands need
        from . import inject

        return inject.main(call[1], config=call[0])
    from .cliformat import error
    from .yamlsource import ConfigError

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
