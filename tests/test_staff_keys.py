"""The staff-token key file (ticketgate.staff.keys): made private, loaded strictly, rotated."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ticketgate.staff import keys
from ticketgate.staff.token import Intent, TokenProblem, mint, verify
from ticketgate.yamlsource import ConfigError

NOW = datetime(2025, 6, 3, 10, 0, tzinfo=UTC)
GOOD = base64.b64encode(b"s" * 32).decode()


@pytest.fixture
def wide_umask() -> Iterator[None]:
    old = os.umask(0)  # the file must still be 0600
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write(path: Path, text: str, perms: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(perms)
    return path


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        keys.load(path)
    return [str(e) for e in caught.value.errors]


def test_create_makes_a_private_file_with_one_random_key(tmp_path: Path, wide_umask: None) -> None:
    path = tmp_path / "staff-token.key"
    assert keys.create(path) is True
    assert mode(path) == 0o600
    ring = keys.load(path)
    assert len(ring.keys) == 1 and ring.current.key_id == 1
    assert len(ring.current.secret) == 32 and ring.current.until is None
    other = tmp_path / "other.key"
    keys.create(other)
    assert keys.load(other).current.secret != ring.current.secret


def test_create_never_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "staff-token.key"
    keys.create(path)
    before = path.read_bytes()
    assert keys.create(path) is False
    assert path.read_bytes() == before


def test_a_missing_file_is_a_config_error_at_its_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.key"
    assert errors(path) == [f"{path}:1:1: staff token key file not found "
                            "(`ticketgate init` makes one)"]


@pytest.mark.parametrize("perms", [0o644, 0o640, 0o604, 0o620])
def test_a_file_others_may_read_is_refused(tmp_path: Path, perms: int) -> None:
    path = write(tmp_path / "k", f"1 {GOOD}\n", perms)
    (message,) = errors(path)
    assert f"mode {perms:04o}" in message and f"chmod 600 {path}" in message


def test_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir(mode=0o700)
    assert "not a regular file" in errors(tmp_path / "d")[0]


def test_a_short_secret_is_refused_with_its_line_and_column(tmp_path: Path) -> None:
    short = base64.b64encode(b"s" * 16).decode()
    path = write(tmp_path / "k", f"# keys\n\n1 {short}\n")
    assert errors(path) == [f"{path}:3:3: the secret is 16 bytes; at least 32 are needed "
                            "(make a new file, or rotate)"]


@pytest.mark.parametrize(("text", "where", "words"), [
    ("", "1:1", "no key in the file"),
    (f"1 {GOOD} extra\n", "1:1", "expected '<key id> <base64 secret>'"),
    ("1\n", "1:1", "expected"),
    (f"x {GOOD}\n", "1:1", "is not a number from 0 to 31"),
    (f"32 {GOOD}\n", "1:1", "is not a number from 0 to 31"),
    ("1 not*base64\n", "1:3", "not base64"),
    (f"2 {GOOD}\n1 {GOOD} until soon\n", "2:", "is not an ISO time"),
    (f"2 {GOOD}\n1 {GOOD} until 2025-09-01T00:00:00\n", "2:", "needs a zone offset"),
    (f"1 {GOOD}\n1 {GOOD}\n", "2:1", "key id 1 is also on line 1"),
    (f"1 {GOOD} until 2025-09-01T00:00:00+00:00\n", "1:1", "cannot have 'until'"),
])
def test_bad_lines_are_config_errors_with_a_position(
        tmp_path: Path, text: str, where: str, words: str) -> None:
    path = write(tmp_path / "k", text)
    found = errors(path)
    assert any(f"{path}:{where}" in e and words in e for e in found), found


def test_every_bad_line_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path / "k", "x y\n1 short\n")
    assert len(errors(path)) == 2


def _load_as_nobody(path: Path) -> str:
    """keys.load(path) in a child that runs as the user nobody; its error message."""
    read, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        message = "loaded"
        try:
            os.setgid(65534)
            os.setuid(65534)
            keys.load(path)
        except ConfigError as exc:
            message = str(exc.errors[0])
        except BaseException as exc:
            message = f"unexpected {exc!r}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(child, 0)
    return message


def test_a_file_of_another_user_cannot_be_read(tmp_path: Path) -> None:
    path = write(tmp_path / "k", f"1 {GOOD}\n", 0o600)
    if os.geteuid() == 0:  # root reads anything: read it as nobody instead
        tmp_path.chmod(0o711)
        message = _load_as_nobody(path)
    else:
        path.chmod(0o000)
        message = errors(path)[0]
    assert "cannot be read by this user" in message, message


def test_rotation_keeps_old_tokens_valid_for_the_grace_period(tmp_path: Path) -> None:
    path = tmp_path / "staff-token.key"
    keys.create(path)
    before = keys.load(path)
    token = mint(before, ticket=12, staff="anna@example.org", intent=Intent.REPLY,
                 notification=1)
    new_id = keys.rotate(path, now=NOW, grace=timedelta(days=30))
    assert mode(path) == 0o600 and new_id == 2
    after = keys.load(path)
    assert [k.key_id for k in after.keys] == [2, 1]
    assert after.keys[1].secret == before.current.secret
    assert after.keys[1].until == NOW + timedelta(days=30)
    fresh = mint(after, ticket=12, staff="anna@example.org", intent=Intent.REPLY,
                 notification=2)
    assert fresh[0] == "c"  # key 2
    for when, still in ((NOW + timedelta(days=29), True), (NOW + timedelta(days=31), False)):
        checked = verify(token, staff="anna@example.org", keyring=after, now=when)
        assert checked.ok is still
        assert verify(fresh, staff="anna@example.org", keyring=after, now=when).ok
    assert verify(token, staff="anna@example.org", keyring=after,
                  now=NOW + timedelta(days=31)).problem is TokenProblem.EXPIRED_KEY


def test_rotation_drops_keys_whose_time_is_over_and_wraps_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "k",
                 f"31 {GOOD}\n30 {GOOD} until 2025-06-01T00:00:00+00:00\n"
                 f"0 {GOOD} until 2025-07-01T00:00:00+00:00\n")
    new_id = keys.rotate(path, now=NOW, grace=timedelta(days=1))
    assert new_id == 1  # 0 is still in use, 30 has ended
    assert [k.key_id for k in keys.load(path).keys] == [1, 31, 0]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "k"]
    assert leftovers == []


def test_rotation_needs_an_aware_time(tmp_path: Path) -> None:
    path = tmp_path / "k"
    keys.create(path)
    with pytest.raises(ValueError, match="aware"):
        keys.rotate(path, now=datetime(2025, 6, 3))


def test_rotation_refuses_when_all_ids_are_in_use(tmp_path: Path) -> None:
    lines = [f"0 {GOOD}"] + [f"{i} {GOOD} until 2030-01-01T00:00:00+00:00" for i in range(1, 32)]
    path = write(tmp_path / "k", "\n".join(lines) + "\n")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="all 32 key ids are in use"):
        keys.rotate(path, now=NOW)
    assert path.read_bytes() == before
