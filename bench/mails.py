"""Deterministic helpdesk mail for the benchmarks: new tickets, replies with codes, threads.

Every mail is built by string formatting (not `email.message`), so a load generator can make
tens of thousands a second. The same seed gives the same mails, so the ceiling and ticketgate
are fed identical bytes. The naming helpers (`requester`, `first_message_id`, `ack_message_id`)
are shared with fill.py, so generated replies can point at tickets a filled database holds.
"""

from __future__ import annotations

import quopri
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.header import Header

CLIENT_DOMAIN = "client.bench.invalid"
GATE_DOMAIN = "gate.bench.invalid"
FUNCTION_ADDRESSES = ("helpdesk@example.org", "support@example.org", "lukortet@example.org",
                      "sot@example.org")
KINDS = ("new", "code", "thread", "dup")

_PROSE = (
    "dator skrivare nätverk lösenord konto inloggning skärm tangentbord mus laddare "
    "printer network password account login screen keyboard laptop charger vpn eduroam "
    "fungerar inte längre sedan igår morse hjälp snälla tack hälsningar problem fel "
    "works anymore since yesterday morning please help thanks regards issue error "
    "kontoret rum hus korridor våning floor room building office the a och att det är "
    "som med på för till från when after before again still cannot can't won't start"
)
WORDS = _PROSE.split()
_SUBJECTS = (
    "Min dator surrar", "Skrivaren på plan {n} fastnar", "Cannot log in to eduroam",
    "Lösenordet fungerar inte", "VPN disconnects every {n} minutes", "Nytt passerkort",
    "Screen flickers in room E{n}", "Konto för ny doktorand", "Laptop will not charge",
    "Mejlen kommer inte fram", "Projector in lecture hall {n}", "Beställning av programvara",
)


def _header(text: str) -> str:
    """RFC 2047 encoding for non-ASCII header text, as mail clients send it."""
    return text if text.isascii() else Header(text, "utf-8").encode()


def requester(number: int, pool: int = 5000) -> str:
    """The requester of ticket `number` in a filled database (many tickets per person)."""
    return f"user{(number * 7919) % pool}@example.org"


def first_message_id(number: int) -> str:
    """The Message-ID (without <>) of ticket `number`'s first message in a filled database."""
    return f"t{number}.1@{CLIENT_DOMAIN}"


def ack_message_id(number: int) -> str:
    """The Message-ID of the acknowledgement ticketgate sent for ticket `number` (fill.py)."""
    return f"ack.{number}@{GATE_DOMAIN}"


@dataclass(frozen=True)
class Mail:
    """One delivery: envelope and the bytes as they go on the wire after DATA."""

    kind: str
    mail_from: str
    rcpt: str
    raw: bytes

    @property
    def wire(self) -> bytes:
        """Dot-stuffed (RFC 5321 4.5.2) and terminated by CRLF.CRLF."""
        body = self.raw if self.raw.endswith(b"\r\n") else self.raw + b"\r\n"
        if body.startswith(b"."):
            body = b"." + body
        return body.replace(b"\r\n.", b"\r\n..") + b".\r\n"


def parse_mix(text: str) -> dict[str, float]:
    """`new=0.6,code=0.3,thread=0.1` -> normalised weights; unknown kinds are an error."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, value = part.partition("=")
        if kind not in KINDS:
            raise ValueError(f"unknown mail kind {kind!r} in --mix (known: {', '.join(KINDS)})")
        weights[kind] = float(value)
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("--mix needs a positive weight")
    return {k: v / total for k, v in weights.items()}


@dataclass
class MailFactory:
    """An endless, reproducible stream of mails of about `size` bytes.

    `known_tickets` > 0 means a filled database (fill.py) holds tickets 1..known_tickets;
    replies and duplicates then point at those. Otherwise they point at the new tickets this
    factory made earlier in the stream (ticket k is assumed to be the k-th new mail, which is
    what an empty ticketgate assigns when it processes the spool in order).
    """

    seed: int = 1
    size: int = 3000
    tag: str = "DDG"
    mix: dict[str, float] = field(default_factory=lambda: {"new": 0.6, "code": 0.3,
                                                            "thread": 0.1})
    known_tickets: int = 0
    senders: int = 500

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._made: list[tuple[str, str, bytes]] = []  # (requester, message_id, raw) of new ones
        self._count = 0

    def stream(self) -> Iterator[Mail]:
        kinds, weights = zip(*self.mix.items(), strict=True)
        while True:
            kind = self._rng.choices(kinds, weights)[0]
            if kind != "new" and not self._made and not self.known_tickets:
                kind = "new"  # nothing to reply to yet
            yield self._make(kind)

    def take(self, n: int) -> list[Mail]:
        stream = self.stream()
        return [next(stream) for _ in range(n)]

    def _target(self) -> tuple[int, str, str]:
        """(ticket number, its requester, its first Message-ID) to reply to."""
        rng = self._rng
        if self.known_tickets and (not self._made or rng.random() < 0.8):
            number = rng.randint(1, self.known_tickets)
            return number, requester(number), first_message_id(number)
        index = rng.randrange(len(self._made))
        who, mid, _ = self._made[index]
        return self.known_tickets + index + 1, who, mid

    def _make(self, kind: str) -> Mail:
        rng = self._rng
        self._count += 1
        n = self._count
        rcpt = rng.choice(FUNCTION_ADDRESSES)
        if kind == "dup":
            number, who, mid = self._target()
            index = number - self.known_tickets - 1
            if index >= 0:  # an exact redelivery of a mail of this run
                return Mail("dup", who, rcpt, self._made[index][2])
            return Mail("dup", who, rcpt, self._raw(who, rcpt, mid, self._subject(), ()))
        if kind == "new":
            who = f"user{rng.randrange(self.senders)}@example.org"
            mid = f"s{self.seed}.{n}.{rng.getrandbits(32):08x}@{CLIENT_DOMAIN}"
            raw = self._raw(who, rcpt, mid, self._subject(), ())
            self._made.append((who, mid, raw))
            return Mail("new", who, rcpt, raw)
        number, who, parent = self._target()
        mid = f"s{self.seed}.{n}.{rng.getrandbits(32):08x}@{CLIENT_DOMAIN}"
        if kind == "code":
            subject = f"SV: Re: [{self.tag} #{number}] {self._subject()}"
            refs: tuple[str, ...] = ()
        else:
            subject = f"Re: {self._subject()}"
            refs = (parent, ack_message_id(number)) if number <= self.known_tickets else (parent,)
        return Mail(kind, who, rcpt, self._raw(who, rcpt, mid, subject, refs))

    def _subject(self) -> str:
        return self._rng.choice(_SUBJECTS).format(n=self._rng.randint(1, 40))

    def _raw(self, who: str, rcpt: str, mid: str, subject: str, refs: tuple[str, ...]) -> bytes:
        rng = self._rng
        name = who.split("@")[0].capitalize()
        headers = [
            f"Received: from mx{rng.randint(1, 4)}.example.org (mx.example.org [192.0.2.{rng.randint(1, 254)}])\r\n"  # noqa: E501
            f"\tby relay.example.org with ESMTPS id {rng.getrandbits(48):012x}\r\n"
            f"\tfor <{rcpt}>; Mon, 3 Mar 2025 09:{rng.randint(10, 59)}:00 +0100",
            f"From: {name} Testsson <{who}>",
            f"To: {rcpt}",
            f"Subject: {_header(subject)}",
            "Date: Mon, 3 Mar 2025 09:14:00 +0100",
            f"Message-ID: <{mid}>",
            "MIME-Version: 1.0",
            "User-Agent: Benchmark/1.0",
        ]
        if rng.random() < 0.2:
            headers.append(f"Cc: colleague{rng.randrange(100)}@example.org")
        if refs:
            headers.append(f"In-Reply-To: <{refs[-1]}>")
            headers.append("References: " + " ".join(f"<{r}>" for r in refs))
        body = self._body(max(200, self.size - sum(len(h) + 2 for h in headers) - 120))
        if rng.random() < 0.5:
            headers.append("Content-Type: text/plain; charset=utf-8; format=flowed")
            headers.append("Content-Transfer-Encoding: 8bit")
            payload = body.replace("\n", "\r\n").encode()
        else:
            headers.append("Content-Type: text/plain; charset=utf-8")
            headers.append("Content-Transfer-Encoding: quoted-printable")
            payload = quopri.encodestring(body.encode()).replace(b"\n", b"\r\n")
        head = "\r\n".join(headers).encode() + b"\r\n\r\n"
        return head + payload + (b"" if payload.endswith(b"\r\n") else b"\r\n")

    def _body(self, size: int) -> str:
        rng = self._rng
        lines: list[str] = ["Hej,", ""]
        total = 6
        while total < size:
            line = " ".join(rng.choices(WORDS, k=rng.randint(6, 12)))
            lines.append(line.capitalize() + ".")
            total += len(line) + 4
        lines += ["", "Mvh", "Bench"]
        return "\n".join(lines)
