"""The inbox statement every consumer runs per batch: its cost follows the batch, not
the inbox (which only grows), also once its prepared statement runs a generic plan."""

import uuid

from folio.devstack.testing import rows_read_by_generic_plan
from folio.shared.contracts import new_event_ids
from folio.shared.uow import _RECORD_DELIVERIES


async def test_a_batch_reads_its_own_ids_not_the_whole_inbox(demo_schema):
    schema = await demo_schema("demo_inbox")
    async with schema.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.execute(
            "INSERT INTO processed_messages (consumer, event_id) "
            "SELECT c, gen_random_uuid() FROM unnest(ARRAY['demo', 'other']) AS c, "
            "generate_series(1, 20000)"
        )  # not analysed since it grew, as between two passes of autovacuum
        seen = [
            row[0] for row in await raw.fetch("SELECT event_id FROM processed_messages LIMIT 10")
        ]
        batch = [*new_event_ids(40), *seen]

        assert await rows_read_by_generic_plan(raw, _RECORD_DELIVERIES, "demo", batch) <= 50

    async with schema.uow() as uow:
        fresh = await uow.first_deliveries("demo", [*batch, batch[0]])  # one id twice
        await uow.commit()
    assert fresh == set(batch[:40])
    async with schema.uow() as uow:
        assert await uow.first_deliveries("demo", batch) == set()
        assert await uow.first_deliveries("another", [uuid.uuid4()]) != set()
