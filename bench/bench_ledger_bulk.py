"""Formance ``POST /v2/{ledger}/_bulk`` of 10,000 CREATE_TRANSACTIONs beside the same
transactions through the ledger's consumer path, in the same run.

    python -m bench ledger_bulk [--events 10000] [--rounds 5]

The bulk goes through the ledger's HTTP app in process (ASGI: the JSON body, parsing
and validating every element, auth, the set-based journal write with pre/post-commit
volumes, the results) as one request per round. The consumer path is
``bench ledger``'s (``payment.collected`` batches of the service's size). Both write
one posting world → mortgages:… with a reference, a backdated time and metadata.
Rounds alternate (consumer, then bulk); the figures are the medians and the ratio is
the median of each round's bulk/consumer ratio. Target (issue 18): ratio ≥ 0.8.
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid

import asyncpg
import httpx

from bench.bench_ledger import SERVICE_BATCH, collections, consume_in_batches, records
from bench.infra import bench_infra, report
from folio.devstack.services import service
from folio.devstack.testing import admin_headers
from folio.ledger.adapters.uow import unit_of_work_factory
from folio.ledger.app import create_app
from folio.ledger.domain.journal import OverdraftPolicy
from folio.ledger.entrypoints.consumers import build_handlers
from folio.ledger.service.receivables import JournalConfig
from folio.ledger.settings import LedgerSettings
from folio.shared.app import tune_garbage_collector
from folio.shared.db import create_engine, create_sessionmaker
from folio.shared.messaging.consumer import Consumer
from folio.shared.migrations import upgrade_async
from folio.shared.settings import to_plain_url

TARGET_RATIO = 0.8
LEDGER = "bulk"


def bulk_body(envelopes) -> bytes:
    elements = []
    for env in envelopes:
        p = env.payload()
        elements.append(
            {
                "action": "CREATE_TRANSACTION",
                "data": {
                    "postings": [
                        {
                            "source": "world",
                            "destination": f"mortgages:{p.mortgage_id}",
                            "amount": p.amount_minor,
                            "asset": "CAD/2",
                        }
                    ],
                    "reference": p.reference,
                    "timestamp": p.effective_at.isoformat(),
                    "metadata": {"mortgage_id": p.mortgage_id, "origin": "backfill"},
                },
            }
        )
    return json.dumps(elements).encode()


async def run(args, admin_url: str) -> None:
    schema = f"ledger_bench_{uuid.uuid4().hex[:8]}"
    await upgrade_async(service("ledger").migrations, admin_url, schema)
    engine = create_engine(admin_url, schema, pool_size=4)
    settings = LedgerSettings(
        database_url=admin_url,
        db_schema=schema,
        run_messaging=False,
        environment="test",
        log_json=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    headers = {**admin_headers(settings), "content-type": "application/json"}
    tune_garbage_collector()
    consumer_seconds, bulk_seconds = [], []
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=600
            ) as client,
        ):
            uow_factory = unit_of_work_factory(create_sessionmaker(engine), producer="ledger")
            journal = JournalConfig("folio", OverdraftPolicy(("rotessa:clearing",)))
            handlers, batch_handlers = build_handlers(journal)
            consumer = Consumer(
                name="ledger",
                uow_factory=uow_factory,
                handlers=handlers,
                batch_handlers=batch_handlers,
                service_name="ledger",
            )
            created = await client.post(f"/api/ledger/v2/{LEDGER}", headers=headers)
            assert created.status_code == 204, created.text
            # warm-up of both paths (ledger rows, prepared statements), not timed
            await consume_in_batches(
                consumer, records(collections(50, "warm"), "payment.collected"), 50
            )
            warm = await client.post(
                f"/api/ledger/v2/{LEDGER}/_bulk",
                content=bulk_body(collections(50, "warm")),
                headers=headers,
            )
            assert warm.status_code == 200, warm.text[:500]
            for round_number in range(args.rounds):
                envelopes = collections(args.events, f"c{round_number}-")
                consumer_seconds.append(
                    await consume_in_batches(
                        consumer, records(envelopes, "payment.collected"), SERVICE_BATCH
                    )
                )
                body = bulk_body(collections(args.events, f"b{round_number}-"))
                started = time.perf_counter()
                answer = await client.post(
                    f"/api/ledger/v2/{LEDGER}/_bulk", content=body, headers=headers
                )
                bulk_seconds.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text[:500]
    finally:
        await engine.dispose()
        conn = await asyncpg.connect(to_plain_url(admin_url))
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()

    consumer_rates = [args.events / s for s in consumer_seconds]
    bulk_rates = [args.events / s for s in bulk_seconds]
    ratio = statistics.median(b / c for b, c in zip(bulk_rates, consumer_rates, strict=True))
    results = {
        "events_per_round": args.events,
        "rounds": args.rounds,
        "consumer_tx_per_s": round(statistics.median(consumer_rates)),
        "bulk_tx_per_s": round(statistics.median(bulk_rates)),
        "ratio_bulk_to_consumer": round(ratio, 3),
        "consumer_tx_per_s_by_round": [round(r) for r in consumer_rates],
        "bulk_tx_per_s_by_round": [round(r) for r in bulk_rates],
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
    }
    report(
        "ledger_bulk",
        results,
        [
            ("consumer path tx/s", f"{results['consumer_tx_per_s']:,} (median)"),
            (f"bulk of {args.events} tx/s", f"{results['bulk_tx_per_s']:,} (median)"),
            ("ratio", f"{ratio:.2f} (median of rounds; target ≥ {TARGET_RATIO})"),
            ("meets target", str(results["meets_target"])),
        ],
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ledger_bulk", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="per round and per bulk")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with bench_infra() as (admin_url, _bootstrap):
        asyncio.run(run(args, admin_url))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
