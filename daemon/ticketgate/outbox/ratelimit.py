"""The per-recipient rate limit: at most N mails per hour and per day to one address.

Counted in the store, over every outbox row to the address (acknowledgements and
notifications alike, whatever their state), inside the writer's transaction (one range scan
of the `outbox_rcpt` index). Counting rows rather than keeping counters in memory makes the
limit hold across restarts and for every process that writes to the outbox.
"""

from __future__ import annotations

from ..store import Transaction

HOUR = 3600.0
DAY = 24 * HOUR


def counts(tx: Transaction, rcpt: str, now: float) -> tuple[int, int]:
    """(mails in the last hour, mails in the last day) queued for `rcpt`."""
    return tx.mails_to(rcpt, hour_from=now - HOUR, day_from=now - DAY)


def refusal(
    tx: Transaction, rcpt: str, now: float, *, per_hour: int, per_day: int
) -> str | None:
    """Why one more mail to `rcpt` would exceed the limit, or None when it may be sent."""
    hour, day = counts(tx, rcpt, now)
    if hour >= per_hour:
        return f"rate limit: {hour} mail(s) to {rcpt} in the last hour (per_hour {per_hour})"
    if day >= per_day:
        return f"rate limit: {day} mail(s) to {rcpt} in the last day (per_day {per_day})"
    return None
