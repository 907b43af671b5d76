"""The retry job: tickets whose lookup found the directory down are looked up again later.

A thread of the daemon wakes every `retry_after` seconds; while the directory answers it
takes the tickets whose person_lookup is pending, oldest first, looks each requester up again
(by address, and by a username their mail gave) and stores the answer on the ticket with a
`directory_lookup` event (retried). A directory still down ends the round at once.
"""

from __future__ import annotations

import threading
from functools import partial

import structlog

from ..config import Settings
from ..store import Store
from .lookup import Lookup
from .resolve import resolve
from .rows import record

log = structlog.get_logger("ticketgate.directory")

BATCH = 50


def retry_pending(store: Store, settings: Settings, lookup: Lookup, limit: int = BATCH) -> int:
    """One round: look pending tickets up again; returns how many were settled."""
    if not lookup.available():
        return 0
    settled = 0
    domains = settings.pipeline.institutional_domains
    for waiting in store.view.pending_lookups(limit):
        ticket_id = waiting.ticket_id
        found = resolve(lookup, waiting.requester, waiting.username, domains)
        if found is not None and found.outcome == "unavailable":
            break
        if found is None:
            outcome, detail, person, flag = "unknown", "no address or username", None, None
        else:
            person = found.person.to_json() if found.person else None
            outcome, detail, flag = found.outcome, found.detail, found.flag
        store.writer.call(partial(record, ticket_id=ticket_id, outcome=outcome, detail=detail,
                                  person=person, flag=flag, existing=True, retried=True))
        settled += 1
    if settled:
        log.info("directory_retried", tickets=settled)
    return settled


class RetryJob:
    """Runs retry_pending every `interval` seconds in a thread, until stopped."""

    def __init__(self, store: Store, settings: Settings, lookup: Lookup,
                 interval: float | None = None) -> None:
        self.store = store
        self.settings = settings
        self.lookup = lookup
        self.interval = interval if interval is not None else max(
            5.0, settings.directory.retry_after)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ticketgate-directory-retry",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                while retry_pending(self.store, self.settings, self.lookup) == BATCH:
                    if self._stop.is_set():
                        break
            except Exception as exc:  # the database may be briefly unavailable: next round
                log.warning("directory_retry_failed", error=str(exc))
        self.store.view.close()
