"""The outbox: acknowledgements and queue notifications, rendered, stored and delivered.

- `compose`: the after-apply hook that renders what the pipeline decided to send (or records
  why not) and queues it in the ticket's own transaction;
- `render`, `headers`, `wire`: Jinja2 templates to text, text to a mail with safe headers;
- `ratelimit`: how often anyone may be written to (the one thing the outbox still refuses);
- `rows`: the SQL of the `outbox` table;
- `transport`, `worker`: delivery to a Maildir or an SMTP smarthost, with retries;
- `commands`: `ticketgate outbox list|retry`.

Our Message-IDs and the loop header are ticket identity (`ticketgate.identity`); who may be
written to is `ticketgate.recipients`. The outbox imports nothing of the pipeline.
"""
