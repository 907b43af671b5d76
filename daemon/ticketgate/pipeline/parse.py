"""Stage `parse`: bytes to a ParsedMail; every message parses to something."""

from __future__ import annotations

from .. import mail as mailparse
from ..identity import derived_message_id
from .model import Context, Message

name = "parse"
description = "Parse the raw bytes (flanker, with stdlib fallbacks) and fix the Message-ID."


def process(message: Message, context: Context) -> Message:
    parsed = mailparse.parse(message.raw)
    mid = parsed.message_id or derived_message_id(message.raw)
    verdict = message.verdict.note(
        name,
        f"Message-ID <{mid}>"
        + (" (derived from content)" if not parsed.message_id else "")
        + (f"; {len(parsed.defects)} parse defect(s)" if parsed.defects else ""),
    )
    return message.evolve(mail=parsed, message_id=mid, verdict=verdict)
