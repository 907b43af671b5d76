"""Text folding for route matching: case- and accent-insensitive, whitespace-tolerant.

`contains` and `equals` compare folded text with folded word lists, so "LU-kortet",
"lu‑kortet" (non-breaking hyphen) and "lu-kortet" are one word, and "pässerkört" contains
"passerkort". Swedish å, ä and ö fold to a, a and o on both sides, as the admin asked for.
Regular expressions do not see folded text (folding a pattern would change its meaning, e.g.
casefolding `\\S` to `\\s`); they run on NFC text with re.IGNORECASE instead.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# Typographic variants that mail clients substitute on their own, mapped to what admins type;
# invisible characters (zero-width spaces and joiners, soft hyphen, BOM) are dropped.
_TRANSLATE = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        **dict.fromkeys("\u2018\u2019\u201b\u00b4\u02bc", "'"),
        **dict.fromkeys("\u201c\u201d\u201e", '"'),
        **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff", None),
    }
)


# str.translate and a per-character filter walk a non-ASCII text in slow paths (about 100 µs
# for a 3 KB mail); these find the few characters to change first, and str.replace does it.
_TYPOGRAPHIC = re.compile("[" + "".join(re.escape(chr(c)) for c in _TRANSLATE) + "]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def fold(text: str) -> str:
    """Casefold, strip accents, unify dashes and quotes, collapse whitespace runs to one space."""
    if text.isascii():
        return " ".join(text.lower().split())
    # casefold first: it can produce combining marks ("İ" -> "i̇") that NFKD then exposes.
    folded = text.casefold()
    quick = _by_character(folded)
    if quick is not None:
        return " ".join(quick.split())
    return _fold_text(folded)


@functools.lru_cache(maxsize=4096)
def _fold_character(ch: str) -> str:
    """What _fold_text makes of one character of a casefolded text."""
    return _fold_text(ch, collapse=False)


def _by_character(folded: str) -> str | None:
    """`folded` with each distinct non-ASCII character replaced by its folded form; None when
    one of those forms is not ASCII.

    Every step of _fold_text but the collapsing of spaces maps each character on its own:
    translate and casefold do; NFKD does but for the canonical reordering of combining marks
    (class > 0), which are all dropped, so the others keep their order. A text (~3 KB) has a
    few distinct accented letters, many times over: str.replace of each is a fraction of
    normalising and filtering the whole text. ASCII results are never replaced again.
    """
    for ch in set(_NON_ASCII.findall(folded)):
        replacement = _fold_character(ch)
        if not replacement.isascii():
            return None
        folded = folded.replace(ch, replacement)
    return folded


def _fold_text(folded: str, *, collapse: bool = True) -> str:
    """fold() of a text already casefolded, the whole text at once."""
    if _TYPOGRAPHIC.search(folded) is not None:
        folded = folded.translate(_TRANSLATE)
    bare = unicodedata.normalize("NFKD", folded)
    if not bare.isascii():
        # drop the combining marks (accents): only non-ASCII characters can be one
        for mark in {ch for ch in _NON_ASCII.findall(bare) if unicodedata.combining(ch)}:
            bare = bare.replace(mark, "")
    # again, for compatibility forms that decompose to capitals ("ℌ" -> "H")
    return " ".join(bare.casefold().split()) if collapse else bare.casefold()


def nfc(text: str) -> str:
    """Composed form, so a pattern's "ä" also finds the decomposed "a\\u0308" some clients send."""
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)
