"""The after-apply hook: render what the pipeline decided to send about a ticket, and queue it.

It runs in the writer's transaction, right after the ticket and its message are written, so
a ticket and its acknowledgement commit together or not at all. For each mail it writes an
outbox row (delivered later by the outbox worker), an outgoing `messages` row with our
Message-ID (so a reply that keeps only In-Reply-To threads into the ticket) and an event.
Whatever is not sent, and why, is an event on the ticket too.

- Acknowledgement: decided by the pipeline's decide stage (the verdict says planned, with the
  template and the address, or suppressed with the reason); this hook renders and queues it,
  and holds it back only for the per-address rate limit, which depends on what was sent.
- Notification: to the queue's staff and the route's `notify` addresses, for a new ticket and
  each follow-up, except to the author of the message. A ticket opened by automatic mail (an
  auto-reply, list or bulk mail) is no new request: only the route's `notify` addresses hear
  of it. Staff addresses are the admin's, so
  they are not rate-limited; they are still never one of our own addresses.

A template that fails to render costs the mail, never the ticket: the failure is an event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jinja2
import structlog

from ..addresses import canonical
from ..config import Settings
from ..identity import (
    FLAGS,
    NOTIFICATION_TEMPLATE,
    code_pattern,
    find_code,
    format_code,
    requester_of,
    site_tags,
    ticket_reference,
)
from ..identity import new_message_id as make_id
from ..recipients import Own
from ..rules import Queue, Rules
from ..store import DatabaseError, Transaction
from ..store.tickets import Applied
from ..verdict import Message
from . import ratelimit
from .headers import MAX_SUBJECT, mailbox, msg_id, one_line, references
from .render import Outgoing, Templates, build

log = structlog.get_logger("ticketgate.outbox")

MAX_NOTIFIED_TEXT = 20_000  # characters of the new text quoted to staff


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Composer:
    """The AfterApply hook (see the module docstring); `rules` returns the current rules."""

    settings: Settings
    rules: Callable[[], Rules]
    templates: Templates
    on_queued: Callable[[], None] = _nothing  # called once per apply that queued mail
    clock: Callable[[], float] = field(default=time.time)

    def __call__(self, conn: Transaction, message: Message, applied: Applied) -> None:
        # This runs in the writer's thread: name the message in its log lines there too.
        tag = self.settings.ticket_tag
        code = format_code(applied.ticket_id, tag) if applied.ticket_id is not None else None
        with structlog.contextvars.bound_contextvars(
            spool_id=message.envelope.spool_id, message_id=message.message_id, ticket=code
        ):
            self._compose(conn, message, applied)

    def _compose(self, conn: Transaction, message: Message, applied: Applied) -> None:
        if applied.skipped or applied.ticket_id is None:
            return
        if applied.action not in ("new_ticket", "followup"):
            return
        # A savepoint of our own: a failure here must not cost the ticket written before us.
        try:
            with conn.savepoint("outbox_compose"):
                queued = _Job(self, conn, message, applied.ticket_id).run()
        except DatabaseError:
            raise  # the store itself is in trouble: let the writer report it
        except Exception as exc:
            log.exception("outbox_compose_failed")
            conn.add_event(applied.ticket_id, "outbox_error",
                           {"error": f"{type(exc).__name__}: {exc}"[:500]},
                           spool_id=message.envelope.spool_id)
            return
        if queued:
            self.on_queued()


class _Job:
    """One apply's worth of composing: the shared facts, and the two kinds of mail."""

    def __init__(self, composer: Composer, conn: Transaction, message: Message,
                 ticket_id: int) -> None:
        self.c = composer
        self.conn = conn
        self.message = message
        self.ticket_id = ticket_id
        self.settings = composer.settings
        self.now = composer.clock()
        self.rules = composer.rules()
        verdict = message.verdict
        queue_name = verdict.queue
        if not queue_name:  # the verdict names it for every apply that gets here, but be sure
            queue_name = conn.queue_of(ticket_id)
        self.queue: Queue | None = self.rules.queues.get(queue_name) if queue_name else None
        self.own = Own(frozenset(self.rules.function_addresses), self.settings.instance)
        mail = message.parsed
        self.author = requester_of(message)
        self.author_name = mail.sender.name if mail.sender else ""
        self.code = format_code(ticket_id, self.settings.ticket_tag)
        self.queued = 0
        self.ack_status = ""

    # -- shared (each the same for every mail of the job: computed once) ------------------

    @cached_property
    def function_address(self) -> str:
        assert self.queue is not None
        for address in self.message.verdict.function_addresses:
            if canonical(address) in self.queue.addresses:
                return canonical(address)
        return self.queue.addresses[0]

    @cached_property
    def subject(self) -> str:
        original = one_line(self.message.parsed.subject, MAX_SUBJECT)
        tags = site_tags(self.settings)
        if find_code(original, tags) == self.ticket_id:
            return original  # a reply that kept the code: keep its subject as it is
        rest = one_line(code_pattern(tags).sub(" ", original), MAX_SUBJECT)
        return f"{self.code} {rest}".strip()

    @cached_property
    def threading(self) -> tuple[str | None, tuple[str, ...]]:
        mail = self.message.parsed
        parent = mail.message_id  # None when the mail had none: we do not cite a derived one
        chain = [ticket_reference(self.ticket_id, self.settings.instance), *mail.references]
        if parent:
            chain.append(parent)
        return (msg_id(parent) if parent else None), tuple(references(chain))

    def event(self, kind: str, detail: dict[str, Any]) -> None:
        self.conn.add_event(self.ticket_id, kind, detail,
                            spool_id=self.message.envelope.spool_id, at=self.now)

    def queue_mail(self, kind: str, mail: Outgoing, rcpt: str, template: str) -> int:
        raw = build(mail, now=self.now)
        outbox_id = self.conn.queue_mail(ticket_id=self.ticket_id, kind=kind,
                                         message_id=mail.message_id, rcpt_to=rcpt, raw=raw,
                                         now=self.now)
        self.conn.add_message(
            ticket_id=self.ticket_id, direction="out", message_id=mail.message_id,
            from_address=mail.sender.addr_spec, to_addresses=[rcpt], subject=mail.subject,
            text=mail.body, verdict={"outbox": kind, "template": template},
            outbox_id=outbox_id, now=self.now,
        )
        self.queued += 1
        return outbox_id

    def run(self) -> int:
        if self.queue is None:
            self.event("outbox_error", {"error": f"no queue {self.message.verdict.queue!r}"})
            return 0
        self.acknowledge()
        self.notify()
        return self.queued

    # -- acknowledgement -------------------------------------------------------------------

    def acknowledge(self) -> None:
        verdict = self.message.verdict
        template, rcpt = verdict.acknowledgement, verdict.acknowledgement_to
        if template is None or rcpt is None:  # decided: suppressed (an event unless quiet)
            if verdict.acknowledgement_suppressed and not verdict.acknowledgement_quiet:
                self.suppress("acknowledgement", self.author, verdict.acknowledgement_suppressed)
            return
        acks = self.settings.acknowledgements
        why = ratelimit.refusal(self.conn, rcpt, self.now, per_hour=acks.per_hour,
                                per_day=acks.per_day)
        if why is not None:
            self.suppress("acknowledgement", rcpt, why)
            return
        to = mailbox(rcpt, self.author_name)
        if to is None:  # the decide stage found the address answerable; the name spoilt it
            self.failed("acknowledgement", rcpt, f"cannot write a To header for {rcpt[:100]!r}")
            return
        context = self.context(template=template)
        try:
            body, languages = self.c.templates.render_languages(template, acks.languages,
                                                                context)
        except jinja2.TemplateError as exc:
            self.template_failed("acknowledgement", rcpt, template, exc)
            return
        in_reply_to, refs = self.threading
        assert self.queue is not None
        sender = mailbox(self.function_address, self.queue.display_name)
        assert sender is not None
        mail = Outgoing(
            message_id=make_id(self.ticket_id, "acknowledgement", self.settings.instance),
            sender=sender, to=to, subject=self.subject, body=body,
            instance=self.settings.instance, auto_submitted="auto-replied",
            in_reply_to=in_reply_to, references=refs,
            languages=tuple(languages),
        )
        outbox_id = self.queue_mail("acknowledgement", mail, rcpt, template)
        self.ack_status = "queued"
        self.event("acknowledgement_queued", {
            "to": rcpt, "outbox_id": outbox_id, "message_id": mail.message_id,
            "template": template, "flags": list(verdict.flags),
        })

    def suppress(self, kind: str, rcpt: str, why: str) -> None:
        if kind == "acknowledgement":
            self.ack_status = f"not sent: {why}"
        log.info(f"{kind}_suppressed", to=rcpt, reason=why)
        self.event(f"{kind}_suppressed", {"to": rcpt, "reason": why})

    def template_failed(self, kind: str, rcpt: str, template: str, exc: Exception) -> None:
        why = f"template {template!r} failed: {type(exc).__name__}: {exc}"[:500]
        log.error(f"{kind}_template_failed", error=why)
        self.failed(kind, rcpt, why)

    def failed(self, kind: str, rcpt: str, why: str) -> None:
        if kind == "acknowledgement":
            self.ack_status = f"not sent: {why}"
        self.event(f"{kind}_failed", {"to": rcpt, "reason": why})

    # -- notification ----------------------------------------------------------------------

    def notify(self) -> None:
        assert self.queue is not None
        verdict = self.message.verdict
        wanted = [*self.queue.staff, *verdict.notify]
        if verdict.action == "new_ticket" and verdict.automail:
            # Automatic mail opens no new request: only the addresses a route names for it
            # (an alarm for the on-call technician, say) hear of it, not the queue's staff.
            wanted = list(verdict.notify)
            quiet = [a for a in self.queue.staff if a.strip().lower() not in
                     {n.strip().lower() for n in wanted}]
            if quiet:
                self.suppress("notification", ", ".join(quiet)[:500],
                              f"automatic mail ({verdict.automail}) is no new request")
        recipients = list(dict.fromkeys(a.strip().lower() for a in wanted if a.strip()))
        recipients = [a for a in recipients if canonical(a) != canonical(self.author)]
        if not recipients:
            return
        languages = self.settings.acknowledgements.languages[:1]  # staff read one language
        try:
            body = self.c.templates.render(NOTIFICATION_TEMPLATE, languages, self.context(
                template=NOTIFICATION_TEMPLATE))
        except jinja2.TemplateError as exc:
            for rcpt in recipients:
                self.template_failed("notification", rcpt, NOTIFICATION_TEMPLATE, exc)
            return
        in_reply_to, refs = self.threading
        function = self.function_address
        via = f"{self.author_name or self.author} via {self.queue.display_name}"
        sender = mailbox(function, via)
        reply_to = mailbox(function, self.queue.display_name)
        assert sender is not None and reply_to is not None
        for rcpt in recipients:
            to = mailbox(rcpt)
            if rcpt in self.own or to is None:
                why = "our own address" if to is not None else "not an address we can send to"
                self.suppress("notification", rcpt, why)
                continue
            mail = Outgoing(
                message_id=make_id(self.ticket_id, "notification", self.settings.instance),
                sender=sender, to=to, reply_to=reply_to, subject=self.subject, body=body,
                instance=self.settings.instance, auto_submitted="auto-generated",
                in_reply_to=in_reply_to, references=refs, languages=tuple(languages),
            )
            outbox_id = self.queue_mail("notification", mail, rcpt, NOTIFICATION_TEMPLATE)
            self.event("notification_queued", {"to": rcpt, "outbox_id": outbox_id,
                                               "message_id": mail.message_id})

    # -- template context ------------------------------------------------------------------

    def context(self, *, template: str) -> dict[str, Any]:
        """What templates may use; documented in templates/README.md."""
        assert self.queue is not None
        message, verdict = self.message, self.message.verdict
        mail = message.parsed
        tag = self.settings.ticket_tag
        named = verdict.ticket_code
        if verdict.action == "followup":
            event = "correspondence" if verdict.staff_reply else "followup"
        else:
            event = "new"
        text = mail.new_text.strip() or mail.text.strip()
        return {
            "template": template,
            "code": self.code,
            "number": self.ticket_id,
            "tag": tag,
            "event": event,
            "followup": verdict.action == "followup",
            "subject": one_line(mail.subject, MAX_SUBJECT),
            "queue": self.queue.display_name,
            "queue_name": self.queue.name,
            "function_address": self.function_address,
            "requester_name": one_line(self.author_name, 100),
            "requester_address": self.author,
            "flags": list(verdict.flags),
            "reasons": dict(verdict.reasons),
            "flag_descriptions": FLAGS,  # every flag name, with what it means
            "etiquette": verdict.details_json(),
            "named_code": format_code(named, tag) if named is not None else "",
            "linked_code": format_code(verdict.linked_to, tag) if verdict.linked_to else "",
            "rule": verdict.rule or "",
            "automail": verdict.automail or "",
            "priority": verdict.priority or "",
            "tags": list(verdict.tags),
            "acknowledgement": self.ack_status,
            "text": text[:MAX_NOTIFIED_TEXT],
            "text_truncated": len(text) > MAX_NOTIFIED_TEXT,
            "instance": self.settings.instance,
        }


def composer(
    settings: Settings,
    rules: Callable[[], Rules],
    on_queued: Callable[[], None] = _nothing,
) -> Composer:
    """The hook for ApplyOptions(after=...), with the templates of `settings`."""
    return Composer(settings, rules, Templates(settings.templates_dir), on_queued)
