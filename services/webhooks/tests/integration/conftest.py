"""Fixtures for webhooks integration tests: the real app on the real embedded Postgres."""

import asyncpg
import httpx
import pytest

from folio.devstack.testing import running_app
from folio.shared.settings import to_plain_url
from folio.simulators.payments.scenarios import PaymentProviders
from folio.simulators.payments.wire import Delivery
from folio.webhooks.app import create_app
from folio.webhooks.settings import WebhooksSettings


@pytest.fixture(scope="session")
async def webhooks_database_url(infra) -> str:
    return await infra.service_database_url("webhooks")


@pytest.fixture
def settings(webhooks_database_url, infra) -> WebhooksSettings:
    """Messaging off: intake never needs the broker to answer (tests that need it turn it on)."""
    return WebhooksSettings(
        database_url=webhooks_database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        run_messaging=False,
        log_json=False,
    )


@pytest.fixture
async def client(settings):
    async with running_app(create_app(settings)) as http:
        yield http


@pytest.fixture
def providers() -> PaymentProviders:
    return PaymentProviders()


@pytest.fixture
async def db(webhooks_database_url):
    conn = await asyncpg.connect(
        to_plain_url(webhooks_database_url), server_settings={"search_path": "webhooks"}
    )
    yield conn
    await conn.close()


def unique_invoice_number() -> str:
    """Year 1999: the ledger never issues these, so events from these tests can never
    pay a real invoice when a later test in the session starts the outbox relay."""
    import uuid

    return f"INV-1999-{uuid.uuid4().int % 1_000_000:06d}"


async def send(client: httpx.AsyncClient, delivery: Delivery) -> httpx.Response:
    return await client.post(
        delivery.path, content=delivery.body, headers=delivery.headers, params=delivery.query
    )


async def stored_counts(db) -> tuple[int, int]:
    """(deliveries, outbox rows): a refused delivery must change neither."""
    deliveries = await db.fetchval("SELECT count(*) FROM deliveries")
    events = await db.fetchval("SELECT count(*) FROM outbox")
    return deliveries, events


async def events_for_invoice(db, invoice_number: str) -> list[dict]:
    rows = await db.fetch(
        "SELECT topic, key, value, event_id FROM outbox WHERE key = $1 ORDER BY id",
        invoice_number,
    )
    import json

    return [
        {"topic": r["topic"], "event_id": r["event_id"], **json.loads(r["value"])} for r in rows
    ]


def signed_request(channel: str, body: bytes, providers: PaymentProviders) -> dict:
    """Keyword arguments for ``client.post`` carrying ``body`` with a valid credential
    (a Moyasar body carries its own, or does not)."""
    import uuid
    from datetime import UTC, datetime

    from standardwebhooks.webhooks import Webhook

    from folio.simulators.payments.wire import LOCAL_STANDARD_WEBHOOK_SECRET

    headers = {"Content-Type": "application/json"}
    if channel == "tabby":
        headers[providers.tabby.header_name] = providers.tabby.header_value
    elif channel == "tamara":
        headers["Authorization"] = f"Bearer {providers.tamara.token()}"
    elif channel == "standard":
        msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
        headers["webhook-id"] = msg_id
        headers["webhook-timestamp"] = str(int(now.timestamp()))
        headers["webhook-signature"] = Webhook(LOCAL_STANDARD_WEBHOOK_SECRET).sign(
            msg_id, now, body.decode()
        )
    return {"url": f"/api/webhooks/{channel}", "content": body, "headers": headers}
