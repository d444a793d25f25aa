"""The sealer reads only what was written since its frontier settled, and still seals a
transaction that commits late with a lower id, exactly once."""

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

from folio.devstack.testing import rows_read_by_generic_plan
from folio.ledger.adapters.journal_repository import UNSEALED_SQL
from folio.ledger.adapters.uow import unit_of_work_factory
from folio.ledger.domain.journal import WORLD, Posting
from folio.ledger.service.journal import (
    NewTransaction,
    ensure_ledger,
    post_transactions,
    seal_pending,
    verify_journal,
)
from folio.shared.db import driver_connection

from .test_batch_plans import collections
from .test_payment_events import consumer


def payment(source: str, n: int) -> NewTransaction:
    return NewTransaction(postings=(Posting(source, f"tenants:{n}", 100 + n, "SAR/2"),))


async def seal_once(uow_factory) -> int:
    async with uow_factory() as uow:
        sealed = await seal_pending(uow)
        await uow.commit()
    return sealed


async def frontier(uow_factory) -> tuple[int, int | None]:
    async with uow_factory() as uow:
        row = (
            await uow.session.execute(
                text("SELECT settled_id, candidate_id FROM journal_seal_frontier")
            )
        ).one()
    return row.settled_id, row.candidate_id


async def test_a_late_commit_with_a_lower_id_is_sealed_once(fresh_ledger, journal_config):
    uows = unit_of_work_factory(fresh_ledger, producer="ledger")
    async with uows() as uow:
        await ensure_ledger(uow, "folio")
        await uow.commit()

    late = uows()
    await late.__aenter__()
    try:
        [early] = await post_transactions(late, "folio", [payment(WORLD, 1)], journal_config.policy)
        async with uows() as uow:  # a higher id, committed first (no volume row in common)
            [later] = await post_transactions(
                uow, "folio", [payment("rotessa:clearing", 2)], journal_config.policy
            )
            await uow.commit()
        assert later.id > early.id
        for _ in range(4):  # the frontier must not pass the open transaction's id
            await seal_once(uows)
            settled, _ = await frontier(uows)
            assert settled < early.id
        await late.commit()
    finally:
        await late.__aexit__(None, None, None)

    for _ in range(3):
        await seal_once(uows)
    async with uows() as uow:
        sealed, unsealed, problems = await verify_journal(uow)
        counts = (
            await uow.session.execute(
                text("SELECT transaction_id, count(*) FROM journal_seals GROUP BY 1")
            )
        ).all()
    assert (sealed, unsealed, problems) == (2, 0, [])
    assert sorted(counts) == [(early.id, 1), (later.id, 1)]
    settled, _ = await frontier(uows)
    assert settled >= later.id  # settled once nothing was running any more


async def test_a_run_reads_what_was_written_since_the_frontier(fresh_ledger, journal_config):
    uows = unit_of_work_factory(fresh_ledger, producer="ledger")
    async with uows() as uow:
        await ensure_ledger(uow, "folio")
        await uow.commit()
    journal_writer = consumer(uows, journal_config)
    for run in range(5):  # 10,000 transactions, sealed as they come
        await journal_writer.process(collections(2_000, f"grow{run}"))
        while await seal_once(uows):
            pass
    await seal_once(uows)  # settles the last candidate
    settled, _ = await frontier(uows)
    await journal_writer.process(collections(30, "recent"))

    async with fresh_ledger() as session:
        raw = await driver_connection(session)
        compiled = text(UNSEALED_SQL).compile(dialect=asyncpg_dialect.dialect())
        args = [{"limit": 5_000, "after": settled}[name] for name in compiled.positiontup]
        assert settled >= 10_000
        assert await rows_read_by_generic_plan(raw, str(compiled), *args) <= 100
    assert await seal_once(uows) == 30
