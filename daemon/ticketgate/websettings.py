"""Settings of the staff desk (`web:`): where it listens, how staff log in, sessions, limits.

Part of the settings (config.py loads them through `load_web`); the desk itself is web/.
Without a `web:` section a settings file serves no desk; the embedded default (`make run`)
serves it on 127.0.0.1:8025.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .listeners import LOOPBACK_NETWORKS, Listener
from .yamlsource import ConfigError, Located

DEFAULT_WEB = Listener("127.0.0.1", 8025)


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed within `window` seconds, per staff address and per client."""

    per_address: int = 5
    per_client: int = 20
    window: float = 900.0


@dataclass(frozen=True)
class WebSettings:
    """The staff desk: listener, accounts, session cookie, reverse proxies, login limits."""

    listener: Listener = DEFAULT_WEB
    secret_file: Path = Path("var/web.secret")  # signs session cookies; made if missing
    auth: Literal["local", "ldap"] = "local"
    password_file: Path = Path("var/staff.passwords")  # auth local: argon2id hashes
    admins: tuple[str, ...] = ()  # see every queue
    session_hours: float = 12.0
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    trusted_proxies: tuple[str, ...] = LOOPBACK_NETWORKS  # whose X-Forwarded-* is believed
    login: LoginLimits = LoginLimits()


def _path(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def default_web(base: Path) -> WebSettings:
    """The embedded default's desk, with its files under `base`/var."""
    return WebSettings(secret_file=base / "var/web.secret",
                       password_file=base / "var/staff.passwords")


def load_web(doc: Located, value: dict[str, Any] | None, base: Path) -> WebSettings | None:
    """The `web:` section (already schema-valid); None: no desk."""
    if value is None:
        return None
    plain = WebSettings()
    proxies = tuple(str(p) for p in value.get("trusted_proxies", plain.trusted_proxies))
    for i, network in enumerate(proxies):
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError([doc.error(("web", "trusted_proxies", i),
                                         f"not a network: {network!r}")]) from None
    limits = value.get("login") or {}
    plain_limits = LoginLimits()
    return WebSettings(
        listener=Listener(str(value.get("host", DEFAULT_WEB.host)),
                          int(value.get("port", DEFAULT_WEB.port))),
        secret_file=_path(base, value.get("secret_file", "var/web.secret")),
        auth=value.get("auth", plain.auth),
        password_file=_path(base, value.get("password_file", "var/staff.passwords")),
        admins=tuple(str(a).strip().lower() for a in value.get("admins", ())),
        session_hours=float(value.get("session_hours", plain.session_hours)),
        secure_cookies=value.get("secure_cookies", plain.secure_cookies),
        trusted_proxies=proxies,
        login=LoginLimits(
            per_address=int(limits.get("per_address", plain_limits.per_address)),
            per_client=int(limits.get("per_client", plain_limits.per_client)),
            window=float(limits.get("window", plain_limits.window)),
        ),
    )
