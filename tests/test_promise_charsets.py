"""Promise: wrong, unknown and missing charsets still give readable text; raw bytes are kept.

Each case is a message whose label lies or is missing, sent as exact bytes over SMTP. The
ticket's subject and text (and what `tickets show` prints) must carry the words as written,
and the spool the bytes as sent.
"""

from __future__ import annotations

import base64
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import Running, run_cli, write_site
from promise_helpers import deliver
from ticketgate import views
from ticketgate.config import load_settings


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def cp1258(text: str) -> bytes:
    """Vietnamese as windows-1258 writes it: a base letter it has, then combining tone marks."""
    out = b""
    for char in nfc(text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        parts = unicodedata.normalize("NFD", char)
        for cut in range(len(parts), 0, -1):
            head = nfc(parts[:cut])
            try:
                out += head.encode("cp1258") + parts[cut:].encode("cp1258")
                break
            except UnicodeEncodeError:
                continue
        else:
            raise ValueError(char)
    return out


def word(charset: str, data: bytes) -> bytes:
    return b"=?" + charset.encode() + b"?B?" + base64.b64encode(data) + b"?="


@dataclass(frozen=True)
class Case:
    name: str
    subject: bytes  # the Subject field's raw value
    content_type: bytes | None  # None: no MIME headers at all
    body: bytes
    subject_text: str  # what the ticket's subject must contain
    body_text: str  # what the ticket's text must contain
    extra: bytes = b""

    def raw(self) -> bytes:
        head = (b"From: Kim <kim@example.org>\r\nTo: helpdesk@example.org\r\n"
                b"Subject: " + self.subject + b"\r\nMessage-ID: <" + self.name.encode()
                + b"@client.test.invalid>\r\n")
        if self.content_type is not None:
            head += b"MIME-Version: 1.0\r\nContent-Type: " + self.content_type + b"\r\n"
        return head + self.extra + b"\r\n" + self.body


ZH = "您好，我的电脑无法连接网络，请帮忙。"
VI = "Máy tính của tôi không kết nối được mạng"
JA = "パソコンが起動しません。画面が真っ暗です。"
KO = "컴퓨터가 켜지지 않습니다. 도와주세요."
RU = ("Здравствуйте! Мой компьютер не включается уже второй день. "
      "Когда я нажимаю кнопку питания, ничего не происходит. Помогите, пожалуйста.")
SV = "Skärmen flimrar på datorn i rum Ö-112, hälsningar Åsa"

CASES = [
    Case("gb2312-but-utf8", word("gb2312", "电脑无法连接网络".encode()),
         b"text/plain; charset=gb2312", (ZH + "\r\n").encode(), "电脑无法连接网络", ZH),
    Case("windows-1258", word("windows-1258", cp1258("Mạng không kết nối")),
         b"text/plain; charset=windows-1258", cp1258(VI) + b"\r\n", "Mạng không kết nối", VI),
    Case("iso-2022-jp", word("ISO-2022-JP", "パソコンが起動しません".encode("iso2022_jp")),
         b"text/plain; charset=ISO-2022-JP", JA.encode("iso2022_jp") + b"\r\n",
         "パソコンが起動しません", JA, b"Content-Transfer-Encoding: 7bit\r\n"),
    Case("ks_c_5601-1987", word("ks_c_5601-1987", "컴퓨터가 켜지지 않습니다".encode("cp949")),
         b"text/plain; charset=ks_c_5601-1987", KO.encode("cp949") + b"\r\n",
         "컴퓨터가 켜지지 않습니다", KO, b"Content-Transfer-Encoding: 8bit\r\n"),
    Case("koi8-r-no-content-type", "Компьютер не включается".encode("koi8-r"), None,
         RU.encode("koi8-r") + b"\r\n", "Компьютер не включается", RU),
    Case("unknown-charset", word("x-unknown-charset", "Skärmen flimrar".encode("latin-1")),
         b"text/plain; charset=x-unknown-charset", SV.encode("latin-1") + b"\r\n",
         "Skärmen flimrar", SV),
    Case("no-charset-utf8", "Skärmen flimrar".encode(), b"text/plain",
         SV.encode() + b"\r\n", "Skärmen flimrar", SV),
    Case("utf8-but-latin1", b"=?utf-8?Q?Sk=E4rmen_flimrar?=", b"text/plain; charset=utf-8",
         SV.encode("cp1252") + b"\r\n", "Skärmen flimrar", SV),
    Case("latin1-8bit-subject-utf8-body", "Skärmen flimrar".encode("latin-1"),
         b"text/plain; charset=utf-8", SV.encode() + b"\r\n", "Skärmen flimrar", SV),
    Case("html-meta-charset", b"Sk=?iso-8859-1?q?=E4?=rmen flimrar",
         b"text/html", b"<html><head><meta charset=\"windows-1251\"></head><body><p>"
         + RU.encode("cp1251") + b"</p></body></html>\r\n", "Skärmen flimrar", RU),
]


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    site = write_site(tmp_path_factory.mktemp("charsets"))
    running = Running(load_settings(site))
    yield running, site
    running.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_wrong_unknown_and_missing_charsets_read_right(gate: tuple[Running, Path],
                                                       case: Case) -> None:
    running, _ = gate
    raw = case.raw()
    reply = deliver(running.port(), raw)
    assert reply.code == 250, reply.line
    running.drain()
    conn = running.store.view.conn
    (stored,) = conn.execute("SELECT raw FROM spool WHERE id = ?", (reply.spool_id(),)).fetchone()
    assert stored == raw  # the raw bytes, unchanged
    ticket, subject, text = conn.execute(
        "SELECT m.ticket_id, m.subject, m.text FROM messages m WHERE m.spool_id = ?",
        (reply.spool_id(),)).fetchone()
    assert nfc(case.subject_text) in nfc(subject), subject
    assert nfc(case.body_text) in nfc(text), text
    history = views.ticket_history(running.store.view, ticket)
    assert history is not None
    out = io.StringIO()
    views.show_ticket(history, tag="DDG", out=out)
    assert nfc(case.body_text) in nfc(out.getvalue())


def test_tickets_show_prints_them_as_utf8(gate: tuple[Running, Path]) -> None:
    running, site = gate
    running.drain()
    numbers = [n for (n,) in running.store.view.conn.execute("SELECT id FROM tickets")]
    assert numbers
    printed = "".join(run_cli(site, "tickets", "show", str(n)).stdout.decode("utf-8")
                      for n in numbers)
    shown = [c for c in CASES if f"<{c.name}@client.test.invalid>" in printed]
    if not shown:
        pytest.skip("run with the cases above, which make the tickets")
    for case in shown:
        assert nfc(case.body_text) in nfc(printed), case.name
