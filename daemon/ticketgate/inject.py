"""`ticketgate inject`: spool one message from standard input, for an MTA's pipe transport.

An MTA starts one `inject` per mail, so this module is kept to what spooling needs: the
settings and rules as `injectcache` remembers them from the last full check (a full check,
the same as `serve` makes, only when a file has changed), the function-address check, one
durable spool commit (store/spoolwrite.py) and a ring of the daemon's doorbell (wakeup.py).
Nothing here may import the etiquette word lists, flanker, Jinja2, jsonschema, PyYAML,
asyncio, structlog or dataclasses at module level: tests/test_inject.py checks what an
`inject` loads.

Exit codes (sysexits, and what Postfix's pipe(8) makes of them): 0 stored; 67 a recipient
that is no function address and 65 a message over max_message_size (both bounce); 75 for
everything else, storage trouble and a broken settings or rules file included, so that the
MTA keeps the mail and tries again (pipe bounces on every code but 0, 75 and 71).
"""

from __future__ import annotations

import os
import sys
import time

from . import exits, injectcache
from .addresses import canonical
from .wakeup import ring

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; type checkers honour it
if TYPE_CHECKING:
    import argparse

DESCRIPTION = (
    "Spool one message from standard input (for an MTA's pipe transport). Exits 0 when it is "
    "stored, 67 for a recipient that is no function address, 65 for a message over "
    "max_message_size, and 75 (the MTA keeps the mail and retries) for anything else, a "
    "broken settings or rules file included. Give the envelope sender with --from (--from '' "
    "for a null sender, as bounces have); without --from the sender is taken from the "
    "message, and the output says from where."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """inject's own options; `ticketgate --help` and `ticketgate inject --help` share them."""
    parser.add_argument("--rcpt", action="append", required=True, metavar="ADDR",
                        help="envelope recipient: a function address (repeatable)")
    parser.add_argument("--from", dest="sender", default=None, metavar="ADDR",
                        help="envelope sender; --from '' (or --from=) for a null sender, as "
                             "a bounce has. Without --from: the message's Return-Path (the "
                             "envelope sender its last MTA recorded; <> is a null sender), "
                             "else the address in its From, else a null sender.")


def _config_path(config: str | None) -> str | None:
    return config or os.environ.get("TICKETGATE_CONFIG") or None


def _facts(settings_file: str | None) -> injectcache.Facts:
    """The facts of the settings and rules: remembered when unchanged, else a full check.

    A full check raises ConfigError (exit 75) for a broken file, as `serve` would refuse it.
    """
    facts = injectcache.recall(settings_file)
    if facts is not None:
        return facts
    # The full check: what `serve` loads, with the identity of every file before it is read.
    from pathlib import Path

    from .config import load_settings
    from .rules import load_rules

    seen = [(settings_file, injectcache.identity(settings_file))] if settings_file else []
    settings = load_settings(Path(settings_file) if settings_file else None)
    paths = injectcache.sources(str(settings.rules_dir), str(settings.templates_dir))
    seen += [(path, injectcache.identity(path)) for path in paths]
    rules = load_rules(settings.rules_dir, settings.templates_dir)
    facts = injectcache.Facts(
        database=str(settings.database), max_message_size=settings.max_message_size,
        function_addresses=frozenset(rules.function_addresses),
        wake_path=str(settings.wake_path))
    injectcache.remember(settings_file, facts, seen, time.time())
    return facts


def sender_from_message(raw: bytes) -> tuple[str, str]:
    """(envelope sender, where it came from) for a message given without --from.

    Return-Path is what the last delivering MTA recorded of the envelope sender (RFC 5321
    4.4), so it wins over From; `<>` there is a bounce's null sender.
    """
    from email.parser import BytesHeaderParser
    from email.policy import compat32
    from email.utils import parseaddr

    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0),
              default=len(raw))
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:end + 2])
    return_path = str(headers.get("Return-Path", "")).strip()
    if return_path == "<>" or "@" in return_path:
        return parseaddr(return_path)[1], "the Return-Path header"
    author = parseaddr(str(headers.get("From", "")))[1]
    if "@" in author:
        return author, "the From header"
    return "", "no Return-Path or From header: a null sender"


def run(*, config: str | None, rcpt: list[str], sender: str | None) -> int:
    """Spool the message on stdin; the exit code as the module docstring says."""
    facts = _facts(_config_path(config))
    unknown = [r for r in rcpt if canonical(r) not in facts.function_addresses]
    if unknown:
        print(f"ticketgate: error: not a function address: {', '.join(unknown)}", file=sys.stderr)
        return exits.NOUSER
    raw = sys.stdin.buffer.read(facts.max_message_size + 1)
    if len(raw) > facts.max_message_size:
        print(f"ticketgate: error: message larger than {facts.max_message_size} bytes",
              file=sys.stderr)
        return exits.DATAERR
    origin = ""
    if sender is None:
        sender, origin = sender_from_message(raw)
    try:
        spool_id = _commit(facts.database, raw, sender, tuple(rcpt))
    except Exception as exc:  # any storage problem: the MTA must keep the mail and retry
        print(f"ticketgate: error: temporary failure: {exc}", file=sys.stderr)
        return exits.TEMPFAIL
    ring(facts.wake_path)
    said = f" (sender {sender or '<>'} from {origin})" if origin else ""
    print(f"queued as S{spool_id}{said}")
    return exits.OK


def _commit(database: str, raw: bytes, sender: str, rcpt: tuple[str, ...]) -> int:
    from .store.spoolwrite import commit_one

    spool_id = commit_one(database, raw=raw, mail_from=sender, rcpt_to=rcpt, peer="inject",
                          protocol="inject")
    if spool_id is not None:
        return spool_id
    # No database yet, or one at an older schema: the whole store creates or migrates it.
    from pathlib import Path

    from .store import Store

    with Store(Path(database)) as store:
        return store.writer.call(lambda tx: tx.spool_delivery(
            raw=raw, mail_from=sender, rcpt_to=rcpt, peer="inject", protocol="inject"))


def quick_parse(argv: list[str], config: str | None) -> tuple[str | None, list[str],
                                                              str | None] | None:
    """(config, recipients, sender) of the plain command lines an MTA runs, without argparse.

    argparse and what it pulls in (re, enum, gettext, locale, shutil) cost a third of an
    `inject`. This reads only `--rcpt`, `--from` and `--config`, each followed by its value
    or joined to it by `=`; for anything else (help, an unknown or abbreviated option, a
    missing value, a value that starts with '-') it returns None and argparse decides,
    so usage errors and --help read the same either way.
    """
    rcpt: list[str] = []
    sender: str | None = None
    i = 0
    while i < len(argv):
        name, eq, value = argv[i].partition("=")
        if not eq:
            if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                return None
            value = argv[i + 1]
        i += 1 if eq else 2
        if name == "--rcpt":
            rcpt.append(value)
        elif name == "--from":
            sender = value
        elif name == "--config":
            config = value
        else:
            return None
    return (config, rcpt, sender) if rcpt else None


def main(argv: list[str], config: str | None = None) -> int:
    """`ticketgate [--config FILE] inject ...` without the rest of the command line's parser."""
    quick = quick_parse(argv, config)
    if quick is not None:
        return _guarded(config=quick[0], rcpt=quick[1], sender=quick[2])
    import argparse

    parser = argparse.ArgumentParser(prog="ticketgate inject", description=DESCRIPTION)
    parser.add_argument("--config", metavar="FILE", default=config,
                        help="settings file (default: $TICKETGATE_CONFIG, else the embedded "
                             "default, with paths relative to the current directory)")
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors; sysexits says 64
        return exits.USAGE if exc.code else exits.OK
    return guarded(args)


def guarded(args: argparse.Namespace) -> int:
    """The command as `ticketgate`'s whole parser calls it."""
    return _guarded(config=args.config, rcpt=args.rcpt, sender=args.sender)


def _guarded(*, config: str | None, rcpt: list[str], sender: str | None) -> int:
    """`run`, with every failure a clear line and exit 75: the mail is never at fault."""
    try:
        return run(config=config, rcpt=rcpt, sender=sender)
    except KeyboardInterrupt:
        return exits.TEMPFAIL
    except Exception as exc:
        from .yamlsource import ConfigError

        if isinstance(exc, ConfigError):
            # A broken settings or rules file is no fault of the mail: 75 keeps it in the
            # MTA's queue until an admin fixes the file; 78 would bounce it.
            for error in exc.errors:
                print(error, file=sys.stderr)
        else:  # storage trouble, or a bug of ours: never send a requester's mail back
            print(f"ticketgate: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return exits.TEMPFAIL
