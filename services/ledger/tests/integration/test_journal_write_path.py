"""The batched journal write: summed volume deltas, first usages, funds checks, and the
database's own guard on ledgers."""

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from folio.ledger.domain.journal import InsufficientFunds, Posting
from folio.ledger.service.journal import NewTransaction, ensure_ledger, post_transactions
from folio.shared.contracts import PaymentCollected

from .conftest import envelope, unique
from .test_payment_events import consumer, record

START = datetime(2024, 3, 1, 5, 0, tzinfo=UTC)


def collected(mortgage_id: str, days: int, amount: int):
    txn = uuid.uuid4().int % 10**12
    return envelope(
        PaymentCollected(
            reference=f"rotessa:txn:{txn}",
            mortgage_id=mortgage_id,
            schedule_id=1,
            transaction_id=txn,
            amount_minor=amount,
            currency="CAD",
            effective_at=START + timedelta(days=days),
            process_date=(START + timedelta(days=days)).date(),
            origin="backfill",
        )
    )


async def test_batch_volumes_equal_moves_and_first_usage_follows_backdating(
    uow_factory, journal_config
):
    c = consumer(uow_factory, journal_config)
    first, second = unique("m"), unique("m")
    await c.process(
        [
            record(collected(first, 10, 100)),
            record(collected(second, 12, 250)),
            record(collected(first, 11, 300)),
            record(collected(first, 5, 50)),
        ]
    )
    # a later batch brings an earlier payment of the first mortgage (backfill order)
    await c.process([record(collected(first, 1, 7)), record(collected(second, 20, 1))])
    addresses = [f"mortgages:{first}", f"mortgages:{second}"]
    async with uow_factory() as uow:
        current = await uow.journal.volumes_of("folio", addresses)
        from_moves = await uow.journal.volumes_of(
            "folio", addresses, pit=datetime(2100, 1, 1, tzinfo=UTC)
        )
        firsts = {
            r.address: r.first_usage
            for r in await uow.session.execute(
                text("SELECT address, first_usage FROM accounts WHERE address = ANY(:a)"),
                {"a": addresses},
            )
        }
    assert current == from_moves
    assert current[(addresses[0], "CAD/2")].input == 100 + 300 + 50 + 7
    assert current[(addresses[1], "CAD/2")].input == 250 + 1
    assert firsts == {
        addresses[0]: START + timedelta(days=1),
        addresses[1]: START + timedelta(days=12),
    }


async def test_a_batch_reads_balances_when_a_source_may_not_overdraw(uow_factory, journal_config):
    """Consumer batches skip the balance read unless a source is not overdraft-exempt;
    then the funds rule holds candidate by candidate, in order."""
    shop = unique("shop")
    ledger = "write-path"  # its own ledger: the forced overdraft must not reach "folio"
    async with uow_factory() as uow:
        await ensure_ledger(uow, ledger)
        results = await post_transactions(
            uow,
            ledger,
            [
                NewTransaction((Posting("world", f"{shop}:till", 100, "CAD/2"),)),
                NewTransaction((Posting(f"{shop}:till", "world", 60, "CAD/2"),)),
                NewTransaction((Posting(f"{shop}:till", "world", 60, "CAD/2"),)),  # 40 left
                NewTransaction((Posting(f"{shop}:till", "world", 60, "CAD/2"),), force=True),
            ],
            journal_config.policy,
            with_volumes=False,
        )
        await uow.commit()
    assert isinstance(results[2], InsufficientFunds)
    assert [isinstance(r, InsufficientFunds) for r in results] == [False, False, True, False]
    async with uow_factory() as uow:
        volumes = await uow.journal.volumes_of(ledger, [f"{shop}:till"])
    assert volumes[(f"{shop}:till", "CAD/2")].balance == 100 - 60 - 60


async def test_database_refuses_a_transaction_in_a_missing_ledger(uow_factory):
    async with uow_factory() as uow:
        with pytest.raises(DBAPIError, match="does not exist"):
            await uow.session.execute(
                text(
                    "INSERT INTO transactions (ledger, id, timestamp, inserted_at, postings) "
                    "VALUES ('no-such-ledger', nextval('transaction_ids'), now(), now(), '[]')"
                )
            )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledgers SET name = 'renamed' WHERE name = 'folio'",
        "DELETE FROM ledgers WHERE name = 'folio'",
        "TRUNCATE ledgers CASCADE",
    ],
)
async def test_ledgers_are_append_only(uow_factory, statement):
    async with uow_factory() as uow:
        await ensure_ledger(uow, "folio")
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(DBAPIError, match="not allowed"):
            await uow.session.execute(text(statement))


async def test_concurrent_batches_on_shared_accounts_neither_deadlock_nor_lose_volume(
    uow_factory, journal_config
):
    """Consumer batches (delta upserts) and balance-checked writers touch the same rows
    at once; every writer locks volume rows in the same order, so all commit."""
    mortgages = [unique("m") for _ in range(6)]
    shop = unique("shop")
    ledger = "write-path-concurrent"
    async with uow_factory() as uow:
        await ensure_ledger(uow, ledger)
        await post_transactions(
            uow,
            ledger,
            [NewTransaction((Posting("world", f"{shop}:till", 10_000, "CAD/2"),))],
            journal_config.policy,
        )
        await uow.commit()

    async def batch(seed: int) -> None:
        # reversed or not: the same accounts arrive in different orders per writer
        order = mortgages if seed % 2 else list(reversed(mortgages))
        candidates = [
            NewTransaction((Posting("world", f"mortgages:{m}", seed + 1, "CAD/2"),)) for m in order
        ]
        if seed % 3 == 0:  # this writer must read balances: a till may not overdraw
            candidates.append(NewTransaction((Posting(f"{shop}:till", "world", 1, "CAD/2"),)))
        async with uow_factory() as uow:
            results = await post_transactions(
                uow, ledger, candidates, journal_config.policy, with_volumes=False
            )
            assert not [r for r in results if isinstance(r, Exception)]
            await uow.commit()

    await asyncio.gather(*(batch(seed) for seed in range(12)))
    addresses = [f"mortgages:{m}" for m in mortgages] + ["world", f"{shop}:till"]
    async with uow_factory() as uow:
        current = await uow.journal.volumes_of(ledger, addresses)
        from_moves = await uow.journal.volumes_of(
            ledger, addresses, pit=datetime(2100, 1, 1, tzinfo=UTC)
        )
    assert current == from_moves
    per_mortgage = sum(seed + 1 for seed in range(12))
    assert all(current[(f"mortgages:{m}", "CAD/2")].input == per_mortgage for m in mortgages)
    assert current[(f"{shop}:till", "CAD/2")].balance == 10_000 - 4  # seeds 0, 3, 6, 9


async def test_a_reference_taken_after_the_batch_checked_fails_as_an_integrity_error(
    uow_factory, journal_config
):
    """The batch statements run on the raw driver connection; a reference a concurrent
    writer took after ``prepare_batch`` looked still fails on the unique key, and
    callers see SQLAlchemy's error with the constraint name they map to CONFLICT."""
    reference = unique("ref")
    posting = (Posting("world", f"{unique('acct')}:till", 5, "CAD/2"),)
    async with uow_factory() as uow:
        await ensure_ledger(uow, "folio")
        [stored] = await post_transactions(
            uow, "folio", [NewTransaction(posting, reference=reference)], journal_config.policy
        )
        await uow.commit()
    async with uow_factory() as uow:
        start = await uow.journal.prepare_batch("folio", 1, [])
        replay = replace(stored, id=start.ids[0])
        with pytest.raises(IntegrityError) as caught:
            await uow.journal.insert_transactions("folio", uow.journal.rows_of([replay]), start.now)
    assert caught.value.orig.sqlstate == "23505"
    assert caught.value.orig.constraint_name == "transactions_ledger_reference_key"
