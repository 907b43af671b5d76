"""Logging in and out, and the language switch.

A login is an event (`staff_login`, or `staff_login_failed` with the reason), written to the
store like every staff action. Failures are counted per address and per client
(ratelimit.py); past the limit the login is refused 429 without checking the password.
"""

from __future__ import annotations

import math
import time
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .. import csrf
from ..access import viewer
from ..auth import Outcome
from ..desk import Desk, language_of
from ..i18n import LANGUAGES, translator

MAX_ADDRESS = 320


def safe_next(target: str | None) -> str:
    """A path on this desk to go back to, never another site (//evil, https://evil)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


def _event(desk: Desk, kind: str, detail: dict[str, object]) -> None:
    desk.writer.call(lambda tx: tx.add_event(None, kind, detail), timeout=10)


def show(desk: Desk, request: Request) -> Response:
    if request.scope.get("viewer") is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), 303)
    return desk.page(request, "login.html", {"next": safe_next(request.query_params.get("next")),
                                             "error": None, "address": ""})


async def submit(desk: Desk, request: Request) -> Response:
    form = await request.form()
    address = str(form.get("address", "")).strip().lower()[:MAX_ADDRESS]
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    return await run_in_threadpool(_login, desk, request, address, password, target)


def _login(desk: Desk, request: Request, address: str, password: str,
           target: str) -> Response:
    t = translator(language_of(request))
    client = _client(request)
    wait = desk.limiter.wait(address, client)
    if wait > 0:
        _event(desk, "staff_login_failed", {"address": address, "client": client,
                                            "reason": "rate_limited"})
        message = t("login_limited", minutes=max(1, math.ceil(wait / 60)))
        return desk.page(request, "login.html", {"next": target, "error": message,
                                                 "address": address}, status=429)
    web = desk.settings.web
    admins = web.admins if web else ()
    account = viewer(desk.rules(), admins, address) is not None
    outcome = desk.check_password(address, password) if account and password else Outcome.WRONG
    if outcome is not Outcome.OK:
        if outcome is Outcome.WRONG:
            desk.limiter.failed(address, client)
        reason = ("directory_unavailable" if outcome is Outcome.UNAVAILABLE
                  else "wrong_password" if account else "no_account")
        _event(desk, "staff_login_failed", {"address": address, "client": client,
                                            "reason": reason})
        message = t("login_unavailable" if outcome is Outcome.UNAVAILABLE else "login_wrong")
        return desk.page(request, "login.html", {"next": target, "error": message,
                                                 "address": address},
                         status=503 if outcome is Outcome.UNAVAILABLE else 401)
    session = request.scope["session"]
    language = session.get("lang")
    session.clear()  # a new session at login: nothing carried over from before it
    session["address"] = address
    session["at"] = time.time()
    csrf.token(session)  # a new token for the new session
    if language in LANGUAGES:
        session["lang"] = language
    _event(desk, "staff_login", {"address": address, "client": client})
    return RedirectResponse(target, 303)


def logout(desk: Desk, request: Request) -> Response:
    viewer_ = request.scope.get("viewer")
    if viewer_ is not None:
        _event(desk, "staff_logout", {"address": viewer_.address})
    request.scope["session"].clear()
    return RedirectResponse("/login", 303)


async def language(desk: Desk, request: Request) -> Response:
    form = await request.form()
    chosen = str(form.get("lang", ""))
    if chosen in LANGUAGES:
        request.scope["session"]["lang"] = chosen
    return RedirectResponse(safe_next(str(form.get("back", "/"))), 303)
