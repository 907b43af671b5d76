"""The command line around a running daemon: `reload` waits for its answer, a busy port is
said plainly, a closed pipe ends a listing quietly, the log names its process, and a host
name that is no FQDN is warned about."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import free_port, make_mail, run_cli, send, start_serve, ticketgate_cmd
from integration_helpers import wait_until
from ticketgate import exits
from ticketgate.cliformat import PREFIX
from ticketgate.daemon import not_fully_qualified
from ticketgate.store import Store

ERROR = PREFIX.encode()


def stop(proc: subprocess.Popen[bytes]) -> list[dict[str, object]]:
    """SIGTERM `proc`; its JSON log lines."""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    return [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]


@pytest.fixture
def served(site: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    proc = start_serve(site, free_port())
    yield site, proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=30)


def test_reload_reports_the_daemons_answer(served: tuple[Path, subprocess.Popen[bytes]]
                                           ) -> None:
    site, proc = served
    routes = site.parent / "rules/routes.yaml"
    good = run_cli(site, "reload")
    assert good.returncode == exits.OK, good.stderr
    assert good.stdout.decode().startswith(f"the daemon (pid {proc.pid}) reloaded its rules: 3 "
                                           "queues")
    routes.write_text("routes:\n  - name: broken\n    then: {queue: nowhere}\n")
    refused = run_cli(site, "reload")
    assert refused.returncode == exits.DATAERR, refused
    errors = refused.stderr.decode().splitlines()
    assert errors[0].startswith(f"{routes}:3:") and "nowhere" in errors[0], errors
    assert errors[-1] == (f"{PREFIX}the daemon (pid {proc.pid}) refused the new rules (1 "
                          "error(s)) and keeps running with the old ones")
    assert refused.stdout == b""
    # The same refusal twice is answered twice: each answer is new.
    assert run_cli(site, "reload").returncode == exits.DATAERR
    log = stop(proc)
    # Both processes log, and each line says which one it comes from.
    assert {line.get("process") for line in log} == {"serve", "pipeline"}
    reloads = [(line["process"], line["event"]) for line in log
               if line["event"] in ("rules_reloaded", "reload_refused")]
    # The child logs rules_reloaded too, unless the reload came before it was ready (then the
    # new rules were its first): only the parent's lines are certain here.
    assert reloads.count(("serve", "rules_reloaded")) == 1
    assert reloads.count(("serve", "reload_refused")) == 2
    assert ("pipeline", "reload_refused") not in reloads  # the child never sees refused rules


def test_reload_without_a_daemon_or_an_answer(site: Path) -> None:
    none = run_cli(site, "reload")
    assert none.returncode == exits.TEMPFAIL
    assert none.stderr.startswith(ERROR + b"no running daemon found through ")
    # A live process that never answers (a `sleep` that ignores SIGHUP): 75 after --wait.
    sleeper = subprocess.Popen(["sleep", "30"],
                               preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        pid_file = site.parent / "var/ticketgate.pid"
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{sleeper.pid}\n")
        mute = run_cli(site, "reload", "--wait", "0.5")
        assert sleeper.poll() is None  # it got the signal and ignored it
    finally:
        sleeper.kill()
        sleeper.wait()
    assert mute.returncode == exits.TEMPFAIL
    assert b"did not answer within 0.5 s" in mute.stderr


def test_a_busy_port_is_named_and_exits_75(site: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        site.write_text(site.read_text().replace("port: 0", f"port: {port}"))
        done = subprocess.run([*ticketgate_cmd(), "serve", "--config", str(site)],
                              capture_output=True, timeout=60)
    assert done.returncode == exits.TEMPFAIL, done.stderr
    err = done.stderr.decode()
    assert "Traceback" not in err
    assert (f"{PREFIX}cannot listen for SMTP on 127.0.0.1:{port}: Address already in use "
            "(is another ticketgate running?)") in err.splitlines()
    # The pipeline child it had started is gone with it, and no pid file is left behind.
    assert not (site.parent / "var/ticketgate.pid").exists()
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert "listen_failed" in events and "pipeline_child_stopped" in events


def test_listing_into_a_closed_pipe_ends_quietly(site: Path) -> None:
    # Enough spool rows that the listing outgrows a pipe's buffer (64 KiB).
    with Store(load_site_database(site)) as store:
        store.writer.call(lambda tx: [tx.spool_delivery(
            raw=make_mail(), mail_from="kim@example.org", rcpt_to=("helpdesk@example.org",),
            peer="test", protocol="inject") for _ in range(1500)])
    for args in (("spool", "list", "--limit", "1500"), ("tickets", "list"), ("stats",)):
        # What `ticketgate spool list | head -2` does: read two lines, then close the pipe.
        proc = subprocess.Popen([*ticketgate_cmd(), *args, "--config", str(site)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        if args[0] == "spool":
            assert proc.stdout.readline().startswith(b"ID ")
            assert proc.stdout.readline().startswith(b"S1500 ")
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(60) == exits.OK, err
        assert err == b"", err  # no BrokenPipeError, no "Exception ignored"


def load_site_database(site: Path) -> Path:
    from ticketgate.config import load_settings

    return load_settings(site).database


@pytest.mark.parametrize(("name", "why"), [
    ("gate.example.org", None),
    ("mx1.it.lu.se.", None),
    ("localhost", "has no domain"),
    ("helpdesk", "has no domain"),
    ("localhost.localdomain", "ends in .localdomain"),
    ("printer.local", "ends in .local"),
    ("192.0.2.1", "is an IP address"),
    ("[2001:db8::1]", "is an IP address"),
])
def test_which_instance_names_are_fully_qualified(name: str, why: str | None) -> None:
    assert not_fully_qualified(name) == why


def test_serve_warns_when_the_instance_is_no_fqdn(site: Path) -> None:
    site.write_text(site.read_text().replace("instance: gate.test.invalid", "instance: localhost"))
    port = free_port()
    proc = start_serve(site, port)
    send(port, make_mail())
    wait_until(lambda: b"[DDG #1]" in run_cli(site, "tickets", "list").stdout, timeout=30,
               what="the ticket")
    time.sleep(0.2)
    log = stop(proc)
    warnings = [line for line in log if line["event"] == "instance_not_fully_qualified"]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"
    assert "Message-IDs end in @localhost" in str(warnings[0]["detail"])


def test_serve_says_nothing_about_a_good_instance(
        served: tuple[Path, subprocess.Popen[bytes]]) -> None:
    _, proc = served
    assert not [line for line in stop(proc) if line["event"] == "instance_not_fully_qualified"]
