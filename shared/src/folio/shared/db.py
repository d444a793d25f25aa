"""Database plumbing shared by every service: engines and the messaging tables.

Each service owns one Postgres schema. Engines set ``search_path`` to it, so
table definitions stay unqualified and the same code runs in any schema.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import BYTEA, JSONB, UUID
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from folio.shared.settings import to_asyncpg_url

S = TypeVar("S")
T = TypeVar("T")


def create_engine(database_url: str, schema: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        to_asyncpg_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping (a round trip per checkout): a connection broken by a database
        # restart fails its statement, the pool is invalidated and the next use reconnects.
        pool_recycle=1800,
        connect_args={"server_settings": {"search_path": schema, "timezone": "UTC"}},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


#: Tables every service schema has (created by ``MESSAGING_DDL`` in its first migration).
messaging_metadata = sa.MetaData()

outbox = sa.Table(
    "outbox",
    messaging_metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=True),
    sa.Column("value", BYTEA, nullable=False),
    sa.Column("headers", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    sa.Column("partition", sa.Integer),
    sa.Column("offset", sa.BigInteger),
)

processed_messages = sa.Table(
    "processed_messages",
    messaging_metadata,
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
)

dead_letters = sa.Table(
    "dead_letters",
    messaging_metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("consumer", sa.Text, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("key", BYTEA),
    sa.Column("value", BYTEA),
    sa.Column("headers", JSONB, nullable=False),
    sa.Column("event_id", UUID(as_uuid=True)),
    sa.Column("event_type", sa.Text),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("redriven_at", sa.DateTime(timezone=True)),
    sa.Column("redrive_count", sa.Integer, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    messaging_metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("subject_type", sa.Text, nullable=False),
    sa.Column("subject_id", sa.Text, nullable=False),
    sa.Column("details", JSONB, nullable=False),
    sa.Column("correlation_id", sa.Text),
)

#: DDL for the tables above, run by each service's first migration in its schema.
MESSAGING_DDL: tuple[str, ...] = (
    """
    CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        event_id uuid NOT NULL UNIQUE,
        topic text NOT NULL,
        key text,
        value bytea NOT NULL,
        headers jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz,
        partition integer,
        "offset" bigint
    )
    """,
    "CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL",
    'CREATE INDEX outbox_published_position ON outbox (topic, partition, "offset")'
    " WHERE published_at IS NOT NULL",
    """
    CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()
    """,
    """
    CREATE TABLE processed_messages (
        consumer text NOT NULL,
        event_id uuid NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
    )
    """,
    """
    CREATE TABLE dead_letters (
        id bigserial PRIMARY KEY,
        consumer text NOT NULL,
        topic text NOT NULL,
        partition integer NOT NULL,
        "offset" bigint NOT NULL,
        key bytea,
        value bytea,
        headers jsonb NOT NULL DEFAULT '{}'::jsonb,
        event_id uuid,
        event_type text,
        error text NOT NULL,
        attempts integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        redriven_at timestamptz,
        redrive_count integer NOT NULL DEFAULT 0,
        UNIQUE (consumer, topic, partition, "offset")
    )
    """,
    "CREATE INDEX dead_letters_open ON dead_letters (created_at) WHERE redriven_at IS NULL",
    """
    CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        occurred_at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        action text NOT NULL,
        subject_type text NOT NULL,
        subject_id text NOT NULL,
        details jsonb NOT NULL DEFAULT '{}'::jsonb,
        correlation_id text
    )
    """,
    "CREATE INDEX audit_log_subject ON audit_log (subject_type, subject_id, id)",
    """
    CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% on %.% is not allowed: rows are append-only',
            TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION refuse_change()
    """,
)


async def while_in_flight(statements: Awaitable[S], work: Callable[[], T]) -> tuple[S, T]:
    """Send ``statements`` to the database, run ``work`` while the server executes
    them, then wait for them; returns both results.

    ``work`` is CPU only: it must not use the connection the statements hold, and
    nothing it computes may feed them. Python and PostgreSQL then share a batch's
    wall time instead of taking turns. An error from either is raised. The
    statements never outlive the call: when ``work`` fails they are waited for (the
    caller's rollback undoes them), and a cancellation cancels them too, so the
    caller's cleanup never meets them still using the connection.
    """
    in_flight = asyncio.ensure_future(statements)
    try:
        await asyncio.sleep(0)  # the task runs up to its first wait: the statement is sent
        result = work()
    except BaseException as exc:
        if not isinstance(exc, Exception):
            in_flight.cancel()
        await asyncio.wait({in_flight})
        if not in_flight.cancelled():
            in_flight.exception()  # retrieved: the caller gets the first error, not this one
        raise
    return await in_flight, result


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under ``session`` (for COPY and the batch statements)."""
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


async def driver_fetch(session: AsyncSession, sql: str, *args: Any) -> list[Any]:
    """Run one statement on the session's own asyncpg connection, inside the session's
    transaction (begun first if it has not been), skipping SQLAlchemy's per-statement
    work: for the few statements a batch runs with large parameters.

    Errors come back as SQLAlchemy's (sqlstate and constraint name on ``orig``), the
    way callers and the consumer's retry logic handle the same refusal from a
    session statement; a lost connection reads as an operational error.
    """
    raw = await driver_connection(session)
    if not raw.is_in_transaction():
        # the session begins its transaction lazily, on its first statement
        await session.execute(sa.text("SELECT 1"))
    try:
        return await raw.fetch(sql, *args)
    except (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError) as exc:
        raise sa_exc.OperationalError(sql, args, exc) from exc
    except asyncpg.PostgresError as exc:
        error: type[sa_exc.DBAPIError] = (
            sa_exc.IntegrityError
            if isinstance(exc, asyncpg.IntegrityConstraintViolationError)
            else sa_exc.DBAPIError
        )
        raise error(sql, args, exc) from exc
    except asyncpg.InterfaceError as exc:
        raise sa_exc.InterfaceError(sql, args, exc) from exc
