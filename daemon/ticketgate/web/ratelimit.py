"""Failed logins, counted per staff address and per client, within a sliding window.

Only failures count; once either count reaches its limit, logins from that client, or for
that address, are refused (429) until the oldest failure leaves the window, whatever the
password. In memory, per process: a restart forgets, which costs an attacker a restart of
ours and nothing else.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from ..websettings import LoginLimits

MAX_KEYS = 100_000  # beyond this the oldest keys are forgotten (memory stays bounded)


class LoginLimiter:
    def __init__(self, limits: LoginLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.limits.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def wait(self, address: str, client: str) -> float:
        """Seconds until a login for `address` from `client` may be tried; 0: now."""
        now = self.clock()
        with self._lock:
            waits = [0.0]
            for key, limit in ((f"a:{address.lower()}", self.limits.per_address),
                               (f"c:{client}", self.limits.per_client)):
                times = self._recent(key, now)
                if len(times) >= limit:
                    waits.append(times[len(times) - limit] + self.limits.window - now)
            return max(waits)

    def failed(self, address: str, client: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (f"a:{address.lower()}", f"c:{client}"):
                self._failures.setdefault(key, deque()).append(now)
            while len(self._failures) > MAX_KEYS:
                del self._failures[next(iter(self._failures))]
