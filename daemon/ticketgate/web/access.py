"""Who may see what: staff see the queues whose `staff` lists their address; admins (the
`web.admins` setting) see every queue. An address that is neither has no account. A ticket
outside a viewer's queues is answered 404, like one that does not exist."""

from __future__ import annotations

from dataclasses import dataclass

from ..rules import Rules


@dataclass(frozen=True)
class Viewer:
    """The logged-in staff member, as the rules stand now (a reload applies at once)."""

    address: str
    queues: tuple[str, ...]  # visible queues, in the rules' order
    admin: bool

    def sees(self, queue: str) -> bool:
        return queue in self.queues


def staff_queues(rules: Rules, address: str) -> tuple[str, ...]:
    address = address.lower()
    return tuple(name for name, q in rules.queues.items() if address in q.staff)


def viewer(rules: Rules, admins: tuple[str, ...], address: str) -> Viewer | None:
    """The viewer `address` is, or None when it has no account (any more)."""
    address = address.lower()
    admin = address in admins
    queues = tuple(rules.queues) if admin else staff_queues(rules, address)
    if not admin and not queues:
        return None
    return Viewer(address, queues, admin)
