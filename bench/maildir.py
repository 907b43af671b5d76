"""A Maildir delivery's cost as the Maildir fills with mail a reader has seen.

A mail client moves what it has read from new/ to cur/ (with flags after the name). The
outbox's Maildir transport looks for an earlier copy of a mail only when the outbox says the
mail may have gone before (`again`); looking reads all of cur/. This delivers `--mails` mails
into a Maildir whose cur/ holds 0, 10,000 and 100,000 files, both ways, and prints the wall
and CPU milliseconds per delivery.

    python bench/maildir.py --dir /var/tmp/tg-maildir --sizes 0,10000,100000

The Maildir is left in `--dir` (delete it when done; see README.md on deleting many files
before a measured run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ticketgate.outbox.transport import MaildirTransport

RAW = b"Subject: acknowledgement\r\n\r\n" + b"Your mail has been received.\r\n" * 100


def _fill_cur(box: Path, files: int) -> None:
    cur = box / "cur"
    have = len(os.listdir(cur))
    for n in range(have, files):
        (cur / f"read{n:07d}.host:2,S").write_bytes(b"x")


def _measure(transport: MaildirTransport, mails: int, again: bool, tag: str) -> dict[str, float]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for n in range(mails):
        transport.deliver("", f"r{n}.{tag}@example.org", RAW + tag.encode() + b"\r\n",
                          again=again)
    transport.settle()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"wall_ms": round(1000 * wall / mails, 3), "cpu_ms": round(1000 * cpu / mails, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="where the Maildirs are made")
    parser.add_argument("--sizes", default="0,10000,100000", help="files in cur/")
    parser.add_argument("--mails", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",") if s):
        box = args.dir / f"cur-{size}"
        transport = MaildirTransport(box)
        transport.deliver("", "warm@example.org", RAW)  # makes tmp/, new/, cur/
        _fill_cur(box, size)
        stamp = f"{time.time_ns()}"
        row = {"cur_files": size,
               "first": _measure(transport, args.mails, False, stamp + "f"),
               "again": _measure(transport, args.mails, True, stamp + "a")}
        rows.append(row)
        if not args.json:
            print(f"cur/ {size:>7} files: first delivery {row['first']['cpu_ms']:.3f} ms CPU"
                  f" ({row['first']['wall_ms']:.3f} wall), a possible repeat"
                  f" {row['again']['cpu_ms']:.3f} ms CPU ({row['again']['wall_ms']:.3f} wall)")
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
