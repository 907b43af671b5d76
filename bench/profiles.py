"""Summarise a py-spy raw (collapsed stacks) profile: where the daemon's time goes.

`ingest.py --profile DIR` records the daemon with `py-spy record --format raw --threads`
(idle samples excluded, so every sample is CPU or a syscall). This prints the share of each
thread, the top functions by self time, the top functions by inclusive time (whole call
trees: pipeline stages, apply, commit, the SMTP session), and the time per package.

    python bench/profiles.py /tmp/prof/c32-k10-drain.txt --top 25
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass
class Profile:
    samples: int = 0
    threads: Counter[str] = field(default_factory=Counter)
    self_time: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    packages: Counter[str] = field(default_factory=Counter)
    by_thread: dict[str, Counter[str]] = field(default_factory=dict)


def _key(frame: str) -> tuple[str, str]:
    """('func (file)', package) of a frame like 'process (ticketgate/pipeline/code.py:41)'."""
    match = _FRAME.match(frame)
    if not match:
        return frame, "?"
    file = match["file"]
    package = file.split("/")[0] if "/" in file else file.removesuffix(".py")
    return f"{match['func']} ({file})", package


def load(path: Path, thread: str | None = None) -> Profile:
    """Read a raw profile; `thread` keeps only threads whose name contains it."""
    prof = Profile()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        head = frames[0]
        name = head.split(": ", 1)[1] if head.startswith("thread") and ": " in head else head
        frames = frames[1:] if head.startswith("thread") else frames
        if thread and thread not in name:
            continue
        prof.samples += count
        prof.threads[name] += count
        if not frames:
            continue
        leaf, package = _key(frames[-1])
        prof.self_time[leaf] += count
        prof.packages[package] += count
        prof.by_thread.setdefault(name, Counter())[leaf] += count
        for key in {_key(f)[0] for f in frames}:
            prof.inclusive[key] += count
    return prof


def render(prof: Profile, top: int = 20, rate: float = 200.0) -> str:
    """A plain-text report; `rate` is py-spy's samples per second (for seconds)."""
    def pct(n: int) -> str:
        return f"{100 * n / prof.samples:5.1f}%" if prof.samples else "  -  "

    out = [f"{prof.samples} samples (~{prof.samples / rate:.1f} s of busy thread time)", "",
           "threads:"]
    out += [f"  {pct(n)}  {name}" for name, n in prof.threads.most_common()]
    out += ["", "packages (self time):"]
    out += [f"  {pct(n)}  {name}" for name, n in prof.packages.most_common(12)]
    out += ["", f"top {top} by self time:"]
    out += [f"  {pct(n)}  {name}" for name, n in prof.self_time.most_common(top)]
    out += ["", f"top {top} by inclusive time (outside the threading/asyncio plumbing):"]
    plumbing = ("threading.py", "asyncio/", "<frozen runpy>", "cli.py", "runners.py")
    inclusive = [(k, n) for k, n in prof.inclusive.most_common()
                 if not any(p in k for p in plumbing)]
    out += [f"  {pct(n)}  {name}" for name, n in inclusive[:top]]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--thread", default=None, help="only threads whose name contains this")
    parser.add_argument("--rate", type=float, default=200.0, help="py-spy sampling rate")
    args = parser.parse_args()
    for path in args.profile:
        print(f"== {path}")
        print(render(load(path, args.thread), args.top, args.rate))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
