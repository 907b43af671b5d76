"""The words of a subject line, sorted by what they tell: a thing, a matter, or nothing.

vague_subject models the guide's rule: a subject is clear when it names a *thing* (a device,
program, service, account, function or place) and says a *matter* (what is wrong or wanted).
This module gives each token of a subject its class:

  THING        a named thing: topic words, `things`, the site's own names (Ladok, LU-kortet),
               and what looks like a name: a capitalised word inside the subject ("Jupyter"),
               a model or computer name with letters and digits ("M507", "DDG-LAP-12")
  PLACEHOLDER  a stand-in for a thing that does not say which one ("appen", "the site",
               "kontot", "the new version")
  COMPLAINT    a generic complaint that does not say what is wrong ("funkar inte", "error")
  PLEA         a plea or question that does not say what is wanted ("hjälp", "need", "fråga")
  MATTER       a specific problem or request ("låst", "blinkar", "install", "glömt")
  UNKNOWN      a word of no list: it still tells something, so it counts as a matter
  FILLER       greetings, urgency, function words; NUMBER and ERROR_CODE likewise add nothing

Words are compared with å, ä, ö and accents folded ("losenord" is "lösenord"), inflected forms
are tried by their stems, Swedish compounds by their parts ("skrivarproblem" is a thing and a
complaint), and a word of five letters or more that no list knows is tried against the lists'
words with one letter wrong, missing or extra ("pasword", "Outlok").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .text import MAX_TOKEN, MEMO_LIMIT, Phrases, is_number

FILLER, PLEA, COMPLAINT, MATTER, PLACEHOLDER, THING, UNKNOWN, NUMBER, ERROR_CODE = range(9)
CLASS_NAMES = ("filler", "plea", "complaint", "matter", "placeholder", "thing", "unknown",
               "number", "error code")

# Lists in the order that wins when two match the same number of tokens: a generic complaint
# or a placeholder is recognised before the topic word it also is ("app", "server error").
_ORDER = (COMPLAINT, PLEA, PLACEHOLDER, THING, MATTER, FILLER)

_FOLD = str.maketrans({"å": "a", "ä": "a", "ö": "o", "Å": "A", "Ä": "A", "Ö": "O",
                       "æ": "a", "ø": "o", "Æ": "A", "Ø": "O"})
# Error codes: hexadecimal with 0x, HRESULT-like runs, and exception class names.
_ERROR_CODE_RE = re.compile(r"0x[0-9a-f]{3,}|[0-9a-f]{8}|\w*(?:exception|error)", re.IGNORECASE)
_LETTER_RE = re.compile(r"[^\W\d_]")
_DIGIT_RE = re.compile(r"\d")
# Parts of a compound must have this many letters ("skrivar|problem", "konto|strul").
_MIN_PART = 3
# Words shorter than this are never matched with a letter wrong: too many short words are one
# letter apart.
_MIN_FUZZY = 5


def fold(text: str) -> str:
    """`text` with å, ä, ö, æ, ø and accents folded to plain letters (case kept)."""
    text = text.translate(_FOLD)
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _folded_entries(entries: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(fold(e) for e in entries))


def _deletions(word: str) -> tuple[str, ...]:
    # In order, without repeats: a set's order follows the string hash, which changes with
    # each process, and the first near hit wins, so a set made the flag differ between runs.
    return tuple(dict.fromkeys(word[:i] + word[i + 1 :] for i in range(len(word))))


@dataclass(frozen=True)
class SubjectWords:
    """The word lists of the subject model, folded, with the fallbacks described above."""

    lists: tuple[tuple[int, Phrases], ...]  # (class, words) in _ORDER
    _matter: Phrases = field(default_factory=Phrases, compare=False, repr=False)
    inflections: tuple[str, ...] = ()
    # One-word plain entries of each class (folded, lower case), for stems and compounds.
    _plain: dict[int, frozenset[str]] = field(default_factory=dict, compare=False, repr=False)
    # Words one deletion away -> (class, word), for words with a letter wrong.
    _near: dict[str, tuple[int, str]] = field(default_factory=dict, compare=False, repr=False)
    # Folded token (as written) -> its class and length of match, when that needs no context.
    _memo: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls, words: Mapping[int, Iterable[str]], inflections: Iterable[str]
    ) -> SubjectWords:
        lists = tuple((kind, Phrases(_folded_entries(words.get(kind, ())))) for kind in _ORDER)
        plain: dict[int, frozenset[str]] = {}
        near: dict[str, tuple[int, str]] = {}
        for kind, phrases in lists:
            one = frozenset(
                e.lower() for e in phrases.entries if " " not in e and "*" not in e
            )
            plain[kind] = one
            if kind == FILLER:
                continue
            for word in sorted(one):
                if len(word) < _MIN_FUZZY - 1 or not word.isalpha():
                    continue
                for key in (word, *_deletions(word)):
                    near.setdefault(key, (kind, word))
        matter = dict(lists)[MATTER]
        return cls(lists, matter, tuple(inflections), plain, near)

    def classes(self, tokens: list[str]) -> list[tuple[int, str]]:
        """(class, words) for each word or phrase of `tokens` (a subject's tokens, as written),
        left to right; a phrase ("funkar inte", "logga in") comes once with its words joined."""
        folded = [fold(t) for t in tokens]
        # In Title Case or capitals, a capital says nothing about a name.
        alpha = [t for t in tokens[1:] if t[:1].isalpha()]
        names = sum(1 for t in alpha if t[:1].isupper()) * 2 <= len(alpha)
        out: list[tuple[int, str]] = []
        i = 0
        while i < len(folded):
            best_kind, best_n = -1, 0
            for kind, phrases in self.lists:
                n = phrases.match_at(folded, i)
                if n > best_n:
                    best_kind, best_n = kind, n
            if best_n:
                words = " ".join(tokens[i : i + best_n]).lower()
                out.append((best_kind, words))
                if best_kind == THING and self._matter.match_at(folded, i):
                    out.append((MATTER, words))  # "installera", "pappersstopp", "offline"
                for extra in self._compound_tail(folded[i].lower(), best_kind):
                    out.append((extra, tokens[i].lower()))
                i += best_n
                continue
            kind = self._alone(folded[i], tokens[i], names=names and i > 0)
            out.append((kind, tokens[i].lower()))
            for extra in self._compound_tail(folded[i].lower(), kind):
                out.append((extra, tokens[i].lower()))
            i += 1
        return out

    def _compound_tail(self, word: str, kind: int) -> tuple[int, ...]:
        """A thing run together with a complaint ("skrivarproblem", "datorstrul") says both:
        the complaint a word ends with, when the word is a thing or placeholder."""
        if kind not in (THING, PLACEHOLDER) or len(word) < 2 * _MIN_PART:
            return ()
        complaints = self._plain[COMPLAINT]
        for cut in range(_MIN_PART, len(word) - _MIN_PART + 1):
            if word[cut:] in complaints:
                return (COMPLAINT,)
        return ()

    def _alone(self, folded: str, token: str, *, names: bool) -> int:
        """The class of a token that no list entry matches where it stands (memoised, but for
        the capitalised-name rule, which depends on where the token stands)."""
        found = self._memo.get(folded)
        if found is None:
            found = self._guess(folded.lower())
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            self._memo[folded] = found
        if found == UNKNOWN and names and _looks_like_a_name(token):
            return THING
        return found

    def _guess(self, word: str) -> int:
        if is_number(word) or not _LETTER_RE.search(word):
            return NUMBER
        if len(word) > MAX_TOKEN:
            return FILLER
        if _ERROR_CODE_RE.fullmatch(word):
            return ERROR_CODE
        if _DIGIT_RE.search(word):
            return THING  # a model, room or computer name: "m507", "e:1406", "ddg-lap-12"
        for kind in _ORDER:  # an inflected form: "fungerade", "krånglade", "printers"
            if self._stem_in(word, self._plain[kind]):
                return kind
        for kind in self._compound(word):
            return kind
        if len(word) >= _MIN_FUZZY:
            for key in (word, *_deletions(word)):
                hit = self._near.get(key)
                if hit is not None and _one_edit(word, hit[1]):
                    return hit[0]
        return UNKNOWN

    def _stem_in(self, word: str, words: frozenset[str]) -> bool:
        for suffix in self.inflections:
            if len(word) - len(suffix) < _MIN_PART or not word.endswith(suffix):
                continue
            stem = word[: -len(suffix)]
            if stem.endswith("i"):
                stem = stem[:-1] + "y"
            if stem in words or stem + "a" in words or stem + "e" in words:
                return True
        return False

    def _compound(self, word: str) -> Iterable[int]:
        """The class of a compound whose head and tail are known: the tail's, unless the head
        is a thing ("kontoinställningar" is a placeholder, "lösenordsbyte" a thing)."""
        if "-" in word:
            parts = [p for p in word.split("-") if p]
            kinds = [self._guess(p) for p in parts] if len(parts) > 1 else []
            if THING in kinds or (UNKNOWN in kinds and PLACEHOLDER in kinds):
                yield THING  # "Word-filer", "Zoom-möte": a named kind of thing
            elif kinds and UNKNOWN not in kinds:
                yield max(kinds, key=lambda k: _ORDER_RANK[k])
            return
        for cut in range(_MIN_PART, len(word) - _MIN_PART + 1):
            head, tail = word[:cut], word[cut:]
            tail_kind = self._known(tail)
            if tail_kind is None:
                continue
            head_kind = self._known(head)
            if head_kind is None and head.endswith("s"):
                head_kind = self._known(head[:-1])
            if head_kind is None:
                continue
            yield THING if THING in (head_kind, tail_kind) else tail_kind
            return

    def _known(self, part: str) -> int | None:
        for kind in _ORDER:
            words = self._plain[kind]
            if part in words or self._stem_in(part, words):
                return kind
        return None


_ORDER_RANK = {kind: -rank for rank, kind in enumerate(_ORDER)}


def _one_edit(a: str, b: str) -> bool:
    """True when a and b differ by one letter changed, added, dropped or two swapped."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (len(diff) == 2 and diff[1] == diff[0] + 1
                and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _looks_like_a_name(token: str) -> bool:
    """A capitalised word inside a subject: a product or place name ("Jupyter", "SUBR")."""
    return token[:1].isupper() and len(token) >= 2 and token.isalpha()
