"""Cutting the new text of a mail into blocks, sentences and clauses for multi_issue.

The caller has already removed quotes and signatures; this removes what is left around the
matter (a greeting line, a closing like "Mvh Kim" or "Tack, Nils") and keeps list items apart.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .lexicon import BIT, Lexicon
from .text import TOKEN_PATTERN, normalise, tokenize, without_colon_endings

# "- item", "* item", "• item", "1. item", "2) item", "(3) item", "a) item".
_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*•–·+>]|\(?\d{1,2}[.)]|\(?[a-zA-Z]\))\s+(?P<rest>\S.*)$")
# Sentence ends: . ! ? ; followed by space. A full stop after an abbreviation ("t.ex.", "e.g.",
# "kl.", a single letter) does not end a sentence.
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+|\s*;\s*")
# The same without the ';' branch, which cannot match in a text without ';' (and is slow).
_FULL_STOP_RE = re.compile(r"(?<=[.!?])\s+")
_FULL_STOP_SPACE_RE = re.compile(r"[.!?]\s")  # found exactly where _FULL_STOP_RE splits
_ABBREVIATION_RE = re.compile(
    r"(?:^|\s)(?:\w\.(?:\w\.)*\w?|\w|ca|kl|nr|jfr|resp|etc|vs|st|mm|osv|ev|tel|ang|dvs|bl|inkl|"
    r"exkl|fr|tom|ex|mr|mrs|ms|dr|prof|no|approx|dept)\.$",
    re.IGNORECASE,
)
# Clause breaks inside a sentence: a comma, semicolon or colon followed by a space (not "1,5",
# "E:C"), and dashes used as punctuation.
_CLAUSE_BREAK_RE = re.compile(r"[,;:]\s+|\s+[–—-]\s+")
_NAME_RE = re.compile(r"^[/\-–—]*\s*[A-ZÅÄÖÉ][\w.'-]*(?:\s+[A-ZÅÄÖÉ][\w.'-]*){0,2}\s*$")


class Block(NamedTuple):
    """A line or list item of the new text (a named tuple: made for every line, and a tuple
    is made faster than a frozen dataclass)."""

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


_GOES_ON_RE = re.compile(r"[.?]\s*\S")  # a greeting line that goes on after a full stop


def _is_greeting(line: str, lexicon: Lexicon) -> bool:
    tokens = tokenize(line)
    n = lexicon.greetings.match_at(tokens, 0)
    return bool(n) and len(tokens) - n <= 2 and not _GOES_ON_RE.search(line)


def blocks(text: str, lexicon: Lexicon) -> list[Block]:
    """Lines of the new text as blocks, without greeting and closing lines.

    Wrapped lines are joined back into their sentence; list items stay separate blocks.
    """
    # Right-stripped lines that hold more than whitespace (a right-stripped line is empty then).
    lines = list(filter(None, map(str.rstrip, normalise(text or "").splitlines())))
    while lines and _is_closing(lines[-1], lexicon):
        lines.pop()
    if lines and _is_greeting(lines[0], lexicon):
        lines.pop(0)
    out: list[Block] = []
    for line in lines:
        text_ = line.strip()
        # A list item opens with a mark, a digit, "(" or a letter and ")": a line opening with
        # a letter not followed by ")" is none, which is cheaper to tell than to match.
        m = (
            None
            if text_[0].isalpha() and text_[1:2] != ")"
            else _LIST_ITEM_RE.match(line)
        )
        if m:
            out.append(Block(m.group("rest").strip(), True))
            continue
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
    body = text[:-1]
    if "." not in body and "!" not in body and "?" not in body and ";" not in text:
        # No end mark but perhaps the last character: nothing follows one, so nothing splits
        # (a few substring scans cost less than the regex search below).
        piece = text.strip()
        return [piece] if piece else []
    if ";" not in text and not _FULL_STOP_SPACE_RE.search(text):
        # No sentence end followed by space: _FULL_STOP_RE would not split; this test is
        # cheaper than the split (whose lookbehind is tried at every character).
        piece = text.strip()
        return [piece] if piece else []
    out: list[str] = []
    for piece in (_SENTENCE_END_RE if ";" in text else _FULL_STOP_RE).split(text):
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


# A token (group 1, as in tokenize) or a clause break (no group): one scan finds both.
_TOKEN_OR_BREAK_RE = re.compile(f"({TOKEN_PATTERN})|{_CLAUSE_BREAK_RE.pattern}")
_TOKEN_RE = re.compile(TOKEN_PATTERN)
_BREAK_MARK_RE = re.compile("[,;:–—-]")  # every clause break holds one of these


def plain_piece_tokens(sentence: str) -> list[list[str]]:
    """piece_tokens(sentence) for a sentence that normalise() leaves unchanged (as every line of
    blocks() is), found in one scan: a break cannot start inside a token nor a token inside a
    break, so the scan meets the breaks that splitting does."""
    if _BREAK_MARK_RE.search(sentence):
        found: list[str] = _TOKEN_OR_BREAK_RE.findall(sentence)
    else:
        found = _TOKEN_RE.findall(sentence)  # no break can match: the plain scan is faster
    if ":" in sentence:
        found = without_colon_endings(found)
    if "" not in found:
        return [found]
    pieces: list[list[str]] = [[]]
    for token in found:
        if token:
            pieces[-1].append(token)
        else:
            pieces.append([])
    return pieces


def plain_words(sentence: str) -> list[str] | None:
    """The tokens of a sentence made of words and whitespace only, with at most end marks
    (". ! ?") after its last word, as split() finds them; None for any other sentence. A word
    may hold ' or - between two word characters ("can't", "e-post").

    The token pattern's \\w is what str.isalnum() accepts, plus "_": when the words joined are
    all alphanumeric, no character but whitespace separates them and none joins two words
    (' - : .), so each word is a token; the end marks stripped are no word characters. Most
    sentences are of this kind, and split() with one isalnum() costs less than a regex scan.
    """
    words = sentence.rstrip(".!?").split()
    joined = "".join(words)
    if joined.isalnum():
        return words
    if not ("'" in joined or "-" in joined):
        return None
    if not joined.replace("'", "").replace("-", "").isalnum():
        return None
    # Each ' and - must stand between two word characters, so that a word is one token: none
    # stands next to whitespace (or the text's ends, spaced) or to another joiner.
    spaced = f" {' '.join(words)} "
    if " '" in spaced or "' " in spaced or "''" in spaced or " -" in spaced:
        return None
    if "- " in spaced or "--" in spaced or "'-" in spaced or "-'" in spaced:
        return None
    return words


def sentence_tokens(sentence: str) -> tuple[list[str], list[list[str]]]:
    """The tokens of a sentence that normalise() leaves unchanged, and its pieces between
    clause breaks (plain_piece_tokens): without a mark that a break holds, the sentence is
    one piece, found by the plain token scan."""
    words = plain_words(sentence)
    if words is not None:
        return words, [words]
    if _BREAK_MARK_RE.search(sentence):
        pieces = plain_piece_tokens(sentence)
        return (pieces[0] if len(pieces) == 1 else [t for p in pieces for t in p]), pieces
    tokens: list[str] = _TOKEN_RE.findall(sentence)
    if ":" in sentence:
        tokens = without_colon_endings(tokens)
    return tokens, [tokens]


_JOINER = BIT["joiners"]
_CONSEQUENCE = BIT["consequences"]
_SPLIT = _JOINER | _CONSEQUENCE


def split_clauses(
    pieces: list[list[str]], masks: list[int], lexicon: Lexicon
) -> list[tuple[list[str], list[int]]]:
    """clauses_of(pieces) with each clause's token masks, given `masks`, the masks of all the
    pieces' tokens in order (Lexicon.masks). A clause that is a whole piece comes as that
    piece's list itself (with `masks` itself for a single piece), not a copy."""
    out: list[tuple[list[str], list[int]]] = []
    joiners, consequences = lexicon.joiners, lexicon.consequences
    at = 0
    for tokens in pieces:
        piece_masks = masks if len(pieces) == 1 else masks[at : at + len(tokens)]
        at += len(tokens)
        start = 0
        after = 1  # where the next split may be; a match is not split again inside
        # Only where a joiner or consequence can start (by the token masks) is it looked for.
        for i in [i for i, mask in enumerate(piece_masks) if mask & _SPLIT]:
            if i < after:
                continue
            mask = piece_masks[i]
            n = (mask & _JOINER and joiners.match_at(tokens, i)) or (
                mask & _CONSEQUENCE and consequences.match_at(tokens, i)
            )
            if n:
                out.append((tokens[start:i], piece_masks[start:i]))
                start = i
                after = i + n
        out.append((tokens, piece_masks) if not start else (tokens[start:], piece_masks[start:]))
    return [c for c in out if c[0]]


def clauses_of(pieces: list[list[str]], lexicon: Lexicon) -> list[list[str]]:
    """Token lists of the clauses in the pieces of a sentence (see piece_tokens): each piece is
    split further at joiners ("och", "and") and before consequences ("så att", "so that")."""
    masks = lexicon.masks([t for piece in pieces for t in piece])
    return [tokens for tokens, _ in split_clauses(pieces, masks, lexicon)]


def clause_tokens(sentence: str, lexicon: Lexicon) -> list[list[str]]:
    """Token lists of the clauses of a sentence: split at , ; : at joiners ("och", "and") and
    before consequences ("så att", "so that")."""
    return clauses_of(piece_tokens(sentence), lexicon)
