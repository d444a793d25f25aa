"""The registry's scheduled jobs running inside the service process: the Beds24 sync
reads the simulator (GET only) and records observations; the snapshot round writes
yesterday's daily status for every unit."""

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from folio.devstack.testing import admin_headers, eventually, running_app
from folio.registry.adapters.beds24 import Beds24ReadClient
from folio.registry.app import create_app
from folio.registry.settings import RegistrySettings
from folio.simulators.beds24 import Beds24SimState, SimBooking, SimRoom
from folio.simulators.beds24 import create_app as create_beds24_sim


async def test_background_jobs_sync_beds24_and_snapshot(infra):
    settings = RegistrySettings(
        database_url=await infra.service_database_url("registry"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        log_json=False,
        log_level="WARNING",
        beds24_sync_interval_seconds=0.5,
        snapshot_interval_seconds=0.5,
    )
    # One Beds24 property per unit (seed 003 §5: beds24PropertyId is unique).
    first_property = uuid.uuid4().int % 10**9 + 1
    properties = {"1": (first_property, 3), "2": (first_property + 1, 4)}
    today = datetime.now(ZoneInfo("Asia/Riyadh")).date()
    sim = Beds24SimState(credits_per_five_minutes=100_000)
    for property_id, room_id in properties.values():
        sim.rooms[room_id] = SimRoom(room_id, property_id, "Loft", qty=1)
    busy_property, busy_room = properties["2"]
    sim.bookings[1] = SimBooking(
        1, busy_property, busy_room, today - timedelta(days=3), today + timedelta(days=3), unit_id=1
    )
    transport = httpx.ASGITransport(app=create_beds24_sim(sim))

    def beds24_client() -> Beds24ReadClient:
        return Beds24ReadClient(
            refresh_token="sim-refresh-token",
            base_url="https://beds24.test/v2",
            transport=transport,
        )

    staff = admin_headers(settings, roles=("admin",))
    async with running_app(create_app(settings, beds24_client_factory=beds24_client)) as api:
        code = "JOB-" + uuid.uuid4().hex[:8].upper()
        building = (
            await api.post(
                "/api/registry/buildings", json={"code": code, "name": "Jobs"}, headers=staff
            )
        ).json()
        units = []
        for number in ("1", "2"):
            unit = (
                await api.post(
                    "/api/registry/units",
                    json={
                        "building_id": building["id"],
                        "code": f"L{number}",
                        "monthly_base_rent_minor": 300_000,
                    },
                    headers=staff,
                )
            ).json()
            mapped = await api.put(
                f"/api/registry/units/{unit['id']}/beds24-map",
                json={
                    "beds24_property_id": properties[number][0],
                    "beds24_room_id": properties[number][1],
                    "source_of_truth": "BEDS24",
                },
                headers=staff,
            )
            assert mapped.status_code == 200
            units.append(unit)

        async def occupancy_of(unit) -> str:
            got = await api.get(f"/api/registry/units/{unit['id']}/occupancy", headers=staff)
            return got.json()["occupancy"]

        async def synced():
            return [await occupancy_of(u) for u in units] == ["VACANT", "OCCUPIED"]

        await eventually(synced, timeout=30)

        async def snapshotted():
            yesterday = (today - timedelta(days=1)).isoformat()
            rows = (
                await api.get(
                    f"/api/registry/units/{units[1]['id']}/daily-status",
                    params={"start_date": yesterday, "end_date": yesterday},
                    headers=staff,
                )
            ).json()["data"]
            return rows

        rows = await eventually(snapshotted, timeout=30)
        # Yesterday's snapshot may have been taken before the first sync (then UNKNOWN,
        # never a local fallback); it is never VACANT for this occupied Beds24 unit.
        assert rows[0]["status"] in ("OCCUPIED", "UNKNOWN")
        assert rows[0]["source"] == "BEDS24"
    assert sim.requests and sim.writes() == []
