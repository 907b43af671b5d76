"""Log lines: one JSON object per line, each written whole."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog

from ticketgate.log import configure


class _Recorder(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)

    def isatty(self) -> bool:
        return False


@pytest.fixture
def reset() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    mail_level = logging.getLogger("mail.log").level
    yield
    structlog.reset_defaults()
    root.handlers[:], root.level = handlers, level
    logging.getLogger("mail.log").setLevel(mail_level)


def test_a_line_is_written_in_one_piece(reset: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Lines of several threads (the writer's, the event loop's) must not interleave, and a
    # line per accepted mail should cost one write, not two.
    stderr = _Recorder()
    monkeypatch.setattr(sys, "stderr", stderr)  # here: pytest swaps stderr before the test
    configure("json")
    structlog.get_logger("ticketgate.test").info("message_spooled", spool_id=7, rcpt=["a@b"])
    assert len(stderr.writes) == 1 and stderr.writes[0].endswith("}\n")
    event = json.loads(stderr.writes[0])
    assert event["event"] == "message_spooled" and event["spool_id"] == 7
    assert event["level"] == "info" and event["timestamp"].endswith("Z")
