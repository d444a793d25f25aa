"""Unit of work: one database transaction for state, outgoing events and the inbox.

``async with uow:`` opens a transaction; only ``await uow.commit()`` persists the
state change, the outbox rows it emitted and the inbox record together.
Services subclass it and attach repositories in ``_open``.
"""

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple, Self

from sqlalchemy import insert, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from folio.shared.contracts import Envelope, EventPayload, new_envelope, new_event_id
from folio.shared.db import audit_log, driver_connection, driver_fetch, while_in_flight
from folio.shared.observability import get_correlation_id

# Ids travel as one binary uuid[] parameter. Every id is one primary-key probe and
# insert: no join a generic plan could turn into a scan of the consumer's whole
# inbox (an anti-join did, once the prepared statement went generic: its cost grew
# with the table). The same id twice in a batch, or a race with another consumer of
# the same event, is settled by the primary key: the later one is skipped.
_RECORD_DELIVERIES = (
    "INSERT INTO processed_messages (consumer, event_id, processed_at) "
    "SELECT $1, e, now() FROM unnest($2::uuid[]) AS e "
    "ON CONFLICT (consumer, event_id) DO NOTHING "
    "RETURNING event_id"
)


class OutboxRow(NamedTuple):
    """One queued outbox row, in the outbox's COPY column order."""

    event_id: uuid.UUID
    topic: str
    key: str | None
    value: bytes
    headers: str  # JSON object
    created_at: datetime


OUTBOX_COLUMNS = OutboxRow._fields


class UnitOfWork:
    def __init__(self, sessionmaker: async_sessionmaker, *, producer: str) -> None:
        self._sessionmaker = sessionmaker
        self.producer = producer
        self.session: AsyncSession
        self._outbox_rows: list[OutboxRow] = []
        # the headers last queued, and their JSON
        self._last_headers: tuple[dict[str, str], str] = ({}, "{}")
        self._after_commit: list[Callable[[], None]] = []
        self.emitted: list[Envelope] = []
        self.committed = False

    async def __aenter__(self) -> Self:
        self.session = self._sessionmaker()
        await self.session.begin()
        self._outbox_rows = []
        self._after_commit = []
        self.emitted = []
        self.committed = False
        await self._open()
        return self

    async def _open(self) -> None:
        """Hook for subclasses: build repositories on ``self.session``."""

    async def __aexit__(self, exc_type, exc, tb) -> None:
        try:
            if not self.committed:
                await self.session.rollback()
        finally:
            await self.session.close()

    async def begin(self) -> None:
        """Start the database transaction now; it otherwise starts with the first
        statement, a round trip that statement then waits for."""
        await self.session.execute(text("SELECT 1"))

    def emit(
        self,
        payload: EventPayload,
        *,
        key: str | None = None,
        correlation_id: str | uuid.UUID | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Envelope:
        """Queue an event; it is written to the outbox at commit, in the same transaction."""
        correlation = correlation_id or get_correlation_id()
        envelope = new_envelope(
            payload,
            producer=self.producer,
            correlation_id=uuid.UUID(str(correlation)) if correlation else None,
            event_id=event_id,
        )
        self.emit_raw(
            topic=envelope.event_type,
            key=key if key is not None else payload.aggregate_key(),
            value=envelope.model_dump_json().encode(),
            event_id=envelope.event_id,
            headers={"correlation_id": str(envelope.correlation_id or "")},
        )
        self.emitted.append(envelope)
        return envelope

    def emit_raw(
        self,
        *,
        topic: str,
        key: str | None,
        value: bytes,
        event_id: uuid.UUID | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Queue exact bytes for a topic (DLQ copies and redrives keep the original bytes)."""
        headers = headers or {}
        last, encoded = self._last_headers
        if headers != last:  # a batch's events mostly share their headers: encode once
            encoded = json.dumps(headers)
            self._last_headers = (dict(headers), encoded)
        self._outbox_rows.append(
            OutboxRow(event_id or new_event_id(), topic, key, value, encoded, datetime.now(UTC))
        )

    def emit_raw_many(
        self,
        topic: str,
        messages: Iterable[tuple[str | None, bytes, uuid.UUID]],
        headers: dict[str, str],
    ) -> None:
        """Queue several ``(key, value, event_id)`` messages for one topic with the same
        headers, in order: ``emit_raw`` each, with the per-message work done once."""
        encoded = json.dumps(headers)
        created_at = datetime.now(UTC)
        self._outbox_rows.extend(
            OutboxRow(event_id, topic, key, value, encoded, created_at)
            for key, value, event_id in messages
        )

    async def first_delivery(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Record the event in the inbox; False when this consumer already processed it."""
        return event_id in await self.first_deliveries(consumer, [event_id])

    async def first_deliveries(self, consumer: str, event_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Set-based inbox: records all ids, returns those not processed before.

        One ``unnest`` statement whatever the batch size (a compiled multi-VALUES
        statement per batch costs more than the work it guards)."""
        if not event_ids:
            return set()
        rows = await driver_fetch(self.session, _RECORD_DELIVERIES, consumer, event_ids)
        return {row[0] for row in rows}

    async def audit(
        self,
        actor: str,
        action: str,
        subject_type: str,
        subject_id: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append an audit record (the table refuses updates and deletes)."""
        await self.session.execute(
            insert(audit_log).values(
                occurred_at=datetime.now(UTC),
                actor=actor,
                action=action,
                subject_type=subject_type,
                subject_id=str(subject_id),
                details=details or {},
                correlation_id=get_correlation_id(),
            )
        )

    async def audit_trail(self, subject_type: str, subject_id: str) -> list[dict[str, Any]]:
        rows = await self.session.execute(
            select(audit_log)
            .where(audit_log.c.subject_type == subject_type)
            .where(audit_log.c.subject_id == str(subject_id))
            .order_by(audit_log.c.id)
        )
        return [dict(r._mapping) for r in rows]

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A savepoint: an exception inside rolls back its statements and forgets the
        events and after-commit callbacks queued since (the transaction goes on)."""
        queued = (len(self._outbox_rows), len(self.emitted), len(self._after_commit))
        nested = await self.session.begin_nested()
        try:
            yield
        except BaseException:
            await nested.rollback()
            del self._outbox_rows[queued[0] :]
            del self.emitted[queued[1] :]
            del self._after_commit[queued[2] :]
            raise
        await nested.commit()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this transaction has committed (never after a rollback):
        for in-process knowledge that is only true of committed data."""
        self._after_commit.append(callback)

    async def commit(self, meanwhile: Callable[[], None] | None = None) -> None:
        """Write the outbox rows and commit. The written rows are let go while the
        COMMIT is in flight rather than before it, and so is whatever ``meanwhile``
        lets go (CPU only)."""
        written, self._outbox_rows = self._outbox_rows, []
        if written:
            await self._write_outbox(written)

        def let_go() -> None:
            written.clear()
            if meanwhile is not None:
                meanwhile()

        await while_in_flight(self.session.commit(), let_go)
        self.committed = True
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    async def _write_outbox(self, rows: list[OutboxRow]) -> None:
        await copy_outbox_rows(await driver_connection(self.session), rows)

    async def now(self) -> datetime:
        """The database's transaction time (one clock for every service)."""
        return (await self.session.execute(select(literal_column("now()")))).scalar_one()


async def copy_outbox_rows(connection: Any, rows: list[OutboxRow]) -> None:
    """Write queued outbox rows on an asyncpg connection inside the caller's transaction.

    Binary COPY: the cheapest bulk insert there is (statement-level INSERT triggers,
    such as the relay's NOTIFY, still fire). Rows keep emit order, so outbox ids
    follow it, which the relay relies on for per-key order. They are queued ready
    for it (``OutboxRow``), so no per-row work is left for the commit.
    """
    await connection.copy_records_to_table("outbox", columns=OUTBOX_COLUMNS, records=rows)
