"""Equivalence: the etiquette checks give exactly what the code that wrote the golden file gave.

The golden file (tests/data/etiquette_golden.json) is generated, never hand-written:
`python tests/test_etiquette_equivalence.py --write` records, for every input, what
vague_subject, multi_issue, private_address, missing_computer_name, find_username and
find_computer_name return with the shipped lexicon. Regenerate it only from code whose output is
known right, and commit it with that code; a performance change must leave it as is.

Inputs, in groups: the labelled development sets in ../shared/datasets (skipped when absent),
bench mails (bench/mails.py, seed 1) and the corpus messages in ../shared/corpora (skipped when
absent) as parse() reads them, and seeded synthetic mails built from the lexicon's own entries
around the edges of the tokenizer and the phrase matcher (case, typographic apostrophes, odd
spaces, colon endings, list items, texts longer than MAX_TEXT).

Each case is stored as a digest of its input (so a changed input is told apart from a changed
output) and its outputs, each as its canonical JSON when short, else "#" and 48 bits of the
sha256 of that JSON.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import CORPORA, DATASETS
from ticketgate import etiquette
from ticketgate.etiquette import Lexicon, default_lexicon, segment, text
from ticketgate.etiquette.text import MAX_TEXT, tokenize
from ticketgate.identity import code_pattern
from ticketgate.mail import parse

GOLDEN = Path(__file__).resolve().parent / "data" / "etiquette_golden.json"
BENCH = Path(__file__).resolve().parents[1] / "bench"
BENCH_SEED = 1
BENCH_COUNT = 500
SYNTHETIC_SEED = 7
SYNTHETIC_COUNT = 1500
DOMAINS = ("example.org",)
CHECKS = (
    "vague_subject", "vague_subject_generic", "multi_issue", "private_address",
    "missing_computer_name", "find_username", "find_computer_name",
)
_SHORT = 40  # characters of JSON kept readable; longer values are hashed
_DIGEST = 12  # hex digits of sha256 kept: 48 bits, ample for catching a change
# Senders for inputs that have none of their own: private, institutional, subdomain, unusable.
_SENDERS = ("kim@gmail.com", "anna@example.org", "lee@student.example.org", None, "not an address")

Case = tuple[str, str, str | None]  # subject, new text, sender address


def _short(value: Any) -> Any:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) > _SHORT:
        return "#" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:_DIGEST]
    return value


def outputs(case: Case, lexicon: Lexicon) -> list[Any]:
    """What each of CHECKS returns for `case`, long values hashed."""
    subject, text, sender = case
    values = [
        etiquette.vague_subject(subject, lexicon, code_pattern=code_pattern("DDG")),
        etiquette.vague_subject(subject, lexicon),
        etiquette.multi_issue(subject, text, lexicon),
        list(etiquette.private_address(sender, text, lexicon, DOMAINS)),
        etiquette.missing_computer_name(subject, text, lexicon),
        etiquette.find_username(text, lexicon),
        etiquette.find_computer_name(text, lexicon),
    ]
    return [_short(v) for v in values]


def _digest(case: Case) -> str:
    raw = json.dumps(case, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()[:_DIGEST]


# --- inputs --------------------------------------------------------------------------------


def _parsed(raw: bytes) -> Case:
    mail = parse(raw)
    return mail.subject, mail.new_text, mail.sender.address if mail.sender else None


def dataset_cases() -> dict[str, Case]:
    """The subjects (with an empty body) and the subject+body examples of ../shared/datasets."""
    out: dict[str, Case] = {}
    with open(DATASETS / "subjects.tsv", encoding="utf-8", newline="") as f:
        for i, row in enumerate(csv.DictReader(f, delimiter="\t")):
            out[f"subjects/{i}"] = (row["subject"], "", _SENDERS[i % len(_SENDERS)])
    with open(DATASETS / "bodies.jsonl", encoding="utf-8") as f:
        for i, line in enumerate(ln for ln in f if ln.strip()):
            example = json.loads(line)
            out[f"bodies/{i}"] = (example["subject"], example["body"],
                                  _SENDERS[i % len(_SENDERS)])
    return out


def bench_cases() -> dict[str, Case]:
    """The first BENCH_COUNT mails of bench/mails.py with seed BENCH_SEED, as parsed."""
    sys.path.insert(0, str(BENCH))
    try:
        from mails import MailFactory
    finally:
        sys.path.remove(str(BENCH))
    mails = MailFactory(seed=BENCH_SEED).take(BENCH_COUNT)
    return {str(i): _parsed(m.raw) for i, m in enumerate(mails)}


def corpus_cases() -> dict[str, Case]:
    files = sorted(p for p in CORPORA.rglob("*") if p.is_file() and p.name != "README.md")
    return {p.relative_to(CORPORA).as_posix(): _parsed(p.read_bytes()) for p in files}


_NOISE = (
    "kim", "ab1234cd", "mat13abc", "ab1234cd-s", "DDG-PC-0012", "ddg-lap-7", "lu-123456",
    "LU123456", "pc:n", "wifi:t", "VPN:en", "E:C", "10:30", "2110", "1.5", "e-post", "doesn't",
    "it\u2019s", "rum", "igår", "Office", "office", "the", "a", "en", "ett", "x" * 70, "k1m",
    "ab12", "är", "is", ":", "Windows", "Zotero", "SPSS", "\u00e5\u00e4\u00f6", "aaaa-bbbb-cccc",
)
_EDGE_WORDS = ("ab1234cd", "username: kim2", "DDG-PC-0012", "datornamn ab12", "datorn", "pc:n")
_GLUE = (" ", " ", " ", " ", ", ", ". ", "! ", "? ", "; ", ": ", " - ", " \u2013 ", "\n",
         "\n\n", "\n- ", "\n1. ", "\n* ", "\u00a0", " \u200b", ",\u00a0", " t.ex. ", " (", ") ")


def _vocabulary(lexicon: Lexicon) -> list[str]:
    """Every entry of every word list and topic, wildcards filled in one of a few ways."""
    entries = [e for name in etiquette.lexicon.WORD_LISTS for e in getattr(lexicon, name).entries]
    entries += [e for t in lexicon.topics for e in t.words.entries]
    fills = ("", "en", "n", "arna", "s")
    return [e.replace("*", fills[i % len(fills)]) for i, e in enumerate(entries)]


def _word(rng: random.Random, vocabulary: list[str]) -> str:
    word = rng.choice(vocabulary) if rng.random() < 0.85 else rng.choice(_NOISE)
    roll = rng.random()
    if roll < 0.1:
        return word.capitalize()
    if roll < 0.13:
        return word.upper()
    return word.replace("'", "\u2019") if roll < 0.16 else word


def _prose(rng: random.Random, vocabulary: list[str], words: int) -> str:
    parts = [_word(rng, vocabulary)]
    for _ in range(words - 1):
        parts += [rng.choice(_GLUE), _word(rng, vocabulary)]
    return "".join(parts)


def synthetic_cases(lexicon: Lexicon) -> dict[str, Case]:
    """SYNTHETIC_COUNT seeded mails made of lexicon entries and tokenizer edge cases."""
    rng = random.Random(SYNTHETIC_SEED)
    vocabulary = _vocabulary(lexicon)
    out: dict[str, Case] = {}
    for i in range(SYNTHETIC_COUNT):
        subject = _prose(rng, vocabulary, rng.choice((0, 1, 1, 2, 3, 5, 9)) or 1)
        if rng.random() < 0.2:
            subject = rng.choice(("Re: ", "SV: ", "[DDG #12] ", "Fwd: [ddg#3] ", "")) + subject
        text = _prose(rng, vocabulary, rng.choice((1, 2, 3, 5, 8, 12, 20, 40, 120)))
        if i % 10 == 0:
            text = rng.choice(("Hej,\n", "Hello Anna,\n", "")) + text + rng.choice(
                ("\nMvh Kim", "\n\nBest regards,\nLee", "\n/Lisa", "\nTack, Nils", ""))
        if i % 97 == 0:
            # Longer than MAX_TEXT: the truncation points must stay where they are.
            text = (text + "\n") * (MAX_TEXT // max(1, len(text)) + 2)
        out[str(i)] = (subject, text, _SENDERS[i % len(_SENDERS)])
    # A name, cue or computer word straddling the MAX_TEXT cut, in the body alone and after a
    # subject (missing_computer_name reads the two joined).
    for word in _EDGE_WORDS:
        for shift in range(-len(word) - 1, 2):
            pad = MAX_TEXT + shift
            text = ("x " * pad)[:pad] + word + " y"
            for subject in ("Datorn", ""):
                out[f"edge/{word}/{shift}/{subject}"] = (subject, text, "kim@gmail.com")
    return out


GROUPS = ("datasets", "bench", "corpus", "synthetic")


def cases(group: str, lexicon: Lexicon) -> dict[str, Case] | None:
    """The cases of `group`, or None when its source is absent here."""
    if group == "datasets":
        return dataset_cases() if DATASETS.is_dir() else None
    if group == "corpus":
        return corpus_cases() if CORPORA.is_dir() else None
    if group == "bench":
        return bench_cases()
    return synthetic_cases(lexicon)


def write(path: Path = GOLDEN) -> None:
    """Write the golden file, one case per line so a diff shows which ones changed."""
    lexicon = default_lexicon()
    lines = ["{", f' "checks": {json.dumps(list(CHECKS))},', ' "groups": {']
    for g, group in enumerate(GROUPS):
        found = cases(group, lexicon)
        if found is None:
            raise SystemExit(f"cannot write the golden file without the {group} inputs")
        lines.append(f"  {json.dumps(group)}: {{")
        items = list(found.items())
        for k, (name, case) in enumerate(items):
            row = [_digest(case), outputs(case, lexicon)]
            comma = "," if k < len(items) - 1 else ""
            lines.append(f"   {json.dumps(name)}: {json.dumps(row, ensure_ascii=False)}{comma}")
        lines.append("  }" + ("," if g < len(GROUPS) - 1 else ""))
    lines += [" }", "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert data["checks"] == list(CHECKS)
    return data


@pytest.mark.parametrize("group", GROUPS)
def test_outputs_match_golden(group: str, golden: dict[str, Any]) -> None:
    lexicon = default_lexicon()
    found = cases(group, lexicon)
    if found is None:
        pytest.skip(f"the {group} inputs are absent here")
    expected = golden["groups"][group]
    assert sorted(found) == sorted(expected), f"{group}: the set of cases changed"
    changed_input: list[str] = []
    differ: list[str] = []
    for name, case in found.items():
        digest, want = expected[name]
        if _digest(case) != digest:
            changed_input.append(name)
            continue
        got = outputs(case, lexicon)
        if got != want:
            which = [c for c, a, b in zip(CHECKS, got, want, strict=True) if a != b]
            differ.append(f"{name}: {', '.join(which)}")
    assert not changed_input, f"{group}: inputs changed (parse() or data?): {changed_input[:10]}"
    assert not differ, f"{group}: {len(differ)} cases differ: {differ[:10]}"


def test_lowered_is_lower_of_each_token() -> None:
    """text.lowered (one lower() over the joined tokens) equals lower() of each token alone,
    also where case mapping looks at neighbours (Greek final sigma) or changes lengths."""
    rng = random.Random(3)
    alphabet = "aZåÅΣσςΑΩİıßẞʰ\u0301ǅǈ1_Σ'-:."
    found = [t for t in (
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 6))) for _ in range(5000)
    ) for t in tokenize(t)]
    for start in range(0, len(found), 7):
        chunk = found[start : start + 7]
        assert text.lowered(chunk) == [t.lower() for t in chunk]


def test_one_scan_pieces_match_split_pieces() -> None:
    """segment.plain_piece_tokens (tokens and clause breaks in one scan) gives what splitting
    at the breaks and tokenizing each piece gives, on every sentence multi_issue reads."""
    lexicon = default_lexicon()
    for subject, body, _ in synthetic_cases(lexicon).values():
        lines = [b.text for b in segment.blocks(body[:MAX_TEXT], lexicon)]
        for line in [etiquette.strip_subject(subject), *lines]:
            for sentence in segment.sentences(line):
                assert segment.plain_piece_tokens(sentence) == segment.piece_tokens(sentence)


def test_memos_do_not_change_outputs() -> None:
    """A second pass over the same inputs (memos filled) gives the same as a fresh lexicon."""
    text = (Path(__file__).resolve().parents[1] / "rules" / "etiquette.yaml").read_text("utf-8")
    fresh = etiquette.parse_lexicon_yaml(text)
    sample = list(synthetic_cases(fresh).values())[:200]
    first = [outputs(c, fresh) for c in sample]
    assert [outputs(c, fresh) for c in sample] == first


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit(f"usage: {sys.argv[0]} --write")
    write()
