"""Group commit: concurrent deliveries share transactions yet behave as if alone."""

import asyncio
import hashlib
import random
import uuid
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.exc import IntegrityError

from folio.devstack.embedded import free_port
from folio.shared.db import create_engine, create_sessionmaker
from folio.shared.messaging.consumer import is_infrastructure_error
from folio.webhooks.adapters.direct import (
    DatabaseUnavailable,
    DirectConnections,
    DirectIntakeUnitOfWork,
)
from folio.webhooks.adapters.uow import WebhooksUnitOfWork
from folio.webhooks.domain import tabby
from folio.webhooks.service.batching import IntakeBatcher
from folio.webhooks.service.intake import RecordDelivery


def command(body: bytes, channel: str = "tabby") -> RecordDelivery:
    now = datetime.now(UTC)
    return RecordDelivery(
        channel=channel,
        stored_body=body,
        raw_body_sha256=hashlib.sha256(body).hexdigest(),
        headers={},
        query={},
        received_at=now,
        interpretation=tabby.interpret(body, now),
    )


@pytest.fixture
async def batcher(webhooks_database_url):
    engine = create_engine(webhooks_database_url, "webhooks")
    sessions = create_sessionmaker(engine)
    batcher = IntakeBatcher(lambda: WebhooksUnitOfWork(sessions, producer="webhooks"))
    task = asyncio.create_task(batcher.run())
    await asyncio.sleep(0)
    yield batcher
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await engine.dispose()


def batches_written() -> float:
    return REGISTRY.get_sample_value("folio_webhooks_intake_batch_size_count") or 0.0


async def test_a_burst_is_written_in_fewer_transactions_with_the_same_outcomes(
    batcher, providers, db
):
    number = f"INV-1999-{uuid.uuid4().int % 1_000_000:06d}"
    capture = providers.pay("tabby", number, "10.00").deliveries[-1]
    others = [providers.pay("tabby", f"{number}-{i}", "1.00").deliveries[-1] for i in range(20)]
    before = batches_written()
    outcomes = await asyncio.gather(
        *(batcher.submit(command(d.body)) for d in [capture] * 5 + others)
    )
    assert batches_written() - before < 25  # shared transactions happened
    assert sorted(o.state for o in outcomes[:5]) == ["accepted"] + ["duplicate"] * 4
    assert {o.state for o in outcomes[5:]} == {"accepted"}
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE key = $1", number) == 1


async def test_one_failing_delivery_does_not_fail_the_others_in_its_batch(batcher, providers, db):
    good = [
        providers.pay("tabby", f"INV-1999-{uuid.uuid4().int % 1_000_000:06d}", "2.00").deliveries[
            -1
        ]
        for i in range(5)
    ]
    bad = command(b'{"id": "x"}', channel="not-a-channel")  # refused by a CHECK constraint
    splits_before = REGISTRY.get_sample_value("folio_webhooks_intake_batches_split_total") or 0
    results = await asyncio.gather(
        *(batcher.submit(command(d.body)) for d in good[:3]),
        batcher.submit(bad),
        *(batcher.submit(command(d.body)) for d in good[3:]),
        return_exceptions=True,
    )
    assert isinstance(results[3], IntegrityError)
    splits = REGISTRY.get_sample_value("folio_webhooks_intake_batches_split_total")
    assert splits == splits_before + 1  # they shared a batch, which was split
    stored = [r for i, r in enumerate(results) if i != 3]
    assert all(r.state == "accepted" for r in stored)
    ids = [r.delivery_id for r in stored]
    assert await db.fetchval("SELECT count(*) FROM deliveries WHERE id = ANY($1::uuid[])", ids) == 5


@pytest.fixture
async def direct_batcher(webhooks_database_url):
    """The production writer: two concurrent batches of at most 4, on the asyncpg pool."""
    connections = DirectConnections(webhooks_database_url, "webhooks")
    batcher = IntakeBatcher(
        lambda: DirectIntakeUnitOfWork(connections, producer="webhooks"),  # type: ignore[arg-type,return-value]
        max_batch=4,
        writers=2,
    )
    task = asyncio.create_task(batcher.run())
    await asyncio.sleep(0)
    yield batcher
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await connections.close()


async def test_concurrent_writers_store_each_delivery_once_without_deadlocks(
    direct_batcher, providers, db
):
    numbers = [f"INV-1999-{uuid.uuid4().int % 1_000_000:06d}" for _ in range(8)]
    deliveries = [providers.pay("tabby", n, "3.00").deliveries[-1] for n in numbers]
    # four copies of each, shuffled, so overlapping batches meet the same keys in any order
    copies = [d for d in deliveries for _ in range(4)]
    random.Random(7).shuffle(copies)
    splits_before = REGISTRY.get_sample_value("folio_webhooks_intake_batches_split_total") or 0
    outcomes = await asyncio.gather(*(direct_batcher.submit(command(d.body)) for d in copies))
    assert [o.state for o in outcomes].count("accepted") == len(numbers)
    assert [o.state for o in outcomes].count("duplicate") == 3 * len(numbers)
    splits = REGISTRY.get_sample_value("folio_webhooks_intake_batches_split_total") or 0
    assert splits == splits_before  # no batch failed and had to be split
    for number in numbers:
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE key = $1", number) == 1
    ids = [o.delivery_id for o in outcomes]
    assert (
        await db.fetchval("SELECT count(*) FROM deliveries WHERE id = ANY($1::uuid[])", ids) == 32
    )


async def test_direct_writer_reports_an_unreachable_database_as_unavailable(providers):
    connections = DirectConnections(
        f"postgresql://nobody:x@127.0.0.1:{free_port()}/none", "webhooks"
    )
    batcher = IntakeBatcher(
        lambda: DirectIntakeUnitOfWork(connections, producer="webhooks"),  # type: ignore[arg-type,return-value]
    )
    task = asyncio.create_task(batcher.run())
    await asyncio.sleep(0)
    try:
        body = providers.pay("tabby", "INV-1999-000777", "1.00").deliveries[-1].body
        with pytest.raises(DatabaseUnavailable):
            await batcher.submit(command(body))
        assert is_infrastructure_error(DatabaseUnavailable("x"))  # intake answers 503
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await connections.close()
