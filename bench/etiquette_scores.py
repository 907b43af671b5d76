#!/usr/bin/env python3
"""Precision and recall of the etiquette heuristics on the labelled development sets.

    python bench/etiquette_scores.py [--datasets DIR ...] [--rules FILE] [--part dev|held]
                                     [--errors] [--json]

Each DIR holds subjects.tsv (label vague|clear, lang, subject; optionally part, kind and source
columns named in a header line) and bodies.jsonl (label multi|single, lang, subject, body;
optionally part and source). By default the project's own sets in bench/data/etiquette (with a
held-back part, see its README) and the shared ones in ../shared/datasets (when present).

For vague_subject and multi_issue it prints, per set, the confusion counts with precision and
recall overall, per language, per part (dev, held) and per language within each part, and, for
vague_subject, the recall for each kind of miss (no_thing, no_matter, placeholder, ...) and
the reason kinds the flag gave. `--errors` lists what was misclassified (only in the part
chosen with `--part`, so that tuning can stay on dev). Exits 66 (EX_NOINPUT) when a set is
missing, 65 (EX_DATAERR) when a line is malformed or the rules are invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "daemon"))

from ticketgate.etiquette import (  # noqa: E402
    Lexicon,
    default_lexicon,
    multi_issue,
    parse_lexicon_yaml,
    vague_subject,
)

EX_DATAERR = 65
EX_NOINPUT = 66
DEFAULT_DATASETS = (REPO / "bench" / "data" / "etiquette", REPO.parent / "shared" / "datasets")


@dataclass(frozen=True)
class Example:
    positive: bool  # vague / multi
    lang: str
    subject: str
    body: str = ""
    part: str = "all"
    kind: str = ""  # for a vague subject: what it lacks


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, truth: bool, predicted: bool) -> None:
        if truth and predicted:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif truth:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load_subjects(path: Path) -> list[Example]:
    out: list[Example] = []
    columns = ["label", "lang", "subject"]
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            row = line.split("\t")
            if row[0] == "label":
                columns = row
                continue
            if len(row) == len(columns) - 1 and columns[-1] == "subject":
                row.append("")  # an empty subject
            if len(row) != len(columns):
                raise ValueError(f"{path}:{n}: expected {len(columns)} tab-separated columns")
            rec = dict(zip(columns, row, strict=True))
            if rec["label"] not in ("vague", "clear"):
                raise ValueError(f"{path}:{n}: label must be vague or clear")
            out.append(Example(rec["label"] == "vague", rec["lang"], rec["subject"],
                               part=rec.get("part", "all"), kind=rec.get("kind", "")))
    return out


def load_bodies(path: Path) -> list[Example]:
    out: list[Example] = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                label = rec["label"]
                if label not in ("multi", "single"):
                    raise ValueError(label)
                out.append(Example(label == "multi", rec["lang"], rec["subject"], rec["body"],
                                   part=rec.get("part", "all")))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: bad record ({exc})") from None
    return out


def score(
    name: str,
    examples: Iterable[Example],
    predict: Callable[[Example], str | None],
    *,
    part: str | None,
    show_errors: bool,
) -> dict[str, object]:
    scopes: dict[str, Counts] = {"all": Counts()}
    kinds: dict[str, Counts] = {}
    reasons: Counter[str] = Counter()
    errors: list[str] = []
    for ex in examples:
        if part and ex.part not in (part, "all"):
            continue
        reason = predict(ex)
        predicted = reason is not None
        for scope in ("all", f"lang={ex.lang}", f"part={ex.part}",
                      f"part={ex.part} lang={ex.lang}"):
            scopes.setdefault(scope, Counts()).add(ex.positive, predicted)
        if ex.kind:
            kinds.setdefault(ex.kind, Counts()).add(ex.positive, predicted)
        if reason:
            reasons[reason.split(":")[0]] += 1
        if predicted != ex.positive:
            text = ex.subject if not ex.body else f"{ex.subject} | {ex.body!r}"
            kind = "FP" if predicted else "FN"
            errors.append(f"  {kind} [{ex.lang} {ex.part} {ex.kind}] {text}"
                          + (f"  -> {reason}" if reason else ""))
    print(f"\n{name}")
    print(f"  {'scope':<20} {'n':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'tn':>4}  prec   rec")
    for scope in sorted(scopes, key=lambda s: (s != "all", s)):
        c = scopes[scope]
        print(f"  {scope:<20} {c.n:>4} {c.tp:>4} {c.fp:>4} {c.fn:>4} {c.tn:>4}"
              f"  {c.precision:.3f} {c.recall:.3f}")
    if kinds:
        print("  by kind of line (vague kinds: share flagged; clear: share left alone)")
        for kind in sorted(kinds):
            c = kinds[kind]
            share = (c.tp / (c.tp + c.fn)) if kind != "clear" else (c.tn / (c.tn + c.fp))
            print(f"    {kind:<12} {c.n:>4}  {share:.3f}")
    if reasons:
        print("  reasons given: " + ", ".join(f"{r} {k}" for r, k in reasons.most_common()))
    if show_errors:
        print("  misclassified:" if errors else "  misclassified: none")
        for line in errors:
            print(line)
    return {
        scope: {"n": c.n, "tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn,
                "precision": round(c.precision, 4), "recall": round(c.recall, 4)}
        for scope, c in scopes.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, action="append",
                        help="a directory of labelled sets (repeatable)")
    parser.add_argument("--rules", type=Path, help="an etiquette YAML (default: shipped rules)")
    parser.add_argument("--part", choices=("dev", "held"), help="score only this part")
    parser.add_argument("--errors", action="store_true", help="list misclassified examples")
    parser.add_argument("--json", action="store_true", help="also print the scores as JSON")
    args = parser.parse_args(argv)

    dirs = args.datasets or [d for d in DEFAULT_DATASETS if d.is_dir()]
    try:
        lexicon: Lexicon = (
            parse_lexicon_yaml(args.rules.read_text(encoding="utf-8"))
            if args.rules
            else default_lexicon()
        )
    except OSError as exc:
        print(f"etiquette_scores: {exc}", file=sys.stderr)
        return EX_NOINPUT
    except ValueError as exc:
        print(f"etiquette_scores: {exc}", file=sys.stderr)
        return EX_DATAERR
    results: dict[str, object] = {}
    for folder in dirs:
        subjects_path, bodies_path = folder / "subjects.tsv", folder / "bodies.jsonl"
        missing = [p for p in (subjects_path, bodies_path) if not p.is_file()]
        if missing:
            names = ", ".join(str(p) for p in missing)
            print(f"etiquette_scores: not found: {names} (use --datasets DIR)", file=sys.stderr)
            return EX_NOINPUT
        try:
            subjects = load_subjects(subjects_path)
            bodies = load_bodies(bodies_path)
        except OSError as exc:
            print(f"etiquette_scores: {exc}", file=sys.stderr)
            return EX_NOINPUT
        except ValueError as exc:
            print(f"etiquette_scores: {exc}", file=sys.stderr)
            return EX_DATAERR
        print(f"\n== {folder}" + (f"  (part {args.part})" if args.part else ""))
        results[str(folder)] = {
            "vague_subject": score(
                "vague_subject (positive = vague)", subjects,
                lambda ex: vague_subject(ex.subject, lexicon),
                part=args.part, show_errors=args.errors),
            "multi_issue": score(
                "multi_issue (positive = several matters)", bodies,
                lambda ex: multi_issue(ex.subject, ex.body, lexicon),
                part=args.part, show_errors=args.errors),
        }
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
