"""Accounts' first usages with the in-process memory of committed ones: the account
upsert is left out only when it could change nothing, never on the strength of a
rolled-back batch."""

from datetime import timedelta

from sqlalchemy import text

from folio.ledger.adapters.journal_repository import JournalRepository

from .conftest import unique
from .test_journal_write_path import START, collected
from .test_payment_events import consumer, record


async def first_usage(uow_factory, address: str):
    async with uow_factory() as uow:
        result = await uow.session.execute(
            text("SELECT first_usage FROM accounts WHERE address = :a"), {"a": address}
        )
        return result.scalar_one_or_none()


def count_account_upserts(monkeypatch) -> list[str]:
    seen: list[str] = []
    original = JournalRepository._batch_statement

    async def spy(self, sql, *args):
        if sql.startswith("INSERT INTO accounts"):
            seen.append(sql)
        return await original(self, sql, *args)

    monkeypatch.setattr(JournalRepository, "_batch_statement", spy)
    return seen


async def test_known_accounts_skip_the_upsert_and_earlier_usages_still_move_it(
    uow_factory, journal_config, monkeypatch
):
    c = consumer(uow_factory, journal_config)
    mortgage = unique("m")
    address = f"mortgages:{mortgage}"
    await c.process([record(collected(mortgage, 10, 100))])
    upserts = count_account_upserts(monkeypatch)

    await c.process([record(collected(mortgage, 12, 100))])  # later: nothing to change
    assert upserts == []
    assert await first_usage(uow_factory, address) == START + timedelta(days=10)

    await c.process([record(collected(mortgage, 3, 100))])  # earlier: the row moves
    assert len(upserts) == 1
    assert await first_usage(uow_factory, address) == START + timedelta(days=3)


async def test_a_rolled_back_batch_teaches_nothing(uow_factory, journal_config):
    from folio.ledger.service.collections import prepare_collection, when_payments_collected

    mortgage = unique("m")
    address = f"mortgages:{mortgage}"
    event = collected(mortgage, 2, 100)
    async with uow_factory() as uow:  # posts, then rolls back (never committed)
        await when_payments_collected([(event, prepare_collection(event))], uow, journal_config)
    assert await first_usage(uow_factory, address) is None

    await consumer(uow_factory, journal_config).process([record(collected(mortgage, 9, 100))])
    assert await first_usage(uow_factory, address) == START + timedelta(days=9)
