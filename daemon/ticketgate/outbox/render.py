"""Rendering: Jinja2 templates to text, and text plus safe headers to a complete mail.

Templates live in `templates/` (the `templates_dir` setting), one file per name and language:
`{name}.{lang}.txt.j2`, e.g. `acknowledgement.sv.txt.j2`. A body is the languages of the
`acknowledgements.languages` setting that exist for the name, in that order, separated by a
rule. Subjects are built in code (the ticket code, then the original subject), so no template
can drop the code a reply needs.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import formatdate
from pathlib import Path
from typing import Any

import jinja2

from ..identity import LOOP_HEADER
from .headers import one_line
from .wire import address_field, id_field, qp_body, text_field

LANGUAGE_RULE = "\n\n" + "-" * 60 + "\n\n"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

# Precedence: bulk, as most helpdesk software sends on automatic mail. The standard signals
# (Auto-Submitted, RFC 3834) and Exchange's X-Auto-Response-Suppress stop modern responders;
# Precedence is the one that older vacation programs and procmail/maildrop recipes still
# check, and they would otherwise answer our acknowledgement and start a loop. "junk" would
# invite spam filters; "list" would claim a list we are not. The price, that a few providers
# file such mail as bulk, is paid by every ticket system and is smaller than a loop.
PRECEDENCE = "bulk"

# A listing of the templates directory is reused only while the directory's mtime is at least
# this many seconds old: a file added within the same timestamp tick as the listing (ticks can
# be coarse) would otherwise go unseen until the next change. Git's "racily clean" rule.
_RACY = 2.0


class _Listing:
    """The names of the templates directory, reused while the directory is unchanged.

    Adding, removing or renaming a file changes the directory's mtime; editing a file in place
    does not, and needs no new listing (Jinja2 checks each template's own mtime). Regular files
    are remembered as such; a symlink is checked each time, since its target may go away
    without the directory changing.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._key: tuple[int, int, int] | None = None
        self._files: frozenset[str] = frozenset()
        self._links: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def _read(self) -> tuple[frozenset[str], frozenset[str]]:
        try:
            st = os.stat(self.directory)
        except OSError:
            return frozenset(), frozenset()
        key = (st.st_dev, st.st_ino, st.st_mtime_ns)
        with self._lock:
            if key == self._key:
                return self._files, self._links
            self._key = None  # changed: an mtime set back to the old value must not revive it
        files, links = set(), set()
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        links.add(entry.name)
                    elif entry.is_file(follow_symlinks=False):
                        files.add(entry.name)
        except OSError:
            return frozenset(), frozenset()
        listing = frozenset(files), frozenset(links)
        if time.time() - st.st_mtime >= _RACY:
            with self._lock:
                self._key, (self._files, self._links) = key, listing
        return listing

    def is_file(self, name: str) -> bool:
        """What `(directory / name).is_file()` says, mostly without a system call."""
        files, links = self._read()
        if name in files:
            return True
        return name in links and (self.directory / name).is_file()


class Templates:
    """The admin's Jinja2 templates; edits on disk are picked up without a restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            undefined=jinja2.StrictUndefined,  # a typo in a template is an error, not a blank
            autoescape=False,  # plain text mail, never HTML
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=True,
        )
        self._listing = _Listing(directory)

    def languages(self, name: str, wanted: Sequence[str]) -> list[str]:
        """The languages among `wanted` that template `name` has a file for."""
        if not _NAME.fullmatch(name):
            raise jinja2.TemplateNotFound(name)
        return [lang for lang in wanted if self._listing.is_file(f"{name}.{lang}.txt.j2")]

    def render(self, name: str, wanted: Sequence[str], context: Mapping[str, Any]) -> str:
        """The body: template `name` in each language present, in order.

        Raises jinja2.TemplateError (TemplateNotFound when no language exists).
        """
        return self.render_languages(name, wanted, context)[0]

    def render_languages(self, name: str, wanted: Sequence[str],
                         context: Mapping[str, Any]) -> tuple[str, list[str]]:
        """`render`'s body and the languages it is in (one look at the directory for both)."""
        present = self.languages(name, wanted)
        if not present:
            raise jinja2.TemplateNotFound(f"{name}.{{{','.join(wanted)}}}.txt.j2")
        parts = []
        for lang in present:
            template = self.env.get_template(f"{name}.{lang}.txt.j2")
            text = template.render({**context, "lang": lang, "languages": present})
            parts.append(_tidy(text))
        return LANGUAGE_RULE.join(parts) + "\n", present


_BLANK_RUNS = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    # Conditional paragraphs leave runs of blank lines behind: keep at most one. After strip()
    # the first and last lines are not blank, so a run is always between two lines of text.
    return _BLANK_RUNS.sub("\n\n", "\n".join(line.rstrip() for line in text.strip().splitlines()))


@dataclass(frozen=True)
class Outgoing:
    """Everything one outgoing mail needs; `build` turns it into bytes."""

    message_id: str  # without angle brackets
    sender: Address
    to: Address
    subject: str
    body: str
    instance: str
    auto_submitted: str  # auto-replied (acknowledgements) or auto-generated (notifications)
    in_reply_to: str | None = None  # "<id>"
    references: tuple[str, ...] = ()  # "<id>" each
    reply_to: Address | None = None
    languages: tuple[str, ...] = ()


def build(mail: Outgoing, *, now: float | None = None) -> bytes:
    """The complete mail in wire form (CRLF, 7-bit: RFC 2047 headers, quoted-printable body).

    Written by hand (see `wire`) rather than with EmailMessage, which cost a fifth of the
    pipeline's CPU; the fields and their order are what EmailMessage gave. Raises ValueError
    for a header value with CR or LF, or a body that is not encodable as UTF-8.
    """
    fields = [address_field("From", mail.sender), address_field("To", mail.to)]
    if mail.reply_to is not None:
        fields.append(address_field("Reply-To", mail.reply_to))
    fields += [
        text_field("Subject", one_line(mail.subject, 998)),
        "Date: " + _date(now if now is not None else time.time()),
        id_field("Message-ID", (f"<{mail.message_id}>",)),
    ]
    if mail.in_reply_to:
        fields.append(id_field("In-Reply-To", (mail.in_reply_to,)))
    if mail.references:
        fields.append(id_field("References", mail.references))
    fields += [
        text_field("Auto-Submitted", mail.auto_submitted),
        "X-Auto-Response-Suppress: All",
        text_field("Precedence", PRECEDENCE),
        text_field(LOOP_HEADER, one_line(mail.instance, 255)),
        # The order set_content and EmailMessage gave these three; kept so the bytes differ
        # from the old builder's only where they must.
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "MIME-Version: 1.0",
    ]
    if mail.languages:
        fields.append(text_field("Content-Language", ", ".join(mail.languages)))
    head = "\r\n".join(fields).encode("ascii")
    return head + b"\r\n\r\n" + qp_body(mail.body)


_last_date: tuple[int, str] = (-1, "")


def _second(when: float) -> int:
    """The whole second formatdate(when) shows: datetime.fromtimestamp rounds `when` to the
    microsecond (half to even) first, so x.9999996 is already the next second."""
    fraction, whole = math.modf(when)
    if round(fraction * 1e6) >= 1_000_000:
        whole += 1.0
    return int(whole)


def _date(when: float) -> str:
    """formatdate(when, localtime=True), which shows whole seconds: the same second's string
    is reused (an apply group composes many mails within one)."""
    global _last_date
    second = _second(when)
    last = _last_date  # one read: other threads may replace it
    if last[0] != second:
        last = _last_date = (second, formatdate(second, localtime=True))
    return last[1]
