"""Ticket identity: the lowest room, imported by every other and importing only the settings.

- `codes`: the code `[DDG #12]`, its one pattern (per-tag, so a per-queue tag can be added),
  the subject stripped of prefixes and codes, and the subject key of resend detection;
- `message_ids`: the shapes of our Message-IDs, their parsing, the loop header;
- `requester`: `requester_of(message)`, the one rule for who wrote a mail;
- `names`: the registries of flag names, automail classes and the daemon's template names.
"""

from .codes import (
    ANY_CODE,
    REPLY_PREFIX,
    code_pattern,
    find_code,
    format_code,
    site_tags,
    strip_subject,
    subject_key,
)
from .message_ids import (
    LOOP_HEADER,
    derived_message_id,
    is_our_message_id,
    new_message_id,
    ticket_of_reference,
    ticket_reference,
)
from .names import (
    ACKNOWLEDGEMENT_TEMPLATE,
    AUTOMAIL,
    EVENT_CLASSES,
    FLAGS,
    NOTIFICATION_TEMPLATE,
    Automail,
    Flag,
)
from .requester import requester_address, requester_of

__all__ = [
    "ACKNOWLEDGEMENT_TEMPLATE",
    "ANY_CODE",
    "AUTOMAIL",
    "EVENT_CLASSES",
    "FLAGS",
    "LOOP_HEADER",
    "NOTIFICATION_TEMPLATE",
    "REPLY_PREFIX",
    "Automail",
    "Flag",
    "code_pattern",
    "derived_message_id",
    "find_code",
    "format_code",
    "is_our_message_id",
    "new_message_id",
    "requester_address",
    "requester_of",
    "site_tags",
    "strip_subject",
    "subject_key",
    "ticket_of_reference",
    "ticket_reference",
]
