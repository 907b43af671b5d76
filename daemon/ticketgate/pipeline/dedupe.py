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
from collections import Counter
from collections.abc import Iterable
from difflib import SequenceMatcher

from ..addresses import canonical
from ..identity import Flag, requester_of, site_tags, subject_key
from .model import Context, Message, Reads

name = "dedupe"
description = "Recognise duplicate deliveries and the same request sent again."

CLOSED = frozenset({"resolved", "closed", "rejected"})
_WORDS = re.compile(r"\w+")
_COMPARE_CHARS = 4000  # bounded cost: requests that differ do so early


def reads(message: Message, context: Context) -> Reads:
    """Its own Message-ID (a duplicate delivery?) and its request (sent again?)."""
    key = subject_key(message.parsed.subject, site_tags(context.settings))
    return Reads(message_ids=frozenset((message.message_id,)),
                 requests=frozenset(((requester_of(message), key),)))


def _words(text: str) -> list[str]:
    return _WORDS.findall(text[:_COMPARE_CHARS].casefold())


def _ratio(wa: list[str], wb: list[str]) -> float:
    if not wa and not wb:
        return 1.0
    return SequenceMatcher(None, wa, wb, autojunk=False).ratio()


def similarity(a: str, b: str) -> float:
    """How alike two texts are, word by word (1.0 identical), on their first few KB."""
    return _ratio(_words(a), _words(b))


def _common(wa: list[str], counts_b: Counter[str]) -> int:
    """How many words two texts share, counted with repeats (counts_b: the other's words)."""
    return sum(min(n, counts_b[w]) for w, n in Counter(wa).items())


class Compared:
    """The words of a mail's texts, read once for all the open tickets it is compared with."""

    __slots__ = ("_counts", "words")

    def __init__(self, texts: Iterable[str]) -> None:
        # The new text and the full text are often the same string.
        self.words = [_words(text) for text in dict.fromkeys(texts)]
        self._counts: list[Counter[str] | None] = [None] * len(self.words)

    def counts(self, i: int) -> Counter[str]:
        """The words of text `i`, counted."""
        counted = self._counts[i]
        if counted is None:
            counted = self._counts[i] = Counter(self.words[i])
        return counted


def best_similarity(
    texts: Iterable[str] | Compared, first: str, threshold: float
) -> float | None:
    """max(similarity(t, first) for t in texts) when that reaches `threshold`, else None.

    The exact ratio (SequenceMatcher, the costly part of resend detection) is computed only
    for texts whose upper bound reaches the threshold; the others are below it, so they can
    neither pass nor be the maximum of texts that pass. ratio() is 2 * M / (len(a) + len(b))
    with M the words in its matching blocks: M is at most the words both texts have (counted
    with repeats), and that at most the shorter length. The same float expression with a
    larger M is never smaller, so the bounds are exact upper bounds, rounding included.
    `texts` may be a Compared, to read a mail's words once for several candidates.
    """
    compared = texts if isinstance(texts, Compared) else Compared(texts)
    wb = _words(first)
    best: float | None = None
    for i, wa in enumerate(compared.words):
        length = len(wa) + len(wb)
        if length:
            if 2.0 * min(len(wa), len(wb)) / length < threshold:
                continue
            # The words both have, counted with repeats: the same from either side.
            if 2.0 * _common(wb, compared.counts(i)) / length < threshold:
                continue
        value = _ratio(wa, wb)
        if value >= threshold and (best is None or value > best):
            best = value
    return best


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
    key = subject_key(mail.subject, site_tags(context.settings))
    verdict = verdict.note(name, "not a duplicate delivery", subject_key=key)
    if verdict.action != "new_ticket" or verdict.automail is not None:
        return message.evolve(verdict=verdict)
    requester = requester_of(message)
    policy = context.settings.pipeline
    since = (message.envelope.received_at or time.time()) - policy.resend_window
    if requester and key:
        compared: Compared | None = None
        for ticket, status, first_text in view.resend_candidates(requester, key, since):
            if status in CLOSED:
                continue
            if compared is None:
                compared = Compared((mail.new_text, mail.text))
            alike = best_similarity(compared, first_text, policy.resend_similarity)
            if alike is not None:
                verdict = verdict.note(
                    name, f"same subject and {alike:.0%} the same text as open #{ticket}",
                    followup_of=ticket, threaded_by="resend",
                )
                verdict = verdict.with_flag(Flag.RESENT, f"already open as #{ticket}", name)
                return message.evolve(verdict=verdict)
    return message.evolve(verdict=verdict.note(name, "no open ticket with the same request"))
