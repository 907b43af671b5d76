"""Who the requester of a mail is: one rule for every stage, the store and the outbox.

The requester is the (first) address of the From header; without a usable From, the envelope
sender, lowercased; "" when there is neither (a null envelope sender without a From). Every
place that asks "who wrote this?" (threading, resend detection, the etiquette, routing, the
directory, the staff check, the ticket's requester, the acknowledgement's recipient) asks
here, so they never disagree about one mail.
"""

from __future__ import annotations

from typing import Protocol


class _Mailbox(Protocol):
    @property
    def address(self) -> str: ...


class _Mail(Protocol):
    @property
    def sender(self) -> _Mailbox | None: ...


class _Envelope(Protocol):
    @property
    def mail_from(self) -> str: ...


class Written(Protocol):
    """A parsed message with its envelope (the pipeline's Message)."""

    @property
    def parsed(self) -> _Mail: ...

    @property
    def envelope(self) -> _Envelope: ...


def requester_address(sender: _Mailbox | None, mail_from: str) -> str:
    """The requester from a From mailbox (or None) and the envelope sender."""
    if sender is not None:
        return sender.address
    return mail_from.lower()


def requester_of(message: Written) -> str:
    """The requester of a parsed message: From's address, else the envelope sender, else ""."""
    return requester_address(message.parsed.sender, message.envelope.mail_from)
