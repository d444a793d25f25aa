"""Metadata filters ($match on metadata[key], $exists) read the matching rows, not the
ledger: their generic plans go through the GIN indexes of migration 0011, also on
tables that were never analysed."""

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

import folio.ledger.adapters.journal_repository as journal_repository
from folio.devstack.testing import rows_read_by_generic_plan
from folio.ledger.adapters.journal_repository import JournalRepository
from folio.ledger.adapters.uow import unit_of_work_factory
from folio.ledger.domain.journal import OverdraftPolicy, Posting
from folio.ledger.service.journal import NewTransaction, ensure_ledger, post_transactions
from folio.shared.db import driver_connection

LEDGER = "plans"
TRANSACTIONS = 20_000
RARE = 10  # transactions (and accounts) that match


def positional(sql: str, params: dict) -> tuple[str, list]:
    compiled = text(sql).bindparams(**params).compile(dialect=asyncpg_dialect.dialect())
    return compiled.string, [compiled.params[name] for name in compiled.positiontup]


async def test_metadata_filters_do_not_scan_the_ledger(fresh_ledger):
    factory = unit_of_work_factory(fresh_ledger, producer="ledger")
    async with factory() as uow:
        await ensure_ledger(uow, LEDGER)
        await uow.commit()
    for start in range(0, TRANSACTIONS, 2_000):
        batch = [
            NewTransaction(
                postings=(Posting("world", f"users:{i}", 1, "SAR/2"),),
                metadata={"kind": "rare" if i % (TRANSACTIONS // RARE) == 0 else "common"},
            )
            for i in range(start, start + 2_000)
        ]
        async with factory() as uow:
            await post_transactions(uow, LEDGER, batch, OverdraftPolicy(), with_volumes=False)
            await uow.commit()
    async with factory() as uow:
        for i in range(0, TRANSACTIONS, TRANSACTIONS // RARE):  # rare accounts carry a tier
            await uow.journal.set_account_metadata(LEDGER, f"users:{i}", {"tier": "gold"}, None)
        await uow.commit()

    statements = {
        "transactions $match": JournalRepository.list_statement(
            LEDGER, limit=16, metadata={"kind": "rare"}
        ),
        "transactions $exists": JournalRepository.list_statement(
            LEDGER, limit=16, metadata_exists=["absent"]
        ),
        "accounts $match": JournalRepository.accounts_statement(
            LEDGER, limit=16, metadata={"tier": "gold"}
        ),
        "accounts $exists": JournalRepository.accounts_statement(
            LEDGER, limit=16, metadata_exists=["tier"]
        ),
    }
    read = {}
    async with factory() as uow:
        connection = await driver_connection(uow.session)
        for name, (sql, params) in statements.items():
            read[name] = await rows_read_by_generic_plan(connection, *_args(sql, params))
    assert max(read.values()) <= 10 * RARE, read


def _args(sql: str, params: dict) -> list:
    statement, values = positional(sql, params)
    return [statement, *values]


async def test_the_log_and_the_sealer_read_metadata_changes_by_their_keys(fresh_ledger):
    """Paging the log and finding unsealed changes read a page, not the change log.
    (The log page once the table has statistics: before its first ANALYZE the planner
    takes it for a few rows and sorts all of them, as it does the transactions' list.)"""
    factory = unit_of_work_factory(fresh_ledger, producer="ledger")
    async with factory() as uow:
        await ensure_ledger(uow, LEDGER)
        await uow.commit()
    async with factory() as uow:
        await post_transactions(
            uow,
            LEDGER,
            [NewTransaction(postings=(Posting("world", "users:1", 1, "SAR/2"),))],
            OverdraftPolicy(),
        )
        await uow.commit()
    async with factory() as uow:
        for i in range(3_000):
            await uow.journal.record_metadata_change(
                LEDGER, "SET_METADATA", "ACCOUNT", "users:1", {"n": str(i)}, None
            )
        await uow.commit()
    async with factory() as uow:
        await uow.session.execute(text("ANALYZE metadata_changes"))
        last = (await uow.session.execute(text("SELECT max(id) FROM metadata_changes"))).scalar()
        await uow.commit()
    statements = {
        "log page": JournalRepository.changes_page_statement(
            LEDGER, limit=16, before_id=last - 100
        ),
        "unsealed changes": (
            journal_repository.UNSEALED_CHANGES_SQL,
            {"after": last - 20, "limit": 5000},
        ),
    }
    read = {}
    async with factory() as uow:
        connection = await driver_connection(uow.session)
        for name, (sql, params) in statements.items():
            read[name] = await rows_read_by_generic_plan(connection, *_args(sql, params))
    assert max(read.values()) <= 200, read
