"""Equivalence: parse() gives exactly what the code that wrote tests/data/parse_golden.json gave.

The golden file is generated, never hand-written: `python tests/test_parse_equivalence.py --write`
records parse() of every corpus file (as stored, with CRLF line ends as an MTA sends them, and
with tight limits), of bench mails (bench/mails.py, seed 1) and of variants of bench mails that
probe the edges of a single-part message (line ends, odd or repeated Content-Type fields,
charsets, transfer encodings, a header block that ends early). Regenerate it only from code whose
output is known right, and commit it with that code; a performance change must leave it as is.

Each field is stored as its canonical JSON when short, else as "#" and 48 bits of the sha256 of
that JSON, so the file stays small while any change of any field is caught.

Beyond the recorded cases, the plain text fast path (mimetree.single_part) is compared with
flanker itself on generated messages built around its edges.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import CORPORA
from ticketgate.mail import ParsedMail, mimetree, parse

GOLDEN = Path(__file__).resolve().parent / "data" / "parse_golden.json"
BENCH = Path(__file__).resolve().parents[1] / "bench"
BENCH_SEED = 1
BENCH_COUNT = 300
TIGHT = {"max_text": 300, "max_parts": 4, "max_depth": 1}
FIELDS = [f.name for f in dataclasses.fields(ParsedMail)]
_SHORT = 24  # characters of JSON kept readable; longer values are hashed
_DIGEST = 12  # hex digits of sha256 kept: 48 bits, ample for catching a change


# --- snapshots -----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A ParsedMail field as JSON-ready data."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [_plain(getattr(value, f.name)) for f in dataclasses.fields(value)]
    if hasattr(value, "isoformat"):
        return value.isoformat()  # stricter than datetime equality: the offset counts too
    return value


def snapshot(parsed: ParsedMail) -> list[Any]:
    """Every field of `parsed` in FIELDS order, long ones as "#" and a sha256 prefix."""
    out: list[Any] = []
    for name in FIELDS:
        value = _plain(getattr(parsed, name))
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        if len(text) > _SHORT:
            value = "#" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:_DIGEST]
        out.append(value)
    return out


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:_DIGEST]


# --- inputs --------------------------------------------------------------------------------


def crlf(raw: bytes) -> bytes:
    """Line ends made CRLF, as an MTA puts a message stored with bare LF on the wire."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def corpus_files() -> list[Path]:
    if not CORPORA.is_dir():
        return []
    return sorted(p for p in CORPORA.rglob("*") if p.is_file() and p.name != "README.md")


def bench_mails() -> list[bytes]:
    """The first BENCH_COUNT mails of bench/mails.py with seed BENCH_SEED."""
    sys.path.insert(0, str(BENCH))
    try:
        from mails import MailFactory
    finally:
        sys.path.remove(str(BENCH))
    return [m.raw for m in MailFactory(seed=BENCH_SEED).take(BENCH_COUNT)]


def _split(raw: bytes) -> tuple[bytes, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head, body


def _ctype(value: bytes) -> Callable[[bytes], bytes]:
    """Replace the Content-Type field's value."""
    return lambda raw: re.sub(rb"(?m)^Content-Type:[^\r\n]*", b"Content-Type: " + value, raw)


def _drop(name: bytes) -> Callable[[bytes], bytes]:
    return lambda raw: re.sub(rb"(?mi)^" + name + rb":[^\r\n]*\r\n", b"", raw)


def _add(line: bytes) -> Callable[[bytes], bytes]:
    """Add a header line at the end of the header block."""
    return lambda raw: _split(raw)[0] + b"\r\n" + line + b"\r\n\r\n" + _split(raw)[1]


def _body(body: bytes) -> Callable[[bytes], bytes]:
    return lambda raw: _split(raw)[0] + b"\r\n\r\n" + body


def _then(*steps: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    def run(raw: bytes) -> bytes:
        for step in steps:
            raw = step(raw)
        return raw

    return run


def _base64_body(raw: bytes) -> bytes:
    head, body = _split(raw)
    head = re.sub(rb"(?m)^Content-Transfer-Encoding:[^\r\n]*", b"Content-Transfer-Encoding: base64",
                  head)
    return head + b"\r\n\r\n" + base64.encodebytes(body).replace(b"\n", b"\r\n")


_LATIN1 = "Hej,\r\nskrivaren på våning 3 är trasig igen. Hälsningar, Åsa\r\n".encode("latin-1")
_HTML = (b"<html><head><meta charset=\"iso-8859-1\"><style>p{}</style></head><body>"
         b"<p>Hej,</p><p>skrivaren p\xe5 v\xe5ning 3</p><blockquote>citat</blockquote>"
         b"<div>-- <br>Anna</div></body></html>\r\n")
_ENCLOSED = (b"From: inner@example.org\r\nSubject: inner\r\nContent-Type: text/plain\r\n\r\n"
             b"Inner text.\r\n")
_FAKE_MIME = (b"Hej,\r\n\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
              b"Content-Type: text/html\r\n\r\n<b>not a part</b>\r\n--x--\r\n")

# Each variant is a function of a bench mail's bytes (CRLF line ends, a one-line Content-Type).
VARIANTS: dict[str, Callable[[bytes], bytes]] = {
    "as-is": lambda raw: raw,
    "lf": lambda raw: raw.replace(b"\r\n", b"\n"),
    "cr-only": lambda raw: raw.replace(b"\r\n", b"\r"),
    "mbox-from-line": lambda raw: b"From user@example.org Mon Mar  3 09:14:00 2025\r\n" + raw,
    "no-content-type": _drop(b"Content-Type"),
    "no-cte": _drop(b"Content-Transfer-Encoding"),
    "no-mime-fields": _then(_drop(b"Content-Type"), _drop(b"Content-Transfer-Encoding"),
                            _drop(b"MIME-Version")),
    "upper-case-type": _ctype(b"TEXT/PLAIN; CHARSET=UTF-8"),
    "quoted-charset": _ctype(b'text/plain; charset="utf-8"'),
    "spaced-params": _ctype(b'text/plain ; charset = "utf-8" ;'),
    "no-semicolon": _ctype(b"text/plain charset=utf-8"),
    "folded-params": _ctype(b"text/plain;\r\n\tcharset=utf-8;\r\n format=flowed"),
    "folded-blank-continuation": _ctype(b"text/plain;\r\n \r\n charset=utf-8"),
    "value-on-next-line": _ctype(b"\r\n text/html; charset=utf-8"),
    "value-on-next-line-no-space": lambda raw: re.sub(
        rb"(?m)^Content-Type:[^\r\n]*", b"Content-Type:\r\n text/html; charset=utf-8", raw),
    "no-space-after-colon": lambda raw: re.sub(
        rb"(?m)^Content-Type:[^\r\n]*", b"Content-Type:text/html;charset=utf-8", raw),
    "tab-after-colon": lambda raw: raw.replace(b"Content-Type: ", b"Content-Type:\t"),
    "lone-cr-in-type": _ctype(b"text/html;\rcharset=utf-8"),
    "comment-in-type": _ctype(b"text/html; charset=utf-8 (comment)"),
    "empty-quoted-charset": _ctype(b'text/plain; charset=""'),
    "upper-case-boundary-param": _ctype(b"text/plain; BOUNDARY=foo"),
    "space-before-colon": lambda raw: raw.replace(b"Content-Type:", b"Content-Type :"),
    "lower-case-name": lambda raw: raw.replace(b"Content-Type:", b"content-type:"),
    "bare-text": _ctype(b"text"),
    "text-slash-nothing": _ctype(b"text/"),
    "three-slashes": _ctype(b"text/plain/extra; charset=utf-8"),
    "empty-type": _ctype(b""),
    "html": _then(_ctype(b"text/html; charset=utf-8"), _drop(b"Content-Transfer-Encoding"),
                  _body(b"<p>Hej <b>du</b></p><p>Skrivaren &auml;r trasig.</p>\r\n")),
    "html-meta-charset": _then(_ctype(b"text/html"), _drop(b"Content-Transfer-Encoding"),
                               _body(_HTML)),
    "enriched": _ctype(b"text/enriched; charset=utf-8"),
    "calendar": _ctype(b"text/calendar; charset=utf-8; method=REQUEST"),
    "latin1-declared": _then(_ctype(b"text/plain; charset=iso-8859-1"),
                             _drop(b"Content-Transfer-Encoding"), _body(_LATIN1)),
    "latin1-undeclared": _then(_ctype(b"text/plain"), _drop(b"Content-Transfer-Encoding"),
                               _body(_LATIN1)),
    "utf8-declared-ascii": _ctype(b"text/plain; charset=us-ascii"),
    "unknown-charset": _ctype(b"text/plain; charset=x-no-such-charset"),
    "utf16-charset": _ctype(b"text/plain; charset=utf-16"),
    "rfc2231-charset": _ctype(b"text/plain; charset*=utf-8''x"),
    "encoded-word-charset": _ctype(b'text/plain; charset="=?utf-8?q?utf-8?="'),
    "eight-bit-in-type": _ctype("text/plain; charset=utf-8; x=å".encode()),
    "name-param": _ctype(b'text/plain; charset=utf-8; name="notes.txt"'),
    "boundary-param": _then(_ctype(b"text/plain; charset=utf-8; boundary=foo"),
                            _body(b"Hej\r\n--foo\r\nContent-Type: text/html\r\n\r\n"
                                  b"x\r\n--foo--\r\n")),
    "attachment-disposition": _add(b'Content-Disposition: attachment; filename="report.txt"'),
    "inline-disposition": _add(b"Content-Disposition: inline"),
    "two-content-types": _add(b"Content-Type: text/html; charset=utf-8"),
    "x-original-content-type": _add(b"X-Original-Content-Type: text/html"),
    "content-type-in-body": _body(_FAKE_MIME),
    "dashes-in-body": _body(b"Hej\r\n--\r\n-- \r\n--x--\r\nslut\r\n"),
    "base64": _base64_body,
    "broken-base64": _then(_base64_body, lambda raw: raw[:-7] + b"!!*\r\n"),
    "unknown-cte": lambda raw: re.sub(rb"(?m)^Content-Transfer-Encoding:[^\r\n]*",
                                      b"Content-Transfer-Encoding: x-uuencode", raw),
    "multipart-without-boundary": _ctype(b"multipart/mixed"),
    "message-rfc822": _then(_ctype(b"message/rfc822"), _body(_ENCLOSED)),
    "garbage-line-in-header": lambda raw: raw.replace(b"\r\nMIME-Version", b"\r\nnot a field\r\n"
                                                      b"MIME-Version"),
    "garbage-line-then-html": _then(
        _ctype(b"text/html; charset=utf-8"),
        lambda raw: raw.replace(b"\r\nMIME-Version", b"\r\nnot a field\r\nMIME-Version")),
    "html-first-of-two-types": _then(_ctype(b"text/html; charset=utf-8"),
                                     _add(b"Content-Type: text/plain; charset=utf-8")),
    "whitespace-blank-line": lambda raw: raw.replace(b"\r\n\r\n", b"\r\n \r\n", 1),
    "continuation-first": lambda raw: b" folded\r\n" + raw,
    "headers-only": lambda raw: _split(raw)[0] + b"\r\n",
    "headers-only-no-newline": lambda raw: _split(raw)[0],
    "empty-body": _body(b""),
    "blank-body": _body(b"\r\n\r\n   \r\n"),
    "nul-bytes": _body(b"Hej\x00 d\x00u\r\n\x00\r\n"),
    "control-chars": _body(b"Hej\x07\x1b[31m du\x0c\r\n"),
    "raw-utf8-subject": lambda raw: re.sub(rb"(?m)^Subject:[^\r\n]*",
                                           "Subject: Skrivaren på våning 3".encode(), raw),
    "raw-latin1-subject": lambda raw: re.sub(rb"(?m)^Subject:[^\r\n]*",
                                             "Subject: Skrivaren på våning 3".encode("latin-1"),
                                             raw),
    "encoded-from": lambda raw: re.sub(rb"(?m)^From: [^<\r\n]*",
                                       b"From: =?utf-8?q?=C3=85sa_N=C3=A4slund?= ", raw),
    "many-recipients": lambda raw: re.sub(
        rb"(?m)^To:[^\r\n]*",
        b"To: " + b",\r\n ".join(b"u%d@example.org" % i for i in range(40)), raw),
    "group-recipients": lambda raw: re.sub(rb"(?m)^To:[^\r\n]*",
                                           b"To: staff: a@example.org, b@example.org;", raw),
    "long-header": _add(b"X-Long: " + b"a" * 40_000),
    "long-content-type": _ctype(b"text/plain; charset=utf-8; x=" + b"a" * 40_000),
    "reply-quote": _body(b"Thanks, fixed.\r\n\r\nOn Mon, 3 Mar 2025 at 09:14, Anna "
                         b"<anna@example.org> wrote:\r\n> broken\r\n> printer\r\n\r\n"
                         b"-- \r\nAnna\r\n"),
}
VARIANT_BASES = (0, 1)  # bench mails 0 and 1: one 8bit, one quoted-printable


# How each group's inputs are parsed: (label, make the input from the stored bytes, keywords).
Setting = tuple[str, Callable[[bytes], bytes], dict[str, int]]
_AS_IS: Setting = ("default", lambda raw: raw, {})
SETTINGS: dict[str, tuple[Setting, ...]] = {
    "corpus": (_AS_IS, ("crlf", crlf, {}), ("tight", lambda raw: raw, TIGHT)),
    "bench": (_AS_IS,),
    "variants": (_AS_IS, ("tight", lambda raw: raw, TIGHT)),
}
SAME = "="  # a snapshot equal to the group's first setting's


def inputs(group: str) -> dict[str, bytes]:
    """The stored bytes of every case of `group`, by name."""
    if group == "corpus":
        return {p.relative_to(CORPORA).as_posix(): p.read_bytes() for p in corpus_files()}
    mails = bench_mails()
    if group == "bench":
        return {str(i): raw for i, raw in enumerate(mails)}
    return {
        f"{name}/{base}": make(mails[base])
        for base in VARIANT_BASES
        for name, make in VARIANTS.items()
    }


def entry(group: str, raw: bytes) -> list[Any]:
    """[input digest, snapshot under each setting of `group`], repeats of the first as SAME."""
    snaps = [snapshot(parse(make(raw), **kwargs)) for _, make, kwargs in SETTINGS[group]]
    return [_digest(raw), snaps[0], *(SAME if s == snaps[0] else s for s in snaps[1:])]


def write(path: Path = GOLDEN) -> None:
    """Write the golden file, one case per line so a diff shows which ones changed."""
    lines = ["{", f' "fields": {json.dumps(FIELDS)},', f' "tight": {json.dumps(TIGHT)},',
             ' "groups": {']
    for g, group in enumerate(SETTINGS):
        lines.append(f"  {json.dumps(group)}: {{")
        items = list(inputs(group).items())
        for i, (name, raw) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            text = json.dumps(entry(group, raw), ensure_ascii=False, separators=(",", ":"))
            lines.append(f"   {json.dumps(name, ensure_ascii=False)}: {text}{comma}")
        lines.append("  }" + ("," if g < len(SETTINGS) - 1 else ""))
    lines += [" }", "}", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


# --- the tests -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert data["fields"] == FIELDS, "ParsedMail's fields changed: the golden file is stale"
    assert data["tight"] == TIGHT
    return data


def _compare(recorded: dict[str, Any], group: str, cases: dict[str, bytes]) -> None:
    """Assert parse() of every case matches its golden snapshots, field by field."""
    stale = sorted(name for name, raw in cases.items()
                   if name in recorded and recorded[name][0] != _digest(raw))
    assert not stale, f"{group}: inputs changed since the golden file was written: {stale[:5]}"
    differences: list[str] = []
    for name, raw in cases.items():
        if name not in recorded:
            continue
        first = recorded[name][1]
        for (label, make, kwargs), old in zip(SETTINGS[group], recorded[name][1:], strict=True):
            now = snapshot(parse(make(raw), **kwargs))
            for field, was, new in zip(FIELDS, first if old == SAME else old, now, strict=True):
                if was != new:
                    differences.append(f"{name} ({label}): {field}: golden {was!r}, now {new!r}")
    assert not differences, (
        f"{group}: {len(differences)} field(s) differ:\n" + "\n".join(differences[:30])
    )


def test_corpus_parses_as_recorded(golden: dict[str, Any]) -> None:
    cases = inputs("corpus")
    if not cases:
        pytest.skip(f"no corpora at {CORPORA}")
    recorded = golden["groups"]["corpus"]
    assert len(set(recorded) & set(cases)) > len(recorded) / 2, "most of the corpus is gone"
    _compare(recorded, "corpus", cases)


@pytest.mark.parametrize("group", ["bench", "variants"])
def test_generated_mails_parse_as_recorded(golden: dict[str, Any], group: str) -> None:
    cases = inputs(group)
    recorded = golden["groups"][group]
    assert set(cases) == set(recorded)
    _compare(recorded, group, cases)


# --- the plain text fast path against flanker ------------------------------------------------

# Pieces of messages near the edges of mimetree.single_part: it must give flanker's tree or none.
_SIMPLE_TYPES = [
    b"text/plain", b"text/html", b"TEXT/PLAIN", b"text/plain; charset=utf-8",
    b'text/plain; charset="iso-8859-1"', b"text/html;charset=UTF-8; format=flowed",
    b"text/plain;\r\n\tcharset=utf-8", b"text/plain;\r\n charset=utf-8;\r\n delsp=yes",
    b"text/plain ; charset = utf-8 ;", b"text/plain; name=a.txt", b"text/plain; charset=utf-16",
]
_ODD_TYPES = [
    b"text/plain charset=utf-8", b"text", b"text/", b"text/plain/x", b"text/enriched",
    b"text/calendar; method=REQUEST", b"text/rfc822-headers", b"multipart/mixed",
    b"multipart/alternative; boundary=b", b"message/rfc822", b"message/delivery-status",
    b"application/octet-stream", b"text/plain; boundary=b", b"text/plain; BOUNDARY = b",
    b"text/plain; charset*=utf-8''x", b'text/plain; charset="=?utf-8?q?x?="',
    b'text/plain; charset=""', b"text/plain; charset=utf-8 (c)", b"text/plain;; x=y",
    b"text/plain;\rcharset=utf-8", "text/plain; x=å".encode(), b"\r\n text/html", b"",
    b"text/html;\r\n \r\n charset=utf-8", b"text/plain; title*0*=us-ascii'en'a",
    b" \r\n \r\n text/html", b"\r\n\t\r\n text/html", b"text/html\r\n \xe5", b"html",
    b"text/html/x", b"text/html/", b"text/plain;x", b"text/html charset=utf-8",
]
_FIELDS = [
    b"From: Anna <anna@example.org>", b"To: helpdesk@example.org", b"Subject: skrivaren",
    b"Date: Mon, 3 Mar 2025 09:14:00 +0100", b"Message-ID: <a@example.org>",
    b"MIME-Version: 1.0", b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: 8bit",
    b'Content-Disposition: attachment; filename="a.txt"', b"Content-Disposition: inline",
    "Subject: åäö".encode(), "Subject: åäö".encode("latin-1"), b" folded continuation",
    b"\tfolded continuation",
]
_ODD_FIELDS = [
    b"X-Original-Content-Type: text/html", b"X-Note: content-type: text/html", b" ",
    b"not a field", b"Content-Type : text/html", b"content-type:text/html", b"Content-Type:",
    b"From sender@example.org Mon Mar  3 09:14:00 2025",
]
_BODY = [
    b"Hej,", b"", b"  ", b"-- ", b"--", b"--b", b"--b--", b"> quoted", b"<p>Hej <b>du</b></p>",
    "skrivaren på plan 3".encode(), "på".encode("latin-1"), b"=C3=A5=\r", b"SGVqIHDDpQ==",
    b"Sent from my iPhone", b"On Mon, 3 Mar 2025 at 09:14, Anna <a@example.org> wrote:",
]
_ODD_BODY = [b"Content-Type: text/html", b"content-type: multipart/mixed; boundary=b",
             b"X-Note: content-type: text/html"]


def odd_message(rng: random.Random) -> bytes:
    """A message of a few header fields, mostly one Content-Type, and a few body lines; often
    with a twist that should keep it off the fast path, or make flanker read it apart."""
    twist = rng.choice(["none"] * 4 + ["field", "type", "type", "body", "both", "colon"])
    fields = [rng.choice(_FIELDS) for _ in range(rng.randint(0, 6))]
    if twist in ("field", "both"):
        fields.insert(rng.randint(0, len(fields)), rng.choice(_ODD_FIELDS))
    types = _ODD_TYPES if twist in ("type", "both") else _SIMPLE_TYPES
    for _ in range(1 if rng.random() < 0.9 else rng.choice((0, 2))):
        field = b"Content-Type : " if twist == "colon" else b"Content-Type: "
        fields.insert(rng.randint(0, len(fields)), field + rng.choice(types))
    body = [rng.choice(_BODY) for _ in range(rng.randint(0, 8))]
    if twist in ("body", "both", "colon"):
        body.insert(rng.randint(0, len(body)), rng.choice(_ODD_BODY))
    eol = rng.choice([b"\r\n", b"\r\n", b"\n", b"\r"])
    blank = rng.choice([eol, eol, eol, b" " + eol, b""])
    return (eol.join(fields) + eol + blank + eol.join(body)).replace(b"\r\n", eol)


def test_plain_text_fast_path_gives_what_flanker_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20250303)
    raws = [odd_message(rng) for _ in range(1500)]
    raws += [make(raw) for raw in bench_mails()[:2] for make in VARIANTS.values()]
    taken = 0
    fast = [parse(raw) for raw in raws] + [parse(raw, **TIGHT) for raw in raws]
    original = mimetree.single_part

    def counted(*args: Any) -> mimetree.Node | None:
        nonlocal taken
        node = original(*args)
        taken += node is not None
        return node

    monkeypatch.setattr(mimetree, "single_part", counted)
    assert [parse(raw) for raw in raws] == fast[: len(raws)]
    assert taken > len(raws) // 5, "the fast path is hardly tried"
    monkeypatch.setattr(mimetree, "single_part", lambda *args: None)
    flanker = [parse(raw) for raw in raws] + [parse(raw, **TIGHT) for raw in raws]
    differ = [raws[i % len(raws)] for i, (a, b) in enumerate(zip(fast, flanker, strict=True))
              if a != b]
    assert not differ, f"{len(differ)} messages differ, e.g. {differ[0]!r}"


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_parse_equivalence.py --write  (from unchanged code)")
    write()
    print(f"wrote {GOLDEN}")
