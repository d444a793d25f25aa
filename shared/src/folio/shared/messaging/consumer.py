"""Idempotent, batch-capable Kafka consumers with bounded retries and a DLQ.

For each batch of records the wrapper:

1. decodes every envelope; one that is not valid JSON or has an unknown event
   type is dead-lettered at once (retrying cannot fix it);
2. runs the whole batch in ONE unit of work: the inbox keeps only first
   deliveries, batch handlers get their events set-wise, event handlers one by
   one, then one commit; offsets are committed only after that (FastStream
   ``NACK_ON_ERROR``: ack after success, rewind on error). Payloads are checked,
   and two-step handlers prepare, while the inbox insert is in flight; an invalid
   payload rolls the batch back, is dead-lettered, and the rest runs again;
3. if the batch fails, falls back to one unit of work per event with bounded
   retries and exponential backoff; an event that keeps failing is written to
   ``dead_letters`` and copied to ``<topic>.dlq`` through the outbox, and the
   partition keeps flowing;
4. infrastructure failures (database unreachable) are raised instead: nothing is
   acked, the records are redelivered once the database is back.
"""

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert

from folio.shared.contracts import Envelope, decode_envelope
from folio.shared.db import dead_letters, while_in_flight
from folio.shared.messaging.broker import dlq_topic
from folio.shared.observability import (
    DEAD_LETTERS,
    EVENTS_CONSUMED,
    parse_correlation_id,
    set_correlation_id,
)
from folio.shared.uow import UnitOfWork

log = structlog.get_logger(__name__)

EventHandler = Callable[[Envelope, Any], Awaitable[None]]
BatchHandler = Callable[[list[Envelope], Any], Awaitable[None]]


@dataclass(frozen=True)
class PreparedBatchHandler:
    """A batch handler in two steps, so its CPU-only part overlaps the inbox insert.

    ``prepare(envelope)`` must be pure (no database, no I/O, no side effects): it
    runs for every envelope of the batch, the duplicates the inbox then drops
    included. ``handle(items, uow)`` gets ``(envelope, prepared)`` for the first
    deliveries, in arrival order, as a plain batch handler gets its envelopes.
    """

    prepare: Callable[[Envelope], Any]
    handle: Callable[[list[tuple[Envelope, Any]], Any], Awaitable[None]]


class PoisonMessage(Exception):
    """The record can never be processed as it is (bad bytes, unknown type)."""


class InvalidPayloads(Exception):
    """Payloads found invalid while the batch ran; the batch was rolled back."""

    def __init__(self, reasons: dict[int, str]) -> None:
        super().__init__(f"{len(reasons)} invalid payload(s)")
        self.reasons = reasons  # position in the batch -> why


def is_infrastructure_error(exc: BaseException) -> bool:
    """True when the database (or network) is unreachable, not when the data is wrong."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.InterfaceError | sa_exc.DisconnectionError):
        return True
    if isinstance(exc, sa_exc.OperationalError):
        return True
    return isinstance(exc, OSError | ConnectionError | TimeoutError)


@dataclass
class Consumer:
    """One consumer group's processing logic, independent of FastStream (testable)."""

    name: str
    uow_factory: Callable[[], UnitOfWork]
    handlers: dict[str, EventHandler]
    batch_handlers: dict[str, BatchHandler | PreparedBatchHandler]
    service_name: str = "folio"
    max_attempts: int = 5
    backoff_seconds: float = 0.2

    def __post_init__(self) -> None:
        self.event_types = frozenset(self.handlers) | frozenset(self.batch_handlers)

    async def process(self, records: Sequence[ConsumerRecord]) -> None:
        failure: Exception | None = None
        async with self.uow_factory() as uow:
            # the transaction starts while the records are decoded
            _, (decoded, poison) = await while_in_flight(
                uow.begin(), lambda: self._decode_all(records)
            )
            if decoded:
                try:
                    await self._apply_in(uow, decoded)
                except Exception as exc:  # rolled back as the unit of work closes
                    failure = exc
        for record, reason in poison:
            await self.dead_letter(record, None, reason, attempts=1)
        if failure is not None and not decoded:  # let go during a COMMIT that then failed
            decoded, _ = self._decode_all(records)
        while isinstance(failure, InvalidPayloads):  # dead-letter those, run the rest
            for position, reason in failure.reasons.items():
                record, envelope = decoded[position]
                await self.dead_letter(record, envelope, reason, attempts=1)
            decoded = [d for i, d in enumerate(decoded) if i not in failure.reasons]
            if not decoded:
                return
            try:
                await self._apply(list(decoded))
                failure = None
            except Exception as exc:
                failure = exc
        if failure is None:
            return
        if is_infrastructure_error(failure):
            raise failure
        if len(decoded) > 1:
            log.warning("consumer.batch_failed", consumer=self.name, error=repr(failure))
        else:
            await asyncio.sleep(self.backoff_seconds)
        for record, envelope in decoded:
            await self._apply_with_retries(record, envelope)

    def _decode_all(
        self, records: Sequence[ConsumerRecord]
    ) -> tuple[list[tuple[ConsumerRecord, Envelope]], list[tuple[ConsumerRecord, str]]]:
        """(decoded records, records that can never be processed with why); CPU only."""
        decoded: list[tuple[ConsumerRecord, Envelope]] = []
        poison: list[tuple[ConsumerRecord, str]] = []
        for record in records:
            try:
                decoded.append((record, self._decode(record)))
            except PoisonMessage as exc:
                poison.append((record, str(exc)))
        return decoded, poison

    def _decode(self, record: ConsumerRecord) -> Envelope:
        """The envelope of a record; its payload is checked in ``_apply_in``."""
        try:
            envelope = decode_envelope(record.value or b"")
        except (ValidationError, ValueError) as exc:
            raise PoisonMessage(f"undecodable envelope: {exc}") from None
        if envelope.event_type not in self.event_types:
            raise PoisonMessage(f"no handler for event type {envelope.event_type!r}")
        return envelope

    def _prepare(self, envelopes: list[Envelope]) -> list[Any]:
        """Check every payload (raises ``InvalidPayloads``), then run the ``prepare``
        step of the two-step handlers; CPU only."""
        reasons: dict[int, str] = {}
        for position, envelope in enumerate(envelopes):
            try:
                envelope.payload()
            except (ValidationError, ValueError) as exc:
                reasons[position] = f"invalid {envelope.event_type} payload: {exc}"
        if reasons:
            raise InvalidPayloads(reasons)
        prepared: list[Any] = []
        for envelope in envelopes:
            handler = self.batch_handlers.get(envelope.event_type)
            prepared.append(
                handler.prepare(envelope) if isinstance(handler, PreparedBatchHandler) else None
            )
        return prepared

    async def _apply(self, decoded: list[tuple[ConsumerRecord, Envelope]]) -> None:
        async with self.uow_factory() as uow:
            await uow.begin()
            await self._apply_in(uow, decoded)

    async def _apply_in(
        self, uow: UnitOfWork, decoded: list[tuple[ConsumerRecord, Envelope]]
    ) -> None:
        """The batch in ``uow``, whose transaction has begun, then its commit.

        The batch's objects are let go while the COMMIT is in flight, not after it:
        ``decoded`` is emptied then (a caller that still needs it after a failed
        commit decodes the records again).
        """
        envelopes = [envelope for _, envelope in decoded]
        fresh, prepared = await while_in_flight(
            uow.first_deliveries(self.name, [e.event_id for e in envelopes]),
            lambda: self._prepare(envelopes),
        )
        if len(fresh) == len(envelopes):  # all first deliveries, none twice: the usual batch
            todo = list(range(len(envelopes)))
        else:
            todo = []
            for position, envelope in enumerate(envelopes):  # the same event may come twice
                if envelope.event_id in fresh:
                    fresh.discard(envelope.event_id)
                    todo.append(position)
        # keep arrival order; batch handlers take a run of their type at once
        by_type: dict[str, list[int]] = {}
        for position in todo:
            by_type.setdefault(envelopes[position].event_type, []).append(position)
        received = Counter(envelope.event_type for envelope in envelopes)
        processed = {event_type: len(positions) for event_type, positions in by_type.items()}
        for position in todo:
            envelope = envelopes[position]
            handler = self.batch_handlers.get(envelope.event_type)
            if handler is None:
                self._correlate(envelope)
                await self.handlers[envelope.event_type](envelope, uow)
                continue
            group = by_type.pop(envelope.event_type, None)
            if not group:
                continue  # handled with the first of its type, under its correlation
            self._correlate(envelope)
            if isinstance(handler, PreparedBatchHandler):
                await handler.handle([(envelopes[i], prepared[i]) for i in group], uow)
            else:
                await handler([envelopes[i] for i in group], uow)

        def let_go() -> None:
            decoded.clear()
            envelopes.clear()
            prepared.clear()

        await uow.commit(meanwhile=let_go)
        for event_type, count in received.items():
            first = processed.get(event_type, 0)
            for outcome, n in (("processed", first), ("duplicate", count - first)):
                if n:
                    EVENTS_CONSUMED.labels(self.service_name, self.name, event_type, outcome).inc(n)

    @staticmethod
    def _correlate(envelope: Envelope) -> None:
        set_correlation_id(str(envelope.correlation_id) if envelope.correlation_id else None)

    async def _apply_with_retries(self, record: ConsumerRecord, envelope: Envelope) -> None:
        last_error: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._apply([(record, envelope)])
                return
            except InvalidPayloads as exc:  # retrying cannot fix it
                await self.dead_letter(record, envelope, exc.reasons[0], attempts=1)
                return
            except Exception as exc:
                if is_infrastructure_error(exc):
                    raise
                last_error = exc
                log.warning(
                    "consumer.retry",
                    consumer=self.name,
                    event_id=str(envelope.event_id),
                    attempt=attempt,
                    error=repr(exc),
                )
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        await self.dead_letter(record, envelope, repr(last_error), attempts=self.max_attempts)

    async def dead_letter(
        self,
        record: ConsumerRecord,
        envelope: Envelope | None,
        error: str,
        *,
        attempts: int,
    ) -> None:
        """Keep the record for admins and copy it to ``<topic>.dlq``, in one transaction."""
        headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
        async with self.uow_factory() as uow:
            result = await uow.session.execute(
                pg_insert(dead_letters)
                .values(
                    consumer=self.name,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                    headers=headers,
                    event_id=envelope.event_id if envelope else None,
                    event_type=envelope.event_type if envelope else None,
                    error=error[:4000],
                    attempts=attempts,
                    created_at=datetime.now(UTC),
                    redrive_count=0,
                )
                .on_conflict_do_nothing()
                .returning(dead_letters.c.id)
            )
            if result.scalar_one_or_none() is None:
                return  # already dead-lettered on an earlier delivery
            uow.emit_raw(
                topic=dlq_topic(record.topic),
                key=record.key.decode(errors="replace") if record.key else None,
                value=record.value or b"",
                headers={**headers, "x-error": error[:1000], "x-consumer": self.name},
            )
            await uow.commit()
        DEAD_LETTERS.labels(self.service_name, record.topic).inc()
        log.error(
            "consumer.dead_lettered",
            consumer=self.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=error,
        )


async def _records_only(message: Any) -> None:
    """FastStream decoder: the wrapper reads raw records itself, so skip body decoding."""
    return None


def subscribe(
    broker: KafkaBroker,
    *,
    group_id: str,
    uow_factory: Callable[[], UnitOfWork],
    handlers: dict[str, EventHandler] | None = None,
    batch_handlers: dict[str, BatchHandler | PreparedBatchHandler] | None = None,
    service_name: str = "folio",
    max_records: int = 500,
    max_attempts: int = 5,
    backoff_seconds: float = 0.2,
    batch_timeout_ms: int = 50,
    fetch_max_wait_ms: int = 20,
) -> Consumer:
    """Register one consumer group on ``broker`` for the topics its handlers name."""
    consumer = Consumer(
        name=group_id,
        uow_factory=uow_factory,
        handlers=handlers or {},
        batch_handlers=batch_handlers or {},
        service_name=service_name,
        max_attempts=max_attempts,
        backoff_seconds=backoff_seconds,
    )
    topics = sorted(consumer.event_types)

    @broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        # aiokafka's 500 ms default (Tansu holds a fetch for the full wait) adds latency per hop
        fetch_max_wait_ms=fetch_max_wait_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_records_only,
        title=f"{group_id}:{','.join(topics)}",
    )
    async def consume(message: KafkaMessage) -> None:
        records = message.raw_message
        if not isinstance(records, tuple):
            records = (records,)
        first_headers = dict(records[0].headers or ()) if records else {}
        set_correlation_id(parse_correlation_id(first_headers.get("correlation_id")))
        try:
            await consumer.process(records)
        except Exception:
            # only infrastructure failures get here (the database is unreachable): the
            # batch is not acked and comes back, after a pause rather than at once
            log.warning("consumer.redeliver_later", consumer=group_id, records=len(records))
            await asyncio.sleep(backoff_seconds)
            raise

    return consumer
