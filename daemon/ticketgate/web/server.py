"""Serving the desk with uvicorn: alone (`ticketgate web`) or inside `serve`.

The socket is bound here, so a busy or foreign address is an OSError the caller turns into
exit 75 or 78 (as for SMTP). uvicorn believes X-Forwarded-For and X-Forwarded-Proto only from
`web.trusted_proxies`; its own logs go to structlog's standard logging, access lines off (the
login events say who came in).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import uvicorn
from starlette.applications import Starlette

from ..websettings import WebSettings


def bind(web: WebSettings) -> socket.socket:
    host, port = web.listener.host, web.listener.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    # proto says TCP, and accepted connections inherit it; with proto 0 every answer sent in
    # two writes (headers, then body) waited 40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def server(app: Starlette, web: WebSettings) -> uvicorn.Server:
    config = uvicorn.Config(
        app, proxy_headers=True, forwarded_allow_ips=list(web.trusted_proxies),
        log_config=None, access_log=False, server_header=False, lifespan="off",
        timeout_keep_alive=30, timeout_graceful_shutdown=5, h11_max_incomplete_event_size=65536,
    )
    return uvicorn.Server(config)


class Running:
    """The desk inside another program's event loop (serve): no signal handlers of its own."""

    def __init__(self, app: Starlette, web: WebSettings) -> None:
        self.sock = bind(web)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.server = server(app, web)
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = self.server.config
        if not config.loaded:
            config.load()
        self.server.lifespan = config.lifespan_class(config)
        await self.server.startup(sockets=[self.sock])
        self._loop_task = asyncio.create_task(self.server.main_loop())

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._loop_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            await self.server.shutdown(sockets=[self.sock])
