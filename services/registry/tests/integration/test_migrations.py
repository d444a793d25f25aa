"""Registry migrations on a throw-away schema: 0002 makes a Beds24 property map to one
unit, and refuses (naming them) when existing rows already break that rule."""

import asyncio
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


async def add_mapping(conn, schema: str, building: uuid.UUID, property_id: int) -> uuid.UUID:
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
        " beds24_unit_number, source_of_truth) VALUES ($1, $2, $3, 7, $4, 'BEDS24')",
        uuid.uuid4(),
        unit,
        property_id,
        unit.hex[:2].translate(str.maketrans("abcdef", "123456")),
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
        await add_mapping(conn, schema, building, 501)  # other room and unit number too
    assert clash.value.constraint_name == "beds24_map_one_per_property"
