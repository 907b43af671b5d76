"""Small text helpers shared by the etiquette heuristics: tokens, phrase lists, subject stripping.

Everything here is pure and language-neutral; the word lists themselves live in the lexicon.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

# Subjects lose their reply prefixes and ticket codes by ticket identity's one pattern.
from ..identity import strip_subject as strip_subject

# A token is a run of word characters, possibly joined by ' - : . so that "doesn't", "e-post",
# "E:C", "DDG-PC-003" and "pc:n" stay whole.
# Possessive (++, *+): giving back a character never lets a token match differently, as a
# joiner is no word character, and the engine then keeps no backtracking state (faster).
TOKEN_PATTERN = r"\w++(?:['\-:.]\w++)*+"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
# The same for lexicon entries, which may also use '*' as a wildcard.
_ENTRY_TOKEN_RE = re.compile(r"[\w*]+(?:['\-:.][\w*]+)*")
_WILDCARD = r"[\w'\-:.]*"
# No word of any list is this long; longer tokens (base64, URLs, "aaaa...") are never matched,
# which also keeps the wildcard patterns from backtracking over them.
MAX_TOKEN = 64
# The heuristics read at most this much of a text: new text in a helpdesk mail is far shorter,
# and a bound keeps a hostile message from taking the pipeline's time.
MAX_TEXT = 20_000


def normalise(text: str) -> str:
    """Fold typographic apostrophes and odd spaces so that tokens compare equal."""
    return (
        text.replace("\u2019", "'")
        .replace("\u2018", "'")
        .replace("\u00b4", "'")
        .replace("\u00a0", " ")
        .replace("\u200b", "")
    )


# Swedish puts the definite ending on an abbreviation after a colon: "wifi:t", "pc:n", "VPN:en".
_COLON_ENDING_RE = re.compile(r"^([^\W\d_][\w.-]*[^\W\d_]):[^\W\d_]{1,3}$")


def tokenize(text: str) -> list[str]:
    """Word tokens of `text` (punctuation dropped), in their original case.

    Phrases compare case-insensitively unless an entry is written with capitals. A Swedish
    colon ending is dropped ("wifi:t" -> "wifi"); "E:C" and "10:30" stay whole.
    """
    return tokens_of(normalise(text[:MAX_TEXT]))


def tokens_of(plain: str) -> list[str]:
    """tokenize() of a text that is already normalised and cut to MAX_TEXT."""
    found: list[str] = _TOKEN_RE.findall(plain)
    return without_colon_endings(found) if ":" in plain else found


# Lines recently tokenized, each stripped of surrounding whitespace -> tokens_of() of it:
# multi_issue leaves here the sentences of the new text it read, and the identity checks, which
# read the whole new text next, take those lines' tokens from here rather than scan them again.
# Replaced as a whole, never changed; any entry is right for any text, as tokens_of() of a line
# depends on that line alone.
_recent_lines: dict[str, list[str]] = {}


def remember_lines(lines: dict[str, list[str]]) -> None:
    """Leave `lines` (stripped line -> tokens_of(line)) for lines_tokens() to reuse."""
    global _recent_lines
    _recent_lines = lines


def lines_tokens(plain: str) -> list[str]:
    """tokens_of(plain), line by line, taking the tokens of lines left by remember_lines().

    No token spans a line break (none of splitlines()' separators is a word character or a
    joiner), and whitespace around a line holds no token, so the lines' tokens in order are the
    text's.
    """
    recent = _recent_lines  # one read: another thread may replace it meanwhile
    if not recent:
        return tokens_of(plain)
    out: list[str] = []
    for line in plain.splitlines():
        found = recent.get(line.strip())
        out += tokens_of(line) if found is None else found
    return out


def without_colon_endings(found: list[str]) -> list[str]:
    """Tokens as found by the token pattern, with Swedish colon endings dropped."""
    # Only a token with a colon can carry a colon ending; the rest are kept as they are.
    return [_COLON_ENDING_RE.sub(r"\1", t) if ":" in t else t for t in found]


def lowered(tokens: list[str]) -> list[str]:
    """The tokens in lower case, as [t.lower() for t in tokens] but lowered in one call.

    Tokens hold no newline, and lower() maps each token as it would alone: a newline is
    neither cased nor case-ignorable, so even a Greek final sigma sees the token's end.
    """
    if not tokens:
        return []
    return "\n".join(tokens).lower().split("\n")


def is_number(token: str) -> bool:
    """True for tokens made only of digits and separators ("2110", "1.5")."""
    return not any(ch.isalpha() for ch in token)


_TokenTest = str | re.Pattern[str]
# What a token can start, per Phrases: the multi-word entries whose first word it matches
# (longest first) and whether it is a one-word entry itself. Memoised per token; the memo is
# emptied when it reaches this many tokens, so that it stays small in a long-running daemon.
_Start = tuple[tuple[tuple[_TokenTest, ...], ...], bool]
_NO_START: _Start = ((), False)
MEMO_LIMIT = 50_000


def _compile_entry(entry: str) -> tuple[_TokenTest, ...]:
    """Token tests of an entry: a string compares to the lower-cased token, a pattern is
    matched against the token as written (case-insensitive unless the entry has capitals)."""
    parts = _ENTRY_TOKEN_RE.findall(normalise(entry))
    if not parts:
        raise ValueError(f"entry {entry!r} has no words")
    tests: list[_TokenTest] = []
    for part in parts:
        exact_case = part != part.lower()
        if "*" in part or exact_case:
            rx = _WILDCARD.join(re.escape(p) for p in part.split("*"))
            tests.append(re.compile(rx, 0 if exact_case else re.IGNORECASE))
        else:
            tests.append(part)
    return tuple(tests)


def _token_matches(test: _TokenTest, token: str) -> bool:
    if isinstance(test, str):
        return test == token.lower()
    return len(token) <= MAX_TOKEN and test.fullmatch(token) is not None


def _combined(patterns: list[re.Pattern[str]], flags: int) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), flags)


@dataclass(frozen=True)
class Phrases:
    """A list of words or phrases, matched against whole tokens.

    An entry is one or more words ("hjälp", "en annan sak"); `*` inside a word matches any run of
    word characters ("skrivar*" matches "skrivaren", "*dator" matches "arbetsdator"). Matching
    ignores case, except for entries written with capitals ("Office" is not "my office").
    """

    entries: tuple[str, ...] = ()
    # One-word entries (most of them): a set of plain words and two combined patterns, so that a
    # token is tested once rather than against every entry.
    _words: frozenset[str] = field(init=False, compare=False, repr=False, hash=False)
    _globs: re.Pattern[str] | None = field(init=False, compare=False, repr=False, hash=False)
    _cased: re.Pattern[str] | None = field(init=False, compare=False, repr=False, hash=False)
    # Phrases of two words or more by their first word (plain, or a pattern), longest first so
    # "tack på förhand" wins over "tack".
    _phrases: dict[str, tuple[tuple[_TokenTest, ...], ...]] = field(
        init=False, compare=False, repr=False, hash=False
    )
    _wild_phrases: tuple[tuple[_TokenTest, ...], ...] = field(
        init=False, compare=False, repr=False, hash=False
    )
    # Token (as written) -> what it can start; see _Start.
    _starts: dict[str, _Start] = field(init=False, compare=False, repr=False, hash=False)

    def __post_init__(self) -> None:
        words: set[str] = set()
        globs: list[re.Pattern[str]] = []
        cased: list[re.Pattern[str]] = []
        phrases: dict[str, list[tuple[_TokenTest, ...]]] = {}
        wild_phrases: list[tuple[_TokenTest, ...]] = []
        for entry in self.entries:
            seq = _compile_entry(entry)
            if len(seq) > 1 and isinstance(seq[0], str):
                phrases.setdefault(seq[0], []).append(seq)
            elif len(seq) > 1:
                wild_phrases.append(seq)
            elif isinstance(seq[0], str):
                words.add(seq[0])
            elif seq[0].flags & re.IGNORECASE:
                globs.append(seq[0])
            else:
                cased.append(seq[0])
        object.__setattr__(self, "_words", frozenset(words))
        object.__setattr__(self, "_globs", _combined(globs, re.IGNORECASE))
        object.__setattr__(self, "_cased", _combined(cased, 0))
        longest = {k: tuple(sorted(v, key=len, reverse=True)) for k, v in phrases.items()}
        object.__setattr__(self, "_phrases", longest)
        object.__setattr__(
            self, "_wild_phrases", tuple(sorted(wild_phrases, key=len, reverse=True))
        )
        object.__setattr__(self, "_starts", {})

    def __bool__(self) -> bool:
        return bool(self.entries)

    def _one(self, token: str) -> bool:
        if token.lower() in self._words:
            return True
        if len(token) > MAX_TOKEN:
            return False
        return any(p is not None and p.fullmatch(token) for p in (self._globs, self._cased))

    def _start(self, token: str) -> _Start:
        """What `token` can start (memoised): phrases whose first word it matches, longest
        first, and whether it is a one-word entry."""
        found = self._starts.get(token)
        if found is None:
            phrases = tuple(
                seq
                for seq in (*self._phrases.get(token.lower(), ()), *self._wild_phrases)
                if _token_matches(seq[0], token)
            )
            one = self._one(token)
            found = (phrases, one) if phrases or one else _NO_START
            if len(self._starts) >= MEMO_LIMIT:
                self._starts.clear()
            self._starts[token] = found
        return found

    def _match(self, tokens: Sequence[str], i: int, start: _Start) -> int:
        phrases, one = start
        if phrases:
            best = 0
            size = len(tokens)
            for seq in phrases:
                n = len(seq)
                if best < n and i + n <= size:
                    for k in range(1, n):
                        if not _token_matches(seq[k], tokens[i + k]):
                            break
                    else:
                        best = n
            if best:
                return best
        return 1 if one else 0

    def match_at(self, tokens: Sequence[str], i: int) -> int:
        """Length (in tokens) of the longest entry matching at position i; 0 when none does."""
        if i >= len(tokens):
            return 0
        token = tokens[i]
        start = self._starts.get(token) or self._start(token)
        if start is _NO_START:
            return 0
        if not start[0]:
            return 1  # a one-word entry only (not _NO_START, so it is one)
        return self._match(tokens, i, start)

    def find(self, tokens: Sequence[str]) -> Iterator[tuple[int, int]]:
        """Yield (start, end) of non-overlapping matches, left to right."""
        i = 0
        size = len(tokens)
        known = self._starts.get
        while i < size:
            token = tokens[i]
            start = known(token) or self._start(token)
            n = 0 if start is _NO_START else self._match(tokens, i, start)
            if n:
                yield i, i + n
                i += n
            else:
                i += 1

    def first(self, tokens: Sequence[str]) -> tuple[int, int] | None:
        """The first match as (start, end), or None."""
        return next(self.find(tokens), None)

    def contains(self, tokens: Sequence[str]) -> bool:
        """True when any entry occurs in `tokens`."""
        return self.first(tokens) is not None

    def start_kind(self, token: str) -> tuple[bool, bool]:
        """(can_start(token), whether the token is a one-word entry), from the memo."""
        start = self._start(token)
        return start is not _NO_START, start[1]

    def can_start(self, token: str) -> bool:
        """True when some entry may match at `token` (a one-word entry, or a phrase whose
        first word it is); False means no match can start there."""
        return self._start(token) is not _NO_START

    def one_word_only(self, token: str) -> bool:
        """True when `token` is a one-word entry and starts no phrase: then match_at is 1
        wherever the token stands."""
        phrases, one = self._start(token)
        return one and not phrases

    def word(self, token: str) -> bool:
        """True when the single token is a one-word entry."""
        return self._one(token)


def find_at(
    phrases: Phrases, tokens: Sequence[str], positions: Iterable[int]
) -> list[tuple[int, int]]:
    """list(phrases.find(tokens)), trying only `positions` (ascending), which must hold every
    position where a match can start (see Lexicon.mask_of)."""
    return list(iter_find_at(phrases, tokens, positions))


def iter_find_at(
    phrases: Phrases, tokens: Sequence[str], positions: Iterable[int]
) -> Iterator[tuple[int, int]]:
    """find_at() one match at a time, reading `positions` only as far as needed: a caller
    that stops at the first match it wants does not look at the rest of the text."""
    after = 0
    for i in positions:
        if i < after:
            continue
        n = phrases.match_at(tokens, i)
        if n:
            yield i, i + n
            after = i + n


# --- patterns that need a digit -------------------------------------------------------------

_DIGIT_RE = re.compile(r"\d")
# Python's own regular-expression parser, to read what a configured pattern requires. It is
# internal (re._parser since 3.11); without it no pattern is taken to need a digit, which only
# costs time.
try:
    _PARSER: Any = importlib.import_module("re._parser")
    _OPS: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - another Python
    _PARSER = _OPS = None


def _set_is_digits(items: Any) -> bool:
    """True when a character set (the items of an IN) holds decimal digits only."""
    for op, av in items:
        if op is _OPS.CATEGORY and av is _OPS.CATEGORY_DIGIT:
            continue
        if op is _OPS.LITERAL and chr(av).isdecimal():
            continue
        if op is _OPS.RANGE and av[1] - av[0] < 100 and all(
            chr(c).isdecimal() for c in range(av[0], av[1] + 1)
        ):
            continue
        return False  # NEGATE, letters, other categories: not digits only
    return True


def _needs_digit(parsed: Any) -> bool:
    """True when every match of a parsed (sub)pattern holds a decimal digit: some item of the
    sequence must match one. Only what is certain counts; anything else is "not needed"."""
    for op, av in parsed:
        if op is _OPS.IN and _set_is_digits(av):
            return True
        if op is _OPS.LITERAL and chr(av).isdecimal():
            return True
        if op in (_OPS.MAX_REPEAT, _OPS.MIN_REPEAT, _OPS.POSSESSIVE_REPEAT):
            if av[0] >= 1 and _needs_digit(av[2]):
                return True
        elif op is _OPS.SUBPATTERN:
            if _needs_digit(av[3]):
                return True
        elif op is _OPS.ATOMIC_GROUP:
            if _needs_digit(av):
                return True
        elif op is _OPS.BRANCH and all(_needs_digit(branch) for branch in av[1]):
            return True
    return False


@lru_cache(maxsize=256)
def needs_digit(pattern: re.Pattern[str]) -> bool:
    """True when every match of `pattern` holds a decimal digit (as \\d matches), so that a
    text without one cannot match: the username and computer-name patterns all need one, and
    one scan for a digit is far cheaper than a search with each. False when unsure."""
    if _PARSER is None:
        return False  # pragma: no cover - another Python
    try:
        return _needs_digit(_PARSER.parse(pattern.pattern, pattern.flags))
    except Exception:  # an unexpected parse tree: search as before
        return False


def has_digit(plain: str) -> bool:
    """True when `plain` holds a decimal digit (what \\d matches)."""
    # A substring test per ASCII digit is a fast memory scan each; a text of Latin-1
    # characters only (most mail in the languages at hand) holds no other decimal digit.
    if any(digit in plain for digit in "0123456789"):
        return True
    if plain.isascii():
        return False
    try:
        plain.encode("latin-1")
    except UnicodeEncodeError:
        return _DIGIT_RE.search(plain) is not None
    return False


def digits_end(text: str) -> int:
    """The index just after the last decimal digit of `text`; 0 when it holds none."""
    m = _DIGIT_RE.search(text[::-1])
    return len(text) - m.start() if m else 0


# Up to this many start positions a leftmost match is looked for by a match at each (see
# search_first); beyond, by a search.
_MATCH_SCAN = 120


def search_first(
    patterns: Iterable[re.Pattern[str]],
    plain: str,
    digits: bool | None = None,
    digits_before: int | None = None,
) -> re.Match[str] | None:
    """The match of the first of `patterns` that matches `plain` (each searched in order), as
    `next(filter(None, (p.search(plain) for p in patterns)), None)`; a pattern that needs a
    digit is not searched in a text without one. `digits` is has_digit(plain) when known.

    `digits_before`, when given, is an index before which every digit of `plain` stands (the
    subject's digits in front of a new text without any): a match that needs a digit then
    starts before it, so only those start positions are tried rather than the whole text.
    """
    for pattern in patterns:
        if needs_digit(pattern):
            if digits is None:
                digits = has_digit(plain)
            if not digits:
                continue
            if digits_before is not None and digits_before <= _MATCH_SCAN:
                m = match_before(pattern, plain, digits_before)
                if m:
                    return m
                continue
        m = pattern.search(plain)
        if m:
            return m
    return None


def match_before(pattern: re.Pattern[str], text: str, end: int) -> re.Match[str] | None:
    """The leftmost match of `pattern` in `text` that starts before `end`: pattern.search(text)
    when no match can start later. A search tries each position in turn just as
    match(text, pos) does (both see the text before pos, as \\b and lookbehinds need)."""
    for pos in range(min(end, len(text) + 1)):
        m = pattern.match(text, pos)
        if m:
            return m
    return None
