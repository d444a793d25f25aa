"""Structured logs (structlog) with a correlation id, and Prometheus metrics."""

import logging
import sys
import uuid
from contextvars import ContextVar

import structlog
from prometheus_client import Counter, Histogram

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

CORRELATION_HEADER = "X-Correlation-ID"


def get_correlation_id() -> str | None:
    return _correlation_id.get()


def set_correlation_id(value: str | None) -> None:
    _correlation_id.set(value)
    structlog.contextvars.bind_contextvars(correlation_id=value)


def parse_correlation_id(value: str | bytes | None) -> str:
    """A valid UUID string from a header, or a fresh one."""
    if not value:
        return str(uuid.uuid4())
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError):
        return str(uuid.uuid4())


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    logging.basicConfig(stream=sys.stdout, level=level.upper(), format="%(message)s")
    renderer = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # aiokafka narrates every rebalance at INFO; keep warnings and errors only
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


HTTP_REQUESTS = Counter(
    "folio_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "folio_http_request_seconds", "HTTP request latency", ["service", "method", "route"]
)
EVENTS_CONSUMED = Counter(
    "folio_events_consumed_total",
    "Events consumed",
    ["service", "consumer", "event_type", "outcome"],
)
EVENTS_PUBLISHED = Counter("folio_outbox_published_total", "Outbox rows published", ["service"])
DEAD_LETTERS = Counter("folio_dead_letters_total", "Messages sent to a DLQ", ["service", "topic"])
