"""Text folding for route matching: case- and accent-insensitive, whitespace-tolerant.

`contains` and `equals` compare folded text with folded word lists, so "LU-kortet",
"lu‑kortet" (non-breaking hyphen) and "lu-kortet" are one word, and "pässerkört" contains
"passerkort". Swedish å, ä and ö fold to a, a and o on both sides, as the admin asked for.
Regular expressions do not see folded text (folding a pattern would change its meaning, e.g.
casefolding `\\S` to `\\s`); they run on NFC text with re.IGNORECASE instead.
"""

from __future__ import annotations

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


def fold(text: str) -> str:
    """Casefold, strip accents, unify dashes and quotes, collapse whitespace runs to one space."""
    if text.isascii():
        return " ".join(text.lower().split())
    # casefold first: it can produce combining marks ("İ" -> "i̇") that NFKD then exposes.
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_TRANSLATE))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # again, for compatibility forms that decompose to capitals ("ℌ" -> "H")
    return " ".join(bare.casefold().split())


def nfc(text: str) -> str:
    """Composed form, so a pattern's "ä" also finds the decomposed "a\\u0308" some clients send."""
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)
