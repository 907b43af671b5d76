"""vague_subject: does the subject say what the matter is?

The helpdesk asks for "a short, clear subject that very briefly describes the problem or the
request". A subject fails that when, once reply prefixes and the ticket code are gone, nothing is
left but filler: greetings ("Hej"), politeness ("snälla"), urgency ("Akut", "Panik!!!"), generic
nouns ("Fråga", "Problem"), generic verbs ("Ring mig!", "Det funkar inte") and function words.
One content word is enough to make it clear ("Ny mus", "Wifi nere"); an urgent word in front of
a description does not spoil it ("Akut: servern svarar inte").
"""

from __future__ import annotations

import re

from .lexicon import Lexicon
from .text import MAX_TOKEN, MEMO_LIMIT, is_number, strip_subject, tokenize

_CLITICS = frozenset({"s", "re", "ve", "ll", "d", "m"})


def is_filler_form(token: str, lexicon: Lexicon) -> bool:
    """True when `token` is an inflected form of a one-word filler entry.

    Strips one suffix of `inflections` and tries the bare stem and the stem with -a or -e
    restored: "önskas" -> "önska", "frågorna" -> "fråga", "needed" -> "need",
    "updated" -> "update", "replied" -> "reply". The stem must keep three letters, so short
    content words survive. English clitics count with their head: "what's", "you're".
    """
    head, apostrophe, tail = token.partition("'")
    if apostrophe and tail in _CLITICS and lexicon.filler.word(head):
        return True  # "what's", "you're", "we'll"
    for suffix in lexicon.inflections:
        if len(token) - len(suffix) < 3 or not token.endswith(suffix):
            continue
        stem = token[: -len(suffix)]
        if stem.endswith("i"):
            stem = stem[:-1] + "y"  # "replied" -> "reply"
        if any(lexicon.filler.word(s) for s in (stem, stem + "a", stem + "e")):
            return True
    return False


def is_filler_compound(token: str, lexicon: Lexicon) -> bool:
    """True when `token` is two filler words run together: Swedish compounds ("panikläge",
    "snabbfråga", with a linking -s- as in "supportsärende") and hyphenated ones ("IT-frågor").
    Each part must have three letters, so short content words are not split by accident."""
    if len(token) > MAX_TOKEN:
        return False
    if "-" in token:
        parts = [p for p in token.split("-") if p]
        return len(parts) > 1 and all(_filler(p, lexicon) for p in parts)
    for cut in range(3, len(token) - 2):
        head, tail = token[:cut], token[cut:]
        if not _filler(tail, lexicon):
            continue
        if _filler(head, lexicon) or (head.endswith("s") and _filler(head[:-1], lexicon)):
            return True
    return False


def _filler(word: str, lexicon: Lexicon) -> bool:
    return lexicon.filler.word(word) or is_filler_form(word, lexicon)


def content_words(tokens: list[str], lexicon: Lexicon) -> list[str]:
    """The tokens that are neither filler (words, phrases, inflected forms) nor bare numbers."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        n = lexicon.filler.match_at(tokens, i)
        if n:
            i += n
            continue
        token = tokens[i]
        if _is_content(token, lexicon):
            out.append(token)
        i += 1
    return out


def _is_content(token: str, lexicon: Lexicon) -> bool:
    """Neither a bare number nor an inflected form or compound of filler; memoised per lexicon,
    as subjects use the same words again and again."""
    memo = lexicon.content_memo
    found = memo.get(token)
    if found is None:
        found = not (
            is_number(token) or is_filler_form(token, lexicon) or is_filler_compound(token, lexicon)
        )
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[token] = found
    return found


def vague_subject(
    subject: str, lexicon: Lexicon, *, code_pattern: re.Pattern[str] | None = None
) -> str | None:
    """Return None when the subject says what the matter is, else a short reason.

    Reasons: "empty" (nothing left after prefixes and code), "no words" (only punctuation,
    numbers or symbols), "only filler words: a, b" (no content word).
    """
    stripped = strip_subject(subject, code_pattern)
    if not stripped:
        return "empty"
    tokens = [t.lower() for t in tokenize(stripped)]
    if not tokens or all(is_number(t) for t in tokens):
        return "no words"
    if len(content_words(tokens, lexicon)) >= lexicon.vague_min_content_words:
        return None
    shown = list(dict.fromkeys(tokens))[:6]
    return "only filler words: " + ", ".join(shown)
