"""Compiled route conditions and their evaluation: first match wins.

Every condition answers `test(view)` with None (no match) or a short text saying what matched,
which becomes the decision's explanation. Everything costly (regexes, folded word lists, globs)
is prepared at load time; a View folds each message text at most once per evaluation.

Regular expressions run on the mail's own text. The parser caps the new text, and subject and
header values are short, which is what bounds a pathological pattern's running time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from ..addresses import domain_of
from .model import Decision, Facts, Routes
from .text import fold, nfc

_SHOW = 40  # characters of a matched fragment quoted in an explanation


def _regex(pattern: re.Pattern[str]) -> str:
    text = pattern.pattern
    return "/" + (text if len(text) <= 2 * _SHOW else text[: 2 * _SHOW] + "…") + "/"


def _shown(items: tuple[str, ...]) -> str:
    head = ", ".join(repr(i) for i in items[:4])
    return head + (f", … ({len(items)} in all)" if len(items) > 4 else "")


class View:
    """The facts of one message, with folded and composed forms computed once, on demand."""

    __slots__ = ("_folded", "_headers", "_nfc", "facts")

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self._folded: dict[str, str] = {}
        self._nfc: dict[str, str] = {}
        self._headers: dict[str, tuple[str, ...]] | None = None

    def fold(self, value: str) -> str:
        if value not in self._folded:
            self._folded[value] = fold(value)
        return self._folded[value]

    def nfc(self, value: str) -> str:
        if value not in self._nfc:
            self._nfc[value] = nfc(value)
        return self._nfc[value]

    def values(self, field: str, header: str | None = None) -> tuple[str, ...]:
        """The values a field condition looks at; it matches when any one of them does."""
        facts = self.facts
        if field == "subject":
            return (facts.subject,)
        if field == "text":
            return (facts.text,)
        if field == "sender":
            return (facts.sender,) if facts.sender else ()
        if field == "function_address":
            return facts.function_addresses
        if self._headers is None:
            collected: dict[str, list[str]] = {}
            for name, value in facts.headers:
                collected.setdefault(name.lower(), []).append(value)
            self._headers = {k: tuple(v) for k, v in collected.items()}
        return self._headers.get(header or "", ())


class Test(Protocol):
    """One test of a single value (`contains`, `matches`, `equals`, `domain`, `glob`)."""

    def check(self, value: str, view: View) -> str | None: ...

    def describe(self) -> str: ...


class Condition(Protocol):
    """A compiled `when:` (or part of one)."""

    def test(self, view: View) -> str | None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Contains:
    needles: tuple[str, ...]  # folded
    shown: tuple[str, ...]  # as the admin wrote them

    def check(self, value: str, view: View) -> str | None:
        folded = view.fold(value)
        for needle, shown in zip(self.needles, self.shown, strict=True):
            if needle in folded:
                return f"contains {shown!r}"
        return None

    def describe(self) -> str:
        return f"contains {_shown(self.shown)}"


@dataclass(frozen=True)
class Matches:
    pattern: re.Pattern[str]

    def check(self, value: str, view: View) -> str | None:
        found = self.pattern.search(view.nfc(value))
        if found is None:
            return None
        return f"matches {_regex(self.pattern)} at {found.group(0)[:_SHOW]!r}"

    def describe(self) -> str:
        return f"matches {_regex(self.pattern)}"


@dataclass(frozen=True)
class Equals:
    values: frozenset[str]  # folded (text) or lowercased (addresses)
    shown: tuple[str, ...]
    address: bool = False

    def check(self, value: str, view: View) -> str | None:
        key = value.strip().lower() if self.address else view.fold(value)
        return f"equals {value.strip()!r}" if key in self.values else None

    def describe(self) -> str:
        return f"equals {_shown(self.shown)}"


@dataclass(frozen=True)
class Domain:
    domains: tuple[str, ...]  # lowercased; each also covers its subdomains

    def check(self, value: str, view: View) -> str | None:
        domain = domain_of(value)
        for d in self.domains:
            if domain == d or domain.endswith("." + d):
                return f"is in domain {d!r}"
        return None

    def describe(self) -> str:
        return f"is in domain {_shown(self.domains)}"


@dataclass(frozen=True)
class Glob:
    shown: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]  # fnmatch.translate of the lowercased globs

    def check(self, value: str, view: View) -> str | None:
        lowered = value.strip().lower()
        for shown, pattern in zip(self.shown, self.patterns, strict=True):
            if pattern.match(lowered):
                return f"matches {shown!r}"
        return None

    def describe(self) -> str:
        return f"matches {_shown(self.shown)}"


@dataclass(frozen=True)
class FieldTest:
    """`subject:`, `text:`, `sender:`, `function_address:` or `header:` with its tests.

    All the tests must hold for one and the same value; a field with several values (function
    addresses, a repeated header) matches when any value does. No tests means "is present".
    """

    field: str
    tests: tuple[Test, ...]
    header: str | None = None  # lowercased header name, for field "header"

    @property
    def label(self) -> str:
        if self.field == "header":
            return f"header {self.header}"
        return self.field.replace("_", " ")

    def test(self, view: View) -> str | None:
        for value in view.values(self.field, self.header):
            reasons = []
            for t in self.tests:
                reason = t.check(value, view)
                if reason is None:
                    break
                reasons.append(reason)
            else:
                if not reasons:
                    return f"has {self.label}"
                shown = f" {value}" if self.field in ("sender", "function_address") else ""
                return f"{self.label}{shown} " + " and ".join(reasons)
        return None

    def describe(self) -> str:
        if not self.tests:
            return f"has {self.label}"
        return f"{self.label} " + " and ".join(t.describe() for t in self.tests)


@dataclass(frozen=True)
class Flag:
    names: tuple[str, ...]

    def test(self, view: View) -> str | None:
        return next((f"flag {n}" for n in self.names if n in view.facts.flags), None)

    def describe(self) -> str:
        return f"flag {' or '.join(self.names)}"


@dataclass(frozen=True)
class Automail:
    """`automail: true` (any class), `false` (written by a person) or class names."""

    classes: tuple[str, ...] | None  # None: any class
    present: bool = True

    def test(self, view: View) -> str | None:
        found = view.facts.automail
        if not self.present:
            return "not automail" if found is None else None
        if found is not None and (self.classes is None or found in self.classes):
            return f"automail {found}"
        return None

    def describe(self) -> str:
        if not self.present:
            return "not automail"
        return "automail" + (f" {' or '.join(self.classes)}" if self.classes else "")


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]

    def test(self, view: View) -> str | None:
        reasons = []
        for item in self.items:
            reason = item.test(view)
            if reason is None:
                return None
            reasons.append(reason)
        return " and ".join(reasons)

    def describe(self) -> str:
        return "(" + " and ".join(i.describe() for i in self.items) + ")"


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]

    def test(self, view: View) -> str | None:
        return next((r for i in self.items if (r := i.test(view)) is not None), None)

    def describe(self) -> str:
        return "(" + " or ".join(i.describe() for i in self.items) + ")"


@dataclass(frozen=True)
class Not:
    item: Condition

    def test(self, view: View) -> str | None:
        return f"not {self.item.describe()}" if self.item.test(view) is None else None

    def describe(self) -> str:
        return f"not {self.item.describe()}"


def evaluate(routes: Routes, facts: Facts) -> Decision:
    """Route one message: the first rule whose `when` holds decides; else the default route.

    The default route (no rule matched) keeps the function address's own queue and changes
    nothing else. Pure: the same routes and facts always give the same decision.
    """
    view = View(facts)
    for rule in routes.rules:
        why = "it has no conditions" if rule.when is None else rule.when.test(view)
        if why is not None:
            return rule.then.decision(rule.name, f"rule {rule.name!r} (line {rule.line}): {why}")
    to = facts.function_addresses[0] if facts.function_addresses else "the function address"
    return Decision(
        rule=None,
        queue=None,
        priority=None,
        tags=(),
        acknowledgement=None,
        notify=(),
        hold=False,
        drop=False,
        explanation=f"no rule matched: default route of {to}",
    )
