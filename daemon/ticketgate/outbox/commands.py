"""`ticketgate outbox list` and `ticketgate outbox retry`: look at and push the outbox.

Imports beyond the standard library are made inside the functions, so building the command's
parser (on every `ticketgate` run) stays cheap.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import TYPE_CHECKING, Any, TextIO

from .. import cliargs, exits
from . import rows
from .rows import OutboxRow

if TYPE_CHECKING:
    from ..config import Settings
    from ..store import StoreView


def format_code(number: int, tag: str) -> str:
    return f"[{tag} #{number}]"  # as pipeline.code.format_code, without importing the stages


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _clean(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", "?", text)


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
    """Outbox rows newest first: one line each, or one JSON object per line."""
    for row in rows.listing(view.conn, state, limit):
        subject = _subject(rows.raw_of(view.conn, row.id))
        if as_json:
            out.write(json.dumps(_as_dict(row, tag, subject), ensure_ascii=False) + "\n")
            continue
        code = format_code(row.ticket_id, tag) if row.ticket_id else "-"
        when = _when(row.sent_at) if row.state == "sent" else _when(row.next_attempt_at)
        line = (f"{row.id:>6} {row.state:<8} {row.kind:<16} {code:<12} "
                f"{_clean(row.rcpt_to):<32} attempts {row.attempts:<3} {when}  "
                f"{_clean(subject)[:60]}")
        if row.last_error and row.state != "sent":
            line += f"\n{'':>7}last error: {_clean(row.last_error)[:200]}"
        out.write(line + "\n")


def retry(settings: Settings, outbox_id: int) -> tuple[bool, str]:
    """Make row `outbox_id` due now; (done, message). The running daemon delivers it."""
    from ..store import Store
    from ..store import tickets as t

    now = time.time()

    def job(conn: Any) -> tuple[bool, str]:
        row = rows.get(conn, outbox_id)
        if row is None:
            return False, f"no outbox row {outbox_id}"
        if row.state == "sent":
            return False, f"outbox row {outbox_id} was already sent at {_when(row.sent_at)}"
        rows.requeue(conn, outbox_id, now)
        t.event(conn, row.ticket_id, f"{row.kind}_retry",
                {"outbox_id": outbox_id, "to": row.rcpt_to, "was": row.state,
                 "last_error": row.last_error}, at=now)
        return True, (f"outbox row {outbox_id} ({row.kind} to {row.rcpt_to}) is pending again;"
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
    done, message = retry(settings, args.id)
    if args.json:
        print(json.dumps({"id": args.id, "retried": done, "message": message}))
    else:
        print(message, file=sys.stdout if done else sys.stderr)
    return exits.OK if done else exits.DATAERR


def add_parser(sub: Any, parents: list[argparse.ArgumentParser],
               listing: argparse.ArgumentParser,
               func: Callable[[argparse.Namespace], int]) -> None:
    """Add `outbox list|retry` to the subparsers `sub` of the `ticketgate` command."""
    p = sub.add_parser("outbox", parents=parents,
                       help="list outgoing mail (acknowledgements, notifications); retry one")
    osub = p.add_subparsers(dest="outbox_cmd", required=True, metavar="ACTION")
    q = osub.add_parser("list", parents=[*parents, listing], help="outbox rows, newest first")
    q.add_argument("--state", choices=["pending", "sent", "failed"])
    q = osub.add_parser("retry", parents=parents,
                        help="deliver a failed (or waiting) row again, now")
    q.add_argument("id", type=cliargs.row_id("an outbox id"),
                   help="outbox row id, as `outbox list` shows it")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=func)
