"""Tests of ticketgate.mail: parsing any bytes into a ParsedMail."""

from __future__ import annotations

import base64
import codecs
import email.parser
import email.policy
import logging
import os
import random
import string
import subprocess
import sys
import time
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ticketgate.mail import (
    Mailbox,
    ParsedMail,
    charsets,
    mailboxes,
    mimetree,
    normalize_message_id,
    parse,
)
from ticketgate.mail import headers as mailheaders
from ticketgate.mail import parsed as mail

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
CONTROL = {chr(c) for c in range(32)} | {"\x7f"}


def message(headers: str, body: bytes | str = b"Hello\n", *, head_bytes: bytes = b"") -> bytes:
    """A message from header lines (\\n-separated, UTF-8) and a body."""
    raw_body = body.encode("utf-8") if isinstance(body, str) else body
    return headers.strip("\n").encode("utf-8") + head_bytes + b"\n\n" + raw_body


def corpus(path: str) -> bytes:
    if not CORPORA.is_dir():
        pytest.skip("../shared/corpora is absent")
    return (CORPORA / path).read_bytes()


# --- headers -------------------------------------------------------------------------------------


def test_plain_message() -> None:
    parsed = parse(
        message(
            "From: Anna Svensson <Anna.Svensson@Example.SE>\n"
            "To: helpdesk@example.se\n"
            "Subject: Printer on floor 3\n"
            "Message-ID: <abc.123@mail.example.se>\n"
            "Date: Mon, 02 Apr 2012 18:22:10 +0200",
            "The printer is jammed.\n",
        )
    )
    assert isinstance(parsed, ParsedMail)
    assert parsed.sender == Mailbox("anna.svensson@example.se", "Anna Svensson")
    assert parsed.to == (Mailbox("helpdesk@example.se", ""),)
    assert parsed.subject == "Printer on floor 3"
    assert parsed.message_id == "abc.123@mail.example.se"
    assert parsed.date == datetime(2012, 4, 2, 18, 22, 10, tzinfo=timezone(timedelta(hours=2)))
    assert parsed.content_type == "text/plain"
    assert parsed.text == parsed.new_text == "The printer is jammed."
    assert parsed.parts == 1
    assert parsed.defects == ()  # flanker parsed it: no fallback


def test_headers_in_order_lowercased_decoded_and_capped() -> None:
    long_value = "x" * 20_000
    parsed = parse(
        message(
            "Received: from a\n by b\nReceived: from c\n"
            "X-Tag: =?utf-8?Q?caf=C3=A9?=\n"
            f"X-Long: {long_value}\n"
            "X-Injected: =?utf-8?Q?a=0D=0ABcc:_evil@example.com?="
        )
    )
    assert [name for name, _ in parsed.headers] == [
        "received",
        "received",
        "x-tag",
        "x-long",
        "x-injected",
    ]
    assert parsed.header_all("RECEIVED") == ("from a by b", "from c")
    assert parsed.header("Received") == "from a by b"
    assert parsed.header("x-tag") == "café"
    assert parsed.header("missing") is None
    assert parsed.header_all("missing") == ()
    assert len(parsed.header("x-long") or "") == mail.MAX_VALUE
    injected = parsed.header("x-injected") or ""
    assert "\r" not in injected and "\n" not in injected
    assert injected == "a  Bcc: evil@example.com"


@pytest.mark.parametrize(
    ("raw_subject", "expected"),
    [
        ("=?utf-8?Q?Skrivare_p=C3=A5?=\n =?utf-8?Q?_plan_3?=", "Skrivare på plan 3"),
        ("=?utf-8?Q?=C3?= =?utf-8?Q?=A5?=", "å"),  # a character split over two words
        ("=?gb18030?B?suLK1A===?=", "测试"),  # too much padding, as in RT's corpus
        ("=?x-unknown?Q?caf=C3=A9?=", "café"),  # an unknown charset that is UTF-8
        ("=?ks_c_5601-1987?B?" + base64.b64encode("똠방".encode("cp949")).decode() + "?=", "똠방"),
        ("=?utf-8?Q?a=0D=0Ab=00c=09d?=", "a b c d"),  # CR, LF, NUL and TAB become spaces
        ("  several   spaces\n\tfolded  ", "several spaces folded"),
        ("Re: =?iso-8859-1?q?f=F6r?= =?utf-8?B?w6Vy?= x", "Re: förår x"),
        ("=?utf-8?B?broken!?= ok", "=?utf-8?B?broken!?= ok"),
    ],
)
def test_subject_is_decoded_unfolded_and_cleaned(raw_subject: str, expected: str) -> None:
    assert parse(message(f"Subject: {raw_subject}")).subject == expected


def test_raw_utf8_and_legacy_8bit_headers() -> None:
    utf8 = parse(message("Subject: Skrivare på plan 3"))
    assert utf8.subject == "Skrivare på plan 3"
    latin = parse(
        message(
            "Content-Type: text/plain; charset=iso-8859-1\nSubject: ",
            "Skrivaren fungerar inte.".encode("latin-1"),
            head_bytes="Skrivare på plan 3".encode("latin-1"),
        )
    )
    assert latin.subject == "Skrivare på plan 3"


def test_message_ids() -> None:
    parsed = parse(
        message(
            "Message-ID:  <abc@example.com> (comment)\n"
            "In-Reply-To: <one@example.com> <two@example.com>\n"
            "References: <r1@example.com>\n <r2@example.com>\n\t<r3@example.com>"
        )
    )
    assert parsed.message_id == "abc@example.com"
    assert parsed.in_reply_to == ("one@example.com", "two@example.com")
    assert parsed.references == ("r1@example.com", "r2@example.com", "r3@example.com")
    assert parse(message("Subject: x")).message_id is None
    assert parse(message("Message-ID: <>")).message_id is None
    assert parse(message("In-Reply-To: id@old.mua.example")).in_reply_to == ("id@old.mua.example",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@b>", "a@b"),
        ("  <a@b>  ", "a@b"),
        ("a@b", "a@b"),
        ("<a @b>", "a@b"),
        ("<>", None),
        ("", None),
        ("   ", None),
    ],
)
def test_normalize_message_id(value: str, expected: str | None) -> None:
    assert normalize_message_id(value) == expected


def test_addresses() -> None:
    parsed = parse(
        message(
            "From: =?utf-8?Q?J=C3=B6rg_M=C3=BCller?= <JORG@Example.DE>\n"
            "Reply-To: replies@example.de\n"
            'To: "Doe, John" <john@example.com>, Jane <JANE@example.com>\n'
            "Cc: helpdesk: one@example.com, two@example.com;"
        )
    )
    assert parsed.sender == Mailbox("jorg@example.de", "Jörg Müller")
    assert parsed.reply_to == Mailbox("replies@example.de", "")
    assert parsed.to == (
        Mailbox("john@example.com", "Doe, John"),
        Mailbox("jane@example.com", "Jane"),
    )
    # flanker knows no groups: the stdlib takes over
    assert [m.address for m in parsed.cc] == ["one@example.com", "two@example.com"]


def plain_mailbox(rng: random.Random) -> str:
    """A random mailbox of the forms mailboxes._PLAIN_MAILBOX takes, with its odd corners."""
    alnum = string.ascii_letters + string.digits
    odd = ["http", "https", "mailto", "www", "Re", "To", "From", "Cc", "Bcc", "xn", "a", "0"]

    def run(chars: str, most: int) -> str:
        if chars == alnum and rng.random() < 0.1:
            return rng.choice(odd)
        return "".join(rng.choice(chars) for _ in range(rng.randint(1, most)))

    local = run(alnum, 10)
    for _ in range(rng.choice((0, 0, 1, 2, 3))):
        local += rng.choice("._+-") + run(alnum, 8)
    labels = ["-".join(run(alnum, 63 if rng.random() < 0.05 else 8)
                       for _ in range(rng.choice((1, 1, 1, 2, 3))))
              for _ in range(rng.randint(1, 4))]
    top = run(string.ascii_letters, 5) + rng.choice(string.ascii_letters)  # 2+ letters
    address = local + "@" + ".".join(labels) + "." + top
    form = rng.randrange(3)
    if form == 0:
        return address
    if form == 1:
        return f"<{address}>"
    return " ".join(run(alnum, 9) for _ in range(rng.randint(1, 5))) + f" <{address}>"


def test_plain_mailboxes_skip_flanker_with_flanker_s_reading() -> None:
    rng = random.Random(20250303)
    boxes = {plain_mailbox(rng) for _ in range(4000)}
    boxes = {box for box in boxes if len(box) <= 254}
    assert len(boxes) > 3500 and all(mailboxes._PLAIN_MAILBOX.fullmatch(box) for box in boxes)
    differ = [box for box in boxes if mail._mailboxes((box,)) != mailboxes._address_list(box)]
    assert not differ, differ[:5]
    # and what flanker reads otherwise is not taken for plain
    for box in ("a@xn--bcher-kva.de", "a@b.c0", "a..b@c.de", "a@b_c.de", "Ann  Berg <a@b.de>",
                '"Ann" <a@b.de>', "Ann <a@b.de>, b@c.de", "a@b.de.", "A.B <a@b.de>"):
        assert not mailboxes._PLAIN_MAILBOX.fullmatch(box), box


def test_address_names_lose_control_characters() -> None:
    parsed = parse(message("From: =?utf-8?Q?Evil=0D=0ABcc:_x=00?= <evil@example.com>"))
    assert parsed.sender is not None
    assert not CONTROL & set(parsed.sender.name)
    assert parsed.sender.address == "evil@example.com"


def test_missing_and_bogus_addresses() -> None:
    parsed = parse(message("From: MAILER-DAEMON\nTo: undisclosed-recipients:;\nCc: <>"))
    assert parsed.sender is None and parsed.to == () and parsed.cc == ()
    assert parse(message("Subject: no from")).sender is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 02 Apr 2012 18:22:10 +0400 (MSK)", datetime(2012, 4, 2, 14, 22, 10, tzinfo=UTC)),
        ("2 Apr 2012 18:22:10 -0000", datetime(2012, 4, 2, 18, 22, 10, tzinfo=UTC)),
        ("yesterday", None),
        ("Mon, 99 Foo 2012 99:99:99 +9999", None),
        ("", None),
    ],
)
def test_dates_are_aware_or_none(value: str, expected: datetime | None) -> None:
    parsed = parse(message(f"Date: {value}"))
    assert parsed.date == expected
    assert parsed.date is None or parsed.date.tzinfo is not None


# --- structure and text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "text/plain"),
        ("Content-Type: bogus", "text/plain"),
        ("Content-Type: text", "text/plain"),
        ("Content-Type: TEXT/HTML; charset=utf-8", "text/html"),
    ],
)
def test_content_type(header: str, expected: str) -> None:
    assert parse(message(f"Subject: x\n{header}", "<p>x</p>")).content_type == expected


def multipart(subtype: str, *parts: str, params: str = "", preamble: str = "") -> bytes:
    body = preamble + "".join(f"--XYZ\n{part}\n" for part in parts) + "--XYZ--\n"
    return message(f'Subject: m\nContent-Type: multipart/{subtype}; boundary="XYZ"{params}', body)


def test_alternative_prefers_plain_text() -> None:
    parsed = parse(
        multipart(
            "alternative",
            "Content-Type: text/plain\n\nplain version",
            "Content-Type: text/html\n\n<p>html <b>version</b></p>",
        )
    )
    assert parsed.text == "plain version"
    assert parsed.parts == 3


def test_alternative_with_empty_plain_uses_html() -> None:
    parsed = parse(
        multipart(
            "alternative",
            "Content-Type: text/plain\n\n \n",
            "Content-Type: text/html\n\n<p>html <b>version</b></p>",
        )
    )
    assert parsed.text == "html version"


def test_html_only_mail_becomes_text() -> None:
    html = (
        "<html><head><style>p{}</style></head><body><p>Hej,</p><p>skrivaren &auml;r "
        "trasig.<br>Mvh Anna</p><script>x()</script></body></html>"
    )
    parsed = parse(message("Content-Type: text/html; charset=utf-8", html))
    assert parsed.text == "Hej,\n\nskrivaren är trasig.\nMvh Anna"


def test_html_charset_from_meta_when_mime_has_none() -> None:
    html = '<meta charset="windows-1252"><p>caf\xe9 \x93quoted\x94</p>'.encode("latin-1")
    assert parse(message("Content-Type: text/html", html)).text == "café “quoted”"


def test_mixed_parts_attachments_and_report() -> None:
    parsed = parse(
        multipart(
            "report",
            "Content-Type: text/plain\n\nDelivery failed.",
            "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n",
            "Content-Type: application/pdf\nContent-Disposition: attachment;\n"
            " filename*=utf-8''r%C3%A4kning.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=",
            'Content-Type: image/png; name="=?utf-8?Q?bild_=C3=A5.png?="\n\nPNG',
            params="; report-type=Delivery-Status",
        )
    )
    assert parsed.content_type == "multipart/report"
    assert parsed.report_type == "delivery-status"
    assert parsed.text == "Delivery failed."
    assert parsed.attachments == ("räkning.pdf", "bild å.png")
    assert parse(message("Subject: x")).report_type is None


def test_inline_text_parts_are_joined_and_enclosed_messages_skipped() -> None:
    parsed = parse(
        multipart(
            "mixed",
            "Content-Type: text/plain\n\nFirst part.",
            "Content-Type: message/rfc822\n\nSubject: inner\n\nForwarded body.",
            "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
            "Second=\n part.",
        )
    )
    assert parsed.text == "First part.\n\nSecond part."


def test_forwarded_message_only_gives_its_text() -> None:
    parsed = parse(
        multipart("mixed", "Content-Type: message/rfc822\n\nSubject: inner\n\nForwarded body.")
    )
    assert parsed.text == "Forwarded body."


def test_digest_parts_default_to_messages() -> None:
    parsed = parse(
        multipart("digest", "Subject: one\n\nFirst digest message.", "Subject: two\n\nSecond.")
    )
    assert parsed.parts == 5  # the digest, two messages and their bodies
    assert parsed.text == "First digest message."  # no body of its own: the first message


def test_attached_message_keeps_its_filename() -> None:
    parsed = parse(
        multipart(
            "mixed",
            "Content-Type: text/plain\n\nSee the attached mail.",
            'Content-Type: message/rfc822\nContent-Disposition: attachment; filename="fwd.eml"'
            "\n\nSubject: inner\n\nForwarded body.",
        )
    )
    assert parsed.attachments == ("fwd.eml",)
    assert parsed.text == "See the attached mail."


@pytest.mark.parametrize("parser", ["flanker", "stdlib"])
def test_raw_8bit_filenames(parser: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if parser == "stdlib":
        monkeypatch.setattr(mimetree, "from_flanker", lambda raw, limits: 1 / 0)
    name = "Картинка с длинным именем".encode()[:-1]  # cut in the middle of a character
    raw = multipart(
        "mixed",
        "Content-Type: text/plain\n\nPicture attached.",
        'Content-Type: image/png\nContent-Disposition: attachment; filename="NAME"\n\nPNG',
    ).replace(b"NAME", name)
    parsed = parse(raw)
    assert parsed.attachments[0].startswith("Картинка с длинным имен")
    assert parsed.text == "Picture attached."


def test_mostly_utf8_text_keeps_its_utf8() -> None:
    text = "Привет, принтер в кабинете не работает."
    parsed = text_of("utf-8", text.encode() + b" \xe9")
    assert parsed.text == text + " \ufffd"
    assert "charset utf-8: UTF-8 with invalid bytes replaced" in parsed.defects


def test_missing_start_boundary_falls_back_to_stdlib() -> None:
    raw = message(
        'Subject: broken\nContent-Type: multipart/mixed; boundary="NOPE"',
        "Hi there,\n\nThe boundary never comes.\n",
    )
    parsed = parse(raw)
    assert parsed.defects[0] == (
        "flanker: Multipart message without starting boundary; used stdlib email"
    )
    assert parsed.text == "Hi there,\n\nThe boundary never comes."


def test_last_resort_plain_split(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(raw: bytes, limits: mimetree.Limits) -> mimetree.Node:
        raise ValueError("refused")

    monkeypatch.setattr(mimetree, "from_flanker", refuse)
    monkeypatch.setattr(mimetree, "from_stdlib", refuse)
    parsed = parse(
        multipart(
            "alternative",
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
            + base64.b64encode("Split by hand: å".encode()).decode(),
            "Content-Type: text/html\n\n<p>html</p>",
            preamble="This is a preamble.\n",
        )
    )
    assert parsed.defects[0] == "flanker: refused; stdlib email: refused; used plain split"
    assert parsed.text == "Split by hand: å"
    assert parsed.parts == 3


def test_internal_error_still_gives_a_parsed_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(mailheaders, "split", broken)
    parsed = parse(b"Subject: x\n\nbody")
    assert parsed.defects == ("internal error: RuntimeError: bug",)
    assert "body" in parsed.text


def test_text_is_capped_and_cleaned() -> None:
    parsed = parse(message("Subject: x", "a\x00b\x01c\r\nd\re " + "z" * 500), max_text=100)
    assert parsed.text.startswith("ab c\nd\ne ")
    assert len(parsed.text) == 100


def test_parts_and_depth_limits() -> None:
    parsed = parse(multipart("mixed", *["Content-Type: text/plain\n\npart"] * 20), max_parts=5)
    assert parsed.parts == 5
    assert "structure: more than 5 parts; the rest skipped" in parsed.defects
    deep = parse(nested(10), max_depth=3)
    assert deep.parts == 4  # the message and three levels of multipart
    assert "structure: nested deeper than 3 levels; the rest skipped" in deep.defects


def test_empty_and_odd_inputs() -> None:
    for raw in (b"", b"\x00", b"\n\n\n", b"no headers at all", b"From nobody Mon Jan 1\n\nmbox"):
        parsed = parse(raw)
        assert isinstance(parsed.text, str)
        assert parsed.content_type == "text/plain"
    assert parse(b"From nobody Mon Jan 1\nSubject: mbox\n\nbody").subject == "mbox"


# --- charsets --------------------------------------------------------------------------------


def text_of(charset: str | None, body: bytes, cte: str = "8bit") -> ParsedMail:
    ctype = f"Content-Type: text/plain; charset={charset}\n" if charset else ""
    if cte == "base64":
        body = base64.encodebytes(body)
    return parse(message(f"Subject: c\n{ctype}Content-Transfer-Encoding: {cte}", body))


def test_gb2312_declared_but_utf8_content() -> None:
    parsed = text_of("gb2312", "测试中文邮件，打印机坏了".encode())
    assert parsed.text == "测试中文邮件，打印机坏了"
    assert "charset gb2312: content was UTF-8" in parsed.defects


def test_gb2312_is_read_as_gb18030() -> None:
    text = "打印机坏了 𠀀"  # the last character exists in GB18030 only
    parsed = text_of("gb2312", text.encode("gb18030"))
    assert parsed.text == text
    assert parsed.defects == ()  # the alias, not a guess


def test_windows_1258() -> None:
    # Vietnamese in cp1258 uses combining tone marks: "ê" then a combining acute
    raw = b"Ti\xea\xecng Vi\xea\xf2t"
    parsed = text_of("windows-1258", raw, "base64")
    assert unicodedata.normalize("NFC", parsed.text) == "Tiếng Việt"
    assert parsed.defects == ()


def test_iso_2022_jp() -> None:
    text = "日本語のメールです。"
    assert text_of("ISO-2022-JP", text.encode("iso2022_jp"), "7bit").text == text
    assert text_of(None, text.encode("iso2022_jp"), "7bit").text == text  # unlabelled


def test_ks_c_5601_1987_is_cp949() -> None:
    text = "똠방각하 프린터"  # "똠" is in CP949 only, not in EUC-KR
    parsed = text_of("ks_c_5601-1987", text.encode("cp949"))
    assert parsed.text == text
    assert parsed.defects == ()


def test_koi8_r_without_content_type() -> None:
    subject, body = "Принтер сломался", "Привет, у меня не работает принтер в кабинете."
    raw = b"Subject: " + subject.encode("koi8_r") + b"\n\n" + body.encode("koi8_r")
    parsed = parse(raw)
    assert parsed.subject == subject
    assert parsed.text == body


@pytest.mark.parametrize("label", ["x-unknown", "unknown-8bit", "us-ascii", "utf-9", None])
def test_unknown_or_wrong_labels_try_utf8_then_detection(label: str | None) -> None:
    text = "Hej, jag har problem med min dator och skrivaren på plan tre. Tack för hjälpen!"
    assert text_of(label, text.encode()).text == text
    parsed = text_of(label, text.encode("cp1252"))
    assert parsed.text == text
    assert any("decoded as" in d for d in parsed.defects)


def test_utf16_is_not_mistaken_for_ascii() -> None:
    assert text_of("utf-16", "Hej å".encode("utf-16"), "binary").text == "Hej å"
    assert text_of("UTF-16LE", b"H\x00e\x00j\x00", "binary").text == "Hej"


def test_undecodable_bytes_end_in_latin1_never_replacement_chars() -> None:
    parsed = text_of("x-unknown", bytes(range(128, 256)) * 4)
    assert "\ufffd" not in parsed.text
    assert len(parsed.text) > 0


# --- binary bodies ---------------------------------------------------------------------------

# What an image or sound looks like as bytes: a PNG signature, then compressed data (about one
# byte in nine a C0 control, and invalid UTF-8).
_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(7).randbytes(3000)


@pytest.mark.parametrize("headers", [
    "Subject: c\nContent-Type: text/plain",
    "Subject: c\nContent-Type: text/plain; charset=iso-8859-1",
    "Subject: c\nContent-Type: text/html; charset=utf-8",
    "Subject: c\nContent-Type: text/plain; charset=utf-16",
])
def test_a_binary_body_shows_as_a_placeholder(headers: str) -> None:
    parsed = parse(message(headers, _PNG))
    assert parsed.text == parsed.new_text == f"[binary content, {len(_PNG)} bytes]"
    assert any("binary content" in d for d in parsed.defects)


def test_a_binary_file_sent_bare_shows_as_a_placeholder() -> None:
    # No header at all, as flanker/attachments/mailgun.png: the whole file is a text/plain body.
    for raw in (_PNG, _PNG.replace(b"\n", b"\r\n")):
        assert parse(raw).text == f"[binary content, {len(raw)} bytes]"


def test_a_binary_part_among_text_parts_is_a_placeholder_between_them() -> None:
    encoded = base64.encodebytes(_PNG).decode("ascii")
    raw = multipart("mixed", "Content-Type: text/plain\n\nFirst.\n",
                    f"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n{encoded}",
                    "Content-Type: text/plain\n\nLast.\n")
    assert parse(raw).text == f"First.\n\n[binary content, {len(_PNG)} bytes]\n\nLast."


@pytest.mark.parametrize("label, body, text", [
    (None, b"Hej\x00 d\x00u\r\n\x00\r\n", "Hej du"),  # NULs in ASCII text: text, as before
    ("iso-8859-1", b"H\xe4lsningar\x07 \x01fr\xe5n \xc5sa", "Hälsningar   från Åsa"),
    ("utf-16", "Hej å, Привет".encode("utf-16"), "Hej å, Привет"),
    (None, "Hej å, Привет".encode("utf-16"), "Hej å, Привет"),  # a byte order mark
    ("utf-16-le", "Привет мир".encode("utf-16-le"), "Привет мир"),
    ("iso-2022-jp", "日本語のメールです。".encode("iso2022_jp"), "日本語のメールです。"),
])
def test_text_with_control_bytes_is_still_text(label: str | None, body: bytes,
                                               text: str) -> None:
    assert text_of(label, body, "binary").text == text


@pytest.mark.parametrize("data, binary", [
    ("\x00é".encode() * 5000, False),  # valid UTF-8, cut mid-character by the sample
    ("Привет мир. ".encode("utf-16-le") * 1000, False),  # unlabelled UTF-16: one-sided controls
    ("Привет мир. ".encode("utf-16-be") * 1000, False),
    (random.Random(3).randbytes(100_000), True),
    (b"\xe5\x01\x02\x03", False),  # three controls: too few to tell
    (b"\xe5\x01\x02\x03\x04", True),
])
def test_looks_binary(data: bytes, binary: bool) -> None:
    assert charsets.looks_binary(data, None) is binary


def test_corpus_binaries_sent_bare_show_as_placeholders() -> None:
    for name in ("mailgun.png", "mailgun-rocks.wav", "small.png"):
        raw = corpus(f"flanker/attachments/{name}")
        assert parse(raw).text == f"[binary content, {len(raw)} bytes]"


# --- the corpora -----------------------------------------------------------------------------


def corpus_files() -> list[str]:
    if not CORPORA.is_dir():
        return []
    return sorted(str(p.relative_to(CORPORA)) for p in CORPORA.rglob("*") if p.is_file())


def declared_charset(raw: bytes) -> str | None:
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    return headers.get_content_charset()


@pytest.mark.skipif(not CORPORA.is_dir(), reason="../shared/corpora is absent")
@pytest.mark.parametrize("name", corpus_files())
def test_every_corpus_file_parses(name: str) -> None:
    raw = (CORPORA / name).read_bytes()
    start = time.perf_counter()
    parsed = parse(raw)
    assert time.perf_counter() - start < 5
    check_invariants(parsed)
    charset = declared_charset(raw)
    if parsed.content_type == "text/plain" and charset and b"\xef\xbf\xbd" not in raw:
        try:
            codecs.lookup(charset)
        except LookupError:
            return
        assert "\ufffd" not in parsed.text


def test_rt_koi8_r_without_content_type() -> None:
    parsed = parse(corpus("rt/russian-subject-no-content-type"))
    assert parsed.subject == "тест тест"
    assert parsed.text == "ТЕСТ"


def test_rt_gb18030() -> None:
    parsed = parse(corpus("rt/new-ticket-from-gb18030"))
    assert parsed.subject == "测试"
    assert parsed.text == "测试"


def test_rt_iso_8859_1() -> None:
    short = parse(corpus("rt/new-ticket-from-iso-8859-1"))
    assert short.text == "Håvard"
    assert short.sender == Mailbox("hw@nordkapp.net", "Wilhelmsen Håvard")
    full = parse(corpus("rt/new-ticket-from-iso-8859-1-full"))
    assert "letters like: ø æ å" in full.text
    # a bottom-posted answer below "At ..., you wrote:" and its quote, signature dropped
    assert full.new_text.startswith("Hello again,")
    assert full.new_text.endswith("&oslash; &aring; and &aerlig;")


def test_rt_iso_8859_15() -> None:
    parsed = parse(corpus("rt/8859-15-message-series/msg1"))
    assert parsed.subject == "test äöüßÄÖÜß€"
    assert parsed.text.endswith("test äöüßÄÖÜß€")


def test_rt_rfc2231_filename_in_iso_2022_jp() -> None:
    parsed = parse(corpus("rt/rfc2231-attachment-filename-continuations"))
    assert parsed.attachments == ("新しいテキスト ドキュメント.txt",)
    assert parsed.text == "Some data in a file"


def test_rt_bounce_report_type() -> None:
    parsed = parse(corpus("rt/multipart-report"))
    assert (parsed.content_type, parsed.report_type) == ("multipart/report", "delivery-status")


# --- bombs -----------------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth)
    )
    closing = b"".join(b"--b%d--\n" % i for i in reversed(range(depth)))
    return b"From: a@example.com\nSubject: nest\n" + opening + b"\nhello\n" + closing


def many_parts(count: int) -> bytes:
    parts = b"".join(b"--x\nContent-Type: text/plain\n\npart %d\n" % i for i in range(count))
    return b'Subject: many\nContent-Type: multipart/mixed; boundary="x"\n\n' + parts + b"--x--\n"


BOMBS = {
    "nested-1000": lambda: nested(1000),
    "parts-10000": lambda: many_parts(10_000),
    "header-1MB": lambda: b"Subject: " + b"x" * (1 << 20) + b"\n\nbody\n",
    "encoded-words-1MB": lambda: b"Subject: " + b"=?utf-8?q?a" * 100_000 + b"\n\nbody\n",
    "header-lines": lambda: b"X-A: b\n" * 200_000 + b"\nbody\n",
    "continuation-lines": lambda: b"X-A: b\n" + b" c\n" * 1_000_000 + b"\nbody\n",
    "body-25MiB": lambda: b"Subject: big\n\n" + (b"y" * 70 + b"\n") * (25 * 2**20 // 71),
    "blank-lines-25MiB": lambda: b"Subject: blank\n\n" + b"\n" * 25 * 2**20,
    "dash-lines-8MiB": lambda: (
        b'Content-Type: multipart/mixed; boundary="x"\n\n--x\n\n' + b"--y\n" * 2**21 + b"--x--\n"
    ),
    "html-25MiB": lambda: b"Content-Type: text/html\n\n" + b"<>" * (25 * 2**19),
}


@pytest.mark.parametrize("name", BOMBS)
def test_bombs_parse_in_bounded_time(name: str) -> None:
    raw = BOMBS[name]()
    start = time.perf_counter()
    parsed = parse(raw)
    elapsed = time.perf_counter() - start
    assert elapsed < 5, f"{name} took {elapsed:.1f} s"
    assert parsed.parts <= 1000
    assert len(parsed.text) <= 100_000
    if name == "parts-10000":
        assert parsed.text.startswith("part 0\n\npart 1")
        assert parsed.parts == 1000
    if name == "header-1MB":
        assert len(parsed.subject) == mail.MAX_VALUE and parsed.text == "body"
    if name in ("header-lines", "continuation-lines"):
        assert parsed.text == "body"
        assert "headers: over 20000 lines or 2097152 bytes" in parsed.defects
    if name == "body-25MiB":
        assert len(parsed.text) == 100_000


@pytest.mark.parametrize(
    "unit", [b"\n", b"\n--", b"content-type:", b"\n\r\n", b"\n--content-type:\n\n", b"\n-\n-"]
)
def test_small_messages_need_no_cost_estimate_for_flanker(unit: bytes) -> None:
    # mimetree.build skips counting for messages up to this size: the worst bytes fit the budget
    size = mimetree.FLANKER_SURELY_AFFORDABLE
    raw = (unit * (size // len(unit) + 1))[:size]
    assert mimetree.costs(raw).flanker <= mimetree.FLANKER_BUDGET


# --- properties ------------------------------------------------------------------------------


def check_invariants(parsed: ParsedMail) -> None:
    assert isinstance(parsed, ParsedMail)
    assert not [d for d in parsed.defects if d.startswith("internal error")]  # a bug of ours
    assert isinstance(parsed.text, str) and isinstance(parsed.new_text, str)
    assert not CONTROL & set(parsed.subject)
    for _, value in parsed.headers:
        assert "\r" not in value and "\n" not in value and "\x00" not in value
    for box in (parsed.sender, parsed.reply_to, *parsed.to, *parsed.cc):
        if box is not None:
            assert box.address and box.address == box.address.lower()
            assert not CONTROL & set(box.name)
    assert parsed.message_id is None or parsed.message_id.strip() == parsed.message_id != ""
    assert parsed.date is None or parsed.date.tzinfo is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_parse_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    check_invariants(parse(raw))


MIME_PIECES = [
    b"\n",
    b"\r\n",
    b"--b\n",
    b"--b--\n",
    b"--c\n",
    b'Content-Type: multipart/mixed; boundary="b"\n',
    b"Content-Type: multipart/alternative; boundary=c\n",
    b"Content-Type: message/rfc822\n",
    b"Content-Type: text/html; charset=x-unknown\n",
    b"Content-Type: text/plain; charset=utf-8\n",
    b"Content-Transfer-Encoding: base64\n",
    b"Content-Transfer-Encoding: quoted-printable\n",
    b"Content-Disposition: attachment; filename*=utf-8''%C3%A5\n",
    b"From: =?utf-8?B?w6U=?= <a@b.c>\n",
    b"Subject: =?utf-8?q?x=00?=\n",
    b"SGVsbG8=\n",
    b"=C3=A5=\n",
    b"<p>hi<blockquote>q",
    b"\xff\xfe\x00",
    b"> quoted\n",
    b"On Mon, X wrote:\n",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(MIME_PIECES), max_size=60))
def test_parse_never_raises_on_mime_like_input(pieces: list[bytes]) -> None:
    check_invariants(parse(b"".join(pieces)))


header_values = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from("=?Qqb_Bu8tf-\r\n\x00 \t<>@,;:\"'\\()åé中"), max_size=200),
    st.builds(
        lambda cs, enc, payload: f"=?{cs}?{enc}?{payload}?=",
        st.sampled_from(["utf-8", "iso-8859-1", "x-unknown", "gb2312", "utf-7", ""]),
        st.sampled_from(["Q", "B", "q", "x"]),
        st.text(alphabet=st.characters(codec="ascii"), max_size=40),
    ),
    st.integers(min_value=0, max_value=20_000).map(lambda n: "y" * n),
)
HEADER_NAMES = ("Subject", "From", "To", "Cc", "Reply-To", "Message-ID", "In-Reply-To")
header_names = st.sampled_from((*HEADER_NAMES, "References", "Date", "Content-Type", "X-Other"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(header_names, header_values), max_size=8),
    st.sampled_from(["utf-8", "latin-1", "surrogate"]),
)
def test_parse_never_raises_on_arbitrary_header_values(
    fields: list[tuple[str, str]], encoding: str
) -> None:
    def encode(text: str) -> bytes:
        if encoding == "surrogate":
            return text.encode("utf-8", "surrogatepass")
        return text.encode(encoding, "replace")

    raw = b"".join(encode(f"{name}: {value}\n") for name, value in fields) + b"\nbody\n"
    check_invariants(parse(raw))


LABELS = ["utf-8", "gb2312", "iso-2022-jp", "utf-16", "utf-7", "unicode-escape", "idna", "x-y"]


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=2000),
    st.one_of(st.none(), st.sampled_from(LABELS), st.text(max_size=60)),
    st.booleans(),
)
def test_charset_decode_never_raises(data: bytes, label: str | None, final: bool) -> None:
    text, note = charsets.decode(data, label, final=final)
    assert isinstance(text, str)
    assert note is None or isinstance(note, str)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("=?QqBb_-uft8 \t\r\n=0A9zå中"), max_size=300))
def test_encoded_word_decoding_never_raises(value: str) -> None:
    assert isinstance(mailheaders.decode_words(value), str)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(MIME_PIECES), max_size=80), st.integers(1, 20), st.integers(0, 5))
def test_plain_split_never_raises_and_keeps_its_limits(
    pieces: list[bytes], max_parts: int, max_depth: int
) -> None:
    limits = mimetree.Limits(parts=max_parts, depth=max_depth, scan=1 << 20)
    root = mimetree.from_plain(b"".join(pieces), limits)
    count, stack = 0, [(root, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        assert depth <= max_depth
        stack.extend((kid, depth + 1) for kid in node.children)
    assert count == max_parts - limits.parts <= max_parts


# --- flanker's tables and logging ------------------------------------------------------------


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "default"}  # show even DeprecationWarnings
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_build_tables_is_silent_and_writes_the_tables() -> None:
    result = run_python("-m", "ticketgate.mail", "--build-tables")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    import flanker.addresslib._parser as tables

    folder = Path(tables.__file__).parent
    assert len(list(folder.glob("*_parsetab.py"))) == 5


def test_import_is_silent_and_writes_nothing() -> None:
    run_python("-m", "ticketgate.mail", "--build-tables")
    import flanker

    folder = Path(flanker.__file__).parent
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*.py")}
    result = run_python(
        "-c", "import ticketgate.mail as m; m.parse(b'To: group: a@b.c;\\nFrom: <<<\\n\\nx')"
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.py")} == before


def test_flanker_warnings_do_not_reach_the_root_logger() -> None:
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    root = logging.getLogger()
    handler, level = Collect(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        parse(message("To: group: a@b.c, d@e.f;\nFrom: broken <<<@>"))
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert not [r for r in seen if r.name.startswith("flanker")]
