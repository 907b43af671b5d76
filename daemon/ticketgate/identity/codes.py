"""Ticket codes and subjects: the code's format, its one pattern, the subject key.

A code looks like `[DDG #1234]`: the site's tag and the ticket's number. It is found anywhere
in a subject, behind any `Re:`/`SV:`/`AW:`/`Fwd:`... prefix, in any case and spacing.
`code_pattern` takes the tags to look for as a tuple: today a site has one (`ticket_tag`),
and a later per-queue tag only widens what `site_tags` returns, so every code a site ever
issued keeps threading. The ticket's number alone names the ticket; the tag is its dress.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings

# A ticket number fits SQLite's integer (and stays short enough to be cheap to match).
NUMBER = r"\d{1,18}"
# The one shape of a code: what stands between the brackets around the tag and the number.
_SHAPE = r"\[\s*(?P<tag>{tag})\s*#\s*(?P<number>{number})\s*\]"

# Anything shaped like some helpdesk's code ("[HELP #7]", "[Ärende #12]"), any tag and any
# number of digits: removed from a subject before the etiquette judges what it says about the
# matter (the pattern the etiquette used, unchanged).
ANY_CODE = re.compile(r"\[\s*(?P<tag>[^\[\]#\n]{0,40})#\s*(?P<number>\d+)\s*\]")

# Reply and forward prefixes of the common mail clients: Re, SV (sv/da/no reply), VS (no/da
# forward), AW/WG (de), Fwd/FW, VB (sv Outlook forward), TR (fr), Antw (nl); with an optional
# counter as in "Re[2]:" or "Re^2:". Italian "R:" is left out: "R: ..." is often about R itself.
REPLY_PREFIX = re.compile(
    r"^\s*(?:re|sv|vs|aw|wg|fwd?|vb|tr|antw)\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]\s*",
    re.IGNORECASE,
)

_WORDS = re.compile(r"\w+")


def _fold_typography(text: str) -> str:
    """Typographic apostrophes and odd spaces folded, as the etiquette's tokens fold them.

    Five str.replace calls: str.translate with a table costs 30 times as much on a subject.
    """
    return (
        text.replace("\u2019", "'")
        .replace("\u2018", "'")
        .replace("\u00b4", "'")
        .replace("\u00a0", " ")
        .replace("\u200b", "")
    )


def _tags(tags: str | Iterable[str]) -> tuple[str, ...]:
    return (tags,) if isinstance(tags, str) else tuple(tags)


def site_tags(settings: Settings) -> tuple[str, ...]:
    """Every tag whose codes name this site's tickets (today the one `ticket_tag`)."""
    return (settings.ticket_tag,)


@cache
def _compiled(tags: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so "DDG-LU" is preferred over "DDG" where both would match.
    alternatives = "|".join(re.escape(t) for t in sorted(tags, key=len, reverse=True))
    return re.compile(_SHAPE.format(tag=alternatives, number=NUMBER), re.IGNORECASE)


def code_pattern(tags: str | Iterable[str]) -> re.Pattern[str]:
    """`[TAG #123]` for any of `tags`, in any case and spacing (`[ddg#123]`, `[ DDG  # 123 ]`).

    Groups: `tag` (as written in the mail) and `number`.
    """
    return _compiled(_tags(tags))


def find_code(subject: str, tags: str | Iterable[str]) -> int | None:
    """The number of the first ticket code in `subject`, wherever it stands."""
    match = code_pattern(tags).search(subject)
    return int(match.group("number")) if match else None


def format_code(number: int, tag: str) -> str:
    """The code of ticket `number` as we write it: `[DDG #12]`."""
    return f"[{tag} #{number}]"


def strip_subject(subject: str, pattern: re.Pattern[str] | None = None) -> str:
    """A subject without reply/forward prefixes and ticket codes, its spaces collapsed.

    Prefixes are removed in any number, case and spacing, also when they follow the code
    ("[DDG #1] Re: x"). Codes (`pattern`, by default anything shaped like a code) are removed
    wherever they occur.
    """
    text = _fold_typography(subject or "")
    text = (pattern or ANY_CODE).sub(" ", text)
    while True:
        stripped = REPLY_PREFIX.sub("", text, count=1).lstrip()
        if stripped == text.lstrip():
            break
        text = stripped
    return " ".join(text.split())


def subject_key(subject: str, tags: str | Iterable[str]) -> str:
    """The subject without prefixes and code, case- and space-folded: the same request sent
    again has the same key (stored with each ticket, looked up by the dedupe stage)."""
    stripped = strip_subject(subject, code_pattern(tags))
    folded = unicodedata.normalize("NFKC", stripped).casefold()
    return " ".join(_WORDS.findall(folded))
