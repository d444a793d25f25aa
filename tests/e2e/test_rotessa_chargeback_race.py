"""A backfill's historical chargebacks are reversed whatever the delivery order (issue 11.1).

``payment.collected`` and ``payment.reversed`` travel on different topics and are
consumed independently, so a reversal can reach the ledger before its collection
is committed. The ledger parks such a reversal and applies it in the transaction
that posts the collection. Each run: a schedule of 50 transactions (Approved,
Chargeback, Declined) in the Rotessa simulator, backfilled by rotessa-sync; after
it, the mortgage's balance is what Rotessa reported (approved minus charged
back), the backfill is COMPLETED and the ledger's invariant checker is green.

- 50 runs drive the real handlers of both services directly (real PostgreSQL),
  delivering the commands in chosen interleavings: every reversal first, one
  shuffled batch, and two ledger consumers working at once on the two topics
  (concurrent transactions: the natural race, deterministic in its outcome).
- 4 runs go through the real broker with both services running: in two of them
  rotessa-sync's relay is held off and the test publishes every reversal and lets
  the ledger park them before any collection is published; in the others the
  relay publishes as it does in production.
"""

import asyncio
import json
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from sqlalchemy import text

from folio.devstack.testing import admin_headers, eventually, running_app
from folio.ledger.adapters.uow import unit_of_work_factory
from folio.ledger.app import create_app as create_ledger
from folio.ledger.domain.journal import OverdraftPolicy
from folio.ledger.entrypoints.consumers import build_handlers
from folio.ledger.service.receivables import JournalConfig
from folio.ledger.settings import LedgerSettings
from folio.rotessa_sync.adapters.rotessa_client import RotessaClient
from folio.rotessa_sync.adapters.uow import RotessaUnitOfWork
from folio.rotessa_sync.app import create_app as create_rotessa_sync
from folio.rotessa_sync.service.backfill import create_backfill_row, run_claimed_backfill
from folio.rotessa_sync.service.handlers import (
    when_ledger_committed_confirm_commands,
    when_ledger_rejected_settle_commands,
)
from folio.rotessa_sync.settings import RotessaSyncSettings
from folio.shared.contracts import MortgageChanged, decode_envelope
from folio.shared.db import create_engine, create_sessionmaker
from folio.shared.messaging.consumer import Consumer
from folio.shared.settings import to_plain_url
from folio.simulators.rotessa import create_app as create_simulator
from folio.simulators.rotessa.app import DEFAULT_API_KEY

TORONTO = ZoneInfo("America/Toronto")
PAYMENT_TOPICS = ("payment.collected", "payment.reversed")
ANSWER_TOPICS = ("ledger.transaction.committed", "ledger.command.rejected")
DIRECT_RUNS = 50


def quiet(settings_class, **values):
    return settings_class(environment="test", log_json=False, log_level="WARNING", **values)


@dataclass
class Schedule:
    simulator: object
    customer_id: int
    schedule_id: int
    first_process_date: date
    approved_minor: int  # what Rotessa reports as kept: Approved rows (Chargebacks net out)
    chargebacks: int


def new_simulator(rng: random.Random, today: date):
    return create_simulator(
        seed=rng.randrange(10**6), customers=0, today=today,
        id_offset=uuid.uuid4().int % 10**6 * 10**7,
    )  # fmt: skip


def chargeback_schedule(rng: random.Random, today: date, simulator=None) -> Schedule:
    """50 monthly debits: 42 Approved, 4 Chargeback, 4 Declined, in random months."""
    simulator = simulator or new_simulator(rng, today)
    sim = simulator.state.simulator
    customer = sim.add_customer(name="Race Borrower")
    start = date(today.year - 5, today.month, 1)
    schedule = sim.add_schedule(customer_id=customer.id, amount_minor=123_456, process_date=start)
    statuses = ["Approved"] * 42 + ["Chargeback"] * 4 + ["Declined"] * 4
    rng.shuffle(statuses)
    approved = 0
    for month, status in enumerate(statuses):
        year, index = divmod(start.month - 1 + month, 12)
        day = date(start.year + year, index + 1, 15)
        amount = 100_000 + rng.randrange(50_000)
        sim.add_transaction(
            schedule_id=schedule.id,
            process_date=day,
            status=status,
            amount_minor=amount,
            status_reason="NSF" if status != "Approved" else None,
        )
        if status == "Approved":
            approved += amount
    return Schedule(simulator, customer.id, schedule.id, start, approved, 4)


def consumer_record(topic: str, key: str | None, value: bytes, offset: int) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic, partition=0, offset=offset, timestamp=0, timestamp_type=0,
        key=key.encode() if key else None, value=value, checksum=None,
        serialized_key_size=0, serialized_value_size=len(value), headers=(),
    )  # fmt: skip


@pytest.fixture
async def stack(infra):
    """Both services' schemas, units of work and (unstarted) apps."""
    ledger_settings = quiet(
        LedgerSettings,
        database_url=await infra.service_database_url("ledger"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        seal_interval_seconds=0.5,
    )
    sync_settings = quiet(
        RotessaSyncSettings,
        database_url=await infra.service_database_url("rotessa"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        sync_enabled=False,
        backfill_poll_seconds=0.2,
        rotessa_base_url="http://rotessa.test/v1",
    )
    ledger_engine = create_engine(ledger_settings.database_url, ledger_settings.db_schema)
    sync_engine = create_engine(sync_settings.database_url, sync_settings.db_schema)
    yield Stack(ledger_settings, sync_settings, ledger_engine, sync_engine)
    await ledger_engine.dispose()
    await sync_engine.dispose()


class Stack:
    def __init__(self, ledger_settings, sync_settings, ledger_engine, sync_engine) -> None:
        self.ledger_settings = ledger_settings
        self.sync_settings = sync_settings
        self.ledger_uow = unit_of_work_factory(
            create_sessionmaker(ledger_engine), producer="ledger"
        )
        sync_sessions = create_sessionmaker(sync_engine)
        self.sync_uow = lambda: RotessaUnitOfWork(sync_sessions, producer="rotessa-sync")
        self.journal = JournalConfig(
            ledger="folio", policy=OverdraftPolicy(tuple(ledger_settings.overdraft_accounts))
        )
        handlers, batch_handlers = build_handlers(self.journal)
        self.ledger_consumer = Consumer(
            name="ledger", uow_factory=self.ledger_uow, handlers=handlers,
            batch_handlers=batch_handlers, service_name="ledger", max_attempts=3,
            backoff_seconds=0.01,
        )  # fmt: skip

    async def outbox_mark(self, uow_factory) -> int:
        async with uow_factory() as uow:
            return (
                await uow.session.execute(text("SELECT coalesce(max(id), 0) FROM outbox"))
            ).scalar_one()

    async def outbox_after(self, uow_factory, mark: int, topics) -> list:
        async with uow_factory() as uow:
            rows = await uow.session.execute(
                text(
                    "SELECT id, topic, key, value FROM outbox WHERE id > :mark"
                    " AND topic = ANY(CAST(:topics AS text[])) ORDER BY id"
                ),
                {"mark": mark, "topics": list(topics)},
            )
            found = list(rows)
            # taken by the test, as a relay takes them (a relay started later skips them)
            await uow.session.execute(
                text(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))"
                ),
                {"ids": [r.id for r in found]},
            )
            await uow.commit()
            return found

    async def balance(self, mortgage_id: str) -> int:
        async with self.ledger_uow() as uow:
            volumes = await uow.journal.volumes_of("folio", [f"mortgages:{mortgage_id}"])
        found = volumes.get((f"mortgages:{mortgage_id}", "CAD/2"))
        return found.balance if found else 0

    async def backfill(self, backfill_id) -> object:
        async with self.sync_uow() as uow:
            return await uow.repo.get_backfill(backfill_id)

    async def parked(self, references: list[str]) -> tuple[int, int]:
        """(reversals parked at some point, still waiting) among these collections."""
        async with self.ledger_uow() as uow:
            row = (
                await uow.session.execute(
                    text(
                        "SELECT count(*), count(*) FILTER (WHERE released_at IS NULL)"
                        " FROM parked_events WHERE kind = 'payment.reversed'"
                        " AND awaits = ANY(CAST(:refs AS text[]))"
                    ),
                    {"refs": references},
                )
            ).one()
        return row[0], row[1]


async def invariants_ok(ledger_app, settings) -> dict:
    transport = httpx.ASGITransport(app=ledger_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger") as client:
        checked = await client.get(
            "/api/ledger/journal/invariants",
            params={"ledger": "folio"},
            headers=admin_headers(settings, roles=("admin",)),
        )
    assert checked.status_code == 200, checked.text
    return checked.json()


async def link_and_backfill(stack: Stack, schedule: Schedule, today: date) -> tuple[str, uuid.UUID]:
    mortgage_id = f"mtg_race_{uuid.uuid4().hex[:12]}"
    async with stack.sync_uow() as uow:
        now = await uow.now()
        await uow.repo.upsert_mortgage(
            MortgageChanged(
                mortgage_id=mortgage_id, borrower_name="Race Borrower", principal_minor=10**9,
                currency="CAD", status="ACTIVE", version=1, changed_at=now,
            )
        )  # fmt: skip
        await uow.repo.insert_link(
            mortgage_id=mortgage_id, schedule_id=schedule.schedule_id,
            customer_id=schedule.customer_id, customer_name="Race Borrower",
            amount_minor=123_456, currency="CAD", frequency="Monthly",
            first_process_date=schedule.first_process_date, source="admin",
            linked_by="test", linked_at=now,
        )  # fmt: skip
        link = await uow.repo.link_of_mortgage(mortgage_id)
        backfill_id = await create_backfill_row(
            uow, link, triggered_by="test", today=today, now=now, retry_rejected=True
        )
        await uow.commit()
    return mortgage_id, backfill_id


async def read_report(stack: Stack, schedule: Schedule, backfill_id: uuid.UUID) -> None:
    """rotessa-sync's backfill runner reads the report and writes its commands."""
    owner = f"test-{uuid.uuid4()}"
    async with stack.sync_uow() as uow:
        now = await uow.now()
        await uow.repo.update_backfill(
            backfill_id, lease_owner=owner, lease_expires_at=now + timedelta(seconds=60)
        )
        await uow.commit()
    client = RotessaClient(
        "http://rotessa.test/v1", DEFAULT_API_KEY, currency="CAD",
        transport=httpx.ASGITransport(app=schedule.simulator),
    )  # fmt: skip
    try:
        row = await stack.backfill(backfill_id)
        await run_claimed_backfill(
            row, owner=owner, client=client, uow_factory=stack.sync_uow, lease_seconds=60,
            timezone="America/Toronto",
        )  # fmt: skip
    finally:
        await client.aclose()


def batches(rng: random.Random, records: list) -> list[list]:
    out, i = [], 0
    while i < len(records):
        size = rng.randint(1, 12)
        out.append(records[i : i + size])
        i += size
    return out


async def deliver(stack: Stack, rng: random.Random, run: int, records: list) -> str:
    """Hand the commands to the ledger's consumer in this run's interleaving."""
    reversals = [r for r in records if r.topic == "payment.reversed"]
    collections_ = [r for r in records if r.topic == "payment.collected"]
    process = stack.ledger_consumer.process
    mode = ("reversals_first", "one_shuffled_batch", "two_consumers", "reversals_first_one_by_one")[
        run % 4
    ]
    if mode == "reversals_first":  # every reversal overtakes: all parked, then collections
        await process(reversals)
        for batch in batches(rng, collections_):
            await process(batch)
    elif mode == "reversals_first_one_by_one":
        for record in reversals:
            await process([record])
        await process(collections_)
    elif mode == "one_shuffled_batch":  # both topics in one consumer batch, any order
        mixed = list(records)
        rng.shuffle(mixed)
        await process(mixed)
    else:  # one consumer per topic, concurrently: the race of the issue

        async def consume(stream):
            for batch in batches(rng, stream):
                await process(batch)
                await asyncio.sleep(0)

        rng.shuffle(reversals)
        await asyncio.gather(consume(reversals), consume(collections_))
    return mode


async def answer_to_rotessa_sync(stack: Stack, rows: list) -> None:
    """rotessa-sync's consumer handlers get the ledger's answers."""
    committed = [decode_envelope(bytes(r.value)) for r in rows if r.topic == ANSWER_TOPICS[0]]
    rejected = [decode_envelope(bytes(r.value)) for r in rows if r.topic == ANSWER_TOPICS[1]]
    async with stack.sync_uow() as uow:
        await when_ledger_committed_confirm_commands(committed, uow)
        await when_ledger_rejected_settle_commands(rejected, uow)
        await uow.commit()


async def test_chargebacks_are_reversed_whatever_the_delivery_order(stack):
    rng = random.Random(20261204)
    today = datetime.now(TORONTO).date()
    ledger_app = create_ledger(stack.ledger_settings.model_copy(update={"run_messaging": False}))
    async with ledger_app.router.lifespan_context(ledger_app):
        parked_runs = 0
        for run in range(DIRECT_RUNS):
            schedule = chargeback_schedule(rng, today)
            mortgage_id, backfill_id = await link_and_backfill(stack, schedule, today)
            sync_mark = await stack.outbox_mark(stack.sync_uow)
            await read_report(stack, schedule, backfill_id)
            sent = await stack.outbox_after(stack.sync_uow, sync_mark, PAYMENT_TOPICS)
            assert len(sent) == 42 + 2 * schedule.chargebacks
            records = [consumer_record(r.topic, r.key, bytes(r.value), r.id) for r in sent]
            ledger_mark = await stack.outbox_mark(stack.ledger_uow)
            mode = await deliver(stack, rng, run, records)
            answers = await stack.outbox_after(stack.ledger_uow, ledger_mark, ANSWER_TOPICS)
            await answer_to_rotessa_sync(stack, answers)

            context = (run, mode)
            collected_refs = [
                json.loads(bytes(r.value))["data"]["reference"]
                for r in sent
                if r.topic == "payment.reversed"
            ]
            assert await stack.balance(mortgage_id) == schedule.approved_minor, context
            done = await stack.backfill(backfill_id)
            assert done.status == "COMPLETED", (context, done.errors, done.metrics)
            assert done.errors == [], context
            assert done.metrics["confirmed"] == 42 + 2 * schedule.chargebacks, context
            assert await invariants_ok(ledger_app, stack.ledger_settings) == {
                "ok": True,
                "problems": [],
            }, context
            parked, waiting = await stack.parked(collected_refs)
            assert waiting == 0, context
            if mode.startswith("reversals_first"):
                assert parked == schedule.chargebacks, context  # the overtaking happened
            parked_runs += parked > 0
        assert parked_runs >= DIRECT_RUNS // 2


async def test_chargebacks_are_reversed_through_the_broker(stack, infra):
    """Full stack: rotessa-sync and the ledger over the real broker (4 partitions per topic)."""
    rng = random.Random(4112026)
    today = datetime.now(TORONTO).date()
    simulator = new_simulator(rng, today)
    ledger_app = create_ledger(stack.ledger_settings)
    db = await asyncpg.connect(to_plain_url(stack.sync_settings.database_url))
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    try:
        async with running_app(ledger_app):
            for run in range(4):
                schedule = chargeback_schedule(rng, today, simulator)
                held = run % 2 == 0
                sync_app = create_rotessa_sync(
                    stack.sync_settings, rotessa_transport=httpx.ASGITransport(app=simulator)
                )
                relay_lock = sync_app.state.runtime.relay.lock_id
                if held:  # rotessa-sync's relay stands by while the test orders the topics
                    await db.execute("SELECT pg_advisory_lock($1)", relay_lock)
                async with running_app(sync_app):
                    mortgage_id, backfill_id = await link_and_backfill(stack, schedule, today)
                    sync_app.state.backfill_runner.wake()
                    if held:
                        await publish_reversals_first(stack, db, producer, backfill_id)
                        await db.execute("SELECT pg_advisory_unlock($1)", relay_lock)

                    async def finished(backfill_id=backfill_id):
                        row = await stack.backfill(backfill_id)
                        return row if row.status != "RUNNING" else None

                    done = await eventually(finished, timeout=90)
                context = (run, held)
                assert done.status == "COMPLETED", (context, done.errors)
                assert await stack.balance(mortgage_id) == schedule.approved_minor, context
                assert await invariants_ok(ledger_app, stack.ledger_settings) == {
                    "ok": True,
                    "problems": [],
                }, context
    finally:
        await producer.stop()
        await db.close()


async def publish_reversals_first(stack: Stack, db, producer, backfill_id) -> None:
    """As the relay would, but every reversal first and parked before any collection."""

    async def report_read():
        return (await stack.backfill(backfill_id)).report_finished

    await eventually(report_read, timeout=60)
    rows = await db.fetch(
        "SELECT id, topic, key, value FROM rotessa_sync.outbox"
        " WHERE published_at IS NULL AND topic = ANY($1::text[])"
        " AND convert_from(value, 'UTF8')::jsonb #>> '{data,backfill_id}' = $2 ORDER BY id",
        list(PAYMENT_TOPICS),
        str(backfill_id),
    )
    reversals = [r for r in rows if r["topic"] == "payment.reversed"]
    assert reversals
    for r in reversals:
        await producer.send_and_wait(r["topic"], value=bytes(r["value"]), key=r["key"].encode())
    refs = [json.loads(bytes(r["value"]))["data"]["reference"] for r in reversals]

    async def all_parked():
        return (await stack.parked(refs))[1] == len(refs)

    await eventually(all_parked, timeout=60)
    for r in rows:
        if r["topic"] == "payment.collected":
            await producer.send_and_wait(r["topic"], value=bytes(r["value"]), key=r["key"].encode())
    await db.execute(
        "UPDATE rotessa_sync.outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
        [r["id"] for r in rows],
    )
