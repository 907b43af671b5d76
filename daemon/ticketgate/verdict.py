"""A message with its verdict: what the pipeline decided, as the store and the outbox read it.

The pipeline's stages fill the verdict in; `apply` writes it and the outbox sends what it
planned. This room sits below all three, so that none of them imports another to know the
shape of what they share: the outbox never imports the pipeline (it renders and delivers what
was decided, it does not decide again), and the pipeline never imports the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from .mail import ParsedMail
    from .store.reads import StoreView, Ticket

Action = Literal["new_ticket", "followup", "duplicate", "event", "hold", "drop"]


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope of a spooled delivery."""

    mail_from: str
    rcpt_to: tuple[str, ...]
    peer: str = ""
    received_at: float = 0.0
    spool_id: int | None = None


_Frozen = TypeVar("_Frozen")


def _copied(instance: _Frozen, fields: frozenset[str], changes: dict[str, Any]) -> _Frozen:
    """`instance` with `changes`, as dataclasses.replace() gives it, without running __init__;
    for frozen dataclasses without __post_init__ or slots. Names are checked as replace()
    would (no set is made when all are known)."""
    if not fields.issuperset(changes):
        unknown = changes.keys() - fields
        raise TypeError(f"{type(instance).__name__} has no field {sorted(unknown)[0]!r}")
    copy = object.__new__(type(instance))
    state = copy.__dict__
    state.update(instance.__dict__)
    state.update(changes)
    return copy


@dataclass(frozen=True)
class Verdict:
    """What the stages decided about one message; stored with it and shown by `rules test`."""

    action: Action = "new_ticket"
    automail: str | None = None
    duplicate_of: int | None = None
    ticket_code: int | None = None  # the number of a code found in the subject
    threaded_by: str | None = None  # "subject" or "headers"
    followup_of: int | None = None
    linked_to: int | None = None
    flags: tuple[str, ...] = ()
    reasons: tuple[tuple[str, str], ...] = ()  # (flag, why)
    # (flag, ((key, value), ...)): what a flag found, as data for the acknowledgement
    # ("kind": "no_thing", "subject": ...); values are strings or tuples of strings.
    flag_details: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    queue: str | None = None
    function_addresses: tuple[str, ...] = ()
    rule: str | None = None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    # The acknowledgement, decided once by the decide stage (the outbox only renders it, and
    # may still hold it back for the per-address rate limit): planned, with `acknowledgement`
    # the template and `acknowledgement_to` the address, or suppressed with the reason. A
    # quiet suppression is the usual case (a follow-up, staff's own mail): no event says so.
    acknowledgement: str | None = None
    acknowledgement_to: str | None = None
    acknowledgement_suppressed: str | None = None
    acknowledgement_quiet: bool = False
    route_acknowledgement: str | None = None  # the matched rule's `acknowledgement:`, if any
    notify: tuple[str, ...] = ()
    hold_reason: str | None = None
    staff_reply: bool = False  # a follow-up written by the queue's staff: correspondence
    username: str | None = None  # the requester's username, when the mail gives one
    subject_key: str = ""  # the normalised subject, for finding the same request sent again
    notes: tuple[tuple[str, str], ...] = ()  # (stage, explanation), in order
    # The requester as the directory knows them ((field, value) pairs of directory.Person),
    # and how the lookup went: (found | unknown | unavailable, detail).
    person: tuple[tuple[str, str], ...] | None = None
    directory: tuple[str, str] | None = None

    def note(self, stage: str, text: str, **changes: Any) -> Verdict:
        """A copy with `changes` applied and the explanation appended."""
        changes["notes"] = (*self.notes, (stage, text))
        return self._replace(changes)

    def _replace(self, changes: dict[str, Any]) -> Verdict:
        # dataclasses.replace() runs __init__, which sets all 28 fields one by one through
        # object.__setattr__ (the class is frozen): a dozen notes per message made that a
        # visible cost. A copy of the instance dict gives the same object (no field has a
        # default factory or __post_init__), checking names as replace() would.
        return _copied(self, _VERDICT_FIELD_SET, changes)

    @property
    def acknowledgement_decision(self) -> str:
        """"planned", "suppressed: REASON", or "" before the decide stage ran."""
        if self.acknowledgement is not None:
            return "planned"
        if self.acknowledgement_suppressed is not None:
            return f"suppressed: {self.acknowledgement_suppressed}"
        return ""

    def with_flag(
        self, flag: str, why: str, stage: str, details: Mapping[str, Any] | None = None
    ) -> Verdict:
        flag = str(flag)  # a plain str, also when given an identity.Flag
        if flag in self.flags:
            return self
        changes: dict[str, Any] = {
            "flags": (*self.flags, flag),
            "reasons": (*self.reasons, (flag, why)),
        }
        if details:
            frozen = tuple(
                (k, tuple(v) if isinstance(v, list) else v) for k, v in details.items()
            )
            changes["flag_details"] = (*self.flag_details, (flag, frozen))
        return self.note(stage, f"flagged {flag}: {why}", **changes)

    def details_json(self) -> dict[str, dict[str, Any]]:
        """flag_details as JSON-ready data: {flag: {key: value}}, tuples as lists."""
        return {
            flag: {k: list(v) if isinstance(v, tuple) else v for k, v in items}
            for flag, items in self.flag_details
        }

    def to_json(self) -> dict[str, Any]:
        """The verdict as JSON-ready data, as stored with its message."""
        # What dataclasses.asdict gave, without its recursive deep copy: every field holds
        # immutable values (str, int, bool, None, tuples of them).
        data = {name: getattr(self, name) for name in _VERDICT_FIELDS}
        data["reasons"] = dict(self.reasons)
        data["flag_details"] = self.details_json()
        data["notes"] = [list(n) for n in self.notes]
        data["person"] = dict(self.person) if self.person is not None else None
        return data


_VERDICT_FIELDS = tuple(f.name for f in fields(Verdict))
_VERDICT_FIELD_SET = frozenset(_VERDICT_FIELDS)


@dataclass(frozen=True)
class Message:
    """One spooled message on its way through the stages."""

    raw: bytes
    envelope: Envelope
    mail: ParsedMail | None = None
    message_id: str = ""  # the Message-ID used for storage (derived when the mail has none)
    verdict: Verdict = field(default_factory=Verdict)

    def evolve(self, **changes: Any) -> Message:
        """A copy with `changes` applied: what dataclasses.replace() gives, cheaper.

        Every stage evolves the message once, and replace() costs a few µs in its
        generated __init__; a copy of the instance dict is the same object (no field has
        __post_init__, and `verdict`'s default factory never runs for a copy).
        """
        return _copied(self, _MESSAGE_FIELD_SET, changes)

    def ticket(self, view: StoreView, number: int) -> Ticket | None:
        """view.ticket(number), read from the store once for this message.

        A follow-up's ticket is asked for by code, directory, route and decide in turn. The
        stages use only what never changes once a ticket exists (id, queue, requester; tickets
        are never deleted), so a ticket found is remembered on the message (and its evolved
        copies, which share the memo; it is no field, so equality and outputs ignore it). A
        ticket not found is asked again: it may have been committed since.
        """
        memo: dict[int, Ticket] | None = self.__dict__.get("_tickets")
        if memo is None:
            memo = {}
            object.__setattr__(self, "_tickets", memo)
        found = memo.get(number)
        if found is None:
            found = view.ticket(number)
            if found is not None:
                memo[number] = found
        return found

    @property
    def parsed(self) -> ParsedMail:
        """The parsed mail; stages after `parse` may rely on it."""
        assert self.mail is not None, "the parse stage must run first"
        return self.mail


_MESSAGE_FIELD_SET = frozenset(f.name for f in fields(Message))
