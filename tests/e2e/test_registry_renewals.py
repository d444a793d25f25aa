"""End to end through the real broker: renewals across registry, ledger and webhook intake.

LOCAL unit: the registry asks for a renewal (renewal.requested) → the ledger issues the
RENEWAL_RENT invoice (ledger.entry.changed DUE) → the tenant pays it through the
Moyasar simulator and webhook intake → the ledger marks it PAID → the registry
activates the extension, extends the booking and counts the payment in its KPIs.

Beds24 unit: approval is refused without a change note and accepted with one; Folio
reads Beds24 (simulator) and never sends it a write.
"""

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from folio.devstack.testing import admin_headers, eventually, running_app
from folio.ledger.app import create_app as create_ledger_app
from folio.ledger.settings import LedgerSettings
from folio.registry.adapters.beds24 import Beds24ReadClient
from folio.registry.app import create_app as create_registry_app
from folio.registry.settings import RegistrySettings
from folio.simulators.beds24 import Beds24SimState, SimBooking, SimRoom
from folio.simulators.beds24 import create_app as create_beds24_sim
from folio.simulators.payments.scenarios import PaymentProviders
from folio.webhooks.app import create_app as create_webhooks_app
from folio.webhooks.settings import WebhooksSettings

REGISTRY = "/api/registry"


def common(infra) -> dict:
    return {
        "kafka_bootstrap_servers": infra.kafka_bootstrap_servers,
        "environment": "test",
        "log_json": False,
        "log_level": "WARNING",
    }


async def registry_settings(infra) -> RegistrySettings:
    return RegistrySettings(
        database_url=await infra.service_database_url("registry"),
        run_jobs=False,
        **common(infra),
    )


async def setup_booking(registry, staff, *, beds24_property: int | None = None) -> dict:
    code = "E2E-" + uuid.uuid4().hex[:8].upper()
    building = (
        await registry.post(
            f"{REGISTRY}/buildings", json={"code": code, "name": "E2E Tower"}, headers=staff
        )
    ).json()
    unit = (
        await registry.post(
            f"{REGISTRY}/units",
            json={
                "building_id": building["id"],
                "code": "101",
                "monthly_base_rent_minor": 450_000,
            },
            headers=staff,
        )
    ).json()
    if beds24_property is not None:
        mapped = await registry.put(
            f"{REGISTRY}/units/{unit['id']}/beds24-map",
            json={
                "beds24_property_id": beds24_property,
                "beds24_room_id": 7,
                "source_of_truth": "BEDS24",
            },
            headers=staff,
        )
        assert mapped.status_code == 200
    today = datetime.now(ZoneInfo("Asia/Riyadh")).date()
    booking = await registry.post(
        f"{REGISTRY}/bookings",
        json={
            "unit_id": unit["id"],
            "guest_name": "Sara",
            "start_date": (today - timedelta(days=25)).isoformat(),
            "end_date": (today + timedelta(days=5)).isoformat(),
            "max_renewals": 1,
            "renewal_window_days": 14,
        },
        headers=staff,
    )
    assert booking.status_code == 201, booking.text
    return {"building": building, "unit": unit, "booking": booking.json()}


async def test_local_renewal_paid_through_a_provider_activates_the_extension(infra):
    registry_cfg = await registry_settings(infra)
    ledger_cfg = LedgerSettings(
        database_url=await infra.service_database_url("ledger"), **common(infra)
    )
    webhooks_cfg = WebhooksSettings(
        database_url=await infra.service_database_url("webhooks"), **common(infra)
    )
    staff = admin_headers(registry_cfg, roles=("admin",))
    providers = PaymentProviders()
    async with (
        running_app(create_registry_app(registry_cfg)) as registry,
        running_app(create_ledger_app(ledger_cfg)) as ledger,
        running_app(create_webhooks_app(webhooks_cfg)) as intake,
    ):
        made = await setup_booking(registry, staff)
        booking = made["booking"]
        requested = await registry.post(
            f"{REGISTRY}/bookings/{booking['id']}/extensions", json={"months": 1}, headers=staff
        )
        assert requested.status_code == 201, requested.text
        extension = requested.json()
        assert extension["status"] == "PAYMENT_PENDING"

        async def invoiced():
            got = await registry.get(f"{REGISTRY}/extensions/{extension['id']}", headers=staff)
            return got.json()["ledger_entry_id"]

        entry_id = await eventually(invoiced, timeout=60)
        entry = (await ledger.get(f"/api/ledger/entries/{entry_id}", headers=staff)).json()
        assert (entry["entry_type"], entry["status"]) == ("RENEWAL_RENT", "DUE")
        assert entry["amount_minor"] == 450_000
        assert entry["extension_id"] == extension["id"]

        story = providers.pay("moyasar", entry["invoice_number"], "4500.00", "SAR")
        for delivery in story.deliveries + story.deliveries:  # the provider retries
            response = await intake.post(
                delivery.path,
                content=delivery.body,
                headers=delivery.headers,
                params=delivery.query,
            )
            assert response.status_code == 200

        async def active():
            got = await registry.get(f"{REGISTRY}/extensions/{extension['id']}", headers=staff)
            return got.json()["status"] == "ACTIVE"

        await eventually(active, timeout=60)
        after = (await registry.get(f"{REGISTRY}/bookings/{booking['id']}", headers=staff)).json()
        assert after["end_date"] == extension["new_end_date"]
        assert after["renewals_used"] == 1

        async def counted():
            kpis = await registry.get(
                f"{REGISTRY}/kpis/buildings/{made['building']['id']}", headers=staff
            )
            return kpis.json()["collected_mtd_minor"] == 450_000

        await eventually(counted, timeout=30)
        card = (
            await registry.get(f"{REGISTRY}/units/{made['unit']['id']}/finance-card", headers=staff)
        ).json()
        assert [e["status"] for e in card["entries"]] == ["PAID"]
        # Used up: the only renewal allowed is spent.
        again = await registry.post(
            f"{REGISTRY}/bookings/{booking['id']}/extensions", headers=staff
        )
        assert again.status_code == 409
        assert "NO_RENEWALS_LEFT" in again.json()["reasons"]


async def test_beds24_renewal_needs_a_note_and_folio_never_writes_to_beds24(infra):
    settings = await registry_settings(infra)
    staff = admin_headers(settings, roles=("admin",))
    property_id = uuid.uuid4().int % 10**9 + 1
    sim = Beds24SimState()
    sim.rooms[7] = SimRoom(7, property_id, "Suite", qty=1)
    today = datetime.now(ZoneInfo("Asia/Riyadh")).date()
    sim.bookings[1] = SimBooking(
        1, property_id, 7, today - timedelta(days=2), today + timedelta(days=5), unit_id=1
    )
    transport = httpx.ASGITransport(app=create_beds24_sim(sim))

    def beds24_client() -> Beds24ReadClient:
        return Beds24ReadClient(
            refresh_token="sim-refresh-token",
            base_url="https://beds24.test/v2",
            transport=transport,
        )

    app = create_registry_app(settings, beds24_client_factory=beds24_client)
    async with running_app(app) as registry:
        made = await setup_booking(registry, staff, beds24_property=property_id)
        sync_request = {
            "start_date": today.isoformat(),
            "end_date": (today + timedelta(days=1)).isoformat(),
            "building_id": made["building"]["id"],
        }

        async def synced() -> bool:
            # 202 with a new job, or 200 with the one already running (then ask again).
            started = await registry.post(
                f"{REGISTRY}/beds24/sync", json=sync_request, headers=staff
            )
            assert started.status_code in (200, 202), started.text
            await app.state.beds24_sync.run_due()  # run_jobs=False: the step runs here
            job = await registry.get(started.headers["location"], headers=staff)
            assert job.json()["status"] == "COMPLETED", job.text
            got = await registry.get(
                f"{REGISTRY}/units/{made['unit']['id']}/occupancy", headers=staff
            )
            return (got.json()["source"], got.json()["occupancy"]) == ("BEDS24", "OCCUPIED")

        await eventually(synced, timeout=60)
        extension = (
            await registry.post(
                f"{REGISTRY}/bookings/{made['booking']['id']}/extensions", headers=staff
            )
        ).json()
        assert (extension["status"], extension["requires_beds24_update"]) == (
            "PENDING_APPROVAL",
            True,
        )
        refused = await registry.post(
            f"{REGISTRY}/extensions/{extension['id']}/approve",
            json={"beds24_change_note": " "},
            headers=staff,
        )
        assert refused.status_code == 422
        approved = await registry.post(
            f"{REGISTRY}/extensions/{extension['id']}/approve",
            json={"beds24_change_note": "Moved Beds24 booking 1 departure by one month"},
            headers=staff,
        )
        assert approved.json()["status"] == "ACTIVE"
        booking = (
            await registry.get(f"{REGISTRY}/bookings/{made['booking']['id']}", headers=staff)
        ).json()
        assert booking["end_date"] == extension["new_end_date"]
        kpis = (
            await registry.get(f"{REGISTRY}/kpis/buildings/{made['building']['id']}", headers=staff)
        ).json()
        assert (kpis["occupied_units"], kpis["unknown_units"]) == (1, 0)
    assert sim.requests
    assert sim.writes() == []
    assert all(r.method == "GET" for r in sim.requests)
