"""End to end through the real broker: an invoice created in the ledger is paid through
each provider's simulator and webhook intake, and ends PAID with exactly one journal
transaction; a refund ends with one REFUND child; deliveries repeated, reordered or
replayed by an admin change nothing further."""

import asyncio

import asyncpg
import pytest

from folio.devstack.testing import admin_headers, eventually, running_app
from folio.ledger.app import create_app as create_ledger_app
from folio.ledger.settings import LedgerSettings
from folio.shared.settings import to_plain_url
from folio.simulators.payments.scenarios import PaymentProviders, arrange
from folio.webhooks.app import create_app as create_webhooks_app
from folio.webhooks.settings import WebhooksSettings


async def send(client, delivery):
    return await client.post(
        delivery.path, content=delivery.body, headers=delivery.headers, params=delivery.query
    )


@pytest.mark.parametrize("provider", ["moyasar", "tabby", "tamara"])
async def test_invoice_paid_and_refunded_through_each_provider(infra, provider):
    ledger_settings = LedgerSettings(
        database_url=await infra.service_database_url("ledger"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        log_json=False,
        log_level="WARNING",
    )
    webhooks_url = await infra.service_database_url("webhooks")
    webhooks_settings = WebhooksSettings(
        database_url=webhooks_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        log_json=False,
        log_level="WARNING",
    )
    staff = admin_headers(ledger_settings, roles=("admin",))
    providers = PaymentProviders()
    webhooks_db = await asyncpg.connect(
        to_plain_url(webhooks_url), server_settings={"search_path": "webhooks"}
    )
    try:
        async with (
            running_app(create_ledger_app(ledger_settings)) as ledger,
            running_app(create_webhooks_app(webhooks_settings)) as intake,
        ):
            body = {"entry_type": "RENT", "amount_minor": 350_000, "currency": "SAR"}
            created = await ledger.post("/api/ledger/entries", json=body, headers=staff)
            assert created.status_code == 201, created.text
            entry = created.json()
            invoice = entry["invoice_number"]

            async def entry_now():
                got = await ledger.get(f"/api/ledger/entries/{entry['entry_id']}", headers=staff)
                return got.json()

            async def refund_children():
                listed = await ledger.get(
                    "/api/ledger/entries",
                    headers=staff,
                    params={"parent_entry_id": entry["entry_id"]},
                )
                return [e for e in listed.json()["data"] if e["entry_type"] == "REFUND"]

            async def journal_transactions():
                listed = await ledger.get(
                    "/api/ledger/v2/folio/transactions",
                    headers=staff,
                    params={"account": f"invoices:{invoice}"},
                )
                return listed.json()["cursor"]["data"]

            # 1. the payer pays; the provider's deliveries arrive twice and out of order
            story = providers.pay(provider, invoice, "3500.00", "SAR")
            for delivery in arrange(story.deliveries, duplicate=2, reorder_seed=11):
                assert (await send(intake, delivery)).status_code == 200

            async def paid():
                return (await entry_now())["status"] == "PAID"

            await eventually(paid, timeout=60)
            assert (await entry_now())["paid_minor"] == 350_000
            assert len(await journal_transactions()) == 1

            # 2. a partial refund, delivered twice
            refund = providers.refund(provider, story.payment_id, "1000.00").deliveries
            for delivery in refund + refund:
                assert (await send(intake, delivery)).status_code == 200

            async def one_refund_child():
                return len(await refund_children()) == 1

            await eventually(one_refund_child, timeout=60)
            [child] = await refund_children()
            assert child["amount_minor"] == 100_000
            assert len(await journal_transactions()) == 2  # the payment and its reversal

            # 3. everything again, reordered: intake emits nothing new
            events_before = await webhooks_db.fetchval(
                "SELECT count(*) FROM outbox WHERE key = $1", invoice
            )
            everything = arrange(story.deliveries + refund, duplicate=2, reorder_seed=5)
            for delivery in everything:
                assert (await send(intake, delivery)).status_code == 200
            assert (
                await webhooks_db.fetchval("SELECT count(*) FROM outbox WHERE key = $1", invoice)
                == events_before
            )

            # 4. an admin replays the paying delivery: same event ids go out again
            first = await webhooks_db.fetchval(
                "SELECT delivery_id FROM payment_facts WHERE invoice_number = $1"
                " AND event_type = 'payment.verified'",
                invoice,
            )
            replay = await intake.post(
                f"/api/webhooks/admin/deliveries/{first}/replay",
                headers=admin_headers(webhooks_settings, roles=("admin",)),
            )
            assert replay.status_code == 200 and replay.json()["events_republished"] >= 1

            async def republished():
                return await webhooks_db.fetchval(
                    "SELECT bool_and(published_at IS NOT NULL) FROM outbox WHERE key = $1", invoice
                )

            await eventually(republished, timeout=60)
            await asyncio.sleep(3)  # give the ledger time to (not) react
            final = await entry_now()
            assert final["paid_minor"] == 350_000
            assert len(await refund_children()) == 1
            assert len(await journal_transactions()) == 2
            payments = await ledger.get(
                "/api/ledger/payments", headers=staff, params={"invoice_number": invoice}
            )
            assert len(payments.json()["data"]) == 1
    finally:
        await webhooks_db.close()


async def test_simulator_pay_endpoint_turns_an_invoice_paid(infra):
    """The documented local flow: ask the payment simulator to pay an invoice; watch it PAID."""
    import httpx

    from folio.simulators.payments import create_app as create_simulator_app
    from folio.simulators.payments.config import SimulatorSettings

    ledger_settings = LedgerSettings(
        database_url=await infra.service_database_url("ledger"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        log_json=False,
        log_level="WARNING",
    )
    webhooks_settings = WebhooksSettings(
        database_url=await infra.service_database_url("webhooks"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        log_json=False,
        log_level="WARNING",
    )
    staff = admin_headers(ledger_settings, roles=("admin",))
    webhooks_app = create_webhooks_app(webhooks_settings)
    async with (
        running_app(create_ledger_app(ledger_settings)) as ledger,
        running_app(webhooks_app),
    ):
        simulator = create_simulator_app(
            SimulatorSettings(intake_url="http://webhooks", backoff_seconds=0),
            transport=httpx.ASGITransport(app=webhooks_app),
        )
        body = {"entry_type": "RENT", "amount_minor": 12_345, "currency": "SAR"}
        entry = (await ledger.post("/api/ledger/entries", json=body, headers=staff)).json()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=simulator), base_url="http://payments-sim"
        ) as sim:
            paid = await sim.post(
                "/pay",
                json={
                    "provider": "moyasar",
                    "method": "apple_pay",
                    "invoice_number": entry["invoice_number"],
                    "amount": "123.45",
                    "currency": "SAR",
                },
            )
        assert paid.status_code == 200
        assert all(d["delivered"] for d in paid.json()["deliveries"])

        async def is_paid():
            got = await ledger.get(f"/api/ledger/entries/{entry['entry_id']}", headers=staff)
            return got.json()["status"] == "PAID"

        await eventually(is_paid, timeout=60)


async def test_tabby_authorization_sets_pending_and_its_expiry_fails_the_invoice(infra):
    """A BNPL authorization moves the invoice to PENDING (seed: a verified provider event
    may set PENDING); the authorization expiring moves it PENDING → FAILED; a capture of
    another authorized payment then settles it (FAILED → PENDING → PAID)."""
    ledger_settings = LedgerSettings(
        database_url=await infra.service_database_url("ledger"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        log_json=False,
        log_level="WARNING",
    )
    webhooks_settings = WebhooksSettings(
        database_url=await infra.service_database_url("webhooks"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        log_json=False,
        log_level="WARNING",
    )
    staff = admin_headers(ledger_settings, roles=("admin",))
    providers = PaymentProviders()
    async with (
        running_app(create_ledger_app(ledger_settings)) as ledger,
        running_app(create_webhooks_app(webhooks_settings)) as intake,
    ):
        body = {"entry_type": "RENT", "amount_minor": 200_000, "currency": "SAR"}
        entry = (await ledger.post("/api/ledger/entries", json=body, headers=staff)).json()
        invoice = entry["invoice_number"]

        async def status_is(expected):
            got = await ledger.get(f"/api/ledger/entries/{entry['entry_id']}", headers=staff)
            return got.json()["status"] == expected

        first = providers.tabby.new_payment(invoice, "2000.00", "SAR")
        assert (await send(intake, providers.tabby.authorize(first))).status_code == 200
        await eventually(lambda: status_is("PENDING"), timeout=60)

        assert (await send(intake, providers.tabby.expire(first))).status_code == 200
        await eventually(lambda: status_is("FAILED"), timeout=60)

        second = providers.tabby.new_payment(invoice, "2000.00", "SAR")
        assert (await send(intake, providers.tabby.authorize(second))).status_code == 200
        await eventually(lambda: status_is("PENDING"), timeout=60)
        assert (await send(intake, providers.tabby.capture(second))).status_code == 200
        await eventually(lambda: status_is("PAID"), timeout=60)

        audit = await ledger.get(f"/api/ledger/entries/{entry['entry_id']}/audit", headers=staff)
        assert audit.status_code == 200
        changes = [
            (a["details"]["previous_status"], a["details"]["status"])
            for a in audit.json()["data"]
            if a["action"] == "entry.status"
        ]
        assert ("DUE", "PENDING") in changes and ("FAILED", "PENDING") in changes


async def test_tamara_authorisation_sets_pending_and_its_capture_pays(infra):
    """Tamara's order_authorised carries no amount, yet it is the provider's word that the
    payment is authorised: the invoice goes PENDING, then PAID on capture."""
    ledger_settings = LedgerSettings(
        database_url=await infra.service_database_url("ledger"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test", log_json=False, log_level="WARNING",
    )
    webhooks_settings = WebhooksSettings(
        database_url=await infra.service_database_url("webhooks"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test", log_json=False, log_level="WARNING",
    )
    staff = admin_headers(ledger_settings, roles=("admin",))
    providers = PaymentProviders()
    async with (
        running_app(create_ledger_app(ledger_settings)) as ledger,
        running_app(create_webhooks_app(webhooks_settings)) as intake,
    ):
        body = {"entry_type": "RENT", "amount_minor": 150_000, "currency": "SAR"}
        entry = (await ledger.post("/api/ledger/entries", json=body, headers=staff)).json()

        async def status_is(expected):
            got = await ledger.get(f"/api/ledger/entries/{entry['entry_id']}", headers=staff)
            return got.json()["status"] == expected

        order = providers.tamara.new_order(entry["invoice_number"], "1500.00", "SAR")
        assert (await send(intake, providers.tamara.approve(order))).status_code == 200
        assert (await send(intake, providers.tamara.authorise(order))).status_code == 200
        await eventually(lambda: status_is("PENDING"), timeout=60)
        assert (await send(intake, providers.tamara.capture(order))).status_code == 200
        await eventually(lambda: status_is("PAID"), timeout=60)
