"""Who has a ticket's reply form open: the collision warning.

The ticket page's script posts a heartbeat every HEARTBEAT seconds while its reply form is
open (and a last one with `closing` when it is closed); a staff member counts as writing until
TTL seconds after their last heartbeat. In memory, in the desk's process: one desk process
serves a site (behind its proxy), so everybody's heartbeats meet here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

HEARTBEAT = 10.0
TTL = 25.0


class Presence:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._writing: dict[int, dict[str, float]] = {}
        self._lock = threading.Lock()

    def beat(self, ticket: int, address: str, *, closing: bool = False) -> None:
        with self._lock:
            writers = self._writing.setdefault(ticket, {})
            if closing:
                writers.pop(address, None)
            else:
                writers[address] = self.clock() + TTL
            if not writers:
                del self._writing[ticket]

    def others(self, ticket: int, address: str) -> list[str]:
        """Everybody but `address` writing a reply to `ticket` now, by address."""
        now = self.clock()
        with self._lock:
            writers = self._writing.get(ticket, {})
            for gone in [a for a, until in writers.items() if until <= now]:
                del writers[gone]
            return sorted(a for a in writers if a != address)
