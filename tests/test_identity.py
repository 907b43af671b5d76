"""Ticket identity: the code and its one pattern, the subject key, requester_of, our IDs."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from conftest import make_mail
from ticketgate import mail as mailparse
from ticketgate.config import Settings
from ticketgate.identity import (
    ANY_CODE,
    code_pattern,
    derived_message_id,
    find_code,
    format_code,
    requester_of,
    site_tags,
    strip_subject,
    subject_key,
)
from ticketgate.verdict import Envelope, Message

PACKAGE = Path(__file__).resolve().parents[1] / "daemon" / "ticketgate"


def test_a_code_is_found_in_any_case_and_spacing_behind_any_prefix() -> None:
    for subject in ("[DDG #12] x", "Re: SV: [ddg#12] x", "x [ DDG  # 12 ]", "AW:[Ddg #12]"):
        assert find_code(subject, "DDG") == 12, subject
    assert find_code("[HELP #12] x", "DDG") is None
    assert find_code("[DDG #1234567890123456789] x", "DDG") is None  # past an SQLite integer


def test_one_pattern_for_several_tags() -> None:
    # A per-queue tag widens the tags a site reads; every code it issued keeps threading.
    tags = ("DDG", "LU", "DDG-LU")
    assert find_code("SV: [LU #7] kortet", tags) == 7
    assert find_code("[ddg-lu #8] x", tags) == 8
    assert find_code("[DDG #9] x", tags) == 9
    match = code_pattern(tags).search("Re: [DDG-LU #10]")
    assert match is not None and (match["tag"], match["number"]) == ("DDG-LU", "10")
    assert site_tags(Settings(ticket_tag="HD")) == ("HD",)


@given(st.integers(min_value=0, max_value=10**18 - 1),
       st.sampled_from(["DDG", "LU-kortet", "Ärende", "A.B"]))
def test_format_and_find_are_inverse(number: int, tag: str) -> None:
    assert find_code(f"Re: {format_code(number, tag)} hej", tag) == number


def test_strip_subject_and_the_subject_key() -> None:
    assert strip_subject("Re: SV:  [DDG #42]  Fwd: Skrivaren  är trasig") == "Skrivaren är trasig"
    assert strip_subject("[OTHER #7] x", code_pattern("DDG")) == "[OTHER #7] x"
    assert ANY_CODE.search("[Ärende #7]") is not None
    key = subject_key("Skrivaren ÄR trasig!", "DDG")
    assert key == "skrivaren är trasig"
    for variant in ("SV: [DDG #3] Skrivaren är trasig", "re:re: skrivaren   är trasig",
                    "Fwd: [ddg#3] SKRIVAREN ÄR TRASIG", "Skrivaren\u00a0är trasig"):
        assert subject_key(variant, "DDG") == key, variant
    assert subject_key("[LU #3] Skrivaren är trasig", ("DDG", "LU")) == key


def _message(raw: bytes, mail_from: str) -> Message:
    return Message(raw=raw, envelope=Envelope(mail_from, ("helpdesk@example.org",)),
                   mail=mailparse.parse(raw))


def test_requester_of_is_from_else_the_envelope_sender() -> None:
    with_from = make_mail(sender="Kim <Kim@Example.ORG>")
    assert requester_of(_message(with_from, "bounce@lists.example.net")) == "kim@example.org"
    without = re.sub(rb"(?m)^From: [^\r\n]*\r\n", b"", make_mail())
    assert requester_of(_message(without, "Ola@Example.org")) == "ola@example.org"
    assert requester_of(_message(without, "")) == ""


def test_no_module_computes_the_sender_on_its_own() -> None:
    # "Who wrote this?" is asked of identity.requester_of (or requester_address) everywhere.
    pattern = re.compile(r"sender\.address if|mail_from\.lower\(\)")
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if p.parent.name != "identity" and pattern.search(p.read_text())]
    assert offenders == []


def test_a_derived_message_id_is_stable() -> None:
    assert derived_message_id(b"x") == derived_message_id(b"x") != derived_message_id(b"y")
    assert derived_message_id(b"x").endswith("@derived.ticketgate.invalid")
