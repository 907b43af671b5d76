"""The entries of the subject model, gathered from the lexicon's lists and the site's names.

The subject model (subjectwords.py) has lists of its own in each language section of
rules/etiquette.yaml (`things`, `placeholders`, `complaints`, `pleas`, `matters`) and reuses
others: topic words, `parts` and `computer_words` are things; `problems`, `requests` and
`steps` are matters; `filler`, `states`, `prepositions` and `determiners` are filler. The
site's own names (`site_names`, the queues' names, the words the routes look for) are things.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .subjectwords import (
    COMPLAINT,
    FILLER,
    MATTER,
    PLACEHOLDER,
    PLEA,
    THING,
    UNKNOWN,
    SubjectWords,
)

# The per-language lists of the subject model, by the class they give.
SUBJECT_LISTS: dict[str, int] = {
    "things": THING,
    "placeholders": PLACEHOLDER,
    "complaints": COMPLAINT,
    "pleas": PLEA,
    "matters": MATTER,
}

Entries = tuple[tuple[int, tuple[str, ...]], ...]


def subject_entries(
    merged: Mapping[str, list[str]],
    subject: Mapping[str, list[str]],
    topic_words: Mapping[str, list[str]],
) -> Entries:
    """The entries of each class (an entry of a stronger class wins, see subjectwords)."""
    things = [w for words in topic_words.values() for w in words]
    things += merged["parts"] + merged["computer_words"] + subject["things"]
    matters = merged["problems"] + merged["requests"] + merged["steps"] + subject["matters"]
    filler = merged["filler"] + merged["states"] + merged["prepositions"] + merged["determiners"]
    return (
        (THING, tuple(things)),
        (PLACEHOLDER, tuple(subject["placeholders"])),
        (COMPLAINT, tuple(subject["complaints"])),
        (PLEA, tuple(subject["pleas"])),
        (MATTER, tuple(matters)),
        (FILLER, tuple(filler)),
    )


def subject_words(
    entries: Entries, site_names: Iterable[str], inflections: tuple[str, ...]
) -> SubjectWords:
    """The subject model of `entries` with the site's names as things. A name matches in any
    case ("LU-kortet" is "lu-kortet"); a one-word name also its inflected forms ("tentan")."""
    words: dict[int, list[str]] = {kind: list(e) for kind, e in entries}
    for name in site_names:
        name = name.lower()
        words.setdefault(THING, []).append(name)
        if " " not in name and "*" not in name and name.isalpha():
            words[THING].append(name + "*")
    return SubjectWords.build(words, inflections)


def names_a_thing(name: str, words: SubjectWords) -> bool:
    """False for a name that is a filler word, plea, complaint or stand-in to the model
    ("helpdesk", "support", "program"): as a thing it would make "Helpdesk problem" clear."""
    tokens = name.split()
    found = words.classes(tokens)
    return not (len(tokens) == 1 and found and found[0][0] in (FILLER, PLEA, COMPLAINT,
                                                               PLACEHOLDER))


def site_words(queues: Mapping[str, Any] | None, routes: Any) -> list[str]:
    """The site's own names in its rules: each queue's key and display name, and the words
    the routes' `contains` tests look for (`matches` patterns are not words)."""
    out: list[str] = []
    for key, queue in (queues or {}).items():
        if isinstance(key, str):
            out.append(key)
        if isinstance(queue, Mapping) and isinstance(queue.get("display_name"), str):
            out.append(queue["display_name"])
    out.extend(_contains_words(routes))
    return [w for w in out if w.strip() and any(ch.isalpha() for ch in w)]


def _contains_words(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "contains":
                if isinstance(value, str):
                    yield value
                elif isinstance(value, list):
                    yield from (v for v in value if isinstance(v, str))
            else:
                yield from _contains_words(value)
    elif isinstance(node, list):
        for item in node:
            yield from _contains_words(item)


__all__ = ["SUBJECT_LISTS", "UNKNOWN", "names_a_thing", "site_words", "subject_entries",
           "subject_words"]
