"""multi_issue: does one mail carry several unrelated matters?

The helpdesk asks for one mail per matter: different matters go to different people and take
different times, and the second one in a mail gets lost. One problem told with several symptoms,
details or things already tried is still one matter.

How the text is read:
  - The new text is cut into clauses (see segment.py). Each clause is classed as an *issue*
    (a request: "behöver", "could you"; a problem: "fungerar inte", "blinks"; or a device
    doing something: "skrivaren drar in flera papper") or a *detail* (something tried: "har
    provat", "restarted"; a state: "datorn är ny", "jag kör Windows").
  - Some clauses only add to the one before and are folded into it: a clause opening with a
    preposition or "men/but", a consequence ("och kommer därför inte in", "so that"), a list of
    alternatives ("Canvas eller VPN"), a clause about "it" ("Den säger att ...", also across
    sentences). A clause without a verb of its own ("ny behörighet på passerkortet") continues
    an enumeration after an issue and is an issue itself; after a detail it is detail.
  - Each issue carries the topics it names (printer, network, account, ...; see the lexicon).
    A topic named only inside a prepositional phrase ("installera SPSS på min dator") counts
    only when nothing else is named; part words ("skärmen", "the charger") belong to the device
    talked about. Issues sharing a topic, or holding topics the lexicon relates (a password
    problem shows in the mail), are one matter; issues about unrelated topics are several.
  - Explicit transitions count too: strong ones ("en annan sak", "another thing", "passar på",
    "separately") always open another matter; weak ones ("dessutom", "also") when what follows
    is a request or problem about a topic not named so far.
  - A subject that announces several ("Några önskemål", "Two problems") counts when the body has
    at least two issues; a subject that itself enumerates matters counts on its own. A subject
    naming one topic does not take part otherwise: it often names the general area
    ("Datorproblem") of a body about something narrower.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import cast

from .lexicon import BIT, SURE, TOPIC_BIT, Lexicon
from .segment import Block, blocks, sentence_tokens, sentences, split_clauses
from .text import MAX_TEXT, Phrases, remember_lines, strip_subject, tokenize

# How far into a clause a weak transition may stand ("jag behöver också", "I would also like").
_WEAK_WINDOW = 4

# Word-list bits of the token masks (Lexicon.mask_of): a list is asked only where its bit is set.
_JOINER = BIT["joiners"]
_STRONG = BIT["transitions_strong"]
_WEAK = BIT["transitions_weak"]
_PREPOSITION = BIT["prepositions"]
_DETERMINER = BIT["determiners"]
_REQUEST = BIT["requests"]
_PROBLEM = BIT["problems"]
_STEP = BIT["steps"]
_STATE = BIT["states"]
_VERBS = _REQUEST | _PROBLEM | _STEP | _STATE
_REQUEST_SURE = _REQUEST << SURE
_PROBLEM_SURE = _PROBLEM << SURE
_STEP_SURE = _STEP << SURE
_STATE_SURE = _STATE << SURE
_VERBS_SURE = _VERBS << SURE
_PREPOSITION_SURE = _PREPOSITION << SURE
_CONSEQUENCE = BIT["consequences"]
_WORKING = BIT["working"]
_ANAPHORA = BIT["anaphora"]
_ALTERNATIVE = BIT["alternatives"]
_PART = BIT["parts"]
_PART_SURE = _PART << SURE
_CLOSING = BIT["closings"]
_COMPUTER_NAME_CUE = BIT["computer_name_cues"]
_USERNAME_CUE = BIT["username_cues"]
_CUES = _COMPUTER_NAME_CUE | _USERNAME_CUE  # neither can match where neither bit is set
# What _strip_transition can remove; a clause whose tokens have none of these bits keeps all.
_TRANSITION = _JOINER | _STRONG | _WEAK


def _union(masks: list[int]) -> int:
    """The union (bitwise or) of token masks."""
    return reduce(or_, masks, 0)


def _verbs(lexicon: Lexicon) -> tuple[tuple[int, Phrases], ...]:
    """The lists that make a verb, in the order the heuristics ask them, with their bits."""
    return (
        (_REQUEST, lexicon.requests),
        (_PROBLEM, lexicon.problems),
        (_STEP, lexicon.steps),
        (_STATE, lexicon.states),
    )


def _has(words: Phrases, tokens: list[str], masks: list[int], mask: int, bit: int) -> bool:
    """words.contains(tokens) where `mask` is the union of the tokens' `masks`: certain when a
    token is a one-word entry, impossible when no token can start one."""
    if mask & (bit << SURE):
        return True
    return bool(mask & bit) and _contains(words, tokens, masks, bit)


def _contains(words: Phrases, tokens: list[str], masks: list[int], bit: int) -> bool:
    """words.contains(tokens), trying only the positions whose mask has `bit`: some entry
    matches somewhere exactly when the left-to-right scan of find() meets a match."""
    match_at = words.match_at
    for i in [i for i, mask in enumerate(masks) if mask & bit]:  # noqa: SIM110 (faster)
        if match_at(tokens, i):
            return True
    return False


# A clause as _Reader.sentence takes it: its tokens, their masks and the union of those.
_Clause = tuple[list[str], list[int], int]


@dataclass(slots=True)
class _Unit:
    """One issue or detail: one or more clauses read as a whole."""

    issue: bool
    topics: set[str] = field(default_factory=set)
    list_item: bool = False
    in_subject: bool = False
    strong: str | None = None
    weak: str | None = None
    # Topics named only as where or with what ("installera SPSS på min dator"): not the
    # matter, but the place it happens (see computer_is_the_matter).
    where: frozenset[str] = frozenset()


def _phrase(tokens: list[str], start: int, end: int) -> str:
    return " ".join(tokens[start:end]).lower()


def _strip_transition(
    tokens: list[str], masks: list[int], lexicon: Lexicon
) -> tuple[list[str], list[int], str | None, str | None]:
    """Remove leading joiners and a transition; return (rest, its masks, strong phrase, weak
    phrase). `masks` are the tokens' masks (Lexicon.masks); the rest is `tokens` itself when
    nothing was removed."""
    strong = weak = None
    changed = True
    while tokens and changed:
        changed = False
        mask = masks[0]
        if not mask & (_JOINER | _STRONG | _WEAK):
            break
        n = lexicon.joiners.match_at(tokens, 0) if mask & _JOINER else 0
        if n:
            tokens, masks, changed = tokens[n:], masks[n:], True
            continue
        n = lexicon.transitions_strong.match_at(tokens, 0) if mask & _STRONG else 0
        if n:
            strong = strong or _phrase(tokens, 0, n)
            tokens, masks, changed = tokens[n:], masks[n:], True
            continue
        n = lexicon.transitions_weak.match_at(tokens, 0) if mask & _WEAK else 0
        if n:
            weak = weak or _phrase(tokens, 0, n)
            tokens, masks, changed = tokens[n:], masks[n:], True
    if tokens and weak is None:
        for i in range(1, min(_WEAK_WINDOW, len(tokens))):
            n = lexicon.transitions_weak.match_at(tokens, i) if masks[i] & _WEAK else 0
            if n:
                # Taken out, so that "skulle också vilja" reads as the request "skulle vilja".
                weak = _phrase(tokens, i, i + n)
                tokens = tokens[:i] + tokens[i + n :]
                masks = masks[:i] + masks[i + n :]
                break
    return tokens, masks, strong, weak


def _starts_with_topic(tokens: list[str], masks: list[int], lexicon: Lexicon) -> bool:
    """True when the clause opens with a topic noun ("skrivaren ...", "the printer in ...").

    `masks` are the tokens' masks (Lexicon.masks)."""
    i = 0
    while i < len(tokens) and i < 3:
        n = lexicon.determiners.match_at(tokens, i) if masks[i] & _DETERMINER else 0
        if not n:
            break
        i += n
    if i >= len(tokens):
        return False
    mask = masks[i]
    if mask & _PART and lexicon.parts.match_at(tokens, i):
        return True
    rest = mask // TOPIC_BIT  # the topics that can start here, topic 0 lowest
    while rest:
        low = rest & -rest
        rest ^= low
        if lexicon.topics[low.bit_length() - 1].words.match_at(tokens, i):
            return True
    return False


def _opens_detail(tokens: list[str], masks: list[int], lexicon: Lexicon) -> bool:
    """True when the clause opens with a preposition or the like ("på min dator", "men ...").

    Not when a verb follows at once: then the word was a pronoun, as lower-case English "i"
    in "i need ..." (the Swedish preposition "i" is "in").
    """
    if not tokens or not masks[0] & _PREPOSITION:
        return False
    n = lexicon.prepositions.match_at(tokens, 0)
    if not n:
        return False
    if n >= len(tokens):
        return True  # nothing follows, so no verb does
    mask = masks[n]
    return not any(mask & bit and words.match_at(tokens, n) for bit, words in _verbs(lexicon))


def _in_phrase(tokens: list[str], masks: list[int], at: int, lexicon: Lexicon) -> bool:
    """True when tokens[at] stands in a prepositional phrase: a preposition at most three words
    before it, and no verb between. `masks` are the tokens' masks (Lexicon.masks)."""
    for q in range(max(0, at - 3), at):
        mask = masks[q]
        # A one-word preposition (SURE) matches for certain; else it is asked.
        if not mask & _PREPOSITION_SURE and (
            not mask & _PREPOSITION or not lexicon.prepositions.match_at(tokens, q)
        ):
            continue
        # The union of the masks between, of which there are at most two.
        if q + 1 == at:
            return True  # nothing between, so no verb
        union = masks[q + 1] if q + 2 == at else masks[q + 1] | masks[q + 2]
        if not union & _VERBS:
            return True  # no verb can start between
        if union & _VERBS_SURE:
            continue  # a one-word verb stands between
        if not _any_verb(tokens[q + 1 : at], masks[q + 1 : at], union, lexicon):
            return True
    return False


def _any_verb(tokens: list[str], masks: list[int], mask: int, lexicon: Lexicon) -> bool:
    """any(_has(words, tokens, masks, mask, bit) for bit, words in _verbs(lexicon)) where no
    token is a one-word verb (no SURE bit of a verb list in `mask`)."""
    for bit, words in _verbs(lexicon):
        if mask & bit and _contains(words, tokens, masks, bit):
            return True
    return False


def _folds(
    raw: list[str],
    raw_masks: list[int],
    tokens: list[str],
    masks: list[int],
    mask: int,
    *,
    verbless: bool,
    topics: bool,
    in_detail: bool,
    lexicon: Lexicon,
) -> bool:
    """True when a clause adds to the one before rather than opens a matter: it opens with a
    preposition ("på min dator", "men det hjälper inte"), holds a consequence early on ("och
    kommer därför inte in", "sedan dess"), or is verbless and names nothing, lists
    alternatives ("Canvas eller VPN") or goes on after a modifier.

    `raw` is the clause as split, `tokens` the same after _strip_transition (the same list
    when nothing was stripped), `masks` their masks and `mask` the union of those."""
    if verbless and (not topics or in_detail):
        return True
    same = tokens is raw
    if _opens_detail(raw, raw_masks, lexicon) or (
        not same and _opens_detail(tokens, masks, lexicon)
    ):
        return True
    # A consequence among the first four tokens of the clause as split, or the first three of
    # what is left after stripping; when nothing was stripped, the union tells there is none.
    if (not same or mask & _CONSEQUENCE) and (
        _contains(lexicon.consequences, raw[:4], raw_masks[:4], _CONSEQUENCE)
        or (not same and _contains(lexicon.consequences, tokens[:3], masks[:3], _CONSEQUENCE))
    ):
        return True
    return verbless and _has(lexicon.alternatives, tokens, masks, mask, _ALTERNATIVE)


_NOWHERE: frozenset[str] = frozenset()


def _works(tokens: list[str], masks: list[int], lexicon: Lexicon) -> bool:
    """True when the sentence reports something working ("kollegans dator kan skriva ut utan
    problem", "my phone syncs") and asks for and complains of nothing besides: a comparison
    the writer makes, not a matter. `masks` are the tokens' masks (Lexicon.masks)."""
    working = lexicon.working
    covered: set[int] = set()
    for i in [i for i, mask in enumerate(masks) if mask & _WORKING]:
        if i not in covered:
            n = working.match_at(tokens, i)
            if n:
                covered.update(range(i, i + n))
    if not covered:
        return False
    for i, mask in enumerate(masks):
        if i in covered or not mask & (_PROBLEM | _REQUEST):
            continue
        if (mask & _PROBLEM and lexicon.problems.match_at(tokens, i)) or (
            mask & _REQUEST and lexicon.requests.match_at(tokens, i)
        ):
            return False
    return True


class _Reader:
    """Reads clauses in order into units, remembering what the text has talked about so far."""

    def __init__(self, lexicon: Lexicon, *, in_subject: bool) -> None:
        self.lexicon = lexicon
        self.in_subject = in_subject
        self.units: list[_Unit] = []
        self.pending: tuple[str | None, str | None] = (None, None)
        self.last_device: str | None = None
        self.where: frozenset[str] = _NOWHERE  # the in-phrase topics of the clause read last
        # Lookups in the lexicon's memos (emptied in place, so these stay right).
        self.starts_memo = lexicon.topic_starts_memo()

    def topics(self, tokens: list[str], masks: list[int], mask: int) -> set[str]:
        """The clause's topics, with part words ("skärmen", "the charger") given to a device.

        A topic named only inside a prepositional phrase ("installera SPSS på min dator") is
        where or with what, not the matter; it counts only when nothing else is named.
        `masks` are the tokens' masks (Lexicon.masks), `mask` their union.
        """
        self.where = _NOWHERE
        if mask < TOPIC_BIT and not mask & _PART:
            return set()  # no topic nor part word can start anywhere
        lx = self.lexicon
        primary: set[str] = set()
        secondary: set[str] = set()
        # Topic index -> (first position, name) of each device named.
        named: dict[int, tuple[int, str]] = {}
        if mask >= TOPIC_BIT:
            # One left-to-right pass for all topics: each topic's matches are those of its
            # find(). after[k]: where topic k may match next, kept only after a match of more
            # than one token (after a one-token match at i, the pass is past i + 1 anyway).
            after: dict[int, int] = {}
            memo, starts = self.starts_memo, lx.topic_starts
            prepositions = bool(mask & _PREPOSITION)
            i = -1
            for token in tokens:
                i += 1
                found = memo(token)
                if found is None:
                    found = starts(token)
                for k, words, name, device, sure in found:  # none where no topic can start
                    if after and i < after.get(k, 0):
                        continue
                    if not sure:
                        n = words.match_at(tokens, i)
                        if not n:
                            continue
                        if n > 1:
                            after[k] = i + n
                    if device and k not in named:
                        named[k] = (i, name)
                    if name in primary:
                        continue  # secondary counts only when primary is empty
                    # Only a preposition among the three tokens before puts it in a phrase; a
                    # one-word one just before does for certain (no verb can stand between).
                    in_phrase = prepositions and (
                        (i > 0 and masks[i - 1] & _PREPOSITION_SURE)
                        or (
                            (
                                (i > 0 and masks[i - 1] & _PREPOSITION)
                                or (i > 1 and masks[i - 2] & _PREPOSITION)
                                or (i > 2 and masks[i - 3] & _PREPOSITION)
                            )
                            and _in_phrase(tokens, masks, i, lx)
                        )
                    )
                    (secondary if in_phrase else primary).add(name)
        topics = primary or secondary
        if secondary:
            self.where = frozenset(secondary)
        if named:
            self.last_device = max(named.values())[1]  # the device named last in the clause
        elif mask & _PART_SURE or (mask & _PART and _contains(lx.parts, tokens, masks, _PART)):
            # "Skärmen förblir svart" after "min laptop": the laptop's screen. Next to another
            # topic ("Teams crashes when I share my screen") it is the user's own computer.
            owner = lx.parts_default if topics else self.last_device or lx.parts_default
            if owner:
                topics.add(owner)
        return topics

    def read(
        self, text_blocks: list[Block], seen: dict[str, list[str]] | None = None
    ) -> list[_Unit]:
        """Read blocks whose text normalise() leaves unchanged (blocks(), strip_subject()).
        The tokens of each sentence read go into `seen`, when given (see remember_lines)."""
        lx = self.lexicon
        closings = lx.closings
        known = lx.mask_memo()
        for block in text_blocks:
            for sentence in sentences(block.text):
                tokens, pieces = sentence_tokens(sentence)  # tokenized once
                if seen is not None:
                    seen[sentence] = tokens  # sentences() strips each
                if not tokens:
                    continue  # no clause: nothing to read, nothing carried over changes
                masks = cast(list[int], list(map(known, tokens)))  # lx.masks(), from the memo
                try:
                    mask = reduce(or_, masks, 0)  # _union(masks), without the call
                except TypeError:  # a token not in the memo yet (None): ask for all
                    masks = lx.masks(tokens)
                    mask = reduce(or_, masks, 0)
                if masks[0] & _CLOSING:
                    n = closings.match_at(tokens, 0)
                    if n and len(tokens) - n <= 3:
                        continue  # "Thanks, Lee" at the end of a line
                context = bool(mask & _WORKING) and _works(tokens, masks, lx)
                question = sentence.endswith("?")
                if len(pieces) == 1 and not mask & (_JOINER | _CONSEQUENCE):
                    # One piece where no joiner or consequence can start: one clause, as
                    # split_clauses() would find, without copying it.
                    self.sentence(((tokens, masks, mask),), block.list_item, context, question)
                    continue
                split = split_clauses(pieces, masks, lx)
                if len(split) == 1 and split[0][0] is tokens:  # not split: the union is known
                    self.sentence(((tokens, masks, mask),), block.list_item, context, question)
                    continue
                self.sentence(
                    [
                        (clause, clause_masks, reduce(or_, clause_masks, 0))  # _union
                        for clause, clause_masks in split
                    ],
                    block.list_item,
                    context,
                    question,
                )
        return self.units

    def sentence(
        self,
        clauses: Sequence[_Clause],
        list_item: bool,
        context: bool = False,
        question: bool = False,
    ) -> None:
        """Class the clauses of one sentence, appending units. Each clause comes as its
        tokens, their masks (Lexicon.masks) and the union of those. A `context` sentence
        says what works ("min telefon kan skriva ut utan problem"): all its clauses are
        details. In a `question` ("Hur vidarebefordrar jag min mejl?") a clause that names a
        topic and opens no other way is a request."""
        lx = self.lexicon
        strong_carry, weak_carry = self.pending
        current: _Unit | None = None
        in_detail = False  # the clause before was a modifier folded into `current`
        for raw, raw_masks, mask in clauses:
            if mask & _TRANSITION and (
                raw_masks[0] & _TRANSITION
                or (mask & _WEAK and _union(raw_masks[1:_WEAK_WINDOW]) & _WEAK)
            ):
                tokens, token_masks, strong, weak = _strip_transition(raw, raw_masks, lx)
                if tokens is not raw:
                    mask = _union(token_masks)
            else:  # no joiner nor transition at the start, no weak one in the window: nothing
                # to strip (_strip_transition would return the clause as it is)
                tokens, token_masks, strong, weak = raw, raw_masks, None, None
            strong, weak = strong or strong_carry, weak or weak_carry
            if not tokens:
                # "Also," / "Another thing:" alone: it applies to the next clause.
                strong_carry, weak_carry = strong, weak
                continue
            strong_carry = weak_carry = None
            topics = self.topics(tokens, token_masks, mask)
            # A request or problem makes an issue, something tried or a state a detail, in
            # this order of precedence; with none of them the clause is verbless.
            issue: bool | None
            if not mask & _VERBS:
                issue = None  # no verb can start anywhere (asked before each list)
            # Each test is _has() written out (a SURE bit, or a start bit and a look), which
            # saves a call per list on every clause.
            elif mask & _REQUEST_SURE or (
                mask & _REQUEST and _contains(lx.requests, tokens, token_masks, _REQUEST)
            ):
                issue = True
            elif mask & _STEP_SURE or (
                mask & _STEP and _contains(lx.steps, tokens, token_masks, _STEP)
            ):
                issue = False  # "har provat", "restarted": something tried
            elif mask & _PROBLEM_SURE or (
                mask & _PROBLEM and _contains(lx.problems, tokens, token_masks, _PROBLEM)
            ):
                issue = True
            elif mask & _STATE_SURE or (
                mask & _STATE and _contains(lx.states, tokens, token_masks, _STATE)
            ):
                issue = False  # "datorn är ny", "jag kör Windows"
            else:
                issue = None
            if context:
                issue = False  # what works, told for comparison, is no matter of its own
            elif issue is None and question and topics and current is None:
                issue = True
            verbless = issue is None
            if verbless and topics and mask & _CUES and (
                _has(lx.computer_name_cues, tokens, token_masks, mask, _COMPUTER_NAME_CUE)
                or _has(lx.username_cues, tokens, token_masks, mask, _USERNAME_CUE)
            ):
                # "Datornamn: LU-12345", "my username is abc12": the guide asks for these;
                # they say which computer or who, they do not raise a matter of their own.
                topics = set()
            opens_topic: bool | None = None  # _starts_with_topic(), asked only when needed

            # Clauses that add to the one before rather than open a matter: a modifier ("på
            # min dator", "men det hjälper inte"), a consequence ("och kommer därför inte in",
            # "sedan dess"), alternatives ("Canvas eller VPN"), a clause about "it" ("den säger
            # att ...", even across sentences), a verbless tail. After a strong transition
            # nothing is folded.
            if not strong:
                target = current
                folds = False
                if token_masks[0] & _ANAPHORA and lx.anaphora.match_at(tokens, 0):
                    opens_topic = _starts_with_topic(tokens, token_masks, lx)
                    if not opens_topic:
                        folds = True
                        target = current or (self.units[-1] if self.units else None)
                if target is not None and not folds:
                    folds = _folds(
                        raw, raw_masks, tokens, token_masks, mask,
                        verbless=verbless, topics=bool(topics), in_detail=in_detail, lexicon=lx,
                    )
                if target is not None and folds:
                    target.topics |= topics
                    target.where |= self.where
                    current, in_detail = target, True
                    continue
            in_detail = False
            if verbless and not topics:
                continue  # "Hello," before the first clause: nothing to attach it to

            if issue is None:
                if current is None:
                    if opens_topic is None:
                        opens_topic = _starts_with_topic(tokens, token_masks, lx)
                    issue = bool(topics) and opens_topic  # "skrivaren i rum 2110 drar in ..."
                elif current.issue:
                    issue = bool(topics)  # the next item of an enumeration after a request
                else:
                    current.topics |= topics  # "... startat om både routern och datorn"
                    continue
            # Positional (issue, topics, list_item, in_subject, strong, weak): made for most
            # clauses, and keywords cost more.
            current = _Unit(issue, topics, list_item, self.in_subject, strong, weak, self.where)
            self.units.append(current)
        self.pending = (strong_carry, weak_carry)


def _matters(units: list[_Unit], lexicon: Lexicon) -> list[tuple[set[str], list[_Unit]]]:
    """Group issues into matters: issues about the same or related topics (even through a
    chain of issues) are one matter."""
    groups: list[tuple[set[str], list[_Unit]]] = []
    same_matter = lexicon.same_matter
    for unit in units:
        if not unit.issue or not unit.topics:
            continue
        topics, members = set(unit.topics), [unit]
        if len(groups) == 1:
            # One group so far (most mails): join it in place, as the loop below would
            # (the same topics and members in the same order), or open a second.
            g_topics, g_members = groups[0]
            if not g_topics.isdisjoint(topics) or same_matter(g_topics, topics):
                g_topics |= topics
                g_members.append(unit)
            else:
                groups.append((topics, members))
            continue
        rest = []
        for group in groups:
            g_topics, g_members = group
            if same_matter(g_topics, topics):
                topics |= g_topics
                members = g_members + members
            else:
                rest.append(group)
        rest.append((topics, members))
        groups = rest
    return groups


def _announces_several(subject_tokens: list[str], lexicon: Lexicon) -> str | None:
    for start, end in lexicon.quantifiers.find(subject_tokens):
        for gap in (0, 1):
            n = lexicon.matter_nouns.match_at(subject_tokens, end + gap)
            if n:
                return _phrase(subject_tokens, start, end + gap + n)
    return None


# The last mail read and its units: missing_computer_name asks about the mail multi_issue has
# just read (see computer_is_the_matter). Replaced whole, never changed.
_last_read: tuple[tuple[str, str, int], tuple[str, list[_Unit], list[_Unit]]] | None = None


def _read(
    subject: str, new_text: str, lexicon: Lexicon
) -> tuple[str, list[_Unit], list[_Unit]]:
    """The stripped subject and the units of the subject and of the new text."""
    global _last_read
    key = (subject, new_text, id(lexicon))
    last = _last_read  # one read: another thread may replace it meanwhile
    if last is not None and last[0] == key:
        return last[1]
    stripped = strip_subject(subject)
    subject_units = _Reader(lexicon, in_subject=True).read([Block(stripped[:MAX_TEXT], False)])
    read_sentences: dict[str, list[str]] = {}
    body_units = _Reader(lexicon, in_subject=False).read(
        blocks(new_text[:MAX_TEXT], lexicon), read_sentences
    )
    remember_lines(read_sentences)  # for the identity checks, which read this text next
    found = (stripped, subject_units, body_units)
    _last_read = (key, found)
    return found


def computer_is_the_matter(subject: str, new_text: str, lexicon: Lexicon) -> bool:
    """True when a request or problem of the mail is about a computer ("min dator surrar",
    "skärmen flimrar"), not when a computer is only named beside it: what works ("datorn
    fungerar på eduroam"), what was tried ("provat på datorn"), where ("installera X på min
    dator" with X the matter)."""
    _, subject_units, body_units = _read(subject, new_text, lexicon)
    return any(
        u.issue and ("computer" in u.topics or "computer" in u.where)
        for u in (*subject_units, *body_units)
    )


def matters_seen(subject: str, new_text: str, lexicon: Lexicon) -> tuple[str, ...]:
    """The topics of the mail's requests and problems, in the order first raised ("printer",
    "network"): what the acknowledgement can name when it suggests one mail per matter."""
    _, subject_units, body_units = _read(subject, new_text, lexicon)
    seen: dict[str, None] = {}
    for unit in (*body_units, *subject_units):
        if unit.issue:
            seen.update(dict.fromkeys(sorted(unit.topics)))
    return tuple(seen)


def multi_issue(subject: str, new_text: str, lexicon: Lexicon) -> str | None:
    """Return None when the mail carries one matter, else a short reason.

    `new_text` is the new text of the mail, with quotes and signatures already removed.
    Reasons: "list of 3 items: ...", "another matter: 'en annan sak'",
    "2 requests joined: 'dessutom'", "2 unrelated matters: network, printer",
    "subject announces several: 'några önskemål'".
    """
    stripped, subject_units, body_units = _read(subject, new_text, lexicon)
    subject_issues = [u for u in subject_units if u.issue]
    body_issues = [u for u in body_units if u.issue]

    # The subject takes part only when it enumerates matters itself ("X, Y och Z"): a one-topic
    # subject often names the general area ("Datorproblem") of a body about something narrower.
    considered = body_issues + (subject_issues if len(subject_issues) > 1 else [])
    groups = _matters(considered, lexicon)
    if len(groups) >= lexicon.multi_min_matters:
        names = ", ".join(sorted({sorted(t)[0] for t, _ in groups}))
        listed = [g for g in groups if all(u.list_item for u in g[1])]
        if len(listed) >= lexicon.multi_min_list_items:
            items = sum(1 for u in considered if u.list_item)
            return f"list of {items} items: {names}"
        if all(all(u.in_subject for u in g[1]) for g in groups):
            return f"subject lists {len(groups)} matters: {names}"
        return f"{len(groups)} unrelated matters: {names}"

    seen: set[str] = {t for u in subject_issues for t in u.topics}
    earlier = False
    for unit in body_units:
        # After "another thing:" anything with substance is another matter, even a question
        # without a request verb ("is there any chance of a bigger monitor?").
        if unit.strong and (unit.issue or unit.topics) and (earlier or seen):
            return f"another matter: '{unit.strong}'"
        # "Also" before a topic not named so far: the writer adds a matter. Related topics do
        # not excuse it here ("Telefonerna är inte inkopplade. Vi saknar också nätverksuttag").
        if unit.issue and unit.weak and unit.topics and seen and not unit.topics & seen:
            return f"2 requests joined: '{unit.weak}'"
        if unit.issue:
            seen |= unit.topics
            earlier = True

    announced = _announces_several(tokenize(stripped), lexicon)
    if announced and len(body_issues) >= 2:
        return f"subject announces several: '{announced}'"
    return None
