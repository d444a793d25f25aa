"""payment.collected / payment.reversed (seed 000: backdated, reference-idempotent) and the
journal's tamper-evidence chain."""

import json
import uuid
from datetime import UTC, date, datetime

from sqlalchemy import text

from folio.ledger.service.journal import seal_pending
from folio.shared.contracts import PaymentCollected, PaymentReversed

from .conftest import envelope, unique
from .test_payment_events import consumer, outbox_events, record

EFFECTIVE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def collected(reference, mortgage_id, amount=150_000):
    return envelope(
        PaymentCollected(
            reference=reference,
            mortgage_id=mortgage_id,
            schedule_id=77,
            transaction_id=int(reference.rsplit(":", 1)[-1]),
            amount_minor=amount,
            currency="CAD",
            effective_at=EFFECTIVE,
            process_date=date(2024, 5, 1),
            origin="backfill",
            backfill_id="bf-1",
        )
    )


async def tx_by_reference(uow_factory, reference):
    async with uow_factory() as uow:
        found = await uow.journal.by_references("folio", [reference])
    return found.get(reference)


async def test_collection_is_backdated_and_reference_idempotent(uow_factory, journal_config):
    c = consumer(uow_factory, journal_config)
    mortgage = unique("m")
    reference = f"rotessa:txn:{uuid.uuid4().int % 10**12}"
    first = collected(reference, mortgage)
    await c.process([record(first)])
    tx = await tx_by_reference(uow_factory, reference)
    assert tx.timestamp == EFFECTIVE and tx.inserted_at > EFFECTIVE
    assert tx.postings[0].destination == f"mortgages:{mortgage}" and tx.postings[0].asset == "CAD/2"
    committed = await outbox_events(uow_factory, "ledger.transaction.committed", reference)
    assert len(committed) == 1 and committed[0]["data"]["timestamp"].startswith("2024-05-01")

    # the same payment again (a backfill rerun): acknowledged no-op
    await c.process([record(collected(reference, mortgage))])
    # same reference, different amount: rejected and reported
    await c.process([record(collected(reference, mortgage, amount=1))])
    rejected = await outbox_events(uow_factory, "ledger.command.rejected", reference)
    assert [(e["data"]["code"], e["data"]["duplicate"]) for e in rejected] == [
        ("DUPLICATE", True),
        ("REFERENCE_CONFLICT", False),
    ]
    async with uow_factory() as uow:
        count = await uow.session.execute(
            text("SELECT count(*) FROM transactions WHERE reference = :r"), {"r": reference}
        )
        assert count.scalar_one() == 1


async def test_duplicates_inside_one_batch(uow_factory, journal_config):
    c = consumer(uow_factory, journal_config)
    mortgage = unique("m")
    reference = f"rotessa:txn:{uuid.uuid4().int % 10**12}"
    await c.process(
        [record(collected(reference, mortgage)), record(collected(reference, mortgage))]
    )
    rejected = await outbox_events(uow_factory, "ledger.command.rejected", reference)
    assert [e["data"]["code"] for e in rejected] == ["DUPLICATE"]


async def test_chargeback_reverts_the_collection_once(uow_factory, journal_config):
    c = consumer(uow_factory, journal_config)
    mortgage = unique("m")
    reference = f"rotessa:txn:{uuid.uuid4().int % 10**12}"
    await c.process([record(collected(reference, mortgage))])

    def reversed_event():
        return envelope(
            PaymentReversed(
                reference=reference,
                reversal_reference=f"{reference}:chargeback",
                mortgage_id=mortgage,
                transaction_id=1,
                amount_minor=150_000,
                currency="CAD",
                reason="NSF",
                reversed_at=datetime.now(UTC),
            )
        )

    await c.process([record(reversed_event())])
    await c.process([record(reversed_event())])
    original = await tx_by_reference(uow_factory, reference)
    reversal = await tx_by_reference(uow_factory, f"{reference}:chargeback")
    assert original.reverted and reversal.reverts_id == original.id
    async with uow_factory() as uow:
        volumes = await uow.journal.volumes_of("folio", [f"mortgages:{mortgage}"])
    assert volumes[(f"mortgages:{mortgage}", "CAD/2")].balance == 0
    rejected = await outbox_events(uow_factory, "ledger.command.rejected", reference)
    assert [(e["data"]["code"], e["data"]["duplicate"]) for e in rejected] == [("DUPLICATE", True)]


async def test_verify_route_pinpoints_a_modified_row(client, admin, uow_factory, journal_config):
    c = consumer(uow_factory, journal_config)
    mortgage = unique("m")
    reference = f"rotessa:txn:{uuid.uuid4().int % 10**12}"
    await c.process([record(collected(reference, mortgage))])
    intact = (await client.post("/api/ledger/journal/verify", headers=admin)).json()
    assert intact["intact"] is True and intact["unsealed"] == 0 and intact["sealed"] > 0
    tx = await tx_by_reference(uow_factory, reference)
    async with uow_factory() as uow:
        # an attacker with owner rights switches the guard off and edits a posted row
        await uow.session.execute(text("ALTER TABLE transactions DISABLE TRIGGER USER"))
        await uow.session.execute(
            text('UPDATE transactions SET metadata = \'{"origin": "forged"}\' WHERE id = :id'),
            {"id": tx.id},
        )
        await uow.session.execute(text("ALTER TABLE transactions ENABLE TRIGGER USER"))
        await uow.commit()
    try:
        report = (await client.post("/api/ledger/journal/verify", headers=admin)).json()
        assert report["intact"] is False
        assert [(p["transaction_id"], p["problem"]) for p in report["problems"]] == [
            (tx.id, "row modified")
        ]
    finally:
        async with uow_factory() as uow:  # put the row back so later tests see an intact chain
            await uow.session.execute(text("ALTER TABLE transactions DISABLE TRIGGER USER"))
            await uow.session.execute(
                text("UPDATE transactions SET metadata = CAST(:m AS jsonb) WHERE id = :id"),
                {"id": tx.id, "m": json.dumps(tx.metadata)},
            )
            await uow.session.execute(text("ALTER TABLE transactions ENABLE TRIGGER USER"))
            await uow.commit()
    again = (await client.post("/api/ledger/journal/verify", headers=admin)).json()
    assert again["intact"] is True


async def test_sealer_seals_every_transaction(uow_factory, journal_config):
    c = consumer(uow_factory, journal_config)
    mortgage = unique("m")
    base = uuid.uuid4().int % 10**12
    await c.process([record(collected(f"rotessa:txn:{base + i}", mortgage)) for i in range(3)])
    async with uow_factory() as uow:
        while await seal_pending(uow, limit=2):
            pass
        await uow.commit()
    async with uow_factory() as uow:
        unsealed = await uow.session.execute(
            text(
                "SELECT count(*) FROM transactions t LEFT JOIN journal_seals s "
                "ON s.transaction_id = t.id WHERE s.seal_seq IS NULL"
            )
        )
        assert unsealed.scalar_one() == 0


def reversal_of(reference, mortgage, amount=150_000):
    return envelope(
        PaymentReversed(
            reference=reference,
            reversal_reference=f"{reference}:chargeback",
            mortgage_id=mortgage,
            transaction_id=int(reference.rsplit(":", 1)[-1]),
            amount_minor=amount,
            currency="CAD",
            reason="NSF",
            reversed_at=datetime.now(UTC),
        )
    )


async def test_a_reversal_that_overtakes_its_collection_is_parked_then_applied(
    uow_factory, journal_config
):
    """Issue 11.1: no UNKNOWN_REFERENCE while the collection is on its way."""
    c = consumer(uow_factory, journal_config)
    mortgage = unique("m")
    reference = f"rotessa:txn:{uuid.uuid4().int % 10**12}"
    early = reversal_of(reference, mortgage)
    await c.process([record(early)])
    assert await outbox_events(uow_factory, "ledger.command.rejected", reference) == []
    assert await tx_by_reference(uow_factory, f"{reference}:chargeback") is None

    await c.process([record(collected(reference, mortgage))])
    original = await tx_by_reference(uow_factory, reference)
    reversal = await tx_by_reference(uow_factory, f"{reference}:chargeback")
    assert original.reverted and reversal.reverts_id == original.id
    # the answer names the reversal's own event, so its sender can settle it
    assert reversal.source_event_id == str(early.event_id)
    async with uow_factory() as uow:
        volumes = await uow.journal.volumes_of("folio", [f"mortgages:{mortgage}"])
        waiting = await uow.parked.waiting("payment.reversed", [reference])
    assert volumes[(f"mortgages:{mortgage}", "CAD/2")].balance == 0
    assert waiting == []
    # redelivered later: an acknowledged duplicate, reverted once
    await c.process([record(reversal_of(reference, mortgage))])
    rejected = await outbox_events(uow_factory, "ledger.command.rejected", reference)
    assert [(e["data"]["code"], e["data"]["duplicate"]) for e in rejected] == [("DUPLICATE", True)]


async def test_a_parked_reversal_is_refused_with_its_refused_collection(
    uow_factory, journal_config
):
    c = consumer(uow_factory, journal_config)
    mortgage = unique("m")
    reference = f"rotessa:txn:{uuid.uuid4().int % 10**12}"
    early = reversal_of(reference, mortgage)
    await c.process([record(early)])
    bad = collected(reference, mortgage)
    bad.data["currency"] = "XXX"  # the journal cannot post it: the collection is refused
    await c.process([record(bad)])
    rejected = await outbox_events(uow_factory, "ledger.command.rejected", reference)
    by_type = {e["data"]["source_event_type"]: e["data"] for e in rejected}
    assert by_type["payment.collected"]["code"] == "INVALID"
    assert by_type["payment.reversed"]["code"] == "UNKNOWN_REFERENCE"
    assert by_type["payment.reversed"]["source_event_id"] == str(early.event_id)
    assert by_type["payment.reversed"]["reference"] == f"{reference}:chargeback"
