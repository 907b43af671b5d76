"""The doorbell: a FIFO beside the database through which `inject` wakes the running daemon.

`serve` creates the FIFO (`Settings.wake_path`, e.g. /var/lib/ticketgate/ticketgate.db.wake)
and keeps it open for reading and writing, so it never sees an end of file; `inject` writes
one byte after its commit. With no daemon running, opening the FIFO for writing fails at once
(ENXIO) and the mail waits in the spool for the next start; a full FIFO means a wake-up is
already pending. Either way the daemon's idle check (every second) is still the fallback.

A FIFO rather than a socket: `inject` then needs nothing but `os` (it is a new process per
mail, and imports are most of its cost), the path has no 108-byte limit, and the systemd
unit's sandbox needs no extra address family: the state directory is writable there and
mknod of a FIFO is in @system-service.
"""

from __future__ import annotations

import os
import stat


def ring(path: str) -> bool:
    """Wake the daemon listening on the FIFO at `path`; False when nobody listens.

    Never blocks and never raises: the mail is already committed, and the daemon finds it
    on its next idle check in any case.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # ENXIO: no reader; ENOENT: never served here; EACCES, ELOOP
        return False
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False  # never write into a file that took the FIFO's name
        os.write(fd, b"\1")
        return True
    except OSError:  # EAGAIN: full, so a wake-up is pending already
        return False
    finally:
        os.close(fd)


def listen(path: str) -> int:
    """Create the FIFO if needed and open it, non-blocking; return its descriptor.

    Raises OSError when `path` exists and is something else, or cannot be made.
    """
    import contextlib

    with contextlib.suppress(FileExistsError):
        os.mkfifo(path, 0o660)
    # O_RDWR: the daemon is a writer too, so the FIFO never reads as closed between injects.
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path} exists and is not a FIFO")
    return fd


def rung(fd: int) -> int:
    """Empty the FIFO; return how many rings (injected mails) were waiting."""
    count = 0
    try:
        while data := os.read(fd, 4096):
            count += len(data)
    except BlockingIOError:  # empty now
        pass
    return count
