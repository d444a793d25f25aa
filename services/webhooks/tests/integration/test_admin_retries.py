"""Admin writes in webhooks run their unit of work through retry_transient: a real
serialization failure (40001, raised by a trigger on the audit log that every admin
change writes in its transaction) is run again and lands once; failing on every attempt
answers 409 concurrent-update and keeps nothing."""

import uuid
from contextlib import asynccontextmanager

from folio.devstack.testing import admin_headers

PATH = "/api/webhooks/admin/payment-methods/tabby"


@asynccontextmanager
async def audit_inserts_fail(db, times: int):
    name = "retry_test_" + uuid.uuid4().hex[:8]
    await db.execute(f"CREATE SEQUENCE {name}")
    await db.execute(
        f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF nextval('{name}') <= {times} THEN
                RAISE EXCEPTION 'injected' USING ERRCODE = 'serialization_failure';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    await db.execute(
        f"CREATE TRIGGER {name} BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION {name}()"
    )
    try:
        yield
    finally:
        await db.execute(f"DROP TRIGGER {name} ON audit_log")
        await db.execute(f"DROP FUNCTION {name}()")
        await db.execute(f"DROP SEQUENCE {name}")


async def toggles(db) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE subject_type = 'payment_method'"
        " AND subject_id = 'tabby'"
    )


async def test_a_lost_race_is_run_again_and_lands_once(client, settings, db):
    admin = admin_headers(settings, roles=("admin",))
    before = await toggles(db)
    async with audit_inserts_fail(db, times=2):
        answer = await client.put(PATH, json={"is_enabled": False}, headers=admin)
    assert answer.status_code == 200, answer.text
    assert await toggles(db) == before + 1


async def test_a_race_lost_every_time_is_a_409_and_keeps_nothing(client, settings, db):
    admin = admin_headers(settings, roles=("admin",))
    before = await toggles(db)
    async with audit_inserts_fail(db, times=100):
        answer = await client.put(PATH, json={"is_enabled": True}, headers=admin)
    assert answer.status_code == 409, answer.text
    assert answer.json()["type"] == "urn:folio:problem:concurrent-update"
    assert await toggles(db) == before
