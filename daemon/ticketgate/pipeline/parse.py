"""Stage `parse`: bytes to a ParsedMail; every message parses to something.

It also judges the From header: one that does not hold exactly one valid address is flagged
`invalid_from`, and such mail is never acknowledged (nobody can say who would get the
answer; a forged or mangled From is how backscatter is aimed at a victim).
"""

from __future__ import annotations

from .. import mail as mailparse
from ..addressform import address_problem
from ..identity import Flag, derived_message_id
from .model import Context, Message

name = "parse"
description = "Parse the raw bytes (flanker, with stdlib fallbacks) and fix the Message-ID."


def from_problem(mail: mailparse.ParsedMail) -> str | None:
    """Why the From header names no one requester, or None when it holds one valid address."""
    if not mail.senders:
        return "no address in From" if mail.header("from") is not None else "no From header"
    if len(mail.senders) > 1:
        shown = ", ".join(m.address[:60] for m in mail.senders[:3])
        return f"From holds {len(mail.senders)} addresses ({shown})"
    problem = address_problem(mail.senders[0].address)
    return f"From address {mail.senders[0].address[:80]!r}: {problem}" if problem else None


def process(message: Message, context: Context) -> Message:
    parsed = mailparse.parse(message.raw)
    mid = parsed.message_id or derived_message_id(message.raw)
    verdict = message.verdict.note(
        name,
        f"Message-ID <{mid}>"
        + (" (derived from content)" if not parsed.message_id else "")
        + (f"; {len(parsed.defects)} parse defect(s)" if parsed.defects else ""),
    )
    problem = from_problem(parsed)
    if problem:
        verdict = verdict.with_flag(Flag.INVALID_FROM, problem, name)
    return message.evolve(mail=parsed, message_id=mid, verdict=verdict)
