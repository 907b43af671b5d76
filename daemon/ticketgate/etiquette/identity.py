"""private_address and missing_computer_name: can the helpdesk tell who and what the mail is about?

From a student or work address the helpdesk looks the requester up; from a private address it
needs at least the username. A mail about a specific computer needs that computer's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from email.utils import parseaddr
from functools import lru_cache
from heapq import merge
from typing import overload

from .lexicon import BIT, Lexicon
from .multi import computer_is_the_matter
from .text import (
    MAX_TEXT,
    Phrases,
    digits_end,
    has_digit,
    iter_find_at,
    lines_tokens,
    normalise,
    search_first,
    strip_subject,
    tokens_of,
)


class _Tokens:
    """The tokens of a normalised, cut text and their set; whether it holds a digit is asked
    once, when first needed. Shared between the checks (see _tokens), so never changed but
    for that one answer (the same whichever thread gives it)."""

    __slots__ = ("_digits", "distinct", "plain", "tokens")

    def __init__(self, plain: str, tokens: list[str]) -> None:
        self.plain = plain
        self.tokens = tokens
        self.distinct = frozenset(tokens)
        self._digits: bool | None = None

    @property
    def digits(self) -> bool:
        """has_digit(plain)."""
        if self._digits is None:
            self._digits = has_digit(self.plain)
        return self._digits


class _Lowered(Sequence[str]):
    """The tokens in lower case, as text.lowered(tokens) gives them, each lowered when read:
    the phrase matcher reads only a few positions of a long text."""

    __slots__ = ("_tokens",)

    def __init__(self, tokens: list[str]) -> None:
        self._tokens = tokens

    def __len__(self) -> int:
        return len(self._tokens)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        # Lowering a token alone gives what lowered() gives for it (see there).
        if isinstance(index, slice):
            return [t.lower() for t in self._tokens[index]]
        return self._tokens[index].lower()


# The last text whose tokens were read here, and them. private_address reads a mail's new text
# and missing_computer_name then reads the subject and the same new text, so the second takes
# the new text's tokens from here.
_last: tuple[str, _Tokens] = ("", _Tokens("", []))


def _tokens(plain: str) -> _Tokens:
    """_Tokens(plain, tokens_of(plain)), from _last when it holds `plain`; the tokens of
    lines multi_issue has just read are taken from it (see text.lines_tokens)."""
    global _last
    last = _last  # one read: another thread may replace it meanwhile
    if plain == last[0] and plain:
        return last[1]
    found = _Tokens(plain, lines_tokens(plain))
    _last = (plain, found)
    return found


def _find(
    phrases: Phrases,
    bit: int,
    tokens: list[str],
    distinct: Iterable[AbstractSet[str]],
    lexicon: Lexicon,
    *,
    lower: bool,
) -> tuple[Iterator[tuple[int, int]], Sequence[str]]:
    """phrases.find() in the tokens (lower-cased when `lower`), and the tokens it reads,
    trying only the positions of tokens (of their sets `distinct`) whose masks have `bit`:
    asking each distinct token once is cheaper than each position. The matches come one at a
    time, so a caller that stops early leaves the rest of the text unread."""
    starting = lexicon.starting_lowered if lower else lexicon.starting
    starts: set[str] = set()
    for tokens_set in distinct:
        starts |= starting(tokens_set, bit)
    read: Sequence[str] = _Lowered(tokens) if lower else tokens
    if not starts:
        return iter(()), read
    positions: Iterator[int]
    if len(starts) == 1:
        positions = _indexes(tokens, next(iter(starts)))  # one token: list scans are faster
    elif len(starts) <= _FEW_STARTS:
        # A few ("Account", "account"): their list scans merged in order of position.
        positions = merge(*(_indexes(tokens, token) for token in starts))
    else:
        positions = (i for i, t in enumerate(tokens) if t in starts)
    return iter_find_at(phrases, read, positions), read


# Up to this many distinct start tokens, a list scan for each beats a test at each position.
_FEW_STARTS = 4


def _indexes(tokens: list[str], token: str) -> Iterator[int]:
    """(i for i, t in enumerate(tokens) if t == token), by list.index."""
    i = -1
    try:
        while True:
            i = tokens.index(token, i + 1)
            yield i
    except ValueError:
        return


def _cue_candidate(
    tokens: Sequence[str], end: int, lexicon: Lexicon, *, letters_ok: bool
) -> str | None:
    """The name standing after a cue word that ends at `end`, if any.

    Copulas and colons ("är", "is", ":") may stand between; then the candidate may be letters
    only when `letters_ok` ("användarnamn är kim"). Further away, within name_cue_distance, only a
    candidate with a digit counts ("my username at the library is ab12") so that ordinary words
    ("mitt användarnamn är inte aktivt") are never taken for names.
    """
    only_copulas = True
    for i in range(end, min(len(tokens), end + lexicon.name_cue_distance + 1)):
        token = tokens[i]
        has_digit = any(ch.isdigit() for ch in token)
        if lexicon.states.word(token):
            continue
        name_like = lexicon.username.fullmatch(token) and not lexicon.filler.word(token)
        if name_like and (has_digit or (letters_ok and only_copulas)):
            return token
        only_copulas = False
    return None


def find_username(text: str, lexicon: Lexicon) -> str | None:
    """The username given in `text`: after a cue word, or any id matching username_ids."""
    read = _tokens(normalise(text[:MAX_TEXT]))
    bit = BIT["username_cues"]
    found, tokens = _find(
        lexicon.username_cues, bit, read.tokens, (read.distinct,), lexicon, lower=True
    )
    for _, end in found:
        name = _cue_candidate(tokens, end, lexicon, letters_ok=True)
        if name:
            return name
    m = search_first(lexicon.username_ids, read.plain, read.digits)
    return m.group(0).lower() if m else None


@lru_cache(maxsize=4096)
def _domain(sender: str | None) -> str | None:
    """The normalised domain of a sender address; memoised, as the same requesters write
    again and again and parsing an address costs more than the rest of private_address."""
    _, address = parseaddr(sender or "")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return None
    return _normalise_domain(domain)


def _normalise_domain(domain: str) -> str:
    domain = domain.strip().strip(".").lstrip("@").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def private_address(
    sender: str | None,
    new_text: str,
    lexicon: Lexicon,
    institutional_domains: Sequence[str],
) -> tuple[bool, str | None]:
    """Return (flag, username): flag is True when the sender's domain is not institutional and
    the text gives no username; username is the one found in the text, or None.

    A domain counts as institutional when it equals a configured domain or is a subdomain of
    one (student.example.org under example.org). Without a usable sender address, or without
    configured domains, nothing can be said and the flag is False.
    """
    username = find_username(new_text, lexicon)
    domain = _domain(sender)
    domains = [_normalise_domain(d) for d in institutional_domains if d.strip(" .@")]
    if domain is None or not domains:
        return False, username
    inside = any(domain == d or domain.endswith("." + d) for d in domains)
    return (not inside and username is None), username


def find_computer_name(text: str, lexicon: Lexicon) -> str | None:
    """The computer name given in `text`: a computer_names match, or a name after a cue."""
    plain = normalise(text[:MAX_TEXT])
    tokens = tokens_of(plain)
    return _computer_name(plain, None, tokens, (frozenset(tokens),), lexicon)


def _computer_name(
    plain: str,
    digits: bool | None,
    tokens: list[str],
    distinct: Iterable[AbstractSet[str]],
    lexicon: Lexicon,
    digits_before: int | None = None,
) -> str | None:
    """find_computer_name of a normalised, cut text whose tokens (and their sets, which
    together hold every token) the caller has; `digits` and `digits_before` are as for
    search_first, when known."""
    m = search_first(lexicon.computer_names, plain, digits, digits_before)
    if m:
        return m.group(0)
    bit = BIT["computer_name_cues"]
    found, _ = _find(lexicon.computer_name_cues, bit, tokens, distinct, lexicon, lower=False)
    for _, end in found:
        name = _cue_candidate(tokens, end, lexicon, letters_ok=False)
        if name:
            return name
    return None


def missing_computer_name(subject: str, new_text: str, lexicon: Lexicon) -> str | None:
    """Return None unless the mail is about a specific computer that it does not name.

    "About a specific computer" means a computer word ("datorn", "min laptop", "my computer")
    not introduced by an indefinite ("en ny dator", "a new laptop" need no name), in a mail
    whose matter is a computer (computer_is_the_matter): a mail about a phone on eduroam that
    says the computer works is not asked for a computer name. The reason quotes the mention:
    "mentions 'datorn' but names no computer".
    """
    head = strip_subject(subject)
    text = head + "\n" + (new_text or "")
    plain = normalise(text[:MAX_TEXT])
    digits: bool | None = None
    digits_before: int | None = None
    if len(text) <= MAX_TEXT:
        # Nothing cut, and no token spans the newline: the tokens are the subject's and then
        # the new text's, which private_address has usually just read; so is whether the new
        # text holds a digit (normalise() keeps every digit, strip_subject() normalises).
        body = _tokens(normalise(new_text or ""))
        head_tokens = tokens_of(head)
        tokens = head_tokens + body.tokens
        distinct: tuple[AbstractSet[str], ...] = (frozenset(head_tokens), body.distinct)
        digits = has_digit(head) or body.digits
        if digits and not body.digits:
            digits_before = digits_end(head)  # every digit is the subject's
    else:
        tokens = tokens_of(plain)
        distinct = (frozenset(tokens),)
    if _computer_name(plain, digits, tokens, distinct, lexicon, digits_before):
        return None
    bit = BIT["computer_words"]
    found, low = _find(lexicon.computer_words, bit, tokens, distinct, lexicon, lower=True)
    for start, end in found:
        before = low[max(0, start - 2) : start]
        if any(lexicon.indefinites.word(t) for t in before):
            continue
        if not computer_is_the_matter(subject, new_text or "", lexicon):
            return None  # a phone, an account, a service: the computer is only context
        return f"mentions '{' '.join(low[start:end])}' but names no computer"
    return None
