"""End to end through the real broker: payment.verified published → entry PAID →
ledger.entry.changed observed on Kafka; a redelivery changes nothing."""

import json
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from folio.devstack.testing import admin_headers, eventually, running_app
from folio.ledger.app import create_app
from folio.ledger.settings import LedgerSettings
from folio.shared.contracts import PaymentVerified, new_envelope


def payment_for(invoice_number: str, amount_minor: int) -> bytes:
    payload = PaymentVerified(
        provider="moyasar",
        provider_payment_id=f"pay-{uuid.uuid4()}",
        provider_event_id=f"evt-{uuid.uuid4()}",
        invoice_number=invoice_number,
        amount_minor=amount_minor,
        currency="SAR",
        method="mada_card",
        verified_at=datetime.now(UTC),
    )
    return new_envelope(payload, producer="webhooks").model_dump_json().encode()


async def test_payment_verified_to_paid_and_entry_changed_once(infra):
    settings = LedgerSettings(
        database_url=await infra.service_database_url("ledger"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        log_json=False,
        log_level="WARNING",
    )
    headers = admin_headers(settings)
    watcher = AIOKafkaConsumer(
        "ledger.entry.changed",
        bootstrap_servers=infra.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"e2e-watch-{uuid.uuid4().hex[:8]}",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap_servers, enable_idempotence=False
    )
    await watcher.start()
    await producer.start()
    changes: dict[str, list[dict]] = {}

    async def collect() -> None:
        batch = await watcher.getmany(timeout_ms=300)
        for records in batch.values():
            for r in records:
                data = json.loads(r.value)["data"]
                changes.setdefault(data["entry_id"], []).append(data)

    try:
        async with running_app(create_app(settings)) as client:
            body = {"entry_type": "RENT", "amount_minor": 350_000, "currency": "SAR"}
            entry = (await client.post("/api/ledger/entries", json=body, headers=headers)).json()
            invoice = entry["invoice_number"]
            event = payment_for(invoice, 350_000)
            await producer.send_and_wait("payment.verified", value=event, key=invoice.encode())

            async def paid_announced():
                await collect()
                return any(c["status"] == "PAID" for c in changes.get(entry["entry_id"], []))

            await eventually(paid_announced, timeout=60)
            got = await client.get(f"/api/ledger/entries/{entry['entry_id']}", headers=headers)
            assert got.json()["status"] == "PAID" and got.json()["paid_minor"] == 350_000

            # Redeliver the very same bytes, then a marker on the same key (same partition,
            # so it is consumed after the duplicate).
            await producer.send_and_wait("payment.verified", value=event, key=invoice.encode())
            marker = (await client.post("/api/ledger/entries", json=body, headers=headers)).json()
            await producer.send_and_wait(
                "payment.verified",
                value=payment_for(marker["invoice_number"], 350_000),
                key=invoice.encode(),
            )

            async def marker_paid():
                await collect()
                return any(c["status"] == "PAID" for c in changes.get(marker["entry_id"], []))

            await eventually(marker_paid, timeout=60)
            await collect()
            statuses = [c["status"] for c in changes[entry["entry_id"]]]
            assert statuses == ["DUE", "PAID"]
            payments = await client.get(
                "/api/ledger/payments", params={"invoice_number": invoice}, headers=headers
            )
            assert len(payments.json()["data"]) == 1
            listed = await client.get(
                "/api/ledger/v2/folio/transactions",
                params={"account": f"invoices:{invoice}"},
                headers=headers,
            )
            assert len(listed.json()["cursor"]["data"]) == 1
    finally:
        await producer.stop()
        await watcher.stop()
