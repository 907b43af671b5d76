"""Observability: the Prometheus endpoint's counters and histograms, and log lines that name
the message they are about (spool_id, message_id, ticket)."""

from __future__ import annotations

import json
import re
import signal
import smtplib
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import (
    Running,
    db_rows,
    free_port,
    make_mail,
    message_id_of,
    send,
    start_serve,
    write_site,
)
from ticketgate import metrics
from ticketgate.config import load_settings
from ticketgate.smtp import peek_message_id


def _scrape(address: tuple[str, int]) -> dict[str, float]:
    host, port = address
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def _delta(after: dict[str, float], before: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def _wait(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_metrics_endpoint_counts_accept_pipeline_and_delivery(tmp_path: Path) -> None:
    site = write_site(tmp_path, "metrics: {host: 127.0.0.1, port: 0}\n")
    running = Running(load_settings(site))
    try:
        address = running.daemon.metrics_address
        assert address is not None
        before = _scrape(address)
        port = running.port()
        send(port, make_mail(subject="Skrivaren på plan 3 skriver inte ut"))
        refused = send(port, make_mail(), rcpt=["helpdesk@example.org", "someone@example.org"])
        assert refused["someone@example.org"][0] == 550
        running.drain()
        _wait(lambda: db_rows(site, "SELECT count(*) FROM outbox WHERE state = 'sent'")[0][0] >= 2)
        _wait(lambda: _delta(_scrape(address), before,
                             'ticketgate_deliveries_total{kind="acknowledgement",result="sent"}')
              >= 2)
        after = _scrape(address)
    finally:
        running.stop()
    assert _delta(after, before, 'ticketgate_mails_accepted_total{protocol="smtp"}') == 2
    assert _delta(after, before, 'ticketgate_mails_refused_total{code_class="5xx",'
                                 'protocol="smtp",reason="not_function_address"}') == 1
    assert _delta(after, before, 'ticketgate_accept_seconds_count{protocol="smtp"}') == 2
    assert _delta(after, before, 'ticketgate_accept_seconds_bucket{le="+Inf",protocol="smtp"}') == 2
    assert _delta(after, before, 'ticketgate_pipeline_messages_total{action="new_ticket"}') == 2
    assert _delta(after, before, "ticketgate_pipeline_seconds_count") == 2
    assert _delta(after, before, "ticketgate_pipeline_seconds_sum") > 0
    assert _delta(after, before, 'ticketgate_deliveries_total{kind="notification",'
                                 'result="sent"}') >= 2
    assert _delta(after, before, 'ticketgate_delivery_seconds_count{transport="maildir"}') >= 4
    # The endpoint goes with the daemon, and recording stops.
    with pytest.raises(OSError):
        _scrape(address)
    assert metrics._metrics is None


def test_metrics_off_without_settings_or_package(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    running = Running(load_settings(write_site(tmp_path)))
    try:
        assert running.daemon.metrics_address is None
        assert metrics._metrics is None
        send(running.port(), make_mail())  # recording is a no-op
        running.drain()
    finally:
        running.stop()
    monkeypatch.setitem(__import__("sys").modules, "prometheus_client", None)
    from ticketgate.config import Listener

    assert metrics.start(Listener("127.0.0.1", 0)) is None  # logged, and the daemon serves on


def _json_lines(stderr: bytes) -> list[dict[str, object]]:
    lines = []
    for raw in stderr.decode().splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
    return lines


def test_log_lines_about_a_message_name_it(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    port = free_port()
    proc = start_serve(site, port)
    raw = make_mail(subject="Skrivaren på plan 3 skriver inte ut")
    message_id = message_id_of(raw)
    try:
        send(port, raw)
        _wait(lambda: db_rows(site, "SELECT count(*) FROM outbox WHERE state = 'sent'")[0][0]
              >= 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0
    lines = _json_lines(stderr)
    spool_id = db_rows(site, "SELECT id FROM spool")[0][0]
    ours = [line for line in lines if line.get("spool_id") == spool_id]
    events = [line["event"] for line in ours]
    assert "message_spooled" in events and "message_processed" in events
    for line in ours:
        assert line["message_id"] == message_id, line
        assert "ticket" in line or line["event"] == "message_spooled", line
    processed = next(line for line in ours if line["event"] == "message_processed")
    assert processed["ticket"] == "[DDG #1]"
    # The acknowledgement and notification: no spool row of their own; their own Message-ID,
    # the ticket, and the outbox row.
    sent = [line for line in lines if line["event"] == "outbox_sent"]
    assert len(sent) == 2
    for line in sent:
        assert line["ticket"] == "[DDG #1]"
        assert str(line["message_id"]).startswith("tg.1.")
        assert line["outbox_id"]


def test_peek_message_id_reads_only_the_top_header_block() -> None:
    assert peek_message_id(b"From: a@b\r\nMessage-ID: <x@y>\r\n\r\nbody") == "x@y"
    assert peek_message_id(b"message-id:<x@y>\nSubject: s\n\nbody") == "x@y"
    assert peek_message_id(b"Subject: s\r\nMessage-Id:\r\n   <x@y>\r\n\r\n") == "x@y"  # folded
    assert peek_message_id(b"From sender Mon Jan 1\nMessage-ID: <m@b>\n\n") == "m@b"  # mbox
    assert peek_message_id(b"Resent-Message-ID: <r@y>\r\n\r\n") is None
    assert peek_message_id(b"Subject: s\r\n\r\nMessage-ID: <body@y>\r\n") is None
    assert peek_message_id(b"Subject: s\r\nnot a header\r\nMessage-ID: <a@b>\r\n\r\n") is None
    assert peek_message_id(b"X: y\r\n" * 2000 + b"Message-ID: <late@y>\r\n\r\n") is None
    assert peek_message_id(b"") is None
    assert peek_message_id(b"\xff\xfe" * 100_000) is None
    started = time.perf_counter()
    peek_message_id(b"X: a\r\n" + b" b\r\n" * 2_000_000 + b"\r\n")  # bounded work
    assert time.perf_counter() - started < 0.05


def test_a_refused_client_after_shutdown_is_counted(tmp_path: Path) -> None:
    """A 421 at connect during the drain shows as a refusal of class 4xx."""
    site = write_site(tmp_path, "metrics: {host: 127.0.0.1, port: 0}\n")
    running = Running(load_settings(site))
    address = running.daemon.metrics_address
    assert address is not None
    port = running.port()
    holder = smtplib.SMTP("127.0.0.1", port, timeout=10)
    holder.ehlo()
    holder.mail("kim@example.org")  # a transaction in flight keeps the drain open
    before = _scrape(address)
    running.daemon.request_stop(running.loop)
    _wait(lambda: running.daemon.sessions.draining)
    with pytest.raises(smtplib.SMTPConnectError, match=r"4\.3\.2"):
        smtplib.SMTP("127.0.0.1", port, timeout=10)
    after = _scrape(address)
    holder.rcpt("helpdesk@example.org")
    code, reply = holder.data(make_mail())
    assert code == 250 and re.search(rb"queued as S\d+", reply)
    holder.close()
    running.thread.join(30)
    assert _delta(after, before, 'ticketgate_mails_refused_total{code_class="4xx",'
                                 'protocol="smtp",reason="shutting_down"}') == 1
