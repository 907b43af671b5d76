"""Oracles for the pipeline's cheaper paths: each gives what the code it replaced gave.

The stages' speedups (copying a Message by its dict, the header index of ParsedMail, the
remembered Content-Type charsets, tickets' flags and tags read without JSON for "[]", a
message's ticket read once, a new ticket's directory result inserted with it, routing's fold
by distinct characters) are compared here with the plain way they replaced, on bench mail and
on crafted odd cases.
"""

from __future__ import annotations

import dataclasses
import email.message
import json
import random
import sqlite3
import sys
import unicodedata
from pathlib import Path

import pytest

from ticketgate import mail as mailparse
from ticketgate.directory import rows as directory_rows
from ticketgate.mail import mimeparts
from ticketgate.pipeline.model import Envelope, Message, Verdict
from ticketgate.routing import text as routing_text
from ticketgate.store import Ticket, schema
from ticketgate.store.tickets import ticket_from_row
from ticketgate.store.transaction import SqliteTransaction

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from mails import MailFactory, parse_mix


def _bench_mail(count: int = 120) -> list[bytes]:
    factory = MailFactory(seed=7, size=3000, mix=parse_mix("new=0.6,code=0.3,thread=0.1"))
    return [m.raw for m in factory.take(count)]


# -- Message.evolve ------------------------------------------------------------------------


def test_evolve_gives_what_dataclasses_replace_gives() -> None:
    base = Message(raw=b"x", envelope=Envelope(mail_from="a@b", rcpt_to=("c@d",)))
    changes: list[dict[str, object]] = [
        {},
        {"message_id": "m@x"},
        {"verdict": Verdict().note("t", "why", action="hold")},
        {"raw": b"y", "message_id": "n@x", "mail": None},
    ]
    for change in changes:
        fast = base.evolve(**change)
        slow = dataclasses.replace(base, **change)  # type: ignore[arg-type]
        assert fast == slow
        assert fast.__dict__ == slow.__dict__
        assert type(fast) is Message and fast is not base
    assert base.message_id == ""  # the original is untouched


def test_evolve_refuses_unknown_fields_as_replace_does() -> None:
    base = Message(raw=b"x", envelope=Envelope(mail_from="", rcpt_to=()))
    with pytest.raises(TypeError):
        dataclasses.replace(base, nonsense=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="nonsense"):
        base.evolve(nonsense=1)


def test_an_evolved_message_stays_frozen() -> None:
    copy = Message(raw=b"x", envelope=Envelope(mail_from="", rcpt_to=())).evolve(raw=b"z")
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.raw = b"w"  # type: ignore[misc]


# -- ParsedMail.header / header_all --------------------------------------------------------


def _linear_header(parsed: mailparse.ParsedMail, name: str) -> str | None:
    key = name.lower()
    return next((value for field, value in parsed.headers if field == key), None)


def _linear_all(parsed: mailparse.ParsedMail, name: str) -> tuple[str, ...]:
    key = name.lower()
    return tuple(value for field, value in parsed.headers if field == key)


_ASKED = (
    "From", "to", "CC", "subject", "received", "x-autoreply", "List-Id", "precedence",
    "auto-submitted", "return-path", "x-loop-ticketgate", "Message-ID", "nothing-like-this", "",
)

_CRAFTED = [
    b"Received: one\nReceived: two\nReceived: three\nSubject: a\nsubject: b\n\nbody\n",
    b"From: x@y\nX-Empty:\nX-Empty: again\n\n",
    b"no headers at all",
    b"",
]


@pytest.mark.parametrize("index", range(len(_CRAFTED)))
def test_header_index_answers_as_the_linear_scan_on_crafted_mail(index: int) -> None:
    parsed = mailparse.parse(_CRAFTED[index])
    names = {*_ASKED, *(field for field, _ in parsed.headers)}
    for name in sorted(names):
        assert parsed.header(name) == _linear_header(parsed, name)
        assert parsed.header_all(name) == _linear_all(parsed, name)


def test_header_index_answers_as_the_linear_scan_on_bench_mail() -> None:
    for raw in _bench_mail():
        parsed = mailparse.parse(raw)
        for name in {*_ASKED, *(field for field, _ in parsed.headers)}:
            assert parsed.header(name) == _linear_header(parsed, name)
            assert parsed.header_all(name) == _linear_all(parsed, name)


def test_the_header_index_is_no_field() -> None:
    raw = b"Subject: a\nX-A: 1\n\nbody\n"
    asked, fresh = mailparse.parse(raw), mailparse.parse(raw)
    asked.header("x-a")
    assert asked == fresh and repr(asked) == repr(fresh)
    assert dataclasses.asdict(asked) == dataclasses.asdict(fresh)
    # a copy with other headers answers for its own headers, not the original's
    other = dataclasses.replace(asked, headers=(("x-a", "2"),))
    assert other.header("x-a") == "2" and asked.header("x-a") == "1"


# -- the remembered Content-Type charsets ----------------------------------------------------

_CONTENT_TYPES = [
    "text/plain; charset=utf-8",
    "text/plain; charset=UTF-8; format=flowed",
    'text/plain; charset="ISO-8859-1"',
    "text/html; charset*=utf-8''%E2%82%AC",
    "text/plain; charset*=iso-8859-1'sv'latin1",
    "text/plain; charset*=bogus''x",
    "text/plain; charset=\u00e5\u00e4\u00f6",
    "text/plain; charset=",
    "text/plain",
    "multipart/mixed; boundary=x; charset=koi8-r",
    "",
    ";;;charset=utf-8",
]


def _fields(ctype: str | None) -> list[tuple[str, bytes]]:
    fields = [("subject", b"x")]
    if ctype is not None:
        fields.append(("content-type", ctype.encode("utf-8")))
    return fields


@pytest.mark.parametrize("ctype", [*_CONTENT_TYPES, None])
def test_content_charset_is_get_content_charset(ctype: str | None) -> None:
    for _ in range(2):  # the second answer comes from memory
        mime = mimeparts.mime_fields(_fields(ctype))
        assert mimeparts.content_charset(mime) == mime.get_content_charset()


def test_content_charset_of_raw_8bit_values_is_get_content_charset() -> None:
    msg = email.message.Message()
    msg["content-type"] = "text/plain; charset=utf-8; name=\udce5"  # an escaped raw byte
    for _ in range(2):
        assert mimeparts.content_charset(msg) == msg.get_content_charset()


def test_read_head_charset_on_bench_mail_is_get_content_charset() -> None:
    for raw in _bench_mail(60):
        head = mimeparts.read_head(raw)
        assert head.charset == head.mime.get_content_charset()


def test_the_charset_memory_stays_bounded() -> None:
    for n in range(mimeparts._CHARSETS_MAX * 2 + 5):
        mime = mimeparts.mime_fields(_fields(f"text/plain; charset=x-{n}"))
        assert mimeparts.content_charset(mime) == f"x-{n}"
    assert len(mimeparts._CHARSETS) <= mimeparts._CHARSETS_MAX


# -- tickets' flags and tags ---------------------------------------------------------------


@pytest.mark.parametrize(
    "flags,tags", [("[]", "[]"), ('["a", "b"]', "[]"), ("[]", '["\\u00e5"]'), ("[ ]", "[]")]
)
def test_ticket_from_row_reads_flags_and_tags_as_json_does(flags: str, tags: str) -> None:
    row = (7, "q", "new", "s", "r@x", flags, None, tags, None, 1.0, 2.0)
    ticket = ticket_from_row(row)
    assert ticket.flags == tuple(json.loads(flags))
    assert ticket.tags == tuple(json.loads(tags))


# -- tickets remembered per message --------------------------------------------------------


class _CountingView:
    """A StoreView stand-in: tickets by number, counting the reads."""

    def __init__(self, tickets: dict[int, Ticket]) -> None:
        self.tickets = tickets
        self.reads: list[int] = []

    def ticket(self, number: int) -> Ticket | None:
        self.reads.append(number)
        return self.tickets.get(number)


def _ticket(number: int) -> Ticket:
    return Ticket(id=number, queue="q", status="new", subject="s", requester="r@x", flags=(),
                  priority=None, tags=(), linked_to=None, created_at=1.0, updated_at=1.0)


def test_a_found_ticket_is_read_once_per_message_and_its_copies() -> None:
    view = _CountingView({5: _ticket(5)})
    message = Message(raw=b"x", envelope=Envelope(mail_from="", rcpt_to=()))
    assert message.ticket(view, 5) == _ticket(5)  # type: ignore[arg-type]
    later = message.evolve(message_id="m@x").evolve(verdict=Verdict(followup_of=5))
    assert later.ticket(view, 5) == _ticket(5)  # type: ignore[arg-type]
    assert view.reads == [5]
    assert later == dataclasses.replace(message, message_id="m@x", verdict=Verdict(followup_of=5))


def test_a_ticket_not_found_is_asked_again() -> None:
    view = _CountingView({})
    message = Message(raw=b"x", envelope=Envelope(mail_from="", rcpt_to=()))
    assert message.ticket(view, 9) is None  # type: ignore[arg-type]
    view.tickets[9] = _ticket(9)  # committed meanwhile
    assert message.ticket(view, 9) == _ticket(9)  # type: ignore[arg-type]
    assert view.reads == [9, 9]


def test_other_messages_do_not_share_the_memo() -> None:
    view = _CountingView({5: _ticket(5)})
    envelope = Envelope(mail_from="", rcpt_to=())
    Message(raw=b"a", envelope=envelope).ticket(view, 5)  # type: ignore[arg-type]
    Message(raw=b"b", envelope=envelope).ticket(view, 5)  # type: ignore[arg-type]
    assert view.reads == [5, 5]


def test_verdict_note_refuses_unknown_fields_and_keeps_known_ones() -> None:
    with pytest.raises(TypeError, match="nonsense"):
        Verdict().note("t", "why", nonsense=1)
    noted = Verdict().note("t", "why", queue="q", action="hold")
    assert noted == dataclasses.replace(Verdict(), queue="q", action="hold",
                                        notes=(("t", "why"),))


# -- a new ticket's directory result inserted with the row ---------------------------------


def _rows(conn: sqlite3.Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    tickets = conn.execute("SELECT id, person, person_lookup, flags FROM tickets").fetchall()
    events = conn.execute("SELECT ticket_id, kind, detail, spool_id FROM events"
                          " ORDER BY id").fetchall()
    return tickets, events


@pytest.mark.parametrize("outcome,person", [
    ("found", {"name": "Kim Å", "username": "kim"}),
    ("unknown", None),
    ("unavailable", None),
])
def test_a_new_tickets_directory_result_inserted_is_what_the_update_wrote(
    outcome: str, person: dict[str, str] | None
) -> None:
    got = []
    for inserted in (False, True):
        conn = sqlite3.connect(":memory:", isolation_level=None)
        schema.migrate(conn)
        values = directory_rows.columns(outcome, person) if inserted else (None, None)
        tx = SqliteTransaction(conn)
        ticket = tx.create_ticket(queue="q", subject="s", requester="r@x",
                                  person=values[0], person_lookup=values[1], now=1.0)
        directory_rows.record(tx, ticket, outcome=outcome, detail="why", person=person,
                              existing=False, spool_id=None, stored=inserted)
        got.append(_rows(conn))
    assert got[0] == got[1]
    assert got[0][0][0][2] == directory_rows.STATES[outcome]


# -- routing fold by distinct characters ---------------------------------------------------


def _old_fold(text: str) -> str:
    """routing.text.fold as it was: the whole text normalised and filtered at once."""
    if text.isascii():
        return " ".join(text.lower().split())
    folded = text.casefold()
    if routing_text._TYPOGRAPHIC.search(folded) is not None:
        folded = folded.translate(routing_text._TRANSLATE)
    bare = unicodedata.normalize("NFKD", folded)
    if not bare.isascii():
        for mark in {ch for ch in routing_text._NON_ASCII.findall(bare)
                     if unicodedata.combining(ch)}:
            bare = bare.replace(mark, "")
    return " ".join(bare.casefold().split())


_ODD = [
    "Pässerkört LU\u2011kortet", "İstanbul", "STRASSE straße", "ℌello ℃ ﬃ", "a\u0308o\u0301",
    "\u0308\u0301 leading marks", "한국어 텍스트", "Ελληνικά ΣΊΣΥΦΟΣ", "emoji 😀 \u200b zero width",
    "“quoted” ‘single’ – dash — \u00ad soft", "ǅ ǈ ǋ titlecase", "\u00a0nbsp\u2003em space\u3000",
    "ﬀ ﬁ ﬂ ﬅ", "Å\u030a double ring", "\u1e9b\u0323 long s dot", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
    "①②③ ⅰⅱ ¼", "x\u0345\u0301 iota subscript", "Ａ\u0300\u0316", "ǰ ΐ ŉ",
]


@pytest.mark.parametrize("text", _ODD)
def test_fold_by_character_is_the_old_fold_on_odd_text(text: str) -> None:
    assert routing_text.fold(text) == _old_fold(text)
    assert routing_text.fold(text * 3) == _old_fold(text * 3)


def test_fold_by_character_is_the_old_fold_on_bench_and_random_text() -> None:
    for raw in _bench_mail(60):
        parsed = mailparse.parse(raw)
        for text in (parsed.text, parsed.new_text, parsed.subject):
            assert routing_text.fold(text) == _old_fold(text)
    rng = random.Random(11)
    # characters from where folding does something: Latin, combining marks, Greek, Cyrillic,
    # typographic punctuation, letterlike and compatibility forms, Hangul, spaces
    pools = [range(0x20, 0x7f), range(0xa0, 0x250), range(0x300, 0x370), range(0x370, 0x400),
             range(0x400, 0x460), range(0x1e00, 0x1f00), range(0x2000, 0x2070),
             range(0x2100, 0x2190), range(0xac00, 0xac40), range(0xfb00, 0xfb07),
             range(0xff01, 0xff5f), range(0x1d400, 0x1d420)]
    for _ in range(3000):
        text = "".join(chr(rng.choice(rng.choice(pools))) for _ in range(rng.randint(1, 40)))
        assert routing_text.fold(text) == _old_fold(text), ascii(text)
