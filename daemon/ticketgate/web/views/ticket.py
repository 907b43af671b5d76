"""A ticket's page: the thread oldest first, what was sent to whom, the requester as the
directory knows them, the history; who else is writing a reply (presence.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...store.records import DeskTicket, OutboxRow, StoredMessage
from ..access import Viewer
from ..desk import Desk
from ..mailview import MailView, raw_of, view

# Our own mail by outbox kind: what the requester sees (public) and what only staff see.
INTERNAL_KINDS = frozenset({"notification", "note"})
AUTOMATIC_KINDS = frozenset({"acknowledgement", "notification", "resolution"})
EVENT_DETAIL_CHARS = 300


@dataclass(frozen=True)
class ThreadEntry:
    message: StoredMessage
    author: str  # requester, staff, other, us
    automatic: bool
    internal: bool
    outbox: OutboxRow | None
    mail: MailView


def ticket_for(desk: Desk, request: Request) -> DeskTicket:
    """The ticket of the path, if the viewer may see it; 404 otherwise (and when there is
    no such ticket: the two look the same)."""
    text = str(request.path_params["number"])
    who: Viewer = request.scope["viewer"]
    ticket = desk.reads.desk_ticket(int(text)) if text.isdigit() and len(text) < 19 else None
    if ticket is None or not who.sees(ticket.queue):
        raise HTTPException(404)
    return ticket


def _entry(desk: Desk, ticket: DeskTicket, message: StoredMessage,
           outbox: dict[int, OutboxRow], staff: frozenset[str]) -> ThreadEntry:
    raw = raw_of(desk.reads, message)
    mail = view(raw) if raw else MailView(None, ())
    if message.direction == "out":
        row = outbox.get(message.outbox_id) if message.outbox_id is not None else None
        kind = row.kind if row else ""
        return ThreadEntry(message, "us", kind in AUTOMATIC_KINDS, kind in INTERNAL_KINDS, row,
                           mail)
    verdict = message.verdict
    author = ("staff" if verdict.get("staff_reply") or message.from_address in staff
              else "requester" if message.from_address == ticket.requester else "other")
    return ThreadEntry(message, author, bool(verdict.get("automail")), False, None, mail)


def show(desk: Desk, request: Request) -> Response:
    ticket = ticket_for(desk, request)
    who: Viewer = request.scope["viewer"]
    queue = desk.rules().queues.get(ticket.queue)
    staff = frozenset(queue.staff) if queue else frozenset()
    sent = desk.reads.outbox_of(ticket.id)
    by_id = {row.id: row for row in sent}
    thread = [_entry(desk, ticket, m, by_id, staff) for m in desk.reads.messages_of(ticket.id)]
    events = [(e, json.dumps(e.detail, ensure_ascii=False)[:EVENT_DETAIL_CHARS])
              for e in desk.reads.events_of(ticket.id)]
    person, lookup = desk.reads.person_of(ticket.id)
    others = [t for t in desk.reads.tickets_of_requester(ticket.requester, queues=who.queues,
                                                         limit=11) if t.id != ticket.id][:10]
    return desk.page(request, "ticket.html", {
        "ticket": ticket, "thread": thread, "sent": sent, "events": events,
        "person": person, "lookup": lookup, "participants": desk.reads.participants(ticket.id),
        "other_tickets": others, "writing": desk.presence.others(ticket.id, who.address),
        "queue_name": queue.display_name if queue else ticket.queue,
    })


async def presence(desk: Desk, request: Request) -> Response:
    """The reply form's heartbeat (a POST with the CSRF token): `state` open (writing),
    closed (stopped) or ask (only asking); answers who else is writing."""
    ticket = await run_in_threadpool(ticket_for, desk, request)
    who: Viewer = request.scope["viewer"]
    state = (await request.form()).get("state")
    if state in ("open", "closed"):
        desk.presence.beat(ticket.id, who.address, closing=state == "closed")
    return JSONResponse({"others": desk.presence.others(ticket.id, who.address)})
