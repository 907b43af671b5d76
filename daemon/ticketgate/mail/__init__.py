"""Mail parsing: any bytes to a ParsedMail (flanker for MIME and addresses, stdlib fallbacks).

Modules: `parsed` (ParsedMail and parse), `mailboxes` (address headers), `headers` (header
blocks), `charsets`, `mimetree`/`mimeparts`/`mimeflanker` (the MIME structure), `text` (HTML to
text, the new text of a reply), `replycut` (a staff answer's new text, or none: nothing is
relayed), `_flanker`/`plytables` (importing flanker read-only).
"""

from .mailboxes import MAX_MAILBOXES, Mailbox, clean_line
from .parsed import ParsedMail, normalize_message_id, parse

__all__ = ["MAX_MAILBOXES", "Mailbox", "ParsedMail", "clean_line", "normalize_message_id",
           "parse"]
