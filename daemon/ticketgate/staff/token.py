"""Staff tokens: who may answer a notification, on which ticket, and whether publicly.

Every notification to a staff member carries a token, in its Reply-To (`helpdesk+<token>@…`) and
its Message-ID (`tg.<ticket>.notify.<token>@<instance>`). The token names the ticket, the staff
member (the address the notification went to), the intent (`reply`: relayed to the requester;
`note`: internal) and the notification (a number the caller picks, see new_notification_number).
It is an HMAC-SHA256 over those, with a site secret (see keys.py), so intent and identity come
from what we signed, never from what a mail says about itself.

Layout, before encoding (numbers big-endian):

    1 byte     key id (5 bits: the token's first character) | format (2 bits) | intent (1 bit)
    varint     ticket number (LEB128, up to 2**63 - 1)
    varint     notification number
    3 bytes    staff hint: HMAC(key, "hint" + address), to tell "someone else's token" apart
    12 bytes   HMAC-SHA256(key, context + the bytes above + address), truncated (96 bits)

The address itself is not in the token (it would not fit in 64 octets): it is bound by the MAC,
so verifying needs the sender's address(es). Encoded as RFC 4648 base32 in lowercase without
padding: letters and 2-7 only, so MTAs that lower-case local parts (or a user who retypes it in
capitals) change nothing; a token is 29-55 characters, 37-40 for usual numbers.

Rotation: the key id picks the key; old keys verify until their `until` (keys.py writes it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ..addresses import canonical

MIN_SECRET_BYTES = 32
MAX_KEY_ID = 31
MAX_NUMBER = 2**63 - 1
MAX_LOCAL_PART = 64  # octets, RFC 5321 4.5.3.1.1

_FORMAT = 1
_HINT_BYTES = 3
_MAC_BYTES = 12
_MAC_CONTEXT = b"ticketgate staff token 1\x00"
_HINT_CONTEXT = b"ticketgate staff hint 1\x00"
_MIN_BYTES = 1 + 1 + 1 + _HINT_BYTES + _MAC_BYTES  # 18 bytes: 29 characters
_MAX_BYTES = 1 + 9 + 9 + _HINT_BYTES + _MAC_BYTES  # 34 bytes: 55 characters
TOKEN_PATTERN = r"[a-z2-7]{29,55}"
_TOKEN = re.compile(TOKEN_PATTERN, re.IGNORECASE)
_CARRIED = re.compile(r"(?:\+|\.notify\.)" + TOKEN_PATTERN + "@", re.IGNORECASE)


class Intent(StrEnum):
    """What answering a notification does: `reply` is relayed to the requester, `note` is not."""

    REPLY = "reply"
    NOTE = "note"


@dataclass(frozen=True)
class StaffKey:
    """One signing key. `until`: a rotated-out key verifies tokens until then (None: no end)."""

    key_id: int
    secret: bytes = field(repr=False)
    until: datetime | None = None


@dataclass(frozen=True)
class Keyring:
    """The site's keys: the first signs new tokens, every key verifies its own (until `until`)."""

    keys: tuple[StaffKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a keyring needs at least one key")
        ids = [k.key_id for k in self.keys]
        if len(set(ids)) != len(ids):
            raise ValueError(f"key ids repeat: {ids}")
        for key in self.keys:
            if not 0 <= key.key_id <= MAX_KEY_ID:
                raise ValueError(f"key id {key.key_id} is not in 0-{MAX_KEY_ID}")
            if len(key.secret) < MIN_SECRET_BYTES:
                raise ValueError(f"key {key.key_id} has {len(key.secret)} bytes, "
                                 f"at least {MIN_SECRET_BYTES} are needed")
        if self.keys[0].until is not None:
            raise ValueError("the first key signs new tokens: it cannot have an end")

    @property
    def current(self) -> StaffKey:
        return self.keys[0]

    def find(self, key_id: int) -> StaffKey | None:
        return next((k for k in self.keys if k.key_id == key_id), None)


@dataclass(frozen=True)
class StaffToken:
    """What a verified token says. `staff` is the address it was made for (lowercased)."""

    ticket: int
    staff: str
    intent: Intent
    notification: int
    key_id: int


class TokenProblem(StrEnum):
    """Why a token did not verify; the value is the reason stored with the flagged note."""

    MALFORMED = "malformed_token"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED_KEY = "expired_key"
    OTHER_STAFF = "other_staff"
    BAD_SIGNATURE = "bad_signature"
    OTHER_TICKET = "other_ticket"


_EXPLANATIONS = {
    TokenProblem.MALFORMED: "the reply address or reference is not one that ticketgate made",
    TokenProblem.UNKNOWN_KEY: "the notification was signed with a key this site no longer has",
    TokenProblem.EXPIRED_KEY: "the notification is older than the site's key rotation allows",
    TokenProblem.OTHER_STAFF: "the notification was sent to another staff member",
    TokenProblem.BAD_SIGNATURE: "the reply address was altered (its signature does not match)",
    TokenProblem.OTHER_TICKET: "the notification belongs to another ticket",
}


@dataclass(frozen=True)
class Verification:
    """The outcome of verify(): `token` is set when it verified (and for OTHER_TICKET, so the
    caller can name the ticket it was for); `problem` is None exactly when the mail may act."""

    token: StaffToken | None
    problem: TokenProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def explanation(self) -> str:
        """One line for the mail that tells the sender why nothing was relayed ("" when ok)."""
        return _EXPLANATIONS[self.problem] if self.problem else ""


class TokenTooLong(ValueError):
    """The reply address would have a local part over 64 octets (a long function address)."""


def new_notification_number() -> int:
    """A fresh random notification number (40 bits) for mint()."""
    return secrets.randbits(40)


def staff_address(address: str) -> str:
    """The form of an address that tokens bind: trimmed, without <>, lowercased."""
    return address.strip().strip("<>").strip().lower()


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _read_varint(data: bytes, at: int) -> tuple[int, int] | None:
    number = shift = 0
    for i in range(at, min(at + 9, len(data))):
        number |= (data[i] & 0x7F) << shift
        shift += 7
        if not data[i] & 0x80:
            return number, i + 1
    return None


def _mac(secret: bytes, payload: bytes, staff: str) -> bytes:
    message = _MAC_CONTEXT + payload + b"\x00" + staff.encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]


def _hint(secret: bytes, staff: str) -> bytes:
    return hmac.new(secret, _HINT_CONTEXT + staff.encode("utf-8"),
                    hashlib.sha256).digest()[:_HINT_BYTES]


def _encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def mint(keyring: Keyring, *, ticket: int, staff: str, intent: Intent,
         notification: int) -> str:
    """A token for `staff` (the address the notification goes to) on `ticket`, with the
    keyring's current key. Deterministic: the same arguments give the same token."""
    for name, number in (("ticket", ticket), ("notification", notification)):
        if not 0 <= number <= MAX_NUMBER:
            raise ValueError(f"{name} number {number} is out of range")
    key = keyring.current
    who = staff_address(staff)
    header = key.key_id << 3 | _FORMAT << 1 | (intent is Intent.NOTE)
    payload = (bytes([header]) + _varint(ticket) + _varint(notification)
               + _hint(key.secret, who))
    return _encode(payload + _mac(key.secret, payload, who))


def _decode(token: str) -> bytes | None:
    text = token.strip().lower()
    if not _TOKEN.fullmatch(text):
        return None
    try:
        data = base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None
    # Base32 leaves spare bits in the last character; a token is only the one canonical
    # spelling of its bytes, so no two spellings verify.
    return data if _encode(data) == text and _MIN_BYTES <= len(data) <= _MAX_BYTES else None


def verify(token: str, *, staff: str | Iterable[str], keyring: Keyring, now: datetime,
           ticket: int | None = None) -> Verification:
    """Check `token` (any case) against the sender's address(es) and, if given, the ticket the
    mail is about.

    `staff` is the sender, or all the addresses of the staff member the sender is (the
    directory's): the token verifies when it was made for one of them. `now` decides whether a
    rotated-out key is still in its grace period (compare like with like: aware or naive as
    the keys' `until`). Every comparison of secret-derived bytes is in constant time.
    """
    data = _decode(token)
    if data is None or (data[0] >> 1) & 0b11 != _FORMAT:
        return Verification(None, TokenProblem.MALFORMED)
    key = keyring.find(data[0] >> 3)
    if key is None:
        return Verification(None, TokenProblem.UNKNOWN_KEY)
    if key.until is not None and now > key.until:
        return Verification(None, TokenProblem.EXPIRED_KEY)
    first = _read_varint(data, 1)
    second = _read_varint(data, first[1]) if first else None
    if first is None or second is None or len(data) - second[1] != _HINT_BYTES + _MAC_BYTES:
        return Verification(None, TokenProblem.MALFORMED)
    payload, mac = data[: -_MAC_BYTES], data[-_MAC_BYTES:]
    hint = payload[-_HINT_BYTES:]
    candidates = [staff] if isinstance(staff, str) else list(staff)
    signed_for = None
    hinted = False
    for address in dict.fromkeys(staff_address(a) for a in candidates):
        # both comparisons for every candidate: the time taken depends on their number only
        same_mac = hmac.compare_digest(_mac(key.secret, payload, address), mac)
        hinted = hmac.compare_digest(_hint(key.secret, address), hint) or hinted
        if same_mac and signed_for is None:
            signed_for = address
    if signed_for is None:
        return Verification(None, TokenProblem.BAD_SIGNATURE if hinted
                            else TokenProblem.OTHER_STAFF)
    claims = StaffToken(
        ticket=first[0], staff=signed_for,
        intent=Intent.NOTE if data[0] & 1 else Intent.REPLY,
        notification=second[0], key_id=key.key_id,
    )
    if ticket is not None and claims.ticket != ticket:
        return Verification(claims, TokenProblem.OTHER_TICKET)
    return Verification(claims, None)


# --- where tokens travel -----------------------------------------------------------------------

def reply_address(function_address: str, token: str) -> str:
    """`helpdesk+<token>@example.org` for the function address `helpdesk@example.org` (a
    `+detail` it has is replaced). Raises TokenTooLong past 64 octets in the local part."""
    local, at, domain = function_address.strip().strip("<>").rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an address: {function_address!r}")
    local = f"{local.split('+', 1)[0]}+{token}"
    if len(local.encode("utf-8")) > MAX_LOCAL_PART:
        raise TokenTooLong(f"{local}@{domain}: the local part is over {MAX_LOCAL_PART} octets; "
                           "use a shorter function address for the queue")
    return f"{local}@{domain}"


def token_from_address(address: str, function_addresses: Collection[str]) -> str | None:
    """The token in `address` (an RCPT or To address, any case) when it is a sub-address of one
    of `function_addresses`; else None. The token comes back lowercased."""
    text = address.strip().strip("<>").strip()
    local, at, domain = text.rpartition("@")
    base, plus, detail = local.partition("+")
    if not (at and plus and _TOKEN.fullmatch(detail)):
        return None
    ours = {canonical(a) for a in function_addresses}
    return detail.lower() if f"{base}@{domain}".lower() in ours else None


def carries_token(text: str) -> bool:
    """Whether `text` holds a token-bearing address or notification Message-ID. The last check
    before relaying a staff member's cut text: a requester must never get a staff token (with
    it and a forged From, they could answer as staff)."""
    return _CARRIED.search(text) is not None


def notification_message_id(token: str, *, ticket: int, instance: str) -> str:
    """The Message-ID (without <>) of the notification that carries `token`:
    `tg.<ticket>.notify.<token>@<instance>`. Unique as long as notification numbers are."""
    return f"tg.{ticket}.notify.{token}@{instance}"


def token_from_message_id(message_id: str, instance: str) -> str | None:
    """The token of a notification Message-ID of this instance (with or without <>; e.g. from a
    reply's In-Reply-To or References), lowercased; None for any other id."""
    match = re.fullmatch(
        r"<?tg\.\d{1,19}\.notify\.(" + TOKEN_PATTERN + r")@" + re.escape(instance) + r">?",
        message_id.strip(), re.IGNORECASE,
    )
    return match.group(1).lower() if match else None
