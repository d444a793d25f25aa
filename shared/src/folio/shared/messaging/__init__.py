"""Reliable messaging: transactional outbox relay, idempotent consumers, DLQ."""

from folio.shared.messaging.broker import create_broker, dlq_topic, ensure_topics
from folio.shared.messaging.consumer import BatchHandler, EventHandler, subscribe
from folio.shared.messaging.relay import OutboxRelay

__all__ = [
    "BatchHandler",
    "EventHandler",
    "OutboxRelay",
    "create_broker",
    "dlq_topic",
    "ensure_topics",
    "subscribe",
]
