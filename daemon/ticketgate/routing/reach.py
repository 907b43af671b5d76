"""Which rules can never decide: those after a catch-all, or shadowed by an earlier rule.

The analysis is conservative: it reports a rule only when it is certain, so a clean
`rules check` never hides a real problem behind a false alarm. A condition "always holds"
when it is built only from `all`, `any`, `not` and regexes that match the empty string at the
start of any text (`.*`, `^`, `x?`) on the subject or the new text (which every mail has).
A rule is shadowed when an earlier rule's conditions are a subset of its own conjunction
(`when:` keys and `all:` items), which covers a catch-all (no conditions) and a copied rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .match import AllOf, AnyOf, Condition, FieldTest, Matches, Not

try:  # the stdlib's own regex parser; without it every regex counts as "may fail"
    from re import _constants as _sre  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - other Python versions
    _sre = _sre_parse = None


def _empty_at_start(items: Any) -> bool:
    """True when a parsed regex sequence can match "" at position 0 of every string."""
    for op, arg in items:
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", None)):
            low, _high, body = arg
            ok = low == 0 or _empty_at_start(body)
        elif op is _sre.SUBPATTERN:
            ok = _empty_at_start(arg[-1])
        elif op is getattr(_sre, "ATOMIC_GROUP", None):
            ok = _empty_at_start(arg)
        elif op is _sre.BRANCH:
            ok = any(_empty_at_start(branch) for branch in arg[1])
        elif op is _sre.AT:
            ok = arg in (_sre.AT_BEGINNING, _sre.AT_BEGINNING_STRING)
        else:  # characters, lookarounds, backreferences, word boundaries: may fail
            ok = False
        if not ok:
            return False
    return True


def matches_everything(pattern: re.Pattern[str]) -> bool:
    """True when `pattern.search` succeeds on every string (e.g. `.*`, `^`, `(a|)`)."""
    if _sre_parse is None:
        return False
    try:
        return _empty_at_start(_sre_parse.parse(pattern.pattern, pattern.flags))
    except Exception:  # an internal API: never let it break loading
        return False


def always(cond: Condition) -> bool:
    """The condition holds for every message."""
    if isinstance(cond, AllOf):
        return all(always(c) for c in cond.items)
    if isinstance(cond, AnyOf):
        return any(always(c) for c in cond.items)
    if isinstance(cond, Not):
        return never(cond.item)
    if isinstance(cond, FieldTest) and cond.field in ("subject", "text"):
        # every message has a subject and a text (perhaps empty), so only the tests matter
        return all(isinstance(t, Matches) and matches_everything(t.pattern) for t in cond.tests)
    return False


def never(cond: Condition) -> bool:
    """The condition holds for no message."""
    if isinstance(cond, AllOf):
        return any(never(c) for c in cond.items)
    if isinstance(cond, AnyOf):
        return all(never(c) for c in cond.items)
    if isinstance(cond, Not):
        return always(cond.item)
    return False


def conjuncts(cond: Condition | None) -> frozenset[Condition]:
    """The conditions that must all hold, with `all:` flattened and tautologies left out."""
    if cond is None:
        return frozenset()
    if isinstance(cond, AllOf):
        return frozenset().union(*(conjuncts(c) for c in cond.items))
    return frozenset() if always(cond) else frozenset({cond})


def problems(rules: Sequence[tuple[int, str, int, Condition | None]]) -> list[tuple[int, str]]:
    """(index, message) for each rule that can never decide.

    `rules` holds (index, name, line, when) of the well-formed rules, in file order.
    """
    found: list[tuple[int, str]] = []
    earlier: list[tuple[str, int, frozenset[Condition]]] = []
    for index, name, line, when in rules:
        mine = conjuncts(when)
        if when is not None and never(when):
            found.append((index, f"rule {name!r} can never match: its conditions contradict"))
            continue  # and so it shadows nothing
        for other, other_line, theirs in earlier:
            if theirs <= mine:
                why = (
                    "matches every message"
                    if not theirs
                    else "matches every message this one would"
                )
                found.append(
                    (index, f"rule {name!r} is unreachable: rule {other!r} "
                            f"(line {other_line}) before it {why}")
                )
                break
        earlier.append((name, line, mine))
    return found
