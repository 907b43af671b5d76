"""The etiquette lexicon: every word list, pattern and threshold the heuristics use.

It is loaded from the parsed YAML of rules/etiquette.yaml (one section per language; the
heuristics use the union of all languages, since a mail does not say which language it is in).
The package carries a copy of the shipped defaults (default.yaml) so that an installed package
works without the repository.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

import yaml

from .subjectlists import SUBJECT_LISTS, names_a_thing, subject_entries, subject_words
from .subjectwords import SubjectWords
from .text import MEMO_LIMIT, Phrases

# The per-language word lists, in the order the YAML documents them. Each is a list of words or
# phrases (see Phrases); the meaning of each is documented in rules/etiquette.yaml.
WORD_LISTS: tuple[str, ...] = (
    "filler",
    "greetings",
    "closings",
    "transitions_strong",
    "transitions_weak",
    "joiners",
    "prepositions",
    "determiners",
    "requests",
    "problems",
    "steps",
    "states",
    "consequences",
    "working",
    "anaphora",
    "alternatives",
    "parts",
    "quantifiers",
    "matter_nouns",
    "username_cues",
    "computer_words",
    "computer_name_cues",
    "indefinites",
)

# Bit of each word list in a token's mask (see Lexicon.mask_of); `bit << SURE` is set as well
# when the token is a one-word entry of that list; topic k has bit TOPIC_BIT << k.
BIT: dict[str, int] = {name: 1 << i for i, name in enumerate(WORD_LISTS)}
SURE = len(WORD_LISTS)
TOPIC_BIT = 1 << (2 * len(WORD_LISTS))

_THRESHOLDS: dict[str, int] = {
    "vague_min_content_words": 1,
    "multi_min_list_items": 2,
    "multi_min_matters": 2,
    "name_cue_distance": 4,
}

_DEFAULT_USERNAME = r"[a-z][a-z0-9._-]{0,30}[a-z0-9]"
_TOP_KEYS = ("version", "thresholds", "patterns", "matters", "site_names", "languages")

_MATTER_KEYS = ("related", "devices", "parts_default")
_PATTERN_KEYS = ("username", "username_ids", "computer_names")


@dataclass(frozen=True)
class Topic:
    """A kind of matter (printer, network, account, ...) and the words that name it."""

    name: str
    words: Phrases


# A topic as the heuristics walk them: (index in Lexicon.topics, its words, its name, whether
# it is a device).
TopicEntry = tuple[int, Phrases, str, bool]
# A topic whose words may start at a token: its TopicEntry and the length of the match there
# when that is certain without looking further (1: a one-word entry that starts no phrase),
# else 0 (ask words.match_at).
TopicStart = tuple[int, Phrases, str, bool, int]


@dataclass(frozen=True)
class Lexicon:
    """Word lists, patterns and thresholds of the etiquette heuristics (languages merged)."""

    languages: tuple[str, ...]
    filler: Phrases
    greetings: Phrases
    closings: Phrases
    transitions_strong: Phrases
    transitions_weak: Phrases
    joiners: Phrases
    prepositions: Phrases
    determiners: Phrases
    requests: Phrases
    problems: Phrases
    steps: Phrases
    states: Phrases
    consequences: Phrases
    working: Phrases
    anaphora: Phrases
    alternatives: Phrases
    parts: Phrases
    quantifiers: Phrases
    matter_nouns: Phrases
    username_cues: Phrases
    computer_words: Phrases
    computer_name_cues: Phrases
    indefinites: Phrases
    topics: tuple[Topic, ...]
    username: re.Pattern[str]
    username_ids: tuple[re.Pattern[str], ...]
    computer_names: tuple[re.Pattern[str], ...]
    inflections: tuple[str, ...] = ()
    related: frozenset[tuple[str, str]] = frozenset()
    devices: tuple[str, ...] = ()
    parts_default: str | None = None
    # The subject model's words (see subjectwords.py); built by load_lexicon.
    subject_words: SubjectWords = field(
        default_factory=lambda: SubjectWords.build({}, ()), compare=False, repr=False
    )
    # The site's own names (of site_names, queues and routes): things of the subject model.
    site_names: tuple[str, ...] = ()
    # The raw subject-model entries by class, kept so that site names can be added later.
    subject_entries: tuple[tuple[int, tuple[str, ...]], ...] = field(
        default=(), compare=False, repr=False
    )
    vague_min_content_words: int = 1
    multi_min_list_items: int = 2
    multi_min_matters: int = 2
    name_cue_distance: int = 4
    # Token (as written) -> its mask (see mask_of); memoised, emptied at MEMO_LIMIT tokens.
    _masks: dict[str, int] = field(
        default_factory=dict, init=False, compare=False, repr=False, hash=False
    )
    # Token (lower case) -> whether vague_subject counts it as a content word; memoised,
    # emptied at MEMO_LIMIT tokens (see vague.content_words).
    content_memo: dict[str, bool] = field(
        default_factory=dict, init=False, compare=False, repr=False, hash=False
    )
    # Topic -> the topics `related` pairs it with (see same_matter); built when first asked.
    _related_to: dict[str, set[str]] | None = field(
        default=None, init=False, compare=False, repr=False, hash=False
    )
    # Token (as written) -> the mask of its lower-case form; memoised as _masks is.
    _lower_masks: dict[str, int] = field(
        default_factory=dict, init=False, compare=False, repr=False, hash=False
    )
    # Token (as written) -> topic_starts of it; memoised, emptied at MEMO_LIMIT tokens.
    _topic_starts: dict[str, tuple[TopicStart, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False, hash=False
    )
    # Topic bits of a mask -> topic_entries of them; memoised (few combinations occur).
    _topic_entries: dict[int, tuple[TopicEntry, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False, hash=False
    )

    def with_site_names(self, names: Iterable[str]) -> Lexicon:
        """A copy whose subject model also knows `names` as things (queue names, words of the
        routes): the site's own systems make a subject clear ("Ladok", "LU-kortet")."""
        extra = tuple(n for n in dict.fromkeys(n.strip() for n in names)
                      if n and n not in self.site_names and names_a_thing(n, self.subject_words))
        if not extra:
            return self
        site = self.site_names + extra
        words = subject_words(self.subject_entries, site, self.inflections)
        return replace(self, site_names=site, subject_words=words)

    def mask_of(self, token: str) -> int:
        """Which lists an entry may start at `token`: bit BIT[name] for a word list (and
        BIT[name] << SURE when the token is a one-word entry of it, so that a match is certain
        there), bit TOPIC_BIT << k for topics[k]. A clear bit means that list cannot match
        there, so the heuristics test one memoised integer instead of asking each list."""
        mask = self._masks.get(token)
        if mask is None:
            mask = 0
            for name, bit in BIT.items():
                can, word = getattr(self, name).start_kind(token)
                if can:
                    mask |= bit
                if word:
                    mask |= bit << SURE
            for k, topic in enumerate(self.topics):
                if topic.words.can_start(token):
                    mask |= TOPIC_BIT << k
            if len(self._masks) >= MEMO_LIMIT:
                self._masks.clear()
            self._masks[token] = mask
        return mask

    def mask_memo(self) -> Callable[[str], int | None]:
        """A lookup of mask_of in its memo: None for a token not seen yet (ask mask_of or
        masks then). A hot loop asks this rather than call masks each time."""
        return self._masks.get

    def masks(self, tokens: Sequence[str]) -> list[int]:
        """mask_of of each token."""
        known = self._masks.get
        found = [known(t) for t in tokens]
        if None in found:
            return [self.mask_of(t) for t in tokens]
        return found  # type: ignore[return-value]  # no None left

    def starting(self, distinct: Iterable[str], bit: int) -> set[str]:
        """The tokens of `distinct` whose masks have `bit` (where that list may match)."""
        known = self._masks.get
        out: set[str] = set()
        for token in distinct:
            mask = known(token)
            if (self.mask_of(token) if mask is None else mask) & bit:
                out.add(token)
        return out

    def starting_lowered(self, distinct: Iterable[str], bit: int) -> set[str]:
        """The tokens of `distinct` whose lower-case forms' masks have `bit`: where that list
        may match in the lowered tokens (text.lowered). The lower-case forms are worked out
        once per token, not once per text."""
        known = self._lower_masks.get
        out: set[str] = set()
        for token in distinct:
            mask = known(token)
            if mask is None:
                mask = self.mask_of(token.lower())
                if len(self._lower_masks) >= MEMO_LIMIT:
                    self._lower_masks.clear()
                self._lower_masks[token] = mask
            if mask & bit:
                out.add(token)
        return out

    def topic_entries(self, bits: int) -> tuple[TopicEntry, ...]:
        """The topics whose bits are set in `bits` (a mask // TOPIC_BIT), in lexicon order, as
        (index, words, name, whether it is a device): what a token with these bits may start."""
        found = self._topic_entries.get(bits)
        if found is None:
            found = tuple(
                (k, t.words, t.name, t.name in self.devices)
                for k, t in enumerate(self.topics)
                if bits >> k & 1
            )
            if len(self._topic_entries) >= MEMO_LIMIT:
                self._topic_entries.clear()
            self._topic_entries[bits] = found
        return found

    def topic_starts(self, token: str) -> tuple[TopicStart, ...]:
        """The topics whose words may start at `token` (its mask's topic bits), in lexicon
        order, each with the length of its match when certain (see TopicStart)."""
        found = self._topic_starts.get(token)
        if found is None:
            found = tuple(
                (k, words, name, device, 1 if words.one_word_only(token) else 0)
                for k, words, name, device in self.topic_entries(self.mask_of(token) // TOPIC_BIT)
            )
            if len(self._topic_starts) >= MEMO_LIMIT:
                self._topic_starts.clear()
            self._topic_starts[token] = found
        return found

    def topic_starts_memo(self) -> Callable[[str], tuple[TopicStart, ...] | None]:
        """A lookup of topic_starts in its memo: None for a token not seen yet (ask
        topic_starts then). A hot loop asks this rather than call topic_starts each time."""
        return self._topic_starts.get

    def topics_masked(self, mask: int) -> list[Topic]:
        """The topics whose bits are set in `mask` (an OR of token masks), in lexicon order."""
        bits = mask // TOPIC_BIT
        return [t for k, t in enumerate(self.topics) if bits >> k & 1]

    def topics_in(self, tokens: list[str]) -> list[Topic]:
        """The topics whose words may occur in `tokens`, in lexicon order: every topic that
        matches is among them, so the others need not be looked for."""
        mask = 0
        for m in self.masks(tokens):
            mask |= m
        return self.topics_masked(mask)

    def topics_of(self, tokens: list[str]) -> frozenset[str]:
        """Names of the topics whose words occur in `tokens` (parts not resolved)."""
        return frozenset(t.name for t in self.topics_in(tokens) if t.words.contains(tokens))

    def same_matter(self, a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> bool:
        """True when two sets of topics share a topic or hold a related pair."""
        if not a.isdisjoint(b):
            return True
        # any((x, y) in self.related for x in a for y in b), by the topics related to each x.
        related_to = self._related_to
        if related_to is None:
            related_to = {}
            for x, y in self.related:
                related_to.setdefault(x, set()).add(y)
            object.__setattr__(self, "_related_to", related_to)
        for x in a:
            related = related_to.get(x)
            if related is not None and not related.isdisjoint(b):
                return True
        return False


def _fail(key: str, message: str) -> ValueError:
    return ValueError(f"etiquette rules: {key}: {message}")


def _mapping(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(key, f"expected a mapping, got {type(value).__name__}")
    for k in value:
        if not isinstance(k, str):
            raise _fail(key, f"keys must be strings, got {k!r}")
    return value


def _strings(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(key, f"expected a list of strings, got {type(value).__name__}")
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _fail(f"{key}[{i}]", f"expected a non-empty string, got {item!r}")
        out.append(item.strip())
    return out


def _words(value: Any, key: str) -> list[str]:
    """A list of word/phrase entries, each checked to contain a word (errors name the entry)."""
    entries = _strings(value, key)
    for i, entry in enumerate(entries):
        try:
            Phrases((entry,))
        except ValueError as exc:
            raise _fail(f"{key}[{i}]", str(exc)) from None
    return entries


def _phrases(entries: list[str], key: str) -> Phrases:
    try:
        return Phrases(tuple(dict.fromkeys(entries)))
    except ValueError as exc:
        raise _fail(key, str(exc)) from None


def _regex(value: Any, key: str) -> re.Pattern[str]:
    if not isinstance(value, str) or not value:
        raise _fail(key, f"expected a regular expression string, got {value!r}")
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise _fail(key, f"invalid regular expression: {exc}") from None


def _unknown(mapping: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for k in mapping:
        if k not in allowed:
            prefix = f"{where}." if where else ""
            raise _fail(f"{prefix}{k}", f"unknown key (expected one of: {', '.join(allowed)})")


def _topic_name(value: Any, key: str, known: set[str]) -> str:
    if not isinstance(value, str) or value not in known:
        raise _fail(key, f"{value!r} is not a topic (known: {', '.join(sorted(known))})")
    return value


def _load_matters(
    matters: Mapping[str, Any], known: set[str]
) -> tuple[frozenset[tuple[str, str]], tuple[str, ...], str | None]:
    """The `matters` section: related topic groups, device topics, the default owner of parts."""
    related: set[tuple[str, str]] = set()
    groups = matters.get("related") or []
    if not isinstance(groups, list):
        raise _fail("matters.related", "expected a list of lists of topic names")
    for i, group in enumerate(groups):
        key = f"matters.related[{i}]"
        if not isinstance(group, list) or len(group) < 2:
            raise _fail(key, "expected a list of at least two topic names")
        names = [_topic_name(n, f"{key}[{j}]", known) for j, n in enumerate(group)]
        related |= {(a, b) for a in names for b in names if a != b}
    devices = tuple(
        _topic_name(n, f"matters.devices[{i}]", known)
        for i, n in enumerate(_strings(matters.get("devices"), "matters.devices"))
    )
    default = matters.get("parts_default")
    if default is not None:
        default = _topic_name(default, "matters.parts_default", known)
    return frozenset(related), devices, default


def load_lexicon(data: Mapping[str, Any]) -> Lexicon:
    """Build a Lexicon from the parsed YAML mapping of rules/etiquette.yaml.

    Raises ValueError naming the offending key ("languages.sv.filler[3]: ...") on unknown keys,
    wrong types, empty entries, invalid regular expressions or out-of-range thresholds.
    """
    root = _mapping(data, "(top level)")
    _unknown(root, _TOP_KEYS, "")
    version = root.get("version", 1)
    if version != 1:
        raise _fail("version", f"unsupported version {version!r} (expected 1)")

    thresholds = dict(_THRESHOLDS)
    for k, v in _mapping(root.get("thresholds") or {}, "thresholds").items():
        if k not in _THRESHOLDS:
            _unknown({k: v}, tuple(_THRESHOLDS), "thresholds")
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise _fail(f"thresholds.{k}", f"expected a positive integer, got {v!r}")
        thresholds[k] = v

    patterns = _mapping(root.get("patterns") or {}, "patterns")
    _unknown(patterns, _PATTERN_KEYS, "patterns")
    username = _regex(patterns.get("username", _DEFAULT_USERNAME), "patterns.username")
    ids = tuple(
        _regex(p, f"patterns.username_ids[{i}]")
        for i, p in enumerate(_strings(patterns.get("username_ids"), "patterns.username_ids"))
    )
    names = tuple(
        _regex(p, f"patterns.computer_names[{i}]")
        for i, p in enumerate(_strings(patterns.get("computer_names"), "patterns.computer_names"))
    )

    matters = _mapping(root.get("matters") or {}, "matters")
    _unknown(matters, _MATTER_KEYS, "matters")

    if "languages" not in root:
        raise _fail("languages", "missing (at least one language section is needed)")
    languages = _mapping(root["languages"], "languages")
    if not languages:
        raise _fail("languages", "at least one language section is needed")
    merged: dict[str, list[str]] = {name: [] for name in WORD_LISTS}
    subject: dict[str, list[str]] = {name: [] for name in SUBJECT_LISTS}
    site_names = tuple(_words(root.get("site_names"), "site_names"))
    topic_words: dict[str, list[str]] = {}
    suffixes: list[str] = []
    for lang, section in languages.items():
        where = f"languages.{lang}"
        sec = _mapping(section or {}, where)
        _unknown(sec, (*WORD_LISTS, *SUBJECT_LISTS, "topics", "inflections"), where)
        for name in WORD_LISTS:
            merged[name] += _words(sec.get(name), f"{where}.{name}")
        for name in SUBJECT_LISTS:
            subject[name] += _words(sec.get(name), f"{where}.{name}")
        for i, suffix in enumerate(_strings(sec.get("inflections"), f"{where}.inflections")):
            if not suffix.isalpha():
                raise _fail(f"{where}.inflections[{i}]", f"expected letters only, got {suffix!r}")
            suffixes.append(suffix.lower())
        for topic, words in _mapping(sec.get("topics") or {}, f"{where}.topics").items():
            topic_words.setdefault(topic, []).extend(_words(words, f"{where}.topics.{topic}"))

    lists = {name: _phrases(merged[name], f"languages.*.{name}") for name in WORD_LISTS}
    topics = tuple(
        Topic(name, _phrases(words, f"languages.*.topics.{name}"))
        for name, words in topic_words.items()
        if words
    )
    related, devices, parts_default = _load_matters(matters, {t.name for t in topics})
    fields: dict[str, Any] = {**lists, **thresholds}  # checked above, one by one
    inflections = tuple(sorted(set(suffixes), key=lambda x: (-len(x), x)))
    entries = subject_entries(merged, subject, topic_words)
    return Lexicon(
        subject_words=subject_words(entries, site_names, inflections),
        site_names=site_names,
        subject_entries=entries,
        languages=tuple(languages),
        topics=topics,
        username=username,
        username_ids=ids,
        computer_names=names,
        inflections=inflections,
        related=related,
        devices=devices,
        parts_default=parts_default,
        **fields,
    )


def parse_lexicon_yaml(text: str) -> Lexicon:
    """Parse YAML text and load it (convenience for callers holding the file's content)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"etiquette rules: not valid YAML: {exc}") from None
    return load_lexicon(data if data is not None else {})


@cache
def default_lexicon() -> Lexicon:
    """The shipped defaults (the package's copy of rules/etiquette.yaml), loaded once."""
    text = (
        resources.files("ticketgate.etiquette").joinpath("default.yaml").read_text(encoding="utf-8")
    )
    return parse_lexicon_yaml(text)
