"""Smoke test of the benchmark harness: the load generator against the do-nothing ceiling.

Not a benchmark (nothing here is timed): it only shows that bench/ still runs, so `make bench`
does not rot between measurements.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def bench_path(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(BENCH))
    return BENCH


def test_loadgen_against_ceiling(bench_path: Path, tmp_path: Path) -> None:
    from loadgen import run_load
    from mails import MailFactory
    from procs import start_ceiling

    mails = MailFactory(seed=3, mix={"new": 0.5, "code": 0.3, "thread": 0.2}).take(20)
    assert len({m.raw for m in mails}) == 20  # distinct mails
    server = start_ceiling(tmp_path)
    try:
        result = asyncio.run(run_load(port=server.port, mails=mails, connections=4,
                                      per_connection=3, count=20))
    finally:
        assert server.stop() == 0
    assert (result.sent, result.accepted, result.errors) == (20, 20, 0), result.first_errors
    assert len(result.latencies) == 20
    assert result.sessions >= 7  # 20 mails, at most 3 per session


def test_dot_stuffing(bench_path: Path) -> None:
    from mails import Mail

    wire = Mail("new", "a@example.org", "b@example.org", b"A\r\n.hidden\r\n.\r\nB").wire
    assert wire == b"A\r\n..hidden\r\n..\r\nB\r\n.\r\n"


def test_loopback_only(bench_path: Path) -> None:
    from loadgen import run_load

    with pytest.raises(ValueError, match="loopback"):
        asyncio.run(run_load(port=25, mails=[], host="192.0.2.1", count=1))


def test_inject_bench_pipes_the_realistic_mix_to_tickets(tmp_path: Path) -> None:
    import json
    import subprocess

    out = tmp_path / "inject.json"
    done = subprocess.run([sys.executable, str(BENCH / "inject.py"), "--mails", "6",
                           "--json", str(out)], capture_output=True, timeout=300, cwd=BENCH)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    figures = json.loads(out.read_text())
    assert figures["failed"] == 0 and figures["mails"] == 6
    assert figures["tickets"] >= 1 and figures["python_pass_cpu_ms"] > 0


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
