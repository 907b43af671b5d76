"""The CI gate on skips (tests/integration_gate.py), run as pytest runs it: a real pytest in a
subprocess, on a small test file, with the gate as a plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from integration_gate import REQUIRE, find, need

HERE = Path(__file__).resolve().parent

SAMPLE = '''
import pytest
from integration_gate import need

@pytest.mark.integration
def test_needs_a_missing_program():
    need("no-such-program-ticketgate", purpose="a program nobody has")

@pytest.mark.integration
@pytest.mark.skipif(True, reason="skipped by a mark")
def test_skipped_by_a_mark():
    pass

def test_plain_skip():
    pytest.skip("not an integration test")

@pytest.mark.integration
def test_integration_that_runs():
    assert True
'''


def run_sample(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != REQUIRE}
    if require is not None:
        env[REQUIRE] = require
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "integration_gate", "-q", "-rA",
         "-p", "no:cacheprovider", "-o", "markers=integration", "test_sample.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_without_the_variable_missing_programs_skip_with_the_reason(tmp_path: Path) -> None:
    done = run_sample(tmp_path, None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 3 skipped" in done.stdout
    assert "no-such-program-ticketgate not installed (a program nobody has)" in done.stdout
    assert "`make test` installs it as root with apt-get" in done.stdout


def test_with_the_variable_an_integration_skip_fails(tmp_path: Path) -> None:
    done = run_sample(tmp_path, "1")
    assert done.returncode == 1, done.stdout + done.stderr
    # The skip inside the test fails it; the skip by a mark happens in setup: an error.
    assert "FAILED test_sample.py::test_needs_a_missing_program" in done.stdout
    assert "ERROR test_sample.py::test_skipped_by_a_mark" in done.stdout
    assert f"integration test skipped while {REQUIRE} is set" in done.stdout
    assert "no-such-program-ticketgate not installed" in done.stdout
    assert "skipped by a mark" in done.stdout
    # A skip of a test that is not an integration test stays a skip.
    assert "1 failed, 1 passed, 1 skipped, 1 error" in done.stdout


def test_the_variable_set_to_zero_is_off(tmp_path: Path) -> None:
    done = run_sample(tmp_path, "0")
    assert done.returncode == 0 and "1 passed, 3 skipped" in done.stdout, done.stdout


def test_need_finds_programs_in_sbin_and_skips_without_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert find("sh") is not None
    need("sh", purpose="a shell")  # present: no skip
    with pytest.raises(pytest.skip.Exception, match="nope-ticketgate not installed"):
        need("sh", "nope-ticketgate", purpose="testing")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match=r"needs root \(testing\)"):
        need("sh", root=True, purpose="testing")
