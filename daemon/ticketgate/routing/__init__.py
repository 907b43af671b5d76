"""Routing: the admin's rules in rules/routes.yaml, loaded, validated and evaluated.

A pure library: `load_routes` turns the parsed YAML into immutable `Routes` (and every error,
as file:line:col), and `evaluate` picks the first rule that matches a message's `Facts`. The
route stage builds the facts and applies the `Decision`; this package does no I/O of its own
beyond reading its JSON Schema.
"""

from .load import load_routes
from .match import evaluate
from .model import NO_ACK, PRIORITIES, Action, Decision, Facts, Routes, Rule

__all__ = [
    "NO_ACK",
    "PRIORITIES",
    "Action",
    "Decision",
    "Facts",
    "Routes",
    "Rule",
    "evaluate",
    "load_routes",
]
