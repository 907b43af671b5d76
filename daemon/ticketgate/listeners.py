"""Settings of the SMTP/LMTP edge: where it listens, whom it trusts, TLS, connection limits.

Part of the settings (config.py loads them through `load_listener` and `load_limits`); split
off because they are one idea of their own: who may take how much of the listener.

- `trusted_relays` (per listener; loopback by default): the site's own mail servers. They
  keep `reserved_for_relays` of `max_connections` for themselves, have no per-client limits
  and keep the normal timeout when the listener is busy. A listener bound to an address
  that is not loopback must name them: otherwise anybody on the network would count as
  the site's own MTA (or, the default kept, nobody could relay to it at all).
- `tls` (optional): STARTTLS for relays on other hosts; `required: true` refuses MAIL
  from any client not on loopback until it has started TLS.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .yamlsource import ConfigError, Located

LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class InboundTls:
    """STARTTLS offered by the SMTP listener: the certificate chain and key (PEM files)."""

    cert_file: Path
    key_file: Path
    required: bool = False  # clients not on loopback must STARTTLS before MAIL

    def context(self) -> ssl.SSLContext:
        """A server context with this certificate (TLS 1.2 or later)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


@dataclass(frozen=True)
class Listener:
    """An address a server listens on; for SMTP and LMTP also whom it trusts, and TLS."""

    host: str
    port: int
    trusted_relays: tuple[str, ...] = LOOPBACK_NETWORKS  # networks, as ip_network reads them
    tls: InboundTls | None = None


@dataclass(frozen=True)
class ConnectionLimits:
    """How much of the listener one client may take, and how it defends itself when busy.

    Untrusted clients (not in the listener's trusted_relays) may hold `per_client`
    connections at once and open `per_client_per_minute` a minute (IPv6 clients counted
    by their /64); together they may use `max_connections` less the slots reserved for the
    relays. Once `busy_at` of `max_connections` are open, an untrusted client's idle and
    command timeout is `busy_timeout` seconds instead of `timeout`. Every session may send
    `junk_commands` commands that move no mail (NOOP, RSET, HELP, VRFY, EXPN, a second
    EHLO, or any command refused with 5xx) between two accepted mails.
    """

    per_client: int = 10
    per_client_per_minute: int = 60
    reserved_for_relays: int | None = None  # None: an eighth of max_connections (at least 1)
    busy_at: float = 0.5
    busy_timeout: float = 10.0
    junk_commands: int = 20

    def reserved(self, max_connections: int) -> int:
        """Slots only trusted relays may take."""
        if self.reserved_for_relays is not None:
            return self.reserved_for_relays
        return min(max(1, max_connections // 8), max_connections - 1)


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the listener on this machine."""
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False  # a name (or "", every address): it may well be reachable from outside


def load_listener(doc: Located, key: str, value: Any, base: Path) -> Listener | None:
    """The `smtp:` or `lmtp:` mapping (already schema-valid), checked as the module says."""
    if value is None:
        return None
    host = str(value.get("host", "127.0.0.1"))
    relays = value.get("trusted_relays")
    if relays is None and not is_loopback(host):
        raise ConfigError([doc.error(
            (key, "host"),
            f"{key}.host {host!r} is not a loopback address, and {key}.trusted_relays is not"
            " set: name the networks of the mail servers that relay to this helpdesk (e.g."
            " [192.0.2.25/32]); every other client is then held to the per-client limits")])
    networks: list[str] = []
    for i, text in enumerate(relays if relays is not None else LOOPBACK_NETWORKS):
        try:
            networks.append(str(ipaddress.ip_network(str(text), strict=False)))
        except ValueError as exc:
            raise ConfigError([doc.error((key, "trusted_relays", i),
                                         f"{key}.trusted_relays: {exc}")]) from None
    tls = _tls(doc, key, value.get("tls"), base)
    return Listener(host, int(value["port"]), tuple(networks), tls)


def _tls(doc: Located, key: str, value: Any, base: Path) -> InboundTls | None:
    if not value:
        return None
    paths = {}
    for name in ("cert_file", "key_file"):
        path = Path(value[name])
        paths[name] = path if path.is_absolute() else base / path
    tls = InboundTls(paths["cert_file"], paths["key_file"], bool(value.get("required", False)))
    try:
        tls.context()  # read once now, so a bad file stops the start (exit 78), not a client
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError([doc.error((key, "tls"), f"{key}.tls: cannot use the certificate"
                                     f" {tls.cert_file} with key {tls.key_file}: {exc}")]
                          ) from None
    return tls


def load_limits(doc: Located, value: Any, max_connections: int) -> ConnectionLimits:
    """The `connections:` mapping (already schema-valid)."""
    plain = ConnectionLimits()
    value = value or {}
    limits = ConnectionLimits(
        per_client=int(value.get("per_client", plain.per_client)),
        per_client_per_minute=int(value.get("per_client_per_minute",
                                            plain.per_client_per_minute)),
        reserved_for_relays=(int(value["reserved_for_relays"])
                             if value.get("reserved_for_relays") is not None else None),
        busy_at=float(value.get("busy_at", plain.busy_at)),
        busy_timeout=float(value.get("busy_timeout", plain.busy_timeout)),
        junk_commands=int(value.get("junk_commands", plain.junk_commands)),
    )
    if limits.reserved(max_connections) >= max_connections:
        raise ConfigError([doc.error(
            ("connections", "reserved_for_relays"),
            f"connections.reserved_for_relays ({limits.reserved_for_relays}) must be below"
            f" max_connections ({max_connections}), or no other client could connect")])
    return limits
