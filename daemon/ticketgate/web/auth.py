"""Checking a login: the address must be an account (access.py), then the password, by the
local password file (argon2id) or an LDAP bind (`web.auth`)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from ..config import Settings
from ..directory.ldapbind import check_password
from ..directory.model import DirectoryUnavailable
from .passwords import PasswordFile


class Outcome(StrEnum):
    OK = "ok"
    WRONG = "wrong"  # wrong password, or no such account: the same answer to the user
    UNAVAILABLE = "unavailable"  # the directory did not answer


Checker = Callable[[str, str], Outcome]


def checker(settings: Settings) -> Checker:
    """The password check the settings ask for (called in a worker thread: it blocks)."""
    assert settings.web is not None
    if settings.web.auth == "ldap":
        ldap = settings.directory.ldap

        def by_ldap(address: str, password: str) -> Outcome:
            try:
                return Outcome.OK if check_password(ldap, address, password) else Outcome.WRONG
            except DirectoryUnavailable:
                return Outcome.UNAVAILABLE
        return by_ldap
    passwords = PasswordFile(settings.web.password_file)

    def local(address: str, password: str) -> Outcome:
        return Outcome.OK if passwords.verify(address, password) else Outcome.WRONG
    return local
