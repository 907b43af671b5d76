"""Stage `flags`: the helpdesk's etiquette, checked on each mail that opens a ticket.

The heuristics live in `ticketgate.etiquette`; their word lists, patterns and thresholds come
from `rules/etiquette.yaml`, so a site tunes them for its languages without code. Follow-ups
are not judged: a reply's subject is the ticket's, and its text answers a question.
"""

from __future__ import annotations

import re

from .. import etiquette
from ..identity import Flag, code_pattern, requester_of, site_tags
from .model import Context, Message

name = "flags"
description = "Flag vague subjects, several matters, private addresses, missing computer names."

_QUOTED = re.compile(r"'([^']*)'")  # the mention in "mentions 'datorn' but names no computer"


def process(message: Message, context: Context) -> Message:
    verdict = message.verdict
    if verdict.action != "new_ticket" or verdict.followup_of is not None:
        return message.evolve(verdict=verdict.note(name, "not judged: not a new ticket"))
    if verdict.automail is not None:
        return message.evolve(verdict=verdict.note(name, f"not judged: {verdict.automail}"))
    mail = message.parsed
    lexicon = context.rules.lexicon
    sender = requester_of(message) or None
    vague = etiquette.judge_subject(
        mail.subject, lexicon, code_pattern=code_pattern(site_tags(context.settings))
    )
    if vague:
        verdict = verdict.with_flag(Flag.VAGUE_SUBJECT, vague.reason, name, vague.details())
    why = etiquette.multi_issue(mail.subject, mail.new_text, lexicon)
    if why:
        matters = etiquette.matters_seen(mail.subject, mail.new_text, lexicon)
        verdict = verdict.with_flag(Flag.MULTI_ISSUE, why, name, {"matters": matters})
    private, username = etiquette.private_address(
        sender, mail.new_text, lexicon, context.settings.pipeline.institutional_domains
    )
    if private:
        verdict = verdict.with_flag(
            Flag.PRIVATE_ADDRESS, f"{sender} is outside the institution and gives no username",
            name,
        )
    elif username:
        verdict = verdict.note(name, f"username given in the text: {username}",
                               username=username)
    why = etiquette.missing_computer_name(mail.subject, mail.new_text, lexicon)
    if why:
        mention = _QUOTED.search(why)
        verdict = verdict.with_flag(Flag.MISSING_COMPUTER_NAME, why, name,
                                    {"mention": mention.group(1) if mention else ""})
    if not verdict.flags:
        verdict = verdict.note(name, "no etiquette flags")
    return message.evolve(verdict=verdict)
