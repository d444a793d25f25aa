"""The console's new registry reads stay bounded as the tables grow: the generic plan
of each statement reads about what it returns, never the table (an index per query)."""

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import event, text

from folio.devstack.testing import rows_read_by_generic_plan
from folio.registry.adapters.repository import RegistryRepository
from folio.shared.db import driver_connection


async def rows_read(sessionmaker, work) -> list[int]:
    """The rows the generic plan of each statement ``work(repository)`` runs reads."""
    statements = []
    engine = sessionmaker.kw["bind"].sync_engine

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        async with sessionmaker() as session:
            await work(RegistryRepository(session))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    async with sessionmaker() as session:
        raw = await driver_connection(session)
        return [await rows_read_by_generic_plan(raw, sql, *params) for sql, params in statements]


async def test_collections_by_month_read_only_the_window(registry_sessionmaker):
    """Three years of daily rows for each of 6 buildings; 12 months of one are read."""
    ours = uuid.uuid4()
    first = date(2024, 1, 1)
    async with registry_sessionmaker() as session:
        await session.execute(
            text(
                "INSERT INTO kpi_daily_collections"
                " (building_id, currency, local_date, collected_minor, movement_count)"
                " SELECT b, 'SAR', CAST(:first AS date) + d, 100, 1"
                " FROM unnest(CAST(:buildings AS uuid[])) AS b, generate_series(0, 1094) AS d"
            ),
            {"first": first, "buildings": [ours] + [uuid.uuid4() for _ in range(5)]},
        )
        await session.commit()
    found = {}

    async def work(repo):
        found["months"] = await repo.monthly_collections(
            ours, "SAR", date(2025, 3, 1), date(2026, 2, 15)
        )

    [read] = await rows_read(registry_sessionmaker, work)
    assert len(found["months"]) == 12
    assert sum(m["collected_minor"] for m in found["months"]) == 100 * 352  # 03-01 .. 02-15
    assert read <= 400  # the 352 days of the window, not 6 x 1,095 rows


async def test_unknown_units_read_one_buildings_units(registry_sessionmaker):
    """A building of 5 units beside one of 600: listing the first's reads about 5."""
    ours, big = uuid.uuid4(), uuid.uuid4()
    async with registry_sessionmaker() as session:
        for building, count in ((ours, 5), (big, 600)):
            await session.execute(
                text("INSERT INTO buildings (id, code, name) VALUES (:id, :code, 'Plan test')"),
                {"id": building, "code": "P-" + building.hex[:10].upper()},
            )
            await session.execute(
                text(
                    "INSERT INTO units (id, building_id, code, monthly_base_rent_minor,"
                    " currency) SELECT gen_random_uuid(), :b, 'U' || n, 1000, 'SAR'"
                    " FROM generate_series(1, :count) AS n"
                ),
                {"b": building, "count": count},
            )
            await session.execute(
                text(
                    "INSERT INTO beds24_map (id, unit_id, beds24_property_id, beds24_room_id,"
                    " source_of_truth) SELECT gen_random_uuid(), id,"
                    " (random() * 1e12)::bigint + 1, 1, 'BEDS24' FROM units"
                    " WHERE building_id = :b"
                ),
                {"b": building},
            )
        await session.commit()
        # current statistics, as autovacuum keeps them: without, the plan depended on what
        # earlier tests of the session had left in these tables (912 rows read once)
        for table in ("units", "beds24_map", "beds24_observations", "unit_daily_status"):
            await session.execute(text(f"ANALYZE {table}"))
        await session.commit()
    night = date(2026, 2, 10)
    now = datetime(2026, 2, 10, 12, tzinfo=UTC)
    found = {}

    async def work(repo):
        for use_snapshot in (False, True):
            found[use_snapshot] = await repo.unknown_units(
                building_id=ours,
                night=night,
                fresh_after=now - timedelta(hours=6),
                use_snapshot=use_snapshot,
                limit=100,
            )

    reads = await rows_read(registry_sessionmaker, work)
    assert len(found[False]) == len(found[True]) == 5  # all Beds24, none fetched
    # not the 600 units of the other building (nor every unit's snapshot of the night:
    # 912 rows once); a few dozen when the planner scans a small lookup table whole
    # (the property sync state earlier tests left: 36 in a full run)
    assert max(reads) <= 100, reads
