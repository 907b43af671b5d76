"""The staff desk's pages and search against a big database: p50/p95 per page.

fill.py makes (or --database reuses) a site database of N tickets; migration 4 and its
triggers give it the desk's counts, dashboard figures and full-text index. `ticketgate web`
then serves it as a separate process, and one keep-alive client, logged in as the helpdesk's
staff (and as an admin, who sees every queue), asks for every page in turn: the five lists,
a list oldest first and one page further on, a ticket, the dashboard, and searches (a subject
word, a text word, two words, a prefix, a requester address, a code). The login page, which
reads nothing of the store, is measured alongside as the same run's baseline.

    python bench/web.py --tickets 1000000 --database /tmp/desk1m.db --rounds 40
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from fill import fill
from mails import requester
from procs import REPO, write_site

PASSWORD = "bench password 1"
STAFF, ADMIN = "it-staff@example.org", "boss@example.org"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str, float]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        start = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        answer = self.conn.getresponse()
        text = answer.read().decode("utf-8", "replace")
        took = time.perf_counter() - start
        cookie = answer.getheader("set-cookie")
        if cookie:
            self.cookie = cookie.split(";")[0]
        return answer.status, text, took

    def login(self, address: str) -> None:
        _, page, _ = self.request("GET", "/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token
        status, _, _ = self.request("POST", "/login", urlencode(
            {"address": address, "password": PASSWORD, "csrf": token.group(1)}))
        assert status == 303, status


def pages(tickets: int, numbers: list[int]) -> dict[str, list[str]]:
    """name -> paths to ask in turn (several where the answer depends on the data)."""
    return {
        "list mine": ["/tickets/mine"],
        "list unowned": ["/tickets/unowned"],
        "list open": ["/tickets/open"],
        "list waiting": ["/tickets/waiting"],
        "list resolved": ["/tickets/resolved"],
        "list open, oldest first": ["/tickets/open?order=oldest"],
        "list resolved, page 2": [f"/tickets/resolved?after={tickets // 2}"],
        "ticket": [f"/ticket/{n}" for n in numbers],
        "dashboard": ["/dashboard"],
    }


SEARCHES = {
    "search subject word": ["skrivaren", "eduroam", "passerkort", "projector", "vpn"],
    "search text word": ["printer", "toner", "password", "wifi", "licence"],
    "search two words": ["printer toner", "eduroam password", "skrivaren plan"],
    "search with a star": ["skriv*", "lösen*", "proj*"],  # no prefix: whole words
    "search requester": [requester(n) for n in (11, 503, 4999)],
    "search code": ["DDG #4711", "#123456"],
}


def measure(port: int, who: str, tickets: int, rounds: int, seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    client = Client(port)
    client.login(who)
    seen: set[int] = set()  # tickets this viewer may open, from its own lists
    for path in ("/tickets/open", "/tickets/resolved", f"/tickets/resolved?after={tickets // 3}"):
        page = client.request("GET", path)[1]
        seen |= {int(n) for n in re.findall(r'href="/ticket/(\d+)"', page)}
    numbers = rng.sample(sorted(seen), min(50, len(seen)))
    work = dict(pages(tickets, numbers))
    work |= {k: [f"/search?{urlencode({'q': q})}" for q in v] for k, v in SEARCHES.items()}
    work["login page (baseline)"] = ["/login"]
    times: dict[str, list[float]] = {k: [] for k in work}
    for paths in work.values():  # one warm-up each (first touch of cold pages)
        client.request("GET", paths[0])
    for r in range(rounds):
        for name, paths in work.items():
            path = paths[r % len(paths)]
            if name == "login page (baseline)":
                fresh = Client(port)  # a logged-in client is sent on from /login
                status, _, took = fresh.request("GET", path)
            else:
                status, _, took = client.request("GET", path)
            assert status in (200, 303), (path, status)
            times[name].append(took)
    return times


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--database", type=Path, help="reuse (or make) this database")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="ticketgate-web-bench-"))
    database = args.database or scratch / "desk.db"
    if not database.exists():
        started = time.perf_counter()
        stats = fill(database, args.tickets, seed=args.seed, progress=True)
        print(f"filled {stats.tickets} tickets in {time.perf_counter() - started:.0f}s",
              file=sys.stderr)
    port = free_port()
    limits = "login: {per_address: 1000, per_client: 1000}"
    site = write_site(scratch / "site", f"web: {{port: {port}, admins: [{ADMIN}], {limits}}}\n",
                      database=str(database))
    cli = [sys.executable, "-m", "ticketgate.cli"]
    for who in (STAFF, ADMIN):
        subprocess.run([*cli, "staff", "passwd", "--config", str(site), who],
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)
    started = time.perf_counter()
    server = subprocess.Popen([*cli, "web", "--config", str(site)], cwd=REPO,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        while "staff desk on" not in server.stderr.readline():
            assert server.poll() is None, "ticketgate web did not start"
        print(f"ticketgate web ready after {time.perf_counter() - started:.1f}s "
              "(migrating the database the first time)", file=sys.stderr)
        for who in (STAFF, ADMIN):
            times = measure(port, who, args.tickets, args.rounds, args.seed)
            print(f"\n{who} ({args.tickets} tickets, {args.rounds} rounds)")
            print(f"{'page':32} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
            for name, values in times.items():
                print(f"{name:32} {1000 * statistics.median(values):8.1f} "
                      f"{1000 * p95(values):8.1f} {1000 * max(values):8.1f}")
    finally:
        server.terminate()
        server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
