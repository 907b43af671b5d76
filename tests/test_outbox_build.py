"""The hand-written `build` against the EmailMessage builder it replaced (kept here as oracle).

Both outputs are parsed with the stdlib's modern parser and compared field by field, decoded;
the new bytes must also meet the wire rules on their own (CRLF, 7-bit, line lengths, encoded
words of at most 75 characters holding whole characters) and decode to exactly what was
meant. The oracle has defects of its own (`oracle_defect`, `unspaced`): where one applies,
only the intended value is checked.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP, compat32, default
from email.utils import formatdate
from typing import cast

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ticketgate.identity import LOOP_HEADER, new_message_id, ticket_reference
from ticketgate.outbox.headers import MAX_NAME, mailbox, one_line
from ticketgate.outbox.render import PRECEDENCE, Outgoing, build

INSTANCE = "helpdesk.example.org"
ADDRESS_FIELDS = ("From", "To", "Reply-To")
ID_FIELDS = ("Message-ID", "In-Reply-To", "References")
ORDER = ["From", "To", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
         "Auto-Submitted", "X-Auto-Response-Suppress", "Precedence", LOOP_HEADER,
         "Content-Type", "Content-Transfer-Encoding", "MIME-Version", "Content-Language"]
ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
ADJACENT_WORDS = re.compile(r"\?=\s+=\?")


def build_reference(mail: Outgoing, *, now: float | None = None) -> bytes:
    """The builder before it was written by hand: EmailMessage with policy SMTP."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = mail.sender
    msg["To"] = mail.to
    if mail.reply_to is not None:
        msg["Reply-To"] = mail.reply_to
    msg["Subject"] = one_line(mail.subject, 998)
    msg["Date"] = formatdate(now if now is not None else time.time(), localtime=True)
    msg["Message-ID"] = f"<{mail.message_id}>"
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
    if mail.references:
        msg["References"] = " ".join(mail.references)
    msg["Auto-Submitted"] = mail.auto_submitted
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Precedence"] = PRECEDENCE
    msg[LOOP_HEADER] = one_line(mail.instance, 255)
    msg.set_content(mail.body, charset="utf-8", cte="quoted-printable")
    if mail.languages:  # after set_content, which clears every Content-* header
        msg["Content-Language"] = ", ".join(mail.languages)
    return msg.as_bytes()


def parse(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def rfc2047_phrase(phrase: str) -> str:
    """A phrase of atoms and encoded words as RFC 2047 reads it (6.2: the white space between
    two encoded words is not text). The email package's address parser keeps that space."""
    out, after_ew = "", False
    for token in phrase.split():
        ew = ENCODED_WORD.fullmatch(token.encode())
        if out and not (after_ew and ew):
            out += " "
        out += decode_word(*ew.groups()) if ew else token
        after_ew = ew is not None
    return out


def decode_word(charset: bytes, cte: bytes, text: bytes) -> str:
    if cte in b"bB":
        data = base64.b64decode(text, validate=True)
    else:
        data = binascii.a2b_qp(text, header=True)
    return data.decode(charset.decode())  # strict: whole characters in every word (RFC 2047 5)


def decoded(raw: bytes, *, ours: bool = True) -> dict[str, object]:
    """Every field as a reader sees it, and the body text.

    Display names made of encoded words are read the RFC's way; for our bytes the email
    package must read them the same wherever no two encoded words stand side by side.
    """
    msg = parse(raw)
    legacy = BytesParser(policy=compat32).parsebytes(raw)  # the raw, still-encoded values
    out: dict[str, object] = {}
    for name in msg.keys():  # noqa: SIM118 (names in order, duplicates included)
        header = msg[name]
        if name in ID_FIELDS:  # white space between IDs is only a separator
            out[name] = " ".join(str(header).split())
            continue
        if name not in ADDRESS_FIELDS:
            out[name] = str(header)
            continue
        found = [(a.display_name, a.addr_spec) for a in header.addresses]
        part = re.sub(r"\r\n(?=[ \t])", "", str(legacy[name])).rpartition(" <")[0]
        if len(found) == 1 and "=?" in part and '"' not in part:
            rfc = rfc2047_phrase(part)
            if ours and not ADJACENT_WORDS.search(part):
                assert found[0][0] == rfc, (part, found)
            found = [(rfc, found[0][1])]
        out[name] = found
    out["body"] = msg.get_content()
    return out


def expected_body(body: str) -> str:
    """What set_content makes of a body: its lines (split as bytes are), each ending in CRLF."""
    return "".join(line.decode() + "\r\n" for line in body.encode().splitlines()) or "\r\n"


def check_wire(raw: bytes) -> None:
    """The rules the bytes must meet on their own."""
    assert raw.isascii()
    assert raw.endswith(b"\r\n")
    lines = raw[:-2].split(b"\r\n")
    for line in lines:
        assert b"\r" not in line and b"\n" not in line  # no bare CR or LF anywhere
        assert len(line) <= 78, line  # our test IDs and addresses are short: no excuse
    head = raw.split(b"\r\n\r\n", 1)[0]
    for match in ENCODED_WORD.finditer(head):
        assert len(match.group(0)) <= 75, match.group(0)
        decode_word(*match.groups())
        assert match.group(1).lower() == b"utf-8"
        if match.group(2) in b"qQ":  # RFC 2047 5(3): what Q may leave as is in a phrase
            assert re.fullmatch(rb"(?:[A-Za-z0-9!*+\-/_]|=[0-9A-F]{2})*", match.group(3))
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            assert line.strip(), "a continuation line of only white space"
            fields[-1] += line
        else:
            fields.append(line)
    for field in fields:
        if field.lower().startswith((b"message-id:", b"in-reply-to:", b"references:")):
            assert b"=?" not in field  # RFC 2047 5: no encoded words in a msg-id


def intended(mail: Outgoing, now: float) -> dict[str, object]:
    """What each field and the body must decode to."""
    def addresses(a: Address | None) -> list[tuple[str, str]]:
        assert a is not None
        return [(a.display_name, a.addr_spec)]

    out: dict[str, object] = {"From": addresses(mail.sender), "To": addresses(mail.to)}
    if mail.reply_to is not None:
        out["Reply-To"] = addresses(mail.reply_to)
    out["Subject"] = one_line(mail.subject, 998)
    out["Date"] = formatdate(now, localtime=True)
    out["Message-ID"] = f"<{mail.message_id}>"
    if mail.in_reply_to:
        out["In-Reply-To"] = mail.in_reply_to
    if mail.references:
        out["References"] = " ".join(mail.references)
    out.update({"Auto-Submitted": mail.auto_submitted, "X-Auto-Response-Suppress": "All",
                "Precedence": "bulk", LOOP_HEADER: one_line(mail.instance, 255),
                "Content-Type": 'text/plain; charset="utf-8"',
                "Content-Transfer-Encoding": "quoted-printable", "MIME-Version": "1.0"})
    if mail.languages:
        out["Content-Language"] = ", ".join(mail.languages)
    out["body"] = expected_body(mail.body)
    return out


def oracle_defect(field: str, new: object, old: object) -> str | None:
    """The old builder's defect that explains why its reading of `field` differs, or None.

    Found by this test, each shown by a test below; only text fields are affected:
    - Text that reads as an encoded word (`=?`) was decoded by the email package on the way
      in, so a subject or name sent literally as `=?utf-8?q?x?=` arrived as `x`.
    - An encoded word was sometimes cut in two at a fold, leaving `=?…?` on the wire.
    - A display name that needs quotes and was folded lost its quotes: `"Helpdesk, IT …"`
      became two addresses.
    """
    if field != "Subject" and field not in ADDRESS_FIELDS:
        return None
    if "=?" in repr(new):
        return "decodes text that reads as an encoded word"
    if "=?" in repr(old):
        return "cuts an encoded word in two"
    if field in ADDRESS_FIELDS:
        ((name, spec),) = cast(list[tuple[str, str]], new)
        if len(f"{field}: {Address(name, addr_spec=spec)}") > 78 and any(
                c in name for c in '()<>@,:;."[]\\'):
            return "drops the quotes of a folded display name"
    return None


def unspaced(value: object) -> object:
    """A subject or address list with the white space in text taken out.

    The old builder's folding got white space wrong around encoded words: it added a space
    where it moved an encoded word to the next line (a trailing space, then the fold's) and
    where it moved a first word off the first line, and it dropped the space between two
    encoded words it cut a run into. Text is compared exactly against the intended value,
    so this only forgives the oracle.
    """
    if isinstance(value, str):
        return "".join(value.split())
    return [("".join(name.split()), spec) for name, spec in cast(list[tuple[str, str]], value)]


# -- strategies ------------------------------------------------------------------------------

SWEDISH = ["Hej", "på", "skrivaren", "fungerar", "inte", "Åsa", "Öberg-Ström", "lösenordet",
           "ärende", "räksmörgås", "tangentbord", "Bildskärmen", "flimrar", "–", "…", "”citat”"]
SPECIAL = ['"', "\\", "(", ")", "<", ">", "@", ",", ";", ":", ".", "[", "]", "=", "?", "_",
           "=?", "?=", "=?utf-8?q?x?=", "'", "#", "\t", "\x00", "\x7f"]
EMOJI = ["✓", "🙂", "👩\u200d💻", "🇸🇪", "打印机", "Ω", "\u00a0", "\u200b", "\ufeff", "\U0010fffd"]

word = st.one_of(
    st.sampled_from(SWEDISH),
    st.sampled_from(SPECIAL),
    st.sampled_from(EMOJI),
    st.text(string.ascii_letters + string.digits + string.punctuation, min_size=1, max_size=12),
    st.text(min_size=1, max_size=8),
    st.integers(60, 140).map(lambda n: "x" * n),  # longer than a line
    st.integers(20, 60).map(lambda n: "ä" * n),
    st.builds(lambda a, b: a + b, st.sampled_from(SWEDISH), st.sampled_from(SPECIAL + EMOJI)),
)
phrase = st.lists(word, max_size=12).map(" ".join) | st.text(max_size=60) | st.just("")
long_phrase = st.lists(word, min_size=20, max_size=90).map(" ".join)
ascii_name = st.text(string.ascii_letters + ' "\\.,:;<>@()[]', max_size=90)  # quoted or not

body_line = st.one_of(
    st.sampled_from(["", ".", "..", "From here", "  ", "tab\t", "trailing space ", "=", "=3D",
                     "Vänliga hälsningar", "-" * 60, "a" * 200, "å" * 90, "x=" * 50]),
    st.text(max_size=120),
    st.lists(word, max_size=30).map(" ".join),
)
body = st.lists(body_line, max_size=30).flatmap(
    lambda lines: st.sampled_from(["\n", "\r\n", "\r"]).flatmap(
        lambda sep: st.sampled_from(["", sep, sep * 2]).map(lambda end: sep.join(lines) + end)))


@st.composite
def outgoing(draw: st.DrawFn) -> Outgoing:
    def name() -> str:
        return str(draw(st.one_of(phrase, long_phrase.map(lambda s: s[:MAX_NAME + 20]),
                                  ascii_name)))

    sender = mailbox("helpdesk@example.org", name())
    to = mailbox(draw(st.sampled_from(["kim@example.org", "a.b-c+d@sub.example.net"])), name())
    reply_to = mailbox("lukortet@example.org", name()) if draw(st.booleans()) else None
    assert sender is not None and to is not None
    ticket = draw(st.integers(1, 10**12))
    parent = draw(st.sampled_from([None, "<abc.1@client.example>", "<x-y_z=1@[10.0.0.1]>"]))
    refs = [f"<{ticket_reference(ticket, INSTANCE)}>", *([parent] if parent else [])]
    refs += [f"<r.{i}.{'q' * draw(st.integers(0, 30))}@mail.example.com>"
             for i in range(draw(st.integers(0, 20)))]
    return Outgoing(
        message_id=new_message_id(ticket, "acknowledgement", INSTANCE),
        sender=sender, to=to, reply_to=reply_to,
        subject=draw(st.one_of(phrase, long_phrase, st.text())),
        body=draw(body),
        instance=draw(st.sampled_from([INSTANCE, "h", "tg.example.net"])),
        auto_submitted=draw(st.sampled_from(["auto-replied", "auto-generated"])),
        in_reply_to=parent, references=tuple(refs),
        languages=tuple(draw(st.lists(st.sampled_from(["sv", "en", "fi"]), max_size=3,
                                      unique=True))),
    )


# -- properties ------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mail=outgoing(), now=st.integers(0, 4_000_000_000))
def test_build_decodes_like_the_email_package_and_as_meant(mail: Outgoing, now: int) -> None:
    raw = build(mail, now=now)
    check_wire(raw)
    msg = parse(raw)
    assert not msg.defects
    assert all(not msg[name].defects for name in msg.keys()), [  # noqa: SIM118
        (name, msg[name].defects) for name in msg.keys() if msg[name].defects]  # noqa: SIM118
    new = decoded(raw)
    assert new == intended(mail, now)
    assert list(new)[:-1] == [n for n in ORDER if n in new]
    old = decoded(build_reference(mail, now=now), ours=False)
    assert list(new) == list(old)  # the same fields in the same order
    for field, value in new.items():
        text = field == "Subject" or field in ADDRESS_FIELDS
        if (unspaced(value) if text else value) != (unspaced(old[field]) if text else old[field]):
            why = oracle_defect(field, value, old[field])
            assert why, (field, value, old[field])  # a difference no known defect explains
            event(f"old builder: {why}")


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(phrase, long_phrase, st.text(max_size=1100)))
def test_subject_alone_round_trips_within_the_limits(text: str) -> None:
    mail = Outgoing(message_id="tg.1.ack.0123456789abcdef@h.example",
                    sender=Address(username="a", domain="b.example"),
                    to=Address(username="c", domain="d.example"), subject=text, body="x",
                    instance="h.example", auto_submitted="auto-replied")
    raw = build(mail, now=0)
    check_wire(raw)
    assert str(parse(raw)["Subject"]) == one_line(text, 998)


# -- the oracle's defects, fixed -------------------------------------------------------------


def _mail(**kw: object) -> Outgoing:
    fields: dict[str, object] = {
        "message_id": "tg.1.ack.0123456789abcdef@helpdesk.example.org",
        "sender": mailbox("helpdesk@example.org", "DDG Helpdesk"),
        "to": mailbox("kim@example.org", "Kim Student"), "subject": "[DDG #1] Hej",
        "body": "Hej!\n", "instance": INSTANCE, "auto_submitted": "auto-replied"}
    fields.update(kw)
    return Outgoing(**fields)  # type: ignore[arg-type]


def test_a_long_display_name_with_a_comma_stays_one_address() -> None:
    name = "Helpdesk, IT department of the faculty of very long names and even longer ones"
    mail = _mail(sender=mailbox("helpdesk@example.org", name))
    raw = build(mail, now=0)
    check_wire(raw)
    assert decoded(raw)["From"] == [(name, "helpdesk@example.org")]
    # The old builder dropped the quotes when it folded the name: two addresses.
    assert len(parse(build_reference(mail, now=0))["From"].addresses) == 2


@pytest.mark.parametrize(("name", "wire"), [
    ("Kim Student", b"Kim Student <kim@example.org>"),
    ("Kim A. Student", b'"Kim A. Student" <kim@example.org>'),
    ('Kim "K" Student', b'"Kim \\"K\\" Student" <kim@example.org>'),
    ("C:\\Users\\kim", b'"C:\\\\Users\\\\kim" <kim@example.org>'),
    ("IT, Helpdesk", b'"IT, Helpdesk" <kim@example.org>'),
    ("Åsa Öberg", b"=?utf-8?b?w4VzYSDDlmJlcmc=?= <kim@example.org>"),  # B: shorter than Q
    ("Åsa (IT)", b"=?utf-8?b?w4VzYSAoSVQp?= <kim@example.org>"),
])
def test_display_names_are_quoted_or_encoded(name: str, wire: bytes) -> None:
    raw = build(_mail(to=mailbox("kim@example.org", name)), now=0)
    assert b"\r\nTo: " + wire + b"\r\n" in raw
    assert decoded(raw)["To"] == [(name, "kim@example.org")]


def test_text_that_looks_like_an_encoded_word_is_sent_as_written() -> None:
    mail = _mail(subject="Re: =?utf-8?q?Hj=C3=A4lp?= igen",
                 to=mailbox("kim@example.org", "=?utf-8?q?Eve?="))
    got = decoded(build(mail, now=0))
    assert got["Subject"] == "Re: =?utf-8?q?Hj=C3=A4lp?= igen"
    assert got["To"] == [("=?utf-8?q?Eve?=", "kim@example.org")]
    old = decoded(build_reference(mail, now=0), ours=False)  # decoded a second time
    assert old["Subject"] == "Re: Hjälp igen" and old["To"] == [("Eve", "kim@example.org")]


def test_an_encoded_word_is_never_cut_in_two_at_a_fold() -> None:
    subject = "0" * 56 + " 0000¡ ¡ 𐀀 ¡"
    raw = build(_mail(subject=subject), now=0)
    check_wire(raw)
    assert decoded(raw)["Subject"] == subject
    # The old builder left `=?utf-8?q?=F0=90=80=80?` at a line's end: the reader sees it.
    old = decoded(build_reference(_mail(subject=subject), now=0), ours=False)["Subject"]
    assert "=?utf-8?q?=F0=90=80=80?" in str(old) and "𐀀" not in str(old)


def test_no_space_is_added_where_an_encoded_word_goes_to_the_next_line() -> None:
    subject = "x" * 60 + " ✓"
    raw = build(_mail(subject=subject), now=0)
    assert b" \r\n" not in raw  # no trailing white space before a fold
    assert decoded(raw)["Subject"] == subject
    assert decoded(build_reference(_mail(subject=subject), now=0), ours=False)["Subject"] == (
        "x" * 60 + "  ✓")


def test_a_long_non_ascii_name_reads_as_written_by_the_rfc() -> None:
    name = "Åsa-Öberg-Ström-" * 6 + "Ärlig"
    raw = build(_mail(to=Address(name, "asa", "example.org")), now=0)  # past MAX_NAME
    check_wire(raw)
    assert decoded(raw)["To"] == [(name, "asa@example.org")]
    # The email package's address parser keeps the space between two encoded words, which
    # RFC 2047 6.2 (and mail clients) drop: it reads one space more at each cut.
    (read,) = parse(raw)["To"].addresses
    assert read.display_name.replace(" ", "") == name


def test_long_message_ids_are_folded_between_never_encoded() -> None:
    refs = (f"<tg.1@{INSTANCE}>", f"<{'r' * 90}@x.example>", "<abc@client.example>")
    raw = build(_mail(references=refs, in_reply_to="<abc@client.example>"), now=0)
    head = raw.split(b"\r\n\r\n")[0].decode()
    assert "=?" not in head
    assert f"References: <tg.1@{INSTANCE}>\r\n <{'r' * 90}@x.example>\r\n <abc@client.example>" \
        in head
    assert str(parse(raw)["References"]) == " ".join(refs)


def test_the_typical_acknowledgement_matches_the_old_bytes_but_for_encoding_choices() -> None:
    mail = _mail(to=mailbox("asa@example.org", "Åsa Öberg-Ström"),
                 subject="[DDG #12] Skrivaren på plan 3 fungerar inte",
                 body="Hej Åsa!\n\nTack för att du hör av dig.\n", languages=("sv", "en"),
                 in_reply_to="<abc@client.example>",
                 references=(f"<tg.12@{INSTANCE}>", "<abc@client.example>"))
    new, old = build(mail, now=1_700_000_000), build_reference(mail, now=1_700_000_000)
    assert decoded(new) == decoded(old, ours=False)
    same = [line for line in new.split(b"\r\n") if not line.startswith((b"Subject", b"To"))]
    assert same == [line for line in old.split(b"\r\n")
                    if not line.startswith((b"Subject", b"To"))]


# -- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["auto_submitted", "in_reply_to"])
def test_a_line_break_in_a_field_is_refused(field: str) -> None:
    with pytest.raises(ValueError):
        build(_mail(**{field: "auto-replied\r\nBcc: x@evil.example"}), now=0)


def test_a_lone_surrogate_in_a_header_becomes_a_replacement_character() -> None:
    got = decoded(build(_mail(subject="Sk\udce4rm"), now=0))
    assert got["Subject"] == "Sk\ufffdrm"


def test_a_lone_surrogate_in_the_body_is_refused_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        build(_mail(body="Sk\udce4rm"), now=0)
    with pytest.raises(UnicodeEncodeError):
        build_reference(_mail(body="Sk\udce4rm"), now=0)


def test_a_non_ascii_address_is_refused() -> None:
    with pytest.raises(ValueError):
        build(_mail(to=Address("Kim", "kim", "exämple.org")), now=0)
