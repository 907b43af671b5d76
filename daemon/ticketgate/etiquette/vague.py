"""vague_subject: does the subject say which thing and what about it?

The helpdesk asks for "a short, clear subject that very briefly describes the problem or the
request". The guide's rule, modelled here: a subject is clear when it names a *thing* (device,
program, service, account, function, place) **and** says a *matter* (what is wrong or wanted).
Each word is classed by subjectwords.py; then:

  - a named thing with any matter, even a generic one, is clear: "Skrivaren funkar inte",
    "Problem med VPN", "Fråga om backup", "Ny mus";
  - a placeholder ("appen", "kontot", "the site") needs a specific matter: "Kontot är låst" is
    clear, "Appen fungerar inte" and "Need help with my account" are not;
  - a word no list knows counts as a specific matter ("Konto till gästforskare"); two of them
    with a matter are taken to hold a thing as well ("Dark mode setting not saved");
  - an urgent word in front of a description does not spoil it ("Akut: servern svarar inte").

Everything else is vague, with the kind of what is missing, so that the acknowledgement can
help: "no_thing" (which program stopped working?), "no_matter" (what about the printer?),
"placeholder" (which app?), "filler" (nothing but greetings, urgency and pleas), "empty",
"no_words".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .lexicon import Lexicon
from .subjectwords import (
    COMPLAINT,
    ERROR_CODE,
    FILLER,
    MATTER,
    NUMBER,
    PLACEHOLDER,
    PLEA,
    THING,
    UNKNOWN,
)
from .text import is_number, strip_subject, tokenize

# Reason texts for staff (rules test, the ticket's history), by kind.
_WHY = {
    "no_thing": "no thing named",
    "no_matter": "no matter said",
    "placeholder": "no thing named, only a stand-in",
    "filler": "only filler words",
}
_SHOWN = 6  # words quoted in a reason


@dataclass(frozen=True)
class VagueSubject:
    """Why a subject is vague: the kind of what is missing and the words that were seen.

    kind: "empty", "no_words", "filler", "no_thing", "no_matter" or "placeholder".
    subject: the subject without prefixes and ticket code (what the requester wrote).
    things, placeholders, matters: the words of each sort found ("skrivaren"; "appen";
    "funkar inte").
    """

    kind: str
    subject: str
    things: tuple[str, ...] = ()
    placeholders: tuple[str, ...] = ()
    matters: tuple[str, ...] = ()
    words: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """A short text for staff: "no thing named: funkar inte" and the like."""
        if self.kind == "empty":
            return "empty"
        if self.kind == "no_words":
            return "no words"
        shown = {
            "no_thing": self.matters,
            "no_matter": self.things,
            "placeholder": self.placeholders + self.matters,
        }.get(self.kind) or self.words
        return f"{_WHY[self.kind]}: " + ", ".join(shown[:_SHOWN])

    def details(self) -> dict[str, object]:
        """JSON-ready data for the verdict and the acknowledgement's template."""
        return {
            "kind": self.kind,
            "subject": self.subject,
            "things": list(self.things),
            "placeholders": list(self.placeholders),
            "matters": list(self.matters),
        }


def judge_subject(
    subject: str, lexicon: Lexicon, *, code_pattern: re.Pattern[str] | None = None
) -> VagueSubject | None:
    """None when the subject names a thing and says a matter, else why it is vague."""
    stripped = strip_subject(subject, code_pattern)
    if not stripped:
        return VagueSubject("empty", "")
    tokens = tokenize(stripped)
    if not tokens or all(is_number(t) for t in tokens):
        return VagueSubject("no_words", stripped)
    things: list[str] = []
    placeholders: list[str] = []
    complaints: list[str] = []
    pleas: list[str] = []
    specific: list[str] = []  # specific matters and words of no list
    unknown = 0
    for kind, words in lexicon.subject_words.classes(tokens):
        if kind == THING:
            things.append(words)
        elif kind == PLACEHOLDER:
            placeholders.append(words)
        elif kind == COMPLAINT:
            complaints.append(words)
        elif kind == PLEA:
            pleas.append(words)
        elif kind == MATTER:
            specific.append(words)
        elif kind == UNKNOWN:
            specific.append(words)
            unknown += 1
        elif kind not in (FILLER, NUMBER, ERROR_CODE):  # pragma: no cover - all handled
            raise AssertionError(kind)
    matters = complaints + specific + pleas
    # Pleas say least: they do not count toward vague_min_content_words ("Ny mus" has one).
    enough = len(things) + len(placeholders) + len(complaints) + len(specific) >= (
        lexicon.vague_min_content_words
    )
    if enough and (
        (things and matters)
        or (placeholders and specific)
        or unknown >= 2  # "Inaktiverad student i Sukat": a thing no list knows is among them
    ):
        return None
    found = {
        "subject": stripped,
        "things": _unique(things),
        "placeholders": _unique(placeholders),
        "matters": _unique(matters),
        "words": _unique(t.lower() for t in tokens),
    }
    if things:
        return VagueSubject("no_matter", **found)  # type: ignore[arg-type]
    if placeholders:
        return VagueSubject("placeholder", **found)  # type: ignore[arg-type]
    if specific or complaints:
        return VagueSubject("no_thing", **found)  # type: ignore[arg-type]
    return VagueSubject("filler", **found)  # type: ignore[arg-type]


def _unique(words: object) -> tuple[str, ...]:
    return tuple(dict.fromkeys(words))  # type: ignore[call-overload]


def vague_subject(
    subject: str, lexicon: Lexicon, *, code_pattern: re.Pattern[str] | None = None
) -> str | None:
    """Return None when the subject says what the matter is, else a short reason for staff.

    Reasons: "empty", "no words", "only filler words: ...", "no thing named: ...",
    "no matter said: ...", "no thing named, only a stand-in: ..." (see judge_subject).
    """
    found = judge_subject(subject, lexicon, code_pattern=code_pattern)
    return found.reason if found else None
