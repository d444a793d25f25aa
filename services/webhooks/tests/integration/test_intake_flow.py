"""A verified delivery is stored raw with its outbox rows; duplicates and reorders change nothing."""

import asyncio
import json
import uuid

import asyncpg
import pytest

from folio.simulators.payments.scenarios import arrange

from .conftest import events_for_invoice, send


def invoice() -> str:
    return f"INV-1999-{uuid.uuid4().int % 1_000_000:06d}"


async def test_moyasar_payment_is_stored_and_becomes_one_verified_event(client, providers, db):
    number = invoice()
    story = providers.pay("moyasar", number, "1500.25", "SAR", "mada_card")
    response = await send(client, story.deliveries[0])
    assert response.status_code == 200
    assert response.json()["state"] == "accepted"

    stored = await db.fetchrow(
        "SELECT * FROM deliveries WHERE id = $1", uuid.UUID(response.json()["delivery_id"])
    )
    assert stored["channel"] == "moyasar" and stored["invoice_number"] == number
    body = json.loads(stored["body"])
    assert body["data"]["amount"] == 150025
    assert body["secret_token"] == "[redacted]"  # the credential is never kept

    [event] = await events_for_invoice(db, number)
    assert event["event_type"] == "payment.verified"
    assert event["data"]["amount_minor"] == 150025
    assert event["data"]["currency"] == "SAR"
    assert event["data"]["method"] == "mada_card"


async def test_same_delivery_ten_times_concurrently_gives_ten_2xx_and_one_event(
    client, providers, db
):
    number = invoice()
    delivery = providers.pay("tabby", number, "99.99").deliveries[-1]
    responses = await asyncio.gather(*(send(client, delivery) for _ in range(10)))
    assert [r.status_code for r in responses] == [200] * 10
    states = sorted(r.json()["state"] for r in responses)
    assert states == ["accepted"] + ["duplicate"] * 9
    assert (
        await db.fetchval(
            "SELECT count(*) FROM deliveries WHERE invoice_number = $1 AND duplicate_of IS NULL",
            number,
        )
        == 1
    )
    events = await events_for_invoice(db, number)
    assert [e["event_type"] for e in events] == ["payment.verified"]


async def test_tabby_story_duplicated_and_reordered_emits_each_fact_once_in_order(
    client, providers, db
):
    number = invoice()
    story = providers.pay("tabby", number, "300.000", "KWD")
    refund_1 = providers.refund("tabby", story.payment_id, "100.000").deliveries
    refund_2 = providers.refund("tabby", story.payment_id, "50.500").deliveries
    deliveries = arrange(story.deliveries + refund_1 + refund_2, duplicate=2, reorder_seed=3)
    for delivery in deliveries:
        assert (await send(client, delivery)).status_code == 200
    events = await events_for_invoice(db, number)
    summary = [(e["event_type"], e["data"]["amount_minor"]) for e in events]
    verified = [s for s in summary if s[0] == "payment.verified"]
    refunds = sorted(s for s in summary if s[0] == "payment.refunded")
    assert verified == [("payment.verified", 300000)]
    assert refunds == [("payment.refunded", 50500), ("payment.refunded", 100000)]
    first_refund = next(i for i, s in enumerate(summary) if s[0] == "payment.refunded")
    assert summary.index(verified[0]) < first_refund
    assert all(e["data"]["currency"] == "KWD" for e in events)


async def test_moyasar_refund_before_payment_and_retries_end_in_the_right_totals(
    client, providers, db
):
    number = invoice()
    story = providers.pay("moyasar", number, "100.00")
    partial = providers.refund("moyasar", story.payment_id, "30.00").deliveries[0]
    rest = providers.refund("moyasar", story.payment_id, "70.00").deliveries[0]
    for delivery in [rest, partial, story.deliveries[0], rest, story.deliveries[0]]:
        assert (await send(client, delivery)).status_code == 200
    events = await events_for_invoice(db, number)
    assert [(e["event_type"], e["data"]["amount_minor"]) for e in events] == [
        ("payment.verified", 10000),
        ("payment.refunded", 10000),
    ]


async def test_tamara_refund_before_capture_is_parked_then_released(client, providers, db):
    number = invoice()
    story = providers.pay("tamara", number, "80.00")
    refund = providers.refund("tamara", story.payment_id, "20.00").deliveries[0]
    response = await send(client, refund)
    assert response.status_code == 200
    assert await events_for_invoice(db, number) == []
    reason = await db.fetchval(
        "SELECT reason FROM deliveries WHERE id = $1", uuid.UUID(response.json()["delivery_id"])
    )
    assert "parked" in reason
    for delivery in story.deliveries:
        assert (await send(client, delivery)).status_code == 200
    events = await events_for_invoice(db, number)
    assert [(e["event_type"], e["data"]["amount_minor"]) for e in events] == [
        ("payment.authorized", None),  # Tamara's order_authorised: no amount in it
        ("payment.verified", 8000),
        ("payment.refunded", 2000),
    ]


async def test_unmapped_and_rejected_deliveries_are_kept_with_a_reason(client, providers, db):
    no_reference = providers.pay("tamara", "", "10.00").deliveries[-1]
    response = await send(client, no_reference)
    assert response.status_code == 200 and response.json()["state"] == "unmapped"
    garbage = providers.pay("tabby", invoice(), "10.00").deliveries[0]
    garbage = garbage.with_body(b"{not json", "garbage")
    response = await send(client, garbage)
    assert response.status_code == 200 and response.json()["state"] == "rejected"
    rows = await db.fetch(
        "SELECT state, reason FROM deliveries WHERE id = ANY($1::uuid[])",
        [uuid.UUID(response.json()["delivery_id"])],
    )
    assert rows[0]["reason"]


async def test_different_deliveries_about_one_payment_at_once_emit_each_fact_once(
    client, providers, db
):
    number = invoice()
    story = providers.pay("tabby", number, "120.00")
    refunds = [
        providers.refund("tabby", story.payment_id, "20.00").deliveries[0],
        providers.refund("tabby", story.payment_id, "30.00").deliveries[0],
    ]
    everything = (story.deliveries + refunds) * 3
    responses = await asyncio.gather(*(send(client, d) for d in everything))
    assert all(r.status_code == 200 for r in responses)
    events = await events_for_invoice(db, number)
    # the authorization is emitted only if it was processed before the capture
    kinds = [e["event_type"] for e in events]
    assert kinds.count("payment.authorized") <= 1
    if "payment.authorized" in kinds:
        assert kinds.index("payment.authorized") < kinds.index("payment.verified")
    summary = sorted(
        (e["event_type"], e["data"]["amount_minor"])
        for e in events
        if e["event_type"] != "payment.authorized"
    )
    assert summary == [
        ("payment.refunded", 2000),
        ("payment.refunded", 3000),
        ("payment.verified", 12000),
    ]
    assert kinds.index("payment.verified") < kinds.index("payment.refunded")


async def test_what_a_delivery_received_cannot_be_changed_or_deleted(client, providers, db):
    response = await send(client, providers.pay("moyasar", invoice(), "3.00").deliveries[0])
    delivery_id = uuid.UUID(response.json()["delivery_id"])
    for statement in [
        "UPDATE deliveries SET body = 'forged'::bytea WHERE id = $1",
        "UPDATE deliveries SET headers = '{}'::jsonb WHERE id = $1",
        "UPDATE deliveries SET dedupe_key = 'other' WHERE id = $1",
        "DELETE FROM deliveries WHERE id = $1",
    ]:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute(statement, delivery_id)
    # its interpretation may still be updated (admin replay)
    await db.execute("UPDATE deliveries SET reason = 'checked' WHERE id = $1", delivery_id)
