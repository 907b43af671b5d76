"""Prometheus metrics: counters and latency histograms for accept, pipeline and delivery.

Optional twice over: prometheus-client is an extra (`pip install 'ticketgate[metrics]'`), and
the endpoint runs only when the settings have a `metrics: {host, port}` section. Until
`start()` succeeds every recording function returns at once, so the instrumented code in
smtp.py, worker.py and outbox/worker.py pays one attribute check.

Metrics (all prefixed `ticketgate_`):
- `mails_accepted_total{protocol}`: DATA answered 250 (the message is in the spool);
- `mails_refused_total{protocol, code_class, reason}`: refusals of a connection, recipient or
  message: shutting_down and too_busy (421), too_many_recipients (452), storage (451),
  not_function_address (550), too_big (552);
- `accept_seconds{protocol}`: from the end of DATA to the 250 (the durable spool commit);
- `pipeline_messages_total{action}`: the pipeline's outcome per spool row: the verdict's action
  (new_ticket, followup, duplicate, event, hold, drop), or error (held by a failure), deferred
  (storage failed; processed again later) or skipped (already processed);
- `pipeline_seconds`: from taking a spool row up to the commit of its verdict;
- `deliveries_total{kind, result}`: outbox attempts by result (sent, deferred, failed);
- `delivery_seconds{transport}`: one delivery attempt (the smarthost's or Maildir's time).

The metrics live in a registry of their own, so tests can run several daemons in one process.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from .config import Listener

log = structlog.get_logger("ticketgate.metrics")

# Buckets in seconds: accepts are fsync-bound (ms), deliveries network-bound (up to timeouts).
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLOW = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class _Metrics:
    """The collectors, made once per process on first use."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter("ticketgate_mails_accepted", "Messages accepted (DATA 250).",
                                ["protocol"], registry=r)
        self.refused = Counter("ticketgate_mails_refused",
                               "Refused connections, recipients or messages.",
                               ["protocol", "code_class", "reason"], registry=r)
        self.accept_seconds = Histogram("ticketgate_accept_seconds",
                                        "End of DATA to the 250 reply.", ["protocol"],
                                        buckets=_FAST, registry=r)
        self.pipeline = Counter("ticketgate_pipeline_messages",
                                "Spool rows through the pipeline, by outcome.", ["action"],
                                registry=r)
        self.pipeline_seconds = Histogram("ticketgate_pipeline_seconds",
                                          "A spool row taken up to its verdict committed.",
                                          buckets=_FAST, registry=r)
        self.deliveries = Counter("ticketgate_deliveries", "Outbox delivery attempts.",
                                  ["kind", "result"], registry=r)
        self.delivery_seconds = Histogram("ticketgate_delivery_seconds",
                                          "One delivery attempt.", ["transport"],
                                          buckets=_SLOW, registry=r)


_collectors: _Metrics | None = None  # made at the first start, kept for the process
_metrics: _Metrics | None = None  # the collectors while recording is on; None: off
_server: Any = None
_lock = threading.Lock()
_started: dict[int, float] = {}  # spool id -> when the worker took it (worker thread only)


def available() -> bool:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


def start(listener: Listener | None) -> tuple[str, int] | None:
    """Serve /metrics on `listener` (None: metrics off); returns the bound address."""
    global _collectors, _metrics, _server
    if listener is None:
        return None
    if not available():
        log.warning("metrics_unavailable",
                    detail="prometheus-client is not installed: pip install 'ticketgate[metrics]'")
        return None
    from prometheus_client import start_http_server

    with _lock:
        _collectors = _collectors or _Metrics()
        try:
            server, _thread = start_http_server(listener.port, addr=listener.host,
                                                registry=_collectors.registry)
        except OSError as exc:  # mail matters more than metrics: say so and serve on
            log.error("metrics_failed", host=listener.host, port=listener.port, error=str(exc))
            return None
        _metrics, _server = _collectors, server
    host, port = str(server.server_address[0]), int(server.server_address[1])
    log.info("metrics_listening", host=host, port=port)
    return host, port


def stop() -> None:
    """Stop the endpoint and recording (the counts are kept for a later start)."""
    global _metrics, _server
    with _lock:
        server, _server = _server, None
        _metrics = None
        _started.clear()
    if server is not None:
        server.shutdown()
        server.server_close()


def accepted(protocol: str, seconds: float) -> None:
    m = _metrics
    if m is not None:
        m.accepted.labels(protocol).inc()
        m.accept_seconds.labels(protocol).observe(seconds)


def refused(protocol: str, status: str, reason: str) -> None:
    m = _metrics
    if m is not None:
        m.refused.labels(protocol, f"{status[:1]}xx", reason).inc()


def pipeline_started(spool_id: int) -> None:
    if _metrics is not None:
        if len(_started) > 100_000:  # rows taken but never settled (a stop): forget them
            _started.clear()
        _started[spool_id] = time.monotonic()


def pipeline_done(spool_id: int, action: str) -> None:
    began = _started.pop(spool_id, None)
    m = _metrics
    if m is not None:
        m.pipeline.labels(action).inc()
        if began is not None:
            m.pipeline_seconds.observe(time.monotonic() - began)


def delivered(kind: str, result: str, transport: str, seconds: float) -> None:
    m = _metrics
    if m is not None:
        m.deliveries.labels(kind, result).inc()
        m.delivery_seconds.labels(transport).observe(seconds)
