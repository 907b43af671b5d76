"""The desk as an ASGI application: the routes table and the middleware around it.

Outermost first: security headers on every answer, the signed session, the CSRF check of
every POST, the login gate; then the routes. Views are plain functions of (desk, request);
those that read the store are synchronous and run in Starlette's worker threads.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import secret
from .csrf import CsrfMiddleware
from .desk import Desk
from .gate import LoginGate
from .headers import SecurityHeaders
from .sessions import SessionMiddleware
from .views import dashboard, downloads, lists, login, search, ticket

View = Callable[[Desk, Request], Any]


def _bind(desk: Desk, view: View) -> Callable[[Request], Any]:
    if inspect.iscoroutinefunction(view):
        async def endpoint(request: Request) -> Response:
            answer: Response = await view(desk, request)
            return answer
        return endpoint

    def sync_endpoint(request: Request) -> Response:
        answer: Response = view(desk, request)
        return answer
    return sync_endpoint


def routes(desk: Desk) -> list[Route | Mount]:
    def route(path: str, view: View, methods: tuple[str, ...] = ("GET",)) -> Route:
        return Route(path, _bind(desk, view), methods=list(methods))

    return [
        route("/", lists.home),
        route("/login", login.show),
        route("/login", login.submit, ("POST",)),
        route("/logout", login.logout, ("POST",)),
        route("/language", login.language, ("POST",)),
        route("/tickets/{list}", lists.show),
        route("/ticket/{number}", ticket.show),
        route("/ticket/{number}/presence", ticket.presence, ("POST",)),
        route("/ticket/{number}/message/{row}/raw", downloads.raw),
        route("/ticket/{number}/message/{row}/part/{index}", downloads.part),
        route("/search", search.show),
        route("/dashboard", dashboard.show),
        Mount("/static", StaticFiles(packages=[("ticketgate.web", "static")]), name="static"),
    ]


def create_app(desk: Desk) -> Starlette:
    web = desk.settings.web
    assert web is not None

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if status != 404:  # 405 and the like: Starlette's own words suffice
            return PlainTextResponse(str(getattr(exc, "detail", "")), status)
        page: Response = await run_in_threadpool(desk.page, request, "not_found.html", {}, 404)
        return page

    return Starlette(
        routes=routes(desk),
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(SessionMiddleware, secret=secret.load(web.secret_file),
                       max_age=web.session_hours * 3600, secure=web.secure_cookies),
            Middleware(CsrfMiddleware),
            Middleware(LoginGate, desk=desk),
        ],
        exception_handlers={HTTPException: not_found},
    )


def desk_for(settings: Any, rules: Callable[[], Any], reads: Any, writer: Any) -> Desk:
    """A desk on these settings, rules and store, with the login check they ask for."""
    from .auth import checker
    from .ratelimit import LoginLimiter

    assert settings.web is not None
    return Desk(settings, rules, reads, writer, checker(settings),
                LoginLimiter(settings.web.login))
