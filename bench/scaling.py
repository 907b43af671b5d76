"""Scaling: the pipeline's time per message with 1k, 100k (and 1M) tickets already stored.

For each size, fill.py builds a database; then the real worker path runs on it:
`ticketgate.worker.process_row` with the daemon's own rules and apply options (the same
objects `ticketgate serve` composes), one spool row at a time, each committed by the single
writer. The mails are a mix of new tickets, replies by code and by In-Reply-To to stored
tickets, and redeliveries of stored Message-IDs, so every lookup is exercised on a big table.
Sizes are measured in alternating rounds, so a noisy neighbour hurts all sizes alike.

Every SQL statement the pipeline and apply run (in the first round) is traced; its
`EXPLAIN QUERY PLAN` must show no SCAN (a full table or index scan). Every SQL literal under
daemon/ticketgate is explained too, and scans outside the pipeline (listings) are shown for
information.

    python bench/scaling.py --sizes 1000,100000,1000000 --messages 1000
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fill import fill
from mails import Mail, MailFactory, parse_mix
from procs import REPO, write_site
from ticketgate import pipeline
from ticketgate.config import load_settings
from ticketgate.daemon import Daemon
from ticketgate.log import configure
from ticketgate.pipeline.model import Context, Envelope, Message
from ticketgate.worker import process_row

_LITERALS = [(re.compile(r"X'[0-9A-Fa-f]*'"), "?"), (re.compile(r"'(?:[^']|'')*'"), "?"),
             (re.compile(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b"), "?")]
_CHECKED = re.compile(r"^\s*(SELECT|UPDATE|DELETE|WITH|INSERT\s+.*\bSELECT\b)", re.I | re.S)


@dataclass
class SizeResult:
    size: int
    fill_seconds: float | None = None
    times: list[float] = field(default_factory=list)  # process_row, seconds per message
    by_action: dict[str, list[float]] = field(default_factory=dict)
    stages_by_action: dict[str, list[float]] = field(default_factory=dict)  # no commit
    round_means: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, action: str, seconds: float) -> None:
        self.times.append(seconds)
        self.by_action.setdefault(action, []).append(seconds)

    def add_stages(self, action: str, seconds: float) -> None:
        self.stages_by_action.setdefault(action, []).append(seconds)

    def mean(self) -> float:
        return statistics.fmean(self.times)

    def weighted(self, shares: dict[str, float], table: dict[str, list[float]]) -> float:
        """Time per message with the actions in the given shares, so that sizes whose mails
        happened to turn out differently (more resends, say) compare fairly. Each action's
        median, not mean: on a shared machine a neighbour's burst should not decide it."""
        total = sum(shares[a] for a in shares if table.get(a))
        return sum(shares[a] * statistics.median(table[a]) for a in shares if table.get(a)) / total

    def shares(self) -> dict[str, float]:
        return {a: len(v) / len(self.times) for a, v in self.by_action.items()}

    def pct(self, p: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, max(0, int(p / 100 * len(ordered) + 0.999) - 1))]


def normalise(sql: str) -> str:
    """The statement with literals as ?, to group executions of the same query."""
    for rx, repl in _LITERALS:
        sql = rx.sub(repl, sql)
    return " ".join(sql.split())


class Tracer:
    """Collects the distinct statements run on the connections it is attached to."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, int]] = {}  # normalised -> (an example, count)

    def __call__(self, sql: str) -> None:
        if not _CHECKED.match(sql):
            return
        key = normalise(sql)
        example, count = self.seen.get(key, (sql, 0))
        self.seen[key] = (example, count + 1)


def scans(conn: sqlite3.Connection, sql: str, params: int | None = None) -> list[str]:
    """The SCAN steps of `sql`'s query plan ('SCAN CONSTANT ROW' is not a scan)."""
    args = [None] * (params if params is not None else sql.count("?"))
    plan = conn.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()
    return [row[3] for row in plan
            if str(row[3]).startswith("SCAN") and "CONSTANT ROW" not in str(row[3])]


def static_statements(root: Path) -> Iterator[tuple[str, str]]:
    """(file:line, SQL) of every SQL string literal in the package, f-string holes as *."""
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        inside = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            text: str | None = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in inside:
                text = node.value
            elif isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "*"
                               for v in node.values)
            if text and re.match(r"\s*(SELECT|UPDATE|DELETE FROM|WITH)\s", text):
                yield f"{path.relative_to(REPO)}:{node.lineno}", text


def _mails(size: int, seed: int, mix: str) -> Iterator[Mail]:
    return MailFactory(seed=seed, mix=parse_mix(mix), known_tickets=size).stream()


def measure_round(db: Path, site_root: Path, mails: list[Mail], extra: list[Mail], warmup: int,
                  result: SizeResult, tracer: Tracer | None) -> None:
    """Spool `mails` into `db` and run them through the worker path one by one; then time the
    stages alone (read-only, nothing stored) on the `extra` mails."""
    config = write_site(site_root, database=str(db))
    settings = load_settings(config)
    daemon = Daemon(settings)  # composes rules and apply options exactly as `serve` does
    store = daemon.store.open()
    try:
        rules, options = daemon.rules(), daemon.apply_options()
        ids: list[int] = store.writer.call(lambda tx: [
            tx.spool_delivery(raw=m.raw, mail_from=m.mail_from, rcpt_to=(m.rcpt,),
                              peer="127.0.0.1", protocol="smtp") for m in mails])
        if tracer is not None:
            store.view.conn.set_trace_callback(tracer)
            store.writer.call(lambda tx: tx.conn.set_trace_callback(tracer))
        timed: list[float] = []
        for i, spool_id in enumerate(ids):
            t0 = time.perf_counter()
            outcome = process_row(store, settings, rules, spool_id, options)
            elapsed = time.perf_counter() - t0
            if i < warmup:
                continue
            timed.append(elapsed)
            result.add(outcome.action or outcome.state, elapsed)
            result.outcomes[outcome.state] = result.outcomes.get(outcome.state, 0) + 1
        result.round_means.append(statistics.fmean(timed))
        context = Context(settings=settings, rules=rules, view=store.view)
        for m in extra:
            message = Message(raw=m.raw, envelope=Envelope(mail_from=m.mail_from,
                                                           rcpt_to=(m.rcpt,), peer="127.0.0.1",
                                                           received_at=time.time()))
            t0 = time.perf_counter()
            verdict = pipeline.run(message, context).verdict
            result.add_stages(verdict.action, time.perf_counter() - t0)
    finally:
        store.close()


def plan(conn: sqlite3.Connection, sql: str) -> str:
    return "; ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql))


def explain_all(db: Path, tracer: Tracer) -> tuple[list[str], list[str], list[str]]:
    """(every traced statement with its plan, those with a SCAN, other SQL that scans)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    problems: list[str] = []
    plans: list[str] = []
    for key, (example, count) in sorted(tracer.seen.items()):
        found = scans(conn, example, params=0)
        plans.append(f"{count:>6}x  {key[:150]}\n           -> {plan(conn, example)}")
        if found:
            problems.append(f"{key[:160]} ({count}x): {'; '.join(found)}")
    notes = []
    for where, sql in static_statements(REPO / "daemon" / "ticketgate"):
        try:
            found = scans(conn, sql)
        except sqlite3.Error as exc:
            notes.append(f"{where}: not explained statically ({exc})")
            continue
        if found:
            notes.append(f"{where}: {'; '.join(found)}  <- {' '.join(sql.split())[:110]}")
    conn.close()
    return plans, problems, notes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n")[-1])
    parser.add_argument("--sizes", default="1000,100000",
                        help="comma-separated numbers of stored tickets (default 1000,100000)")
    parser.add_argument("--messages", type=int, default=600, help="timed messages per size")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per size")
    parser.add_argument("--warmup", type=int, default=30, help="untimed messages per round")
    parser.add_argument("--mix", default="new=0.5,code=0.25,thread=0.15,dup=0.1")
    parser.add_argument("--dbdir", type=Path, default=None,
                        help="keep filled databases here and reuse them (fill-N.db)")
    parser.add_argument("--seed", type=int, default=7,
                        help="mail seed; give a new one when reusing --dbdir, or the mails of "
                             "the last run come back as duplicate deliveries")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tmp = tempfile.TemporaryDirectory(prefix="ticketgate-scaling-")
    dbdir = args.dbdir or Path(tmp.name)
    results = {n: SizeResult(n) for n in sizes}
    for n in sizes:
        db = dbdir / f"fill-{n}.db"
        if db.exists():
            print(f"{n:>9} tickets: reusing {db}", flush=True)
            continue
        stats = fill(db, n)
        results[n].fill_seconds = stats.seconds
        print(f"{n:>9} tickets: filled in {stats.seconds:.1f}s ({stats.rows} rows, "
              f"{stats.size / 1e6:.0f} MB)", flush=True)
    streams = {n: _mails(n, seed=args.seed, mix=args.mix) for n in sizes}
    tracer = Tracer()
    per_round = args.messages // args.rounds
    _quiet_logs(Path(tmp.name) / "ticketgate.log")
    for r in range(args.rounds):
        for n in sizes:
            mails = [next(streams[n]) for _ in range(per_round + args.warmup)]
            extra = [next(streams[n]) for _ in range(per_round // 3)]
            # Tracing costs a little: only the first round traces, for every size alike.
            measure_round(dbdir / f"fill-{n}.db", Path(tmp.name) / f"site-{n}-{r}", mails,
                          extra, args.warmup, results[n], tracer if r == 0 else None)
            print(f"  round {r + 1}: {n:>9} tickets: "
                  f"{results[n].round_means[-1] * 1000:.2f} ms/message", flush=True)
    plans, problems, notes = explain_all(dbdir / f"fill-{sizes[-1]}.db", tracer)
    report = _report(sizes, results, tracer, problems, notes)
    print("\nstatements of the pipeline and apply, with their query plans:")
    print("\n".join(plans))
    print(report["text"])
    if args.json:
        args.json.write_text(json.dumps({"argv": sys.argv, **report["data"]}, indent=1))
    tmp.cleanup()
    return 1 if problems or float(report["data"]["ratio"]) > 1.5 else 0


def _quiet_logs(path: Path) -> None:
    """Send the daemon's log lines to a file, as `serve` sends them to its journal: they are
    part of the cost, but not of this report."""
    saved = sys.stderr
    with contextlib.suppress(OSError):
        sys.stderr = path.open("a")  # configure() binds the current stderr
        configure("json")
    sys.stderr = saved


def _ms(values: list[float]) -> str:
    return f"{statistics.fmean(values) * 1000:.2f}" if values else "-"


def _report(sizes: list[int], results: dict[int, SizeResult], tracer: Tracer,
            problems: list[str], notes: list[str]) -> dict[str, Any]:
    smallest, largest = results[sizes[0]], results[sizes[-1]]
    shares = smallest.shares()
    ratio = (largest.weighted(shares, largest.by_action)
             / smallest.weighted(shares, smallest.by_action))
    actions = sorted(shares, key=lambda a: -shares[a])
    lines = ["", "| tickets | fill s | ms/message mean | p50 | p99 | mix-weighted | "
             + " | ".join(f"{a} (n) | stages only" for a in actions) + " |",
             "|--:" * (6 + 2 * len(actions)) + "|"]
    data: dict[str, Any] = {"sizes": {}}
    for n in sizes:
        res = results[n]
        fill_s = f"{res.fill_seconds:.1f}" if res.fill_seconds is not None else "reused"
        cells = [str(n), fill_s, f"{res.mean() * 1000:.2f}", f"{res.pct(50) * 1000:.2f}",
                 f"{res.pct(99) * 1000:.2f}",
                 f"{res.weighted(shares, res.by_action) * 1000:.2f}"]
        for a in actions:
            cells += [f"{_ms(res.by_action.get(a, []))} ({len(res.by_action.get(a, []))})",
                      _ms(res.stages_by_action.get(a, []))]
        lines.append("| " + " | ".join(cells) + " |")
        data["sizes"][n] = {
            "fill_seconds": res.fill_seconds, "mean_ms": res.mean() * 1000,
            "p50_ms": res.pct(50) * 1000, "p99_ms": res.pct(99) * 1000,
            "weighted_ms": res.weighted(shares, res.by_action) * 1000,
            "round_means_ms": [m * 1000 for m in res.round_means],
            "by_action_ms": {a: statistics.fmean(v) * 1000 for a, v in res.by_action.items()},
            "by_action_n": {a: len(v) for a, v in res.by_action.items()},
            "stages_by_action_ms": {a: statistics.fmean(v) * 1000
                                    for a, v in res.stages_by_action.items()},
            "outcomes": res.outcomes,
        }
    lines += ["", f"largest/smallest time per message (mix-weighted medians): {ratio:.2f} "
              f"(raw means {largest.mean() / smallest.mean():.2f}; goal <= 1.5)",
              f"{len(tracer.seen)} distinct statements traced in the pipeline and apply; "
              f"{len(problems)} with a SCAN"]
    lines += [f"  SCAN: {p}" for p in problems]
    if notes:
        lines.append("other SQL in daemon/ticketgate whose plan scans (listings etc.):")
        lines += [f"  {note}" for note in notes]
    data.update(ratio=ratio, problems=problems, notes=notes,
                statements={k: v[1] for k, v in tracer.seen.items()})
    return {"text": "\n".join(lines), "data": data}


if __name__ == "__main__":
    sys.exit(main())
