"""Search: a ticket code goes straight to its ticket; an address lists the requester's
tickets; any words search the messages (store.search_messages: subject, sender, text; bm25),
each hit with its snippet: escaped first, then the matches marked."""

from __future__ import annotations

import re

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ...store.records import MARK_END, MARK_START, DeskTicket
from ..access import Viewer
from ..desk import Desk

LIMIT = 30
MAX_QUERY = 200
_MARKED = re.compile(re.escape(str(escape(MARK_START))) + "(.*?)" + re.escape(
    str(escape(MARK_END))), re.S)


def parse_code(text: str, tag: str) -> int | None:
    """`[DDG #12]`, `DDG #12`, `#12` or `12` (any case and spacing): the number."""
    m = re.fullmatch(r"\s*\[?\s*(?:" + re.escape(tag) + r")?\s*#?\s*(\d{1,18})\s*\]?\s*", text,
                     re.IGNORECASE)
    return int(m.group(1)) if m else None


def highlight(snippet: str) -> Markup:
    """The snippet escaped, then each match in <mark>; stray markers dropped."""
    escaped = str(escape(snippet))
    marked = _MARKED.sub(lambda m: f"<mark>{m.group(1)}</mark>", escaped)
    return Markup(marked.replace(MARK_START, "").replace(MARK_END, ""))


def show(desk: Desk, request: Request) -> Response:
    who: Viewer = request.scope["viewer"]
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    if not query:
        return desk.page(request, "search.html", {"q": "", "hits": [], "tickets": []})
    number = parse_code(query, desk.settings.ticket_tag)
    if number is not None and ("#" in query or query.isdigit()):
        ticket = desk.reads.desk_ticket(number)
        if ticket is not None and who.sees(ticket.queue):
            return RedirectResponse(f"/ticket/{number}", 303)
    tickets: list[DeskTicket] = []
    if "@" in query and " " not in query:  # an address: the requester's tickets, exactly
        tickets = desk.reads.tickets_of_requester(query.lower(), queues=who.queues, limit=LIMIT)
        return desk.page(request, "search.html", {"q": query, "hits": [], "tickets": tickets})
    hits = []
    for hit in desk.reads.search_messages(query, queues=who.queues, limit=LIMIT):
        ticket = desk.reads.desk_ticket(hit.ticket_id)
        if ticket is not None and who.sees(ticket.queue):
            hits.append((ticket, highlight(hit.snippet)))
    return desk.page(request, "search.html", {"q": query, "hits": hits, "tickets": tickets})
