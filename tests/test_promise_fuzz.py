"""Fuzzing the parse and flag stages for a bounded time (hypothesis, seeded rounds).

Three targets, each run in rounds of 100 examples with a fresh seed until its share of
TICKETGATE_FUZZ_SECONDS (default 45) is spent:

- `mail.parse` on corpus messages mutated byte-wise and structurally (flips, inserted MIME
  pieces, cut, repeated and spliced spans): never its last-resort fallback, text within its
  cap, one-line subject, and each message within a time bound;
- the whole pipeline (parse -> ... -> decide) on the same inputs against an empty store:
  no stage raises (in the daemon that would hold the message);
- the etiquette heuristics behind the flags stage on text built from the lexicon's own words,
  punctuation, list markers and line breaks: no exception, bounded time.

A failure prints the falsifying example; TICKETGATE_FUZZ_SEED replays a run.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from conftest import CORPORA, REPO, write_site
from promise_helpers import env_float, env_int
from ticketgate import etiquette, mail, pipeline
from ticketgate.config import load_settings
from ticketgate.identity import code_pattern
from ticketgate.pipeline.model import Context, Envelope, Message
from ticketgate.rules import load_rules
from ticketgate.store import Store

pytestmark = pytest.mark.slow

SECONDS = env_float("TICKETGATE_FUZZ_SECONDS", 45.0)
SEED = env_int("TICKETGATE_FUZZ_SEED", random.randrange(1 << 30))
PER_EXAMPLE = 10.0  # seconds: far above any real message's cost, far below a hang
_MAX_SEED_BYTES = 128 * 1024

BUILT_IN = [
    b"From: Kim <kim@example.org>\r\nTo: helpdesk@example.org\r\nSubject: Skrivaren\r\n"
    b"Content-Type: multipart/alternative; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain;"
    b" charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHej, skrivaren"
    b" i rum 2110 =E4r trasig.\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>Hej</p>\r\n--b1--\r\n",
    b"From: a@b.c\r\nSubject: =?utf-8?q?Sk=C3=A4rmen?=\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: x@y.z\r\nSubject: inner\r\n\r\ninner body\r\n",
]
PIECES = [b"\r\n", b"\n", b"\r\n\r\n", b"--", b"--b1", b"--b1--", b"\x00", b"\xff",
          b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
          b"Content-Type: message/rfc822\r\n", b"Content-Type: text/html; charset=zlib\r\n",
          b"Content-Transfer-Encoding: base64\r\n", b"Content-Transfer-Encoding: quoted-printable",
          b"=?iso-2022-jp?b?GyRC?=", b"=?utf-8?q?=C3?=", b"<html><body><p>", b"<!--", b"<![if",
          b"Content-Disposition: attachment; filename*=utf-8''%E5.txt\r\n", b"boundary=",
          b"\r\n ", b"From ", b"=\r\n", b"begin 644 x\r\n"]


def _seeds() -> list[bytes]:
    found = list(BUILT_IN)
    if CORPORA.is_dir():
        for path in sorted(CORPORA.rglob("*")):
            small = path.is_file() and path.stat().st_size <= _MAX_SEED_BYTES
            if small and path.name != "README.md":
                found.append(path.read_bytes())
    return found


SEEDS = _seeds()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "truncate", "splice"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.one_of(st.sampled_from(PIECES), st.binary(max_size=20)))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 200))]
        elif op == "repeat":
            span = bytes(data[at : at + draw(st.integers(1, 300))])
            data[at:at] = span * draw(st.integers(1, 50))
        elif op == "truncate":
            del data[at:]
        elif op == "splice":
            other = draw(st.sampled_from(SEEDS))
            cut = draw(st.integers(0, len(other)))
            data[at:] = other[cut:]
    return bytes(data[: 4 * _MAX_SEED_BYTES])


def fuzz(name: str, strategy: st.SearchStrategy[Any], body: Callable[[Any], None],
         seconds: float) -> None:
    """Run `body` on examples of `strategy` in seeded rounds until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    rounds = 0

    def timed(example: Any) -> None:
        started = time.monotonic()
        body(example)
        took = time.monotonic() - started
        assert took < PER_EXAMPLE, f"{name}: one example took {took:.1f} s"

    while time.monotonic() < deadline:
        run = seed(SEED + rounds)(settings(
            max_examples=100, deadline=None, database=None,
            suppress_health_check=list(HealthCheck))(given(strategy)(timed)))
        run()
        rounds += 1
    print(f"\nfuzz {name}: {rounds} rounds of 100 examples in {seconds:.0f} s, seed {SEED}")


def test_fuzz_the_parser() -> None:
    def check(raw: bytes) -> None:
        parsed = mail.parse(raw, max_text=20_000)
        assert not [d for d in parsed.defects if d.startswith("internal error")], parsed.defects
        assert len(parsed.text) <= 20_000
        assert "\n" not in parsed.subject and "\r" not in parsed.subject

    fuzz("parse", st.one_of(mutated(), st.binary(max_size=2000)), check, SECONDS * 0.4)


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    settings_ = load_settings(write_site(tmp_path_factory.mktemp("fuzz")))
    store = Store(settings_.database).open()
    try:
        yield Context(settings=settings_,
                      rules=load_rules(settings_.rules_dir, settings_.templates_dir),
                      view=store.view)
    finally:
        store.close()


def test_fuzz_the_pipeline_stages(context: Context) -> None:
    def check(raw: bytes) -> None:
        envelope = Envelope(mail_from="kim@example.org", rcpt_to=("helpdesk@example.org",))
        done = pipeline.run(Message(raw=raw, envelope=envelope), context)
        assert done.verdict.action in ("new_ticket", "followup", "duplicate", "event", "hold",
                                       "drop")

    fuzz("pipeline", mutated(), check, SECONDS * 0.35)


def _lexicon_words() -> list[str]:
    data = yaml.safe_load((REPO / "rules/etiquette.yaml").read_text())
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data.get("languages", {}))
    return sorted(set(found))


WORDS = _lexicon_words()
token = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from([" ", " ", " ", ", ", ". ", "! ", "? ", ": ", "; ", "\n", "\n\n", "\n- ",
                     "\n1. ", "\n2) ", " och ", " samt ", " men ", "-- \n", "> ", "ab1234cd",
                     "DDG-PC-1234", "LU-123456", "[DDG #12]", "Re: ", "SV: ", "\u00a0", "\t"]),
    st.text(max_size=12),
)
etiquette_text = st.lists(token, max_size=300).map("".join)


def test_fuzz_the_flag_heuristics(context: Context) -> None:
    lexicon = context.rules.lexicon
    pattern = code_pattern(context.settings.ticket_tag)
    domains = context.settings.pipeline.institutional_domains

    def check(example: tuple[str, str, str]) -> None:
        subject, text, sender = example
        etiquette.vague_subject(subject, lexicon, code_pattern=pattern)
        etiquette.multi_issue(subject, text, lexicon)
        etiquette.private_address(sender, text, lexicon, domains)
        etiquette.missing_computer_name(subject, text, lexicon)

    senders = st.sampled_from(["kim@example.org", "kim@gmail.com", "", "x@", "@y", "a@b@c"])
    fuzz("flags", st.tuples(etiquette_text.map(lambda s: s[:300]), etiquette_text, senders),
         check, SECONDS * 0.25)


def test_the_fuzz_corpus_is_the_real_one() -> None:
    if not CORPORA.is_dir():
        pytest.skip(f"no corpora at {CORPORA}: the fuzzers start from built-in seeds only")
    assert len(SEEDS) > 300
    assert Path(CORPORA).is_dir()
