"""structlog configuration: JSON lines when not on a terminal, readable lines on one."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog


def configure(fmt: Literal["auto", "json", "console"] = "auto", level: int = logging.INFO,
              *, process: str | None = None) -> None:
    """Configure structlog (and route stdlib logging, e.g. aiosmtpd's, through it) to stderr.

    `process` names the process on every line (`serve`, or `pipeline` for its child), since
    both write to the same stderr and often log the same events (rules_reloaded)."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if process is not None:
        shared.append(_process_field(process))
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # One write per line (print() made two, the line and its newline, on an unbuffered
        # stderr): a line per accepted mail is a system call per mail less for the listener.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # aiosmtpd logs every session at INFO through stdlib logging; keep only its warnings.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)


def _process_field(name: str) -> structlog.types.Processor:
    def add(_logger: object, _method: str, event: structlog.types.EventDict
            ) -> structlog.types.EventDict:
        event.setdefault("process", name)
        return event

    return add
