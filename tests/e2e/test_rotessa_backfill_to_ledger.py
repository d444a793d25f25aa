"""End to end through the real broker: Rotessa (simulated) → rotessa-sync → ledger.

Link a schedule with a backfill; the ledger's journal holds the backdated
collections (balances at past points in time are right), the backfill completes
from the ledger's confirmations, a rerun adds nothing, and a chargeback found by
the periodic sync reverses its payment. Rotessa answers 429s on the way.
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaProducer

from folio.devstack.testing import admin_headers, eventually, running_app
from folio.ledger.app import create_app as create_ledger
from folio.ledger.settings import LedgerSettings
from folio.rotessa_sync.app import create_app as create_rotessa_sync
from folio.rotessa_sync.settings import RotessaSyncSettings
from folio.shared.contracts import MortgageChanged, new_envelope
from folio.simulators.rotessa import FaultPlan
from folio.simulators.rotessa import create_app as create_simulator

TORONTO = ZoneInfo("America/Toronto")


def utc(day: date, hour: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TORONTO).astimezone(UTC).isoformat()


async def test_link_backfill_rerun_and_chargeback_reach_the_journal(infra):
    ledger_settings = LedgerSettings(
        database_url=await infra.service_database_url("ledger"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test", log_json=False, log_level="WARNING",
    )  # fmt: skip
    sync_settings = RotessaSyncSettings(
        database_url=await infra.service_database_url("rotessa"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test", log_json=False, log_level="WARNING",
        sync_enabled=False, backfill_poll_seconds=0.2,
        rotessa_base_url="http://rotessa.test/v1",
    )  # fmt: skip
    today = datetime.now(TORONTO).date()
    simulator = create_simulator(
        seed=40, customers=0, today=today, id_offset=uuid.uuid4().int % 10**6 * 10**7
    )
    sim = simulator.state.simulator
    customer = sim.add_customer(name="Eve Okafor")
    schedule = sim.add_schedule(
        customer_id=customer.id, amount_minor=150_000, process_date=date(2025, 1, 15)
    )
    paid = [
        sim.add_transaction(
            schedule_id=schedule.id, process_date=date(2025, m, 15), status="Approved"
        )
        for m in (1, 2, 3)
    ]
    sim.add_transaction(
        schedule_id=schedule.id,
        process_date=date(2025, 4, 15),
        status="Declined",
        status_reason="NSF",
    )
    sim.add_transaction(
        schedule_id=schedule.id, process_date=today + timedelta(days=10), status="Future"
    )

    mortgage_id = f"mtg_{uuid.uuid4().hex[:12]}"
    account = f"mortgages:{mortgage_id}"
    ledger_app = create_ledger(ledger_settings)
    sync_app = create_rotessa_sync(
        sync_settings, rotessa_transport=httpx.ASGITransport(app=simulator)
    )
    headers = admin_headers(sync_settings)
    async with running_app(ledger_app) as ledger, running_app(sync_app) as rotessa:
        mortgage = MortgageChanged(
            mortgage_id=mortgage_id, borrower_name="Eve Okafor", principal_minor=30_000_000,
            currency="CAD", status="ACTIVE", version=1, changed_at=datetime.now(UTC),
        )  # fmt: skip
        producer = AIOKafkaProducer(
            bootstrap_servers=infra.kafka_bootstrap_servers, enable_idempotence=False
        )
        await producer.start()
        try:  # as the registry would
            await producer.send_and_wait(
                "mortgage.changed",
                value=new_envelope(mortgage, producer="registry").model_dump_json().encode(),
                key=mortgage_id.encode(),
            )
        finally:
            await producer.stop()

        async def mortgage_listed():
            listed = (await rotessa.get("/api/rotessa/mortgages/unlinked", headers=headers)).json()
            return mortgage_id in {m["mortgage_id"] for m in listed}

        await eventually(mortgage_listed, timeout=30)
        # the listing reads rotessa-sync's catalogue of Rotessa's schedules: refresh it
        assert (
            await rotessa.post("/api/rotessa/schedules/refresh", headers=headers)
        ).status_code == 202

        async def catalogued():
            listing = (await rotessa.get("/api/rotessa/schedules/unlinked", headers=headers)).json()
            return (
                listing["schedules"]
                if schedule.id in {s["schedule_id"] for s in listing["schedules"]}
                else None
            )

        unlinked = await eventually(catalogued, timeout=30)
        shown = next(s for s in unlinked if s["schedule_id"] == schedule.id)
        assert (shown["customer_name"], shown["amount_minor"], shown["frequency"]) == (
            "Eve Okafor", 150_000, "Monthly",
        )  # fmt: skip

        # Rotessa misbehaves during the backfill: every other report page answers 429
        simulator.state.faults.configure(
            FaultPlan(
                every_nth=2, every_status=429, retry_after=0, endpoints={"transaction_report"}
            )
        )
        linked = await rotessa.post(
            "/api/rotessa/links",
            json={"mortgage_id": mortgage_id, "schedule_id": schedule.id,
                  "customer_id": customer.id, "start_backfill": True},
            headers=headers,
        )  # fmt: skip
        assert linked.status_code == 201, linked.text
        backfill_id = linked.json()["backfill_id"]

        async def status_of(bid, wanted):
            body = (await rotessa.get(f"/api/rotessa/backfills/{bid}", headers=headers)).json()
            return body if body["status"] == wanted else None

        done = await eventually(lambda: status_of(backfill_id, "COMPLETED"), timeout=60)
        assert done["metrics"]["confirmed"] == 3
        assert done["metrics"]["declined_skipped"] == 1
        assert simulator.state.request_counts["transaction_report"] >= 2  # a 429 was survived
        simulator.state.faults.clear()

        async def balance(pit: str | None = None) -> int:
            params = {"pit": pit} if pit else {}
            got = await ledger.get(
                f"/api/ledger/v2/folio/accounts/{account}",
                params=params,
                headers=admin_headers(ledger_settings),
            )
            assert got.status_code == 200, got.text
            volumes = got.json()["data"].get("volumes") or {}
            return volumes.get("CAD/2", {"balance": 0})["balance"]  # no movement yet → 0

        assert await balance() == 450_000
        # balances at past points in time follow the process dates (00:00 Toronto)
        assert await balance(utc(date(2025, 2, 14), 23)) == 150_000
        assert await balance(utc(date(2025, 2, 15), 1)) == 300_000
        assert await balance(utc(date(2025, 1, 14), 12)) == 0

        rerun = await rotessa.post(
            "/api/rotessa/backfills", json={"mortgage_id": mortgage_id}, headers=headers
        )
        rerun_done = await eventually(
            lambda: status_of(rerun.json()["backfill_id"], "COMPLETED"), timeout=60
        )
        assert rerun_done["metrics"]["published"] == 0 and rerun_done["metrics"]["duplicates"] == 3
        assert await balance() == 450_000

        # the March payment is charged back; the periodic sync reverses it
        sync_settings.sync_lookback_days = (today - date(2025, 1, 1)).days
        sim.set_status(paid[2].id, "Chargeback", "NSF")
        synced = await rotessa.post("/api/rotessa/sync", headers=headers)
        assert synced.status_code == 200 and synced.json()["metrics"]["published"] == 1

        async def reversed_in_ledger():
            return await balance() == 300_000

        await eventually(reversed_in_ledger, timeout=60)
        assert await balance(utc(date(2025, 3, 16))) == 450_000  # history before the chargeback
