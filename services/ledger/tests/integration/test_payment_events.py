"""payment.verified / authorized / failed / refunded and renewal.requested through the real consumer
wrapper (inbox, one unit of work per batch) on the real database."""

import dataclasses
import json
from datetime import date

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import text

from folio.ledger.domain.receivables import EntryType
from folio.ledger.entrypoints.consumers import build_handlers
from folio.ledger.service import receivables
from folio.ledger.service.receivables import CreateEntry
from folio.shared.contracts import (
    PaymentAuthorized,
    PaymentFailed,
    PaymentRefunded,
    PaymentVerified,
    RenewalRequested,
)
from folio.shared.messaging.consumer import Consumer

from .conftest import NOW, envelope, unique

_offsets = iter(range(10**9))


def record(env) -> ConsumerRecord:
    value = env.model_dump_json().encode()
    return ConsumerRecord(
        topic=env.event_type,
        partition=0,
        offset=next(_offsets),
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=(),
    )


def consumer(uow_factory, journal_config) -> Consumer:
    handlers, batch_handlers = build_handlers(journal_config)
    return Consumer(
        name="ledger",
        uow_factory=uow_factory,
        handlers=handlers,
        batch_handlers=batch_handlers,
        service_name="ledger",
        max_attempts=2,
        backoff_seconds=0.01,
    )


async def new_entry(uow_factory, amount=10_000, currency="SAR", **kw):
    async with uow_factory() as uow:
        entry = await receivables.create_entry(
            CreateEntry(entry_type=EntryType.RENT, amount_minor=amount, currency=currency, **kw),
            uow,
            actor="test",
        )
        await uow.commit()
    return entry


def verified(invoice, amount=10_000, currency="SAR", payment_id=None, capture_id=None):
    return envelope(
        PaymentVerified(
            provider="moyasar",
            provider_payment_id=payment_id or unique("pay"),
            provider_event_id=unique("evt"),
            capture_id=capture_id,
            invoice_number=invoice,
            amount_minor=amount,
            currency=currency,
            verified_at=NOW,
        )
    )


async def entry_state(uow_factory, entry_id):
    async with uow_factory() as uow:
        return await uow.entries.get(entry_id)


async def outbox_events(uow_factory, topic, key_contains):
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            text("SELECT value FROM outbox WHERE topic = :t ORDER BY id"), {"t": topic}
        )
        events = [json.loads(r[0]) for r in rows]
    return [e for e in events if key_contains in json.dumps(e["data"])]


async def journal_for(uow_factory, invoice):
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            text("SELECT id, postings FROM transactions WHERE metadata->>'invoice_number' = :n"),
            {"n": invoice},
        )
        return list(rows)


async def test_verified_payment_marks_paid_posts_journal_and_emits(uow_factory, journal_config):
    entry = await new_entry(uow_factory)
    c = consumer(uow_factory, journal_config)
    env = verified(entry.invoice_number)
    await c.process([record(env)])
    paid = await entry_state(uow_factory, entry.entry_id)
    assert paid.status.value == "PAID" and paid.paid_minor == 10_000 and paid.paid_at == NOW
    changed = await outbox_events(uow_factory, "ledger.entry.changed", entry.entry_id)
    assert [e["data"]["status"] for e in changed] == ["DUE", "PAID"]
    txs = await journal_for(uow_factory, entry.invoice_number)
    assert len(txs) == 1
    assert txs[0].postings == [
        {
            "source": "world",
            "destination": f"invoices:{entry.invoice_number}",
            "amount": 10_000,
            "asset": "SAR/2",
        }
    ]
    # Redelivery of the same event: nothing more.
    await c.process([record(env)])
    assert len(await journal_for(uow_factory, entry.invoice_number)) == 1
    assert len(await outbox_events(uow_factory, "ledger.entry.changed", entry.entry_id)) == 2


async def test_same_payment_in_new_event_is_a_duplicate_noop(uow_factory, journal_config):
    entry = await new_entry(uow_factory)
    c = consumer(uow_factory, journal_config)
    first = verified(entry.invoice_number, amount=4_000, payment_id="p-dup-" + entry.entry_id)
    again = verified(entry.invoice_number, amount=4_000, payment_id="p-dup-" + entry.entry_id)
    await c.process([record(first), record(again)])
    state = await entry_state(uow_factory, entry.entry_id)
    assert state.paid_minor == 4_000 and state.status.value == "DUE"
    rejected = await outbox_events(uow_factory, "ledger.command.rejected", entry.invoice_number)
    assert [e["data"]["code"] for e in rejected] == ["DUPLICATE_PAYMENT"]
    assert rejected[0]["data"]["duplicate"] is True


async def test_partial_payments_in_one_batch_accumulate_then_paid(uow_factory, journal_config):
    entry = await new_entry(uow_factory, amount=9_000)
    c = consumer(uow_factory, journal_config)
    parts = [verified(entry.invoice_number, amount=3_000) for _ in range(2)]
    await c.process([record(e) for e in parts])
    state = await entry_state(uow_factory, entry.entry_id)
    assert state.status.value == "DUE" and state.paid_minor == 6_000
    await c.process([record(verified(entry.invoice_number, amount=5_000))])
    state = await entry_state(uow_factory, entry.entry_id)
    assert state.status.value == "PAID" and state.paid_minor == 11_000
    assert state.overpaid_minor == 2_000
    async with uow_factory() as uow:
        payments = await uow.entries.list_payments(entry.invoice_number, 10)
    assert sorted(p.reason_code or "" for p in payments) == ["", "", "OVERPAID"]
    assert len(await journal_for(uow_factory, entry.invoice_number)) == 3


async def test_unknown_invoice_and_wrong_currency_are_kept_with_reason(uow_factory, journal_config):
    entry = await new_entry(uow_factory)
    c = consumer(uow_factory, journal_config)
    unknown = verified("INV-1999-999999")
    wrong = verified(entry.invoice_number, currency="AED")
    await c.process([record(unknown), record(wrong)])
    state = await entry_state(uow_factory, entry.entry_id)
    assert state.status.value == "DUE" and state.paid_minor == 0
    async with uow_factory() as uow:
        kept = await uow.entries.list_payments(entry.invoice_number, 10)
        kept_unknown = await uow.entries.list_payments("INV-1999-999999", 10)
    assert [(p.applied, p.reason_code) for p in kept] == [(False, "CURRENCY_MISMATCH")]
    assert any(p.reason_code == "UNKNOWN_INVOICE" for p in kept_unknown)
    codes = {
        e["data"]["code"]
        for e in await outbox_events(uow_factory, "ledger.command.rejected", "")
        if e["data"]["source_event_id"] in {str(unknown.event_id), str(wrong.event_id)}
    }
    assert codes == {"UNKNOWN_INVOICE", "CURRENCY_MISMATCH"}
    assert await journal_for(uow_factory, entry.invoice_number) == []


async def test_payment_on_failed_or_void_entry_is_refused(uow_factory, journal_config):
    c = consumer(uow_factory, journal_config)
    for target in ("VOID", "FAILED"):
        entry = await new_entry(uow_factory)
        async with uow_factory() as uow:
            if target == "FAILED":
                await receivables.set_status_by_admin(uow, entry.entry_id, _S("PENDING"), "t")
            await receivables.set_status_by_admin(uow, entry.entry_id, _S(target), "t")
            await uow.commit()
        await c.process([record(verified(entry.invoice_number))])
        state = await entry_state(uow_factory, entry.entry_id)
        assert state.status.value == target and state.paid_minor == 0


def _S(value):
    from folio.ledger.domain.receivables import EntryStatus

    return EntryStatus(value)


async def test_payment_failed_follows_the_matrix(uow_factory, journal_config):
    c = consumer(uow_factory, journal_config)
    due = await new_entry(uow_factory)
    pending = await new_entry(uow_factory)
    async with uow_factory() as uow:
        await receivables.set_status_by_admin(uow, pending.entry_id, _S("PENDING"), "t")
        await uow.commit()

    def failed(invoice):
        return envelope(
            PaymentFailed(
                provider="tabby",
                provider_payment_id=unique("p"),
                provider_event_id=unique("e"),
                invoice_number=invoice,
                failed_at=NOW,
            )
        )

    await c.process([record(failed(due.invoice_number)), record(failed(pending.invoice_number))])
    assert (
        await entry_state(uow_factory, due.entry_id)
    ).status.value == "DUE"  # DUE→FAILED refused
    assert (await entry_state(uow_factory, pending.entry_id)).status.value == "FAILED"
    rejected = await outbox_events(uow_factory, "ledger.command.rejected", due.invoice_number)
    assert [e["data"]["code"] for e in rejected] == ["TRANSITION_NOT_ALLOWED"]


def refunded(invoice, amount, refund_id, payment_id):
    return envelope(
        PaymentRefunded(
            provider="moyasar",
            provider_payment_id=payment_id,
            provider_event_id=unique("e"),
            refund_id=refund_id,
            invoice_number=invoice,
            amount_minor=amount,
            currency="SAR",
            refunded_at=NOW,
        )
    )


async def test_refunds_create_children_once_and_full_refund_moves_parent(
    uow_factory, journal_config
):
    entry = await new_entry(uow_factory)
    c = consumer(uow_factory, journal_config)
    pay = unique("pay")
    await c.process([record(verified(entry.invoice_number, payment_id=pay))])
    first = refunded(entry.invoice_number, 4_000, unique("r"), pay)
    await c.process([record(first)])
    # same provider refund id in a new event: applied once
    await c.process([record(refunded(entry.invoice_number, 4_000, first.payload().refund_id, pay))])
    state = await entry_state(uow_factory, entry.entry_id)
    assert state.status.value == "PAID" and state.refunded_minor == 4_000
    # more than what is left → refused, nothing changes
    await c.process([record(refunded(entry.invoice_number, 6_001, unique("r"), pay))])
    assert (await entry_state(uow_factory, entry.entry_id)).refunded_minor == 4_000
    await c.process([record(refunded(entry.invoice_number, 6_000, unique("r"), pay))])
    state = await entry_state(uow_factory, entry.entry_id)
    assert state.status.value == "REFUNDED" and state.refunded_minor == 10_000
    async with uow_factory() as uow:
        children = await uow.entries.list(limit=10, parent_entry_id=entry.entry_id)
        balance = await uow.journal.volumes_of("folio", [f"invoices:{entry.invoice_number}"])
    assert [(e.entry_type.value, e.amount_minor, e.status.value) for _, e in children] == [
        ("REFUND", 4_000, "REFUNDED"),
        ("REFUND", 6_000, "REFUNDED"),
    ]
    assert balance[(f"invoices:{entry.invoice_number}", "SAR/2")].balance == 0
    codes = [
        e["data"]["code"]
        for e in await outbox_events(uow_factory, "ledger.command.rejected", entry.invoice_number)
    ]
    assert codes == ["DUPLICATE_REFUND", "REFUND_EXCEEDS_PAID"]
    parent_events = [
        e["data"]
        for e in await outbox_events(uow_factory, "ledger.entry.changed", entry.entry_id)
        if e["data"]["entry_id"] == entry.entry_id
    ]
    assert [(e["status"], e["refunded_minor"]) for e in parent_events] == [
        ("DUE", 0),
        ("PAID", 0),
        ("PAID", 4_000),
        ("REFUNDED", 10_000),
    ]
    versions = [e["version"] for e in parent_events]
    assert versions == sorted(set(versions))  # strictly increasing for consumers


async def test_refund_before_its_payment_is_applied_when_the_payment_arrives(
    uow_factory, journal_config
):
    entry = await new_entry(uow_factory)
    c = consumer(uow_factory, journal_config)
    pay = unique("pay")
    early = refunded(entry.invoice_number, 10_000, unique("r"), pay)
    await c.process([record(early)])
    assert (await entry_state(uow_factory, entry.entry_id)).status.value == "DUE"
    await c.process([record(verified(entry.invoice_number, payment_id=pay))])
    state = await entry_state(uow_factory, entry.entry_id)
    assert state.status.value == "REFUNDED" and state.refunded_minor == 10_000
    statuses = [
        e["data"]["status"]
        for e in await outbox_events(uow_factory, "ledger.entry.changed", entry.entry_id)
        if e["data"]["entry_id"] == entry.entry_id
    ]
    assert statuses == ["DUE", "PAID", "REFUNDED"]
    # the refund event redelivered later is a duplicate, not a second refund
    await c.process(
        [record(refunded(entry.invoice_number, 10_000, early.payload().refund_id, pay))]
    )
    assert (await entry_state(uow_factory, entry.entry_id)).refunded_minor == 10_000


async def test_renewal_requested_creates_one_renewal_invoice(uow_factory, journal_config):
    c = consumer(uow_factory, journal_config)
    extension_id = unique("ext")

    def requested():
        return envelope(
            RenewalRequested(
                extension_id=extension_id,
                booking_id="b-1",
                building_id="bld-1",
                unit_id="u-1",
                amount_minor=250_000,
                currency="SAR",
                due_date=date(2026, 12, 1),
                new_end_date=date(2027, 1, 1),
                requested_at=NOW,
            )
        )

    await c.process([record(requested())])
    await c.process([record(requested())])  # another event for the same extension
    async with uow_factory() as uow:
        entry = await uow.entries.by_extension(extension_id)
        rows = await uow.session.execute(
            text("SELECT count(*) FROM entries WHERE extension_id = :x"), {"x": extension_id}
        )
    assert rows.scalar_one() == 1
    assert entry.entry_type.value == "RENEWAL_RENT" and entry.status.value == "DUE"
    assert entry.amount_minor == 250_000 and entry.unit_id == "u-1"


async def test_poison_payment_goes_to_dead_letters(uow_factory, journal_config):
    c = consumer(uow_factory, journal_config)
    bad = record(verified("INV-2026-000001"))
    bad = dataclasses.replace(bad, value=b'{"event_type": "payment.verified", "nonsense": true}')
    await c.process([bad])
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            text('SELECT error FROM dead_letters WHERE "offset" = :o'), {"o": bad.offset}
        )
        assert "undecodable" in rows.scalar_one()


def authorized(invoice, payment_id, amount=10_000, currency="SAR", provider="tabby"):
    return envelope(
        PaymentAuthorized(
            provider=provider,
            provider_payment_id=payment_id,
            provider_event_id=unique("e"),
            invoice_number=invoice,
            amount_minor=amount,
            currency=currency,
            authorized_at=NOW,
        )
    )


def failed_payment(invoice, payment_id, provider="tabby"):
    return envelope(
        PaymentFailed(
            provider=provider,
            provider_payment_id=payment_id,
            provider_event_id=unique("e"),
            invoice_number=invoice,
            reason="expired",
            failed_at=NOW,
        )
    )


def tabby_verified(invoice, payment_id, amount=10_000):
    return envelope(
        PaymentVerified(
            provider="tabby",
            provider_payment_id=payment_id,
            provider_event_id=unique("evt"),
            capture_id=unique("cap"),
            invoice_number=invoice,
            amount_minor=amount,
            currency="SAR",
            verified_at=NOW,
        )
    )


async def statuses_emitted(uow_factory, entry_id):
    return [
        e["data"]["status"]
        for e in await outbox_events(uow_factory, "ledger.entry.changed", entry_id)
        if e["data"]["entry_id"] == entry_id
    ]


async def test_authorization_sets_pending_then_capture_sets_paid(uow_factory, journal_config):
    entry = await new_entry(uow_factory)
    c = consumer(uow_factory, journal_config)
    pay = unique("tabby")
    event = authorized(entry.invoice_number, pay)
    await c.process([record(event)])
    assert (await entry_state(uow_factory, entry.entry_id)).status.value == "PENDING"
    await c.process([record(event)])  # redelivered: the inbox makes it a no-op
    await c.process([record(authorized(entry.invoice_number, pay))])  # a new event, same payment
    await c.process([record(tabby_verified(entry.invoice_number, pay))])
    state = await entry_state(uow_factory, entry.entry_id)
    assert state.status.value == "PAID" and state.paid_minor == 10_000
    assert await statuses_emitted(uow_factory, entry.entry_id) == ["DUE", "PENDING", "PAID"]
    assert len(await journal_for(uow_factory, entry.invoice_number)) == 1
    async with uow_factory() as uow:
        audit = await uow.audit_trail("entry", entry.entry_id)
    assert any(a["action"] == "entry.status" and a["details"]["status"] == "PENDING" for a in audit)


async def test_authorization_then_expiry_ends_failed(uow_factory, journal_config):
    entry = await new_entry(uow_factory)
    c = consumer(uow_factory, journal_config)
    pay = unique("tabby")
    await c.process([record(authorized(entry.invoice_number, pay))])
    await c.process([record(failed_payment(entry.invoice_number, pay))])
    assert (await entry_state(uow_factory, entry.entry_id)).status.value == "FAILED"
    # a new attempt with another payment: FAILED → PENDING (the matrix allows it)
    await c.process([record(authorized(entry.invoice_number, unique("tabby")))])
    assert (await entry_state(uow_factory, entry.entry_id)).status.value == "PENDING"


@pytest.mark.parametrize(
    ("story", "statuses"),
    [
        (["authorized", "verified"], ["DUE", "PENDING", "PAID"]),
        (["verified", "authorized"], ["DUE", "PAID"]),  # a late authorization is stale
        (["authorized", "failed"], ["DUE", "PENDING", "FAILED"]),
        (["failed", "authorized"], ["DUE", "PENDING", "FAILED"]),  # as if in order
    ],
)
@pytest.mark.parametrize("one_batch", [False, True])
async def test_any_delivery_order_ends_as_the_providers_order(
    uow_factory, journal_config, story, statuses, one_batch
):
    entry = await new_entry(uow_factory)
    c = consumer(uow_factory, journal_config)
    pay = unique("tabby")
    make = {
        "authorized": lambda: authorized(entry.invoice_number, pay),
        "verified": lambda: tabby_verified(entry.invoice_number, pay),
        "failed": lambda: failed_payment(entry.invoice_number, pay),
    }
    records = [record(make[step]()) for step in story]
    if one_batch:
        await c.process(records)
    else:
        for r in records:
            await c.process([r])
    state = await entry_state(uow_factory, entry.entry_id)
    assert state.status.value == statuses[-1]
    assert state.paid_minor == (10_000 if statuses[-1] == "PAID" else 0)
    assert await statuses_emitted(uow_factory, entry.entry_id) == statuses


async def test_authorization_that_cannot_apply_is_kept_as_a_rejection(uow_factory, journal_config):
    c = consumer(uow_factory, journal_config)
    void = await new_entry(uow_factory)
    async with uow_factory() as uow:
        await receivables.set_status_by_admin(uow, void.entry_id, _S("VOID"), "t")
        await uow.commit()
    other = await new_entry(uow_factory)
    events = [
        authorized(void.invoice_number, unique("p")),
        authorized("INV-1999-999998", unique("p")),
        authorized(other.invoice_number, unique("p"), currency="AED"),
    ]
    await c.process([record(e) for e in events])
    assert (await entry_state(uow_factory, void.entry_id)).status.value == "VOID"
    assert (await entry_state(uow_factory, other.entry_id)).status.value == "DUE"
    codes = {
        e["data"]["source_event_id"]: e["data"]["code"]
        for e in await outbox_events(uow_factory, "ledger.command.rejected", "")
        if e["data"]["source_event_type"] == "payment.authorized"
    }
    assert [codes[str(e.event_id)] for e in events] == [
        "TRANSITION_NOT_ALLOWED",
        "UNKNOWN_INVOICE",
        "CURRENCY_MISMATCH",
    ]


async def test_authorization_after_another_payment_settled_the_entry_changes_nothing(
    uow_factory, journal_config
):
    entry = await new_entry(uow_factory)
    c = consumer(uow_factory, journal_config)
    await c.process([record(verified(entry.invoice_number))])  # paid by card
    await c.process([record(authorized(entry.invoice_number, unique("tabby")))])
    state = await entry_state(uow_factory, entry.entry_id)
    assert state.status.value == "PAID"
    rejected = await outbox_events(uow_factory, "ledger.command.rejected", entry.invoice_number)
    assert [e["data"]["code"] for e in rejected] == ["ENTRY_IMMUTABLE"]


async def test_a_provider_refund_of_a_fully_refunded_entry_is_refused_not_parked(
    uow_factory, journal_config
):
    entry = await new_entry(uow_factory)
    c = consumer(uow_factory, journal_config)
    pay = unique("pay")
    await c.process([record(verified(entry.invoice_number, payment_id=pay))])
    await c.process([record(refunded(entry.invoice_number, 10_000, unique("r"), pay))])
    late = refunded(entry.invoice_number, 1_000, unique("r"), unique("other-pay"))
    await c.process([record(late)])
    async with uow_factory() as uow:
        parked = await uow.session.execute(
            text(
                "SELECT count(*) FROM parked_events"
                " WHERE kind = 'payment.refunded' AND payload->>'invoice_number' = :n"
            ),
            {"n": entry.invoice_number},
        )
        assert parked.scalar_one() == 0
    rejected = await outbox_events(uow_factory, "ledger.command.rejected", entry.invoice_number)
    assert [e["data"]["code"] for e in rejected] == ["REFUND_EXCEEDS_PAID"]
