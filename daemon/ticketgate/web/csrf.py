"""Every POST carries the session's CSRF token, checked here, once, before any view runs.

The token is a random value kept in the (signed) session; forms carry it as the field
`csrf`, scripts as the header X-CSRF-Token. A POST without the session's token, with another
one, from a session that has none, or with an Origin other than the desk's own is refused 403
and reaches no view. Bodies are read here (up to MAX_BODY; 413 beyond) and handed on whole.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
FIELD, HEADER = "csrf", "x-csrf-token"
MAX_BODY = 256 * 1024  # a staff reply with room to spare; uploads are not taken


def token(session: dict[str, object]) -> str:
    """The session's token, made on first use (a form is about to carry it)."""
    value = session.get("csrf")
    if not isinstance(value, str):
        value = secrets.token_urlsafe(32)
        session["csrf"] = value
    return value


def _own_origin(scope: Scope, headers: Headers) -> str:
    return f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"


class CsrfMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                await PlainTextResponse("request too large", 413)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        given = headers.get(HEADER, "")
        if not given and headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            given = (parse_qs(body.decode("latin-1")).get(FIELD) or [""])[0]
        expected = scope.get("session", {}).get("csrf")
        origin = headers.get("origin")
        if (not isinstance(expected, str) or not given
                or not hmac.compare_digest(given.encode(), expected.encode())
                or (origin is not None and origin != _own_origin(scope, headers))):
            answer = PlainTextResponse(
                "This form has expired or did not come from the desk: go back, reload the "
                "page and try again.", 403)
            await answer(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
