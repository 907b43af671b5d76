"""What every view shares: the settings, the rules as they stand, the store's reads and writer,
the login check and limits, the presence board, and rendering a page."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ..config import Settings
from ..identity import format_code
from ..rules import Rules
from ..store.interface import Reads, Writer
from . import csrf, i18n
from .access import Viewer
from .auth import Checker
from .presence import Presence
from .ratelimit import LoginLimiter

LISTS = ("mine", "unowned", "open", "waiting", "resolved")
ACTIVE = ("new", "open", "waiting")
LIST_STATUSES = {"mine": ACTIVE, "unowned": ACTIVE, "open": ("new", "open"),
                 "waiting": ("waiting",), "resolved": ("resolved", "closed")}


def age(seconds: float) -> str:
    """A short age: 45 min, 5 h, 3 d, 7 w."""
    if seconds < 3600:
        return f"{max(0, int(seconds // 60))} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h"
    if seconds < 14 * 86400:
        return f"{int(seconds // 86400)} d"
    return f"{int(seconds // (7 * 86400))} w"


def when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


@dataclass
class Desk:
    settings: Settings
    rules: Callable[[], Rules]
    reads: Reads
    writer: Writer
    check_password: Checker
    limiter: LoginLimiter
    presence: Presence = field(default_factory=Presence)
    actions: bool = False  # the staff actions (issue 15) are wired: show their forms
    env: Environment = field(default_factory=lambda: Environment(
        loader=PackageLoader("ticketgate.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True, lstrip_blocks=True))

    def code(self, number: int) -> str:
        return format_code(number, self.settings.ticket_tag)

    def counts(self, viewer: Viewer, queue: str | None = None) -> dict[str, int]:
        """Tickets in each list, for the viewer's queues (or one of them)."""
        queues = {queue} if queue else set(viewer.queues)
        out = dict.fromkeys(LISTS, 0)
        for q, status, owner, n in self.reads.ticket_tally():
            if q not in queues:
                continue
            for name in LISTS:
                if status not in LIST_STATUSES[name]:
                    continue
                if (name == "mine" and owner != viewer.address) or (
                        name == "unowned" and owner is not None):
                    continue
                out[name] += n
        return out

    def page(self, request: Request, template: str, context: dict[str, Any],
             status: int = 200) -> HTMLResponse:
        session = request.scope.get("session", {})
        language = language_of(request)
        viewer: Viewer | None = request.scope.get("viewer")
        values = {
            "t": i18n.translator(language), "lang": language, "viewer": viewer,
            "csrf": csrf.token(session), "path": request.url.path,
            "query": request.url.query, "code": self.code, "age": age, "when": when,
            "now": time.time(), "flag_label": i18n.flag_label, "actions": self.actions,
            "nav": self.counts(viewer) if viewer else None, "lists": LISTS,
            **context,
        }
        html = self.env.get_template(template).render(values)
        return HTMLResponse(html, status)


def language_of(request: Request) -> str:
    chosen = request.scope.get("session", {}).get("lang")
    if chosen in i18n.LANGUAGES:
        return str(chosen)
    return i18n.negotiate(request.headers.get("accept-language"))
