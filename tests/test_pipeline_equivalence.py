"""Equivalence: the worker writes exactly the rows the code that wrote the golden file wrote.

The golden file tests/data/pipeline_golden.json is generated, never hand-written:
`python tests/test_pipeline_equivalence.py --write` spools a fixed set of bench mails
(bench/mails.py, seed 3, a duplicate-heavy mix) plus crafted resends of some of them (same
text under a new Message-ID, lightly and heavily edited, with and without a quoted earlier
mail) into a fresh site's database, drains it with the daemon's own worker and composer, and
records a normalised dump of tickets, messages, participants, events, outbox and spool state.
Regenerate it only from code whose output is known right; a performance change must leave it
as is.

Normalised: timestamps are left out; the site's temporary directory becomes "<site>"; the
random part of our outgoing Message-IDs becomes the outbox row id that carries it; the Date
field of outgoing raw bytes is dropped. Long values are stored as "#" and 48 bits of the sha256
of their JSON, so the file stays small while any change of any value is caught. A readable
table of each incoming message's action, threading, flags and rule comes along, to show at a
glance what a failing run changed.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import sqlite3
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import make_mail, write_site
from ticketgate.config import load_settings
from ticketgate.daemon import Daemon
from ticketgate.pipeline import dedupe
from ticketgate.routing import text as routing_text
from ticketgate.store import Transaction

GOLDEN = Path(__file__).resolve().parent / "data" / "pipeline_golden.json"
BENCH = Path(__file__).resolve().parents[1] / "bench"
SEED = 3
COUNT = 400
MIX = {"new": 0.5, "code": 0.2, "thread": 0.1, "dup": 0.2}
_SHORT = 40  # characters of JSON kept readable; longer values are hashed
_DIGEST = 12  # hex digits of sha256 kept: 48 bits, ample for catching a change

# Columns that hold times: left out of the dump.
_TIMES = {"created_at", "updated_at", "at", "next_attempt_at", "sent_at", "processed_at",
          "received_at"}
_OUR_ID = re.compile(r"tg\.\d+\.[a-z]+\.[0-9a-f]{16}@[\w.-]+")
_DATE = re.compile(rb"(?m)^Date: [^\r\n]*\r\n")


# --- inputs --------------------------------------------------------------------------------


def _resends(made: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Mails sent again by their requester under a new Message-ID, as edited copies.

    Some keep the text, some change a few words (still alike), some change many (not alike),
    some quote the earlier mail below the new text (new text and full text differ).
    """
    out: list[tuple[str, bytes]] = []
    for index, (who, raw) in enumerate(made[:40]):
        head, _, body = raw.partition(b"\r\n\r\n")
        head = re.sub(rb"Message-ID: <([^>]*)>", rb"Message-ID: <again.\1>", head)
        kind = index % 5
        if kind == 1:  # a few words changed
            body = body.replace(b"dator", b"datorn", 2).replace(b"printer", b"skrivare", 1)
        elif kind == 2:  # many words changed: a different request under the same subject
            words = body.split(b" ")
            body = b" ".join(w[::-1] if i % 3 == 0 else w for i, w in enumerate(words))
        elif kind == 3:  # the same request, with the earlier mail quoted below it
            quoted = b"\r\n".join(b"> " + line for line in body.split(b"\r\n")[:12])
            body = body + b"\r\nDen 3 mars skrev jag:\r\n" + quoted + b"\r\n"
        elif kind == 4:  # a short new text above a quote of the whole earlier mail
            quoted = b"\r\n".join(b"> " + line for line in body.split(b"\r\n"))
            body = b"Hej igen, har ni sett detta?\r\n\r\nDen 3 mars skrev jag:\r\n" + quoted
        out.append((who, head + b"\r\n\r\n" + body))
    return out


# (sender, function address, subject, text, extra header fields): one route rule each, with
# the typographic and Unicode variants that text folding has to see through.
_ROUTED = (
    ("kim@example.org", "helpdesk@example.org", "Problem med LU\u2011kortet",
     "Mitt pa\u0308sserkort fungerar inte i ko\u0308rtla\u0308saren.", {}),
    ("kim@example.org", "helpdesk@example.org", "VPN är nere", "VPN ligger nere sedan i morse.",
     {}),
    ("lo@example.org", "helpdesk@example.org", "Skrivaren strular",
     "Pappersstopp i SKRIVAREN på plan 3 \u2013 igen.", {}),
    ("lo@example.org", "support@example.org", "Installera MATLAB",
     "Jag behöver installera Matlab. Finns det en licens\u00ad?", {}),
    ("per@example.org", "helpdesk@example.org", "Min SKÄRM flimrar",
     "Bildska\u0308rmen flimrar och \u201ctangentbordet\u201d laggar.", {}),
    ("per@example.org", "sot@example.org", "Omtentamen \u2014 exam registration",
     "Hej! Jag kan inte anmäla mig till omtentan.", {}),
    ("ny@student.example.org", "helpdesk@example.org", "Hej",
     "Fråga om schemat: \u0130stanbul-gruppen, \u210cjälp!", {}),
    ("monitor@example.org", "helpdesk@example.org", "PROBLEM: disk full on srv1",
     "Disk usage 99%.", {"X-Monitor-State": "PROBLEM"}),
    ("news@lists.example.org", "helpdesk@example.org", "Veckobrevet",
     "Nyheter från IT.", {"List-Id": "<news.lists.example.org>"}),
    ("kim.privat@gmail.com", "helpdesk@example.org", "Nytt lösenord",
     "Jag har glömt mitt lösenord, kan ni byta det?", {}),
)


def _routed() -> list[tuple[str, str, bytes]]:
    out = []
    for index, (sender, rcpt, subject, text, headers) in enumerate(_ROUTED):
        raw = make_mail(subject, text, sender=sender, to=rcpt, headers=headers,
                        message_id=f"<routed.{index}@client.test.invalid>")
        out.append((sender, rcpt, raw))
    return out


def mails() -> list[tuple[str, str, bytes]]:
    """(mail_from, rcpt, raw) of every delivery, in spool order."""
    sys.path.insert(0, str(BENCH))
    try:
        from mails import MailFactory
    finally:
        sys.path.remove(str(BENCH))
    taken = MailFactory(seed=SEED, mix=MIX).take(COUNT)
    out = [(m.mail_from, m.rcpt, m.raw) for m in taken]
    made = [(m.mail_from, m.raw) for m in taken if m.kind == "new"]
    rcpts = [m.rcpt for m in taken]
    for index, (who, raw) in enumerate(_resends(made)):
        out.append((who, rcpts[index], raw))
    return out + _routed()


# --- the dump ------------------------------------------------------------------------------


def _short(value: Any) -> Any:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) > _SHORT:
        return "#" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:_DIGEST]
    return value


def _table(conn: sqlite3.Connection, sql: str, tidy: Callable[[str], str], *,
           hashed: bool = True) -> list[list[Any]]:
    """Column names, then every row: times left out, text tidied, long values hashed."""
    cur = conn.execute(sql)
    names = [d[0] for d in cur.description]
    keep = [i for i, name in enumerate(names) if name not in _TIMES]
    rows: list[list[Any]] = [[names[i] for i in keep]]
    for row in cur.fetchall():
        out = []
        for i in keep:
            value = row[i]
            if isinstance(value, bytes):
                value = tidy(_DATE.sub(b"", value).decode())
            elif isinstance(value, str):
                value = tidy(value)
            out.append(_short(value) if hashed else value)
        rows.append(out)
    return rows


VERDICTS_SQL = (
    "SELECT spool_id, ticket_id, json_extract(verdict, '$.action') AS action,"
    " json_extract(verdict, '$.threaded_by') AS threaded_by,"
    " json_extract(verdict, '$.flags') AS flags,"
    " json_extract(verdict, '$.rule') AS rule FROM messages WHERE direction = 'in' ORDER BY id"
)


def dump(db: Path, site: Path) -> dict[str, Any]:
    """The normalised content of every table the worker writes (see the module docstring)."""
    conn = sqlite3.connect(db)
    try:
        ours = {
            mid: re.sub(r"\.[0-9a-f]{16}@", f".#{oid}@", mid)
            for oid, mid in conn.execute("SELECT id, message_id FROM outbox ORDER BY id")
        }
        roots = sorted({str(site), str(site.resolve())}, key=len, reverse=True)

        def tidy(text: str) -> str:
            text = _OUR_ID.sub(lambda m: ours[m.group(0)], text)
            for root in roots:
                text = text.replace(root, "<site>")
            return text

        queries = {
            "tickets": "SELECT * FROM tickets ORDER BY id",
            "messages": "SELECT * FROM messages ORDER BY id",
            "participants": "SELECT * FROM participants ORDER BY ticket_id, address",
            "events": "SELECT * FROM events ORDER BY id",
            "outbox": "SELECT * FROM outbox ORDER BY id",
            "spool": "SELECT id, state, error, attempts FROM spool ORDER BY id",
        }
        data = {table: _table(conn, sql, tidy) for table, sql in queries.items()}
        # Readable, for a quick look at what changed: each incoming message's verdict.
        data["verdicts"] = _table(conn, VERDICTS_SQL, tidy, hashed=False)
        return data
    finally:
        conn.close()


def run_worker(root: Path) -> dict[str, Any]:
    """Spool every mail of `mails()` into a fresh site under `root`, drain it, dump it."""
    settings = load_settings(write_site(root))
    daemon = Daemon(settings)
    daemon.store.open()
    try:
        batch = mails()

        def fill(tx: Transaction) -> None:
            for mail_from, rcpt, raw in batch:
                tx.spool_delivery(raw=raw, mail_from=mail_from, rcpt_to=[rcpt],
                                  peer="127.0.0.1", protocol="SMTP")

        daemon.store.writer.call(fill)
        daemon.worker.start()
        assert daemon.worker.wait_idle(timeout=300), "the worker did not drain the spool"
        daemon.worker.stop()
    finally:
        daemon.store.close()
    return dump(settings.database, root)


# --- the test ------------------------------------------------------------------------------


def _first_difference(got: dict[str, Any], want: dict[str, Any]) -> str:
    for table in want:
        g, w = got.get(table, []), want[table]
        if g[:1] != w[:1]:
            return f"{table}: columns {g[:1]} != {w[:1]}"
        for index, (a, b) in enumerate(zip(g[1:], w[1:], strict=False)):
            if a != b:
                return f"{table} row {index + 1}: {a} != {b} (columns {w[0]})"
        if len(g) != len(w):
            return f"{table}: {len(g) - 1} rows, golden has {len(w) - 1}"
    return "no difference found"


def test_worker_writes_the_golden_rows(tmp_path: Path) -> None:
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing: run `python {__file__} --write`")
    want = json.loads(GOLDEN.read_text())
    got = json.loads(json.dumps(run_worker(tmp_path)))  # tuples as lists, like the file
    assert got == want, _first_difference(got, want)


def test_the_golden_covers_resends_and_duplicates() -> None:
    """The inputs reach the paths a change is most likely to break."""
    want = json.loads(GOLDEN.read_text())
    kind = want["events"][0].index("kind")
    assert sum(row[kind] == "duplicate_delivery" for row in want["events"][1:]) >= 20
    threaded = [row[3] for row in want["verdicts"][1:]]
    assert threaded.count("resend") >= 20
    assert threaded.count("subject") >= 20 and threaded.count("headers") >= 10
    rules = {row[5] for row in want["verdicts"][1:]}
    assert len(rules) >= 10, rules  # most route rules matched some mail


# --- the fast paths against the plain code they replace -------------------------------------


def _edited(rng: random.Random, words: list[str]) -> str:
    out = list(words)
    for _ in range(rng.choice((0, 1, 3, 10, 60))):
        i = rng.randrange(len(out) + 1)
        choice = rng.random()
        if choice < 0.4 and out:
            del out[min(i, len(out) - 1)]
        elif choice < 0.7:
            out.insert(i, rng.choice(_VOCABULARY))
        elif out:
            out[min(i, len(out) - 1)] = rng.choice(_VOCABULARY)
    return " ".join(out)


_VOCABULARY = ("dator", "skrivare", "Skärm", "lösenord", "konto", "vpn", "eduroam", "hjälp",
               "tack", "fungerar", "inte", "the", "a", "och", "at", "printer", "LAPTOP", "är",
               "42", "x")


def test_best_similarity_is_the_max_of_similarity() -> None:
    """best_similarity skips SequenceMatcher by an upper bound: never a different answer."""
    rng = random.Random(5)
    for _ in range(600):
        first_words = rng.choices(_VOCABULARY, k=rng.choice((0, 1, 5, 40, 300)))
        first = " ".join(first_words)
        texts = [_edited(rng, first_words) for _ in range(rng.choice((1, 2)))]
        if rng.random() < 0.3:
            texts.append(texts[0])
        exact = max(dedupe.similarity(t, first) for t in texts)
        compared = dedupe.Compared(texts)
        for threshold in (0.0, 0.5, 0.9, 0.95, 1.0, exact, math.nextafter(exact, 2.0),
                          math.nextafter(exact, -1.0)):
            want = exact if exact >= threshold else None
            assert dedupe.best_similarity(texts, first, threshold) == want, (texts, first)
            # A mail's words read once for several candidates give the same answers.
            assert dedupe.best_similarity(compared, first, threshold) == want, (texts, first)


def _fold_before(text: str) -> str:
    """routing.text.fold as it was: a translate table and a filter over every character."""
    if text.isascii():
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(routing_text._TRANSLATE))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


_FOLD_ALPHABET = (
    "aAzZ09 \t\n-'\"åäöÅÄÖéÉüßẞİıΣσςǅﬁﬀ①Ａｚℌℍ™ºª½\u00a0\u2002\u3000"
    "\u0300\u0301\u0308\u030a\u0327\u20dd\u0345\u1dc0\ufe20\U0001d400"
    + "".join(map(chr, routing_text._TRANSLATE))
)


def test_fold_is_unchanged() -> None:
    """The fast fold gives the old fold's result on text built around its edges."""
    rng = random.Random(11)
    for _ in range(4000):
        size = rng.choice((1, 2, 5, 30, 300))
        chars = [
            rng.choice(_FOLD_ALPHABET) if rng.random() < 0.8 else chr(rng.randrange(0x110000))
            for _ in range(size)
        ]
        text = "".join(chars)
        assert routing_text.fold(text) == _fold_before(text), ascii(text)


def write_golden(data: dict[str, Any]) -> None:
    """One row per line: small diffs when a row changes."""
    parts = []
    for table, rows in data.items():
        lines = ",\n".join(json.dumps(row, ensure_ascii=False, separators=(",", ":"))
                           for row in rows)
        parts.append(f"{json.dumps(table)}: [\n{lines}\n]")
    GOLDEN.write_text("{\n" + ",\n".join(parts) + "\n}\n")


if __name__ == "__main__":
    import logging
    import tempfile

    from ticketgate.log import configure

    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: python {sys.argv[0]} --write")
    configure("json", level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        data = run_worker(Path(tmp))
    write_golden(data)
    print(f"wrote {GOLDEN}: " + ", ".join(f"{k} {len(v) - 1}" for k, v in data.items()))
