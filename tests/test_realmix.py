"""The realistic benchmark mix (bench/realmix.py) has the shape it promises, and the real
pipeline takes it as a helpdesk's mail: every request a ticket of its own, every reply on
the ticket it names, and each etiquette flag raised somewhere in it.

Not a benchmark: nothing here is timed.
"""

from __future__ import annotations

import email
import email.policy
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import Running, write_site
from ticketgate.config import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from realmix import DEFAULT_SHARES, RealMix


@pytest.fixture(scope="module")
def mix() -> tuple[RealMix, list]:  # type: ignore[type-arg]
    generated = RealMix(seed=7)
    return generated, generated.take(3000)


def test_shares_of_kinds_html_and_attachments(mix: tuple[RealMix, list]) -> None:  # type: ignore[type-arg]
    made, mails = mix[0].made, mix[1]
    n = len(mails)
    kinds = Counter(m.kind for m in made)
    for kind, share in DEFAULT_SHARES.items():
        assert abs(kinds[kind] / n - share) < max(0.25 * share, 0.01), (kind, kinds)
    # Read back from the bytes, not from the generator's own notes.
    parsed = [email.message_from_bytes(m.raw, policy=email.policy.default) for m in mails]
    html = sum(any(p.get_content_type() == "text/html" for p in msg.walk()) for msg in parsed)
    attached = sum(any(p.get_content_disposition() == "attachment" for p in msg.walk())
                   for msg in parsed)
    assert abs(html / n - 1 / 3) < 0.04, html
    assert abs(attached / n - 0.1) < 0.025, attached
    assert html == sum(m.html for m in made) and attached == sum(bool(m.attachment) for m in made)
    auto = [msg for msg, m in zip(parsed, made, strict=True) if m.kind == "autoreply"]
    assert auto and all(msg["Auto-Submitted"] == "auto-replied" for msg in auto)
    codes = [msg for msg, m in zip(parsed, made, strict=True) if m.kind == "code"]
    assert all(f"[DDG #{m.ticket}]" in str(msg["Subject"])
               for msg, m in zip(codes, [m for m in made if m.kind == "code"], strict=True))


def test_languages_sizes_and_what_people_write(mix: tuple[RealMix, list]) -> None:  # type: ignore[type-arg]
    made, mails = mix[0].made, mix[1]
    new = [m for m in made if m.kind == "new"]
    assert 0.6 < sum(m.lang == "sv" for m in new) / len(new) < 0.8
    plain = [m.size for m in made if m.kind != "dup" and not m.html and not m.attachment]
    assert sum(500 <= size <= 5000 for size in plain) / len(plain) > 0.97
    assert 1000 < sorted(plain)[len(plain) // 2] < 2500
    for share, low, high in ((sum(m.vague for m in new), 0.08, 0.16),
                             (sum(m.multi for m in new), 0.06, 0.14),
                             (sum(m.private for m in new), 0.1, 0.25)):
        assert low < share / len(new) < high
    texts = [m.raw for m, info in zip(mails, made, strict=True) if info.kind == "code"]
    quoted = sum(b"\r\n> " in raw or b"____\r\n" in raw for raw in texts)
    assert quoted == len(texts)  # every reply carries what it answers
    assert len({m.raw for m in mails}) > 0.98 * len(mails)  # redeliveries aside, all differ


def test_the_pipeline_makes_the_tickets_the_mix_expects(tmp_path: Path) -> None:
    generated = RealMix(seed=3)
    mails = generated.take(400)
    site = write_site(tmp_path)
    (tmp_path / "rules/directory.csv").write_text(generated.directory_csv())
    running = Running(load_settings(site))
    try:
        def fill(tx):  # type: ignore[no-untyped-def]
            return [tx.spool_delivery(raw=m.raw, mail_from=m.mail_from, rcpt_to=[m.rcpt],
                                      peer="127.0.0.1", protocol="smtp") for m in mails]

        ids = running.store.writer.call(fill)
        running.daemon.worker.wake()
        running.drain()
        conn = running.store.view.conn
        assert conn.execute("SELECT count(*) FROM spool WHERE state != 'done'").fetchone() == (0,)
        new = [m for m in generated.made if m.kind == "new"]
        assert conn.execute("SELECT count(*) FROM tickets").fetchone() == (len(new),)
        for spool_id, made in zip(ids, generated.made, strict=True):
            if made.kind in ("dup", "autoreply"):
                continue  # a redelivery stores nothing new; an auto-reply is an event
            ticket = conn.execute("SELECT ticket_id FROM messages WHERE spool_id = ? AND "
                                  "direction = 'in'", (spool_id,)).fetchone()
            assert ticket == (made.ticket,), (spool_id, made)
        flags = Counter(flag for (text,) in conn.execute("SELECT flags FROM tickets")
                        for flag in json.loads(text))
        for flag in ("vague_subject", "multi_issue", "private_address",
                     "missing_computer_name", "resent"):
            assert flags[flag] > 0, flags
        assert "foreign_code" not in flags  # every code is the requester's own ticket
    finally:
        running.stop()
