"""QUALITY.md reliability bars, with real Postgres and a real broker:

1. the webhooks outbox relay killed at random points while webhooks flow;
3. the ledger's consumer group reset to the beginning and everything re-consumed;
5. a second ledger consumer joining and the first leaving under load (rebalances);
12. after each, the journal invariants hold.
"""

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from folio.devstack.testing import eventually, running_app
from folio.ledger.app import create_app as create_ledger_app
from folio.shared.messaging import OutboxRelay
from folio.simulators.payments.scenarios import PaymentProviders
from folio.webhooks.app import create_app as create_webhooks_app

from .conftest import (
    SEED,
    assert_invariants,
    create_invoices,
    invoice_transactions,
    publish,
    verified,
)

LEDGER_TOPICS = (
    "payment.verified", "payment.failed", "payment.refunded", "payment.authorized",
    "payment.collected", "payment.reversed", "renewal.requested",
)


async def statuses(client, staff, entries) -> dict[str, str]:
    result = {}
    for entry in entries:
        got = await client.get(f"/api/ledger/entries/{entry['entry_id']}", headers=staff)
        result[entry["invoice_number"]] = got.json()["status"]
    return result


async def ledger_snapshot(ledger_db) -> tuple:
    """What must not change when events are consumed again."""
    entries = await ledger_db.fetch(
        "SELECT invoice_number, status, paid_minor, overpaid_minor, version, updated_at FROM entries"
        " ORDER BY invoice_number"
    )
    transactions = await ledger_db.fetchval("SELECT count(*) FROM transactions")
    volumes = await ledger_db.fetch(
        "SELECT address, asset, input, output FROM volumes ORDER BY address, asset"
    )
    return [tuple(r) for r in entries], transactions, [tuple(r) for r in volumes]


async def test_relay_killed_at_random_points_loses_nothing_and_pays_once(
    rng, ledger_settings, webhooks_settings, staff, ledger_db
):
    webhooks_app = create_webhooks_app(webhooks_settings)
    providers = PaymentProviders()
    async with (
        running_app(create_ledger_app(ledger_settings)) as ledger,
        running_app(webhooks_app) as intake,
    ):
        entries = await create_invoices(ledger, staff, 20)
        runtime_relay = webhooks_app.state.runtime.relay
        await runtime_relay.stop()  # the chaos below owns the relay from here

        def new_relay() -> OutboxRelay:
            return OutboxRelay(
                database_url=webhooks_settings.database_url, schema="webhooks",
                bootstrap_servers=webhooks_settings.kafka_bootstrap_servers,
                service_name="webhooks", poll_interval=0.1,
            )

        kills = 0

        async def crash_sometimes(rows):
            nonlocal kills
            if rng.random() < 0.4:
                kills += 1
                raise RuntimeError("relay killed between publish and mark")

        stop_chaos = asyncio.Event()

        async def chaos():
            nonlocal kills
            relay = new_relay()
            relay.after_publish_hook = crash_sometimes
            relay.start()
            while not stop_chaos.is_set():
                await asyncio.sleep(rng.uniform(0.05, 0.4))
                await relay.stop()  # killed at whatever point it had reached
                kills += 1
                relay = new_relay()
                relay.after_publish_hook = crash_sometimes
                relay.start()
            await relay.stop()

        chaos_task = asyncio.create_task(chaos())
        deliveries = []
        for entry in entries:
            story = providers.pay("moyasar", entry["invoice_number"], "1000.00", "SAR")
            deliveries += story.deliveries
        rng.shuffle(deliveries)
        responses = await asyncio.gather(*(
            intake.post(d.path, content=d.body, headers=d.headers, params=d.query)
            for d in deliveries
        ))
        assert {r.status_code for r in responses} == {200}
        await asyncio.sleep(2)
        stop_chaos.set()
        await chaos_task
        assert kills > 3, f"seed {SEED}: the chaos never struck"

        drain = new_relay()
        drain.start()
        invoices = {e["invoice_number"] for e in entries}

        async def all_paid():
            return set((await statuses(ledger, staff, entries)).values()) == {"PAID"}

        await eventually(all_paid, timeout=90)
        from sqlalchemy import text

        async def outbox_drained():
            # all PAID is not all published: rows a killed relay sent but never marked
            # go out again (duplicates the inboxes drop), and the drain may still be at it
            # (a full run once stopped it with 5 to go)
            async with webhooks_app.state.runtime.engine.connect() as conn:
                unpublished = await conn.execute(
                    text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                )
                return unpublished.scalar() == 0

        await eventually(outbox_drained, timeout=60)
        await drain.stop()
        for invoice in invoices:
            assert await invoice_transactions(ledger_db, invoice) == 1, f"seed {SEED}: {invoice}"
        await assert_invariants(ledger, staff)


async def test_consumer_group_reset_to_the_beginning_changes_nothing(
    infra, ledger_settings, staff, ledger_db, producer
):
    partitions = await ledger_partitions(infra)

    async def caught_up():
        """The ledger's group has committed past every message of every topic it reads."""
        probe = AIOKafkaConsumer(
            bootstrap_servers=infra.kafka_bootstrap_servers, group_id="ledger",
            enable_auto_commit=False,
        )
        await probe.start()
        try:
            committed = [await probe.committed(tp) or 0 for tp in partitions]
            ends = await probe.end_offsets(partitions)
        finally:
            await probe.stop()
        return all(c >= ends[tp] for c, tp in zip(committed, partitions, strict=True))

    async with running_app(create_ledger_app(ledger_settings)) as ledger:
        entries = await create_invoices(ledger, staff, 5, amount_minor=50_000)
        for entry in entries:
            await publish(producer, verified(entry["invoice_number"], 50_000))

        async def all_paid():
            return set((await statuses(ledger, staff, entries)).values()) == {"PAID"}

        await eventually(all_paid, timeout=60)
        # Everything on the shared broker consumed once (other tests' events too), so
        # the reference state is "all of it applied" — the state a rewind must keep.
        await eventually(caught_up, timeout=90)
    before = await ledger_snapshot(ledger_db)

    # Rewind the ledger's consumer group to offset 0 on every partition it reads.
    rewind = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap_servers, group_id="ledger",
        enable_auto_commit=False,
    )
    await rewind.start()
    rewind.assign(partitions)
    await rewind.commit({tp: 0 for tp in partitions})
    await rewind.stop()

    async with running_app(create_ledger_app(ledger_settings)) as ledger:
        await eventually(caught_up, timeout=90)
        await assert_invariants(ledger, staff)
    assert await ledger_snapshot(ledger_db) == before


async def ledger_partitions(infra) -> list[TopicPartition]:
    metadata = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await metadata.start()
    try:
        return [
            TopicPartition(topic, p)
            for topic in LEDGER_TOPICS
            for p in sorted(await _partitions(metadata, topic))
        ]
    finally:
        await metadata.stop()


async def _partitions(consumer, topic):
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or {0}


async def test_rebalances_under_load_lose_nothing_and_apply_nothing_twice(
    rng, ledger_settings, staff, ledger_db, producer
):
    first = create_ledger_app(ledger_settings)
    async with running_app(first) as ledger:
        entries = await create_invoices(ledger, staff, 60, amount_minor=20_000)
        invoices = [e["invoice_number"] for e in entries]

        async def flood(batch):
            for invoice in batch:
                await publish(producer, verified(invoice, 20_000))
                await asyncio.sleep(rng.uniform(0, 0.01))

        await flood(invoices[:20])
        second = create_ledger_app(ledger_settings)
        async with running_app(second):  # joins the group: rebalance
            await flood(invoices[20:40])
        # the second leaves: rebalance again, while more arrives
        await flood(invoices[40:])

        async def all_paid():
            return set((await statuses(ledger, staff, entries)).values()) == {"PAID"}

        await eventually(all_paid, timeout=120)
        for invoice in invoices:
            assert await invoice_transactions(ledger_db, invoice) == 1, f"seed {SEED}: {invoice}"
        await assert_invariants(ledger, staff)
