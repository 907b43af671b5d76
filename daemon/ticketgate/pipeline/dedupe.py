"""Stage `dedupe`: the same mail twice never makes two tickets.

(a) A Message-ID already stored is a duplicate delivery (a retry after a lost 250, or the same
mail to a second function address in another transaction): an event on its ticket that notes
any new recipients. (b) One transaction to several function addresses is one spool row, hence
one ticket; `route` notes every address. (c) The same request sent again by the same requester
(new Message-ID, same normalised subject, nearly the same new text, within the window, ticket
not resolved) is a follow-up on the open ticket, flagged `resent`.
Each lookup is one indexed query, so the cost does not grow with the number of tickets.
"""

from __future__ import annotations

import re
import time
import unicodedata
from difflib import SequenceMatcher

from ..addresses import canonical
from ..etiquette import strip_subject
from .code import code_pattern
from .model import Context, Message

name = "dedupe"
description = "Recognise duplicate deliveries and the same request sent again."

CLOSED = frozenset({"resolved", "closed", "rejected"})
_WORDS = re.compile(r"\w+")
_COMPARE_CHARS = 4000  # bounded cost: requests that differ do so early


def subject_key(subject: str, tag: str) -> str:
    """The subject without prefixes and code, case- and space-folded, for resend lookups."""
    stripped = strip_subject(subject, code_pattern(tag))
    folded = unicodedata.normalize("NFKC", stripped).casefold()
    return " ".join(_WORDS.findall(folded))


def similarity(a: str, b: str) -> float:
    """How alike two texts are, word by word (1.0 identical), on their first few KB."""
    wa = _WORDS.findall(a[:_COMPARE_CHARS].casefold())
    wb = _WORDS.findall(b[:_COMPARE_CHARS].casefold())
    if not wa and not wb:
        return 1.0
    return SequenceMatcher(None, wa, wb, autojunk=False).ratio()


def process(message: Message, context: Context) -> Message:
    verdict = message.verdict
    view = context.view
    known = view.message(message.message_id)
    if known is not None:
        row, ticket = known
        before = {canonical(r) for r in view.recipients_of(row)}
        new = [r for r in message.envelope.rcpt_to if canonical(r) not in before]
        text = f"Message-ID already stored on #{ticket}: a duplicate delivery"
        if new:
            text += f", now also to {', '.join(new)}"
        return message.evolve(verdict=verdict.note(
            name, text, action="duplicate", duplicate_of=ticket))
    mail = message.parsed
    key = subject_key(mail.subject, context.settings.ticket_tag)
    verdict = verdict.note(name, "not a duplicate delivery", subject_key=key)
    if verdict.action != "new_ticket" or verdict.automail is not None:
        return message.evolve(verdict=verdict)
    requester = mail.sender.address if mail.sender else message.envelope.mail_from.lower()
    policy = context.settings.pipeline
    since = (message.envelope.received_at or time.time()) - policy.resend_window
    if requester and key:
        for ticket, status, first_text in view.resend_candidates(requester, key, since):
            if status in CLOSED:
                continue
            alike = max(similarity(mail.new_text, first_text), similarity(mail.text, first_text))
            if alike >= policy.resend_similarity:
                verdict = verdict.note(
                    name, f"same subject and {alike:.0%} the same text as open #{ticket}",
                    followup_of=ticket, threaded_by="resend",
                )
                verdict = verdict.with_flag("resent", f"already open as #{ticket}", name)
                return message.evolve(verdict=verdict)
    return message.evolve(verdict=verdict.note(name, "no open ticket with the same request"))
