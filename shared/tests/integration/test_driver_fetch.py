"""``driver_fetch``: statements on the session's asyncpg connection keep the session's
transaction, and their errors read as SQLAlchemy's, so callers and the consumer's
retry logic tell bad data from a lost database the same way."""

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from folio.shared.db import driver_fetch
from folio.shared.messaging.consumer import is_infrastructure_error
from folio.shared.settings import to_plain_url


async def test_same_transaction_as_the_session(demo_schema):
    schema = await demo_schema("demo_driver")
    async with schema.uow() as uow:
        await driver_fetch(uow.session, "INSERT INTO notes (id, body) VALUES ($1, 'x')", "n1")
        seen = await uow.session.execute(text("SELECT count(*) FROM notes WHERE id = 'n1'"))
        assert seen.scalar_one() == 1
        # never committed: rolled back with the session
    assert await schema.scalar("SELECT count(*) FROM notes") == 0


async def test_a_refusal_is_an_integrity_error_and_not_infrastructure(demo_schema):
    schema = await demo_schema("demo_driver")
    async with schema.uow() as uow:
        await driver_fetch(uow.session, "INSERT INTO notes (id, body) VALUES ('n', 'x')")
        with pytest.raises(sa_exc.IntegrityError) as refused:
            await driver_fetch(uow.session, "INSERT INTO notes (id, body) VALUES ('n', 'y')")
    assert "notes_pkey" in str(refused.value.orig)
    assert not is_infrastructure_error(refused.value)


async def test_a_lost_connection_is_infrastructure(demo_schema, infra):
    schema = await demo_schema("demo_driver")
    # closing the unit of work fails too (its rollback has no connection): also infrastructure
    with pytest.raises(sa_exc.InterfaceError) as closing:
        async with schema.uow() as uow:
            pid = (await driver_fetch(uow.session, "SELECT pg_backend_pid()"))[0][0]
            admin = await asyncpg.connect(to_plain_url(infra.admin_database_url))
            try:
                assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            finally:
                await admin.close()
            with pytest.raises(sa_exc.DBAPIError) as lost:
                await driver_fetch(uow.session, "SELECT 1")
            assert is_infrastructure_error(lost.value)
    assert is_infrastructure_error(closing.value)
