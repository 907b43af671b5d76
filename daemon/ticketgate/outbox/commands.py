"""`ticketgate outbox list` and `ticketgate outbox retry`: look at and push the outbox.

Imports beyond the standard library are made inside the functions, so building the command's
parser (on every `ticketgate` run) stays cheap.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import TYPE_CHECKING, Any, TextIO

from .. import cliargs, exits
from ..cliformat import cell, error, outbox_ref, table

if TYPE_CHECKING:
    from ..config import Settings
    from ..store import OutboxRow, StoreView, Transaction


def format_code(number: int, tag: str) -> str:
    return f"[{tag} #{number}]"  # as pipeline.code.format_code, without importing the stages


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _subject(raw: bytes | None) -> str:
    if not raw:
        return ""
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    return str(headers.get("subject", ""))


def _as_dict(row: OutboxRow, tag: str, subject: str) -> dict[str, Any]:
    data = {k: v for k, v in row.__dict__.items() if k != "raw"}
    data["code"] = format_code(row.ticket_id, tag) if row.ticket_id else None
    data["subject"] = subject
    return data


def list_outbox(
    view: StoreView, *, tag: str, state: str | None, limit: int, as_json: bool,
    out: TextIO = sys.stdout,
) -> None:
    """Outbox rows newest first: a table (a failing row's last error under it), or one JSON
    object per line."""
    cells: list[tuple[str, ...]] = []
    notes: list[str | None] = []
    for row in view.outbox_listing(state=state, limit=limit):
        subject = _subject(view.outbox_raw(row.id))
        if as_json:
            out.write(json.dumps(_as_dict(row, tag, subject), ensure_ascii=False) + "\n")
            continue
        code = format_code(row.ticket_id, tag) if row.ticket_id else "-"
        when = _when(row.sent_at) if row.state == "sent" else _when(row.next_attempt_at)
        cells.append((outbox_ref(row.id), row.state, row.kind, code, cell(row.rcpt_to, 40),
                      str(row.attempts), when, cell(subject, 60)))
        notes.append(f"last error: {cell(row.last_error, 200)}"
                     if row.last_error and row.state != "sent" else None)
    if not as_json:
        table(("ID", "STATE", "KIND", "TICKET", "TO", "ATTEMPTS", "SENT/DUE", "SUBJECT"),
              cells, out, notes=notes)


def retry(settings: Settings, outbox_id: int) -> tuple[bool, str]:
    """Make row `outbox_id` due now; (done, message). The running daemon delivers it."""
    from ..store import Store

    now = time.time()

    def job(tx: Transaction) -> tuple[bool, str]:
        row = tx.outbox_row(outbox_id)
        ref = outbox_ref(outbox_id)
        if row is None:
            return False, f"no outbox row {ref}"
        if row.state == "sent":
            return False, f"outbox row {ref} was already sent at {_when(row.sent_at)}"
        tx.requeue_mail(outbox_id, now)
        tx.add_event(row.ticket_id, f"{row.kind}_retry",
                     {"outbox_id": outbox_id, "to": row.rcpt_to, "was": row.state,
                      "last_error": row.last_error}, at=now)
        return True, (f"outbox row {ref} ({row.kind} to {row.rcpt_to}) is pending again;"
                      " the running daemon delivers it within seconds, or at its next start")

    with Store(settings.database) as store:
        return store.writer.call(job)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """The `outbox` subcommand: `list [--state S] [--json]` or `retry ID`."""
    if args.outbox_cmd == "list":
        from ..store import open_readonly

        view = open_readonly(settings.database)
        try:
            list_outbox(view, tag=settings.ticket_tag, state=args.state, limit=args.limit,
                        as_json=args.json)
        finally:
            view.close()
        return exits.OK
    outbox_id: int = args.id
    done, message = retry(settings, outbox_id)
    if args.json:
        print(json.dumps({"id": outbox_id, "retried": done, "message": message}))
    elif done:
        print(message)
    else:
        error(message)
    return exits.OK if done else exits.DATAERR


def add_parser(sub: Any, parents: list[argparse.ArgumentParser],
               listing: argparse.ArgumentParser,
               func: Callable[[argparse.Namespace], int]) -> None:
    """Add `outbox list|retry` to the subparsers `sub` of the `ticketgate` command."""
    p = sub.add_parser("outbox", parents=parents,
                       help="list outgoing mail (acknowledgements, notifications); retry one")
    osub = p.add_subparsers(dest="outbox_cmd", required=True, metavar="ACTION")
    q = osub.add_parser("list", parents=[*parents, listing], help="outbox rows, newest first")
    q.add_argument("--state", choices=["pending", "sent", "failed"],
                   help="only rows in this state (default: all)")
    q = osub.add_parser("retry", parents=parents,
                        help="deliver a failed (or waiting) row again, now")
    q.add_argument("id", metavar="ID", type=cliargs.row_id("an outbox row", prefix="O"),
                   help="outbox row, as `outbox list` shows it (O12, or 12)")
    q.add_argument("--json", action="store_true", help="the result as one JSON object")
    p.set_defaults(func=func)
