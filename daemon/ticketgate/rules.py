"""The admin's rules under `rules/`: queues, routes and the etiquette lexicon.

- `queues.yaml`: queues with their function addresses, display names and staff;
- `routes.yaml`: the routing rules, first match wins (optional);
- `etiquette.yaml`: word lists, patterns and thresholds of the flags (optional; the shipped
  defaults apply without it).

Each file is validated against its JSON Schema (shipped in the package and referenced from the
example files so editors complete them), and every error names file:line:col.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from . import queuechecks
from .addresses import canonical
from .etiquette import Lexicon, default_lexicon, load_lexicon, site_words
from .identity import AUTOMAIL, FLAGS
from .routing import Routes, load_routes
from .validation import load_schema, validate
from .yamlsource import ConfigError, Located, Position, SourceError, load_file

QUEUES_FILE = "queues.yaml"
ROUTES_FILE = "routes.yaml"
ETIQUETTE_FILE = "etiquette.yaml"


@dataclass(frozen=True)
class Queue:
    """A queue of tickets, reached through one or more function addresses."""

    name: str
    display_name: str
    addresses: tuple[str, ...]
    staff: tuple[str, ...] = ()
    acknowledge: bool = True

    def is_staff(self, address: str) -> bool:
        """Whether `address` belongs to this queue's staff: the one question every stage,
        the outbox and the staff side ask (compared as function addresses are, without case
        or +detail), so that new ways of naming staff change only this."""
        if not address:
            return False
        wanted = canonical(address)
        return any(canonical(member) == wanted for member in self.staff)


@dataclass(frozen=True)
class Rules:
    """Everything loaded from the rules directory; replaced whole on reload."""

    queues: Mapping[str, Queue]
    function_addresses: Mapping[str, str] = field(default_factory=dict)
    routes: Routes = field(default_factory=lambda: load_routes(None, queues=(), templates=())[0])
    lexicon: Lexicon = field(default_factory=default_lexicon)
    templates: frozenset[str] = frozenset()
    source: Path | None = None

    def queue_for(self, address: str) -> Queue | None:
        """The queue whose function address `address` is (after canonicalisation)."""
        name = self.function_addresses.get(canonical(address))
        return self.queues.get(name) if name else None

    def is_function_address(self, address: str) -> bool:
        return canonical(address) in self.function_addresses

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled for the pipeline child (pipelineproc.py); read-only mapping views do not
        # pickle, so they travel as dicts and are wrapped again.
        return _unpickle, (dict(self.queues), dict(self.function_addresses), self.routes,
                           self.lexicon, self.templates, self.source)


def _unpickle(queues: dict[str, Queue], owners: dict[str, str], routes: Routes,
              lexicon: Lexicon, templates: frozenset[str], source: Path | None) -> Rules:
    return Rules(queues=MappingProxyType(queues), function_addresses=MappingProxyType(owners),
                 routes=routes, lexicon=lexicon, templates=templates, source=source)


def _load_queues(doc: Located) -> tuple[dict[str, Queue], dict[str, str], list[SourceError]]:
    errors = queuechecks.plainer(validate(doc, load_schema("queues")))
    if errors:
        return {}, {}, errors
    queues: dict[str, Queue] = {}
    owners: dict[str, str] = {}
    for name, q in doc.data["queues"].items():
        addresses = tuple(canonical(a) for a in q["addresses"])
        for i, addr in enumerate(addresses):
            if addr in owners:
                errors.append(
                    doc.error(
                        ("queues", name, "addresses", i),
                        f"function address {addr} already belongs to queue {owners[addr]!r}",
                    )
                )
            owners[addr] = name
        queues[name] = Queue(
            name=name,
            display_name=q.get("display_name", name),
            addresses=addresses,
            staff=tuple(a.strip().lower() for a in q.get("staff", [])),
            acknowledge=bool(q.get("acknowledge", True)),
        )
    errors += queuechecks.address_errors(doc, owners)
    return queues, owners, errors


def template_names(templates_dir: Path | None) -> frozenset[str]:
    """Names of the templates present: `acknowledgement.sv.txt.j2` is `acknowledgement`."""
    if templates_dir is None or not templates_dir.is_dir():
        return frozenset()
    return frozenset(p.name.split(".")[0] for p in templates_dir.glob("*.j2"))


_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _lexicon_error(doc: Located, exc: ValueError) -> SourceError:
    """Place a lexicon error ("etiquette rules: languages.sv.filler[3]: ...") in the file."""
    text = str(exc).removeprefix("etiquette rules: ")
    key, _, message = text.partition(": ")
    path: list[str | int] = []
    for name, index in _KEY_PART.findall(key):
        path.append(int(index) if index else name)
    known = tuple(path)
    while known and known not in doc.positions:
        known = known[:-1]
    where = doc.key_at(known) if known and known == tuple(path) and isinstance(path[-1], str) \
        else doc.at(known)
    return SourceError(where, f"{key}: {message}" if message else text)


def _load_lexicon(rules_dir: Path) -> tuple[Lexicon, list[SourceError]]:
    path = rules_dir / ETIQUETTE_FILE
    if not path.is_file():
        return default_lexicon(), []
    doc = load_file(path)
    try:
        return load_lexicon(doc.data if doc.data is not None else {}), []
    except ValueError as exc:
        return default_lexicon(), [_lexicon_error(doc, exc)]


def load_rules(rules_dir: Path, templates_dir: Path | None = None) -> Rules:
    """Load and validate the rules directory; raise ConfigError listing every problem."""
    path = rules_dir / QUEUES_FILE
    if not path.is_file():
        raise ConfigError([SourceError(Position(str(path), 1, 1), "queues file not found")])
    errors: list[SourceError] = []
    doc = load_file(path)
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.error((), "expected a mapping with a 'queues' key")])
    queues, owners, queue_errors = _load_queues(doc)
    errors += queue_errors
    templates = template_names(templates_dir)
    routes_path = rules_dir / ROUTES_FILE
    routes_doc: Located | None = None
    if routes_path.is_file():
        try:
            routes_doc = load_file(routes_path)
        except ConfigError as exc:
            errors += exc.errors
    # With broken queues, still check routes against the queue names the file does give,
    # so one typo does not cascade into an error on every route.
    queue_names = tuple(queues)
    raw_queues = doc.data.get("queues")
    if not queue_names and isinstance(raw_queues, dict):
        queue_names = tuple(n for n in raw_queues if isinstance(n, str))
    routes, route_errors = load_routes(routes_doc, queues=queue_names,
                                       templates=templates if templates_dir else (),
                                       function_addresses=tuple(owners) if queues else None,
                                       flags=FLAGS, automail_classes=AUTOMAIL)
    errors += route_errors
    try:
        lexicon, lexicon_errors = _load_lexicon(rules_dir)
    except ConfigError as exc:
        lexicon, lexicon_errors = default_lexicon(), exc.errors
    errors += lexicon_errors
    if errors:
        raise ConfigError(errors)
    # The site's own names teach the subject model its systems ("Ladok", "LU-kortet").
    lexicon = lexicon.with_site_names(
        site_words(raw_queues if isinstance(raw_queues, dict) else None,
                   routes_doc.data if routes_doc is not None else None))
    return Rules(
        queues=MappingProxyType(queues),
        function_addresses=MappingProxyType(owners),
        routes=routes,
        lexicon=lexicon,
        templates=templates,
        source=rules_dir,
    )
