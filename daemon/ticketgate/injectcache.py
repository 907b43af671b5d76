"""What `inject` remembers of settings and rules it has checked, so the next one need not.

`inject` runs once per mail and must answer 75 when the settings or rules are broken, yet
loading and validating them (YAML, JSON Schema, routes, the etiquette word lists) costs
twenty times what spooling does. So after a full check it writes down the few facts it needs
(database, size limit, function addresses, the doorbell) together with the identity of every
file the check read: device, inode, size, and modification and change times in nanoseconds.
The next `inject` stats those files, and only when every one is unchanged (and ticketgate is
the same version, from the same install) takes the facts without reading any of them.

Any edit changes the change time (ctime), which no tool can set back; a file replaced by
rename changes the inode, and adding or removing a file changes its directory's times. As
git does for its index, a check is not remembered while a file it read is younger than
RACY seconds: a second edit within the file system's clock tick could otherwise leave every
time unchanged.

The memo lives in $XDG_CACHE_HOME/ticketgate (default ~/.cache/ticketgate), one file per
settings file; for the systemd unit's user that is /var/lib/ticketgate/.cache. When it cannot
be written, every `inject` checks in full, as before.

The module is on `inject`'s fast path, so it imports only os and marshal (the memo's format:
built in, where json's decoder would import re and enum; a memo another Python wrote reads
as stale).
"""

from __future__ import annotations

import marshal
import os

from . import __version__

MEMO_FORMAT = 1
RACY = 1.0  # seconds: files changed more recently than this are checked again next time

RULES_FILES = ("queues.yaml", "routes.yaml", "etiquette.yaml")  # what rules.load_rules reads
Identity = list[int] | None  # (dev, ino, size, mtime_ns, ctime_ns); None: no such file


class Facts:
    """What `inject` needs from a checked settings file and its rules.

    A plain class: dataclasses imports inspect, which alone costs `inject` more than
    everything else it does (BENCHMARKS.md, "Session 5").
    """

    __slots__ = ("database", "function_addresses", "max_message_size", "wake_path")

    def __init__(self, *, database: str, max_message_size: int,
                 function_addresses: frozenset[str], wake_path: str) -> None:
        self.database = database
        self.max_message_size = max_message_size
        self.function_addresses = function_addresses
        self.wake_path = wake_path


def identity(path: str) -> Identity:
    """The stat fields that change whenever the file at `path` does."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def sources(rules_dir: str, templates_dir: str) -> list[str]:
    """Every path besides the settings file whose change can change what the full check of
    the rules says (the templates directory: its times change when a template comes or goes)."""
    return [rules_dir, *(os.path.join(rules_dir, name) for name in RULES_FILES), templates_dir]


def _install() -> Identity:
    # A reinstall or upgrade replaces the package's files, which changes its directory.
    return identity(os.path.dirname(os.path.abspath(__file__)))


def memo_path(settings_file: str | None) -> str | None:
    """Where the memo for this settings file (None: the embedded default, by the current
    directory) lives; None when there is no home or cache directory to put it in."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    key = os.path.abspath(settings_file) if settings_file else "default:" + os.getcwd()
    name = key.replace("%", "%25").replace("/", "%2F")
    if len(name) > 200:  # file names stop at 255 bytes; keep the end, add a checksum
        import zlib

        name = f"{zlib.crc32(key.encode()):08x}-{name[-180:]}"
    return os.path.join(base, "ticketgate", f"inject-{name}.memo")


def recall(settings_file: str | None) -> Facts | None:
    """The remembered facts, when no file they came from has changed since; else None."""
    path = memo_path(settings_file)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            memo = marshal.load(f)
        if (memo["format"] != MEMO_FORMAT or memo["version"] != __version__
                or memo["install"] != _install()):
            return None
        for source, known in memo["sources"]:
            if identity(source) != known:
                return None
        return Facts(database=memo["database"], max_message_size=int(memo["max_message_size"]),
                     function_addresses=frozenset(memo["function_addresses"]),
                     wake_path=memo["wake_path"])
    except (OSError, EOFError, ValueError, KeyError, TypeError):  # none, or unreadable: check
        return None


def remember(settings_file: str | None, facts: Facts,
             seen: list[tuple[str, Identity]], now: float) -> bool:
    """Write the memo, if every file is as it was when the check began (`seen`) and none is
    younger than RACY at `now` (taken after the check). False when it was not written."""
    path = memo_path(settings_file)
    if path is None:
        return False
    for source, before in seen:
        if identity(source) != before:
            return False
        if before is not None and max(before[3], before[4]) > (now - RACY) * 1e9:
            return False
    memo = {
        "format": MEMO_FORMAT, "version": __version__, "install": _install(),
        "settings": settings_file, "sources": [[source, known] for source, known in seen],
        "database": facts.database, "max_message_size": facts.max_message_size,
        "function_addresses": sorted(facts.function_addresses), "wake_path": facts.wake_path,
    }
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(temporary, "wb") as f:
            marshal.dump(memo, f)
        os.replace(temporary, path)
    except OSError:
        try:  # noqa: SIM105 (contextlib is not imported on inject's path)
            os.unlink(temporary)
        except OSError:
            pass
        return False
    return True
