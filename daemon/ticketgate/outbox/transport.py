"""Transports: how one rendered mail leaves. Blocking code, run in the worker's threads.

- `maildir` (the embedded default, for local use): the mail is written under tmp/, flushed to
  disk and linked into new/, with `Return-Path: <>` and `Delivered-To:` prepended as a
  delivering MTA would. The file's name is made from the recipient and the bytes, which never
  change for an outbox row: a delivery repeated after a crash between the write and the
  outbox's commit finds the file there (in new/, or in cur/ once read) and adds no copy. Only
  a delivery the outbox marks `again` looks: cur/ grows with every mail read.
- `smtp`: a smarthost through the stdlib `smtplib`, one connection per mail, with optional
  STARTTLS (certificate verified) and AUTH; the password is read from `password_file` at each
  delivery, so a changed password needs no restart.

Outcomes: a return is delivered; TemporaryFailure is retried; PermanentFailure is given up at
once. A 5xx answer to MAIL, RCPT or DATA is about this mail, so it is permanent; a 5xx while
connecting, greeting, authenticating or starting TLS is about our setup, which an admin can fix,
so it is temporary like a refused connection or a timeout: failing every mail for good over a
wrong password would lose them all.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import smtplib
import socket
import ssl
import threading
from pathlib import Path
from typing import Protocol

from ..config import Delivery, Settings


class TemporaryFailure(Exception):
    """Try again later."""


class PermanentFailure(Exception):
    """Do not try again."""


class Transport(Protocol):
    name: str

    def deliver(self, mail_from: str, rcpt_to: str, raw: bytes, *, again: bool = True) -> str:
        """Deliver one mail to one recipient; return a short description of the result.

        `again` is false only when the outbox knows this mail was never handed to the
        transport before (see OutboxWorker), so a transport may skip looking for a copy."""
        ...


def settle(transport: Transport) -> None:
    """Make every delivery `transport` has returned from durable, before the outbox records
    them as sent: one directory fsync for a group of Maildir deliveries instead of one each.
    A transport without a `settle` of its own (SMTP: the far end's 250 is its promise) has
    nothing to do."""
    own = getattr(transport, "settle", None)
    if own is not None:
        own()


_HOST = socket.gethostname().replace("/", "\\057").replace(":", "\\072")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MaildirTransport:
    """Adds each mail to one Maildir (created if missing)."""

    name = "maildir"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._made = False  # tmp/, new/ and cur/ were there at the last delivery
        self._unsettled = threading.Event()  # a file is in new/ that no fsync of new/ covers

    def deliver(self, mail_from: str, rcpt_to: str, raw: bytes, *, again: bool = True) -> str:
        trace = f"Return-Path: <{mail_from}>\r\nDelivered-To: {rcpt_to}\r\n".encode()
        # Maildir files use the local line ending, as an MDA writes them.
        data = (trace + raw).replace(b"\r\n", b"\n")
        digest = hashlib.sha256(rcpt_to.encode() + b"\0" + raw).hexdigest()[:32]
        name = f"tg{digest}.{_HOST}"
        try:
            try:
                return self._add(name, data, make=not self._made, again=again)
            except OSError:
                if not self._made:
                    raise
                self._made = False  # the Maildir may have gone since: make it, try once more
                return self._add(name, data, make=True, again=again)
        except OSError as exc:  # a full or read-only disk is worth waiting for
            raise TemporaryFailure(f"maildir {self.path}: {exc}") from exc

    def _add(self, name: str, data: bytes, *, make: bool, again: bool) -> str:
        if make:
            for sub in ("tmp", "new", "cur"):  # exist_ok: the outbox's threads race here
                os.makedirs(self.path / sub, mode=0o700, exist_ok=True)
            self._made = True
        # Looking for a copy reads all of cur/, which grows with every mail a reader has seen
        # (44 ms a delivery at 100,000): done only for a mail that may have been delivered.
        if again and self._present(name):
            self._unsettled.set()  # put there by a process that may have died before its fsync
            return f"maildir {name} (delivered before)"
        tmp = self.path / "tmp" / f"{name}.{os.getpid()}.{threading.get_ident()}"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, self.path / "new" / name)
        except FileExistsError:  # another attempt got there first
            pass
        finally:
            os.unlink(tmp)
        # The file's name in new/ becomes durable with the next `settle`, which the outbox
        # runs before it records this delivery: a crash before then leaves the row pending,
        # and its retry finds the file or writes it again under the same name.
        self._unsettled.set()
        return f"maildir {name}"

    def settle(self) -> None:
        """fsync new/ once for every delivery returned so far (see `settle` above)."""
        if not self._unsettled.is_set():
            return
        self._unsettled.clear()  # before the fsync: a file linked meanwhile is covered or set
        try:
            _fsync_dir(self.path / "new")
        except OSError:
            self._unsettled.set()
            raise

    def _present(self, name: str) -> bool:
        if os.path.exists(self.path / "new" / name):
            return True
        # A reader that has seen it moved it to cur/, perhaps with flags: NAME:2,S
        flagged = name + ":"
        with os.scandir(self.path / "cur") as entries:
            return any(e.name == name or e.name.startswith(flagged) for e in entries)


def _status(code: int, reply: bytes | str, step: str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{step}: {code} {' '.join(text.split())}"[:500]


class SmtpTransport:
    """Delivers through a smarthost; see the module docstring for how failures are judged."""

    name = "smtp"

    def __init__(self, delivery: Delivery, helo_name: str) -> None:
        self.delivery = delivery
        self.helo_name = helo_name

    def _password(self) -> str:
        path = self.delivery.password_file
        if path is None:
            raise TemporaryFailure("delivery.username is set but delivery.password_file is not")
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise TemporaryFailure(f"cannot read password_file: {exc}") from exc

    def _setup(self, smtp: smtplib.SMTP) -> None:
        d = self.delivery
        smtp.ehlo_or_helo_if_needed()
        if d.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if d.username:
            smtp.login(d.username, self._password())

    def deliver(self, mail_from: str, rcpt_to: str, raw: bytes, *, again: bool = True) -> str:
        d = self.delivery
        smtp = smtplib.SMTP(local_hostname=self.helo_name, timeout=d.timeout)
        try:
            try:
                smtp.connect(d.host, d.port)
                self._setup(smtp)
            except smtplib.SMTPResponseException as exc:
                raise TemporaryFailure(_status(exc.smtp_code, exc.smtp_error, "setup")) from exc
            code, reply = smtp.mail(mail_from)  # "" is sent as MAIL FROM:<>
            _check(code, reply, "MAIL", ok=(250,))
            code, reply = smtp.rcpt(rcpt_to)
            _check(code, reply, "RCPT", ok=(250, 251))
            code, reply = smtp.data(raw)
            _check(code, reply, "DATA", ok=(250,))
        except (TemporaryFailure, PermanentFailure):
            smtp.close()
            raise
        except smtplib.SMTPResponseException as exc:  # e.g. DATA refused before 354
            smtp.close()
            failure = PermanentFailure if 500 <= exc.smtp_code < 600 else TemporaryFailure
            raise failure(_status(exc.smtp_code, exc.smtp_error, "smtp")) from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, timeout, TLS, disconnect
            smtp.close()
            raise TemporaryFailure(f"{d.host}:{d.port}: {type(exc).__name__}: {exc}") from exc
        # Delivered: whatever QUIT answers cannot undo that.
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.quit()
        smtp.close()
        return _status(code, reply, "sent")


def _check(code: int, reply: bytes, step: str, *, ok: tuple[int, ...]) -> None:
    if code in ok:
        return
    failure = PermanentFailure if 500 <= code < 600 else TemporaryFailure
    raise failure(_status(code, reply, step))


def transport_for(settings: Settings) -> Transport:
    """The transport the settings name."""
    delivery = settings.delivery
    if delivery.transport == "smtp":
        return SmtpTransport(delivery, settings.instance)
    return MaildirTransport(delivery.maildir)
