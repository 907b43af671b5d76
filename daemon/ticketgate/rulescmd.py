"""`ticketgate rules check` and `ticketgate rules test`: the admin's dry runs.

`rules test` runs the whole pipeline on message files against the current database, through a
read-only connection, and stores nothing: the same stages the daemon runs, so what it prints
is what the daemon would do with that mail now.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import exits, pipeline
from .addresses import canonical
from .cliformat import error
from .config import Settings
from .directory import EXTRAS_KEY, open_directory
from .identity import format_code, requester_address
from .mail import parse as parse_mail
from .pipeline import Context, Envelope, Message
from .rules import Rules, load_rules
from .store import StoreView, create
from .yamlsource import ConfigError


def check(settings: Settings, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Validate every rules file; print `path:line:col: message` per error (exit 65)."""
    try:
        rules = load_rules(settings.rules_dir, settings.templates_dir)
    except ConfigError as exc:
        for problem in exc.errors:
            err.write(f"{problem}\n")
        error(f"{len(exc.errors)} error(s) in {settings.rules_dir}", err)
        return exits.DATAERR
    out.write(
        f"{settings.rules_dir}: ok: {len(rules.queues)} queues, "
        f"{len(rules.function_addresses)} function addresses, {len(rules.routes.rules)} routes, "
        f"{len(rules.templates)} templates\n"
    )
    return exits.OK


def _recipients(raw: bytes, rules: Rules, given: Sequence[str]) -> tuple[str, ...]:
    if given:
        return tuple(given)
    mail = parse_mail(raw)
    found = [m.address for m in (*mail.to, *mail.cc) if rules.is_function_address(m.address)]
    if found:
        return tuple(dict.fromkeys(found))
    return (next(iter(rules.function_addresses)),)


def _view(settings: Settings, scratch: Path) -> StoreView:
    if settings.database.exists():
        return StoreView(settings.database)
    path = scratch / "empty.db"  # no database yet: test against an empty one
    create(path)
    return StoreView(path)


def summary(file: str, message: Message, tag: str) -> dict[str, Any]:
    v = message.verdict
    return {
        "file": file,
        "automail": v.automail,
        "duplicate_of": v.duplicate_of,
        "ticket_code": format_code(v.ticket_code, tag) if v.ticket_code is not None else None,
        "followup_of": v.followup_of,
        "flags": list(v.flags),
        "reasons": dict(v.reasons),
        "flag_details": v.details_json(),
        "queue": v.queue,
        "rule": v.rule,
        "acknowledgement": v.acknowledgement,
        "acknowledgement_to": v.acknowledgement_to,
        "acknowledgement_decision": v.acknowledgement_decision,
        "action": v.action,
        "person": dict(v.person) if v.person is not None else None,
    }


def test(settings: Settings, files: Sequence[str], *, rcpt: Sequence[str], sender: str | None,
         as_json: bool, out: TextIO = sys.stdout) -> int:
    """Run the pipeline on each file and print the verdict; store nothing."""
    rules = load_rules(settings.rules_dir, settings.templates_dir)
    status = exits.OK
    directory = open_directory(settings)  # the real directory: lookups only read
    extras = {EXTRAS_KEY: directory} if directory else {}
    with tempfile.TemporaryDirectory() as scratch:
        view = _view(settings, Path(scratch))
        context = Context(settings=settings, rules=rules, view=view, extras=extras)
        for file in files:
            try:
                raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
            except OSError as exc:
                error(f"cannot read {file}: {exc.strerror}")
                status = exits.NOINPUT
                continue
            mail_from = sender
            if mail_from is None:
                parsed = parse_mail(raw)
                mail_from = requester_address(parsed.sender, "")
            envelope = Envelope(mail_from=mail_from, rcpt_to=_recipients(raw, rules, rcpt))
            result = pipeline.run(Message(raw=raw, envelope=envelope), context)
            if as_json:
                out.write(json.dumps(summary(file, result, settings.ticket_tag),
                                     ensure_ascii=False) + "\n")
            else:
                _explain(file, result, settings.ticket_tag, out)
        view.close()
    if directory is not None:
        directory.close()
    return status


def _explain(file: str, message: Message, tag: str, out: TextIO) -> None:
    v = message.verdict
    s = summary(file, message, tag)
    out.write(f"{file}\n")
    for stage, note in v.notes:
        out.write(f"  {stage:<9} {note}\n")
    target = f" {format_code(v.followup_of, tag)}" if v.followup_of else ""
    out.write(
        f"  => {v.action}{target}, queue {v.queue or '-'}, rule {v.rule or '-'}, "
        f"flags {', '.join(v.flags) or '-'}\n"
    )
    out.write(f"  => acknowledgement {_acknowledgement(s)}\n")
    to = ", ".join(canonical(a) for a in message.envelope.rcpt_to)
    out.write(f"  (envelope: <{message.envelope.mail_from}> -> {to})\n\n")


def _acknowledgement(summary: dict[str, Any]) -> str:
    """The decision as one line: planned (template, address) or suppressed with the reason."""
    if summary["acknowledgement"] is None:
        return str(summary["acknowledgement_decision"])
    return (f"planned: {summary['acknowledgement']} to {summary['acknowledgement_to']}"
            " (unless the per-address rate limit holds it back)")
