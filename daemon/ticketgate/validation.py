"""JSON Schema validation of admin-edited YAML, with errors placed at file:line:col."""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from .yamlsource import Located, SourceError


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema shipped in the package under schemas/NAME.schema.json."""
    text = resources.files("ticketgate").joinpath("schemas", f"{name}.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate(doc: Located, schema: dict[str, Any]) -> list[SourceError]:
    """Every schema violation in `doc`, each at the position of the offending key or value."""
    validator = jsonschema.Draft202012Validator(schema)
    errors: list[SourceError] = []
    for err in sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.path))):
        path = tuple(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = list(err.schema.get("properties", {}))
            for key in err.instance:
                if key not in allowed and not _pattern_allows(err.schema, key):
                    errors.append(
                        SourceError(
                            doc.key_at((*path, key)),
                            f"unknown key {key!r}{_did_you_mean(str(key), allowed)}",
                        )
                    )
            continue
        where = ".".join(str(p) for p in path) or "document"
        # A missing key belongs where its mapping is named, not where its first child starts.
        position = doc.key_at(path) if err.validator == "required" and path else doc.at(path)
        errors.append(SourceError(position, f"{where}: {_short(err)}"))
    return errors


def _pattern_allows(schema: dict[str, Any], key: str) -> bool:
    import re

    return any(re.search(p, key) for p in schema.get("patternProperties", {}))


def _short(err: jsonschema.ValidationError) -> str:
    if err.validator == "type":
        return f"expected {err.validator_value}, got {type(err.instance).__name__}"
    if err.validator == "enum":
        choices = ", ".join(repr(v) for v in err.validator_value)
        words = [v for v in err.validator_value if isinstance(v, str)]
        hint = _did_you_mean(err.instance, words) if isinstance(err.instance, str) else ""
        return f"{err.instance!r} is not one of {choices}{hint}"
    if err.validator == "required":
        return str(err.message)
    return str(err.message)
