"""The hardened unit in systemd/: systemd-analyze accepts it, and the daemon keeps its side of
the contract (READY=1 once listening, STOPPING=1 and exit 0 on SIGTERM, reload on SIGHUP),
also inside an imitation of the unit's sandbox (read-only file system, W^X memory)."""

from __future__ import annotations

import ctypes
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, make_mail, write_site
from integration_gate import need
from integration_helpers import NotifySocket, Served, query, wait_until
from ticketgate.config import load_settings

UNIT = REPO / "systemd/ticketgate.service"
SAMPLE_SETTINGS = REPO / "systemd/ticketgate.yaml"
INSTALLED_BINARY = "/opt/ticketgate/bin/ticketgate"  # where the unit expects the install
# The README records this; a change to the unit that loosens it should be a conscious one.
MAX_EXPOSURE = 1.5



def unit_settings() -> dict[str, list[str]]:
    """Key -> values of the [Service] section (keys may repeat)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def local_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart/ExecReload pointing at this checkout's ticketgate, because
    `systemd-analyze verify` wants the executables to exist."""
    binary = shutil.which("ticketgate", path=str(Path(sys.executable).parent)) \
        or shutil.which("ticketgate")
    if binary is None:
        pytest.skip("no ticketgate executable installed (make install)")
    path = tmp_path / "ticketgate.service"
    path.write_text(UNIT.read_text().replace(INSTALLED_BINARY, binary))
    return path


def test_unit_has_the_contract_the_daemon_implements() -> None:
    s = unit_settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["on-failure"]
    assert "/bin/kill -HUP $MAINPID" in s["ExecReload"]
    assert s["ExecStart"][0].startswith(f"{INSTALLED_BINARY} serve --config /etc/ticketgate/")
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges",
                "RestrictAddressFamilies", "SystemCallFilter", "StateDirectory",
                "ConfigurationDirectory", "User"):
        assert key in s, key
    assert s["ProtectSystem"] == ["strict"]
    assert "@system-service" in s["SystemCallFilter"]


def test_sample_settings_fit_the_unit() -> None:
    # The one writable place under ProtectSystem=strict is the StateDirectory.
    settings = load_settings(SAMPLE_SETTINGS)
    state = Path("/var/lib") / unit_settings()["StateDirectory"][0]
    assert settings.database.parent == state
    pid_file = getattr(settings, "pid_file", None)  # for `ticketgate reload`, beside the db
    assert pid_file is None or pid_file.parent == state
    assert settings.delivery.transport == "smtp"
    assert settings.smtp is not None and settings.smtp.host == "127.0.0.1"


@pytest.mark.integration
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    need("systemd-analyze", purpose="systemd's own check of the unit")
    out = subprocess.run(["systemd-analyze", "verify", str(local_unit(tmp_path))],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    # verify reports unknown keys and bad values as warnings yet exits 0: allow none.
    assert "ticketgate.service" not in out.stderr, out.stderr


@pytest.mark.integration
def test_systemd_analyze_security_exposure_is_low(tmp_path: Path) -> None:
    need("systemd-analyze", purpose="systemd's score of the unit's sandbox")
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(local_unit(tmp_path))],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    if "--offline" in out.stderr and "unrecognized" in out.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", out.stdout)
    assert match, out.stdout + out.stderr
    print(f"systemd-analyze security: {match.group(1)} {match.group(2)}")
    assert float(match.group(1)) <= MAX_EXPOSURE, out.stdout


def _deny_write_execute() -> None:
    # What MemoryDenyWriteExecute=yes enforces, with the kernel's own switch (Linux >= 6.3).
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_mdwe, pr_mdwe_refuse_exec_gain = 65, 1
    if libc.prctl(pr_set_mdwe, pr_mdwe_refuse_exec_gain, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")
    pr_set_no_new_privs = 38
    libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0)


def _mdwe_supported() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c",
         "import ctypes; l = ctypes.CDLL(None); raise SystemExit(l.prctl(66, 0, 0, 0, 0) < 0)"],
        capture_output=True, timeout=30)
    return probe.returncode == 0


def _sandbox(state: Path) -> tuple[list[str], object]:
    """A wrapper that runs the daemon the way the unit does, as far as a test can: the whole
    file system read-only except the state directory, and no writable-executable memory."""
    need("unshare", "mount", "sh", root=True, purpose="an imitation of the unit's sandbox")
    if not _mdwe_supported():
        pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3)")
    # The state directory stays writable (StateDirectory=), /var/tmp gets a private tmpfs
    # (PrivateTmp=; SQLite puts its temporary files there), everything else is read-only.
    script = ('mount --bind "$0" "$0" && mount -t tmpfs -o size=64m tmpfs /var/tmp'
              ' && mount -o remount,bind,ro / && exec "$@"')
    prefix = ["unshare", "--mount", "--propagation", "private", "--",
              "sh", "-c", script, str(state)]
    return prefix, _deny_write_execute


@pytest.mark.integration
@pytest.mark.parametrize("sandboxed", [False, True], ids=["plain", "sandboxed"])
def test_notify_ready_once_listening_reload_on_hup_stopping_on_term(
    tmp_path: Path, sandboxed: bool
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    site = write_site(tmp_path)
    site.write_text(site.read_text().replace("database: var/", f"database: {state}/"))
    notify = NotifySocket(state / "notify")
    prefix, preexec = _sandbox(state) if sandboxed else ([], None)
    served = Served(site, env={"NOTIFY_SOCKET": str(notify.path)}, prefix=prefix,
                    preexec_fn=preexec)  # type: ignore[arg-type]
    try:
        notify.wait_for("READY=1", timeout=60)
        # READY=1 promises a listener that answers: connect at once, no retries.
        port = served.ports("smtp", timeout=5)["smtp"]
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            assert client.noop()[0] == 250
            client.sendmail("kim@example.org", ["helpdesk@example.org"], make_mail())
        # The whole pipeline (MIME parsing included) must run on a read-only install.
        wait_until(lambda: query(state / "ticketgate.db", "SELECT id FROM tickets"),
                   timeout=30, what="the ticket", detail=served.log)

        served.proc.send_signal(signal.SIGHUP)  # what ExecReload sends
        served.wait_for("rules_reloaded", timeout=30)
        assert served.proc.poll() is None, served.log()

        served.proc.terminate()
        notify.wait_for("STOPPING=1", timeout=30)
        assert served.proc.wait(45) == 0, served.log()  # TimeoutStopSec=45s
        assert not any(e.get("level") in ("error", "critical") for e in served.events), \
            served.log()
    finally:
        served.close()
        notify.close()


@pytest.mark.integration
def test_inject_outside_the_sandbox_wakes_the_daemon_inside(tmp_path: Path) -> None:
    # Postfix's pipe runs `inject` outside the unit; the doorbell FIFO beside the database
    # (the StateDirectory, writable inside) must reach the sandboxed daemon all the same.
    state = tmp_path / "state"
    state.mkdir()
    site = write_site(tmp_path)
    site.write_text(site.read_text().replace("database: var/", f"database: {state}/"))
    prefix, preexec = _sandbox(state)
    served = Served(site, prefix=prefix, preexec_fn=preexec)  # type: ignore[arg-type]
    try:
        served.wait_for("pipeline_child_ready", timeout=60)
        assert (state / "ticketgate.db.wake").is_fifo()
        waits = []
        for n in range(3):
            done = subprocess.run(
                [sys.executable, "-m", "ticketgate.cli", "inject", "--config", str(site),
                 "--rcpt", "helpdesk@example.org", "--from", "kim@example.org"],
                input=make_mail(f"Projektorn i sal {n}"), capture_output=True, timeout=60)
            assert done.returncode == 0, done.stderr
            spooled = time.monotonic()
            wait_until(lambda n=n: query(state / "ticketgate.db",
                                         "SELECT id FROM tickets WHERE subject = ?",
                                         (f"Projektorn i sal {n}",)),
                       timeout=30, interval=0.005, what=f"ticket {n}", detail=served.log)
            waits.append(time.monotonic() - spooled)
        assert max(waits) < 0.5, waits  # the idle check alone: about 1 s each
        assert served.terminate(45) == 0, served.log()
    finally:
        served.close()
