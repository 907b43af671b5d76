"""The MIME structure of a message as a small bounded tree: from flanker, the stdlib or a split.

Three builders give the same `Node` tree, tried in this order:

1. flanker (the design's parser). It gets a str we decoded ourselves (UTF-8, else Latin-1, which
   maps bytes one to one), so its whole-message charset guessing never runs and every part's bytes
   can be recovered exactly for our own charset handling. Plain text mail (one text/plain or
   text/html part: most helpdesk mail) gets the tree flanker would give without running it,
   from the header block already read (`single_part`).
2. the stdlib `email` package (compat32), which accepts the false and missing boundaries flanker
   refuses.
3. a plain split by boundary lines, linear in the input, which never fails.

Both libraries slow down badly on some inputs (flanker took 20 s for a 25 MiB body of blank lines,
the stdlib parser checks every line against every open boundary), so `costs` estimates their time
from cheap counts first, and a message over a library's budget skips it.

`build` tries them in that order. The stdlib builder and the estimates are here; flanker's
builder is in mimeflanker.py, the Node pieces and the plain split in mimeparts.py. Callers import
all of them from here (and tests replace them here: `build` looks them up in this module).
"""

from __future__ import annotations

import email
import email.message
import email.policy
from collections.abc import Callable
from dataclasses import dataclass, replace

from .mimeflanker import from_flanker, single_part
from .mimeparts import (
    Head,
    Limits,
    Node,
    decode_transfer,
    describe,
    from_plain,
    mime_fields,
    read_head,
)

__all__ = [
    "FLANKER_BUDGET", "FLANKER_SURELY_AFFORDABLE", "STDLIB_BUDGET", "Costs", "Head", "Limits",
    "Node", "build", "costs", "decode_transfer", "from_flanker", "from_plain", "from_stdlib",
    "mime_fields", "read_head", "single_part",
]

# Estimated nanoseconds each library may spend on one message (see costs()).
FLANKER_BUDGET = 400_000_000
STDLIB_BUDGET = 400_000_000
# Up to this size costs().flanker stays within FLANKER_BUDGET whatever the bytes, so the counts
# need not be made: with every count at its most (lines = n, "\n--" n/3, "content-type:" n/13,
# blank lines n/2 + n/3) it is 3,216 n + 5 (n/3)(n/13) ns, 243 ms at 32 KiB.
FLANKER_SURELY_AFFORDABLE = 32 * 1024


@dataclass(frozen=True)
class Costs:
    """Estimated parse times in nanoseconds, measured on CPython 3.11 with flanker 0.9.11.

    flanker's tokenizer runs a regex over the whole message (12-45 ns a byte) and spends ~1.5 µs
    on each line that starts with "--", is a Content-Type or is blank, and compares each "--" line
    with every Content-Type seen before it. The stdlib parser spends
    ~0.4 µs a line, checks each line against every open boundary, and ~10 µs a part.
    """

    flanker: int
    stdlib: int


def costs(raw: bytes) -> Costs:
    """Estimate, with counts that run at memchr speed, what flanker and the stdlib would cost."""
    lower = raw.lower()
    dashes = raw.count(b"\n--")
    ctypes = lower.count(b"content-type:")
    tokens = dashes + ctypes
    tokens += 2 * (raw.count(b"\n\n") + raw.count(b"\n\r\n"))  # count() sees every other blank
    lines = raw.count(b"\n")
    multiparts = lower.count(b"multipart/")
    return Costs(
        flanker=30 * len(raw) + 70 * lines + 1500 * tokens + 5 * dashes * ctypes,
        stdlib=10 * len(raw) + 400 * lines + 150 * lines * multiparts + 10_000 * dashes,
    )


def build(
    raw: bytes, head: Head, max_parts: int, max_depth: int
) -> tuple[Node, Limits, str | None]:
    """The MIME tree by flanker, else the stdlib, else a plain split; within the cost budgets.

    Returns the tree, the Limits it was built within (what was skipped) and a note of the
    builders that failed or were skipped, None when the first one served. A plain text message
    gets flanker's tree from `head` (read_head(raw)) without running flanker (single_part).
    """
    counted: list[Costs] = []  # counted only when needed, and once

    def cost() -> Costs:
        if not counted:
            counted.append(costs(raw))
        return counted[0]

    small = len(raw) <= FLANKER_SURELY_AFFORDABLE
    attempts: tuple[tuple[str, Callable[[bytes, Limits], Node], Callable[[], bool]], ...] = (
        ("flanker", from_flanker, lambda: small or cost().flanker <= FLANKER_BUDGET),
        ("stdlib email", from_stdlib, lambda: cost().stdlib <= STDLIB_BUDGET),
    )
    failures: list[str] = []
    # nested parts are read again at each level: allow that, to a constant factor
    scan = max(8 * len(raw), 64 << 20)
    for name, builder, affordable in attempts:
        if not affordable():
            failures.append(f"{name}: skipped, message too large or complex")
            continue
        limits = Limits(parts=max_parts, depth=max_depth, scan=scan)
        try:
            simple = single_part(raw, head, limits) if name == "flanker" else None
            root = builder(raw, limits) if simple is None else simple
        except Exception as exc:
            failures.append(f"{name}: {str(exc) or type(exc).__name__}")
            continue
        if root.ctype.startswith("multipart/") and not root.children:
            failures.append(f"{name}: no parts found")
            continue
        return root, limits, f"{'; '.join(failures)}; used {name}" if failures else None
    limits = Limits(parts=max_parts, depth=max_depth, scan=scan)
    return from_plain(raw, limits), limits, f"{'; '.join(failures)}; used plain split"


def from_stdlib(raw: bytes, limits: Limits) -> Node:
    """Build the tree with the stdlib parser, which accepts most broken structure."""
    root = email.message_from_bytes(raw, policy=email.policy.compat32)
    limits.take(0)
    top = _stdlib_node(root)
    stack = [(root, top, 0)]
    while stack:
        msg, node, depth = stack.pop()
        payload = msg.get_payload()
        for kid in payload if isinstance(payload, list) else ():
            if not isinstance(kid, email.message.Message):
                continue
            if not limits.take(depth + 1):
                break
            child = _stdlib_node(kid)
            node.children.append(child)
            if kid.is_multipart():
                stack.append((kid, child, depth + 1))
    return top


def _stdlib_node(msg: email.message.Message) -> Node:
    # The raw fields, not the stdlib's reading: it replaces raw 8-bit bytes in a filename.
    fields = [
        (name.lower(), str(value).encode("utf-8", "surrogateescape"))
        for name, value in msg.raw_items()
    ]
    node, _ = describe(fields, b"", msg.get_default_type())
    if msg.is_multipart():
        return replace(node, ctype=msg.get_content_type(), charset=None, cte="")
    ctype = node.ctype
    if ctype.startswith("multipart/"):  # no usable boundary: the body is all there is
        ctype = "text/plain"
    body = msg.get_payload(decode=True) if ctype.startswith("text/") else None
    # get_payload(decode=True) undid the transfer encoding
    return replace(node, ctype=ctype, cte="binary", body=body if isinstance(body, bytes) else b"")
