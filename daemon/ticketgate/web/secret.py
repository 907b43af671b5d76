"""The key that signs session cookies: a file of 32 random bytes (base64), mode 0600.

`ticketgate init` makes it, and the desk makes it at its first start when it is missing (the
embedded default of `make run`). Replacing the file logs every staff member out.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path

from ..yamlsource import ConfigError, Position, SourceError

SECRET_BYTES = 32


def _error(path: Path, message: str) -> ConfigError:
    return ConfigError([SourceError(Position(str(path), 1, 1), message)])


def create(path: Path) -> bool:
    """Write a new secret at `path` unless there is one; True when written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii") + "\n")
        out.flush()
        os.fsync(out.fileno())
    return True


def load(path: Path, *, make: bool = True) -> bytes:
    """The secret in `path` (made first when missing and `make`); ConfigError (exit 78) for a
    file that others may read, that is not base64, or is too short."""
    if make:
        try:
            create(path)
        except OSError as exc:
            raise _error(path, f"cannot make the web session secret: {exc.strerror}") from None
    try:
        info = path.stat()
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise _error(path, "web session secret not found (`ticketgate init` makes one)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(path, f"cannot read the web session secret: {exc}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise _error(path, f"the web session secret has mode {stat.S_IMODE(info.st_mode):04o}: "
                           f"group and others may not read it; run chmod 600 {path}")
    try:
        secret = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _error(path, "the web session secret is not base64") from None
    if len(secret) < SECRET_BYTES:
        raise _error(path, f"the web session secret is {len(secret)} bytes; at least "
                           f"{SECRET_BYTES} are needed (delete it to make a new one)")
    return secret
