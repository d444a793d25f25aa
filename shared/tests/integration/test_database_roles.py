"""Each service connects with its own role, which can touch only its own schema."""

import asyncpg
import pytest

from folio.shared.settings import to_plain_url


async def test_a_service_role_cannot_read_or_write_another_services_schema(infra):
    ledger_url = await infra.service_database_url("ledger")
    await infra.service_database_url("webhooks")
    conn = await asyncpg.connect(to_plain_url(ledger_url))
    try:
        assert await conn.fetchval("SELECT count(*) >= 0 FROM ledger.outbox")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("SELECT count(*) FROM webhooks.outbox")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("INSERT INTO webhooks.audit_log (actor, action, subject_type,"
                               " subject_id) VALUES ('x', 'y', 'z', '1')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.sneaky (id int)")
    finally:
        await conn.close()


async def test_audit_log_is_append_only_in_the_database(infra):
    url = await infra.service_database_url("webhooks")
    conn = await asyncpg.connect(to_plain_url(url), server_settings={"search_path": "webhooks"})
    try:
        row_id = await conn.fetchval(
            "INSERT INTO audit_log (actor, action, subject_type, subject_id)"
            " VALUES ('tester', 'probe', 'test', '1') RETURNING id"
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE id = $1", row_id)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audit_log WHERE id = $1", row_id)
    finally:
        await conn.close()
