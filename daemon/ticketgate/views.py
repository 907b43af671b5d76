"""Read-only commands: list and show tickets and spool rows, as text (cliformat's style) or
JSON."""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Any, Literal, TextIO

from .cliformat import cell, spool_ref, table
from .cliformat import clean as _clean
from .identity import format_code
from .store import StoreView


def parse_code(text: str, tag: str) -> int | None:
    """Accept `DDG #12`, `[DDG #12]`, `#12` or `12` (any case and spacing)."""
    m = re.fullmatch(
        r"\s*\[?\s*(?:" + re.escape(tag) + r")?\s*#?\s*(\d{1,18})\s*\]?\s*", text, re.IGNORECASE
    )
    return int(m.group(1)) if m else None


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


# What the staff side will move tickets through; `--status` also takes any status in use.
TICKET_STATUSES = ("new", "open", "waiting", "resolved")


def values_in_use(view: StoreView, column: Literal["queue", "status"]) -> set[str]:
    """The queues (or statuses) some ticket has: an index read, not a table scan."""
    return view.ticket_values_in_use(column)


def list_tickets(
    view: StoreView, *, tag: str, queue: str | None, status: str | None, limit: int,
    as_json: bool, out: TextIO = sys.stdout,
) -> None:
    rows = view.tickets(queue=queue, status=status, limit=limit)
    if as_json:
        for t in rows:
            out.write(json.dumps({"code": format_code(t.id, tag), **t.__dict__},
                                 ensure_ascii=False) + "\n")
        return
    table(("TICKET", "QUEUE", "STATUS", "CREATED", "REQUESTER", "FLAGS", "SUBJECT"),
          [(format_code(t.id, tag), t.queue, t.status, _when(t.created_at),
            cell(t.requester, 40), ",".join(t.flags) or "-", cell(t.subject, 70))
           for t in rows], out)


def ticket_history(view: StoreView, number: int) -> dict[str, Any] | None:
    """The ticket with its messages and events, oldest first."""
    ticket = view.ticket(number)
    if ticket is None:
        return None
    messages = [
        {"id": m.id, "direction": m.direction, "message_id": m.message_id,
         "from": m.from_address, "to": list(m.to_addresses), "subject": m.subject,
         "text": m.text, "verdict": m.verdict, "spool_id": m.spool_id,
         "created_at": m.created_at}
        for m in view.messages_of(number)
    ]
    events = [
        {"id": e.id, "at": e.at, "kind": e.kind, "detail": e.detail, "spool_id": e.spool_id}
        for e in view.events_of(number)
    ]
    participants = view.participants(number)
    person, lookup = view.person_of(number)
    return {"ticket": ticket.__dict__, "person": person,
            "person_lookup": lookup, "participants": participants, "messages": messages,
            "events": events}


def show_ticket(history: dict[str, Any], *, tag: str, out: TextIO = sys.stdout) -> None:
    t = history["ticket"]
    out.write(f"{format_code(t['id'], tag)} {_clean(t['subject'])}\n")
    out.write(f"  queue: {t['queue']}   status: {t['status']}   requester: {t['requester']}\n")
    person = _person(history.get("person"), history.get("person_lookup"))
    if person:
        out.write(f"  person: {_clean(person)}\n")
    if t["flags"]:
        out.write(f"  flags: {', '.join(t['flags'])}\n")
    if t["linked_to"]:
        out.write(f"  linked to: {format_code(t['linked_to'], tag)}\n")
    out.write(f"  created: {_when(t['created_at'])}   updated: {_when(t['updated_at'])}\n")
    people = ", ".join(f"{a} ({r})" for a, r in sorted(history["participants"].items()))
    out.write(f"  participants: {people}\n\n")
    timeline: list[tuple[float, int, str]] = []
    for m in history["messages"]:
        arrow = "<-" if m["direction"] == "in" else "->"
        body = "\n".join("    " + line for line in _clean(m["text"]).splitlines()) or "    "
        timeline.append((m["created_at"], 0,
                         f"{_when(m['created_at'])} {arrow} message from {m['from']}\n"
                         f"    Subject: {_clean(m['subject'])}\n"
                         f"    Message-ID: <{m['message_id']}>\n"
                         f"{_verdict(m['verdict'])}\n{body}\n"))
    for e in history["events"]:
        detail = ", ".join(f"{k}={v}" for k, v in e["detail"].items())
        timeline.append((e["at"], 1, f"{_when(e['at'])} event {e['kind']}  {_clean(detail)}\n"))
    for _, _, text in sorted(timeline, key=lambda x: (x[0], x[1])):
        out.write(text + "\n")


def _person(person: dict[str, str] | None, lookup: str | None) -> str:
    """The requester as the directory knows them, on one line ('' when never looked up)."""
    if person:
        who = f"{person.get('name')} ({person.get('username')})" if person.get("name") else (
            person.get("username", ""))
        rest = [person.get(k, "") for k in ("affiliation", "department", "phone", "email")]
        return ", ".join(p for p in (who, *rest) if p)
    return {"unknown": "not in the directory",
            "pending": "directory lookup pending (the directory did not answer)"}.get(
        lookup or "", "")


def _verdict(verdict: dict[str, Any]) -> str:
    """How the pipeline judged a message: one line per stage decision."""
    lines = [f"    [{stage}] {_clean(note)}" for stage, note in verdict.get("notes", [])]
    if not lines:  # our own outgoing mail has no verdict
        return ""
    return "    Verdict:\n" + "\n".join("  " + line for line in lines) + "\n"


def list_spool(view: StoreView, *, state: str | None, limit: int, as_json: bool,
               out: TextIO = sys.stdout) -> None:
    items = []
    for entry in view.spool_listing(state=state, limit=limit):
        item = {**entry.__dict__, "rcpt_to": list(entry.rcpt_to)}
        if as_json:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
        items.append(item)
    if as_json:
        return
    table(("ID", "STATE", "RECEIVED", "SIZE", "FROM", "TO", "REASON"),
          [(spool_ref(i["id"]), i["state"], _when(i["received_at"]), str(i["size"]),
            f"<{cell(i['mail_from'], 40)}>", cell(", ".join(i["rcpt_to"]), 60),
            cell(i["error"].splitlines()[0], 100) if i["error"] else "-")
           for i in items], out)
