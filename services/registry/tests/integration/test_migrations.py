"""Registry migrations on a throw-away schema: 0002 makes a Beds24 property map to one
unit, and refuses (naming them) when existing rows already break that rule."""

import asyncio
import itertools
import uuid

import asyncpg
import pytest

from folio.devstack.services import service
from folio.shared.migrations import upgrade
from folio.shared.settings import to_plain_url


@pytest.fixture
async def scratch_schema(infra):
    schema = "registry_mig_" + uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(to_plain_url(infra.admin_database_url))
    try:
        yield schema, conn
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def migrate(infra, schema: str, revision: str) -> None:
    migrations = service("registry").migrations
    await asyncio.to_thread(upgrade, migrations, infra.admin_database_url, schema, revision)


_unit_numbers = itertools.count(1)


async def add_mapping(
    conn, schema: str, building: uuid.UUID, property_id: int, room: int = 7
) -> uuid.UUID:
    """A unit mapped to ``property_id``, with a unit number no other mapping has (it was
    two random hex digits once: 1 run in ~70 two mappings of 501 shared one, and 0001's
    own (property, room, unit number) key refused the set-up)."""
    unit = uuid.uuid4()
    await conn.execute(
        f'INSERT INTO "{schema}".units (id, building_id, code, monthly_base_rent_minor, currency)'
        " VALUES ($1, $2, $3, 0, 'SAR')",
        unit,
        building,
        unit.hex[:8],
    )
    await conn.execute(
        f'INSERT INTO "{schema}".beds24_map (id, unit_id, beds24_property_id, beds24_room_id,'
        " beds24_unit_number, source_of_truth) VALUES ($1, $2, $3, $4, $5, 'BEDS24')",
        uuid.uuid4(),
        unit,
        property_id,
        room,
        str(next(_unit_numbers)),
    )
    return unit


async def test_0002_refuses_duplicate_properties_then_enforces_one_unit_per_property(
    infra, scratch_schema
):
    schema, conn = scratch_schema
    await migrate(infra, schema, "0001")
    building = uuid.uuid4()
    await conn.execute(
        f"INSERT INTO \"{schema}\".buildings (id, code, name) VALUES ($1, 'MIG-1', 'M')", building
    )
    kept = await add_mapping(conn, schema, building, 501)
    extra = await add_mapping(conn, schema, building, 501)  # 0001 let two units share it
    await add_mapping(conn, schema, building, 502)

    with pytest.raises(RuntimeError) as refused:
        await migrate(infra, schema, "head")
    message = str(refused.value)
    assert "property 501" in message and str(kept) in message and str(extra) in message
    assert "502" not in message
    version = f'SELECT version_num FROM "{schema}".alembic_version'
    assert await conn.fetchval(version) == "0001"  # nothing of 0002 was kept
    assert await conn.fetchval(f'SELECT count(*) FROM "{schema}".beds24_map') == 3

    await conn.execute(f'DELETE FROM "{schema}".beds24_map WHERE unit_id = $1', extra)
    await migrate(infra, schema, "head")
    assert await conn.fetchval(version) >= "0002"
    with pytest.raises(asyncpg.UniqueViolationError) as clash:
        await add_mapping(conn, schema, building, 501, room=8)  # other room and unit number
    assert clash.value.constraint_name == "beds24_map_one_per_property"


async def test_0003_carries_the_kpi_read_model_over_to_money_movements(infra, scratch_schema):
    schema, conn = scratch_schema
    await migrate(infra, schema, "0002")
    building = uuid.uuid4()
    await conn.execute(
        f'INSERT INTO "{schema}".buildings (id, code, name, timezone) '
        "VALUES ($1, 'MIG-3', 'M', 'Asia/Riyadh')",
        building,
    )
    rows = [
        # entry, status, amount, paid, paid_at, changed_at
        ("paid", "PAID", 1_000, 1_000, "2026-01-31 22:00+00", "2026-01-31 22:00+00"),
        ("refunded", "REFUNDED", 700, 700, "2026-01-10 10:00+00", "2026-02-02 10:00+00"),
        ("partly", "DUE", 2_000, 500, None, "2026-01-05 10:00+00"),
    ]
    for entry_id, status, amount, paid, paid_at, changed_at in rows:
        await conn.execute(
            f'INSERT INTO "{schema}".kpi_entries (entry_id, invoice_number, building_id,'
            " entry_type, status, amount_minor, paid_minor, currency, paid_at, version,"
            " changed_at) VALUES ($1, $1, $2, 'RENT', $3, $4, $5, 'SAR',"
            " $6::text::timestamptz, 3, $7::text::timestamptz)",
            entry_id, building, status, amount, paid, paid_at, changed_at,
        )  # fmt: skip
    await migrate(infra, schema, "head")
    daily = await conn.fetch(
        f'SELECT local_date::text, collected_minor, movement_count FROM "{schema}".'
        "kpi_daily_collections ORDER BY 1"
    )
    # Riyadh dates: partial 500 on 01-05; refunded entry paid 01-10, returned 02-02;
    # the paid entry on 02-01 (22:00Z is already February there).
    assert [tuple(r) for r in daily] == [
        ("2026-01-05", 500, 1),
        ("2026-01-10", 700, 1),
        ("2026-02-01", 1_000, 1),
        ("2026-02-02", -700, 1),
    ]
    open_rows = await conn.fetch(
        f'SELECT status, amount_minor, entry_count FROM "{schema}".kpi_open_receivables'
    )
    assert [tuple(r) for r in open_rows] == [("DUE", 1_500, 1)]  # still owed, not the amount
