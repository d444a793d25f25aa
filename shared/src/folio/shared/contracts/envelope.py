"""The JSON envelope every Kafka message value carries (DESIGN.md §2)."""

import os
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
        event_id=event_id or uuid.uuid4(),
        event_type=event_type,
        schema_version=version,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=producer,
        correlation_id=correlation_id,
        data=payload.model_dump(mode="json"),
    )


def new_event_ids(count: int) -> list[uuid.UUID]:
    """``count`` random (version 4) ids from one read of the OS's random source;
    ``uuid4()`` makes a system call per id, a visible cost in batches of events."""
    raw = os.urandom(16 * count)
    return [uuid.UUID(bytes=raw[i : i + 16], version=4) for i in range(0, 16 * count, 16)]


def decode_envelope(raw: bytes | str) -> Envelope:
    """Parse a message value; raises ``pydantic.ValidationError`` on bad input."""
    return Envelope.model_validate_json(raw)
