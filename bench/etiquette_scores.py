#!/usr/bin/env python3
"""Precision, recall and F1 of the etiquette heuristics on the labelled development sets.

    python bench/etiquette_scores.py [--datasets DIR] [--rules FILE] [--errors] [--seed N]

Reads DIR/subjects.tsv (label vague|clear, lang, subject) and DIR/bodies.jsonl (label
multi|single, lang, subject, body); DIR defaults to the repository's sibling ../shared/datasets.
Prints, for vague_subject and multi_issue, the confusion counts and scores overall, per language
and on two fixed random halves (A and B, chosen by a seeded hash of each example, so that rules
tuned while looking at one half can be checked on the other). Exits 66 (EX_NOINPUT) when the
datasets are missing, 65 (EX_DATAERR) when a line is malformed or the rules are invalid.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
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
DEFAULT_DATASETS = REPO.parent / "shared" / "datasets"


@dataclass(frozen=True)
class Example:
    positive: bool  # vague / multi
    lang: str
    subject: str
    body: str = ""

    def key(self) -> str:
        return f"{self.subject}\x00{self.body}"


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
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_subjects(path: Path) -> list[Example]:
    out: list[Example] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if n == 1 and row[:1] == ["label"]:
                continue
            if len(row) == 2:
                row = [*row, ""]  # an empty subject
            if len(row) != 3 or row[0] not in ("vague", "clear"):
                raise ValueError(f"{path}:{n}: expected 'vague|clear<TAB>lang<TAB>subject'")
            out.append(Example(row[0] == "vague", row[1], row[2]))
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
                out.append(Example(label == "multi", rec["lang"], rec["subject"], rec["body"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: bad record ({exc})") from None
    return out


def half(example: Example, seed: int) -> str:
    digest = hashlib.sha256(f"{seed}\x00{example.key()}".encode()).digest()
    return "A" if digest[0] % 2 == 0 else "B"


def score(
    name: str,
    examples: Iterable[Example],
    predict: Callable[[Example], str | None],
    *,
    seed: int,
    show_errors: bool,
) -> dict[str, Counts]:
    scopes: dict[str, Counts] = {"all": Counts()}
    errors: list[str] = []
    for ex in examples:
        reason = predict(ex)
        predicted = reason is not None
        for scope in ("all", f"lang={ex.lang}", f"half={half(ex, seed)}"):
            scopes.setdefault(scope, Counts()).add(ex.positive, predicted)
        if predicted != ex.positive:
            kind = "FP" if predicted else "FN"
            text = ex.subject if not ex.body else f"{ex.subject} | {ex.body!r}"
            errors.append(f"  {kind} [{ex.lang}] {text}" + (f"  -> {reason}" if reason else ""))
    print(f"\n{name}")
    print(f"  {'scope':<10} {'n':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'tn':>4}  prec   rec    F1")
    for scope in sorted(scopes, key=lambda s: (s != "all", s)):
        c = scopes[scope]
        n = c.tp + c.fp + c.fn + c.tn
        print(
            f"  {scope:<10} {n:>4} {c.tp:>4} {c.fp:>4} {c.fn:>4} {c.tn:>4}"
            f"  {c.precision:.3f} {c.recall:.3f} {c.f1:.3f}"
        )
    if show_errors:
        print("  misclassified:" if errors else "  misclassified: none")
        for line in errors:
            print(line)
    return scopes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--rules", type=Path, help="an etiquette YAML (default: shipped rules)")
    parser.add_argument("--errors", action="store_true", help="list misclassified examples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the A/B halves")
    args = parser.parse_args(argv)

    subjects_path = args.datasets / "subjects.tsv"
    bodies_path = args.datasets / "bodies.jsonl"
    missing = [p for p in (subjects_path, bodies_path) if not p.is_file()]
    if missing:
        names = ", ".join(str(p) for p in missing)
        print(
            f"etiquette_scores: datasets not found: {names} (use --datasets DIR)", file=sys.stderr
        )
        return EX_NOINPUT
    try:
        lexicon: Lexicon = (
            parse_lexicon_yaml(args.rules.read_text(encoding="utf-8"))
            if args.rules
            else default_lexicon()
        )
        subjects = load_subjects(subjects_path)
        bodies = load_bodies(bodies_path)
    except OSError as exc:
        print(f"etiquette_scores: {exc}", file=sys.stderr)
        return EX_NOINPUT
    except ValueError as exc:
        print(f"etiquette_scores: {exc}", file=sys.stderr)
        return EX_DATAERR

    print(f"datasets: {args.datasets}  (halves: seed {args.seed})")
    score(
        "vague_subject (positive = vague)",
        subjects,
        lambda ex: vague_subject(ex.subject, lexicon),
        seed=args.seed,
        show_errors=args.errors,
    )
    score(
        "multi_issue (positive = multi)",
        bodies,
        lambda ex: multi_issue(ex.subject, ex.body, lexicon),
        seed=args.seed,
        show_errors=args.errors,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
