"""YAML loading that remembers where every value came from, for `file:line:col` errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """A place in a source file; line and column count from 1, as editors show them."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class SourceError:
    """One problem in an admin-edited file."""

    position: Position
    message: str

    def __str__(self) -> str:
        return f"{self.position}: {self.message}"


class ConfigError(Exception):
    """Raised when a settings or rules file is invalid; carries every error found."""

    def __init__(self, errors: list[SourceError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass
class Located:
    """A parsed YAML document plus the position of every node, keyed by its path."""

    file: str
    data: Any
    positions: dict[Path_, Position] = field(default_factory=dict)
    key_positions: dict[Path_, Position] = field(default_factory=dict)

    def at(self, path: Path_) -> Position:
        """Position of the value at `path`, or of its closest ancestor."""
        probe = tuple(path)
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), Position(self.file, 1, 1))

    def key_at(self, path: Path_) -> Position:
        """Position of the mapping key that ends `path` (for unknown-key errors)."""
        return self.key_positions.get(tuple(path)) or self.at(path)

    def error(self, path: Path_, message: str) -> SourceError:
        return SourceError(self.at(path), message)


def _mark(file: str, node: yaml.Node) -> Position:
    return Position(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _construct(loc: Located, node: yaml.Node, path: Path_, loader: yaml.SafeLoader) -> Any:
    loc.positions[path] = _mark(loc.file, node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if not isinstance(key, str | int | bool | float) and key is not None:
                where = _mark(loc.file, key_node)
                raise ConfigError([SourceError(where, "mapping keys must be plain")])
            if key in result:
                raise ConfigError(
                    [SourceError(_mark(loc.file, key_node), f"duplicate key {key!r}")]
                )
            # Paths name keys as written; odd scalar keys (1.5, null) are named by their text.
            child = (*path, key if isinstance(key, str | int) else str(key))
            loc.key_positions[child] = _mark(loc.file, key_node)
            result[key] = _construct(loc, value_node, child, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loc, item, (*path, i), loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)  # type: ignore[no-untyped-call]


def load_text(text: str, file: str) -> Located:
    """Parse YAML text; raise ConfigError with the file, line and column of a syntax error."""
    loc = Located(file=file, data=None)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            loc.data = None
            return loc
        loc.data = _construct(loc, node, (), loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(file, mark.line + 1, mark.column + 1) if mark else Position(file, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([SourceError(pos, f"YAML syntax: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([SourceError(Position(file, 1, 1), f"YAML: {exc}")]) from None
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    return loc


def load_file(path: Path) -> Located:
    """Read and parse one YAML file; unreadable or non-UTF-8 files are ConfigErrors too."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([SourceError(Position(str(path), 1, 1), f"cannot read: {exc}")]) from None
    return load_text(text, str(path))


def walk(data: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every (path, value) pair of a nested structure, parents first."""
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from walk(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from walk(value, (*path, i))
