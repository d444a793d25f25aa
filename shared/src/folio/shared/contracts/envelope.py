"""The JSON envelope every Kafka message value carries (DESIGN.md §2)."""

import os
import time
import uuid
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from folio.shared.contracts.events import EVENT_MODELS, EventPayload, event_type_of


class Envelope(BaseModel):
    """Metadata around one event; ``data`` is the payload as a plain dict."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: uuid.UUID
    event_type: str
    schema_version: int = 1
    occurred_at: AwareDatetime
    producer: str
    correlation_id: uuid.UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def payload(self) -> EventPayload:
        """The typed, validated payload for this event type and version (validated once)."""
        return self.typed_payload

    @cached_property
    def typed_payload(self) -> EventPayload:
        model = EVENT_MODELS.get((self.event_type, self.schema_version))
        if model is None:
            raise ValueError(f"unknown event {self.event_type} v{self.schema_version}")
        return model.model_validate(self.data)


def new_envelope(
    payload: EventPayload,
    *,
    producer: str,
    correlation_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    event_type, version = event_type_of(payload)
    return Envelope(
        event_id=event_id or new_event_id(),
        event_type=event_type,
        schema_version=version,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=producer,
        correlation_id=correlation_id,
        data=payload.model_dump(mode="json"),
    )


# version 7 (RFC 9562): 48-bit Unix milliseconds, then 74 random bits around the
# version and variant fields
_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62
_RAND_B = (1 << 62) - 1


def new_event_ids(count: int) -> list[uuid.UUID]:
    """``count`` time-ordered (version 7) ids from one read of the OS's random source.

    Time-ordered because every inbox and outbox indexes event ids: ids that grow
    with time land at the right edge of those indexes instead of on a random page
    each (PostgreSQL's right-edge fast path), which the random version 4 could not.
    The random bits keep them unguessable and distinct across producers. (Python
    3.14 has ``uuid.uuid7``; this also avoids a system call per id.)
    """
    prefix = (time.time_ns() // 1_000_000) << 80 | _VERSION_7 | _VARIANT_RFC
    raw = os.urandom(10 * count)
    ids = []
    for i in range(0, 10 * count, 10):
        bits = int.from_bytes(raw[i : i + 10])  # 80 random bits: 12 for rand_a, 62 for rand_b
        ids.append(uuid.UUID(int=prefix | (bits >> 68) << 64 | (bits & _RAND_B)))
    return ids


def new_event_id() -> uuid.UUID:
    """One time-ordered (version 7) event id; see ``new_event_ids``."""
    return new_event_ids(1)[0]


def decode_envelope(raw: bytes | str) -> Envelope:
    """Parse a message value; raises ``pydantic.ValidationError`` on bad input."""
    return Envelope.model_validate_json(raw)
