"""Broker factory and topic administration."""

from collections.abc import Iterable

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from folio.shared.contracts import TOPICS

log = structlog.get_logger(__name__)

DEFAULT_PARTITIONS = 4


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


def all_topics() -> list[str]:
    return [*TOPICS, *(dlq_topic(t) for t in TOPICS)]


def create_broker(bootstrap_servers: str, *, client_id: str) -> KafkaBroker:
    # No idempotent producer: Tansu refuses InitProducerId, and correctness comes
    # from the outbox and inbox anyway.
    return KafkaBroker(
        bootstrap_servers.split(","),
        client_id=client_id,
        enable_idempotence=False,
        acks="all",
        logger=None,
    )


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str] | None = None,
    *,
    partitions: int = DEFAULT_PARTITIONS,
    replication_factor: int = 1,
) -> list[str]:
    """Create the missing topics (idempotent). Returns the topics it created."""
    wanted = list(topics) if topics is not None else all_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(t, partitions, replication_factor) for t in missing]
                )
            except TopicAlreadyExistsError:
                pass
            log.info("topics.created", topics=missing)
        return missing
    finally:
        await admin.close()
