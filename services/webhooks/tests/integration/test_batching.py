"""Group commit: concurrent deliveries share transactions yet behave as if alone."""

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.exc import IntegrityError

from folio.shared.db import create_engine, create_sessionmaker
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
