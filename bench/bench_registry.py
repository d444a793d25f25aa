"""Building KPI query latency with few vs many ledger entries, in the same run.

    python -m bench registry [--units 10000] [--buildings 20]
                             [--entries-small 10000] [--entries-large 200000] [--queries 200]

The full QUALITY.md size is ``--entries-large 1000000``. Target: p95 <= 50 ms at
10,000 units and 1,000,000 entries, growing sub-linearly from 10k to 1M entries.

What is timed: ``compute_building_kpis`` for a random building (every SQL round trip
of the KPI route: occupancy facts, collections, open receivables, rent, occupied
unit-days) on the real registry schema built by its own migrations. Entries are
loaded into the KPI read model with SQL, then the aggregates are rebuilt with the
service's own rebuild (the same rows the incremental ledger.entry.changed path keeps).
"""

import argparse
import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bench.infra import bench_infra, report
from folio.registry.service.kpis import compute_building_kpis
from folio.registry.service.occupancy import take_daily_snapshots
from folio.registry.service.unit_of_work import RegistryUnitOfWork
from folio.shared.db import create_engine, create_sessionmaker
from folio.shared.migrations import upgrade_async

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "registry" / "migrations"
NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
MAX_AGE = timedelta(hours=6)


async def seed_units(uow_factory, buildings: int, units: int) -> list[uuid.UUID]:
    building_ids = [uuid.uuid4() for _ in range(buildings)]
    async with uow_factory() as uow:
        for i, building_id in enumerate(building_ids):
            await uow.session.execute(
                text(
                    "INSERT INTO buildings (id, code, name, timezone, currency, version, "
                    "created_at, updated_at) VALUES (:id, :code, :name, 'Asia/Riyadh', 'SAR', 1, "
                    "now(), now())"
                ),
                {"id": building_id, "code": f"B-{i:04d}", "name": f"Bench {i}"},
            )
        await uow.session.execute(
            text(
                """
                INSERT INTO units (id, building_id, code, status, monthly_base_rent_minor,
                                   currency, version, created_at, updated_at)
                SELECT gen_random_uuid(), (CAST(:ids AS uuid[]))[1 + (n % :b)], 'U-' || n,
                       CASE WHEN n % 20 = 0 THEN 'BLOCKED' WHEN n % 31 = 0 THEN 'MAINTENANCE'
                            ELSE 'AVAILABLE' END,
                       300000 + (n % 7) * 25000, 'SAR', 1, now(), now()
                FROM generate_series(1, CAST(:u AS integer)) AS n
                """
            ),
            {"ids": building_ids, "b": buildings, "u": units},
        )
        # A third of the units booked locally around NOW, a tenth mapped to Beds24.
        await uow.session.execute(
            text(
                """
                INSERT INTO bookings (id, building_id, unit_id, guest_name, start_date, end_date,
                                      status, source, renewals_used, max_renewals,
                                      renewal_window_days, version, created_at, updated_at)
                SELECT gen_random_uuid(), building_id, id, 'Guest', DATE '2026-06-01',
                       DATE '2026-07-01', 'CONFIRMED', 'LOCAL', 0, 1, 14, 1, now(), now()
                FROM (SELECT id, building_id, row_number() OVER () AS n FROM units) u
                WHERE n % 3 = 0
                """
            )
        )
        await uow.session.execute(
            text(
                """
                INSERT INTO beds24_map (id, unit_id, beds24_property_id, beds24_room_id,
                                        beds24_unit_number, source_of_truth, created_at,
                                        updated_at)
                SELECT gen_random_uuid(), id, 1000 + n, n, '1', 'BEDS24', now(), now()
                FROM (SELECT id, row_number() OVER () AS n FROM units) u WHERE n % 10 = 1
                """
            )
        )
        await uow.commit()
    return building_ids


async def add_entries(uow_factory, building_ids: list[uuid.UUID], count: int, offset: int):
    """``count`` entries spread over buildings, statuses and 18 months of payments."""
    async with uow_factory() as uow:
        await uow.session.execute(
            text(
                """
                INSERT INTO kpi_entries (entry_id, invoice_number, building_ref, building_id,
                    unit_id, entry_type, status, amount_minor, paid_minor, currency, due_date,
                    paid_at, paid_local_date, version, changed_at)
                SELECT e.id, 'INV-B-' || e.n, b::text, b, NULL, 'RENT', e.status, e.amount,
                       CASE WHEN e.status = 'PAID' THEN e.amount ELSE 0 END, 'SAR', e.due,
                       e.paid_at, (e.paid_at AT TIME ZONE 'Asia/Riyadh')::date, 1, now()
                FROM (
                    SELECT 'bench-' || n AS id, n,
                           (ARRAY['PAID','PAID','PAID','DUE','PENDING','VOID'])[1 + n % 6]
                               AS status,
                           100000 + (n % 50) * 1000 AS amount,
                           DATE '2026-06-15' - (n % 540)::integer AS due,
                           CASE WHEN n % 6 < 3
                                THEN TIMESTAMPTZ '2026-06-15 06:00+00' - (n % 540) * INTERVAL '1 day'
                                         - (n % 24) * INTERVAL '1 hour' END AS paid_at
                    FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS n
                ) e, LATERAL (SELECT (CAST(:ids AS uuid[]))[1 + (e.n % :b)] AS b) pick
                """
            ),
            {
                "first": offset + 1,
                "last": offset + count,
                "ids": building_ids,
                "b": len(building_ids),
            },
        )
        # Each paid entry's payment, for "collected" (the aggregates are built from these).
        await uow.session.execute(
            text(
                """
                INSERT INTO kpi_money_movements
                    (entry_id, version, kind, building_id, currency, amount_minor, moved_at)
                SELECT entry_id, version, 'PAYMENT', building_id, currency, paid_minor, paid_at
                FROM kpi_entries WHERE entry_id LIKE 'bench-%' AND paid_minor > 0
                ON CONFLICT DO NOTHING
                """
            )
        )
        for building_id in building_ids:
            await uow.repo.rebuild_kpi_aggregates(building_id)
        await uow.session.execute(text("ANALYZE"))
        await uow.commit()


async def measure(uow_factory, building_ids, queries: int) -> list[float]:
    rng = random.Random(7)
    async with uow_factory() as uow:
        buildings = {b: await uow.repo.get_building(b) for b in building_ids}
    timings = []
    for i in range(queries + 10):
        building = buildings[rng.choice(building_ids)]
        started = time.perf_counter()
        async with uow_factory() as uow:
            await compute_building_kpis(uow, building, as_of=None, now=NOW, max_age=MAX_AGE)
        if i >= 10:  # warm-up
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94]


async def run(admin_url: str, args) -> dict:
    schema = f"registry_bench_{uuid.uuid4().hex[:6]}"
    await upgrade_async(MIGRATIONS, admin_url, schema)
    engine = create_engine(admin_url, schema, pool_size=4)
    sessions = create_sessionmaker(engine)

    def uow_factory():
        return RegistryUnitOfWork(sessions, producer="bench")

    try:
        building_ids = await seed_units(uow_factory, args.buildings, args.units)
        async with uow_factory() as uow:
            await take_daily_snapshots(
                uow,
                start_date=date(2026, 6, 12),
                end_date=date(2026, 6, 14),
                building_id=None,
                now=NOW,
                max_age=MAX_AGE,
            )
            await uow.commit()
        await add_entries(uow_factory, building_ids, args.entries_small, 0)
        small = await measure(uow_factory, building_ids, args.queries)
        await add_entries(
            uow_factory, building_ids, args.entries_large - args.entries_small, args.entries_small
        )
        large = await measure(uow_factory, building_ids, args.queries)
    finally:
        await engine.dispose()
    growth = p95(large) / p95(small)
    return {
        "units": args.units,
        "buildings": args.buildings,
        "entries_small": args.entries_small,
        "entries_large": args.entries_large,
        "queries": args.queries,
        "p50_ms_small": round(statistics.median(small), 2),
        "p95_ms_small": round(p95(small), 2),
        "p50_ms_large": round(statistics.median(large), 2),
        "p95_ms_large": round(p95(large), 2),
        "p95_growth": round(growth, 2),
        "entries_growth": round(args.entries_large / args.entries_small, 1),
        "target_p95_ms": 50,
        "meets_p95_target": p95(large) <= 50,
        "sublinear": growth < args.entries_large / args.entries_small,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench registry", description=__doc__)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--buildings", type=int, default=20)
    parser.add_argument("--entries-small", type=int, default=10_000)
    parser.add_argument("--entries-large", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    if args.entries_large <= args.entries_small:
        parser.error("--entries-large must be greater than --entries-small")
    with bench_infra() as (admin_url, _bootstrap):
        results = asyncio.run(run(admin_url, args))
    report(
        "registry_kpis",
        results,
        [
            ("units / buildings", f"{results['units']} / {results['buildings']}"),
            (
                f"p95 at {results['entries_small']:,} entries",
                f"{results['p95_ms_small']} ms (p50 {results['p50_ms_small']})",
            ),
            (
                f"p95 at {results['entries_large']:,} entries",
                f"{results['p95_ms_large']} ms (p50 {results['p50_ms_large']})",
            ),
            (
                "p95 growth vs entries growth",
                f"x{results['p95_growth']} vs x{results['entries_growth']}",
            ),
            ("target p95 <= 50 ms", "met" if results["meets_p95_target"] else "NOT met"),
        ],
    )
    return 0
