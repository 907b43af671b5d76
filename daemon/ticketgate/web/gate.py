"""Logged in, or to the login page: the one check before any staff page.

Open without a login: the login page, the language switch and the static files. Anything
else needs a session with a staff address that is still an account under the rules as they
stand (access.py); the viewer goes into the request's scope for the views. A GET without one
is sent to the login page (and back afterwards); any other method is refused 401.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .access import viewer
from .desk import Desk

OPEN = frozenset({"/login", "/language"})


class LoginGate:
    def __init__(self, app: ASGIApp, desk: Desk) -> None:
        self.app = app
        self.desk = desk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        session = scope.get("session", {})
        address = session.get("address")
        who = None
        if isinstance(address, str):
            web = self.desk.settings.web
            who = viewer(self.desk.rules(), web.admins if web else (), address)
            if who is None:  # no account any more: the session ends
                session.clear()
        scope["viewer"] = who
        if who is not None or path in OPEN or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD"):
            target = path + (f"?{scope['query_string'].decode('latin-1')}"
                             if scope.get("query_string") else "")
            answer: Response = RedirectResponse(f"/login?next={quote(target, safe='')}", 303)
        else:
            answer = PlainTextResponse("log in first", 401)
        await answer(scope, receive, send)
