"""Cutting the new text of a mail into blocks, sentences and clauses for multi_issue.

The caller has already removed quotes and signatures; this removes what is left around the
matter (a greeting line, a closing like "Mvh Kim" or "Tack, Nils") and keeps list items apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .lexicon import BIT, Lexicon
from .text import normalise, tokenize

# "- item", "* item", "• item", "1. item", "2) item", "(3) item", "a) item".
_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*•–·+>]|\(?\d{1,2}[.)]|\(?[a-zA-Z]\))\s+(?P<rest>\S.*)$")
# Sentence ends: . ! ? ; followed by space. A full stop after an abbreviation ("t.ex.", "e.g.",
# "kl.", a single letter) does not end a sentence.
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+|\s*;\s*")
_ABBREVIATION_RE = re.compile(
    r"(?:^|\s)(?:\w\.(?:\w\.)*\w?|\w|ca|kl|nr|jfr|resp|etc|vs|st|mm|osv|ev|tel|ang|dvs|bl|inkl|"
    r"exkl|fr|tom|ex|mr|mrs|ms|dr|prof|no|approx|dept)\.$",
    re.IGNORECASE,
)
# Clause breaks inside a sentence: a comma, semicolon or colon followed by a space (not "1,5",
# "E:C"), and dashes used as punctuation.
_CLAUSE_BREAK_RE = re.compile(r"[,;:]\s+|\s+[–—-]\s+")
_NAME_RE = re.compile(r"^[/\-–—]*\s*[A-ZÅÄÖÉ][\w.'-]*(?:\s+[A-ZÅÄÖÉ][\w.'-]*){0,2}\s*$")


@dataclass(frozen=True)
class Block:
    """A line or list item of the new text."""

    text: str
    list_item: bool


def _is_closing(line: str, lexicon: Lexicon) -> bool:
    stripped = line.strip()
    if not stripped:
        return True
    if stripped.startswith(("/", "--", "—", "–")) and len(tokenize(stripped)) <= 4:
        return True  # "/Lisa", "-- Kim"
    tokens = tokenize(stripped)
    n = lexicon.closings.match_at(tokens, 0)
    if n and len(tokens) - n <= 3:
        return True  # "Mvh Kim", "Tack, Nils", "Best regards,"
    # A bare name ("Nils", "Kim Svensson") with no sentence punctuation.
    return bool(_NAME_RE.match(stripped)) and not lexicon.topics_of(tokens)


def _is_greeting(line: str, lexicon: Lexicon) -> bool:
    tokens = tokenize(line)
    n = lexicon.greetings.match_at(tokens, 0)
    return bool(n) and len(tokens) - n <= 2 and not re.search(r"[.?]\s*\S", line)


def blocks(text: str, lexicon: Lexicon) -> list[Block]:
    """Lines of the new text as blocks, without greeting and closing lines.

    Wrapped lines are joined back into their sentence; list items stay separate blocks.
    """
    lines = [ln.rstrip() for ln in normalise(text or "").splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    while lines and _is_closing(lines[-1], lexicon):
        lines.pop()
    if lines and _is_greeting(lines[0], lexicon):
        lines.pop(0)
    out: list[Block] = []
    for line in lines:
        m = _LIST_ITEM_RE.match(line)
        if m:
            out.append(Block(m.group("rest").strip(), True))
            continue
        text_ = line.strip()
        prev = out[-1] if out else None
        # A line that continues a wrapped sentence: previous line lacks an end mark and this one
        # starts in lower case.
        if prev and not prev.text.endswith((".", "!", "?", ":")) and text_[:1].islower():
            out[-1] = Block(prev.text + " " + text_, prev.list_item)
        else:
            out.append(Block(text_, False))
    return out


def sentences(text: str) -> list[str]:
    """Split a block into sentences."""
    out: list[str] = []
    for piece in _SENTENCE_END_RE.split(text):
        piece = piece.strip()
        if not piece:
            continue
        if out and _ABBREVIATION_RE.search(out[-1][-12:]):
            out[-1] += " " + piece  # "t.ex. att ..." goes on
        else:
            out.append(piece)
    return out


def piece_tokens(sentence: str) -> list[list[str]]:
    """Token lists of a sentence's pieces between clause breaks (, ; : and dashes).

    No token spans a break (a break holds whitespace), so together they are the sentence's
    tokens, which lets a caller tokenize a sentence once for both uses.
    """
    return [tokenize(piece) for piece in _CLAUSE_BREAK_RE.split(sentence)]


_JOINER = BIT["joiners"]
_CONSEQUENCE = BIT["consequences"]


def clauses_of(pieces: list[list[str]], lexicon: Lexicon) -> list[list[str]]:
    """Token lists of the clauses in the pieces of a sentence (see piece_tokens): each piece is
    split further at joiners ("och", "and") and before consequences ("så att", "so that")."""
    out: list[list[str]] = []
    joiners, consequences = lexicon.joiners, lexicon.consequences
    for tokens in pieces:
        start = 0
        after = 1  # where the next split may be; a match is not split again inside
        # Only where a joiner or consequence can start (by the token masks) is it looked for.
        for i, mask in enumerate(lexicon.masks(tokens)):
            if i < after or not mask & (_JOINER | _CONSEQUENCE):
                continue
            n = (mask & _JOINER and joiners.match_at(tokens, i)) or (
                mask & _CONSEQUENCE and consequences.match_at(tokens, i)
            )
            if n:
                out.append(tokens[start:i])
                start = i
                after = i + n
        out.append(tokens[start:])
    return [c for c in out if c]


def clause_tokens(sentence: str, lexicon: Lexicon) -> list[list[str]]:
    """Token lists of the clauses of a sentence: split at , ; : at joiners ("och", "and") and
    before consequences ("så att", "so that")."""
    return clauses_of(piece_tokens(sentence), lexicon)
