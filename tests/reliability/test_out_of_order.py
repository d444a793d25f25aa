"""QUALITY.md 7: events of one payment out of order (refund before paid, duplicate
paid) end in the right state; the journal invariants hold afterwards."""

from folio.devstack.testing import eventually, running_app
from folio.ledger.app import create_app as create_ledger_app

from .conftest import (
    assert_invariants,
    create_invoices,
    invoice_transactions,
    publish,
    refunded,
    verified,
)


async def test_duplicate_and_out_of_order_payment_events_end_in_the_right_state(
    ledger_settings, staff, ledger_db, producer
):
    async with running_app(create_ledger_app(ledger_settings)) as ledger:
        [entry] = await create_invoices(ledger, staff, 1, amount_minor=80_000)
        invoice = entry["invoice_number"]
        payment_id = "pay_out_of_order_" + invoice
        # the refund overtakes the payment; the payment then arrives twice
        await publish(producer, refunded(invoice, 30_000, payment_id, "rf_" + invoice))

        async def refund_seen_before_payment():
            # held until its payment lands (the ledger parks refunds it cannot apply yet)
            return await ledger_db.fetchval(
                "SELECT count(*) FROM parked_events WHERE kind = 'payment.refunded'"
                " AND payload->>'invoice_number' = $1",
                invoice,
            )

        await eventually(refund_seen_before_payment, timeout=60)
        await publish(producer, verified(invoice, 80_000, payment_id))
        await publish(producer, verified(invoice, 80_000, payment_id))

        async def refunded_child():
            listed = await ledger.get(
                "/api/ledger/entries", headers=staff, params={"parent_entry_id": entry["entry_id"]}
            )
            return [e for e in listed.json()["data"] if e["entry_type"] == "REFUND"]

        await eventually(refunded_child, timeout=60)
        got = (await ledger.get(f"/api/ledger/entries/{entry['entry_id']}", headers=staff)).json()
        assert got["status"] == "PAID"
        assert got["paid_minor"] == 80_000
        assert got["refunded_minor"] == 30_000
        assert len(await refunded_child()) == 1
        assert await invoice_transactions(ledger_db, invoice) == 2  # payment + refund
        await assert_invariants(ledger, staff)
