"""Loading rules/routes.yaml: JSON Schema first, then what a schema cannot say.

The schema (schemas/routes.schema.json) catches unknown keys, with a did-you-mean, and wrong
types. The checks here need the rest of the configuration or real compilation: unknown queues
and templates, invalid regexes, addresses and flags that do not exist, contradictory actions,
duplicate names and rules that can never decide. Every error carries the line and column of
the value it is about, and all of them are collected: an admin fixes a file in one pass.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from ..addresses import canonical
from ..validation import load_schema, validate
from ..yamlsource import Located, SourceError
from . import match as m
from .model import NO_ACK, Action, Routes, Rule
from .reach import problems
from .text import fold, nfc

Path_ = tuple[str | int, ...]

_FLAG = re.compile(r"[a-z][a-z0-9_]*")
_FIELDS = ("function_address", "sender", "subject", "text", "header")


def did_you_mean(word: str, choices: Collection[str]) -> str:
    """" (did you mean 'x'?)" for the closest choice, or ""."""
    by_lower = {c.lower(): c for c in sorted(choices)}  # "SoT" is close to "sot"
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


# validation.py words type errors for single types; the unions of routes.yaml read better so.
_PLAINER = (
    ("expected ['string', 'array']", "expected a string or a list of strings"),
    ("expected ['boolean', 'string', 'array']", "expected true, false, a class or a list of them"),
    ("one of True, False, ", "one of true, false, "),
    ("does not match '^[^@\\\\s]+@[^@\\\\s]+$'", "is not an address"),
    ("does not match '^[^\\\\s,]+$'", "is not a tag (no spaces or commas)"),
    ("does not match '^[a-z][a-z0-9_]*$'", "is not a name (lowercase, digits, _)"),
    ("does not match '^[A-Za-z0-9][A-Za-z0-9_.-]*$'", "is not a rule name (letters, digits, ._-)"),
    ("does not match '^[!-9;-~]+$'", "is not a header name"),
    ("acknowledgement: expected string", "acknowledgement: expected a template name or none"),
)


def _plainer(error: SourceError) -> SourceError:
    message = error.message
    for old, new in _PLAINER:
        message = message.replace(old, new)
    return SourceError(error.position, message)


def _strings(value: Any, path: Path_) -> list[tuple[str, Path_]]:
    """A string or a list of strings, each with its path; anything else is the schema's job."""
    if isinstance(value, str):
        return [(value, path)]
    if isinstance(value, list):
        return [(v, (*path, i)) for i, v in enumerate(value) if isinstance(v, str)]
    return []


@dataclass
class _Compiler:
    doc: Located
    queues: frozenset[str]
    templates: frozenset[str]
    function_addresses: frozenset[str] | None
    flags: frozenset[str] | None
    automail_classes: frozenset[str] | None = None
    errors: list[SourceError] = field(default_factory=list)

    def error(self, path: Path_, message: str) -> None:
        self.errors.append(self.doc.error(path, message))

    # -- conditions; None means "not compilable" (an error was reported, here or by the schema)

    def condition(self, data: Any, path: Path_) -> m.Condition | None:
        if not isinstance(data, dict) or not data:
            return None
        parts: list[m.Condition | None] = []
        for key, value in data.items():
            sub = (*path, key)
            if key in ("all", "any"):
                items = (
                    [self.condition(v, (*sub, i)) for i, v in enumerate(value)]
                    if isinstance(value, list) and value
                    else [None]
                )
                ok = [c for c in items if c is not None]
                whole = len(ok) == len(items)
                parts.append(
                    (m.AllOf(tuple(ok)) if key == "all" else m.AnyOf(tuple(ok))) if whole else None
                )
            elif key == "not":
                inner = self.condition(value, sub)
                parts.append(m.Not(inner) if inner is not None else None)
            elif key in _FIELDS:
                parts.append(self.field_test(key, value, sub))
            elif key == "flag":
                parts.append(self.flag(value, sub))
            elif key == "automail":
                parts.append(self.automail(value, sub))
            else:
                parts.append(None)  # unknown key: the schema names it
        if any(p is None for p in parts):
            return None
        done = [p for p in parts if p is not None]
        return done[0] if len(done) == 1 else m.AllOf(tuple(done))

    def field_test(self, name: str, data: Any, path: Path_) -> m.Condition | None:
        if not isinstance(data, dict):
            return None
        address = name in ("sender", "function_address")
        tests: list[m.Test | None] = []
        header: str | None = None
        for key, value in data.items():
            sub = (*path, key)
            if key == "name" and name == "header":
                header = value.lower() if isinstance(value, str) else None
                continue
            if key == "matches":
                tests.append(self.regex(value, sub))
                continue
            items = _strings(value, sub)
            if not items:
                tests.append(None)
            elif key == "contains":
                tests.append(self.contains(items))
            elif key == "equals" and address:
                if name == "function_address":
                    self.check_function_addresses(items)
                    values = [canonical(v) for v, _ in items]
                else:
                    values = [v.strip().lower() for v, _ in items]
                shown = tuple(v for v, _ in items)
                tests.append(m.Equals(frozenset(values), shown, address=True))
            elif key == "equals":
                shown = tuple(v for v, _ in items)
                tests.append(m.Equals(frozenset(fold(v) for v in shown), shown))
            elif key == "domain":
                tests.append(m.Domain(tuple(v.strip().lower().lstrip("@.") for v, _ in items)))
            elif key == "glob":
                globs = tuple(v.strip().lower() for v, _ in items)
                pats = tuple(re.compile(fnmatch.translate(g)) for g in globs)
                tests.append(m.Glob(tuple(v for v, _ in items), pats))
            else:
                tests.append(None)
        if any(t is None for t in tests) or (name == "header" and header is None):
            return None
        return m.FieldTest(name, tuple(t for t in tests if t is not None), header=header)

    def contains(self, items: list[tuple[str, Path_]]) -> m.Test | None:
        needles = []
        for value, path in items:
            needle = fold(value)
            if not needle:
                self.error(path, f"{value!r} has nothing to look for once spaces are ignored")
                return None
            needles.append(needle)
        return m.Contains(tuple(needles), tuple(v for v, _ in items))

    def regex(self, value: Any, path: Path_) -> m.Test | None:
        if not isinstance(value, str) or not value:
            return None
        try:
            return m.Matches(re.compile(nfc(value), re.IGNORECASE))
        except re.error as exc:
            self.error(path, f"invalid regular expression {value!r}: {exc}")
        except (OverflowError, RecursionError, ValueError) as exc:
            self.error(path, f"invalid regular expression {value!r}: {exc}")
        return None

    def check_function_addresses(self, items: list[tuple[str, Path_]]) -> None:
        known = self.function_addresses
        if known is None:
            return
        for value, path in items:
            if canonical(value) not in known:
                self.error(
                    path,
                    f"{value!r} is not a function address of queues.yaml"
                    + did_you_mean(canonical(value), known),
                )

    def flag(self, value: Any, path: Path_) -> m.Condition | None:
        items = _strings(value, path)
        if not items:
            return None
        if self.flags is not None:
            for name, where in items:
                if _FLAG.fullmatch(name) and name not in self.flags:  # else: the schema's
                    self.error(where, f"unknown flag {name!r}" + did_you_mean(name, self.flags))
        return m.Flag(tuple(v for v, _ in items))

    def automail(self, value: Any, path: Path_) -> m.Condition | None:
        if isinstance(value, bool):
            return m.Automail(None, present=value)
        items = _strings(value, path)
        known = self.automail_classes
        if known is not None:
            for name, where in items:
                if _FLAG.fullmatch(name) and name not in known:  # else: the schema's
                    self.error(where, f"unknown automail class {name!r}"
                               + did_you_mean(name, known))
        return m.Automail(tuple(v for v, _ in items)) if items else None

    # -- actions

    def action(self, data: Any, path: Path_) -> Action | None:
        if not isinstance(data, dict):
            return None
        queue = data.get("queue")
        if isinstance(queue, str) and queue not in self.queues:
            self.error(
                (*path, "queue"), f"unknown queue {queue!r}" + did_you_mean(queue, self.queues)
            )
        ack = data.get("acknowledgement")
        if isinstance(ack, str) and ack != NO_ACK and ack not in self.templates:
            self.error(
                (*path, "acknowledgement"),
                f"unknown template {ack!r}" + did_you_mean(ack, self.templates)
                + f" (or {NO_ACK!r} to send no acknowledgement)",
            )
        if data.get("drop") is True:
            if data.get("hold") is True:
                self.error((*path, "hold"), "a mail cannot be both held and dropped")
            for key in ("queue", "priority", "acknowledgement", "notify"):
                if key in data:
                    self.error(
                        (*path, key),
                        f"{key!r} has no effect: a dropped mail gets no ticket and no mail",
                    )
        return Action(
            queue=queue if isinstance(queue, str) else None,
            priority=p if isinstance(p := data.get("priority"), str) else None,
            tags=tuple(dict.fromkeys(v for v, _ in _strings(data.get("tags"), ()))),
            acknowledgement=ack if isinstance(ack, str) else None,
            notify=tuple(dict.fromkeys(v.lower() for v, _ in _strings(data.get("notify"), ()))),
            hold=data.get("hold") is True,
            drop=data.get("drop") is True,
        )


def _rules_failing_schema(data: Any, schema: dict[str, Any]) -> set[int]:
    """Indices of the rules with a schema error (left out of the reachability analysis)."""
    validator = jsonschema.Draft202012Validator(schema)
    bad: set[int] = set()
    for err in validator.iter_errors(data):
        path = list(err.absolute_path)
        if len(path) >= 2 and path[0] == "routes" and isinstance(path[1], int):
            bad.add(path[1])
    return bad


def load_routes(
    doc: Located | None,
    *,
    queues: Collection[str],
    templates: Collection[str],
    function_addresses: Collection[str] | None = None,
    flags: Collection[str] | None = None,
    automail_classes: Collection[str] | None = None,
) -> tuple[Routes, list[SourceError]]:
    """Validate and compile routes.yaml; never raises for bad input.

    `doc` is None when the file is absent, which means no rules: every mail takes its default
    route. `queues` and `templates` are the names rules may use; `function_addresses`,
    `flags` and `automail_classes`, when given, are checked too (with a did-you-mean).
    Returns the routes and every error found, sorted by position; when there is any error
    the routes are empty, so a half-understood file never routes mail.
    """
    if doc is None:
        return Routes(), []
    if doc.data is None:  # an empty file, or only comments
        return Routes(source=doc.file), []
    schema = load_schema("routes")
    errors = [_plainer(e) for e in validate(doc, schema)]
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("routes"), list):
        return Routes(source=doc.file), _sorted_unique(errors) or [
            doc.error((), "expected a mapping with a 'routes' list")
        ]
    compiler = _Compiler(
        doc,
        queues=frozenset(queues),
        templates=frozenset(templates),
        function_addresses=(
            frozenset(canonical(a) for a in function_addresses)
            if function_addresses is not None
            else None
        ),
        # str(): plain names, also when given the identity registries' StrEnum members
        flags=frozenset(map(str, flags)) if flags is not None else None,
        automail_classes=(
            frozenset(map(str, automail_classes)) if automail_classes is not None else None
        ),
    )
    failing = _rules_failing_schema(data, schema)
    rules: list[Rule] = []
    sound: list[tuple[int, str, int, m.Condition | None]] = []
    first_of: dict[str, int] = {}
    for i, raw in enumerate(data["routes"]):
        if not isinstance(raw, dict):
            continue
        path: Path_ = ("routes", i)
        name = raw.get("name")
        if isinstance(name, str):
            if name in first_of:
                compiler.error(
                    (*path, "name"),
                    f"duplicate rule name {name!r} (first at line {first_of[name]})",
                )
            first_of.setdefault(name, doc.at((*path, "name")).line)
        when = compiler.condition(raw["when"], (*path, "when")) if "when" in raw else None
        then = compiler.action(raw.get("then"), (*path, "then"))
        ok = i not in failing and ("when" not in raw or when is not None) and then is not None
        if ok and isinstance(name, str) and then is not None:
            line = doc.at(path).line
            rules.append(Rule(name=name, when=when, then=then, line=line))
            sound.append((i, name, line, when))
    for index, message in problems(sound):
        compiler.error(("routes", index), message)
    errors = _sorted_unique([*errors, *compiler.errors])
    if errors:
        return Routes(source=doc.file), errors
    return Routes(rules=tuple(rules), source=doc.file), []


def _sorted_unique(errors: list[SourceError]) -> list[SourceError]:
    seen = dict.fromkeys(errors)
    return sorted(seen, key=lambda e: (e.position.line, e.position.column, e.message))
