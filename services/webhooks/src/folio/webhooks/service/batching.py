"""Group commit for intake: concurrent deliveries share one database transaction.

Under load most of a delivery's cost is per transaction (connection checkout,
BEGIN, COMMIT and its WAL flush), not per row. The batcher takes whatever
deliveries are waiting when the previous transaction finishes, so a lone
delivery is written at once and a burst is written together; each caller
still gets its own outcome only after the commit that made it durable.

Up to ``writers`` batches can be written at the same time (setting
``intake_writers``, default 1): while one transaction waits on its round trips
and its commit's WAL flush, the next batch is already being written, which
pays off when round trips are long. Writers cannot deadlock each other: deliveries are inserted in dedupe-key
order and payments locked in key order (see the repository).

If a batch fails, its deliveries are retried one per transaction, so one bad
delivery (or a deadlock with another replica) cannot fail the others; a
database outage still fails each of them, and intake answers 503.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from prometheus_client import Counter, Histogram

from folio.webhooks.adapters.uow import WebhooksUnitOfWork
from folio.webhooks.service.intake import (
    IntakeOutcome,
    RecordDelivery,
    record_deliveries,
    record_delivery,
)

log = structlog.get_logger(__name__)

BATCH_SIZE = Histogram(
    "folio_webhooks_intake_batch_size",
    "Deliveries written per intake transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
BATCHES_SPLIT = Counter(
    "folio_webhooks_intake_batches_split_total",
    "Batches that failed and were retried one delivery per transaction",
)


@dataclass
class _Waiting:
    command: RecordDelivery
    outcome: asyncio.Future


class IntakeBatcher:
    def __init__(
        self,
        uow_factory: Callable[[], WebhooksUnitOfWork],
        max_batch: int = 64,
        writers: int = 1,
    ):
        self._uow_factory = uow_factory
        self._max_batch = max_batch
        self._writers = max(1, writers)
        self._queue: asyncio.Queue[_Waiting] | None = None

    async def submit(self, command: RecordDelivery) -> IntakeOutcome:
        """Store one delivery; returns once its transaction committed (or raises)."""
        if self._queue is None or self._max_batch <= 1:  # not running, or batching off
            async with self._uow_factory() as uow:
                return await record_delivery(command, uow)
        waiting = _Waiting(command, asyncio.get_running_loop().create_future())
        await self._queue.put(waiting)
        return await waiting.outcome

    async def run(self) -> None:
        """Process batches until cancelled (the service's lifespan owns this task)."""
        queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self._queue = queue

        async def writer() -> None:
            while True:
                batch = [await queue.get()]
                while len(batch) < self._max_batch and not queue.empty():
                    batch.append(queue.get_nowait())
                await self._write(batch)

        writers = [asyncio.create_task(writer()) for _ in range(self._writers)]
        try:
            await asyncio.gather(*writers)
        finally:
            for task in writers:
                task.cancel()
            await asyncio.gather(*writers, return_exceptions=True)
            self._queue = None
            while not queue.empty():
                _settle(queue.get_nowait(), error=RuntimeError("intake is stopping"))

    async def _write(self, batch: list[_Waiting]) -> None:
        BATCH_SIZE.observe(len(batch))
        try:
            async with self._uow_factory() as uow:
                outcomes = await record_deliveries([w.command for w in batch], uow)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0], error=exc)
                return
            BATCHES_SPLIT.inc()
            log.warning("intake.batch_failed", size=len(batch), error=repr(exc))
            for waiting in batch:
                try:
                    async with self._uow_factory() as uow:
                        _settle(waiting, outcome=await record_delivery(waiting.command, uow))
                except asyncio.CancelledError:
                    raise
                except Exception as single_exc:
                    _settle(waiting, error=single_exc)
            return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            _settle(waiting, outcome=outcome)


def _settle(
    waiting: _Waiting, *, outcome: IntakeOutcome | None = None, error: Exception | None = None
) -> None:
    if waiting.outcome.done():  # the caller went away; the delivery is stored anyway
        return
    if error is not None:
        waiting.outcome.set_exception(error)
    else:
        waiting.outcome.set_result(outcome)
