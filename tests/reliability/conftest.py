"""Fault-injection tests across services (QUALITY.md, reliability). Seeded: set
FOLIO_FAULT_SEED to replay a run; the seed in use is printed on failure."""

import os
import random
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from folio.devstack.testing import admin_headers
from folio.ledger.settings import LedgerSettings
from folio.shared.contracts import PaymentRefunded, PaymentVerified, new_envelope
from folio.shared.settings import to_plain_url
from folio.webhooks.settings import WebhooksSettings

SEED = int(os.environ.get("FOLIO_FAULT_SEED", "20261121"))


def pytest_report_header(config):
    return f"reliability fault seed: FOLIO_FAULT_SEED={SEED}"


@pytest.fixture
def rng() -> random.Random:
    return random.Random(SEED)


def quiet(settings_class, **values):
    return settings_class(environment="test", log_json=False, log_level="WARNING", **values)


@pytest.fixture
async def ledger_settings(infra) -> LedgerSettings:
    return quiet(
        LedgerSettings,
        database_url=await infra.service_database_url("ledger"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        seal_interval_seconds=0.5,
    )


@pytest.fixture
async def webhooks_settings(infra) -> WebhooksSettings:
    return quiet(
        WebhooksSettings,
        database_url=await infra.service_database_url("webhooks"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
    )


@pytest.fixture
def staff(ledger_settings) -> dict[str, str]:
    return admin_headers(ledger_settings, roles=("admin",))


@pytest.fixture
async def ledger_db(ledger_settings):
    conn = await asyncpg.connect(
        to_plain_url(ledger_settings.database_url), server_settings={"search_path": "ledger"}
    )
    yield conn
    await conn.close()


@pytest.fixture
async def producer(infra):
    kafka = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await kafka.start()
    yield kafka
    await kafka.stop()


async def create_invoices(client, staff, count: int, amount_minor: int = 100_000) -> list[dict]:
    entries = []
    for _ in range(count):
        created = await client.post(
            "/api/ledger/entries",
            json={"entry_type": "RENT", "amount_minor": amount_minor, "currency": "SAR"},
            headers=staff,
        )
        assert created.status_code == 201, created.text
        entries.append(created.json())
    return entries


def verified(invoice: str, amount_minor: int, payment_id: str | None = None) -> PaymentVerified:
    payment_id = payment_id or f"pay_{uuid.uuid4().hex[:12]}"
    return PaymentVerified(
        provider="moyasar", provider_payment_id=payment_id,
        provider_event_id=f"evt_{uuid.uuid4().hex[:12]}", invoice_number=invoice,
        amount_minor=amount_minor, currency="SAR", verified_at=datetime.now(UTC),
    )


def refunded(invoice: str, amount_minor: int, payment_id: str, refund_id: str) -> PaymentRefunded:
    return PaymentRefunded(
        provider="moyasar", provider_payment_id=payment_id,
        provider_event_id=f"evt_{uuid.uuid4().hex[:12]}", refund_id=refund_id,
        invoice_number=invoice, amount_minor=amount_minor, currency="SAR",
        refunded_at=datetime.now(UTC),
    )


async def publish(producer, payload, key: str | None = None) -> None:
    envelope = new_envelope(payload, producer="test")
    await producer.send_and_wait(
        envelope.event_type,
        value=envelope.model_dump_json().encode(),
        key=(key or payload.aggregate_key()).encode(),
    )


async def invoice_transactions(ledger_db, invoice: str) -> int:
    """Journal transactions that touched the invoice's account (payments and reversals)."""
    return await ledger_db.fetchval(
        "SELECT count(DISTINCT transaction_id) FROM moves WHERE address = $1",
        f"invoices:{invoice}",
    )


async def assert_invariants(client, staff) -> None:
    # the service's own journal (other tests force overdrafts in their own ledgers)
    checked = await client.get(
        "/api/ledger/journal/invariants", headers=staff, params={"ledger": "folio"}
    )
    assert checked.status_code == 200, checked.text
    assert checked.json() == {"ok": True, "problems": []}
