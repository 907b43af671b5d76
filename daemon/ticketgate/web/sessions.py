"""The session: a signed cookie (itsdangerous), no server-side store.

The cookie holds a small JSON object: the staff address and login time once logged in, the
CSRF token, the chosen language. It is signed with the site's web secret (secret.py) and a
salt of its own; a cookie signed with any other key, altered, or older than the session
lifetime reads as no session. HttpOnly, SameSite=Lax (a link from a notification mail still
finds the session; a cross-site POST never carries it), Secure when the request came over
HTTPS (`web.secure_cookies: auto`, the scheme after a trusted proxy's X-Forwarded-Proto) or
always. Logging out clears the cookie; a copied cookie stays valid until it expires, so the
lifetime is short (`web.session_hours`, 12 by default) and replacing the secret logs
everybody out.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "ticketgate_session"
MAX_COOKIE = 3500  # bytes: browsers keep 4 KB a cookie


class Session(dict[str, Any]):
    """The session's data; `modified` once anything is set, so the cookie is sent again."""

    modified = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def clear(self) -> None:
        self.modified = True
        super().clear()

    def pop(self, key: str, *default: Any) -> Any:
        self.modified = True
        return super().pop(key, *default)


class SessionMiddleware:
    def __init__(self, app: ASGIApp, *, secret: bytes, max_age: float,
                 secure: Literal["auto", "always", "never"]) -> None:
        self.app = app
        self.max_age = max_age
        self.secure = secure
        self.serializer = URLSafeTimedSerializer(secret, salt="ticketgate web session",
                                                 serializer=json)

    def load(self, cookie: str | None) -> Session:
        if not cookie or len(cookie) > MAX_COOKIE:
            return Session()
        try:
            data = self.serializer.loads(cookie, max_age=int(self.max_age))
        except (BadSignature, ValueError, TypeError):
            return Session()
        if not isinstance(data, dict):
            return Session()
        if "at" in data and not time.time() - float(data["at"]) < self.max_age:
            return Session()  # a login older than its lifetime, however often re-signed
        return Session(data)

    def cookie(self, session: Session, https: bool) -> str:
        secure = self.secure == "always" or (self.secure == "auto" and https)
        flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        if not session:
            return f"{COOKIE}=; Max-Age=0{flags}"
        value = self.serializer.dumps(dict(session))
        return f"{COOKIE}={value}; Max-Age={int(self.max_age)}{flags}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session = self.load(HTTPConnection(scope).cookies.get(COOKIE))
        scope["session"] = session
        https = scope.get("scheme") == "https"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and session.modified:
                MutableHeaders(scope=message).append("Set-Cookie", self.cookie(session, https))
            await send(message)

        await self.app(scope, receive, send_with_cookie)
