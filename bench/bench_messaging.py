"""Events/s through outbox → relay → broker → consumer (inbox + effect), beside the raw
broker produce/consume rate of the same number of same-sized messages, in the same run.

    python -m bench messaging [--events 20000] [--per-transaction 100]
"""

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from bench.infra import bench_infra, report
from folio.shared.contracts import MortgageChanged
from folio.shared.db import MESSAGING_DDL, create_engine, create_sessionmaker
from folio.shared.messaging import OutboxRelay, create_broker, ensure_topics, subscribe
from folio.shared.settings import to_plain_url
from folio.shared.uow import UnitOfWork

TOPIC = "mortgage.changed"


async def make_schema(admin_url: str, schema: str) -> None:
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        for statement in MESSAGING_DDL:
            await conn.execute(statement)
        await conn.execute("CREATE TABLE effects (event_id uuid PRIMARY KEY, mortgage_id text)")
    finally:
        await conn.close()


def payload(i: int) -> MortgageChanged:
    return MortgageChanged(
        mortgage_id=f"m-{i % 97}", borrower_name="Bench Borrower", principal_minor=i,
        currency="CAD", status="ACTIVE", version=i, changed_at=datetime.now(UTC),
    )


async def raw_broker_rate(bootstrap: str, events: int, size: int) -> float:
    topic = f"bench.raw.{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    await producer.start()
    value = b"x" * size
    started = time.perf_counter()
    futures = [await producer.send(topic, value=value, key=str(i % 97).encode())
               for i in range(events)]
    await asyncio.gather(*futures)
    seen = 0
    while seen < events:
        batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
        seen += sum(len(r) for r in batch.values())
        await consumer.commit()
    elapsed = time.perf_counter() - started
    await producer.stop()
    await consumer.stop()
    return events / elapsed


async def pipeline_rate(admin_url: str, bootstrap: str, events: int, per_tx: int) -> float:
    suffix = uuid.uuid4().hex[:6]
    producer_schema, consumer_schema = f"bench_out_{suffix}", f"bench_in_{suffix}"
    await make_schema(admin_url, producer_schema)
    await make_schema(admin_url, consumer_schema)
    out_engine = create_engine(admin_url, producer_schema)
    in_engine = create_engine(admin_url, consumer_schema)
    out_sessions, in_sessions = create_sessionmaker(out_engine), create_sessionmaker(in_engine)

    async def record(envelopes, uow):
        await uow.session.execute(
            text("INSERT INTO effects (event_id, mortgage_id) "
                 "SELECT unnest(CAST(:ids AS uuid[])), unnest(CAST(:ms AS text[]))"),
            {"ids": [e.event_id for e in envelopes],
             "ms": [e.data["mortgage_id"] for e in envelopes]},
        )

    broker = create_broker(bootstrap, client_id="bench")
    subscribe(broker, group_id=f"bench-{suffix}",
              uow_factory=lambda: UnitOfWork(in_sessions, producer="bench"),
              batch_handlers={TOPIC: record}, max_records=1000)
    relay = OutboxRelay(database_url=admin_url, schema=producer_schema,
                        bootstrap_servers=bootstrap, service_name="bench")
    await broker.start()
    # consumer group joins and seeks to the current end before we start the clock
    await asyncio.sleep(3)
    relay.start()
    started = time.perf_counter()
    for start in range(0, events, per_tx):
        async with UnitOfWork(out_sessions, producer="bench") as uow:
            for i in range(start, min(start + per_tx, events)):
                uow.emit(payload(i))
            await uow.commit()
    while True:
        async with in_engine.connect() as conn:
            done = (await conn.execute(text("SELECT count(*) FROM effects"))).scalar()
        if done >= events:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    await relay.stop()
    await broker.stop()
    await out_engine.dispose()
    await in_engine.dispose()
    return events / elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench messaging")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--per-transaction", type=int, default=100)
    args = parser.parse_args(argv)
    with bench_infra() as (database_url, bootstrap):
        size = len(MortgageChanged.model_validate(payload(1).model_dump()).model_dump_json()) + 250
        raw = asyncio.run(raw_broker_rate(bootstrap, args.events, size))
        pipeline = asyncio.run(
            pipeline_rate(database_url, bootstrap, args.events, args.per_transaction)
        )
    report(
        "messaging",
        {"events": args.events, "pipeline_events_per_s": round(pipeline),
         "raw_broker_events_per_s": round(raw), "ratio": round(pipeline / raw, 3)},
        [("events", str(args.events)),
         ("outbox→relay→broker→inbox", f"{pipeline:,.0f} events/s"),
         ("raw produce+consume (baseline)", f"{raw:,.0f} events/s"),
         ("ratio", f"{pipeline / raw:.3f}")],
    )
    return 0
