"""Stage `directory`: who wrote? The requester looked up in the institution's directory.

The lookup comes through `context.extras["directory"]` (a directory.Lookup, built by the
daemon from the settings: cached, bounded by a timeout, skipped while the directory is down),
so the stage itself does no I/O. A new ticket's requester is looked up by address and by a
username the text gives; a follow-up by the requester only while the ticket does not know
them yet (the answer to "please reply with your username", or a lookup that failed before).

- found: the person goes on the verdict (and so on the ticket); their username is the
  verdict's; `private_address` no longer applies and is cleared.
- unknown: an institutional address the directory does not know is flagged `unknown_person`;
  a private address whose given username it does not know stays `private_address`.
- unavailable: nothing is flagged; apply records `directory_unavailable` on the ticket, and
  the lookup is done again later (see directory.retry).
"""

from __future__ import annotations

from .. import etiquette
from ..addresses import canonical
from ..directory import EXTRAS_KEY, Lookup
from ..directory.resolve import resolve
from ..identity import Flag, requester_of
from .model import Context, Message, Verdict

name = "directory"
description = "Look the requester up in the directory: name, username, affiliation, department."


def _clear_private(verdict: Verdict) -> Verdict:
    if Flag.PRIVATE_ADDRESS not in verdict.flags:
        return verdict
    return verdict.note(
        name, "private_address cleared: the directory knows the sender",
        flags=tuple(f for f in verdict.flags if f != Flag.PRIVATE_ADDRESS),
        reasons=tuple(r for r in verdict.reasons if r[0] != Flag.PRIVATE_ADDRESS),
    )


def _skip(message: Message, context: Context, sender: str | None) -> str | None:
    """Why this message is not looked up, or None to look it up."""
    verdict = message.verdict
    if verdict.automail is not None:
        return f"not looked up: {verdict.automail}"
    if verdict.action != "new_ticket":
        return f"not looked up: action {verdict.action}"
    if verdict.followup_of is None:
        return None
    ticket = message.ticket(context.view, verdict.followup_of)
    if ticket is None or canonical(ticket.requester) != canonical(sender or ""):
        return "not looked up: a follow-up by someone other than the requester"
    if context.view.lookup_state(ticket.id) == "found":
        return "not looked up: the ticket knows its requester"
    return None


def process(message: Message, context: Context) -> Message:
    verdict = message.verdict
    lookup: Lookup | None = context.extras.get(EXTRAS_KEY)
    if lookup is None:
        return message.evolve(verdict=verdict.note(name, "no directory configured"))
    mail = message.parsed
    sender = requester_of(message) or None
    why = _skip(message, context, sender)
    if why:
        return message.evolve(verdict=verdict.note(name, why))
    username = verdict.username
    if username is None and verdict.followup_of is not None:  # flags judges new tickets only
        username = etiquette.find_username(mail.new_text, context.rules.lexicon)
        if username:  # kept on the message, for a later retry of the lookup
            verdict = verdict.note(name, f"username given in the text: {username}",
                                   username=username)
    found = resolve(lookup, sender, username, context.settings.pipeline.institutional_domains)
    if found is None:
        return message.evolve(verdict=verdict.note(name, "no address or username to look up"))
    if found.outcome == "found":
        assert found.person is not None
        person = found.person
        verdict = verdict.note(
            name, f"{person.describe()}: {found.answers[-1].detail}",
            person=tuple(person.to_json().items()), username=person.username,
            directory=("found", found.detail),
        )
        return message.evolve(verdict=_clear_private(verdict))
    if found.outcome == "unavailable":
        return message.evolve(verdict=verdict.note(
            name, f"directory unavailable, to be looked up again later: {found.detail}",
            directory=("unavailable", found.detail)))
    verdict = verdict.note(name, f"not in the directory: {found.detail}",
                           directory=("unknown", found.detail))
    if found.flag is not None:
        flag, why_flag = found.flag
        if flag in verdict.flags:  # private_address again, now with the better reason
            verdict = verdict.note(name, f"{flag}: {why_flag}", reasons=tuple(
                (f, why_flag if f == flag else w) for f, w in verdict.reasons))
        else:
            verdict = verdict.with_flag(flag, why_flag, name)
    return message.evolve(verdict=verdict)
