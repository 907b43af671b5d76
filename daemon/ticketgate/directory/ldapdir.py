"""The `ldap` backend: one search per lookup in an LDAP directory, through ldap3.

One connection is kept open and reused; it is opened (and bound) on the first lookup, not at
start, so the daemon starts while the directory is down. Every network step is bounded by
the timeout; any failure closes the connection and is reported as DirectoryUnavailable, and
the next lookup connects afresh.
"""

from __future__ import annotations

import contextlib
import math
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import structlog
from ldap3 import ANONYMOUS, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from ..config import LdapSettings
from ..yamlsource import ConfigError, Position, SourceError
from .model import AFFILIATIONS, DirectoryUnavailable, Person

log = structlog.get_logger("ticketgate.directory")

SUCCESS, SIZE_LIMIT_EXCEEDED = 0, 4


def _read_password(path: Path) -> str:
    return path.read_text(encoding="utf-8").rstrip("\r\n")


class LdapDirectory:
    """People from an LDAP directory, found by the configured filters."""

    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings
        self.description = f"ldap {settings.url}"
        self.timeout: float | None = settings.timeout
        self._fields = dict(settings.attributes)
        self._affiliations = dict(settings.affiliations)
        self._wanted = sorted({a for names in self._fields.values() for a in names})
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        if settings.password_file is not None:
            try:
                _read_password(settings.password_file)
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError([SourceError(Position(str(settings.password_file), 1, 1),
                                               f"cannot read the LDAP password: {exc}")]) from None

    def by_address(self, address: str) -> Person | None:
        return self._find(self.settings.address_filter.replace(
            "{address}", escape_filter_chars(address)))

    def by_username(self, username: str) -> Person | None:
        return self._find(self.settings.username_filter.replace(
            "{username}", escape_filter_chars(username)))

    def close(self) -> None:
        with self._lock:
            self._drop()

    # -- the connection -----------------------------------------------------------------

    def _connect(self) -> Connection:
        s = self.settings
        tls = Tls(validate=ssl.CERT_REQUIRED,
                  ca_certs_file=str(s.ca_file) if s.ca_file else None)
        server = Server(s.url, use_ssl=s.url.lower().startswith("ldaps:"), tls=tls,
                        connect_timeout=s.timeout, get_info=NONE)
        password = _read_password(s.password_file) if s.password_file else None
        conn = Connection(
            server,
            user=s.bind_dn,
            password=password,
            authentication=SIMPLE if s.bind_dn else ANONYMOUS,
            # ldap3 packs this into SO_RCVTIMEO as whole seconds; the Lookup's deadline keeps
            # the precise timeout.
            receive_timeout=max(1, math.ceil(s.timeout)),
            read_only=True,
            auto_referrals=False,
            raise_exceptions=False,
        )
        try:
            conn.open()
            if s.starttls and not conn.start_tls():
                raise DirectoryUnavailable(f"StartTLS refused: {_result(conn)}")
            if not conn.bind():
                raise DirectoryUnavailable(f"bind as {s.bind_dn or 'anonymous'} refused: "
                                           f"{_result(conn)}")
        except BaseException:
            _unbind(conn)
            raise
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            _unbind(self._conn)
            self._conn = None

    def _find(self, search_filter: str) -> Person | None:
        timeout = self.settings.timeout
        # An earlier lookup that outlived its deadline may still hold the connection.
        if not self._lock.acquire(timeout=timeout):
            raise DirectoryUnavailable("an earlier lookup has not ended")
        try:
            started = time.monotonic()
            reused = self._conn is not None
            try:
                return self._search(search_filter)
            except (LDAPException, OSError, DirectoryUnavailable) as exc:
                self._drop()
                # A reused connection may just have been closed by the server while idle:
                # try once more on a fresh one, unless the first try already took long.
                if not reused or time.monotonic() - started > timeout / 2:
                    raise _unavailable(exc) from exc
            try:
                return self._search(search_filter)
            except (LDAPException, OSError, DirectoryUnavailable) as exc:
                self._drop()
                raise _unavailable(exc) from exc
        finally:
            self._lock.release()

    def _search(self, search_filter: str) -> Person | None:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        conn.search(
            self.settings.base_dn, search_filter, search_scope=SUBTREE,
            attributes=self._wanted, size_limit=2,
            time_limit=max(1, math.ceil(self.settings.timeout)),
        )
        code = conn.result.get("result") if conn.result else None
        if code not in (SUCCESS, SIZE_LIMIT_EXCEEDED):
            raise DirectoryUnavailable(f"search {search_filter} failed: {_result(conn)}")
        entries = [r for r in (conn.response or []) if r.get("type") == "searchResEntry"]
        if len(entries) > 1:
            log.warning("directory_ambiguous", filter=search_filter,
                        entries=[e.get("dn") for e in entries])
            return None
        return self._person(entries[0]["attributes"]) if entries else None

    # -- entries ----------------------------------------------------------------------

    def _person(self, attributes: dict[str, Any]) -> Person | None:
        values = {k.lower(): _strings(v) for k, v in attributes.items()}

        def first(field: str) -> str:
            for name in self._fields.get(field, ()):
                found = values.get(name.lower())
                if found:
                    return found[0]
            return ""

        username = first("username")
        if not username:
            return None
        kinds = {
            self._affiliations.get(v.lower(), "")
            for name in self._fields.get("affiliation", ())
            for v in values.get(name.lower(), [])
        }
        # Someone both staff and student is handled as staff: precedence as AFFILIATIONS.
        affiliation = next((a for a in AFFILIATIONS if a in kinds), "")
        return Person(
            username=username,
            name=first("name"),
            email=first("email").lower(),
            affiliation=affiliation,  # type: ignore[arg-type]
            department=first("department"),
            phone=first("phone"),
        )


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        if text.strip():
            out.append(text.strip())
    return out


def _result(conn: Connection) -> str:
    r = conn.result or {}
    return " ".join(str(p) for p in (r.get("description"), r.get("message")) if p) or "no result"


def _unavailable(exc: BaseException) -> DirectoryUnavailable:
    if isinstance(exc, DirectoryUnavailable):
        return exc
    return DirectoryUnavailable(f"{type(exc).__name__}: {exc}")


def _unbind(conn: Connection) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection: nothing to learn
        conn.unbind()
