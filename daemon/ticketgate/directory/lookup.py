"""Bounded, cached lookups: what the pipeline calls instead of a backend.

A mail must never wait long for the directory. Every uncached lookup runs under a deadline
(the backend's timeout); a failure opens a circuit for `retry_after` seconds, during which
lookups answer "unavailable" at once, so a dead LDAP server costs at most one timeout per
interval. Answers (found and not found) are cached; "unavailable" never is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import structlog

from .cache import TTLCache
from .model import Directory, DirectoryUnavailable, Person

log = structlog.get_logger("ticketgate.directory")

Outcome = Literal["found", "unknown", "unavailable"]
By = Literal["address", "username"]


@dataclass(frozen=True)
class Answer:
    """What one lookup gave: the person, nobody, or no answer now (with why)."""

    outcome: Outcome
    by: By
    key: str
    person: Person | None = None
    detail: str = ""
    cached: bool = False


class Lookup:
    """A directory behind a cache, a deadline and a circuit breaker; safe to share by threads."""

    def __init__(
        self,
        directory: Directory,
        *,
        retry_after: float = 60.0,
        ttl: float = 3600.0,
        negative_ttl: float = 600.0,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.retry_after = retry_after
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._clock = clock
        self._cache: TTLCache[tuple[By, str], Person | None] = TTLCache(size, clock=clock)
        self._lock = threading.Lock()
        self._open_until = 0.0  # the circuit: no lookups before this time
        self._last_error = ""

    @property
    def description(self) -> str:
        return self.directory.description

    def available(self) -> bool:
        """False while the circuit is open after a failure."""
        with self._lock:
            return self._clock() >= self._open_until

    def by_address(self, address: str) -> Answer:
        """Look up the person with this mail address (compared in lower case)."""
        return self._lookup("address", address.strip().lower())

    def by_username(self, username: str) -> Answer:
        """Look up the person with this username (compared in lower case)."""
        return self._lookup("username", username.strip().lower())

    def close(self) -> None:
        self.directory.close()

    def _lookup(self, by: By, key: str) -> Answer:
        hit, cached = self._cache.get((by, key))
        if hit:
            return self._answer(by, key, cached, cached=True)
        with self._lock:
            now = self._clock()
            if now < self._open_until:
                wait = self._open_until - now
                return Answer("unavailable", by, key, detail=(
                    f"{self._last_error} (not asked again for {wait:.0f} s)"))
        try:
            person = self._call(by, key)
        except DirectoryUnavailable as exc:
            error = f"{self.directory.description}: {exc}"
            with self._lock:
                self._open_until = self._clock() + self.retry_after
                self._last_error = error
            log.warning("directory_unavailable", error=error, retry_after=self.retry_after)
            return Answer("unavailable", by, key, detail=error)
        self._cache.put((by, key), person, self.ttl if person else self.negative_ttl)
        return self._answer(by, key, person)

    def _answer(self, by: By, key: str, person: Person | None, *, cached: bool = False) -> Answer:
        if person is None:
            return Answer("unknown", by, key, cached=cached,
                          detail=f"no {by} {key!r} in {self.directory.description}")
        return Answer("found", by, key, person, cached=cached,
                      detail=f"{by} {key!r} in {self.directory.description}")

    def _call(self, by: By, key: str) -> Person | None:
        """The backend's answer, given up on after its timeout (see module docstring)."""
        method = self.directory.by_address if by == "address" else self.directory.by_username
        timeout = self.directory.timeout
        if timeout is None:
            try:
                return method(key)
            except DirectoryUnavailable:
                raise
            except Exception as exc:  # a broken backend must not hold the mail either
                raise DirectoryUnavailable(f"{type(exc).__name__}: {exc}") from exc
        # A daemon thread, so that a call stuck somewhere no timeout reaches (a DNS lookup,
        # say) holds up neither this mail nor the shutdown; the backend serialises its own
        # connection, so a stuck call makes later ones fail fast rather than pile up.
        result: list[Person | None] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                result.append(method(key))
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=run, name="ticketgate-directory", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            raise DirectoryUnavailable(f"no answer within {timeout:g} s")
        if failure:
            error = failure[0]
            if isinstance(error, DirectoryUnavailable):
                raise error
            raise DirectoryUnavailable(f"{type(error).__name__}: {error}") from error
        return result[0]
