"""Downloads: a message's attachments and its raw bytes. Never shown inline: always
`Content-Disposition: attachment` with a safe content type (application/octet-stream for
attachments, text/plain for the raw mail) and nosniff, so an HTML file named .txt, an SVG or a
PDF never runs in the desk's origin."""

from __future__ import annotations

from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ...store.records import StoredMessage
from ..desk import Desk
from ..mailview import attachment, raw_of
from .ticket import ticket_for


def _download(data: bytes, filename: str, media_type: str) -> Response:
    ascii_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:100]
    disposition = (f'attachment; filename="{ascii_name or "download"}"; '
                   f"filename*=UTF-8''{quote(filename[:200], safe='')}")
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": disposition, "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


def _message(desk: Desk, request: Request) -> tuple[int, StoredMessage, bytes]:
    ticket = ticket_for(desk, request)
    row = str(request.path_params["row"])
    message = next((m for m in desk.reads.messages_of(ticket.id) if str(m.id) == row), None)
    raw = raw_of(desk.reads, message) if message is not None else None
    if message is None or raw is None:
        raise HTTPException(404)
    return ticket.id, message, raw


def raw(desk: Desk, request: Request) -> Response:
    number, message, data = _message(desk, request)
    return _download(data, f"{desk.settings.ticket_tag}-{number}-message-{message.id}.eml.txt",
                     "text/plain; charset=utf-8")


def part(desk: Desk, request: Request) -> Response:
    _, _, data = _message(desk, request)
    index = str(request.path_params["index"])
    found = attachment(data, int(index)) if index.isdigit() and len(index) < 6 else None
    if found is None:
        raise HTTPException(404)
    name, payload = found
    return _download(payload, name, "application/octet-stream")
