"""Checks of rules/queues.yaml that its JSON Schema cannot make: addresses that would misroute.

- A function address needs a fully qualified domain: `helpdesk@localhost` or `helpdesk@intranet`
  cannot be reached from another host, and our replies would come from an address no one can
  answer.
- A queue's staff must not include a function address (its own or another queue's): every
  notification to it would come back in as a new mail, a loop waiting to happen.

Each error points at the address in the file (file:line:col).
"""

from __future__ import annotations

from collections.abc import Mapping

from .addresses import canonical, domain_of
from .yamlsource import Located, SourceError

# The schema's address pattern, as jsonschema words a mismatch, and what an admin should read.
_SCHEMA_ADDRESS = "does not match '^[^@\\\\s]+@[^@\\\\s]+$'"
_PLAIN_ADDRESS = "is not an address with a domain (like helpdesk@example.org)"


def plainer(errors: list[SourceError]) -> list[SourceError]:
    """The schema's errors, with its address pattern said in words."""
    return [SourceError(e.position, e.message.replace(_SCHEMA_ADDRESS, _PLAIN_ADDRESS))
            for e in errors]


def unqualified(address: str) -> bool:
    """True when the domain has no dot (`localhost`, `intranet`) or ends in a local-only name."""
    domain = domain_of(address).rstrip(".")
    return "." not in domain or domain.rsplit(".", 1)[1] in ("localhost", "localdomain", "local")


def address_errors(doc: Located, owners: Mapping[str, str]) -> list[SourceError]:
    """Errors for the queues of a schema-valid `doc`; `owners` maps each function address
    (canonical) to its queue."""
    errors: list[SourceError] = []
    for name, queue in doc.data["queues"].items():
        for i, address in enumerate(queue["addresses"]):
            if unqualified(address):
                errors.append(doc.error(
                    ("queues", name, "addresses", i),
                    f"function address {address} has no fully qualified domain: mail from other "
                    "hosts cannot reach it, and replies to our mail would go nowhere"))
        for i, address in enumerate(queue.get("staff", [])):
            owner = owners.get(canonical(address))
            if owner is not None:
                whose = "this queue" if owner == name else f"queue {owner!r}"
                errors.append(doc.error(
                    ("queues", name, "staff", i),
                    f"staff address {address} is a function address (of {whose}): each "
                    "notification would come back as new mail, a mail loop; name the staff's "
                    "own addresses"))
    return errors
