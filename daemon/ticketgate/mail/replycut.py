"""A staff member's new text: what of their answer to a notification may be relayed.

cut_reply() takes the text of the answer (ParsedMail.text: the text/plain part, else the HTML
made text, with blockquotes as "> " lines) and returns only what the staff member wrote, or
says that it cannot tell, in which case the caller relays nothing (fail closed).

1. The separator. Each notification starts with separator_line(lang), e.g.
   `##- Write your reply above this line -##`. It is found by its words, in any of the
   SEPARATOR_PHRASES languages and any case, behind any "> " quoting, re-wrapped over several
   lines, in text made from HTML. The new text is what stands above it, less what the client
   put between (the "On … wrote:" line, Outlook's From:/Sent:/To:/Subject: block, quoted lines).
   A client that bottom-posts (quote first, answer below) is followed when the separator is
   quoted: the answer is what follows the quote.
2. Else the quote boundary that clients write (the same detection as ParsedMail.new_text, see
   text.quote_split): "On … wrote:" / "Den … skrev:" / "Am … schrieb:" (wrapped or not),
   Outlook's header block in English, Swedish and other languages, "-----Original Message-----"
   / "Ursprungligt meddelande", Gmail's, Apple Mail's and Thunderbird's forms, a block of "> "
   lines.
3. Else nothing is relayed: CutBy.NONE with the reason.

Also nothing is relayed when the answer is written between quoted lines (an inline answer would
lose its questions, and the quotes are the notification) or both above and below the quote.
Signatures are kept: a relayed reply is the staff member's answer, signed as they sign it (a
"-- " signature below the quote, where some clients put it, is dropped with the quote).
Trailing white space of each line (but for the "-- " signature delimiter) and blank lines around
the text are removed; nothing else.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from .text import is_quoted, quote_split

# The words of the separator line in each template language. Matching ignores case,
# punctuation, quoting and line breaks; add a language here and in the templates together.
SEPARATOR_PHRASES: dict[str, str] = {
    "en": "Write your reply above this line",
    "sv": "Skriv ditt svar ovanför denna rad",
}

_WORD = re.compile(r"[^\W_]+")
_QUOTE_ONLY = re.compile(r"^[\s>]*$")
_RULE = re.compile(r"^[\s>]*([-_=*~]\s*){3,}$")
_SIG_DELIMITER = re.compile(r"^--[ \t]?$")
# Lines above the separator searched for the client's attribution or header block: room for a
# banner that the staff member's mail system put at the top of the notification ("External
# sender: …"), which sits between Outlook's header block and the separator.
_WINDOW = 40
# Outlook's block names the subject or the recipient as well as sender and time: a "From:" and
# "Sent:" pair in the staff member's own text is not taken for it (quote_split takes the pair).
_SUBJECT_OR_TO = re.compile(
    r"^\s*\*?\s*(subject|ämne|betreff|objet|asunto|oggetto|onderwerp|emne|aihe|temat|тема|"
    r"to|till|an|à|para|til|aan|a|do|кому)\s*:", re.IGNORECASE)
_MARKER_WORDS = re.compile(r"-{2,}.*\b(message|meddelande|nachricht|meddelelse|melding|"
                           r"bericht|viesti|сообщение|mensaje|messaggio)\b", re.IGNORECASE)


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", text).casefold())


_PHRASES = tuple(tuple(_words(phrase)) for phrase in SEPARATOR_PHRASES.values())


def separator_line(lang: str) -> str:
    """The line a notification in `lang` starts with (English for a language without one)."""
    return f"##- {SEPARATOR_PHRASES.get(lang, SEPARATOR_PHRASES['en'])} -##"


class CutBy(StrEnum):
    SEPARATOR = "separator"
    QUOTE_BOUNDARY = "quote_boundary"
    NONE = "none"


@dataclass(frozen=True)
class ReplyCut:
    """The outcome of cut_reply().

    `text` is the new text ("" with CutBy.NONE); `line` the 1-based line of the input where
    the cut was made (the separator's line, or where the quote starts); `reason` says, for NONE,
    why no cut was made: `no_quote` (neither separator nor quote found), `nothing_written`
    (the quote is all there is), `inline_answer` (text between quoted lines), `text_around_quote`
    (text both above and below the quote).
    """

    text: str
    how: CutBy
    line: int | None = None
    reason: str = ""

    @property
    def found(self) -> bool:
        return self.how is not CutBy.NONE


def _none(reason: str, line: int | None = None) -> ReplyCut:
    return ReplyCut("", CutBy.NONE, line, reason)


def _blank(line: str) -> bool:
    return not line.strip()


def _has_content(lines: list[str]) -> bool:
    return any(line.strip() and not is_quoted(line) and not _RULE.match(line) for line in lines)


def _clean(lines: list[str]) -> str:
    # "-- " keeps its space: it is the signature delimiter (RFC 3676), not trailing space
    return "\n".join(line if line == "-- " else line.rstrip() for line in lines).strip("\n")


def find_separator(lines: list[str]) -> int | None:
    """The index of the line where the first separator phrase begins, else None."""
    folded = unicodedata.normalize("NFC", "\n".join(lines)).casefold()
    phrases = [p for p in _PHRASES if all(w in folded for w in p)]
    if not phrases:
        return None
    words: list[str] = []
    where: list[int] = []
    for i, line in enumerate(lines):
        for word in _words(line):
            words.append(word)
            where.append(i)
    found: list[int] = []
    for phrase in phrases:
        size = len(phrase)
        first = phrase[0]
        for at in range(len(words) - size + 1):
            if words[at] == first and tuple(words[at:at + size]) == phrase:
                found.append(where[at])
                break
    return min(found) if found else None


def _drop_tail(lines: list[str]) -> list[str]:
    """`lines` less trailing blank, quoted and rule lines."""
    end = len(lines)
    while end and (_QUOTE_ONLY.match(lines[end - 1]) or is_quoted(lines[end - 1])
                   or _RULE.match(lines[end - 1])):
        end -= 1
    return lines[:end]


def _drop_attribution(head: list[str], separator: str) -> list[str]:
    """`head` less the attribution or header block the client wrote just above the separator."""
    start = max(0, len(head) - _WINDOW)
    for s in range(start, len(head)):
        window = head[s:]
        split = quote_split([*window, separator])
        if split is None or split[0] != 0:
            continue
        _, end, attribution = split
        if attribution:
            whole = not _has_content(window[end:])
        else:  # a header block, or an "Original Message" line
            whole = any(_SUBJECT_OR_TO.match(line) or _MARKER_WORDS.search(line)
                        for line in window[:8])
        if whole:
            return _drop_tail(head[:s])
    return head


def _cut_at_separator(lines: list[str], k: int) -> ReplyCut:
    head = _drop_attribution(_drop_tail(lines[:k]), lines[k])
    if _has_content(head):
        if any(is_quoted(line) for line in head):
            return _none("inline_answer", k + 1)
        if is_quoted(lines[k]) and _text_below(lines[k:]):
            return _none("text_around_quote", k + 1)
        return ReplyCut(_clean(head), CutBy.SEPARATOR, k + 1)
    if is_quoted(lines[k]):  # bottom-posted: the answer follows the quoted notification
        j = k
        while j < len(lines) and (_blank(lines[j]) or is_quoted(lines[j])):
            j += 1
        tail = lines[j:]
        if any(is_quoted(line) for line in tail):
            return _none("inline_answer", k + 1)
        if _has_content(tail):
            return ReplyCut(_clean(tail), CutBy.SEPARATOR, k + 1)
    return _none("nothing_written", k + 1)


def _text_below(lines: list[str]) -> bool:
    """Whether unquoted text follows quoted lines in `lines` (a "-- " signature excepted)."""
    seen_quote = False
    for line in lines:
        if is_quoted(line):
            seen_quote = True
        elif seen_quote and line.strip():
            return not _SIG_DELIMITER.match(line)
    return False


def _cut_at_quote(lines: list[str]) -> ReplyCut:
    split = quote_split(lines)
    first_quoted = next((i for i, line in enumerate(lines) if is_quoted(line)), None)
    if split is None and first_quoted is None:
        return _none("no_quote")
    # where the quote starts, and whether all below it is the original (a header block)
    if split is not None and (first_quoted is None or split[0] < first_quoted):
        start, end, attribution = split
        whole_rest = not attribution
    else:
        assert first_quoted is not None
        start = end = first_quoted
        whole_rest = False
    head = _drop_tail(lines[:start])
    if _has_content(head):
        if not whole_rest and _text_below(lines[end:]):
            return _none("text_around_quote", start + 1)
        return ReplyCut(_clean(head), CutBy.QUOTE_BOUNDARY, start + 1)
    if whole_rest:
        return _none("nothing_written", start + 1)
    j = end  # bottom-posted: past the attribution and the quoted block
    while j < len(lines) and (_blank(lines[j]) or is_quoted(lines[j])):
        j += 1
    tail = lines[j:]
    if any(is_quoted(line) for line in tail):
        return _none("inline_answer", start + 1)
    if _has_content(tail):
        return ReplyCut(_clean(tail), CutBy.QUOTE_BOUNDARY, start + 1)
    return _none("nothing_written", start + 1)


def cut_reply(text: str) -> ReplyCut:
    """The new text of a staff member's answer to a notification, and how it was found.

    Pure and linear in the size of `text`; never raises. The caller relays `text` only when
    `found`; otherwise it keeps the mail as an internal note and tells the sender `reason`.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    k = find_separator(lines)
    cut = _cut_at_separator(lines, k) if k is not None else _cut_at_quote(lines)
    if cut.found and not cut.text:
        return _none("nothing_written", cut.line)
    return cut
