"""The consumer's batch path on a real database: payloads checked and two-step handlers
prepared while the inbox insert is in flight; an invalid payload is dead-lettered and
the rest of the batch applied once."""

import asyncio
import uuid
from datetime import UTC, datetime

from aiokafka import ConsumerRecord
from sqlalchemy import text

from folio.shared.contracts import MortgageChanged, new_envelope
from folio.shared.messaging.consumer import Consumer, PreparedBatchHandler

TOPIC = "mortgage.changed"


def changed(mortgage_id: str):
    return new_envelope(
        MortgageChanged(
            mortgage_id=mortgage_id, borrower_name="Test Borrower", principal_minor=100,
            currency="CAD", status="ACTIVE", version=1, changed_at=datetime.now(UTC),
        ),
        producer="test",
    )


def invalid():
    envelope = changed("bad")
    return envelope.model_copy(update={"data": {**envelope.data, "principal_minor": "lots"}})


def record(envelope, offset: int) -> ConsumerRecord:
    value = envelope.model_dump_json().encode()
    return ConsumerRecord(
        topic=TOPIC, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=None,
        value=value, checksum=None, serialized_key_size=0, serialized_value_size=len(value),
        headers=(),
    )


def two_step_consumer(schema, prepared_for: list, handled: list) -> Consumer:
    def prepare(envelope):
        prepared_for.append(envelope.event_id)
        return f"prepared:{envelope.payload().mortgage_id}"

    async def handle(items, uow):
        for envelope, prepared in items:
            assert prepared == f"prepared:{envelope.payload().mortgage_id}"
            handled.append(envelope.event_id)
            await uow.session.execute(
                text("INSERT INTO effects (event_id, mortgage_id) VALUES (:e, :m)"),
                {"e": envelope.event_id, "m": envelope.payload().mortgage_id},
            )

    return Consumer(
        name="demo",
        uow_factory=schema.uow,
        handlers={},
        batch_handlers={TOPIC: PreparedBatchHandler(prepare, handle)},
        max_attempts=2,
        backoff_seconds=0.01,
    )


async def check_batch(schema, size: int) -> None:
    good = [changed(f"m-{uuid.uuid4().hex[:8]}") for _ in range(size)]
    bad = invalid()
    batch = [*good[: size // 2], bad, *good[size // 2 :], good[0]]  # good[0] twice
    prepared_for: list = []
    handled: list = []
    consumer = two_step_consumer(schema, prepared_for, handled)

    await consumer.process([record(e, i) for i, e in enumerate(batch)])

    assert handled == [e.event_id for e in good]  # first deliveries, arrival order
    assert prepared_for.count(good[0].event_id) >= 2  # prepared for the duplicate too
    assert await schema.scalar("SELECT count(*) FROM effects") == size
    dead = await schema.scalar(
        "SELECT attempts FROM dead_letters WHERE event_id = :e", e=bad.event_id
    )
    assert dead == 1  # an invalid payload is never retried
    error = await schema.scalar("SELECT error FROM dead_letters WHERE event_id = :e", e=bad.event_id)
    assert "invalid mortgage.changed payload" in error
    assert await schema.scalar(
        "SELECT count(*) FROM processed_messages WHERE event_id = :e", e=bad.event_id
    ) == 0  # the batch that saw it rolled back; the rest ran again without it

    # the whole batch again (redelivery): nothing more
    await consumer.process([record(e, i) for i, e in enumerate(batch)])
    assert await schema.scalar("SELECT count(*) FROM effects") == size
    assert await schema.scalar("SELECT count(*) FROM dead_letters") == 1


async def test_a_large_batch_with_an_invalid_payload(demo_schema):
    await check_batch(await demo_schema("demo_batch"), 300)


async def test_a_small_batch_with_an_invalid_payload(demo_schema):
    await check_batch(await demo_schema("demo_batch"), 3)


async def test_a_batch_whose_commit_fails_falls_back_to_one_event_at_a_time(demo_schema):
    """The batch's objects are let go while its COMMIT is in flight; when that COMMIT
    fails (here: a deferred unique constraint), the records are decoded again and
    retried one by one: the good ones apply once, the bad one is dead-lettered."""
    schema = await demo_schema("demo_batch")
    async with schema.engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE marks (mark text UNIQUE DEFERRABLE INITIALLY DEFERRED)")
        )

    async def handle(envelopes, uow):
        for envelope in envelopes:
            mortgage_id = envelope.payload().mortgage_id
            await uow.session.execute(
                text("INSERT INTO marks (mark) VALUES (:m)"), {"m": mortgage_id.split("#")[0]}
            )
            await uow.session.execute(
                text("INSERT INTO effects (event_id, mortgage_id) VALUES (:e, :m)"),
                {"e": envelope.event_id, "m": mortgage_id},
            )

    consumer = Consumer(
        name="demo", uow_factory=schema.uow, handlers={}, batch_handlers={TOPIC: handle},
        max_attempts=2, backoff_seconds=0.01,
    )
    good = [changed(f"m-{uuid.uuid4().hex[:8]}") for _ in range(3)]
    clash = [changed("same#1"), changed("same#2")]  # both mark "same": refused at COMMIT
    await consumer.process([record(e, i) for i, e in enumerate([*good, *clash])])

    async with schema.engine.connect() as conn:
        applied = set((await conn.execute(text("SELECT mortgage_id FROM effects"))).scalars())
    assert applied == {e.payload().mortgage_id for e in good} | {"same#1"}
    dead = await schema.scalar("SELECT event_id FROM dead_letters")
    assert dead == clash[1].event_id


async def test_the_same_event_at_two_consumers_at_once_is_applied_once(demo_schema):
    """A rebalance can hand one event to two consumers of a group at the same time: the
    inbox's primary key lets one through; the other waits for that commit and then
    skips the event as processed (its handler never runs)."""
    schema = await demo_schema("demo_batch")
    calls = 0

    async def handle(envelopes, uow):
        nonlocal calls
        calls += 1
        for envelope in envelopes:
            await uow.session.execute(
                text("INSERT INTO effects (event_id, mortgage_id) VALUES (:e, :m)"),
                {"e": envelope.event_id, "m": envelope.payload().mortgage_id},
            )
        if calls == 1:
            await asyncio.sleep(0.5)  # the first holds its transaction open

    def member():
        return Consumer(
            name="demo", uow_factory=schema.uow, handlers={}, batch_handlers={TOPIC: handle},
            max_attempts=3, backoff_seconds=0.05,
        )

    event = changed(f"m-{uuid.uuid4().hex[:8]}")

    async def later():
        await asyncio.sleep(0.1)
        await member().process([record(event, 0)])

    await asyncio.gather(member().process([record(event, 0)]), later())
    assert await schema.scalar("SELECT count(*) FROM effects") == 1
    assert await schema.scalar("SELECT count(*) FROM dead_letters") == 0
    assert calls == 1
