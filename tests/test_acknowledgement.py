"""Acknowledgements and notifications: headers, paragraphs, suppression, rate limit, threading."""

from __future__ import annotations

import email.policy
import importlib.util
import json
import smtplib
import sqlite3
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import (
    CORPORA,
    FakeMTA,
    Running,
    make_mail,
    message_id_of,
    run_cli,
    send,
    smarthost_site,
    write_site,
)
from test_outbox import events, maildir, outbox, q, serving, to, wait_until
from ticketgate import mail as mailparse
from ticketgate.apply import ApplyOptions, apply
from ticketgate.config import Settings, load_settings
from ticketgate.identity import (
    FLAGS,
    LOOP_HEADER,
    is_our_message_id,
    new_message_id,
    ticket_of_reference,
    ticket_reference,
)
from ticketgate.outbox.compose import Composer, composer
from ticketgate.outbox.headers import mailbox, one_line
from ticketgate.outbox.ratelimit import refusal
from ticketgate.outbox.render import Outgoing, Templates, build
from ticketgate.pipeline import decide
from ticketgate.pipeline.model import Context, Envelope, Message, Verdict
from ticketgate.recipients import never_to
from ticketgate.rules import load_rules
from ticketgate.store import StoreView
from ticketgate.store.schema import migrate
from ticketgate.store.transaction import SqliteTransaction

INSTANCE = "gate.test.invalid"
REPO_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
AUTOMAIL_CLASSES = ("bounce", "auto_reply", "list", "bulk", "feedback", "loop")

# One phrase of each flag's paragraph, per language: the paragraph is there or it is not.
PARAGRAPHS = {
    "vague_subject": ("kort ärenderad som säger vad saken", "short subject that says what"),
    "multi_issue": ("Skicka gärna ett\nbrev per ärende", "Please send one mail\nper matter"),
    "private_address": ("med ditt användarnamn", "with your username"),
    "missing_computer_name": ("datorns namn", "computer's name"),
    "resent": ("inte skapat något nytt ärende", "we have not opened a new ticket"),
    "foreign_code": ("hör\ntill någon annan", "belongs to someone else"),
}


def body(msg: EmailMessage) -> str:
    return str(msg.get_content())


@pytest.fixture
def gate(tmp_path: Path, fake_mta: FakeMTA) -> Iterator[Running]:
    """The daemon delivering through a running fake smarthost."""
    fake_mta.start()
    with serving(smarthost_site(tmp_path, fake_mta)) as running:
        yield running


# -- the acknowledgement on the wire -------------------------------------------------------


def test_acknowledgement_reaches_the_smarthost_with_every_header(
    gate: Running, fake_mta: FakeMTA
) -> None:
    raw = make_mail("Min dator surrar", headers={"References": "<root.1@client.test.invalid>"})
    original = message_id_of(raw)
    send(gate.port(), raw)
    received = fake_mta.wait_for(2)
    ((mail_from, _, data),) = [r for r in received if r[1] == ["kim@example.org"]]
    assert mail_from in ("", "<>")  # null envelope sender: nothing ever bounces back to us
    ack = to(received, "kim@example.org")[0]
    assert ack["From"] == "DDG Helpdesk <helpdesk@example.org>"
    assert ack["To"] == "Kim Student <kim@example.org>"
    assert ack["Subject"] == "[DDG #1] Min dator surrar"
    assert ack["In-Reply-To"] == f"<{original}>"
    assert str(ack["References"]).split() == [
        f"<tg.1@{INSTANCE}>", "<root.1@client.test.invalid>", f"<{original}>"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Auto-Response-Suppress"] == "All"
    assert ack["Precedence"] == "bulk"
    assert ack[LOOP_HEADER] == INSTANCE
    assert ack["Date"] is not None and ack["MIME-Version"] == "1.0"
    assert ack.get_content_type() == "text/plain" and ack.get_content_charset() == "utf-8"
    assert ack["Content-Language"] == "sv, en"
    assert data.isascii()  # RFC 2047 headers, quoted-printable body
    # Our Message-ID: fixed in the outbox row, stored as an outgoing message of the ticket.
    mid = str(ack["Message-ID"]).strip("<>")
    assert is_our_message_id(mid, INSTANCE) and ticket_of_reference(mid, INSTANCE) == 1
    (row,) = outbox(gate, "acknowledgement")
    assert row.message_id == mid and row.rcpt_to == "kim@example.org" and row.mail_from == ""
    assert q(gate, "SELECT ticket_id, direction, outbox_id FROM messages WHERE message_id = ?",
             mid) == [(1, "out", row.id)]
    text = body(ack)
    assert "Hej Kim Student!" in text and "Hello Kim Student," in text
    assert text.count("[DDG #1]") >= 4
    assert "Behåll koden [DDG #1] i ärenderaden" in text
    assert "keep the code [DDG #1] in the subject line" in text
    flags = json.loads(q(gate, "SELECT flags FROM tickets")[0][0])
    for flag, (sv, en) in PARAGRAPHS.items():  # a paragraph for each flag, and only those
        assert (sv in text) == (flag in flags) and (en in text) == (flag in flags), flag
    queued = events(gate, "acknowledgement_queued")
    assert queued == [{"to": "kim@example.org", "outbox_id": row.id, "message_id": mid,
                       "template": "acknowledgement", "flags": flags}]
    wait_until(lambda: events(gate, "acknowledgement_sent"), what="the sent event")


def test_staff_notification_carries_the_ticket_and_replies_come_back(
    gate: Running, fake_mta: FakeMTA
) -> None:
    send(gate.port(), make_mail("Min dator surrar", "Hej,\nmin dator surrar högt.\nMvh Kim"))
    (note,) = to(fake_mta.wait_for(2), "it-staff@example.org")
    assert note["Subject"] == "[DDG #1] Min dator surrar"
    assert note["Reply-To"] == "DDG Helpdesk <helpdesk@example.org>"
    assert note["From"].addresses[0].addr_spec == "helpdesk@example.org"
    assert note["Auto-Submitted"] == "auto-generated"
    assert note[LOOP_HEADER] == INSTANCE
    text = body(note)
    assert "Nytt ärende [DDG #1] i DDG Helpdesk." in text
    assert "Kim Student <kim@example.org>" in text
    assert "min dator surrar högt." in text
    rule = json.loads(q(gate, "SELECT verdict FROM messages WHERE direction = 'in'")[0][0])["rule"]
    assert f"Regel:       {rule}" in text

    # A staff reply that keeps only In-Reply-To (no code in the subject) threads into #1.
    reply = make_mail("Re: Min dator surrar", "Vi kommer förbi i eftermiddag.",
                      sender="IT Staff <it-staff@example.org>",
                      headers={"In-Reply-To": str(note["Message-ID"]),
                               "References": str(note["References"])})
    send(gate.port(), reply, mail_from="it-staff@example.org")
    gate.drain()
    assert q(gate, "SELECT count(*) FROM tickets") == [(1,)]
    assert q(gate, "SELECT count(*) FROM messages WHERE ticket_id = 1 AND direction = 'in'"
             ) == [(2,)]
    # The staff member is not notified of their own reply.
    assert [r.rcpt_to for r in outbox(gate, "notification")] == ["it-staff@example.org"]


def test_a_reply_to_the_acknowledgement_threads_by_in_reply_to_alone(
    running: Running, site: Path
) -> None:
    send(running.port(), make_mail("Min dator surrar"))
    ack = wait_until(lambda: [m for m in maildir(site.parent)
                              if m["Delivered-To"] == "kim@example.org"], what="the ack")[0]
    send(running.port(), make_mail("Re: Min dator", "Den heter DDG-PC-0042.",
                                   headers={"In-Reply-To": str(ack["Message-ID"])}))
    running.drain()
    assert q(running, "SELECT count(*) FROM tickets") == [(1,)]
    assert q(running, "SELECT kind FROM events WHERE kind = 'followup'") == [("followup",)]
    # Follow-ups get no acknowledgement by default; staff hear of them.
    assert len(outbox(running, "acknowledgement")) == 1
    assert len(outbox(running, "notification")) == 2


def test_followups_are_acknowledged_when_the_setting_says_so(tmp_path: Path) -> None:
    site = write_site(tmp_path, "acknowledgements: {on_followup: true}\n")
    with serving(site) as running:
        send(running.port(), make_mail("Min dator surrar"))
        send(running.port(), make_mail("SV: [DDG #1] Min dator surrar", "Den heter PC-0042."))
        running.drain()
        acks = outbox(running, "acknowledgement")
        assert len(acks) == 2
        second = wait_until(lambda: [m for m in maildir(tmp_path) if m["Message-ID"]
                                     == f"<{acks[1].message_id}>"], what="the second ack")[0]
        assert second["Subject"] == "SV: [DDG #1] Min dator surrar"  # kept as the reply had it
        assert "Vi har lagt till ditt brev i ärende [DDG #1]." in body(second)


def test_one_language_when_the_setting_picks_one(tmp_path: Path) -> None:
    with serving(write_site(tmp_path, "acknowledgements: {languages: [en]}\n")) as running:
        send(running.port(), make_mail("Min dator surrar"))
        ack = wait_until(lambda: [m for m in maildir(tmp_path)
                                  if m["Delivered-To"] == "kim@example.org"], what="ack")[0]
    text = body(ack)
    assert "Hello Kim Student," in text and "Hej" not in text and "(English below.)" not in text
    assert ack["Content-Language"] == "en"


# -- paragraphs for the flags ----------------------------------------------------------------


def _context(flags: tuple[str, ...], *, followup: bool = False) -> dict[str, object]:
    return {"code": "[DDG #12]", "queue": "DDG Helpdesk", "requester_name": "Kim",
            "flags": list(flags), "followup": followup, "named_code": "[DDG #7]"}


@pytest.mark.parametrize("flag", sorted(PARAGRAPHS))
def test_a_paragraph_for_each_flag_in_both_languages(flag: str) -> None:
    templates = Templates(REPO_TEMPLATES)
    text = templates.render("acknowledgement", ("sv", "en"),
                            _context((flag,), followup=flag == "resent"))
    for name, (sv, en) in PARAGRAPHS.items():
        assert (sv in text) == (name == flag), (name, sv)
        assert (en in text) == (name == flag), (name, en)
    if flag == "foreign_code":
        assert "[DDG #7]" in text and "[DDG #12]" in text


def test_flagged_mail_gets_its_paragraphs_and_staff_see_the_flags(
    running: Running, site: Path
) -> None:
    send(running.port(), make_mail("Hjälp!", "Min dator startar inte.",
                                   sender="Kim <kim.private@gmail.com>"),
         mail_from="kim.private@gmail.com")
    mails = wait_until(lambda: len(maildir(site.parent)) >= 2 and maildir(site.parent),
                       what="two mails")
    ack = next(m for m in mails if m["Delivered-To"] == "kim.private@gmail.com")
    flags = json.loads(q(running, "SELECT flags FROM tickets")[0][0])
    assert {"vague_subject", "private_address", "missing_computer_name"} <= set(flags)
    text = body(ack)
    for flag in flags:
        sv, en = PARAGRAPHS[flag]
        assert sv in text and en in text, flag
    note = next(m for m in mails if m["Delivered-To"] == "it-staff@example.org")
    assert "Flaggor:" in body(note) and "  - vague_subject" in body(note)


def test_resent_and_foreign_code_are_explained(running: Running, site: Path) -> None:
    text = "Hej,\nmin bildskärm flimrar hela tiden sedan i går.\nMvh Kim"
    send(running.port(), make_mail("Bildskärmen flimrar", text))
    send(running.port(), make_mail("Bildskärmen flimrar", text + "\n"))  # sent again
    send(running.port(), make_mail("Re: [DDG #1] Bildskärmen", "Jag har samma problem!",
                                   sender="mallory@example.net"),
         mail_from="mallory@example.net")
    running.drain()
    assert q(running, "SELECT id, linked_to FROM tickets ORDER BY id") == [(1, None), (2, 1)]
    acks = outbox(running, "acknowledgement")
    assert [a.rcpt_to for a in acks] == ["kim@example.org"] * 2 + ["mallory@example.net"]
    wait_until(lambda: len(maildir(site.parent)) >= 6, what="six mails")
    by_id = {str(m["Message-ID"]).strip("<>"): m for m in maildir(site.parent)}
    resent = by_id[acks[1].message_id]
    assert resent["Subject"] == "[DDG #1] Bildskärmen flimrar"
    assert PARAGRAPHS["resent"][0] in body(resent) and PARAGRAPHS["resent"][1] in body(resent)
    foreign = by_id[acks[2].message_id]
    assert foreign["Subject"] == "[DDG #2] Re: Bildskärmen"  # the other ticket's code removed
    assert "koden [DDG #1], men det ärendet hör\ntill någon annan" in body(foreign)
    assert "a new ticket for you, [DDG #2]" in body(foreign)


# -- never to machines, never to ourselves ---------------------------------------------------


def _automail(kind: str) -> tuple[bytes, str]:
    """A mail of automail class `kind`, and its envelope sender."""
    if kind == "auto_reply":
        return make_mail("Frånvaro: Min dator surrar", "Jag är borta till måndag.",
                         headers={"Auto-Submitted": "auto-replied"}), "kim@example.org"
    if kind == "list":
        return make_mail("Veckobrev", "Nyheter", sender="news@lists.example.net",
                         headers={"List-Id": "<news.lists.example.net>"}), "news@lists.example.net"
    if kind == "bulk":
        return make_mail("Erbjudande", "Köp nu", sender="shop@example.net",
                         headers={"Precedence": "bulk"}), "shop@example.net"
    if kind == "loop":
        return make_mail("[DDG #9] Min dator surrar", "loop", sender="kim@example.org",
                         headers={LOOP_HEADER: INSTANCE}), "kim@example.org"
    report = "feedback-report" if kind == "feedback" else "delivery-status"
    raw = (f"From: reports@example.net\r\nTo: helpdesk@example.org\r\nSubject: Report\r\n"
           f"Message-ID: <{kind}.1@example.net>\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: multipart/report; report-type={report}; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain\r\n\r\nA report.\r\n"
           f"--b\r\nContent-Type: message/{report}\r\n\r\nFeedback-Type: abuse\r\n"
           "--b--\r\n").encode()
    return raw, ("" if kind == "bounce" else "reports@example.net")


def test_no_acknowledgement_for_any_automail_class(running: Running) -> None:
    if importlib.util.find_spec("ticketgate.pipeline.automail") is None:
        pytest.skip("the automail stage (pipeline/automail.py) does not exist yet")
    for kind in AUTOMAIL_CLASSES:
        raw, sender = _automail(kind)
        send(running.port(), raw, mail_from=sender)
    running.drain()
    classes = {json.loads(v)["automail"] for (v,) in q(
        running, "SELECT verdict FROM messages WHERE direction = 'in'")}
    assert outbox(running, "acknowledgement") == []
    assert not any(r.rcpt_to.endswith("example.net") for r in outbox(running))
    assert "auto_reply" in classes  # it made a ticket (#1); the others are events or drops
    suppressed = events(running, "acknowledgement_suppressed")
    assert [e["reason"] for e in suppressed] == ["automail: auto_reply"]
    # The control: a person's mail is answered.
    send(running.port(), make_mail("Skrivaren i rum 2110 drar in flera papper"))
    running.drain()
    assert [r.rcpt_to for r in outbox(running, "acknowledgement")] == ["kim@example.org"]


def _bounces() -> list[Path]:
    found = sorted((CORPORA / "rt").glob("multipart-report*"))
    found += [CORPORA / "cpython" / f"msg_{n}.txt" for n in ("05", "16", "25", "43")]
    found += sorted((CORPORA / "flanker" / "bounce").glob("*"))
    return [p for p in found if p.is_file()]


def test_no_acknowledgement_for_any_bounce_in_the_corpora(running: Running, site: Path) -> None:
    if importlib.util.find_spec("ticketgate.pipeline.automail") is None:
        pytest.skip("the automail stage (pipeline/automail.py) does not exist yet")
    if not CORPORA.is_dir():
        pytest.skip(f"no corpora at {CORPORA}")
    bounces = _bounces()
    assert len(bounces) >= 12, bounces
    for path in bounces:
        # A relay's address, not <>: the content alone must give the bounce away.
        try:
            send(running.port(), path.read_bytes(), mail_from="relay@mx.example.net")
        except smtplib.SMTPDataError as exc:  # e.g. a line over 998 bytes: SMTP says no
            assert exc.smtp_code == 500, exc
            done = run_cli(site, "inject", "--rcpt", "helpdesk@example.org", "--from",
                           "relay@mx.example.net", stdin=path.read_bytes())
            assert done.returncode == 0, done.stderr
            running.daemon.worker.wake()
    running.drain()
    assert q(running, "SELECT count(*) FROM spool WHERE state = 'done'") == [(len(bounces),)]
    assert outbox(running, "acknowledgement") == []
    assert not any(r.rcpt_to != "it-staff@example.org" for r in outbox(running))


@pytest.mark.parametrize(("sender", "why"), [
    ("kim@crm.example.net", "never_to pattern '*@crm.example.net'"),
    ("Kim@CRM.Example.net", "never_to pattern '*@crm.example.net'"),
    ("someone@gate.test.invalid", "our own address"),
])
def test_never_to_patterns_and_our_own_addresses(tmp_path: Path, sender: str,
                                                 why: str) -> None:
    site = write_site(tmp_path, "acknowledgements: {never_to: ['*@CRM.example.net']}\n")
    with serving(site) as running:
        send(running.port(), make_mail("Skrivaren i rum 2110 drar in flera papper",
                                       sender=sender), mail_from=sender)
        running.drain()
        assert outbox(running, "acknowledgement") == []
        (event,) = events(running, "acknowledgement_suppressed")
        assert event["to"] == sender.lower() and why in event["reason"]


@pytest.mark.parametrize("sender", ["noreply@example.org", "No-Reply@Example.org",
                                    "bounce-42@example.org"])
def test_no_reply_and_bounce_senders_are_automatic_before_never_to_is_asked(
    running: Running, sender: str,
) -> None:
    """The default never_to globs name these too; the automail stage sees them first."""
    send(running.port(), make_mail("Skrivaren i rum 2110 drar in flera papper", sender=sender),
         mail_from=sender)
    running.drain()
    assert outbox(running, "acknowledgement") == []
    # rules/routes.yaml drops list and bulk mail: the `newsletters` rule took it.
    assert events(running, "dropped") == [{"rule": "newsletters"}]


def test_default_never_to_patterns() -> None:
    patterns = Settings().acknowledgements.never_to
    for address in ("mailer-daemon@mx.example.net", "MAILER-DAEMON@example.org",
                    "postmaster@example.org", "noreply@x.org", "no-reply@x.org",
                    "bounces@x.org", "list-bounces@x.org", "owner-list-request@x.org"):
        assert never_to(address, patterns), address
    for address in ("kim@example.org", "norbert@example.org", "reply@example.org"):
        assert never_to(address, patterns) is None, address


def _hook_env(tmp_path: Path) -> tuple[sqlite3.Connection, Composer]:
    settings = load_settings(write_site(tmp_path))
    rules = load_rules(settings.rules_dir, settings.templates_dir)
    conn = sqlite3.connect(tmp_path / "hook.db", isolation_level=None)
    migrate(conn)
    return conn, composer(settings, lambda: rules)


def _apply(conn: sqlite3.Connection, hook: Composer, raw: bytes, verdict: Verdict,
           mail_from: str = "kim@example.org") -> Message:
    """The decide stage on `verdict` (as the earlier stages left it), then apply with the hook."""
    parsed = mailparse.parse(raw)
    message = Message(raw=raw, envelope=Envelope(mail_from, ("helpdesk@example.org",)),
                      mail=parsed, message_id=parsed.message_id or "x@y", verdict=verdict)
    view = StoreView(Path(conn.execute("PRAGMA database_list").fetchone()[2]))
    try:
        message = decide.process(message, Context(hook.settings, hook.rules(), view))
    finally:
        view.close()
    conn.execute("BEGIN IMMEDIATE")
    apply(SqliteTransaction(conn), message, ApplyOptions(after=(hook,)))
    conn.execute("COMMIT")
    return message


NEW = Verdict(action="new_ticket", queue="helpdesk", function_addresses=("helpdesk@example.org",),
              rule="default:helpdesk@example.org")


@pytest.mark.parametrize("kind", AUTOMAIL_CLASSES)
def test_no_automail_class_is_ever_acknowledged(tmp_path: Path, kind: str) -> None:
    conn, hook = _hook_env(tmp_path)
    decided = _apply(conn, hook, make_mail(), NEW.note("test", kind, automail=kind))
    assert decided.verdict.acknowledgement_decision == f"suppressed: automail: {kind}"
    (detail,) = conn.execute(
        "SELECT detail FROM events WHERE kind = 'acknowledgement_suppressed'").fetchone()
    assert json.loads(detail)["reason"] == f"automail: {kind}"
    # Nor is the queue's staff told of it as a new request (issue 19).
    assert conn.execute("SELECT kind FROM outbox").fetchall() == []
    (detail,) = conn.execute(
        "SELECT detail FROM events WHERE kind = 'notification_suppressed'").fetchone()
    assert json.loads(detail) == {"to": "it-staff@example.org",
                                  "reason": f"automatic mail ({kind}) is no new request"}


def test_a_route_may_still_have_automatic_mail_notified(tmp_path: Path) -> None:
    """The addresses a route names for it hear of automatic mail (the monitoring alarm)."""
    conn, hook = _hook_env(tmp_path)
    _apply(conn, hook, make_mail(),
           NEW.note("test", "auto_reply", automail="auto_reply", notify=("oncall@example.org",)))
    assert conn.execute("SELECT kind, rcpt_to FROM outbox").fetchall() == [
        ("notification", "oncall@example.org")]


def test_the_decision_also_refuses_the_sure_signs_itself(tmp_path: Path) -> None:
    # Whatever the automail stage made of them (here: nothing), decide sees the sure signs.
    conn, hook = _hook_env(tmp_path)
    decided = [
        _apply(conn, hook, make_mail(headers={"Auto-Submitted": "auto-generated"}), NEW),
        _apply(conn, hook, make_mail(headers={LOOP_HEADER: "other-helpdesk.example.net"}), NEW),
        _apply(conn, hook, make_mail(), NEW, mail_from=""),
    ]
    reasons = [json.loads(d)["reason"] for (d,) in conn.execute(
        "SELECT detail FROM events WHERE kind = 'acknowledgement_suppressed' ORDER BY id")]
    assert reasons == ["Auto-Submitted: auto-generated", f"carries a {LOOP_HEADER} header",
                       "null envelope sender"]
    assert [m.verdict.acknowledgement_suppressed for m in decided] == reasons
    assert conn.execute("SELECT count(*) FROM outbox WHERE kind = 'acknowledgement'"
                        ).fetchone() == (0,)


def test_the_outbox_sends_only_what_was_planned(tmp_path: Path) -> None:
    # The hook renders the decision; it does not weigh the mail again.
    conn, hook = _hook_env(tmp_path)
    raw = make_mail("Min dator surrar")
    parsed = mailparse.parse(raw)
    planned = Message(raw=raw, envelope=Envelope("kim@example.org", ("helpdesk@example.org",)),
                      mail=parsed, message_id=parsed.message_id or "x@y",
                      verdict=NEW.note("test", "planned elsewhere",
                                       acknowledgement="acknowledgement",
                                       acknowledgement_to="ola@example.org"))
    conn.execute("BEGIN IMMEDIATE")
    apply(SqliteTransaction(conn), planned, ApplyOptions(after=(hook,)))
    conn.execute("COMMIT")
    assert conn.execute("SELECT rcpt_to FROM outbox WHERE kind = 'acknowledgement'"
                        ).fetchall() == [("ola@example.org",)]
    quiet = NEW.note("test", "decided", acknowledgement_suppressed="a reason",
                     acknowledgement_quiet=True)
    conn.execute("BEGIN IMMEDIATE")
    apply(SqliteTransaction(conn), planned.evolve(verdict=quiet, message_id="other@y"),
          ApplyOptions(after=(hook,)))
    conn.execute("COMMIT")
    assert conn.execute("SELECT count(*) FROM events WHERE kind LIKE 'acknowledgement_%'"
                        ).fetchone() == (1,)  # the first one's _queued; nothing for the quiet


def test_route_without_acknowledgement_still_notifies(running: Running) -> None:
    send(running.port(), make_mail("PROBLEM: disk full on fs1", "Disk /srv is 99% full.",
                                   sender="monitor@example.org",
                                   headers={"X-Monitor-State": "PROBLEM"}),
         mail_from="monitor@example.org")
    running.drain()
    assert outbox(running, "acknowledgement") == []
    (event,) = events(running, "acknowledgement_suppressed")
    assert event["reason"] == "the route asks for no acknowledgement"
    assert sorted(r.rcpt_to for r in outbox(running, "notification")) == [
        "it-oncall@example.org", "it-staff@example.org"]


def test_a_broken_template_costs_the_mail_not_the_ticket(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    (tmp_path / "templates/acknowledgement.sv.txt.j2").write_text("Hej {{ no_such_thing }}\n")
    with serving(site) as running:
        send(running.port(), make_mail("Min dator surrar"))
        running.drain()
        assert q(running, "SELECT count(*) FROM tickets") == [(1,)]
        assert q(running, "SELECT state FROM spool") == [("done",)]
        (failed,) = events(running, "acknowledgement_failed")
        assert "no_such_thing" in failed["reason"]
        assert outbox(running, "acknowledgement") == []
        assert len(outbox(running, "notification")) == 1


# -- the rate limit --------------------------------------------------------------------------


def test_rate_limit_per_hour(tmp_path: Path) -> None:
    site = write_site(tmp_path, "acknowledgements: {per_hour: 2, per_day: 20}\n")
    subjects = ("Skrivaren i rum 2110 drar in flera papper", "Behöver programvaran Zotero",
                "Jag kommer inte in i lokal E:1123")
    with serving(site) as running:
        for subject in subjects:
            send(running.port(), make_mail(subject, f"Hej,\n{subject.lower()}.\nMvh Kim"))
        running.drain()
        assert q(running, "SELECT count(*) FROM tickets") == [(3,)]
        assert len(outbox(running, "acknowledgement")) == 2
        (event,) = events(running, "acknowledgement_suppressed")
        assert event["reason"].startswith("rate limit: 2 mail(s) to kim@example.org in the "
                                          "last hour")
        assert q(running, "SELECT ticket_id FROM events WHERE kind = "
                          "'acknowledgement_suppressed'") == [(3,)]


def test_rate_limit_counts_the_last_hour_and_the_last_day(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "rl.db", isolation_level=None)
    migrate(conn)
    now = 1_000_000.0
    for i, age in enumerate((30, 1800, 4000, 7200, 80000, 90000)):  # the last is > a day old
        conn.execute("INSERT INTO outbox (kind, message_id, rcpt_to, raw, next_attempt_at,"
                     " created_at) VALUES ('acknowledgement', ?, 'kim@example.org', x'', 0, ?)",
                     (f"m{i}", now - age))

    def why(per_hour: int, per_day: int) -> str | None:
        return refusal(SqliteTransaction(conn), "kim@example.org", now, per_hour=per_hour,
                       per_day=per_day)

    assert why(3, 6) is None
    assert "in the last hour (per_hour 2)" in str(why(2, 20))
    assert "5 mail(s) to kim@example.org in the last day (per_day 5)" in str(why(5, 5))
    assert refusal(SqliteTransaction(conn), "ola@example.org", now, per_hour=1,
                   per_day=1) is None


# -- header safety ---------------------------------------------------------------------------


def test_rfc2047_subject_and_name_round_trip(gate: Running, fake_mta: FakeMTA) -> None:
    subject = "Skrivaren på plan 3 – 打印机 ✓ fungerar inte"
    send(gate.port(), make_mail(subject, sender="Åsa Öberg-Ström <asa@example.org>"),
         mail_from="asa@example.org")
    received = fake_mta.wait_for(2)
    ((_, _, data),) = [r for r in received if r[1] == ["asa@example.org"]]
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head
    ack = to(received, "asa@example.org")[0]
    assert ack["Subject"] == f"[DDG #1] {subject}"
    assert ack["To"].addresses[0].display_name == "Åsa Öberg-Ström"
    # The stored copy says what was sent.
    assert q(gate, "SELECT subject FROM messages WHERE direction = 'out' AND to_addresses"
                   " LIKE '%asa@%'") == [(f"[DDG #1] {subject}",)]


def test_crlf_in_subject_and_display_name_injects_nothing(
    gate: Running, fake_mta: FakeMTA
) -> None:
    evil = (b"From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40evil=2Eexample?= <eve@example.org>\r\n"
            b"To: helpdesk@example.org\r\n"
            b"Subject: =?utf-8?q?Hj=C3=A4lp=0D=0ABcc=3A_victim=40evil=2Eexample=0D=0A=0D=0A"
            b"body?=\r\n"
            b"Message-ID: <evil.1@client.test.invalid>\r\n\r\nMin skrivare i rum 2110.\r\n")
    send(gate.port(), evil, mail_from="eve@example.org")
    received = fake_mta.wait_for(2)
    assert sorted(r for _, rcpts, _ in received for r in rcpts) == [
        "eve@example.org", "it-staff@example.org"]
    assert "victim@evil.example" not in fake_mta.rcpt_attempts
    for _, _, data in received:
        head = data.split(b"\r\n\r\n", 1)[0]
        assert not any(line.lower().startswith(b"bcc") for line in head.split(b"\r\n"))
        msg = email.message_from_bytes(data, policy=email.policy.default)
        assert msg["Bcc"] is None
        assert "\n" not in str(msg["Subject"]) and "\r" not in str(msg["Subject"])
    ack = to(received, "eve@example.org")[0]
    assert ack["Subject"] == "[DDG #1] Hjälp Bcc: victim@evil.example body"
    assert ack["To"].addresses[0].addr_spec == "eve@example.org"


def test_build_flattens_any_line_break_in_headers() -> None:
    nasty = "Hej\r\nBcc: x@evil.example\u2028X-Evil: 1\x85Y: 2\x00"
    sender = mailbox("helpdesk@example.org", "DDG\r\nBcc: x@evil.example")
    rcpt = mailbox("kim@example.org", nasty)
    assert sender is not None and rcpt is not None
    raw = build(Outgoing(message_id=new_message_id(1, "acknowledgement", INSTANCE),
                         sender=sender, to=rcpt, subject=nasty, body="x", instance=INSTANCE,
                         auto_submitted="auto-replied"))
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    names = [line.split(":", 1)[0].lower() for line in head.split("\r\n")
             if line and not line[0].isspace()]
    assert "bcc" not in names and "x-evil" not in names and "y" not in names
    assert one_line(nasty, 200) == "Hej Bcc: x@evil.example X-Evil: 1 Y: 2"


@pytest.mark.parametrize("address", ["", "kim", "kim@", "@example.org", "a b@example.org",
                                     "kim@example.org>, x@evil.example", "kim@localhost",
                                     "kärl@example.org"])
def test_unanswerable_addresses_are_refused(address: str) -> None:
    assert mailbox(address) is None


def test_message_id_shape() -> None:
    mid = new_message_id(42, "acknowledgement", INSTANCE)
    assert mid.startswith("tg.42.ack.") and mid.endswith(f"@{INSTANCE}")
    assert is_our_message_id(mid, INSTANCE) and is_our_message_id(f"<{mid}>", INSTANCE)
    assert is_our_message_id(ticket_reference(42, INSTANCE), INSTANCE)
    assert ticket_of_reference(f"<{ticket_reference(42, INSTANCE)}>", INSTANCE) == 42
    assert not is_our_message_id(mid, "other.example.org")
    assert not is_our_message_id("tg.42.ack.xyz@" + INSTANCE, INSTANCE)
    assert ticket_of_reference("abc@" + INSTANCE, INSTANCE) is None
    assert new_message_id(42, "acknowledgement", INSTANCE) != mid


def test_templates_see_every_flag_with_its_description(tmp_path: Path) -> None:
    conn, hook = _hook_env(tmp_path)
    for lang in ("sv", "en"):
        (tmp_path / f"templates/acknowledgement.{lang}.txt.j2").write_text(
            "{% for flag in flags %}{{ flag }}: {{ flag_descriptions[flag] }}\n{% endfor %}"
            "{{ flag_descriptions | length }} flags known\n")
    hook = composer(hook.settings, hook.rules)  # the templates as written now
    _apply(conn, hook, make_mail("Hjälp!"),
           NEW.note("test", "flagged", flags=("vague_subject",),
                    reasons=(("vague_subject", "only filler words"),)))
    (raw,) = conn.execute("SELECT raw FROM outbox WHERE kind = 'acknowledgement'").fetchone()
    text = body(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type]
    assert "vague_subject: the subject does not say what the matter is" in text
    assert f"{len(FLAGS)} flags known" in text
