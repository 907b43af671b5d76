"""What smtp.py and smtpdata.py rely on in aiosmtpd beyond its public handler hooks.

aiosmtpd's `handle_<VERB>` hooks carry the RCPT policy and the spooling (SpoolHandler). The
rest cannot be done through them: a 421 in place of the greeting (`_handle_client`), enhanced
status codes on aiosmtpd's own replies and one write for a multi-line reply (`push`), a 421
before a timeout closes the session (`_timeout_cb`), a cheaper MAIL/RCPT path parser
(`_getaddr`), the per-connection command listing in `__init__`, and DATA read in blocks
(`smtp_DATA`, reimplemented in smtpdata.py on `_set_post_data_state`, `_call_handler_hook`
and the session's `_reader`/`_writer`). Each of those aiosmtpd methods is recorded here by a
hash of its source as in the version tested; pyproject.toml pins that version. When an
upgrade changes one, this test names it: read the new code, adapt ours, and record the new
hash (and widen the pin) only then.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import aiosmtpd.lmtp
import aiosmtpd.smtp
import pytest

from ticketgate import smtp

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
TESTED = "1.4.6"

# (aiosmtpd.smtp.SMTP's method, what of ours relies on it) -> sha256[:16] of its source.
RELIED_ON: dict[tuple[str, str], str] = {
    ("__init__", "smtp._Limited.__dir__ (the per-connection command listing)"):
        "8a9ca80f23ad9bf2",
    ("_handle_client", "smtp._Limited._handle_client (421 in place of the greeting)"):
        "0e4d096403af6c74",
    ("_timeout_cb", "smtp._Limited._timeout_cb (421 before the close)"): "10a7351f9bec2818",
    ("_getaddr", "smtp._Limited._getaddr (its contract: ('', ''), (None, None))"):
        "0aeb21c56ac1260e",
    ("push", "smtp._Limited.push (enhanced codes, one write per reply)"): "15f4f1de5e30c337",
    ("smtp_MAIL", "smtp._Limited.smtp_MAIL (421 while draining)"): "80dd938e7791acfb",
    ("smtp_DATA", "smtpdata.smtp_DATA (a copy of its protocol, reading in blocks)"):
        "3a33f30d3fd6d02f",
    ("connection_made", "smtp._Limited.connection_made (_reader, _writer, limits)"):
        "77a45df5065bba34",
    ("connection_lost", "smtp._Limited.connection_lost"): "d3bf6349bc3c25c1",
    ("_set_post_data_state", "smtpdata.smtp_DATA"): "1dc8a8abca2a8164",
    ("_call_handler_hook", "smtpdata.smtp_DATA"): "6ff23a6634ea0307",
    ("check_helo_needed", "smtpdata.smtp_DATA"): "9829bb73251c983e",
    ("check_auth_needed", "smtpdata.smtp_DATA"): "812bbc794078b1b0",
}


def _digest(function: object) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]  # type: ignore[arg-type]


def test_the_pin_names_the_version_tested() -> None:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (pin,) = [d for d in deps if re.match(r"aiosmtpd\b", d)]
    assert pin == f"aiosmtpd>={TESTED},<1.4.7", pin
    assert version("aiosmtpd") == TESTED, (
        f"aiosmtpd {version('aiosmtpd')} is installed; ticketgate is tested with {TESTED}")


@pytest.mark.parametrize(("method", "ours"), sorted(RELIED_ON))
def test_what_we_override_is_what_we_read(method: str, ours: str) -> None:
    found = getattr(aiosmtpd.smtp.SMTP, method, None)
    assert found is not None, f"aiosmtpd.smtp.SMTP.{method} is gone; {ours} relies on it"
    digest = _digest(found)
    assert digest == RELIED_ON[(method, ours)], (
        f"aiosmtpd {version('aiosmtpd')} changed SMTP.{method} (source hash {digest}); "
        f"{ours} relies on it: read the new code, adapt ours, then record the new hash")


def test_our_sessions_override_exactly_these() -> None:
    # A new override of aiosmtpd's internals must be recorded above (and one dropped, removed).
    ours = {name for name in vars(smtp._Limited) if not name.startswith("__")
            and callable(getattr(aiosmtpd.smtp.SMTP, name, None))}
    recorded = {method for method, _ in RELIED_ON}
    assert ours <= recorded, ours - recorded


def test_the_rest_we_touch_is_still_there() -> None:
    assert aiosmtpd.smtp.MISSING is not None and callable(aiosmtpd.smtp.syntax)
    # LMTP inherits DATA from SMTP: smtpdata answers once per recipient for it.
    assert "smtp_DATA" not in vars(aiosmtpd.lmtp.LMTP)
    # smtpdata raises the reader's line limit for DATA through asyncio's private attribute.
    async def limit() -> object:
        return asyncio.StreamReader(limit=1234)._limit  # type: ignore[attr-defined]

    assert asyncio.run(limit()) == 1234
    parameters = inspect.signature(aiosmtpd.smtp.SMTP.__init__).parameters
    for name in ("data_size_limit", "enable_SMTPUTF8", "decode_data", "hostname", "timeout"):
        assert name in parameters, name
