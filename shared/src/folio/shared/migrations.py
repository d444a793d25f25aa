"""Alembic per service: its own schema and its own version table.

A service's ``migrations/env.py`` is two lines::

    from folio.shared.migrations import run_env
    run_env()

and its first revision runs ``MESSAGING_DDL`` (outbox, inbox, DLQ, audit).
"""

import asyncio
from pathlib import Path

import asyncpg
from alembic import command, context
from alembic.config import Config
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from folio.shared.settings import to_asyncpg_url, to_plain_url


def alembic_config(script_location: Path | str, database_url: str, schema: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["database_url"] = to_asyncpg_url(database_url)
    config.attributes["schema"] = schema
    return config


#: The downgrade of a service's first revision: every table, sequence, function and
#: type of the service's schema goes (its data with it), Alembic's version table stays.
#: A release is rolled back by downgrading to the revision it started from; a
#: downgrade to base is for a service being removed (back up its schema first).
DROP_SCHEMA_OBJECTS = """
DO $$
DECLARE item record;
BEGIN
    FOR item IN SELECT c.relname FROM pg_class c
                WHERE c.relnamespace = current_schema()::regnamespace
                  AND c.relkind IN ('r', 'p', 'v', 'm') AND c.relname <> 'alembic_version'
    LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.relname);
    END LOOP;
    FOR item IN SELECT c.relname FROM pg_class c
                WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'S'
    LOOP
        EXECUTE format('DROP SEQUENCE IF EXISTS %I CASCADE', item.relname);
    END LOOP;
    FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                WHERE p.pronamespace = current_schema()::regnamespace
    LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
    END LOOP;
    FOR item IN SELECT t.typname FROM pg_type t
                WHERE t.typnamespace = current_schema()::regnamespace AND t.typtype IN ('e', 'd', 'c')
                  AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
    LOOP
        EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
    END LOOP;
END $$
"""


def upgrade(script_location: Path | str, database_url: str, schema: str, revision="head") -> None:
    """Run a service's migrations (blocking; call from a thread inside an event loop)."""
    command.upgrade(alembic_config(script_location, database_url, schema), revision)


def downgrade(script_location: Path | str, database_url: str, schema: str, revision: str) -> None:
    """Roll a service's schema back to ``revision`` ("base" for none)."""
    command.downgrade(alembic_config(script_location, database_url, schema), revision)


async def upgrade_async(script_location: Path | str, database_url: str, schema: str) -> None:
    await asyncio.to_thread(upgrade, script_location, database_url, schema)


def run_env() -> None:
    """Body of every service's Alembic env.py (online mode, asyncpg)."""
    config = context.config
    schema = config.attributes["schema"]
    url = config.attributes["database_url"]

    def do_run(connection) -> None:
        exists = connection.execute(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
        ).scalar()
        if not exists:  # normally made by ensure_service_role, owned by the service role
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        connection.execute(text(f'SET search_path TO "{schema}"'))
        context.configure(
            connection=connection,
            version_table_schema=schema,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run())


async def ensure_service_role(admin_url: str, schema: str, role: str, password: str) -> None:
    """Create a login role that owns ``schema`` and can touch nothing else.

    Idempotent. The schema is created owned by the role; PUBLIC loses CREATE on
    the public schema so a service cannot leave tables outside its own schema.
    """
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        quoted_pw = password.replace("'", "''")
        if exists:
            await conn.execute(f"ALTER ROLE \"{role}\" WITH LOGIN PASSWORD '{quoted_pw}'")
        else:
            await conn.execute(f"CREATE ROLE \"{role}\" WITH LOGIN PASSWORD '{quoted_pw}'")
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}"')
        await conn.execute(f'ALTER SCHEMA "{schema}" OWNER TO "{role}"')
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    finally:
        await conn.close()


def role_url(admin_url: str, role: str, password: str) -> str:
    """``admin_url`` with the role's credentials (same host, port and database)."""
    from sqlalchemy.engine import make_url

    url = make_url(to_asyncpg_url(admin_url)).set(username=role, password=password)
    return url.render_as_string(hide_password=False)
