"""Helpers shared by the registry integration tests (plain functions, no fixtures)."""

import itertools
import json
import uuid
from datetime import UTC, date, datetime

from aiokafka import ConsumerRecord
from sqlalchemy import text

from folio.registry.entrypoints.consumers import HANDLERS
from folio.shared.contracts import EventPayload, LedgerEntryChanged, new_envelope
from folio.shared.messaging.consumer import Consumer

_offsets = itertools.count()


def record_of(envelope) -> ConsumerRecord:
    value = envelope.model_dump_json().encode()
    return ConsumerRecord(
        topic=envelope.event_type,
        partition=0,
        offset=next(_offsets),
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=(),
    )


def envelope_of(payload: EventPayload):
    return new_envelope(payload, producer="test")


def registry_consumer(uow_factory) -> Consumer:
    """The registry's real consumer logic (inbox, one unit of work per batch), no broker."""
    return Consumer(
        name="registry",
        uow_factory=uow_factory,
        handlers=HANDLERS,
        batch_handlers={},
        service_name="registry",
        max_attempts=2,
        backoff_seconds=0.01,
    )


def entry_changed(
    *,
    entry_id: str,
    status: str,
    version: int,
    amount_minor: int = 450_000,
    entry_type: str = "RENT",
    building_id: str | None = None,
    unit_id: str | None = None,
    extension_id: str | None = None,
    due_date: date | None = None,
    paid_at: datetime | None = None,
    currency: str = "SAR",
) -> LedgerEntryChanged:
    return LedgerEntryChanged(
        entry_id=entry_id,
        invoice_number=f"INV-2026-{uuid.uuid4().int % 10**6:06d}",
        entry_type=entry_type,
        status=status,
        amount_minor=amount_minor,
        paid_minor=amount_minor if status == "PAID" else 0,
        currency=currency,
        due_date=due_date,
        building_id=building_id,
        unit_id=unit_id,
        extension_id=extension_id,
        paid_at=paid_at,
        version=version,
        changed_at=datetime.now(UTC),
    )


async def outbox_events(uow_factory, topic: str, key: str) -> list[dict]:
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            text("SELECT value FROM outbox WHERE topic = :t AND key = :k ORDER BY id"),
            {"t": topic, "k": key},
        )
        return [json.loads(bytes(v)) for (v,) in rows]


async def scalar(uow_factory, sql: str, **params):
    async with uow_factory() as uow:
        return (await uow.session.execute(text(sql), params)).scalar_one_or_none()
