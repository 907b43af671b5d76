"""private_address and missing_computer_name: can the helpdesk tell who and what the mail is about?

From a student or work address the helpdesk looks the requester up; from a private address it
needs at least the username. A mail about a specific computer needs that computer's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from email.utils import parseaddr
from typing import NamedTuple

from .lexicon import BIT, Lexicon
from .text import (
    MAX_TEXT,
    Phrases,
    find_at,
    lowered,
    normalise,
    search_first,
    strip_subject,
    tokens_of,
)


class _Tokens(NamedTuple):
    """The tokens of a text, as written and lower-cased, and the sets of each."""

    tokens: list[str]
    lowered: list[str]
    distinct: frozenset[str]
    distinct_lowered: frozenset[str]


def _read(tokens: list[str]) -> _Tokens:
    low = lowered(tokens)
    return _Tokens(tokens, low, frozenset(tokens), frozenset(low))


# The last text whose tokens were read here, and them. private_address reads a mail's new text
# and missing_computer_name then reads the subject and the same new text, so the second takes
# the new text's tokens from here. Never mutated.
_last: tuple[str, _Tokens] = ("", _read([]))


def _tokens(plain: str) -> _Tokens:
    """_read(tokens_of(plain)), from _last when it holds `plain`."""
    global _last
    last = _last  # one read: another thread may replace it meanwhile
    if plain == last[0] and plain:
        return last[1]
    found = _read(tokens_of(plain))
    _last = (plain, found)
    return found


def _find(
    phrases: Phrases, bit: int, tokens: list[str], distinct: AbstractSet[str], lexicon: Lexicon
) -> list[tuple[int, int]]:
    """phrases.find(tokens) as a list, trying only the tokens (of their set `distinct`) whose
    masks have `bit`: asking each distinct token once is cheaper than each position."""
    starts = lexicon.starting(distinct, bit)
    if not starts:
        return []
    return find_at(phrases, tokens, [i for i, t in enumerate(tokens) if t in starts])


def _cue_candidate(
    tokens: list[str], end: int, lexicon: Lexicon, *, letters_ok: bool
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
    plain = normalise(text[:MAX_TEXT])
    read = _tokens(plain)
    tokens = read.lowered
    bit = BIT["username_cues"]
    for _, end in _find(lexicon.username_cues, bit, tokens, read.distinct_lowered, lexicon):
        found = _cue_candidate(tokens, end, lexicon, letters_ok=True)
        if found:
            return found
    m = search_first(lexicon.username_ids, plain)
    return m.group(0).lower() if m else None


def _domain(sender: str | None) -> str | None:
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
    return _computer_name(plain, tokens, frozenset(tokens), lexicon)


def _computer_name(
    plain: str, tokens: list[str], distinct: AbstractSet[str], lexicon: Lexicon
) -> str | None:
    """find_computer_name of a normalised, cut text whose tokens (and their set) the caller
    has."""
    m = search_first(lexicon.computer_names, plain)
    if m:
        return m.group(0)
    bit = BIT["computer_name_cues"]
    for _, end in _find(lexicon.computer_name_cues, bit, tokens, distinct, lexicon):
        found = _cue_candidate(tokens, end, lexicon, letters_ok=False)
        if found:
            return found
    return None


def missing_computer_name(subject: str, new_text: str, lexicon: Lexicon) -> str | None:
    """Return None unless the mail is about a specific computer that it does not name.

    "About a specific computer" means a computer word ("datorn", "min laptop", "my computer")
    not introduced by an indefinite ("en ny dator", "a new laptop" need no name). The reason
    quotes the mention: "mentions 'datorn' but names no computer".
    """
    head = strip_subject(subject)
    text = head + "\n" + (new_text or "")
    plain = normalise(text[:MAX_TEXT])
    if len(text) <= MAX_TEXT:
        # Nothing cut, and no token spans the newline: the tokens are the subject's and then
        # the new text's, which private_address has usually just read.
        body = _tokens(normalise(new_text or ""))
        head_read = _read(tokens_of(head))  # strip_subject() normalises
        read = _Tokens(
            head_read.tokens + body.tokens,
            head_read.lowered + body.lowered,
            head_read.distinct | body.distinct,
            head_read.distinct_lowered | body.distinct_lowered,
        )
    else:
        read = _read(tokens_of(plain))
    if _computer_name(plain, read.tokens, read.distinct, lexicon):
        return None
    tokens = read.lowered
    bit = BIT["computer_words"]
    for start, end in _find(lexicon.computer_words, bit, tokens, read.distinct_lowered, lexicon):
        before = tokens[max(0, start - 2) : start]
        if any(lexicon.indefinites.word(t) for t in before):
            continue
        return f"mentions '{' '.join(tokens[start:end])}' but names no computer"
    return None
