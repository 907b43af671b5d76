"""`ticketgate stats [--json]`: how much is where, for admins and monitoring scripts.

Spool rows by state with the oldest unprocessed row's age, tickets by queue, status and flag,
outbox rows by state with the oldest pending row; the counts come from the store
(store/counts.py, which says what each costs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from . import exits
from .cliformat import outbox_ref, spool_ref

if TYPE_CHECKING:  # the parser is built on every `ticketgate` run: keep its imports light
    from .config import Settings
    from .store import StoreView

SPOOL_STATES = ("new", "done", "held")
OUTBOX_STATES = ("pending", "sent", "failed")


def collect(view: StoreView, now: float | None = None) -> dict[str, Any]:
    """Every count, as one JSON-ready mapping (all known states present, zero if empty)."""
    now = time.time() if now is None else now
    spool: dict[str, Any] = dict.fromkeys(SPOOL_STATES, 0)
    spool.update(view.spool_counts())
    oldest = view.oldest_new_delivery()
    spool["oldest_new"] = (
        {"id": oldest[0], "age": round(now - oldest[1], 3)} if oldest else None
    )
    by_queue: dict[str, int] = {}
    by_status: dict[str, int] = {}
    total = 0
    for queue, status, count in view.ticket_counts():
        by_queue[queue] = by_queue.get(queue, 0) + count
        by_status[status] = by_status.get(status, 0) + count
        total += count
    by_flag = view.flag_counts()
    outbox: dict[str, Any] = dict.fromkeys(OUTBOX_STATES, 0)
    outbox.update(view.outbox_counts())
    row = view.oldest_pending_mail()
    outbox["oldest_pending"] = None if row is None else {
        "id": row.id, "age": round(now - row.created_at, 3), "attempts": row.attempts,
        "next_attempt_in": round(max(row.next_attempt_at - now, 0.0), 3),
        "last_error": row.last_error,
    }
    return {
        "spool": spool,
        "tickets": {
            "total": total,
            "by_queue": dict(sorted(by_queue.items())),
            "by_status": dict(sorted(by_status.items())),
            "by_flag": dict(sorted(by_flag.items(), key=lambda kv: (-kv[1], kv[0]))),
        },
        "outbox": outbox,
    }


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "-"


def render(stats: dict[str, Any], out: TextIO = sys.stdout) -> None:
    """The readable form: one line per kind of count."""
    s = stats["spool"]
    oldest = s["oldest_new"]
    waiting = f" (oldest {spool_ref(oldest['id'])}, {_age(oldest['age'])})" if oldest else ""
    out.write(f"spool:    new {s['new']}{waiting}, done {s['done']}, held {s['held']}\n")
    t = stats["tickets"]
    out.write(f"tickets:  {t['total']}\n")
    out.write(f"  by queue:  {_counts(t['by_queue'])}\n")
    out.write(f"  by status: {_counts(t['by_status'])}\n")
    out.write(f"  by flag:   {_counts(t['by_flag'])}\n")
    o = stats["outbox"]
    p = o["oldest_pending"]
    backlog = ""
    if p:
        error = f", last error: {p['last_error'].splitlines()[0][:80]}" if p["last_error"] else ""
        backlog = (f" (oldest {outbox_ref(p['id'])}, {_age(p['age'])}, {p['attempts']} "
                   f"attempts, next in {_age(p['next_attempt_in'])}{error})")
    out.write(f"outbox:   pending {o['pending']}{backlog}, sent {o['sent']}, "
              f"failed {o['failed']}\n")


def add_parser(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
               parents: Sequence[argparse.ArgumentParser],
               func: Callable[[argparse.Namespace], int]) -> None:
    p = sub.add_parser("stats", parents=list(parents),
                       help="counts by spool state, queue, status and flag; the outbox backlog")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=func)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from .store import open_readonly

    view = open_readonly(settings.database)
    try:
        stats = collect(view)
    finally:
        view.close()
    if args.json:
        print(json.dumps(stats, ensure_ascii=False))
    else:
        render(stats)
    return exits.OK
