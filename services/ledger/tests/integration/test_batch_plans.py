"""Every statement of a journal batch reads rows in proportion to its batch, not to the
tables it writes (which only grow), also once its prepared statement runs a generic
plan and while the tables' statistics lag their growth (a new deployment, a backfill
faster than autovacuum)."""

from datetime import UTC, datetime, timedelta

import folio.ledger.adapters.journal_repository as journal_repository
import folio.shared.uow as shared_uow
from folio.devstack.testing import rows_read_by_generic_plan
from folio.ledger.adapters.uow import unit_of_work_factory
from folio.ledger.service.journal import ensure_ledger
from folio.shared.contracts import PaymentCollected
from folio.shared.db import driver_connection

from .conftest import envelope
from .test_payment_events import consumer, record

START = datetime(2024, 1, 1, tzinfo=UTC)
MORTGAGES = 500


def collections(count: int, run: str) -> list:
    return [
        record(
            envelope(
                PaymentCollected(
                    reference=f"rotessa:txn:{run}-{i}",
                    mortgage_id=f"m{i % MORTGAGES}",
                    schedule_id=i % MORTGAGES,
                    transaction_id=i,
                    amount_minor=1_000 + i,
                    currency="CAD",
                    effective_at=START + timedelta(minutes=i),
                    process_date=START.date(),
                    origin="backfill",
                )
            )
        )
        for i in range(count)
    ]


async def test_batch_statements_do_not_scan_the_journal(fresh_ledger, journal_config, monkeypatch):
    grown = unit_of_work_factory(fresh_ledger, producer="ledger")
    async with grown() as uow:
        await ensure_ledger(uow, journal_config.ledger)
        await uow.commit()
    filler = consumer(grown, journal_config)
    for run in range(10):  # 20,000 transactions, 40,000 moves, 20,000 inbox rows
        await filler.process(collections(2_000, f"fill{run}"))

    read: dict[str, int] = {}
    batch_statement = journal_repository.driver_fetch

    async def explained_first(session, sql, *args):
        connection = await driver_connection(session)
        read[" ".join(sql.split())[:60]] = await rows_read_by_generic_plan(connection, sql, *args)
        return await batch_statement(session, sql, *args)

    monkeypatch.setattr(journal_repository, "driver_fetch", explained_first)
    monkeypatch.setattr(shared_uow, "driver_fetch", explained_first)
    # a fresh factory knows no first usages yet, so the account upsert runs too
    await consumer(unit_of_work_factory(fresh_ledger, producer="ledger"), journal_config).process(
        collections(20, "last")
    )

    assert len(read) == 5, read  # inbox, ids/references, volumes, transactions+moves, accounts
    assert max(read.values()) <= 100, read  # 20 transactions: 40 moves, 21 volume rows
