"""ledger.entry.changed tells when the money of a payment was received
(``payment_verified_at``), partial payments included, so read models can date them."""

import uuid
from datetime import datetime, timedelta

from folio.shared.contracts import PaymentVerified

from .conftest import NOW, envelope
from .test_payment_events import consumer, new_entry, outbox_events, record


def paid(invoice: str, amount: int, when: datetime):
    return envelope(
        PaymentVerified(
            provider="moyasar",
            provider_payment_id="pay-" + uuid.uuid4().hex,
            provider_event_id="evt-" + uuid.uuid4().hex,
            invoice_number=invoice,
            amount_minor=amount,
            currency="SAR",
            verified_at=when,
        )
    )


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def test_partial_and_covering_payments_carry_their_verification_time(
    uow_factory, journal_config
):
    entry = await new_entry(uow_factory, amount=9_000)
    c = consumer(uow_factory, journal_config)
    earlier, later = NOW - timedelta(days=40), NOW - timedelta(days=3)
    # Two partial payments in one batch make one version: it carries the later time.
    await c.process(
        [
            record(paid(entry.invoice_number, 1_000, later)),
            record(paid(entry.invoice_number, 2_000, earlier)),
        ]
    )
    await c.process([record(paid(entry.invoice_number, 6_000, NOW))])
    events = [
        e["data"] for e in await outbox_events(uow_factory, "ledger.entry.changed", entry.entry_id)
    ]
    assert [(e["status"], e["paid_minor"]) for e in events] == [
        ("DUE", 0),
        ("DUE", 3_000),
        ("PAID", 9_000),
    ]
    assert [at(e["payment_verified_at"]) for e in events] == [None, later, NOW]
    assert at(events[2]["paid_at"]) == NOW
