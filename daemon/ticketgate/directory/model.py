"""Who wrote: a person as the institution's directory knows them, and what a directory offers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

Affiliation = Literal["staff", "student", "guest", ""]
AFFILIATIONS: tuple[str, ...] = ("staff", "student", "guest")

# The fields a backend fills in, in the order the CSV file and `directory lookup` show them.
FIELDS: tuple[str, ...] = ("username", "name", "email", "affiliation", "department", "phone")


@dataclass(frozen=True)
class Person:
    """One entry of the directory: what the pipeline attaches to a ticket and its verdict."""

    username: str
    name: str = ""
    email: str = ""  # the directory's (primary) address, which may differ from the sender's
    affiliation: Affiliation = ""
    department: str = ""
    phone: str = ""

    def to_json(self) -> dict[str, str]:
        """The person as a plain mapping (stored on the ticket, shown by the CLI)."""
        return {f: getattr(self, f) for f in FIELDS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Person:
        """The inverse of to_json; unknown keys are ignored, missing ones left empty."""
        values = {f: str(data.get(f) or "") for f in FIELDS}
        if values["affiliation"] not in AFFILIATIONS:
            values["affiliation"] = ""
        return cls(**values)  # type: ignore[arg-type]

    def describe(self) -> str:
        """One line for people: `Kim Student (kim), student, Physics, +46 46 222 00 00`."""
        who = f"{self.name} ({self.username})" if self.name else self.username
        return ", ".join(p for p in (who, self.affiliation, self.department, self.phone) if p)


class DirectoryUnavailable(Exception):
    """The directory could not answer now (down, slow, refused the bind): try again later."""


class Directory(Protocol):
    """A backend. Lookups block; the caller (directory.lookup.Lookup) bounds and caches them.

    Each returns the one person the key names, or None when the directory knows no one (or
    more than one entry) by it; DirectoryUnavailable when it cannot tell now.
    """

    description: str  # e.g. "csv /etc/ticketgate/directory.csv" or "ldap ldaps://ldap.example.org"
    timeout: float | None  # seconds one lookup may take, or None when it cannot hang (a file)

    def by_address(self, address: str) -> Person | None: ...

    def by_username(self, username: str) -> Person | None: ...

    def close(self) -> None: ...
