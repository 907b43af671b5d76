"""The acknowledgement is decided once, in the decide stage, and `rules test` shows the decision.

Each case runs the real command line (`ticketgate rules test --json` and its text form) on a
mail file, against the example site: what it prints is what the daemon's outbox will do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import Running, make_mail, run_cli, send, write_site
from test_outbox import events, outbox, serving

BOUNCE_BODY = "Delivery to the following recipient failed permanently:\n\n  nobody@example.org\n"


def rules_test(site: Path, tmp_path: Path, raw: bytes, *extra: str) -> dict[str, Any]:
    mail = tmp_path / "mail.eml"
    mail.write_bytes(raw)
    result = run_cli(site, "rules", "test", "--json", *extra, str(mail))
    assert result.returncode == 0, result.stderr
    (row,) = [json.loads(line) for line in result.stdout.decode().splitlines()]
    return row


def test_an_ordinary_new_mail_is_planned(site: Path, tmp_path: Path) -> None:
    row = rules_test(site, tmp_path, make_mail("Skrivaren i rum 2110 drar in flera papper"))
    assert row["action"] == "new_ticket"
    assert row["acknowledgement_decision"] == "planned"
    assert row["acknowledgement"] == "acknowledgement"
    assert row["acknowledgement_to"] == "kim@example.org"


def test_a_bounce_from_no_reply_is_suppressed_with_the_reason(site: Path, tmp_path: Path) -> None:
    raw = make_mail("Undeliverable: Skrivaren", BOUNCE_BODY,
                    sender="Mail Delivery System <no-reply@mx.example.net>")
    row = rules_test(site, tmp_path, raw)
    assert row["automail"] == "bounce"
    assert row["acknowledgement"] is None and row["acknowledgement_to"] is None
    assert row["acknowledgement_decision"] == "suppressed: automail: bounce"


NEVER_PORTAL = "acknowledgements: {never_to: ['*@portal.example.net']}\n"


def test_a_person_looking_mail_never_to_names_is_not_answered(tmp_path: Path) -> None:
    # Nothing marks it as written by a machine: only never_to keeps us from answering it.
    # (no-reply@ and bounce@ senders, which the default never_to names too, are classed
    # automatic by the automail stage before never_to is asked.)
    site = write_site(tmp_path / "site", NEVER_PORTAL)
    raw = make_mail("Ditt konto", "Hej, vi har uppdaterat villkoren.",
                    sender="Example Portal <info@portal.example.net>")
    row = rules_test(site, tmp_path, raw)
    assert row["automail"] is None and row["action"] == "new_ticket"
    assert row["acknowledgement_decision"] == (
        "suppressed: info@portal.example.net matches never_to pattern '*@portal.example.net'")


def test_our_own_address_is_never_acknowledged(site: Path, tmp_path: Path) -> None:
    raw = make_mail("Testar skrivaren", sender="Ops <ops@gate.test.invalid>")
    row = rules_test(site, tmp_path, raw)
    assert row["automail"] is None
    assert row["acknowledgement_decision"] == (
        "suppressed: ops@gate.test.invalid is our own address")


def test_a_null_envelope_sender_is_never_acknowledged(site: Path, tmp_path: Path) -> None:
    row = rules_test(site, tmp_path, make_mail("Skrivaren"), "--from", "")
    assert row["acknowledgement_decision"].startswith("suppressed: ")
    assert row["acknowledgement"] is None


def test_a_queue_with_acknowledge_false(site: Path, tmp_path: Path) -> None:
    queues = site.parent / "rules/queues.yaml"
    queues.write_text(queues.read_text().replace(
        "    display_name: DDG Helpdesk\n",
        "    display_name: DDG Helpdesk\n    acknowledge: false\n"))
    row = rules_test(site, tmp_path, make_mail("Skrivaren i rum 2110 drar in flera papper"))
    assert row["queue"] == "helpdesk"
    assert row["acknowledgement_decision"] == (
        "suppressed: queue helpdesk asks for no acknowledgement (acknowledge: false)")


def test_a_route_with_acknowledgement_none(site: Path, tmp_path: Path) -> None:
    raw = make_mail("PROBLEM: disk full on fs1", "Disk /srv is 99% full.",
                    sender="monitor@example.org", headers={"X-Monitor-State": "PROBLEM"})
    row = rules_test(site, tmp_path, raw)
    assert row["rule"] == "monitoring-alarms"
    assert row["acknowledgement_decision"] == "suppressed: the route asks for no acknowledgement"


def test_a_route_that_names_a_template(site: Path, tmp_path: Path) -> None:
    routes = site.parent / "rules/routes.yaml"
    routes.write_text("routes:\n  - name: printers\n    when: {subject: {contains: skrivare}}\n"
                      "    then: {acknowledgement: notification}\n")
    row = rules_test(site, tmp_path, make_mail("Skrivaren i rum 2110 drar in flera papper"))
    assert (row["acknowledgement_decision"], row["acknowledgement"]) == (
        "planned", "notification")


@pytest.mark.parametrize(("address", "why"), [
    ("kim@localhost", "invalid From: From address 'kim@localhost': "),  # the parse stage's flag
    ('"kim smith"@example.org', "not an address we can answer: "),
])
def test_an_address_we_cannot_answer(site: Path, tmp_path: Path, address: str, why: str) -> None:
    raw = make_mail("Skrivaren i rum 2110 drar in flera papper", sender=f"Kim <{address}>")
    row = rules_test(site, tmp_path, raw)
    assert row["acknowledgement_decision"].startswith(f"suppressed: {why}")


def test_the_text_form_prints_the_decision(site: Path, tmp_path: Path) -> None:
    mail = tmp_path / "bounce.eml"
    mail.write_bytes(make_mail("Undeliverable: Skrivaren", BOUNCE_BODY,
                               sender="no-reply@mx.example.net"))
    ordinary = tmp_path / "ordinary.eml"
    ordinary.write_bytes(make_mail("Skrivaren i rum 2110 drar in flera papper"))
    result = run_cli(site, "rules", "test", str(mail), str(ordinary))
    text = result.stdout.decode()
    assert "=> acknowledgement suppressed: automail: bounce\n" in text
    assert ("=> acknowledgement planned: acknowledgement to kim@example.org"
            " (unless the per-address rate limit holds it back)") in text


def test_follow_ups_by_the_requester_and_by_staff(running: Running, site: Path,
                                                  tmp_path: Path) -> None:
    send(running.port(), make_mail("Skrivaren i rum 2110 drar in flera papper"))
    running.drain()
    reply = make_mail("SV: [DDG #1] Skrivaren", "Det gäller plan 2.")
    row = rules_test(site, tmp_path, reply)
    assert (row["action"], row["followup_of"]) == ("followup", 1)
    assert row["acknowledgement_decision"] == (
        "suppressed: follow-ups are not acknowledged (acknowledgements.on_followup)")
    staff = make_mail("SV: [DDG #1] Skrivaren", "Vi tittar på den.",
                      sender="IT <it-staff@example.org>")
    row = rules_test(site, tmp_path, staff)
    assert row["acknowledgement_decision"] == "suppressed: written by the queue's staff"
    # What the daemon then does: neither gets an acknowledgement, and no event explains the
    # usual case.
    send(running.port(), reply)
    send(running.port(), staff, mail_from="it-staff@example.org")
    running.drain()
    assert len(outbox(running, "acknowledgement")) == 1  # the first mail's
    assert events(running, "acknowledgement_suppressed") == []


def test_the_decision_is_stored_with_the_message(tmp_path: Path) -> None:
    with serving(write_site(tmp_path, NEVER_PORTAL)) as running:
        send(running.port(), make_mail("Undeliverable: Skrivaren", BOUNCE_BODY,
                                       sender="no-reply@mx.example.net"), mail_from="")
        send(running.port(), make_mail("Ditt konto", "Hej, vi har uppdaterat villkoren.",
                                       sender="info@portal.example.net"),
             mail_from="info@portal.example.net")
        running.drain()
        (event,) = events(running, "acknowledgement_suppressed")
        assert event == {"to": "info@portal.example.net",
                         "reason": "info@portal.example.net matches never_to pattern "
                                   "'*@portal.example.net'"}
        assert outbox(running, "acknowledgement") == []
