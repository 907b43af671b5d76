"""The outbox: acknowledgements and queue notifications, rendered, stored and delivered.

- `compose`: the after-apply hook that decides what to send (or why not) and queues it in the
  ticket's own transaction;
- `render`, `headers`: Jinja2 templates to text, text to a mail with safe headers;
- `policy`, `ratelimit`: who may never be written to, and how often anyone may;
- `rows`: the SQL of the `outbox` table;
- `transport`, `worker`: delivery to a Maildir or an SMTP smarthost, with retries;
- `commands`: `ticketgate outbox list|retry`;
- `ids`: the shape of our Message-IDs and the loop header, for recognising our own mail.

Only `ids` is imported here, so other parts (the automail stage) can use it cheaply.
"""

from __future__ import annotations

from .ids import LOOP_HEADER, is_our_message_id, ticket_of_reference, ticket_reference

__all__ = ["LOOP_HEADER", "is_our_message_id", "ticket_of_reference", "ticket_reference"]
