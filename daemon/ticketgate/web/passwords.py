"""Local staff passwords: one `address argon2id-hash` a line, mode 0600 (`auth: local`).

`ticketgate staff passwd ADDRESS` sets a password (read from the terminal without echo, or one
line of standard input); the file is replaced atomically. Hashes are argon2id with
argon2-cffi's default parameters (RFC 9106's second recommendation); a hash made with older
parameters is verified and reported as needing a new hash.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id
# Verified when an address has no password, so that a wrong address costs as long as a
# wrong password (no telling from the time which addresses have accounts).
_DUMMY = _HASHER.hash("no such account")
MIN_LENGTH = 10


@dataclass(frozen=True)
class PasswordFile:
    path: Path

    def hashes(self) -> dict[str, str]:
        """address -> hash; an absent file is no accounts."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        found = {}
        for line in text.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                address, _, hashed = line.strip().partition(" ")
                found[address.lower()] = hashed.strip()
        return found

    def verify(self, address: str, password: str) -> bool:
        """Whether `password` is `address`'s; as slow for an unknown address."""
        hashed = self.hashes().get(address.lower())
        try:
            return _HASHER.verify(hashed or _DUMMY, password) and hashed is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def set(self, address: str, password: str) -> None:
        """Store a new hash for `address` (replacing the file atomically, mode 0600)."""
        entries = self.hashes()
        entries[address.lower()] = _HASHER.hash(password)
        text = "# ticketgate staff passwords (argon2id): `ticketgate staff passwd ADDRESS`\n"
        text += "".join(f"{a} {h}\n" for a, h in sorted(entries.items()))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


def weak(password: str) -> str | None:
    """Why a new password is refused (None: it is fine)."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if password.strip() != password:
        return "a password may not begin or end with spaces"
    return None
