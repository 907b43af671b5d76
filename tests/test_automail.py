"""The automail stage: bounces, auto-replies, list, bulk, feedback and loops are recognised."""

from __future__ import annotations

import email.message
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


# -- signals added for ../shared/corpora/automail (issue 19) --------------------------------


@pytest.mark.parametrize(("subject", "expected"), [
    ("Arpus biroja atrasanas automatiska atbilde: Printer", "auto_reply"),  # Latvian, mid-subject
    ("Automatyczna odpowiedź: Drukarka", "auto_reply"),
    ("Respuesta automática: impresora", "auto_reply"),
    ("[support.example.net #33575] AutoReply: FYI", "auto_reply"),  # Request Tracker
    ("Abwesenheitsnotiz: Drucker", "auto_reply"),
    ("Mail Delivery Warning", "bounce"),
    ("Report domain: example.org Submitter: google.com Report-ID: 1234", "feedback"),
    ("Report Domain: example.org Submitter: mail.example.net Report-ID: <2022.09.15>",
     "feedback"),
    ("[Netease DMARC Failure Report] Rent Reminder", "feedback"),
    ("complaint about message from 192.0.2.7", "feedback"),
    ("Notice of Unauthorized Use of Example Property", "feedback"),
])
def test_more_subjects_classify(subject: str, expected: str) -> None:
    assert kind(make_mail(subject)) == expected


@pytest.mark.parametrize("subject", [
    "Re: how do I set up an automatic reply in Outlook?",  # about auto-replies, no ":" after
    "Frågor om vacation-inställningen",
    "Report: printer in room 2110 jams",
    "Abuse in the chat channel",
    "Undelivered parcel at the mail room?",
])
def test_people_writing_about_such_things_are_people(subject: str) -> None:
    assert kind(make_mail(subject)) is None


@pytest.mark.parametrize(("sender", "mail_from", "expected"), [
    ("Google <noreply-dmarc-support@google.com>", "x@google.com", "bulk"),
    ("BitDefender <noreply@bitdefender.example>", "sales@example.net", "bulk"),
    ("Honey Pot <monitor-bounce@example.net>", "monitor-bounce@example.net", "bulk"),
    ("Kim <kim@example.net>", "bounces+kim=example.org@lists.example.net", "bulk"),
    ("Kim <kim@example.net>", "prvs=701fd58e1=bounce-42@example.net", "bulk"),  # BATV tag
    ("list+owner@lists.example.net", "list+bounces-help@lists.example.net", "list"),
    ("owner-staff@lists.example.net", "kim@example.net", "list"),
    ("Shadowserver <autoreports@example.net>", "autoreports@example.net", "auto_reply"),
    ("virusupdates@mail.example.net", "root@mail.example.net", "auto_reply"),  # a cron job's
    ("Abuse team <abuse@provider.example.net>", "abuse@provider.example.net", "feedback"),
    ("reports@reports.example.net", "reports@reports.example.net", "feedback"),
])
def test_machine_sender_addresses_classify(sender: str, mail_from: str, expected: str) -> None:
    assert kind(make_mail("Report", sender=sender), mail_from=mail_from) == expected


@pytest.mark.parametrize(("sender", "mail_from"), [
    ("root@test.example.net", "root@test.example.net"),  # root writing as root: a person
    ("Security team <abuse@example.org>", "abuse@example.org"),  # the site's own abuse desk
    ("Kim Bounceman <kim.bounceman@example.net>", "kim@example.net"),  # in From: a name
    ("Anna <anna@example.net>", "anna@example.net"),
])
def test_people_behind_such_addresses_are_people(sender: str, mail_from: str) -> None:
    raw = make_mail("Skrivaren i rum 2110 matar fel", sender=sender)
    assert classify(parse(raw), mail_from, instance="gate.test.invalid", own_addresses=OWN,
                    own_message_id=False, institutional=("example.org",))[0] is None


def test_report_structures_classify() -> None:
    tls = make_mail("TLS report", headers={}).replace(
        b"Content-Type: text/plain", b"Content-Type: multipart/report; report-type=tlsrpt;"
        b' boundary="b"', 1)
    assert kind(tls) == "feedback"
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "x@example.net", "helpdesk@example.org", "r"
    msg.set_content("see the attachment")
    msg.add_attachment(b"PK\x03\x04", maintype="application", subtype="zip",
                       filename="google.com!example.org!1633996800!1634083199.zip")
    assert kind(msg.as_bytes()) == "feedback"


def test_challenge_response_asks_to_be_allowed_by_a_link() -> None:
    body = ("Your message was received.\n\nThis account is protected. Please click on the\n"
            "following link to have your address added to the recipient's allowed\nlist.\n")
    assert kind(make_mail("RE: BLAH", body)) == "auto_reply"
    assert kind(make_mail("Länk", "Klicka på länken i förra mejlet, tack.")) is None
