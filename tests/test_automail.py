"""The automail stage: bounces, auto-replies, list, bulk, feedback and loops are recognised."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CORPORA, make_mail
from ticketgate.mail import parse
from ticketgate.pipeline.automail import classify, named_message_ids

OWN = frozenset({"helpdesk@example.org", "lukortet@example.org"})


def kind(raw: bytes, mail_from: str = "kim@example.org", own_id: bool = False) -> str | None:
    return classify(parse(raw), mail_from, instance="gate.test.invalid", own_addresses=OWN,
                    own_message_id=own_id)[0]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Auto-Submitted": "auto-replied"}, "auto_reply"),
        ({"Auto-Submitted": "auto-generated"}, "auto_reply"),
        ({"X-Autoreply": "yes"}, "auto_reply"),
        ({"X-Autorespond": "vacation"}, "auto_reply"),
        ({"X-Auto-Response-Suppress": "All"}, "auto_reply"),
        ({"List-Id": "<staff.lists.example.org>"}, "list"),
        ({"List-Unsubscribe": "<mailto:leave@lists.example.org>"}, "list"),
        ({"Precedence": "list"}, "list"),
        ({"Precedence": "bulk"}, "bulk"),
        ({"Precedence": "junk"}, "bulk"),
        ({"X-Ticketgate-Loop": "gate.test.invalid"}, "loop"),
        ({"X-Failed-Recipients": "kim@example.org"}, "bounce"),
        ({"Return-Path": "<>"}, "bounce"),
    ],
)
def test_headers_classify(headers: dict[str, str], expected: str) -> None:
    assert kind(make_mail("Skrivaren krånglar", headers=headers)) == expected


def test_person_is_not_automail_and_auto_submitted_no_is_a_person() -> None:
    assert kind(make_mail("Skrivaren krånglar")) is None
    assert kind(make_mail("Skrivaren krånglar", headers={"Auto-Submitted": "no"})) is None
    # another instance's loop header is not our loop
    other = make_mail("Hej", headers={"X-Ticketgate-Loop": "other.example.net"})
    assert kind(other) is None


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Autosvar: Min dator surrar", "auto_reply"),
        ("Out of Office: [DDG #4] printer", "auto_reply"),
        ("Automatic reply: Printer", "auto_reply"),
        ("Undelivered Mail Returned to Sender", "bounce"),
        ("Delivery Status Notification (Failure)", "bounce"),
        ("Olevererbart: Skrivaren", "bounce"),
    ],
)
def test_subjects_classify(subject: str, expected: str) -> None:
    assert kind(make_mail(subject)) == expected


def test_senders_and_envelopes_classify() -> None:
    assert kind(make_mail(sender="MAILER-DAEMON@mx.example.net")) == "bounce"
    assert kind(make_mail(sender="postmaster@example.net")) == "bounce"
    assert kind(make_mail(), mail_from="") == "bounce"
    assert kind(make_mail(sender="Helpdesk <HelpDesk@example.org>")) == "loop"
    assert kind(make_mail(), own_id=True) == "loop"


def test_bounce_names_the_original_message_id() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\r\nTo: helpdesk@example.org\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b1@mx>\r\n\r\n"
        b"This is the mail system.\r\n\r\n--- original ---\r\n"
        b"Message-ID: <ack.7.1@gate.test.invalid>\r\nSubject: [DDG #7] x\r\n"
    )
    assert "ack.7.1@gate.test.invalid" in named_message_ids(parse(raw))


BOUNCES = [
    "rt/multipart-report",
    "cpython/msg_05.txt",
    "cpython/msg_16.txt",
    "cpython/msg_25.txt",
    "cpython/msg_43.txt",
    *(f"flanker/bounce/{p.name}" for p in sorted((CORPORA / "flanker/bounce").glob("*"))),
]


@pytest.mark.parametrize("name", BOUNCES)
def test_corpus_bounces_are_bounces(name: str) -> None:
    path = CORPORA / name
    if not path.exists():
        pytest.skip(f"{CORPORA} is absent")
    assert kind(path.read_bytes()) == "bounce", name


@pytest.mark.parametrize("name", ["flanker/complaints/aol.eml", "flanker/complaints/yahoo.eml"])
def test_corpus_complaints_are_feedback(name: str) -> None:
    path = CORPORA / name
    if not path.exists():
        pytest.skip(f"{CORPORA} is absent")
    assert kind(path.read_bytes()) == "feedback"


def test_corpus_person_mail_is_not_automail() -> None:
    folder = CORPORA / "talon"
    if not folder.exists():
        pytest.skip(f"{CORPORA} is absent")
    files = [p for p in sorted(Path(folder).rglob("*")) if p.is_file() and p.suffix == ".eml"]
    assert files
    wrongly = [p.name for p in files if kind(p.read_bytes()) in ("bounce", "loop", "feedback")]
    assert wrongly == []
