"""Rollback: every service's migrations go up to head with data in the schema, down to
base, and up again — and the schema then equals a fresh upgrade, compared catalog
entry by catalog entry (columns, constraints, indexes, triggers, functions,
sequences, storage options), not by table names."""

import asyncio
import uuid

import asyncpg
import pytest

from folio.devstack.services import SERVICES
from folio.shared.migrations import downgrade, upgrade
from folio.shared.settings import to_plain_url

CATALOG = {
    "columns": """
        SELECT table_name, column_name, ordinal_position, data_type, udt_name, is_nullable,
               coalesce(column_default, ''), coalesce(character_maximum_length, 0)
        FROM information_schema.columns WHERE table_schema = $1
    """,
    "constraints": """
        SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid)
        FROM pg_constraint c WHERE c.connamespace = $1::regnamespace
    """,
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid
        WHERE r.relnamespace = $1::regnamespace AND NOT t.tgisinternal
    """,
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p WHERE p.pronamespace = $1::regnamespace
    """,
    "sequences": """
        SELECT sequencename, start_value, increment_by, cache_size, cycle
        FROM pg_sequences WHERE schemaname = $1
    """,
    "storage": """
        SELECT relname, relkind, coalesce(array_to_string(reloptions, ','), '')
        FROM pg_class WHERE relnamespace = $1::regnamespace
    """,
}


async def catalog(conn, schema: str) -> dict[str, set[tuple]]:
    """Every catalog entry of ``schema``, with the schema's name written as <schema>."""
    await conn.execute(f'SET search_path TO "{schema}"')
    snapshot = {}
    for kind, sql in CATALOG.items():
        rows = await conn.fetch(sql, schema)
        snapshot[kind] = {
            tuple(str(v).replace(f'"{schema}".', "").replace(f"{schema}.", "") for v in row)
            for row in rows
        }
    return snapshot


async def put_data_in(conn, schema: str) -> None:
    """Rows in the tables every service has (outbox, inbox, audit trail, dead letters)."""
    await conn.execute(f'SET search_path TO "{schema}"')
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, value, headers) "
        "VALUES ($1, 'payment.verified', 'INV-1', '{}'::bytea, '{}'::jsonb)",
        uuid.uuid4(),
    )
    await conn.execute(
        "INSERT INTO processed_messages (consumer, event_id) VALUES ('c', $1)", uuid.uuid4()
    )
    await conn.execute(
        "INSERT INTO audit_log (actor, action, subject_type, subject_id, details) "
        "VALUES ('admin', 'test', 'thing', '1', '{}'::jsonb)"
    )


@pytest.mark.parametrize("spec", SERVICES, ids=[s.name for s in SERVICES])
async def test_head_base_head_equals_a_fresh_upgrade(infra, spec):
    url = infra.admin_database_url
    suffix = uuid.uuid4().hex[:8]
    round_trip, fresh = f"rt_{spec.schema}_{suffix}", f"fresh_{spec.schema}_{suffix}"
    conn = await asyncpg.connect(to_plain_url(url))
    try:
        await asyncio.to_thread(upgrade, spec.migrations, url, round_trip)
        await put_data_in(conn, round_trip)
        at_head = await catalog(conn, round_trip)

        await asyncio.to_thread(downgrade, spec.migrations, url, round_trip, "base")
        left = await conn.fetch(
            "SELECT relname FROM pg_class WHERE relnamespace = $1::regnamespace", round_trip
        )
        assert {r["relname"] for r in left} <= {"alembic_version", "alembic_version_pkc"}

        await asyncio.to_thread(upgrade, spec.migrations, url, round_trip)
        again = await catalog(conn, round_trip)
        await asyncio.to_thread(upgrade, spec.migrations, url, fresh)
        reference = await catalog(conn, fresh)
        for kind in CATALOG:
            assert again[kind] == reference[kind], (
                kind, sorted(again[kind] ^ reference[kind])[:10]
            )
            assert at_head[kind] == reference[kind], kind
    finally:
        for schema in (round_trip, fresh):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


def revisions_in_order(spec) -> list[str]:
    from alembic.script import ScriptDirectory

    from folio.shared.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config(spec.migrations, "", ""))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


@pytest.mark.parametrize("spec", SERVICES, ids=[s.name for s in SERVICES])
async def test_each_downgrade_undoes_exactly_its_own_upgrade(infra, spec):
    """Stepping down from head, the schema at every revision equals a fresh upgrade to
    that revision: no downgrade leaves something behind or takes too much."""
    url = infra.admin_database_url
    suffix = uuid.uuid4().hex[:8]
    schema = f"steps_{spec.schema}_{suffix}"
    revisions = revisions_in_order(spec)
    conn = await asyncpg.connect(to_plain_url(url))
    made = [schema]
    try:
        await asyncio.to_thread(upgrade, spec.migrations, url, schema)
        for target in reversed(revisions[:-1]):
            await asyncio.to_thread(downgrade, spec.migrations, url, schema, target)
            reference = f"at_{target}_{spec.schema}_{suffix}"
            made.append(reference)
            await asyncio.to_thread(upgrade, spec.migrations, url, reference, target)
            stepped, fresh = await catalog(conn, schema), await catalog(conn, reference)
            for kind in CATALOG:
                assert stepped[kind] == fresh[kind], (
                    f"down to {target}", kind, sorted(stepped[kind] ^ fresh[kind])[:10]
                )
    finally:
        for name in made:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()
