"""Journal transactions/s through the ledger's batched consumer path, beside a plain
multi-row INSERT of the same rows into an unindexed table, in the same run.

    python -m bench ledger [--events 10000] [--rounds 15] [--batch 2000] [--payments 1000]

The consumer path is the ledger's own: envelope decoding, the inbox, the batch
handler (set-based journal write: ids, ordered volume locks, transactions, moves,
volumes, accounts), outbox rows, one commit per batch of the size the ledger's
consumer asks the broker for (``consumer_batch_size``; a backfill's backlog fills
it). The broker is left out (``bench messaging`` measures it) so the figure is the
ledger's write path. It runs with the ledger process's garbage-collector settings
(``create_app`` applies them at start-up), as the service does.
Targets (QUALITY.md): at least 5,000 tx/s and at least 0.3 times the baseline.

Both are measured in alternating rounds (journal, then baseline, ``--rounds`` times)
so a slow moment of a shared machine lands on both; the figures are the medians
of the rounds and the ratio is the median of each round's own ratio.
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
from aiokafka import ConsumerRecord

from bench.infra import bench_infra, report
from folio.devstack.services import service
from folio.ledger.adapters.uow import unit_of_work_factory
from folio.ledger.domain.journal import OverdraftPolicy
from folio.ledger.domain.receivables import EntryType
from folio.ledger.entrypoints.consumers import build_handlers
from folio.ledger.service import receivables
from folio.ledger.service.receivables import CreateEntry, JournalConfig
from folio.ledger.settings import LedgerSettings
from folio.shared.app import tune_garbage_collector
from folio.shared.contracts import PaymentCollected, PaymentVerified, new_envelope
from folio.shared.db import create_engine, create_sessionmaker
from folio.shared.messaging.consumer import Consumer
from folio.shared.migrations import upgrade_async
from folio.shared.settings import to_plain_url

TARGET_TPS = 5_000
# the batch the ledger's consumer asks the broker for (LedgerSettings.consumer_batch_size)
SERVICE_BATCH = LedgerSettings.model_fields["consumer_batch_size"].default
TARGET_RATIO = 0.3


def records(envelopes, topic: str) -> list[ConsumerRecord]:
    out = []
    for offset, env in enumerate(envelopes):
        value = env.model_dump_json().encode()
        out.append(
            ConsumerRecord(
                topic=topic,
                partition=0,
                offset=offset,
                timestamp=0,
                timestamp_type=0,
                key=None,
                value=value,
                checksum=None,
                serialized_key_size=0,
                serialized_value_size=len(value),
                headers=(),
            )
        )
    return out


def collections(count: int, run: str) -> list:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        new_envelope(
            PaymentCollected(
                reference=f"rotessa:txn:{run}{i}",
                mortgage_id=f"m{i % 1000}",
                schedule_id=i % 1000,
                transaction_id=i,
                amount_minor=10_000 + i % 500,
                currency="CAD",
                effective_at=start + timedelta(minutes=i),
                process_date=date(2024, 1, 1),
                origin="backfill",
            ),
            producer="bench",
        )
        for i in range(count)
    ]


async def consume_in_batches(consumer: Consumer, recs: list, batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(recs), batch):
        await consumer.process(recs[i : i + batch])
    return time.perf_counter() - started


async def create_baseline_table(admin_url: str, schema: str) -> None:
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        await conn.execute(
            f'CREATE TABLE "{schema}".baseline (ledger text, id bigint, reference text, '
            "timestamp timestamptz, inserted_at timestamptz, postings jsonb, metadata jsonb)"
        )
    finally:
        await conn.close()


async def baseline_insert(admin_url: str, schema: str, envelopes: list, batch: int) -> float:
    """The same journal rows, plain multi-row INSERT, unindexed table, one commit per batch."""
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        rows = []
        for i, env in enumerate(envelopes):
            p = env.payload()
            postings = json.dumps(
                [
                    {
                        "source": "world",
                        "destination": f"mortgages:{p.mortgage_id}",
                        "amount": p.amount_minor,
                        "asset": "CAD/2",
                    }
                ]
            )
            metadata = json.dumps({"mortgage_id": p.mortgage_id, "origin": "backfill"})
            rows.append(("folio", i, p.reference, p.effective_at, postings, metadata))
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            chunk = rows[i : i + batch]
            values = ", ".join(
                f"(${k * 6 + 1}, ${k * 6 + 2}, ${k * 6 + 3}, ${k * 6 + 4}, now(), "
                f"${k * 6 + 5}::jsonb, ${k * 6 + 6}::jsonb)"
                for k in range(len(chunk))
            )
            flat = [v for row in chunk for v in row]
            async with conn.transaction():
                await conn.execute(f'INSERT INTO "{schema}".baseline VALUES {values}', *flat)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def run(args, admin_url: str) -> None:
    if True:  # keeps the measured block readable; infra is set up by main()
        schema = f"ledger_bench_{uuid.uuid4().hex[:8]}"
        await upgrade_async(service("ledger").migrations, admin_url, schema)
        engine = create_engine(admin_url, schema, pool_size=4)
        sessionmaker = create_sessionmaker(engine)
        tune_garbage_collector()  # as the ledger process does at start-up
        try:
            uow_factory = unit_of_work_factory(sessionmaker, producer="ledger")  # as the service

            journal = JournalConfig("folio", OverdraftPolicy(("rotessa:clearing",)))
            handlers, batch_handlers = build_handlers(journal)
            consumer = Consumer(
                name="ledger",
                uow_factory=uow_factory,
                handlers=handlers,
                batch_handlers=batch_handlers,
                service_name="ledger",
            )
            # warm-up (ledger row, prepared statements), not timed
            await consume_in_batches(
                consumer, records(collections(50, "warm"), "payment.collected"), 50
            )

            await create_baseline_table(admin_url, schema)
            journal_seconds, baseline_seconds = [], []
            for round_number in range(args.rounds):
                envelopes = collections(args.events, f"run{round_number}-")
                journal_seconds.append(
                    await consume_in_batches(
                        consumer, records(envelopes, "payment.collected"), args.batch
                    )
                )
                baseline_seconds.append(
                    await baseline_insert(admin_url, schema, envelopes, args.batch)
                )

            paid_seconds = None
            if args.payments:
                invoices = []
                for _ in range(args.payments):
                    async with uow_factory() as uow:
                        entry = await receivables.create_entry(
                            CreateEntry(EntryType.RENT, 10_000, "SAR"), uow, "bench"
                        )
                        await uow.commit()
                    invoices.append(entry.invoice_number)
                payments = [
                    new_envelope(
                        PaymentVerified(
                            provider="moyasar",
                            provider_payment_id=f"pay-{n}",
                            provider_event_id=f"evt-{n}",
                            invoice_number=n,
                            amount_minor=10_000,
                            currency="SAR",
                            verified_at=datetime.now(UTC),
                        ),
                        producer="bench",
                    )
                    for n in invoices
                ]
                paid_seconds = await consume_in_batches(
                    consumer, records(payments, "payment.verified"), args.batch
                )
        finally:
            await engine.dispose()
            conn = await asyncpg.connect(to_plain_url(admin_url))
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()

    journal_rates = [args.events / s for s in journal_seconds]
    baseline_rates = [args.events / s for s in baseline_seconds]
    journal_tps = statistics.median(journal_rates)
    baseline_rps = statistics.median(baseline_rates)
    ratio = statistics.median(j / b for j, b in zip(journal_rates, baseline_rates, strict=True))
    results = {
        "events_per_round": args.events,
        "rounds": args.rounds,
        "batch": args.batch,
        "journal_tx_per_s": round(journal_tps),
        "baseline_rows_per_s": round(baseline_rps),
        "ratio_to_baseline": round(ratio, 3),
        "journal_tx_per_s_by_round": [round(r) for r in journal_rates],
        "baseline_rows_per_s_by_round": [round(r) for r in baseline_rates],
        "target_tx_per_s": TARGET_TPS,
        "target_ratio": TARGET_RATIO,
        "meets_targets": journal_tps >= TARGET_TPS and ratio >= TARGET_RATIO,
    }
    rows = [
        ("journal tx/s (payment.collected, consumer path)", f"{journal_tps:,.0f} (median)"),
        ("baseline rows/s (multi-row INSERT, unindexed)", f"{baseline_rps:,.0f} (median)"),
        ("ratio", f"{ratio:.2f} (median of rounds; target ≥ {TARGET_RATIO})"),
    ]
    if paid_seconds:
        results["payments_paid_per_s"] = round(args.payments / paid_seconds)
        rows.append(("payment.verified → PAID per s", f"{args.payments / paid_seconds:,.0f}"))
    rows.append(("meets targets", str(results["meets_targets"])))
    report("ledger", results, rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ledger", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="per round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--batch",
        type=int,
        default=SERVICE_BATCH,
        help="records per consumer batch and per baseline INSERT (the ledger's setting)",
    )
    parser.add_argument("--payments", type=int, default=1_000)
    args = parser.parse_args(argv)
    # bench_infra starts its own event loops, so it wraps asyncio.run rather than the reverse
    with bench_infra() as (admin_url, _bootstrap):
        asyncio.run(run(args, admin_url))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
