"""The daemon's answer to a reload, for `ticketgate reload` to wait on.

A SIGHUP carries no reply, so after each reload the daemon writes a small JSON file beside its
pid file (`ticketgate.reload`): its pid, when, whether the new rules were taken, and the
refused rules' errors as `file:line:col: message`. The command reads the file before it
signals and waits for a different answer from that pid (pids repeat across restarts, answers
do not: each carries its time). The file is replaced whole (rename), so a reader never sees
half an answer.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReloadAnswer:
    pid: int
    accepted: bool
    errors: tuple[str, ...] = ()
    summary: str = ""  # what the accepted rules hold, e.g. "3 queues, 12 routes"
    at: float = 0.0  # when the daemon answered (time.time())


def answer_path(pid_file: Path) -> Path:
    return pid_file.with_suffix(".reload")


def write_answer(path: Path, answer: ReloadAnswer) -> None:
    """Replace the answer file; raises OSError (the caller logs it: the reload still counts)."""
    data = {"pid": answer.pid, "accepted": answer.accepted, "errors": list(answer.errors),
            "summary": answer.summary, "at": answer.at or time.time()}
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)


def read_answer(path: Path) -> ReloadAnswer | None:
    """The last answer written, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ReloadAnswer(pid=int(data["pid"]), accepted=bool(data["accepted"]),
                            errors=tuple(str(e) for e in data.get("errors", ())),
                            summary=str(data.get("summary", "")), at=float(data["at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def wait_for_answer(path: Path, pid: int, before: ReloadAnswer | None, timeout: float,
                    poll: float = 0.05) -> ReloadAnswer | None:
    """The first answer from `pid` other than `before`, or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = read_answer(path)
        if answer is not None and answer.pid == pid and answer != before:
            return answer
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)
