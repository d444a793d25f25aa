"""The real path: handler → outbox → relay → broker → consumer → inbox + effect."""

import asyncio
import time
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from folio.devstack.embedded import EmbeddedKafka, free_port
from folio.devstack.testing import eventually
from folio.shared.contracts import MortgageChanged, new_envelope
from folio.shared.messaging import OutboxRelay, create_broker, ensure_topics, subscribe
from folio.shared.uow import UnitOfWork

TOPIC = "mortgage.changed"


def mortgage_changed(mortgage_id: str) -> MortgageChanged:
    return MortgageChanged(
        mortgage_id=mortgage_id, borrower_name="Test Borrower", principal_minor=100_000_00,
        currency="CAD", status="ACTIVE", version=1, changed_at=datetime.now(UTC),
    )


async def write_note_and_emit(schema, mortgage_id: str) -> uuid.UUID:
    """A producer-side handler: state change and event in one transaction."""
    async with schema.uow() as uow:
        await uow.session.execute(
            text("INSERT INTO notes (id, body) VALUES (:id, 'created')"), {"id": mortgage_id}
        )
        envelope = uow.emit(mortgage_changed(mortgage_id))
        await uow.commit()
    return envelope.event_id


def record_effect(schema):
    async def handle(envelope, uow):
        payload = envelope.payload()
        if payload.mortgage_id.startswith("poison-"):
            raise RuntimeError("this handler always fails for poison ids")
        await uow.session.execute(
            text("INSERT INTO effects (event_id, mortgage_id) VALUES (:e, :m)"),
            {"e": envelope.event_id, "m": payload.mortgage_id},
        )

    return handle


async def effects(schema, mortgage_id: str) -> int:
    return await schema.scalar(
        "SELECT count(*) FROM effects WHERE mortgage_id = :m", m=mortgage_id
    )


def make_relay(schema, bootstrap: str) -> OutboxRelay:
    return OutboxRelay(
        database_url=schema.url, schema=schema.schema, bootstrap_servers=bootstrap,
        service_name=schema.schema, poll_interval=0.2,
    )


async def start_consumer(schema, bootstrap: str, group: str):
    broker = create_broker(bootstrap, client_id=group)
    subscribe(
        broker, group_id=group, uow_factory=schema.uow,
        handlers={TOPIC: record_effect(schema)}, max_attempts=3, backoff_seconds=0.01,
    )
    await broker.start()
    return broker


@pytest.fixture
async def pipeline(infra, demo_schema):
    producer_schema = await demo_schema("demo_producer")
    consumer_schema = await demo_schema("demo_consumer")
    relay = make_relay(producer_schema, infra.kafka_bootstrap_servers)
    relay.start()
    group = f"demo-{uuid.uuid4().hex[:8]}"
    broker = await start_consumer(consumer_schema, infra.kafka_bootstrap_servers, group)
    yield producer_schema, consumer_schema, relay
    await broker.stop()
    await relay.stop()


async def test_event_travels_outbox_relay_broker_inbox_once(pipeline, infra):
    producer_schema, consumer_schema, _ = pipeline
    mortgage_id = f"m-{uuid.uuid4()}"
    event_id = await write_note_and_emit(producer_schema, mortgage_id)

    await eventually(lambda: effects(consumer_schema, mortgage_id), timeout=30)
    assert await consumer_schema.scalar(
        "SELECT count(*) FROM processed_messages WHERE event_id = :e", e=event_id
    ) == 1
    assert await producer_schema.scalar(
        "SELECT published_at IS NOT NULL FROM outbox WHERE event_id = :e", e=event_id
    )

    # Redeliver the very same bytes: the inbox makes it a no-op.
    value = await producer_schema.scalar("SELECT value FROM outbox WHERE event_id = :e", e=event_id)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    await producer.send_and_wait(TOPIC, value=bytes(value), key=mortgage_id.encode())
    marker = f"m-{uuid.uuid4()}"
    await write_note_and_emit(producer_schema, marker)  # processed after the duplicate
    await eventually(lambda: effects(consumer_schema, marker), timeout=30)
    await producer.stop()
    assert await effects(consumer_schema, mortgage_id) == 1


async def test_state_and_event_commit_together_or_not_at_all(demo_schema):
    schema = await demo_schema("demo_atomic")
    mortgage_id = f"m-{uuid.uuid4()}"
    async with schema.uow() as uow:
        await uow.session.execute(text("INSERT INTO notes (id, body) VALUES (:id, 'x')"),
                                  {"id": mortgage_id})
        uow.emit(mortgage_changed(mortgage_id))
        # leaving without commit rolls back both
    assert await schema.scalar("SELECT count(*) FROM notes WHERE id = :i", i=mortgage_id) == 0
    assert await schema.scalar("SELECT count(*) FROM outbox") == 0


async def test_poison_messages_go_to_the_dlq_and_the_partition_keeps_flowing(pipeline, infra):
    producer_schema, consumer_schema, _ = pipeline
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    key = f"k-{uuid.uuid4()}".encode()  # one key → one partition, in order
    await producer.send_and_wait(TOPIC, value=b"{not json", key=key)
    unknown = new_envelope(mortgage_changed("x"), producer="t").model_copy(
        update={"event_type": "mortgage.unknown"}
    )
    await producer.send_and_wait(TOPIC, value=unknown.model_dump_json().encode(), key=key)
    failing = new_envelope(mortgage_changed(f"poison-{uuid.uuid4()}"), producer="t")
    await producer.send_and_wait(TOPIC, value=failing.model_dump_json().encode(), key=key)
    good_id = f"m-{uuid.uuid4()}"
    good = new_envelope(mortgage_changed(good_id), producer="t")
    await producer.send_and_wait(TOPIC, value=good.model_dump_json().encode(), key=key)
    await producer.stop()

    await eventually(lambda: effects(consumer_schema, good_id), timeout=30)
    rows = await consumer_schema.scalar(
        "SELECT count(*) FROM dead_letters WHERE event_id IS NULL OR event_id = :e",
        e=failing.event_id,
    )
    assert rows == 3
    attempts = await consumer_schema.scalar(
        "SELECT attempts FROM dead_letters WHERE event_id = :e", e=failing.event_id
    )
    assert attempts == 3  # bounded retries before giving up

    # The DLQ copy reaches <topic>.dlq through the consumer service's own outbox.
    relay = make_relay(consumer_schema, infra.kafka_bootstrap_servers)
    relay.start()
    dlq = AIOKafkaConsumer(
        f"{TOPIC}.dlq", bootstrap_servers=infra.kafka_bootstrap_servers,
        auto_offset_reset="earliest", group_id=f"dlq-{uuid.uuid4().hex[:6]}",
    )
    await dlq.start()
    seen = set()

    async def dlq_has_all():
        batch = await dlq.getmany(timeout_ms=500)
        for records in batch.values():
            seen.update(r.value for r in records)
        return {b"{not json", failing.model_dump_json().encode()} <= seen

    await eventually(dlq_has_all, timeout=30)
    await dlq.stop()
    await relay.stop()


async def test_redrive_reprocesses_a_dead_letter_once(pipeline, infra):
    from folio.shared.dead_letters import redrive_dead_letter

    producer_schema, consumer_schema, _ = pipeline
    bad_id = f"poison-{uuid.uuid4()}"
    envelope = new_envelope(mortgage_changed(bad_id), producer="t")
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    await producer.send_and_wait(TOPIC, value=envelope.model_dump_json().encode())
    await producer.stop()
    await eventually(
        lambda: consumer_schema.scalar(
            "SELECT id FROM dead_letters WHERE event_id = :e", e=envelope.event_id
        ),
        timeout=30,
    )
    dead_letter_id = await consumer_schema.scalar(
        "SELECT id FROM dead_letters WHERE event_id = :e", e=envelope.event_id
    )
    # "Fix" the data the handler trips on, then redrive through the outbox.
    async with consumer_schema.uow() as uow:
        await redrive_dead_letter(uow, dead_letter_id, actor="test-admin")
        await uow.commit()
    assert await consumer_schema.scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'dead_letter.redrive'"
        " AND subject_id = :i", i=str(dead_letter_id)
    ) == 1
    assert await consumer_schema.scalar(
        "SELECT count(*) FROM outbox WHERE topic = :t AND published_at IS NULL", t=TOPIC
    ) == 1


async def test_relay_killed_after_publish_before_marking_republishes_without_second_effect(
    infra, demo_schema
):
    producer_schema = await demo_schema("demo_crash")
    consumer_schema = await demo_schema("demo_crash_consumer")
    group = f"crash-{uuid.uuid4().hex[:8]}"
    broker = await start_consumer(consumer_schema, infra.kafka_bootstrap_servers, group)
    mortgage_id = f"m-{uuid.uuid4()}"
    event_id = await write_note_and_emit(producer_schema, mortgage_id)

    crashing = make_relay(producer_schema, infra.kafka_bootstrap_servers)
    published = asyncio.Event()

    async def crash_before_marking(rows):
        published.set()
        raise RuntimeError("relay killed between publish and mark")

    crashing.after_publish_hook = crash_before_marking
    crashing.start()
    await asyncio.wait_for(published.wait(), 30)
    await crashing.stop()
    assert await producer_schema.scalar(
        "SELECT published_at IS NULL FROM outbox WHERE event_id = :e", e=event_id
    )

    restarted = make_relay(producer_schema, infra.kafka_bootstrap_servers)
    restarted.start()
    await eventually(
        lambda: producer_schema.scalar(
            "SELECT published_at IS NOT NULL FROM outbox WHERE event_id = :e", e=event_id
        ),
        timeout=30,
    )
    await eventually(lambda: effects(consumer_schema, mortgage_id), timeout=30)
    marker = f"m-{uuid.uuid4()}"
    await write_note_and_emit(producer_schema, marker)
    await eventually(lambda: effects(consumer_schema, marker), timeout=30)
    assert await effects(consumer_schema, mortgage_id) == 1  # published twice, applied once
    await restarted.stop()
    await broker.stop()


async def test_only_one_relay_is_active_per_schema(infra, demo_schema):
    schema = await demo_schema("demo_lock")
    first = make_relay(schema, infra.kafka_bootstrap_servers)
    second = make_relay(schema, infra.kafka_bootstrap_servers)
    first.start()
    await eventually(lambda: first.active, timeout=30)
    second.start()
    await asyncio.sleep(1)
    assert not second.active
    await first.stop()
    await eventually(lambda: second.active, timeout=30)  # the standby takes over
    await second.stop()


async def test_broker_restarted_empty_loses_nothing_committed(demo_schema):
    """A memory broker restarted empty: the relay republishes what the log lost."""
    kafka = EmbeddedKafka(free_port())
    kafka.start()
    try:
        producer_schema = await demo_schema("demo_restart")
        consumer_schema = await demo_schema("demo_restart_consumer")
        relay = make_relay(producer_schema, kafka.bootstrap_servers)
        relay.start()
        ids = [f"m-{uuid.uuid4()}" for _ in range(5)]
        for mortgage_id in ids:
            await write_note_and_emit(producer_schema, mortgage_id)
        await eventually(
            lambda: producer_schema.scalar(
                "SELECT count(*) = 5 FROM outbox WHERE published_at IS NOT NULL"
            ),
            timeout=30,
        )
        await relay.stop()

        kafka.stop()  # every topic and message is gone
        kafka.start()
        await ensure_topics(kafka.bootstrap_servers)

        relay = make_relay(producer_schema, kafka.bootstrap_servers)
        relay.start()
        broker = await start_consumer(consumer_schema, kafka.bootstrap_servers, "restart-group")
        for mortgage_id in ids:
            await eventually(lambda m=mortgage_id: effects(consumer_schema, m), timeout=30)
        await broker.stop()
        await relay.stop()
    finally:
        kafka.stop()


async def test_outbox_rows_committed_out_of_id_order_are_all_published(infra, demo_schema):
    """A transaction holding a lower outbox id commits after a higher one: none is missed."""
    schema = await demo_schema("demo_order")
    relay = make_relay(schema, infra.kafka_bootstrap_servers)
    relay.start()
    await eventually(lambda: relay.active, timeout=30)

    slow_id = f"m-{uuid.uuid4()}"
    async with schema.uow() as slow:
        slow.emit(mortgage_changed(slow_id))
        # write the outbox row now (lower id) but keep the transaction open
        await slow.session.execute(text("SELECT 1"))
        await slow._write_outbox(slow._outbox_rows)
        slow._outbox_rows = []
        slow_row = await slow.session.execute(text("SELECT max(id) FROM outbox"))
        slow_outbox_id = slow_row.scalar()

        fast_ids = [f"m-{uuid.uuid4()}" for _ in range(3)]
        for mortgage_id in fast_ids:  # higher ids, committed first
            await write_note_and_emit(schema, mortgage_id)
        await eventually(
            lambda: schema.scalar(
                "SELECT count(*) = 3 FROM outbox WHERE id > :i AND published_at IS NOT NULL",
                i=slow_outbox_id,
            ),
            timeout=30,
        )
        await slow.commit()

    await eventually(
        lambda: schema.scalar(
            "SELECT published_at IS NOT NULL FROM outbox WHERE id = :i", i=slow_outbox_id
        ),
        timeout=30,
    )
    assert await schema.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    await relay.stop()


async def test_consumer_killed_between_db_commit_and_offset_commit_applies_once(
    infra, demo_schema
):
    """Every batch fails *after* its database commit (as if the process died before the
    offset commit), several times over: redelivery finds the inbox and changes nothing."""
    import random

    rng = random.Random(20261121)
    producer_schema = await demo_schema("demo_kill")
    consumer_schema = await demo_schema("demo_kill_consumer")
    group = f"kill-{uuid.uuid4().hex[:8]}"
    broker = create_broker(infra.kafka_bootstrap_servers, client_id=group)
    consumer = subscribe(
        broker, group_id=group, uow_factory=consumer_schema.uow,
        handlers={TOPIC: record_effect(consumer_schema)}, max_attempts=3, backoff_seconds=0.01,
    )
    kills = 0
    original = consumer.process

    async def process_then_die(records):
        nonlocal kills
        await original(records)  # database committed
        if kills < 5 or (kills < 15 and rng.random() < 0.3):
            kills += 1
            raise ConnectionError("killed before the offset commit")  # no ack → redelivery

    consumer.process = process_then_die
    await broker.start()
    relay = make_relay(producer_schema, infra.kafka_bootstrap_servers)
    relay.start()
    ids = [f"m-{uuid.uuid4()}" for _ in range(40)]
    for wave in range(8):  # several batches, so several kills
        for mortgage_id in ids[wave * 5 : wave * 5 + 5]:
            await write_note_and_emit(producer_schema, mortgage_id)
        await eventually(lambda w=wave: effects(consumer_schema, ids[w * 5 + 4]), timeout=60)
    for mortgage_id in ids:
        await eventually(lambda m=mortgage_id: effects(consumer_schema, m), timeout=60)
    assert kills >= 5
    await asyncio.sleep(1)  # let redeliveries land
    total = await consumer_schema.scalar(
        "SELECT count(*) FROM effects WHERE mortgage_id = ANY(:ids)", ids=ids
    )
    assert total == len(ids), f"{kills} kills produced duplicate effects"
    await relay.stop()
    await broker.stop()


async def test_relay_prunes_published_rows_past_retention_only(infra, demo_schema):
    import asyncpg

    from folio.shared.settings import to_plain_url

    schema = await demo_schema("demo_prune")
    for _ in range(3):
        await write_note_and_emit(schema, f"m-{uuid.uuid4()}")
    relay = make_relay(schema, infra.kafka_bootstrap_servers)
    relay.start()
    await eventually(
        lambda: schema.scalar("SELECT count(*) = 3 FROM outbox WHERE published_at IS NOT NULL"),
        timeout=30,
    )
    await relay.stop()
    await write_note_and_emit(schema, f"m-{uuid.uuid4()}")  # unpublished: never pruned
    conn = await asyncpg.connect(to_plain_url(schema.url),
                                 server_settings={"search_path": schema.schema})
    try:
        await conn.execute(
            "UPDATE outbox SET published_at = now() - interval '8 days'"
            " WHERE id = (SELECT min(id) FROM outbox)"
        )
        assert await relay.prune(conn, force=True) == 1
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 3
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 1
    finally:
        await conn.close()


async def test_database_unreachable_batch_comes_back_after_a_pause_not_at_once(infra, demo_schema):
    """No ack while the database is unreachable: the batch is redelivered, after the
    consumer's pause rather than in a tight loop, and applied once it is back."""
    schema = await demo_schema("demo_down")
    opened: list[float] = []

    class UnreachableThrice(UnitOfWork):
        async def __aenter__(self):
            opened.append(time.monotonic())
            if len(opened) <= 3:
                raise OSError("database unreachable")
            return await super().__aenter__()

    group = f"demo-{uuid.uuid4().hex[:8]}"
    broker = create_broker(infra.kafka_bootstrap_servers, client_id=group)
    subscribe(
        broker, group_id=group,
        uow_factory=lambda: UnreachableThrice(schema.sessionmaker, producer=schema.schema),
        handlers={TOPIC: record_effect(schema)}, max_attempts=3, backoff_seconds=0.3,
    )
    await broker.start()
    try:
        mortgage_id = f"m-{uuid.uuid4()}"
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
        await producer.start()
        envelope = new_envelope(mortgage_changed(mortgage_id), producer="t")
        await producer.send_and_wait(TOPIC, value=envelope.model_dump_json().encode())
        await producer.stop()
        await eventually(lambda: effects(schema, mortgage_id), timeout=30)
    finally:
        await broker.stop()
    assert await effects(schema, mortgage_id) == 1
    failures = opened[:4]
    assert failures[3] - failures[0] >= 0.85  # three pauses of 0.3 s, not a tight loop


async def test_a_hung_relay_holding_the_lock_is_replaced_by_the_standby(infra, demo_schema):
    """An instance that stops talking without closing its connection (a hung process, a
    lost node, a network partition) keeps its session, and so the relay lock, open: the
    server ends that session once it is idle too long, and the standby takes over."""
    schema = await demo_schema("demo_hung")
    await write_note_and_emit(schema, f"m-{uuid.uuid4()}")
    hung = OutboxRelay(
        database_url=schema.url, schema=schema.schema, bootstrap_servers=infra.kafka_bootstrap_servers,
        service_name=schema.schema, poll_interval=0.2, stale_session_seconds=2,
    )  # fmt: skip
    stuck = asyncio.Event()
    never = asyncio.Event()

    async def hang(rows):  # published, not yet marked: its session sits idle, lock held
        stuck.set()
        await never.wait()

    hung.after_publish_hook = hang
    hung.start()
    await asyncio.wait_for(stuck.wait(), 30)
    standby = make_relay(schema, infra.kafka_bootstrap_servers)
    standby.start()
    await eventually(lambda: standby.active, timeout=30)  # within the 2 s, plus a poll
    await eventually(
        lambda: schema.scalar("SELECT bool_and(published_at IS NOT NULL) FROM outbox"), timeout=30
    )
    never.set()  # the hung one wakes up: its session is gone, it marks nothing
    await eventually(lambda: not hung.active, timeout=30)
    assert standby.active
    await hung.stop()
    await standby.stop()
