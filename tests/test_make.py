"""The Makefile: `make run` and `make test` reinstall only when pyproject.toml changed.

Each test runs the real Makefile with `make -n` (print, do not run) in a copy of the checkout's
Makefile and pyproject.toml with a stand-in venv, and reads which commands make would run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

if shutil.which("make") is None:  # the README's precondition, but be kind to a bare runner
    pytest.skip("make is not installed", allow_module_level=True)


def checkout(tmp_path: Path) -> Path:
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    python = tmp_path / ".venv/bin/python"
    python.parent.mkdir(parents=True)
    python.touch()
    return tmp_path


def planned(where: Path, target: str) -> str:
    # Run as a top-level make even under `make test`: no inherited flags or directory lines.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    done = subprocess.run(["make", "--no-print-directory", "-n", target], cwd=where, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def age(path: Path, seconds: float) -> None:
    """Make `path` look `seconds` old."""
    when = path.stat().st_mtime - seconds
    os.utime(path, (when, when))


def test_run_installs_once_then_only_after_pyproject_changes(tmp_path: Path) -> None:
    site = checkout(tmp_path)
    first = planned(site, "run")
    assert "pip install" in first and "touch .venv/.installed" in first
    assert first.rstrip().endswith("ticketgate serve")
    (site / ".venv/.installed").touch()
    age(site / "pyproject.toml", 60)
    assert planned(site, "run").strip() == ".venv/bin/ticketgate serve"
    (site / "pyproject.toml").touch()
    age(site / ".venv/.installed", 60)
    assert "pip install -q -e '.'" in planned(site, "run")


def test_test_installs_the_test_extras_only_when_needed(tmp_path: Path) -> None:
    site = checkout(tmp_path)
    first = planned(site, "test")
    assert "pip install -q -e '.[test]'" in first
    # The test extras include the daemon's own: both stamps become current.
    assert "touch .venv/.installed-test .venv/.installed" in first
    assert ".ci/system-packages" in first and "pytest" in first
    (site / ".venv/.installed-test").touch()
    age(site / "pyproject.toml", 60)
    again = planned(site, "test")
    assert "pip install" not in again and "pytest" in again


def test_explicit_install_always_installs(tmp_path: Path) -> None:
    site = checkout(tmp_path)
    (site / ".venv/.installed").touch()
    age(site / "pyproject.toml", 60)
    assert "pip install -q -e '.'" in planned(site, "install")
