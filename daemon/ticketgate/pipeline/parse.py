"""Stage `parse`: bytes to a ParsedMail; every message parses to something."""

from __future__ import annotations

import hashlib

from .. import mail as mailparse
from .model import Context, Message

name = "parse"
description = "Parse the raw bytes (flanker, with stdlib fallbacks) and fix the Message-ID."


def derived_message_id(raw: bytes) -> str:
    """A stable Message-ID for mail that has none, so a redelivery is still recognised."""
    return f"{hashlib.sha256(raw).hexdigest()[:40]}@derived.ticketgate.invalid"


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
