"""The site secret behind staff tokens: the key file, made, loaded and rotated.

The file is text, readable by the daemon's user only (mode 0600), one key a line:

    # comments and blank lines are ignored
    2 q0Xk…(base64, 32 random bytes)…
    1 8fJd…(base64)… until 2025-09-01T00:00:00+00:00

The first key signs new tokens. Every other key only verifies the tokens it signed, until the
time after `until` (the grace period of a rotation: staff still answer notifications sent before
it); rotate() writes that. Errors are ConfigError with file:line:col, which the command line
turns into exit 78 (EX_CONFIG): a missing file, a mode that lets group or others read it, a
key shorter than 32 bytes, a line that is not `<id> <base64> [until <time>]`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import stat
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from ..yamlsource import ConfigError, Position, SourceError
from .token import MAX_KEY_ID, MIN_SECRET_BYTES, Keyring, StaffKey

SECRET_BYTES = 32
DEFAULT_GRACE = timedelta(days=60)
_HEADER = (
    "# ticketgate staff-token keys: keep this file readable by the daemon's user only (0600).\n"
    "# The first key signs new tokens; a key with 'until' still verifies its tokens until then.\n"
)


def _error(path: Path, message: str, line: int = 1, column: int = 1) -> ConfigError:
    return ConfigError([SourceError(Position(str(path), line, column), message)])


def _unreadable(path: Path) -> ConfigError:
    return _error(path, f"staff token key file cannot be read by this user (uid {os.geteuid()}); "
                        "it must belong to the daemon's user")


def _line(key: StaffKey) -> str:
    text = f"{key.key_id} {base64.b64encode(key.secret).decode('ascii')}"
    return text + (f" until {key.until.isoformat()}" if key.until else "")


def _write(path: Path, keys: tuple[StaffKey, ...]) -> None:
    """Replace `path` atomically with `keys`, mode 0600 from the first byte on."""
    text = _HEADER + "".join(_line(k) + "\n" for k in keys)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):  # the rename itself durable too, where the OS allows
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def create(path: Path, *, key_id: int = 1) -> bool:
    """Make a key file with one fresh key (secrets.token_bytes) if there is none at `path`.

    Returns False, changing nothing, when the file exists (`ticketgate init` run again must not
    invalidate every notification sent). The file is created with O_EXCL and mode 0600.
    """
    path = Path(path)
    if path.exists():
        return False
    key = StaffKey(key_id, secrets.token_bytes(SECRET_BYTES))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as out:
        os.fchmod(out.fileno(), 0o600)  # whatever the umask
        out.write(_HEADER + _line(key) + "\n")
        out.flush()
        os.fsync(out.fileno())
    return True


def _parse_line(path: Path, number: int, line: str) -> tuple[StaffKey | None, list[SourceError]]:
    words = line.split()
    column = line.index(words[0]) + 1

    def error(message: str, at: int = column) -> tuple[None, list[SourceError]]:
        return None, [SourceError(Position(str(path), number, at), message)]

    if len(words) not in (2, 4) or (len(words) == 4 and words[2] != "until"):
        return error("expected '<key id> <base64 secret>' or '… until <ISO time>'")
    if not words[0].isdigit() or int(words[0]) > MAX_KEY_ID:
        return error(f"key id {words[0]!r} is not a number from 0 to {MAX_KEY_ID}")
    secret_at = line.index(words[1], column) + 1
    try:
        secret = base64.b64decode(words[1], validate=True)
    except (binascii.Error, ValueError):
        return error("the secret is not base64", secret_at)
    if len(secret) < MIN_SECRET_BYTES:
        return error(f"the secret is {len(secret)} bytes; at least {MIN_SECRET_BYTES} are "
                     "needed (make a new file, or rotate)", secret_at)
    until = None
    if len(words) == 4:
        until_at = line.index(words[3], secret_at) + 1
        try:
            until = datetime.fromisoformat(words[3])
        except ValueError:
            return error(f"{words[3]!r} is not an ISO time (2025-09-01T00:00:00+00:00)", until_at)
        if until.tzinfo is None:
            return error("the time needs a zone offset (+00:00)", until_at)
    return StaffKey(int(words[0]), secret, until), []


def load(path: Path) -> Keyring:
    """The keyring in `path`; ConfigError (exit 78) with file:line:col for anything wrong."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise _error(path, "staff token key file not found (`ticketgate init` makes one)") from None
    except PermissionError:
        raise _unreadable(path) from None
    except OSError as exc:
        raise _error(path, f"staff token key file cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _error(path, "staff token key file is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise _error(path, f"staff token key file has mode {mode:04o}: group and others may "
                           f"not read it; run chmod 600 {path}")
    try:
        text = path.read_text(encoding="ascii")
    except PermissionError:
        raise _unreadable(path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(path, f"staff token key file cannot be read: {exc}") from None
    keys: list[StaffKey] = []
    errors: list[SourceError] = []
    seen: dict[int, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, problems = _parse_line(path, number, line)
        errors += problems
        if key is None:
            continue
        if key.key_id in seen:
            errors.append(SourceError(Position(str(path), number, 1),
                                      f"key id {key.key_id} is also on line {seen[key.key_id]}"))
            continue
        if not keys and key.until is not None:
            errors.append(SourceError(Position(str(path), number, 1),
                                      "the first key signs new tokens: it cannot have 'until'"))
        seen[key.key_id] = number
        keys.append(key)
    if not keys and not errors:
        errors.append(SourceError(Position(str(path), 1, 1), "no key in the file"))
    if errors:
        raise ConfigError(errors)
    return Keyring(tuple(keys))


def rotate(path: Path, *, now: datetime, grace: timedelta = DEFAULT_GRACE) -> int:
    """Put a new key first; the old first key verifies until `now + grace`; keys whose time is
    over are dropped. Returns the new key's id. `now` must be aware (the file keeps offsets)."""
    if now.tzinfo is None:
        raise ValueError("rotate() needs an aware datetime")
    path = Path(path)
    ring = load(path)
    kept = [StaffKey(ring.current.key_id, ring.current.secret, now + grace)]
    kept += [k for k in ring.keys[1:] if k.until is None or k.until >= now]
    used = {k.key_id for k in kept}
    # the next free id after the current one, so a token's first character tells keys apart
    free = [(ring.current.key_id + step) % (MAX_KEY_ID + 1) for step in range(1, MAX_KEY_ID + 1)]
    new_id = next((i for i in free if i not in used), None)
    if new_id is None:
        raise _error(path, f"all {MAX_KEY_ID + 1} key ids are in use by keys still in their "
                           "grace period; remove old keys by hand or wait")
    _write(path, (StaffKey(new_id, secrets.token_bytes(SECRET_BYTES)), *kept))
    return new_id
