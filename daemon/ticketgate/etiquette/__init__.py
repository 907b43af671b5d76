"""Etiquette heuristics: pure checks of a mail against the helpdesk's etiquette.

Four flags, each a pure function of the mail's subject, new text and sender plus a Lexicon
(word lists, patterns and thresholds loaded from rules/etiquette.yaml):

- vague_subject: the subject does not say what the matter is ("Hjälp!", "Ring mig!").
- multi_issue: the mail carries several unrelated matters.
- private_address: the sender is outside the institution and gives no username.
- missing_computer_name: the mail is about a specific computer but does not name it.
"""

from .identity import find_computer_name, find_username, missing_computer_name, private_address
from .lexicon import Lexicon, Topic, default_lexicon, load_lexicon, parse_lexicon_yaml
from .multi import matters_seen, multi_issue
from .subjectlists import site_words
from .text import strip_subject
from .vague import VagueSubject, judge_subject, vague_subject

__all__ = [
    "Lexicon",
    "Topic",
    "VagueSubject",
    "default_lexicon",
    "find_computer_name",
    "find_username",
    "judge_subject",
    "load_lexicon",
    "matters_seen",
    "missing_computer_name",
    "multi_issue",
    "parse_lexicon_yaml",
    "private_address",
    "site_words",
    "strip_subject",
    "vague_subject",
]
