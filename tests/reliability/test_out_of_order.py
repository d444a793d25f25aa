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


async def test_payment_facts_across_topics_end_as_the_providers_order(
    ledger_settings, staff, ledger_db, producer
):
    """payment.verified / payment.failed overtaking their payment.authorized (another
    topic) through the real broker: the capture still ends PAID, the expiry FAILED."""
    from datetime import UTC, datetime

    from folio.shared.contracts import PaymentAuthorized, PaymentFailed, new_envelope

    def authorization(invoice, payment_id):
        return PaymentAuthorized(
            provider="tabby", provider_payment_id=payment_id,
            provider_event_id=f"evt_auth_{payment_id}", invoice_number=invoice,
            amount_minor=80_000, currency="SAR", authorized_at=datetime.now(UTC),
        )  # fmt: skip

    async def publish_and_wait(payload):
        envelope = new_envelope(payload, producer="test")
        await producer.send_and_wait(
            envelope.event_type,
            value=envelope.model_dump_json().encode(),
            key=payload.aggregate_key().encode(),
        )

        async def handled():
            return await ledger_db.fetchval(
                "SELECT count(*) FROM processed_messages WHERE event_id = $1", envelope.event_id
            )

        await eventually(handled, timeout=60)

    async with running_app(create_ledger_app(ledger_settings)) as ledger:
        captured, expired = await create_invoices(ledger, staff, 2, amount_minor=80_000)

        async def status(entry):
            got = await ledger.get(f"/api/ledger/entries/{entry['entry_id']}", headers=staff)
            return got.json()["status"]

        pay = "tabby_capture_first_" + captured["invoice_number"]
        await publish_and_wait(verified(captured["invoice_number"], 80_000, pay))
        assert await status(captured) == "PAID"
        await publish_and_wait(authorization(captured["invoice_number"], pay))
        assert await status(captured) == "PAID"  # the late authorization is stale

        pay = "tabby_expiry_first_" + expired["invoice_number"]
        await publish_and_wait(
            PaymentFailed(
                provider="tabby", provider_payment_id=pay, provider_event_id=f"evt_fail_{pay}",
                invoice_number=expired["invoice_number"], reason="expired",
                failed_at=datetime.now(UTC),
            )
        )  # fmt: skip
        assert await status(expired) == "DUE"  # DUE → FAILED is not an edge of the matrix
        await publish_and_wait(authorization(expired["invoice_number"], pay))
        assert await status(expired) == "FAILED"  # DUE → PENDING → FAILED, as in order
        await assert_invariants(ledger, staff)
