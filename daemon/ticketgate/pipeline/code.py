"""Stage `code`: find the ticket this message continues, by its code or by its headers."""

from __future__ import annotations

import re
from functools import cache

from .model import Context, Message

name = "code"
description = "Find a ticket code in the subject, or a Message-ID of ours in the headers."


@cache
def code_pattern(tag: str) -> re.Pattern[str]:
    """`[TAG #123]` in any case and spacing, e.g. `[ddg#123]` or `[ DDG  # 123 ]`."""
    return re.compile(r"\[\s*" + re.escape(tag) + r"\s*#\s*(\d{1,18})\s*\]", re.IGNORECASE)


def find_code(subject: str, tag: str) -> int | None:
    """The number of the first ticket code in `subject`, wherever it stands."""
    match = code_pattern(tag).search(subject)
    return int(match.group(1)) if match else None


def format_code(number: int, tag: str) -> str:
    return f"[{tag} #{number}]"


def process(message: Message, context: Context) -> Message:
    mail = message.parsed
    tag = context.settings.ticket_tag
    verdict = message.verdict
    number = find_code(mail.subject, tag)
    if number is not None:
        if context.view.ticket(number) is not None:
            return message.evolve(
                verdict=verdict.note(
                    name,
                    f"subject names {format_code(number, tag)}: a follow-up",
                    ticket_code=number,
                    followup_of=number,
                    threaded_by="subject",
                )
            )
        verdict = verdict.note(
            name, f"subject names {format_code(number, tag)}, which does not exist",
            ticket_code=number,
        )
    threaded = context.view.ticket_of_message_ids((*mail.references, *mail.in_reply_to))
    if threaded is not None:
        return message.evolve(
            verdict=verdict.note(
                name,
                f"In-Reply-To/References name a message of {format_code(threaded, tag)}",
                followup_of=threaded,
                threaded_by="headers",
            )
        )
    return message.evolve(verdict=verdict.note(name, "no known code or thread: a new ticket"))
