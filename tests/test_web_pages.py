"""The desk's pages over real HTTP: hostile mail made harmless, downloads never inline,
search with escaped highlights, the dashboard's pictures, both languages, the collision
warning, and the commands that set it up (staff passwd, the session secret)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import Running, make_mail, send, ticketgate_cmd
from ticketgate.web import secret
from ticketgate.web.i18n import negotiate
from ticketgate.web.passwords import PasswordFile
from ticketgate.yamlsource import ConfigError
from web_helpers import (
    ADMIN,
    CARDS,
    HELPDESK,
    client,
    csrf_of,
    desk,  # noqa: F401  (a fixture)
    desk_site,
    hostile_mail,
    logged_in,
)


def hostile_ticket(running: Running) -> int:
    send(running.port(), hostile_mail(), mail_from="mallory@example.org")
    running.drain()
    return 1


def test_hostile_html_is_shown_cleaned_and_the_attachment_only_downloads(
        desk: Running) -> None:  # noqa: F811
    number = hostile_ticket(desk)
    http = logged_in(desk, HELPDESK)
    page = http.get(f"/ticket/{number}").text
    body = page.split('<main id="main"', 1)[1]
    assert "Hej, se fakturan." in body and "Mvh Mallory" in body
    for bad in ("<script>alert", "javascript:", "onload", "onerror", "203.0.113.9", "<iframe",
                "<svg", "<style", "<form action=\"http"):
        assert bad not in body, bad
    assert "&lt;script&gt;alert(&#39;subject&#39;)" in page  # the subject, escaped
    assert "faktura.txt" in body
    part = next(line for line in body.splitlines() if "faktura.txt" in line)
    href = part.split('href="', 1)[1].split('"', 1)[0]
    download = http.get(href)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith('attachment; filename="faktura.txt"')
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.content == b"<html><script>alert('attachment')</script></html>"
    raw = http.get(f"/ticket/{number}/message/1/raw")
    assert raw.headers["content-type"].startswith("text/plain")
    assert raw.headers["content-disposition"].startswith("attachment;")
    assert b"Message-ID: <hostile.1@client.test.invalid>" in raw.content
    assert http.get(f"/ticket/{number}/message/1/part/99").status_code == 404
    assert http.get(f"/ticket/{number}/message/77/raw").status_code == 404


def test_the_thread_tells_incoming_public_mail_from_internal_notifications(
        desk: Running) -> None:  # noqa: F811
    send(desk.port(), make_mail("Skrivaren på plan 3", "Papperet fastnar."))
    desk.drain()
    desk.daemon.outbox.wake()
    http = logged_in(desk, HELPDESK)
    page = http.get("/ticket/1").text
    assert 'class="message public dir-in"' in page
    assert "Incoming, from the requester" in page
    assert 'class="message internal dir-out automatic"' in page  # the staff notification
    assert 'class="message public dir-out automatic"' in page  # the acknowledgement
    assert "Mail sent about this ticket" in page and "kim@example.org" in page
    assert "routed" in page  # the history


def test_search_finds_by_words_code_and_address_and_escapes_before_marking(
        desk: Running) -> None:  # noqa: F811
    send(desk.port(), make_mail("Skrivaren <b>på</b> plan 3", "Papperet fastnar <i>hela</i> "
                                "tiden i skrivaren."))
    send(desk.port(), make_mail("Datorn", "Inget om skrivare här.", sender="lisa@example.org"),
         mail_from="lisa@example.org")
    desk.drain()
    http = logged_in(desk, HELPDESK)
    page = http.get("/search", params={"q": "papperet"}).text
    assert "<mark>Papperet</mark>" in page and "&lt;i&gt;hela&lt;/i&gt;" in page
    assert "<i>hela</i>" not in page
    code = http.get("/search", params={"q": "DDG #2"})
    assert code.status_code == 303 and code.headers["location"] == "/ticket/2"
    by_address = http.get("/search", params={"q": "lisa@example.org"}).text
    assert "/ticket/2" in by_address and "/ticket/1\"" not in by_address
    assert "Nothing found." in http.get("/search", params={"q": "eduroam"}).text
    assert http.get("/search", params={"q": '" OR NEAR( *'}).status_code == 200


def test_the_dashboard_draws_accessible_pictures(desk: Running) -> None:  # noqa: F811
    send(desk.port(), make_mail("Hjälp", "Det funkar inte."))  # a vague subject
    desk.drain()
    http = logged_in(desk, HELPDESK)
    page = http.get("/dashboard").text
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"') == 3
    assert page.count("<title id=") == 3 and page.count("<desc id=") == 3
    assert "New tickets per day" in page and "Time to first answer" in page
    assert "vague subject" in page
    assert "DDG Helpdesk 1</title>" in page  # today's bar, with its number


def test_swedish_by_accept_language_and_by_the_switch(desk: Running) -> None:  # noqa: F811
    http = client(desk, **{"Accept-Language": "sv-SE,sv;q=0.9,en;q=0.5"})
    page = http.get("/login").text
    assert '<html lang="sv">' in page and "Logga in" in page
    english = http.post("/language", data={"lang": "en", "csrf": csrf_of(page),
                                           "back": "//evil.example/x"})
    assert english.status_code == 303 and english.headers["location"] == "/"
    assert '<html lang="en">' in http.get("/login").text
    assert negotiate("de, en;q=0.2, sv;q=0.8") == "sv"
    assert negotiate("fr") == "en" and negotiate(None) == "en"


def writing(page: str) -> str:
    """The collision warning's text on a ticket page."""
    return page.split('id="writing" role="status" aria-live="polite">', 1)[1].split("</p>")[0]


def test_another_staff_member_writing_a_reply_is_shown(desk: Running) -> None:  # noqa: F811
    send(desk.port(), make_mail("Skrivaren", "Papperet fastnar."))
    desk.drain()
    me, colleague = logged_in(desk, HELPDESK), logged_in(desk, ADMIN)
    page = colleague.get("/ticket/1").text
    assert writing(page) == ""
    opened = colleague.post("/ticket/1/presence", data={"csrf": csrf_of(page), "state": "open"})
    assert opened.json() == {"others": []}
    mine = me.get("/ticket/1").text
    assert writing(mine) == f"Also writing a reply now: {ADMIN}"
    asked = me.post("/ticket/1/presence", data={"csrf": csrf_of(mine), "state": "ask"})
    assert asked.json() == {"others": [ADMIN]}
    colleague.post("/ticket/1/presence", data={"csrf": csrf_of(page), "state": "closed"})
    assert writing(me.get("/ticket/1").text) == ""


def test_lists_count_and_page(desk: Running) -> None:  # noqa: F811
    for i in range(3):
        send(desk.port(), make_mail(f"Skrivaren {i} på plan 3", f"Papperet fastnar {i}."))
    send(desk.port(), make_mail("Passerkortet", "Kortet blinkar.", to="lukortet@example.org"),
         rcpt="lukortet@example.org")
    desk.drain()
    desk.store.writer.call(lambda tx: tx.set_owner(2, HELPDESK))
    http = logged_in(desk, HELPDESK)
    mine = http.get("/tickets/mine").text
    assert "1 tickets" in mine and "/ticket/2\"" in mine and "/ticket/3\"" not in mine
    unowned = http.get("/tickets/unowned").text
    assert "2 tickets" in unowned and "/ticket/4\"" not in unowned  # lukortet: not mine
    oldest = http.get("/tickets/open", params={"order": "oldest"}).text
    assert oldest.index("/ticket/1\"") < oldest.index("/ticket/3\"")
    assert "Skrivaren" in http.get("/tickets/open", params={"queue": "helpdesk"}).text
    admin = logged_in(desk, ADMIN)
    assert "4 tickets" in admin.get("/tickets/open").text


def test_staff_passwd_sets_an_argon2id_hash(tmp_path: Path) -> None:
    site = desk_site(tmp_path)
    def passwd(address: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ticketgate_cmd(), "staff", "passwd", "--config", str(site),
                               address], input=password + "\n", capture_output=True, text=True,
                              timeout=60)
    done = passwd(CARDS, "a new long password")
    assert done.returncode == 0, done.stderr
    hashes = PasswordFile(tmp_path / "var/staff.passwords")
    assert hashes.hashes()[CARDS].startswith("$argon2id$")
    assert hashes.verify(CARDS, "a new long password") and not hashes.verify(CARDS, "x")
    assert os.stat(tmp_path / "var/staff.passwords").st_mode & 0o777 == 0o600
    stranger = passwd("mallory@example.org", "a new long password")
    assert stranger.returncode == 67 and "no account" in stranger.stderr
    short = passwd(CARDS, "short")
    assert short.returncode == 65 and "at least 10" in short.stderr


def test_the_session_secret_is_made_private_and_refused_when_others_may_read_it(
        tmp_path: Path) -> None:
    path = tmp_path / "var/web.secret"
    first = secret.load(path)
    assert len(first) == 32 and os.stat(path).st_mode & 0o777 == 0o600
    assert secret.load(path) == first  # kept, never replaced
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        secret.load(path)
    with pytest.raises(ConfigError, match="not found"):
        secret.load(tmp_path / "missing", make=False)
