"""The admin's rules under `rules/`: queues with their function addresses and staff.

Each file is validated against its JSON Schema (shipped in the package and referenced from the
example files so editors complete them), and every error names file:line:col.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .addresses import canonical
from .validation import load_schema, validate
from .yamlsource import ConfigError, Located, Position, SourceError, load_file

QUEUES_FILE = "queues.yaml"


@dataclass(frozen=True)
class Queue:
    """A queue of tickets, reached through one or more function addresses."""

    name: str
    display_name: str
    addresses: tuple[str, ...]
    staff: tuple[str, ...] = ()
    acknowledge: bool = True


@dataclass(frozen=True)
class Rules:
    """Everything loaded from the rules directory; replaced whole on reload."""

    queues: Mapping[str, Queue]
    function_addresses: Mapping[str, str] = field(default_factory=dict)
    source: Path | None = None

    def queue_for(self, address: str) -> Queue | None:
        """The queue whose function address `address` is (after canonicalisation)."""
        name = self.function_addresses.get(canonical(address))
        return self.queues.get(name) if name else None

    def is_function_address(self, address: str) -> bool:
        return canonical(address) in self.function_addresses


def _load_queues(doc: Located) -> tuple[dict[str, Queue], dict[str, str], list[SourceError]]:
    errors = validate(doc, load_schema("queues"))
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
    return queues, owners, errors


def load_rules(rules_dir: Path) -> Rules:
    """Load and validate the rules directory; raise ConfigError listing every problem."""
    path = rules_dir / QUEUES_FILE
    if not path.is_file():
        raise ConfigError([SourceError(Position(str(path), 1, 1), "queues file not found")])
    doc = load_file(path)
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.error((), "expected a mapping with a 'queues' key")])
    queues, owners, errors = _load_queues(doc)
    if errors:
        raise ConfigError(errors)
    return Rules(
        queues=MappingProxyType(queues),
        function_addresses=MappingProxyType(owners),
        source=rules_dir,
    )
