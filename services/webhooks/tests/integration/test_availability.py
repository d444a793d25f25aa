"""Broker down: intake still verifies, persists and answers 2xx; events flow when it returns.
Database down: intake answers 503 so the provider retries."""

import json
import uuid

from aiokafka import AIOKafkaConsumer

from folio.devstack.embedded import free_port
from folio.devstack.testing import eventually, running_app
from folio.webhooks.app import create_app

from .conftest import send


async def test_database_down_answers_503_so_the_provider_retries(settings, providers):
    dead = settings.model_copy(
        update={"database_url": f"postgresql+asyncpg://nobody:x@127.0.0.1:{free_port()}/none"}
    )
    async with running_app(create_app(dead)) as client:
        delivery = providers.pay("moyasar", "INV-1999-910001", "10.00").deliveries[0]
        response = await send(client, delivery)
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        # authentication still comes first: a forgery is 401 even with the database down
        forged = providers.with_auth(delivery, "wrong")
        assert (await send(client, forged)).status_code == 401


async def test_broker_down_still_accepts_and_events_flow_when_it_returns(
    settings, providers, db, infra
):
    number = f"INV-1999-{uuid.uuid4().int % 1_000_000:06d}"
    no_broker = settings.model_copy(
        update={"run_messaging": True, "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"}
    )
    async with running_app(create_app(no_broker)) as client:
        story = providers.pay("tamara", number, "42.00")
        for delivery in story.deliveries:
            assert (await send(client, delivery)).status_code == 200
        event_id = await db.fetchval(
            "SELECT event_id FROM outbox WHERE key = $1 AND topic = 'payment.verified'", number
        )
        assert event_id is not None
        assert (
            await db.fetchval("SELECT published_at FROM outbox WHERE event_id = $1", event_id)
            is None
        )

    with_broker = settings.model_copy(update={"run_messaging": True})
    async with running_app(create_app(with_broker)):
        await eventually(
            lambda: db.fetchval(
                "SELECT published_at IS NOT NULL FROM outbox WHERE event_id = $1", event_id
            ),
            timeout=30,
        )
    consumer = AIOKafkaConsumer(
        "payment.verified",
        bootstrap_servers=infra.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        found = None
        for _ in range(50):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    envelope = json.loads(record.value)
                    if envelope["event_id"] == str(event_id):
                        found = (record.key.decode(), envelope)
            if found:
                break
    finally:
        await consumer.stop()
    assert found is not None, "the event never reached the broker"
    key, envelope = found
    assert key == number
    assert envelope["data"]["amount_minor"] == 4200 and envelope["producer"] == "webhooks"
