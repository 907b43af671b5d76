"""The lists: Mine, Unowned, Open, Waiting, Resolved; of all the viewer's queues or one;
newest or oldest first; a page at a time (`after`: the last number of the page before)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..access import Viewer
from ..desk import LIST_STATUSES, LISTS, Desk

PAGE = 50


def home(desk: Desk, request: Request) -> Response:
    return RedirectResponse("/tickets/mine", 303)


def show(desk: Desk, request: Request) -> Response:
    name = request.path_params["list"]
    who: Viewer = request.scope["viewer"]
    if name not in LISTS:
        raise HTTPException(404)
    queue = request.query_params.get("queue") or None
    if queue is not None and not who.sees(queue):
        raise HTTPException(404)
    oldest = request.query_params.get("order") == "oldest"
    after_text = request.query_params.get("after", "")
    after = int(after_text) if after_text.isdigit() and len(after_text) < 19 else None
    queues = [queue] if queue else list(who.queues)
    tickets = desk.reads.ticket_list(
        queues=queues, statuses=LIST_STATUSES[name],
        owner=who.address if name == "mine" else None, unowned=name == "unowned",
        oldest_first=oldest, after=after, limit=PAGE + 1)
    more = len(tickets) > PAGE
    tickets = tickets[:PAGE]
    names = {q: desk.rules().queues[q].display_name for q in who.queues
             if q in desk.rules().queues}
    return desk.page(request, "list.html", {
        "list": name, "tickets": tickets, "queue": queue, "queue_names": names,
        "oldest": oldest, "more": tickets[-1].id if more and tickets else None,
        "counts": desk.counts(who, queue),
    })
