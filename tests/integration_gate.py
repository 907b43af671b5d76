"""System programs for integration tests: find them, skip without them, and let CI refuse skips.

On a machine with only Python 3.11 and make, tests that need Postfix, slapd, openssl,
systemd-analyze, unshare or mount skip with the reason (`need`). `make test` first installs
those programs where it can (.ci/system-packages: as root with apt-get). CI sets
TICKETGATE_REQUIRE_INTEGRATION=1 (.ci/run): then a skipped test marked `integration` is
reported as a failure, so CI never passes by skipping what it was meant to run.

conftest.py imports the hook below, so pytest finds it there; tests/test_integration_gate.py
runs pytest on a small test file with this module as a plugin to show that it does its job.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator
from typing import Any

import pytest

REQUIRE = "TICKETGATE_REQUIRE_INTEGRATION"
INSTALL_HINT = "as root with apt-get (.ci/system-packages)"

# Debian puts daemons (slapd, postfix) in the sbin directories, which a user's PATH may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def find(program: str) -> str | None:
    """The program's path, looking in the sbin directories too; None when it is not there."""
    return shutil.which(program, path=SEARCH_PATH)


def need(*programs: str, root: bool = False, purpose: str) -> None:
    """Skip the calling test, with the reason, unless every program is installed (and, with
    `root`, unless we are root). `purpose` says what the programs are for."""
    missing = [p for p in programs if find(p) is None]
    if missing:
        them = "them" if len(missing) > 1 else "it"
        pytest.skip(f"{', '.join(missing)} not installed ({purpose}); `make test` installs "
                    f"{them} {INSTALL_HINT}")
    if root and os.geteuid() != 0:
        pytest.skip(f"needs root ({purpose})")


def required() -> bool:
    return os.environ.get(REQUIRE, "") not in ("", "0")


def _reason(report: pytest.TestReport) -> str:
    longrepr: Any = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (file, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """With TICKETGATE_REQUIRE_INTEGRATION set, an `integration` test that skips fails."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if (report.skipped and required() and item.get_closest_marker("integration") is not None
            and not hasattr(report, "wasxfail")):
        report.outcome = "failed"
        report.longrepr = (f"integration test skipped while {REQUIRE} is set "
                           f"(CI must run it): {_reason(report)}")
