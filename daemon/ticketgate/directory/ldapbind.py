"""Checking a staff member's password against the LDAP directory (the desk's `auth: ldap`).

The directory settings' service account (or an anonymous bind) finds the entry whose address
is the staff address, by `address_filter`; a second connection then binds as that entry's DN
with the password given. An empty password is refused before any bind (an LDAP "unauthenticated
bind" would succeed without one).
"""

from __future__ import annotations

import contextlib
import math
import ssl

from ldap3 import ANONYMOUS, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from ..config import LdapSettings
from .model import DirectoryUnavailable


def _server(s: LdapSettings) -> Server:
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(s.ca_file) if s.ca_file else None)
    return Server(s.url, use_ssl=s.url.lower().startswith("ldaps:"), tls=tls,
                  connect_timeout=s.timeout, get_info=NONE)


def _open(s: LdapSettings, user: str | None, password: str | None) -> Connection | None:
    """A bound connection, or None when the bind was refused (wrong credentials)."""
    conn = Connection(_server(s), user=user, password=password,
                      authentication=SIMPLE if user else ANONYMOUS,
                      receive_timeout=max(1, math.ceil(s.timeout)), read_only=True,
                      auto_referrals=False, raise_exceptions=False)
    conn.open()
    if s.starttls and not conn.start_tls():
        raise DirectoryUnavailable("StartTLS refused")
    if not conn.bind():
        with contextlib.suppress(Exception):
            conn.unbind()
        return None
    return conn


def check_password(s: LdapSettings, address: str, password: str) -> bool:
    """True when the directory's entry for `address` binds with `password`; False for a wrong
    password or no (or more than one) such entry; DirectoryUnavailable when it cannot say."""
    if not password:
        return False
    service_password = (s.password_file.read_text(encoding="utf-8").rstrip("\r\n")
                        if s.password_file else None)
    try:
        finder = _open(s, s.bind_dn, service_password)
        if finder is None:
            raise DirectoryUnavailable(f"bind as {s.bind_dn or 'anonymous'} refused")
        try:
            finder.search(s.base_dn, s.address_filter.replace(
                "{address}", escape_filter_chars(address)), search_scope=SUBTREE,
                attributes=[], size_limit=2, time_limit=max(1, math.ceil(s.timeout)))
            entries = [r for r in (finder.response or []) if r.get("type") == "searchResEntry"]
        finally:
            with contextlib.suppress(Exception):
                finder.unbind()
        if len(entries) != 1:
            return False
        person = _open(s, entries[0]["dn"], password)
        if person is None:
            return False
        with contextlib.suppress(Exception):
            person.unbind()
        return True
    except (LDAPException, OSError) as exc:
        raise DirectoryUnavailable(f"{type(exc).__name__}: {exc}") from exc
