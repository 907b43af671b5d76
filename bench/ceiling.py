"""The ceiling: an aiosmtpd server that accepts every mail and does nothing with it.

It runs the same protocol stack with the same options as ticketgate's listener (aiosmtpd,
bytes not decoded, SMTPUTF8, the same size limit), so the ratio to it is what ticketgate's
own work costs. It prints `PORT <n>` once listening and serves until SIGTERM or SIGINT.

    python bench/ceiling.py --port 0
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from aiosmtpd.smtp import SMTP, Envelope, Session

SIZE_LIMIT = 25 * 1024 * 1024  # ticketgate's default max_message_size


class Discard:
    """Accept every recipient and every message, keep nothing."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 OK"


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    handler = Discard()

    def factory() -> SMTP:
        # A fixed hostname: without one aiosmtpd calls getfqdn() for every connection.
        return SMTP(handler, data_size_limit=SIZE_LIMIT, enable_SMTPUTF8=True,
                    decode_data=False, hostname="ceiling.bench.invalid", ident="ceiling",
                    timeout=300, loop=loop)

    server = await loop.create_server(factory, host=host, port=port)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", choices=("127.0.0.1", "::1"))
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
