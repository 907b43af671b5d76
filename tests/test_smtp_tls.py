"""Inbound STARTTLS for relays on other hosts, and `tls.required` for clients not on loopback.

The certificate is made by openssl for this machine's own non-loopback address, so a relay
"on another host" is a client bound to that address; the test skips where there is none.
"""

from __future__ import annotations

import contextlib
import shutil
import smtplib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Running, make_mail, write_site
from promise_helpers import wait_until
from ticketgate.config import load_settings

pytestmark = pytest.mark.integration


def outside_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, or None."""
    candidates: list[str] = []
    with contextlib.suppress(OSError):
        candidates += [str(info[4][0]) for info in socket.getaddrinfo(
            socket.gethostname(), None, socket.AF_INET)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe, \
            contextlib.suppress(OSError):
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        candidates.append(probe.getsockname()[0])
    return next((a for a in candidates if not a.startswith("127.") and a != "0.0.0.0"), None)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path, str]:
    openssl = shutil.which("openssl")
    address = outside_address()
    if openssl is None:
        pytest.skip("openssl is not installed")
    if address is None:
        pytest.skip("this machine has no IPv4 address besides loopback")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=gate.test.invalid",
                    "-addext", f"subjectAltName=IP:{address}"],
                   check=True, capture_output=True, timeout=60)
    return cert, key, address


@pytest.fixture
def gate(tmp_path: Path, certificate: tuple[Path, Path, str]) -> Iterator[Running]:
    cert, key, address = certificate
    site = write_site(tmp_path)
    site.write_text(site.read_text().replace(
        "smtp: {host: 127.0.0.1, port: 0}",
        f"smtp: {{host: {address}, port: 0, trusted_relays: [{address}/32],"
        f" tls: {{cert_file: {cert}, key_file: {key}, required: true}}}}"))
    running = Running(load_settings(site))
    yield running
    running.stop()


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))  # the name checked: the address


def test_a_relay_on_another_host_must_starttls_and_then_delivers(
    gate: Running, certificate: tuple[Path, Path, str]
) -> None:
    cert, _, address = certificate
    with smtplib.SMTP(address, gate.port(), source_address=(address, 0), timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        code, text = smtp.mail("relay@example.org")
        assert (code, text[:5]) == (530, b"5.7.0"), text
        smtp.rset()
        code, _ = smtp.starttls(context=client_context(cert))
        assert code == 220
        assert smtp.sock is not None and isinstance(smtp.sock, ssl.SSLSocket)
        assert smtp.sendmail("relay@example.org", ["helpdesk@example.org"],
                             make_mail("Skrivaren i rum 2110 matar fel")) == {}
    gate.drain()
    assert gate.store.view.conn.execute("SELECT count(*) FROM tickets").fetchone() == (1,)
    # The session's slot comes back when the TLS connection ends.
    wait_until(lambda: gate.daemon.sessions.active == 0, timeout=5, what="the slot freed")


def test_tls_required_spares_loopback(tmp_path: Path, certificate: tuple[Path, Path, str]
                                      ) -> None:
    cert, key, _ = certificate
    site = write_site(tmp_path)
    site.write_text(site.read_text().replace(
        "smtp: {host: 127.0.0.1, port: 0}",
        f"smtp: {{host: 127.0.0.1, port: 0, tls: {{cert_file: {cert}, key_file: {key},"
        " required: true}}"))
    running = Running(load_settings(site))
    try:
        with smtplib.SMTP("127.0.0.1", running.port(), timeout=10) as smtp:
            assert smtp.sendmail("kim@example.org", ["helpdesk@example.org"], make_mail()) == {}
    finally:
        running.stop()
