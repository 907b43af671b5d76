"""The staff desk in a real browser: Debian's chromium (.ci/system-packages) driven by
Playwright for Python, pointed at /usr/bin/chromium (no browser download).

A staff member logs in, sees the queues, opens a ticket and searches, by keyboard where a
keyboard user would; a page written by hostile mail runs nothing (no dialog, no title
change, no script error from the mail) and fetches nothing from anywhere but the desk (every
request the browser makes is listened to: only 127.0.0.1). A screenshot of each page goes to
$TICKETGATE_ARTIFACTS (default tests/artifacts/, ignored by git).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import REPO, Running, make_mail, send
from integration_gate import need
from ticketgate.config import load_settings
from web_helpers import CARDS, HELPDESK, PASSWORD, base_url, desk_site, hostile_mail

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
         "--disable-dev-shm-usage"]


def artifacts() -> Path:
    where = Path(os.environ.get("TICKETGATE_ARTIFACTS", REPO / "tests" / "artifacts"))
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need("chromium", "chromedriver", purpose="a real browser for the staff desk")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Running]:
    running = Running(load_settings(desk_site(tmp_path)))
    send(running.port(), make_mail("Skrivaren på plan 3 fastnar",
                                   "Hej,\npapperet fastnar i skrivaren hela tiden.\nMvh Kim"))
    send(running.port(), make_mail("Passerkortet fungerar inte", "Kortet blinkar rött.",
                                   to="lukortet@example.org"), rcpt="lukortet@example.org")
    send(running.port(), hostile_mail(), mail_from="mallory@example.org")
    running.drain()
    yield running
    running.stop()


class Watch:
    """Everything a page does that a test must see: requests, dialogs, console errors."""

    def __init__(self, page: Any) -> None:
        self.hosts: set[str] = set()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.hosts.add(urlsplit(r.url).hostname or r.url))
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def log_in(page: Any, url: str, address: str) -> None:
    page.goto(f"{url}/tickets/open")
    assert page.url.startswith(f"{url}/login")
    page.get_by_label("Staff address").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")  # the keyboard submits
    page.wait_for_url(f"{url}/tickets/open")


def test_log_in_see_the_queues_open_a_ticket_and_search(browser: Any, site: Running) -> None:
    url = base_url(site)
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{url}/login")
    page.screenshot(path=str(artifacts() / "desk-login.png"), full_page=True)
    log_in(page, url, HELPDESK)
    assert page.get_by_role("heading", level=1).inner_text().startswith("Open")
    rows = page.locator("table.tickets tbody tr")
    assert rows.count() == 2  # the helpdesk's two; the access-card ticket is not theirs
    assert "Passerkortet" not in page.content()
    page.screenshot(path=str(artifacts() / "desk-list.png"), full_page=True)
    # keyboard: the skip link is the first stop and leads to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    page.get_by_role("link", name="Skrivaren på plan 3 fastnar").click()
    page.wait_for_url(f"{url}/ticket/1")
    assert "papperet fastnar i skrivaren" in page.locator("article.message").first.inner_text()
    assert page.locator("article.message.internal").count() >= 1  # the staff notification
    page.screenshot(path=str(artifacts() / "desk-ticket.png"), full_page=True)
    page.get_by_role("searchbox").first.fill("papperet")
    page.get_by_role("searchbox").first.press("Enter")
    page.wait_for_url(f"{url}/search?q=papperet")
    assert page.locator("mark").first.inner_text().lower() == "papperet"
    page.screenshot(path=str(artifacts() / "desk-search.png"), full_page=True)
    page.get_by_role("link", name="Dashboard").click()
    assert page.locator("svg.chart").count() == 3
    page.screenshot(path=str(artifacts() / "desk-dashboard.png"), full_page=True)
    page.get_by_role("button", name="Svenska").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Översikt"
    assert watch.hosts == {"127.0.0.1"} and watch.dialogs == [] and watch.errors == []
    context.close()


def test_hostile_mail_runs_nothing_and_fetches_nothing(browser: Any, site: Running) -> None:
    url = base_url(site)
    context = browser.new_context()
    page = context.new_page()
    watch = Watch(page)
    log_in(page, url, HELPDESK)
    page.goto(f"{url}/ticket/3")
    page.wait_for_load_state("networkidle")
    title = page.title()
    assert "pwned" not in title and "Fakturan <script>" in title  # text, never markup
    assert page.locator(".mailhtml").get_by_text("Hej, se fakturan.").count() == 1
    page.locator(".mailhtml").get_by_text("Klicka här").click()  # a dead link now
    page.wait_for_timeout(300)
    with page.expect_download() as download:
        page.get_by_role("link", name="faktura.txt").click()
    saved = download.value.path()
    assert Path(saved).read_bytes().startswith(b"<html><script>")  # downloaded, not run
    assert page.url == f"{url}/ticket/3"
    page.screenshot(path=str(artifacts() / "desk-hostile.png"), full_page=True)
    assert watch.dialogs == []
    assert watch.errors == []
    assert watch.hosts == {"127.0.0.1"}, watch.hosts  # nothing remote, ever
    context.close()


def test_the_browser_gets_404_for_another_queues_ticket(browser: Any, site: Running) -> None:
    url = base_url(site)
    context = browser.new_context()
    page = context.new_page()
    log_in(page, url, CARDS)
    answer = page.goto(f"{url}/ticket/1")
    assert answer is not None and answer.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Not found"
    assert "Skrivaren" not in page.content()
    context.close()
