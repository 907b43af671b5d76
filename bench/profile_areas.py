"""Where a cProfile of the pipeline (bench/pipeline.py --cprofile FILE) spends its CPU, by area.

Three views, per mail, in thread CPU time (the profile's timer): the inclusive cost of each
step of a mail's way (parsing, every stage, applying the verdict, composing the
acknowledgement and notifications); the exclusive (self) cost grouped by where the code
lives (our rooms, flanker, Jinja2, the standard library's email and re, sqlite3); and the
functions with the most self time.

    python bench/profile_areas.py /tmp/pipe.prof --mails 2000
"""

from __future__ import annotations

import argparse
import pstats
import sys

# (label, file name ending, function name): inclusive cost of one step.
STEPS = (
    ("parse (stage)", "pipeline/parse.py", "process"),
    ("automail", "pipeline/automail.py", "process"),
    ("dedupe", "pipeline/dedupe.py", "process"),
    ("code", "pipeline/code.py", "process"),
    ("flags (etiquette)", "pipeline/flags.py", "process"),
    ("directory", "pipeline/directory.py", "process"),
    ("route", "pipeline/route.py", "process"),
    ("decide", "pipeline/decide.py", "process"),
    ("apply (store the verdict)", "ticketgate/apply.py", "apply"),
    ("compose (ack + notifications)", "outbox/compose.py", "__call__"),
    ("worker: load row, message", "ticketgate/worker.py", "to_message"),
)

# Exclusive time by where the code lives; the first match wins.
AREAS = (
    ("ticketgate.mail", "/ticketgate/mail/"),
    ("ticketgate.etiquette", "/ticketgate/etiquette/"),
    ("ticketgate.pipeline", "/ticketgate/pipeline/"),
    ("ticketgate.routing", "/ticketgate/routing/"),
    ("ticketgate.directory", "/ticketgate/directory/"),
    ("ticketgate.outbox", "/ticketgate/outbox/"),
    ("ticketgate.store", "/ticketgate/store/"),
    ("ticketgate (other)", "/ticketgate/"),
    ("flanker", "/flanker/"),
    ("jinja2", "/jinja2/"),
    ("markupsafe", "/markupsafe/"),
    ("stdlib email", "/email/"),
    ("stdlib re", "/re/"),
    ("structlog", "/structlog/"),
    ("sqlite3 (C)", "sqlite3.Connection"),
    ("sqlite3 (C)", "sqlite3.Cursor"),
)


def _area(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    for label, part in AREAS:
        if part in where:
            return label
    if filename == "~":
        return "builtins (C)"
    return "stdlib (other)" if "/python3" in filename else "other"


def report(path: object, *, mails: int, new_tickets: int | None = None,
           threads: dict[str, float] | None = None, top: int = 25) -> str:
    stats = pstats.Stats(str(path))
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values())
    lines = [f"profiled CPU: {1000 * total / mails:.2f} ms per mail over {mails} mails"
             + (f" ({new_tickets} new tickets)" if new_tickets else "")
             + (f"; threads ms/mail: {threads}" if threads else "")]
    lines.append("\nsteps (inclusive ms per mail):")
    for label, file_end, function in STEPS:
        cum = sum(ct for (f, _line, name), (_cc, _nc, _tt, ct, _callers) in raw.items()
                  if f.endswith(file_end) and name == function)
        lines.append(f"  {label:34s} {1000 * cum / mails:7.3f}")
    by_area: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, tt, _ct, _callers) in raw.items():
        area = _area(filename, name)
        by_area[area] = by_area.get(area, 0.0) + tt
    lines.append("\nwhere the code lives (self ms per mail, share):")
    for area, tt in sorted(by_area.items(), key=lambda item: -item[1]):
        lines.append(f"  {area:34s} {1000 * tt / mails:7.3f}  {100 * tt / total:5.1f} %")
    lines.append(f"\ntop {top} functions by self time (ms per mail, calls per mail):")
    ranked = sorted(raw.items(), key=lambda item: -item[1][2])[:top]
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in ranked:
        short = filename.split("/site-packages/")[-1].split("/daemon/")[-1]
        lines.append(f"  {1000 * tt / mails:7.3f} self {1000 * ct / mails:7.3f} cum "
                     f"{nc / mails:7.1f}x  {short}:{line}({name})")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile")
    parser.add_argument("--mails", type=int, required=True)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(report(args.profile, mails=args.mails, top=args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
