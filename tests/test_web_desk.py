"""The staff desk over real HTTP, served by a running daemon (web/): who gets in, what each
sees, and that every refusal holds (no CSRF token, another site's cookie, another queue's
staff, a logged-out user). The browser's own tests are test_promise_browser.py."""

from __future__ import annotations

import json
import re

from itsdangerous import URLSafeTimedSerializer

from conftest import Running, make_mail, send
from ticketgate.web.headers import CSP
from ticketgate.web.sessions import COOKIE
from web_helpers import (
    ADMIN,
    CARDS,
    HELPDESK,
    PASSWORD,
    client,
    csrf_of,
    desk,  # noqa: F401  (a fixture)
    logged_in,
    login,
)


def tickets(running: Running) -> tuple[int, int]:
    """One ticket in helpdesk, one in lukortet: their numbers."""
    send(running.port(), make_mail("Skrivaren på plan 3 fastnar", "Papperet fastnar hela tiden."))
    send(running.port(), make_mail("Passerkortet fungerar inte i hus E", "Kortet blinkar rött.",
                                   to="lukortet@example.org"), rcpt="lukortet@example.org")
    running.drain()
    return 1, 2


def events(running: Running, kind: str) -> list[dict[str, object]]:
    rows = running.store.view.conn.execute(
        "SELECT detail FROM events WHERE kind = ? ORDER BY id", (kind,)).fetchall()
    return [json.loads(r[0]) for r in rows]


def test_a_logged_out_user_is_sent_to_the_login_page_and_posts_are_refused(
        desk: Running) -> None:  # noqa: F811
    tickets(desk)
    http = client(desk)
    answer = http.get("/ticket/1")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Fticket%2F1"
    for path in ("/tickets/open", "/search?q=skrivaren", "/dashboard",
                 "/ticket/1/message/1/raw"):
        assert http.get(path).status_code == 303, path
    token = csrf_of(http.get("/login").text)  # a valid token of an anonymous session
    refused = http.post("/ticket/1/presence", data={"csrf": token, "state": "open"})
    assert refused.status_code == 401
    assert "Papperet" not in refused.text


def test_login_sets_a_hardened_cookie_and_records_events(desk: Running) -> None:  # noqa: F811
    http = client(desk)
    wrong = login(http, HELPDESK, "not the password")
    assert wrong.status_code == 401 and "Wrong address or password" in wrong.text
    nobody = login(http, "mallory@example.org")  # no account: the same answer
    assert nobody.status_code == 401 and "Wrong address or password" in nobody.text
    answer = login(http, HELPDESK)
    assert answer.status_code == 303 and answer.headers["location"] == "/tickets/open"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback; see the proxy test
    assert re.search(r"Max-Age=43200\b", cookie)
    assert http.get("/tickets/open").status_code == 200
    assert [e["reason"] for e in events(desk, "staff_login_failed")] == [
        "wrong_password", "no_account"]
    assert [e["address"] for e in events(desk, "staff_login")] == [HELPDESK]
    http.post("/logout", data={"csrf": csrf_of(http.get("/tickets/open").text)})
    assert http.get("/tickets/open").status_code == 303
    assert [e["address"] for e in events(desk, "staff_logout")] == [HELPDESK]


def test_failed_logins_are_limited_per_address(desk: Running) -> None:  # noqa: F811
    http = client(desk)
    for _ in range(3):
        assert login(http, HELPDESK, "guess").status_code == 401
    limited = login(http, HELPDESK)  # the right password, too late
    assert limited.status_code == 429 and "Too many failed logins" in limited.text
    assert login(http, CARDS).status_code == 303  # another address is not held up
    assert events(desk, "staff_login_failed")[-1]["reason"] == "rate_limited"


def test_a_post_without_the_sessions_csrf_token_is_refused(desk: Running) -> None:  # noqa: F811
    tickets(desk)
    http = logged_in(desk, HELPDESK)
    good = csrf_of(http.get("/ticket/1").text)
    assert http.post("/ticket/1/presence", data={"state": "open"}).status_code == 403
    assert http.post("/ticket/1/presence", data={"state": "open", "csrf": "x" * 43}
                     ).status_code == 403
    other = logged_in(desk, CARDS)  # another session's token
    assert http.post("/ticket/1/presence", data={"state": "open",
                                                 "csrf": csrf_of(other.get("/").text or
                                                                 other.get("/tickets/open").text)}
                     ).status_code == 403
    foreign = http.post("/ticket/1/presence", data={"state": "open", "csrf": good},
                        headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert http.post("/logout", data={}).status_code == 403  # still logged in after all that
    assert http.get("/tickets/open").status_code == 200
    ok = http.post("/ticket/1/presence", data={"state": "open", "csrf": good})
    assert ok.status_code == 200 and ok.json() == {"others": []}


def test_a_cookie_signed_by_another_sites_secret_is_no_session(desk: Running) -> None:  # noqa: F811
    tickets(desk)
    forged = URLSafeTimedSerializer(b"x" * 32, salt="ticketgate web session",
                                    serializer=json).dumps({"address": ADMIN, "at": 9e9,
                                                            "csrf": "t"})
    http = client(desk)
    http.cookies.set(COOKIE, forged)
    assert http.get("/ticket/1").status_code == 303
    assert http.post("/ticket/1/presence", data={"csrf": "t", "state": "open"}
                     ).status_code == 403
    # the same data signed with this site's own secret gets in: the signature is what counts
    secret = desk.settings.web.secret_file.read_text()  # type: ignore[union-attr]
    import base64
    import time
    real = URLSafeTimedSerializer(base64.b64decode(secret), salt="ticketgate web session",
                                  serializer=json).dumps({"address": ADMIN, "at": time.time()})
    http.cookies.set(COOKIE, real)
    assert http.get("/ticket/1").status_code == 200


def test_staff_see_their_queues_only_and_anything_else_is_404(desk: Running) -> None:  # noqa: F811
    helpdesk, cards = tickets(desk)
    staff = logged_in(desk, CARDS)
    page = staff.get("/tickets/open").text
    assert "Passerkortet" in page and "Skrivaren" not in page
    hidden, missing = staff.get(f"/ticket/{helpdesk}"), staff.get("/ticket/999")
    assert hidden.status_code == missing.status_code == 404
    # no telling that it exists: the same page but for its own path (the language switch's)
    assert hidden.text.replace(f"/ticket/{helpdesk}", "") == missing.text.replace(
        "/ticket/999", "")
    for path in (f"/ticket/{helpdesk}/message/1/raw", f"/ticket/{helpdesk}/message/1/part/0",
                 "/tickets/open?queue=helpdesk", "/tickets/nonsense"):
        assert staff.get(path).status_code == 404, path
    token = csrf_of(staff.get(f"/ticket/{cards}").text)
    assert staff.post(f"/ticket/{helpdesk}/presence", data={"csrf": token, "state": "open"}
                      ).status_code == 404
    assert "Skrivaren" not in staff.get("/search?q=skrivaren").text
    assert staff.get("/search", params={"q": f"[DDG #{helpdesk}]"}).status_code == 200
    admin = logged_in(desk, ADMIN)
    assert admin.get(f"/ticket/{helpdesk}").status_code == 200
    assert admin.get(f"/ticket/{cards}").status_code == 200


def test_every_page_carries_the_strict_policy(desk: Running) -> None:  # noqa: F811
    tickets(desk)
    http = logged_in(desk, HELPDESK)
    for path in ("/login", "/tickets/mine", "/ticket/1", "/search?q=papperet", "/dashboard",
                 "/ticket/999"):
        answer = http.get(path)
        assert answer.headers["content-security-policy"] == CSP, path
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in CSP and "unsafe" not in CSP
    assert "img-src 'self' data:" in CSP


def test_behind_a_tls_proxy_the_cookie_is_secure(desk: Running) -> None:  # noqa: F811
    http = client(desk, **{"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.7"})
    page = http.get("/login")
    token = csrf_of(page.text)
    assert "; Secure" in page.headers["set-cookie"]
    # the client speaks plain HTTP to the desk, as a proxy does, so it keeps no Secure
    # cookie: hand it over as the browser would over TLS
    http.cookies.set(COOKIE, page.headers["set-cookie"].split(";")[0].split("=", 1)[1])
    answer = http.post("/login", data={"address": HELPDESK, "password": PASSWORD,
                                       "csrf": token},
                       headers={"Origin": f"https://127.0.0.1:{desk.port('web')}"})
    assert answer.status_code == 303
    assert "; Secure" in answer.headers["set-cookie"]
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    assert events(desk, "staff_login")[-1]["client"] == "192.0.2.7"  # from the proxy
