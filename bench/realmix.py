"""A realistic helpdesk mail mix: `--mix real` in ingest.py, loadgen.py, pipeline.py, inject.py.

Mail as people write it to a university helpdesk, in Swedish (about 70 %) and English, from a
pool of 400 people: greetings, a problem told in a few sentences with details and what was
tried, thanks, a sign-off and a signature (title, department, phone, sometimes a disclaimer,
or "Skickat från min iPhone"). Subjects are mostly clear; some say nothing (vague_subject),
some mails raise two unrelated matters (multi_issue), some come from private addresses,
some about a computer do not name it. Replies quote what they answer (the acknowledgement,
often with the original request below it) in Outlook's or Thunderbird's/Gmail's manner.

Shares (`RealMix.shares`): new requests 62 % (a few forwarded by a colleague), replies with
the ticket code 22 %, replies threaded only by In-Reply-To 7 %, the same request sent again
5 %, out-of-office answers to an acknowledgement 3 %, and exact redeliveries 1 %. A third
have an HTML alternative part, a tenth an attachment (a screenshot, a log, a PDF, a
document). The raw size without attachment is 0.5-5 KB for nearly all plain mails.

Text is the benchmark's own (realtext.py, realtopics.py). The same seed gives the same
mails. Replies name ticket k for the k-th new request, which is what an empty ticketgate
assigns when it works through the spool in order; `RealMix.made` says what each mail is.
"""

from __future__ import annotations

import base64
import random
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import realmime
import realtext as tx
import realtopics as tp
from mails import Mail

KINDS = ("new", "code", "thread", "resend", "autoreply", "dup")
DEFAULT_SHARES = {"new": 0.62, "code": 0.22, "thread": 0.07, "resend": 0.05,
                  "autoreply": 0.03, "dup": 0.01}
CLIENTS = ("outlook", "gmail", "thunderbird", "iphone")
FIRST_SV = ("Anna", "Erik", "Karin", "Lars", "Maria", "Johan", "Sara", "Per", "Elin", "Nils",
            "Ingrid", "Oskar", "Åsa", "Björn", "Maja", "Gustav", "Linnea", "Ulf", "Sofia",
            "Henrik", "Märta", "Jörgen", "Emma", "Mikael", "Helena", "Stina")
FIRST_EN = ("James", "Emily", "Priya", "Wei", "Carlos", "Hannah", "Ahmed", "Olivia", "Lukas",
            "Fatima", "Tom", "Mei", "Daniel", "Aisha")
LAST = ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson",
        "Persson", "Svensson", "Gustafsson", "Lindqvist", "Berg", "Holm", "Sandberg",
        "Ekström", "Öberg", "Smith", "Chen", "Kumar", "Müller", "Garcia", "Novak", "Ali")
PRIVATE_DOMAINS = ("example.com", "example.net", "mail.example.com")
# Topics that are one matter when they meet (etiquette.yaml's `related`), and so never the
# second matter of a multi_issue mail.
_Fill = Callable[[str], str]  # fills a template's {slots}
RELATED = {frozenset(p) for p in (("account", "email"), ("account", "learning_platform"),
                                  ("account", "network"), ("account", "storage"),
                                  ("software", "storage"), ("software", "computer"))}


@dataclass(frozen=True)
class Person:
    name: str
    username: str  # LUCAT style: two letters, four digits, two letters
    address: str  # where they write from
    institutional: str  # their address at example.org
    lang: str
    title: str
    department: str
    phone: str
    client: str
    in_directory: bool

    @property
    def private(self) -> bool:
        return self.address != self.institutional


@dataclass(frozen=True)
class Made:
    """What a generated mail is, for the shape test and the benchmarks' reports."""

    kind: str
    lang: str
    topic: str
    ticket: int  # the ticket it is meant to make (new) or continue; 0 for a redelivery
    html: bool
    attachment: str | None
    vague: bool
    multi: bool
    private: bool
    names_computer: bool | None  # None: not about a computer
    size: int


@dataclass
class _Request:
    """A new request as sent, remembered so that replies and resends can refer to it."""

    person: Person
    rcpt: str
    subject: str
    text: str
    message_id: str
    lang: str
    topic: str
    raw: bytes


@dataclass
class RealMix:
    """An endless, reproducible stream of realistic helpdesk mail (see the module docstring)."""

    seed: int = 1
    tag: str = "DDG"
    shares: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SHARES))
    people: int = 400
    html_share: float = 1 / 3
    attachment_share: float = 0.1
    # The length sweep (pipeline.py --sweep-kb): each new request's own text padded with more
    # of the same topic's sentences to about this many characters; None: as people write.
    text_size: int | None = None
    # For loads sent over several connections at once (ingest.py --prelude): the first
    # `established` mails are new requests, and every later reply, resend and auto-reply
    # answers one of them. Later requests get their ticket numbers in the order the listener
    # commits them, which is not the order they were made in, so nothing may name those.
    established: int = 0
    made: list[Made] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._pool = [self._person(i) for i in range(self.people)]
        self._requests: list[_Request] = []
        self._sent: list[Mail] = []
        self._count = 0
        self._clock = 0

    # -- the stream ---------------------------------------------------------------------
    def stream(self) -> Iterator[Mail]:
        kinds, weights = zip(*self.shares.items(), strict=True)
        while True:
            kind = self._rng.choices(kinds, weights)[0]
            if (kind != "new" and not self._requests) or self._count < self.established:
                kind = "new"  # nothing to answer yet
            mail = self._make(kind)
            self._sent.append(mail)
            yield mail

    def take(self, n: int) -> list[Mail]:
        stream = self.stream()
        return [next(stream) for _ in range(n)]

    def directory_csv(self) -> str:
        """rules/directory.csv for a benchmark site: the pool's people the directory knows."""
        rows = ["username,name,email,affiliation,department,phone"]
        for p in self._pool:
            if p.in_directory:
                affiliation = "student" if p.title in ("Student", "PhD student",
                                                       "Doktorand") else "staff"
                rows.append(f"{p.username},{p.name},{p.institutional},{affiliation},"
                            f"{p.department.replace(',', ' ')},{p.phone}")
        return "\n".join(rows) + "\n"

    # -- people -------------------------------------------------------------------------
    def _person(self, i: int) -> Person:
        rng = self._rng
        lang = "sv" if rng.random() < 0.7 else "en"
        first = rng.choice(FIRST_SV if lang == "sv" or rng.random() < 0.3 else FIRST_EN)
        last = rng.choice(LAST)
        plain = _ascii(f"{first}.{last}".lower())
        institutional = f"{plain}{i}@{'student.' if rng.random() < 0.3 else ''}example.org"
        private = rng.random() < 0.15
        address = (f"{plain.replace('.', rng.choice(('.', '_', '')))}{rng.randint(1, 99)}"
                   f"@{rng.choice(PRIVATE_DOMAINS)}") if private else institutional
        username = (f"{_ascii(first[:1] + last[:1]).lower()}{rng.randint(1000, 9999)}"
                    f"{rng.choice('abcdefghij')}{rng.choice('klmnopqrst')}")
        return Person(
            name=f"{first} {last}", username=username, address=address,
            institutional=institutional, lang=lang, title=rng.choice(tx.TITLES[lang]),
            department=rng.choice(tx.DEPARTMENTS), client=rng.choices(CLIENTS, (45, 25, 20, 10))[0],
            phone=f"+46 46 222 {rng.randint(10, 99)} {rng.randint(10, 99)}",
            # From a private address the directory is the only proof of who wrote: one it
            # does not know and who asks about a password is held (rules/routes.yaml), and
            # a held request makes no ticket that later replies could name.
            in_directory=private or rng.random() < 0.9)

    # -- one mail -----------------------------------------------------------------------
    def _make(self, kind: str) -> Mail:
        rng = self._rng
        self._count += 1
        if kind == "dup":  # an MTA delivering an earlier mail again
            index = rng.randrange(len(self._sent))
            earlier, first = self._sent[index], self.made[index]
            self._note(Made("dup", first.lang, first.topic, 0, first.html, first.attachment,
                            False, False, first.private, None, len(earlier.raw)))
            return Mail("dup", earlier.mail_from, earlier.rcpt, earlier.raw)
        if kind == "new":
            return self._new()
        index = self._pick_request()
        request = self._requests[index]
        if kind == "resend":
            return self._resend(request)
        if kind == "autoreply":
            return self._autoreply(request, index + 1)
        return self._reply(request, index + 1, with_code=kind == "code")

    def _pick_request(self) -> int:
        # Replies go mostly to recent tickets: a helpdesk's threads are days long, not months.
        n = min(len(self._requests), self.established or len(self._requests))
        back = int(self._rng.expovariate(1 / 40))
        return max(0, n - 1 - back)

    def _new(self) -> Mail:
        rng = self._rng
        person = rng.choice(self._pool)
        topic = rng.choices(list(tp.TOPICS), (14, 22, 14, 10, 10, 12, 6, 6, 12, 7, 5))[0]
        lang = person.lang
        bank = _bank(topic, lang)
        fill = self._filler(person)
        vague = rng.random() < 0.12
        subject = rng.choice(tx.VAGUE_SUBJECTS[lang]) if vague else fill(rng.choice(
            bank["subjects"]))
        device = bool(tp.TOPICS[topic]["device"])
        names_computer = rng.random() < 0.5 if device else None
        short = rng.random() < 0.2  # one line and a name, as from a phone
        paragraphs = self._request_text(bank, fill, names_computer, lang, short)
        while self.text_size and sum(len(p) for p in paragraphs) < self.text_size:
            paragraphs.insert(-1, " ".join(fill(rng.choice(bank[key]))
                                           for key in ("problems", "details", "details")))
        multi = rng.random() < 0.1 and not self.text_size
        if multi:
            other = rng.choice([t for t in tp.TOPICS if t != topic
                                and frozenset((t, topic)) not in RELATED
                                and not tp.TOPICS[t]["device"]
                                and not (person.private and t == "account")])
            second = _bank(other, lang)
            paragraphs.append(rng.choice(tx.ALSO[lang]) + _lower_first(
                fill(rng.choice(second["problems"]))) + " " + fill(rng.choice(second["asks"])))
        # From a private address, 40 % give their username (which clears private_address);
        # for their password they always do here, as rules/routes.yaml holds such a request
        # otherwise, and a held request is no ticket that replies could name.
        if person.private and (rng.random() < 0.4 or topic == "account"):
            paragraphs.append(fill(rng.choice(
                ("Mitt användarnamn är {username}.", "Användarnamn: {username}")
                if lang == "sv" else ("My username is {username}.",))))
        forwarded = rng.random() < 0.04
        text = self._letter(person, lang, paragraphs, short=short)
        if forwarded:
            text = self._forward(person, lang, subject, text)
            subject = ("VB: " if lang == "sv" else "Fwd: ") + subject
        rcpt = rng.choice(tp.QUEUE_ADDRESSES[str(tp.TOPICS[topic]["queue"])])
        mid = self._message_id(person)
        raw, html, attachment = self._message(person, rcpt, subject, text, mid, ())
        self._requests.append(_Request(person, rcpt, subject, text, mid, lang, topic, raw))
        self._note(Made("new", lang, topic, len(self._requests), html, attachment, vague,
                        multi, person.private, names_computer, len(raw)))
        return Mail("new", person.address, rcpt, raw)

    def _request_text(self, bank: dict[str, tuple[str, ...]], fill: _Fill,
                      names_computer: bool | None, lang: str, short: bool) -> list[str]:
        rng = self._rng
        problems = rng.sample(bank["problems"], k=min(len(bank["problems"]),
                                                     rng.choice((1, 1, 1, 2))))
        if short:
            named = [fill(rng.choice([d for d in _bank("computer", lang)["details"]
                                      if "{pc}" in d]))] if names_computer else []
            return [" ".join([fill(problems[0]), *named])]
        details = [d for d in bank["details"] if "{pc}" not in d]
        chosen = rng.sample(details, k=min(len(details), rng.choice((0, 1, 2, 2))))
        if names_computer:
            chosen.append(rng.choice([d for d in _bank("computer", lang)["details"]
                                      if "{pc}" in d]))
        lines = [fill(p) for p in problems]
        paragraph_two = " ".join(fill(d) for d in chosen)
        ask = fill(rng.choice(bank["asks"]))
        result = [" ".join(lines)]
        if paragraph_two:
            result.append(paragraph_two)
        result.append(ask)
        return result

    def _letter(self, person: Person, lang: str, paragraphs: list[str], *,
                short: bool = False) -> str:
        """Greeting, the paragraphs, thanks, sign-off, name and signature, wrapped as sent."""
        rng = self._rng
        if short:
            return "\n".join([rng.choice(tx.GREETINGS[lang]), *paragraphs,
                              f"{rng.choice(tx.SIGNOFFS[lang])} {person.name.split()[0]}"]
                             + (["", rng.choice(tx.MOBILE_FOOTERS)] if rng.random() < 0.5
                                else []))
        parts = [rng.choice(tx.GREETINGS[lang]), ""]
        for paragraph in paragraphs:
            parts += [*textwrap.wrap(paragraph, rng.choice((72, 76, 500))), ""]
        if rng.random() < 0.7:
            parts += [rng.choice(tx.THANKS[lang]), ""]
        parts += [rng.choice(tx.SIGNOFFS[lang]), person.name.split()[0]
                  if rng.random() < 0.5 else person.name]
        parts += self._signature(person, lang)
        return "\n".join(parts)

    def _signature(self, person: Person, lang: str) -> list[str]:
        rng = self._rng
        style = rng.random()
        if person.client == "iphone" or style < 0.1:
            return ["", rng.choice(tx.MOBILE_FOOTERS)]
        if style < 0.3:
            return []
        lines = ["", "-- " if rng.random() < 0.4 else "", person.name,
                 person.title, person.department, "Universitetet" if lang == "sv"
                 else "The University"]
        if not lines[1]:
            del lines[1]
        if rng.random() < 0.7:
            lines.append(("Telefon: " if lang == "sv" else "Phone: ") + person.phone)
        if rng.random() < 0.5:
            lines.append(f"Besöksadress: Hus {rng.choice('ABCEMV')}, rum {rng.randint(1000, 3999)}"
                         if lang == "sv" else f"Office: building {rng.choice('ABCEMV')}, "
                         f"room {rng.randint(1000, 3999)}")
        if rng.random() < 0.25:
            lines += ["", *textwrap.wrap(rng.choice(tx.DISCLAIMERS), 76)]
        return lines

    def _forward(self, person: Person, lang: str, subject: str, text: str) -> str:
        rng = self._rng
        colleague = rng.choice(self._pool)
        head = ("---------- Vidarebefordrat meddelande ---------\nFrån: {n} <{a}>\n"
                "Ämne: {s}\n" if lang == "sv" else
                "---------- Forwarded message ---------\nFrom: {n} <{a}>\nSubject: {s}\n")
        note = rng.choice(tx.FORWARD_NOTES[lang])
        intro = "\n".join([rng.choice(tx.GREETINGS[lang]), "", note, "",
                           rng.choice(tx.SIGNOFFS[lang]), colleague.name.split()[0], ""])
        # The forwarder sends it; the request is the colleague's, quoted below.
        return intro + "\n" + head.format(n=person.name, a=person.address, s=subject) + "\n" \
            + text

    def _reply(self, request: _Request, ticket: int, *, with_code: bool) -> Mail:
        rng = self._rng
        person, lang = request.person, request.lang
        fill = self._filler(person)
        said = fill(rng.choice(tx.REPLY_TEXTS[lang]))
        base = _strip_prefixes(request.subject)
        if with_code:
            prefix = rng.choice(("SV: ", "Sv: ", "RE: ", "Re: ", "SV: SV: ", "Re: Re: "))
            subject = f"{prefix}[{self.tag} #{ticket}] {base}"
            quoted_text = tx.QUOTED_ACK[lang].format(tag=self.tag, number=ticket)
            if rng.random() < 0.5:  # the ack as quoted often carries the request below it
                quoted_text += "\n\n" + request.text
            quoted_from = ("DDG Helpdesk", request.rcpt, person.address)
            quoted_subject = f"[{self.tag} #{ticket}] {base}"
        else:  # answering their own sent mail ("I forgot to say...")
            subject = rng.choice(("Re: ", "SV: ")) + base
            quoted_text = request.text
            quoted_from = (person.name, person.address, request.rcpt)
            quoted_subject = base
        letter = self._letter(person, lang, [said])
        text = letter + "\n\n" + self._quote(person.client, lang, quoted_from, quoted_subject,
                                              quoted_text)
        mid = self._message_id(person)
        refs = (request.message_id,)
        raw, html, attachment = self._message(person, request.rcpt, subject, text, mid, refs)
        kind = "code" if with_code else "thread"
        self._note(Made(kind, lang, request.topic, ticket, html, attachment, False, False,
                        person.private, None, len(raw)))
        return Mail(kind, person.address, request.rcpt, raw)

    def _resend(self, request: _Request) -> Mail:
        rng = self._rng
        person, lang = request.person, request.lang
        # Sent again unchanged, now and then with a line on top of a longer text: the
        # dedupe stage's word similarity (90 %) must still see the same request, or the
        # resend becomes a ticket of its own and replies would name the wrong tickets.
        text = request.text
        if rng.random() < 0.3 and len(text.split()) >= 80:
            text = ("Skickar igen, har inte fått något svar.\n\n" if lang == "sv"
                    else "Sending this again as I have had no answer.\n\n") + text
        mid = self._message_id(person)
        raw, html, attachment = self._message(person, request.rcpt, request.subject, text,
                                              mid, ())
        self._note(Made("resend", lang, request.topic, self._requests.index(request) + 1,
                        html, attachment, False, False, person.private, None, len(raw)))
        return Mail("resend", person.address, request.rcpt, raw)

    def _autoreply(self, request: _Request, ticket: int) -> Mail:
        rng = self._rng
        person, lang = request.person, request.lang
        body = self._filler(person)(rng.choice(tx.AUTO_REPLIES[lang])) + "\n\n" + person.name
        subject = ("Autosvar: " if lang == "sv" else "Automatic reply: ") \
            + f"[{self.tag} #{ticket}] {_strip_prefixes(request.subject)}"
        mid = self._message_id(person)
        raw, _, _ = self._message(person, request.rcpt, subject, body, mid,
                                  (request.message_id,), auto=True)
        self._note(Made("autoreply", lang, request.topic, ticket, False, None, False, False,
                        person.private, None, len(raw)))
        return Mail("autoreply", "", request.rcpt, raw)

    # -- the message as a mail program writes it ------------------------------------
    def _message(self, person: Person, rcpt: str, subject: str, text: str, mid: str,
                 refs: tuple[str, ...], *, auto: bool = False) -> tuple[bytes, bool, str | None]:
        rng = self._rng
        # Shares of all mail: auto-replies and redeliveries (made elsewhere) have neither.
        people_write = 1 - self.shares.get("autoreply", 0) - self.shares.get("dup", 0)
        html = not auto and rng.random() < self.html_share / people_write
        attachment = None if auto or rng.random() >= self.attachment_share / people_write \
            else rng.choice(realmime.ATTACHMENTS)
        self._clock += rng.randint(20, 400)
        raw = realmime.compose(
            rng, client=person.client, sender=(person.name, person.address), rcpt=rcpt,
            subject=subject, text=text, message_id=mid, refs=refs, html=html,
            attachment=attachment, auto=auto, minute=self._clock // 60)
        return raw, html, attachment

    def _message_id(self, person: Person) -> str:
        rng = self._rng
        h = f"{rng.getrandbits(64):016x}"
        return {
            "outlook": f"AM0PR03MB{h[:4].upper()}{self._count}{h[4:12].upper()}"
                       "@AM0PR03MB6290.eurprd03.prod.outlook.com",
            "gmail": f"CA+{base64.b32encode(bytes.fromhex(h)).decode().rstrip('=')}"
                     f"{self._count}@mail.gmail.com",
            "thunderbird": f"{h[:8]}-{h[8:12]}-{self._count:04d}-{h[12:]}@example.org",
            "iphone": f"{h[:8].upper()}-{self._count:04d}-{h[8:].upper()}@example.org",
        }[person.client]

    def _quote(self, client: str, lang: str, who: tuple[str, str, str], subject: str,
               text: str) -> str:
        """`text` quoted below a reply; `who` is (name, address, to whom it was sent)."""
        if client == "outlook":
            head = (f"Från: {who[0]} <{who[1]}>\nSkickat: den 3 mars 2025 09:14\n"
                    f"Till: {who[2]}\nÄmne: {subject}" if lang == "sv" else
                    f"From: {who[0]} <{who[1]}>\nSent: Monday, March 3, 2025 9:14 AM\n"
                    f"To: {who[2]}\nSubject: {subject}")
            return "_" * 32 + "\n" + head + "\n\n" + text
        head = (f"Den mån 3 mars 2025 kl 09:14 skrev {who[0]} <{who[1]}>:" if lang == "sv"
                else f"On Mon, 3 Mar 2025 at 09:14, {who[0]} <{who[1]}> wrote:")
        return head + "\n" + "\n".join("> " + line if line else ">" for line in
                                       text.splitlines())

    def _filler(self, person: Person) -> _Fill:
        rng = self._rng

        def fill(template: str) -> str:
            values = {k: rng.choice(v) for k, v in tp.SLOTS.items()}
            values["pc"] = values["pc"].format(n2=rng.randint(10, 99),
                                               n3=rng.randint(100, 999),
                                               n4=rng.randint(1000, 9999),
                                               n6=rng.randint(100000, 999999))
            values.update(username=person.username, phone=person.phone,
                          n2=str(rng.randint(10, 99)), n3=str(rng.randint(100, 999)),
                          n4=str(rng.randint(1000, 9999)))
            return template.format(**values)

        return fill

    def _note(self, made: Made) -> None:
        self.made.append(made)


def _bank(topic: str, lang: str) -> dict[str, tuple[str, ...]]:
    bank = tp.TOPICS[topic][lang]
    assert isinstance(bank, dict)
    return bank


def _ascii(text: str) -> str:
    return text.translate(str.maketrans("åäöüÅÄÖÜé", "aaouAAOUe"))


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _strip_prefixes(subject: str) -> str:
    while subject[:4].lower() in ("re: ", "sv: ", "vb: ") or subject.startswith("Fwd: "):
        subject = subject.split(": ", 1)[1]
    return subject


def from_mix(text: str, seed: int = 1, established: int = 0) -> RealMix | None:
    """`--mix real` (the default shares) or `real:new=1,code=0.5` (others); None for a mix of
    mails.py's."""
    name, _, given = text.partition(":")
    if name != "real":
        return None
    shares = dict(DEFAULT_SHARES)
    if given:
        shares = {}
        for part in given.split(","):
            kind, _, value = part.partition("=")
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r} in --mix (known: {', '.join(KINDS)})")
            shares[kind] = float(value)
    return RealMix(seed=seed, shares=shares, established=established)
