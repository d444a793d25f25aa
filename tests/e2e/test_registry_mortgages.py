"""End to end through the real broker: a mortgage created in the registry reaches
rotessa-sync (mortgage.changed), an admin links it to a Rotessa schedule there, and
schedule.linked sets the schedule id on the registry's mortgage."""

import random
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx

from folio.devstack.testing import admin_headers, eventually, running_app
from folio.registry.app import create_app as create_registry_app
from folio.registry.settings import RegistrySettings
from folio.rotessa_sync.app import create_app as create_rotessa_app
from folio.rotessa_sync.settings import RotessaSyncSettings
from folio.simulators.rotessa import create_app as create_rotessa_simulator


async def test_schedule_linked_in_rotessa_sync_reaches_the_registry_mortgage(infra):
    common = {
        "kafka_bootstrap_servers": infra.kafka_bootstrap_servers,
        "environment": "test",
        "log_json": False,
        "log_level": "WARNING",
    }
    registry_cfg = RegistrySettings(
        database_url=await infra.service_database_url("registry"), run_jobs=False, **common
    )
    rotessa_cfg = RotessaSyncSettings(
        database_url=await infra.service_database_url("rotessa"),
        sync_enabled=False,
        rotessa_base_url="http://rotessa.test/v1",
        rotessa_backoff_initial_seconds=0.01,
        rotessa_backoff_max_seconds=0.05,
        **common,
    )
    simulator = create_rotessa_simulator(
        seed=31,
        customers=1,
        today=datetime.now(ZoneInfo("America/Toronto")).date(),
        id_offset=random.randint(1, 9_000) * 10_000_000,
    )
    our_schedules = set(simulator.state.simulator.schedules)
    staff = admin_headers(registry_cfg, roles=("admin",))
    rotessa_app = create_rotessa_app(
        rotessa_cfg, rotessa_transport=httpx.ASGITransport(app=simulator)
    )
    async with (
        running_app(create_registry_app(registry_cfg)) as registry,
        running_app(rotessa_app) as rotessa,
    ):
        borrower = f"Borrower {uuid.uuid4().hex[:6]}"
        created = await registry.post(
            "/api/registry/mortgages",
            json={"borrower_name": borrower, "principal_minor": 32_000_000, "currency": "CAD"},
            headers=staff,
        )
        assert created.status_code == 201, created.text
        mortgage = created.json()

        async def known_to_rotessa_sync():
            listed = await rotessa.get("/api/rotessa/mortgages/unlinked", headers=staff)
            return mortgage["id"] in {m["mortgage_id"] for m in listed.json()}

        await eventually(known_to_rotessa_sync, timeout=60)
        # the listing reads rotessa-sync's catalogue of Rotessa's schedules: refresh it
        assert (
            await rotessa.post("/api/rotessa/schedules/refresh", headers=staff)
        ).status_code == 202

        async def catalogued():
            listing = (await rotessa.get("/api/rotessa/schedules/unlinked", headers=staff)).json()
            return (
                listing["schedules"]
                if {s["schedule_id"] for s in listing["schedules"]} & set(our_schedules)
                else None
            )

        schedules = await eventually(catalogued, timeout=30)
        pick = next(s for s in schedules if s["schedule_id"] in our_schedules)
        linked = await rotessa.post(
            "/api/rotessa/links",
            json={
                "mortgage_id": mortgage["id"],
                "schedule_id": pick["schedule_id"],
                "customer_id": pick["customer_id"],
            },
            headers=staff,
        )
        assert linked.status_code == 201, linked.text

        async def registry_has_schedule():
            got = await registry.get(f"/api/registry/mortgages/{mortgage['id']}", headers=staff)
            body = got.json()
            return body if body["rotessa_schedule_id"] == pick["schedule_id"] else None

        after = await eventually(registry_has_schedule, timeout=60)
        assert after["version"] == 2
        linked_list = await registry.get(
            "/api/registry/mortgages", params={"linked": "true", "q": borrower}, headers=staff
        )
        assert [m["id"] for m in linked_list.json()["data"]] == [mortgage["id"]]
        trail = await registry.get(
            "/api/registry/audit",
            params={"subject_type": "mortgage", "subject_id": mortgage["id"]},
            headers=staff,
        )
        assert [r["action"] for r in trail.json()["data"]] == [
            "mortgage.create",
            "mortgage.schedule_linked",
        ]
