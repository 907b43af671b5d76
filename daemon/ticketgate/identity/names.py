"""The names the helpdesk's rules, templates and history use: flags, automail classes, templates.

Each is one registry here, with a description, so the stages that set them, the routes loader
that checks `flag:` and `automail:` conditions, the templates' context and the outbox agree on
one spelling, and an admin's typo is an error with a did-you-mean instead of a rule that
silently never matches. The members are `str`s (StrEnum): they compare, hash, pickle and
store as their plain names.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Flag(StrEnum):
    """What the pipeline flags a ticket with (stored on the ticket, shown to staff)."""

    VAGUE_SUBJECT = "vague_subject"
    MULTI_ISSUE = "multi_issue"
    PRIVATE_ADDRESS = "private_address"
    MISSING_COMPUTER_NAME = "missing_computer_name"
    UNKNOWN_PERSON = "unknown_person"
    RESENT = "resent"
    FOREIGN_CODE = "foreign_code"
    INVALID_FROM = "invalid_from"

    @property
    def description(self) -> str:
        return FLAGS[self]


FLAGS: Mapping[str, str] = MappingProxyType({
    Flag.VAGUE_SUBJECT: "the subject does not say what the matter is (flags stage)",
    Flag.MULTI_ISSUE: "the mail carries several unrelated matters (flags stage)",
    Flag.PRIVATE_ADDRESS:
        "sent from outside the institution without a username (flags, directory stages)",
    Flag.MISSING_COMPUTER_NAME:
        "about a specific computer, but does not name it (flags stage)",
    Flag.UNKNOWN_PERSON:
        "an institutional address the directory does not know (directory stage)",
    Flag.RESENT: "the same request sent again while its ticket is open (dedupe stage)",
    Flag.FOREIGN_CODE: "names the code of a ticket the sender takes no part in (code stage)",
    Flag.INVALID_FROM:
        "the From header does not hold exactly one valid address: never acknowledged (parse stage)",
})


class Automail(StrEnum):
    """The classes of mail written by a machine (automail stage); never acknowledged."""

    LOOP = "loop"
    BOUNCE = "bounce"
    FEEDBACK = "feedback"
    AUTO_REPLY = "auto_reply"
    LIST = "list"
    BULK = "bulk"

    @property
    def description(self) -> str:
        return AUTOMAIL[self]


AUTOMAIL: Mapping[str, str] = MappingProxyType({
    Automail.LOOP: "our own mail coming back (loop header, our address or Message-ID)",
    Automail.BOUNCE: "a delivery status notification, or mail from a null sender",
    Automail.FEEDBACK: "an abuse report (ARF)",
    Automail.AUTO_REPLY: "an automatic reply: out of office, vacation, RFC 3834",
    Automail.LIST: "mail from a mailing list",
    Automail.BULK: "bulk mail (Precedence: bulk or junk)",
})

# Automail classes that are events about mail we sent, never tickets of their own.
EVENT_CLASSES = frozenset({Automail.BOUNCE, Automail.LOOP, Automail.FEEDBACK})

# Template names in templates/ (`NAME.LANG.txt.j2`) the daemon uses on its own.
ACKNOWLEDGEMENT_TEMPLATE = "acknowledgement"  # the default acknowledgement of a queue
NOTIFICATION_TEMPLATE = "notification"  # what the queue's staff get

assert set(FLAGS) == set(Flag) and set(AUTOMAIL) == set(Automail)
