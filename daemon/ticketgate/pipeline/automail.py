"""Stage `automail`: recognise mail written by machines, so it is never acknowledged.

Classes, first match wins: `loop` (our own mail coming back), `feedback` (abuse and feedback
reports: ARF, DMARC and TLS reports, complaint notices), `bounce` (delivery status
notifications and other non-delivery reports), `auto_reply` (RFC 3834 and vendor headers,
out-of-office and ticket-system replies, challenge-response mail, notices sent by a system
account), `list` (mailing lists and their managers) and `bulk` (Precedence: bulk, and mail
from no-reply and bounce-handling addresses). A bounce, loop or feedback report that names a
Message-ID we sent becomes an event on that ticket; one that names none is stored as an event
without a ticket. Auto-replies, list and bulk mail still make or continue tickets, never with
an answer, and a ticket one of them opens is no new request: the queue's staff are not
notified of it (a route's own `notify` addresses are).

The signals are headers and structure first; where a sender sets none (many do not), the
subject's wording in several languages, the sender's address and, for challenge-response
mail, the body's. tests/test_promise_automail.py runs ../shared/corpora/automail (516
automatic mails from many MTAs, providers and report generators, and 33 human mails that look
automatic) through the daemon.
"""

from __future__ import annotations

import re

from ..addresses import canonical
from ..identity import (
    EVENT_CLASSES,
    LOOP_HEADER,
    Automail,
    is_our_message_id,
    requester_address,
)
from ..mail import ParsedMail
from .model import Context, Message

name = "automail"
description = "Classify bounces, auto-replies, list, bulk, feedback and loop mail."

_LOOP = LOOP_HEADER.lower()

_BOUNCE_SENDERS = re.compile(
    r"^[\\\"']*(mailer-daemon|postmaster|mail-daemon|mailerdaemon)\b", re.I)
_BOUNCE_SUBJECTS = re.compile(
    r"^\s*(undeliver(ed|able)(\s+(mail|message)s?)?\s*(:|returned|$)"
    r"|delivery (status notification|failure|has failed|failed)"
    r"|mail delivery (failed|failure|subsystem|warning|problem)|returned mail|failure notice"
    r"|non[- ]?delivery|olevererbart|kan inte levereras|delivery notification"
    r"|warning: (could not send|message .{0,80} delayed)|delayed mail)",
    re.I,
)
# Auto-reply wording: at the start, or (as Outlook, Exchange and ticket systems write it)
# anywhere as "<phrase>: <the original subject>".
_AUTO_REPLY_WORDS = (
    r"out of (the )?office|automatic reply|auto[- ]?reply|auto[- ]?response|autosvar"
    r"|automatiskt svar|fr[åa]nvaro(meddelande)?|abwesenheit(snotiz)?|automatische antwort"
    r"|vacation|on vacation|r[ée]ponse automatique|absence du bureau|respuesta autom[áa]tica"
    r"|fuera de la oficina|resposta autom[áa]tica|risposta automatica|automatisch antwoord"
    r"|afwezig(heid)?|automatisk svar|automaattinen vastaus|automatyczna odpowied[źz]"
    r"|automātiskā atbilde|automatiska atbilde|automatick[áa] odpov[ěe][ďd]"
    r"|автоматический ответ|自動応答|自动回复"
)
_OUT_OF_OFFICE = re.compile(rf"^\s*({_AUTO_REPLY_WORDS})|\b({_AUTO_REPLY_WORDS})\s*:", re.I)
# Aggregate DMARC (RFC 7489 7.2.1.1) and SMTP TLS (RFC 8460 5.3) reports name both.
_REPORT_SUBJECT = re.compile(r"\breport[- ]domain:\s*\S+.{0,80}\bsubmitter:", re.I)
_FEEDBACK_SUBJECTS = re.compile(
    r"\bdmarc (failure|forensic) report\b|^\s*complaint about message from \S+"
    r"|\bnotice of (unauthori[sz]ed use|claimed infringement|copyright infringement)\b", re.I)
# DMARC and TLS report files: submitter!domain!begin!end (RFC 7489 7.2.1.1, RFC 8460 5.1).
_REPORT_FILE = re.compile(r"^[^!\s]+![^!\s]+!\d{9,}!\d{9,}")
# Challenge-response: "click the link so your address is added to my allowed senders".
_CHALLENGE = re.compile(
    r"\b(click|follow|visit|open)\b.{0,80}\blink\b.{0,200}"
    r"\b(allowed|approved|safe|white|trusted)[-\s]?(senders?[-\s]?)?list"
    r"|\b(allowed|approved|safe|white|trusted)[-\s]?(senders?[-\s]?)?list\b.{0,200}"
    r"\b(click|follow|visit|open)\b.{0,80}\blink\b",
    re.I | re.S,
)
_MESSAGE_ID_IN_TEXT = re.compile(r"^\s*message-id:\s*<([^<>\s]{3,250})>", re.I | re.M)

# Sender addresses only machines use (checked on From, Sender, Reply-To, Return-Path and the
# envelope sender, after a BATV tag "prvs=...=" is taken off the local part).
_NO_REPLY = re.compile(r"no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply", re.I)
_BOUNCE_HANDLER = re.compile(r"bounces?(?:[-_.+=]|$)", re.I)  # not kim.bounceman@
# VERP: bounces+kim=example.org, x-AT-example.org: the recipient's address in the sender's
_ADDRESS_IN_LOCAL_PART = re.compile(
    r"[-_+=]at[-_=][\w-]+\.[a-z]{2,}$|\+[\w.-]+=[\w.-]+\.[a-z]{2,}$", re.I)
_AUTOMATED = re.compile(r"^(auto[-_.]?(reports?|generated|mailer|responder|notify)|automated)\b",
                        re.I)
_LIST_MANAGER = re.compile(r"^owner-|[-+]owner$|[-+]request$", re.I)
# An abuse desk's or a report generator's own address (outside the institution: the site's
# own security team writing to the helpdesk is a person with a request).
_ABUSE_DESK = re.compile(r"^(abuse([-_.][\w.-]+)?|reports?)$", re.I)
# Accounts of daemons and cron jobs: an envelope from one with another From is a program's.
_SYSTEM_ACCOUNTS = frozenset({"root", "daemon", "nobody", "www-data", "apache", "nginx",
                              "httpd", "wwwrun", "cron", "postgres", "mysql"})
_BATV = re.compile(r"^prvs=[^=]+=", re.I)


def _has(mail: ParsedMail, header: str) -> bool:
    return mail.header(header) is not None


def _value(mail: ParsedMail, header: str) -> str:
    return (mail.header(header) or "").strip().lower()


def _local_part(address: str) -> str:
    local = address.strip().strip("<>").rpartition("@")[0]
    return _BATV.sub("", local)


def _sender_signal(mail: ParsedMail, mail_from: str, institutional: tuple[str, ...]
                   ) -> tuple[str, str] | None:
    """(class, why) from addresses only machines use, or None."""
    sender = requester_address(mail.sender, "")  # From alone: the envelope is asked below
    return_path = _value(mail, "return-path")
    others = [("From", sender), ("Sender", _address_of(mail.header("sender"))),
              ("Reply-To", mail.reply_to.address if mail.reply_to else ""),
              ("Return-Path", return_path), ("envelope sender", mail_from)]
    for where, address in others:
        local = _local_part(address)
        if not local:
            continue
        if _NO_REPLY.search(local):
            return Automail.BULK, f"{where} {address[:80]} is a no-reply address"
        if _LIST_MANAGER.search(local) and where != "Reply-To":
            return Automail.LIST, f"{where} {address[:80]} is a mailing list manager's address"
        if _BOUNCE_HANDLER.search(local) or _ADDRESS_IN_LOCAL_PART.search(local):
            return Automail.BULK, f"{where} {address[:80]} is a bounce-handling address"
        if _AUTOMATED.search(local):
            return Automail.AUTO_REPLY, f"{where} {address[:80]} is an automated sender"
        if _ABUSE_DESK.match(local) and not _within(address, institutional):
            return Automail.FEEDBACK, f"{where} {address[:80]} is an abuse desk's or reporter's"
    for address in (mail_from, return_path):
        local = _local_part(address).lower()
        if local in _SYSTEM_ACCOUNTS and canonical(address) != canonical(sender or address):
            return Automail.AUTO_REPLY, (f"sent by the system account {address[:80]} for"
                                         f" {sender[:80] or 'no From'}")
    return None


def _within(address: str, domains: tuple[str, ...]) -> bool:
    domain = address.strip().strip("<>").rpartition("@")[2].lower()
    return any(domain == d or domain.endswith("." + d) for d in domains)


def _address_of(value: str | None) -> str:
    if not value:
        return ""
    found = re.search(r"<([^<>\s]+@[^<>\s]+)>|([^\s<>\"]+@[^\s<>\"]+)", value)
    return (found.group(1) or found.group(2)) if found else ""


def classify(mail: ParsedMail, mail_from: str, *, instance: str,
             own_addresses: frozenset[str], own_message_id: bool,
             institutional: tuple[str, ...] = ()) -> tuple[str | None, str]:
    """The automail class of a message and why, or (None, "") for mail written by a person;
    `institutional`: the site's own domains (pipeline.institutional_domains)."""
    loop = mail.header_all(_LOOP)
    if any(v.strip().lower() == instance.lower() for v in loop):
        return Automail.LOOP, f"carries our loop header {_LOOP}: {instance}"
    sender = requester_address(mail.sender, mail_from)
    if sender and canonical(sender) in own_addresses:
        return Automail.LOOP, f"sent from our own function address {sender}"
    if own_message_id:
        return Automail.LOOP, "its Message-ID is one we generated"
    ctype, report = mail.content_type, (mail.report_type or "")
    if ctype == "multipart/report" and report == "feedback-report":
        return Automail.FEEDBACK, "multipart/report; report-type=feedback-report (ARF)"
    if _value(mail, "feedback-type") or _value(mail, "x-arf"):
        return Automail.FEEDBACK, "abuse feedback headers"
    if ctype == "multipart/report" and report in ("delivery-status", "disposition-notification",
                                                  ""):
        return Automail.BOUNCE, f"multipart/report; report-type={report or '?'}"
    if ctype == "multipart/report":
        return Automail.FEEDBACK, f"multipart/report; report-type={report}"
    if ctype in ("message/delivery-status", "message/disposition-notification"):
        return Automail.BOUNCE, f"a bare {ctype}"
    if _REPORT_SUBJECT.search(mail.subject):
        return Automail.FEEDBACK, f"a DMARC or TLS report: {mail.subject[:60]!r}"
    if any(_REPORT_FILE.match(a) for a in mail.attachments):
        return Automail.FEEDBACK, "a DMARC or TLS report file attached"
    if _FEEDBACK_SUBJECTS.search(mail.subject):
        return Automail.FEEDBACK, f"feedback report subject: {mail.subject[:60]!r}"
    if mail_from in ("", "<>"):  # "<>": how spool rows stored it before the listener said ""
        return Automail.BOUNCE, "null envelope sender (<>)"
    if mail.header("return-path") is not None and _value(mail, "return-path") in ("<>", ""):
        return Automail.BOUNCE, "null return path (Return-Path: <>)"
    if _BOUNCE_SENDERS.match(sender) or _BOUNCE_SENDERS.match(mail_from):
        return Automail.BOUNCE, f"sent by {sender or mail_from}"
    if _has(mail, "x-failed-recipients"):
        return Automail.BOUNCE, "X-Failed-Recipients header"
    if _BOUNCE_SUBJECTS.match(mail.subject):
        return Automail.BOUNCE, f"bounce subject: {mail.subject[:60]!r}"
    auto = _value(mail, "auto-submitted")
    if auto and auto != "no":
        return Automail.AUTO_REPLY, f"Auto-Submitted: {auto}"
    for header in ("x-autoreply", "x-autorespond", "x-auto-response-suppress",
                   "x-autogenerated"):
        if _has(mail, header):
            return Automail.AUTO_REPLY, f"{header} header"
    precedence = _value(mail, "precedence")
    if precedence == "auto_reply":
        return Automail.AUTO_REPLY, "Precedence: auto_reply"
    if _OUT_OF_OFFICE.search(mail.subject):
        return Automail.AUTO_REPLY, f"auto-reply subject: {mail.subject[:60]!r}"
    for header in ("list-id", "list-unsubscribe", "list-post", "mailing-list"):
        if _has(mail, header):
            return Automail.LIST, f"{header} header"
    if precedence == "list":
        return Automail.LIST, "Precedence: list"
    if precedence in ("bulk", "junk"):
        return Automail.BULK, f"Precedence: {precedence}"
    signal = _sender_signal(mail, mail_from, institutional)
    if signal:
        return signal
    if _CHALLENGE.search(mail.new_text[:3000]):
        return (Automail.AUTO_REPLY,
                "challenge-response: asks the sender to click a link to be allowed")
    return None, ""


def named_message_ids(mail: ParsedMail) -> tuple[str, ...]:
    """Message-IDs a bounce refers to: its threading headers and the returned original's."""
    found = [*mail.in_reply_to, *mail.references]
    found += _MESSAGE_ID_IN_TEXT.findall(mail.text[:200_000])
    return tuple(dict.fromkeys(found))


def process(message: Message, context: Context) -> Message:
    mail = message.parsed
    own = frozenset(context.rules.function_addresses)
    own_id = is_our_message_id(message.message_id, context.settings.instance) or (
        context.view.is_our_message_id(message.message_id))
    kind, why = classify(mail, message.envelope.mail_from, instance=context.settings.instance,
                         own_addresses=own, own_message_id=own_id,
                         institutional=context.settings.pipeline.institutional_domains)
    verdict = message.verdict
    if kind is None:
        return message.evolve(verdict=verdict.note(name, "written by a person"))
    verdict = verdict.note(name, f"{kind}: {why}", automail=str(kind))
    if kind in EVENT_CLASSES:
        # Only a Message-ID we generated ties it to a ticket: a requester's own Message-ID can
        # be named by anybody, and would put a stranger's text into that ticket's history.
        named = (message.message_id, *named_message_ids(mail))
        ours = [m for m in named if context.view.is_our_message_id(m)]
        ticket = context.view.ticket_of_message_ids(ours)
        where = f"an event on #{ticket}" if ticket else "an event without a ticket"
        verdict = verdict.note(name, f"stored as {where}", action="event", followup_of=ticket)
    return message.evolve(verdict=verdict)
