"""KPI read model, KPI routes, daily snapshots and Beds24 occupancy, on the real database.

Expected values are computed by hand (see the comments), the same scenario as the
domain tests but through ledger.entry.changed, the aggregates and the HTTP API.
"""

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from folio.registry.adapters.beds24 import Beds24ReadClient
from folio.simulators.beds24 import Beds24SimState, SimBooking, SimRoom
from folio.simulators.beds24 import create_app as create_beds24_sim

from .helpers import entry_changed, envelope_of, record_of, registry_consumer, scalar

PREFIX = "/api/registry"
# 2026-02-10 15:00 in Riyadh.
NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def feed(uow_factory, *payloads) -> None:
    await registry_consumer(uow_factory).process([record_of(envelope_of(p)) for p in payloads])


@pytest.fixture
async def scenario(client, admin, make_building, make_unit, uow_factory, clock):
    """10 units (2 blocked, 1 maintenance, 4 booked, 1 Beds24 without data, 2 vacant)."""
    clock.now = NOW
    building = await make_building(timezone="Asia/Riyadh")
    units = []
    for status in ["BLOCKED"] * 2 + ["MAINTENANCE"] + ["AVAILABLE"] * 7:
        units.append(await make_unit(building, status=status, monthly_base_rent_minor=500_000))
    for unit in units[3:7]:
        response = await client.post(
            f"{PREFIX}/bookings",
            json={
                "unit_id": unit["id"],
                "guest_name": "Guest",
                "start_date": "2026-02-01",
                "end_date": "2026-03-01",
            },
            headers=admin,
        )
        assert response.status_code == 201
    beds24_unit = units[7]
    await client.put(
        f"{PREFIX}/units/{beds24_unit['id']}/beds24-map",
        json={
            "beds24_property_id": uuid.uuid4().int % 10**9 + 1,
            "beds24_room_id": 1,
            "source_of_truth": "BEDS24",
        },
        headers=admin,
    )
    # A local booking on the Beds24 unit must NOT make it occupied (no LOCAL fallback).
    await client.post(
        f"{PREFIX}/bookings",
        json={
            "unit_id": beds24_unit["id"],
            "guest_name": "Shadow",
            "start_date": "2026-02-01",
            "end_date": "2026-03-01",
        },
        headers=admin,
    )
    bid, code = building["id"], building["code"]
    booked_unit = units[3]["id"]

    def e(**kw):
        return entry_changed(
            entry_id=str(uuid.uuid4()), version=1, building_id=bid, unit_id=booked_unit, **kw
        )

    await feed(
        uow_factory,
        e(status="PAID", amount_minor=100_000, paid_at=utc(2026, 1, 31, 22, 0)),  # A: Feb in RUH
        e(status="PAID", amount_minor=50_000, paid_at=utc(2026, 1, 15, 10, 0)),  # B
        e(status="PAID", amount_minor=30_000, paid_at=utc(2026, 2, 10, 20, 30)),  # C
        e(status="PAID", amount_minor=20_000, paid_at=utc(2026, 2, 10, 21, 30)),  # D: Feb 11 RUH
        e(status="PAID", amount_minor=70_000, paid_at=utc(2025, 12, 31, 21, 0)),  # E: 2026 RUH
        e(status="DUE", amount_minor=40_000, due_date=date(2026, 2, 9)),  # F: overdue
        e(status="DUE", amount_minor=25_000, due_date=date(2026, 2, 10)),  # G
        e(status="PENDING", amount_minor=10_000, due_date=date(2026, 1, 1)),  # H
        e(status="FAILED", amount_minor=99_999, due_date=date(2026, 1, 1)),
        e(status="VOID", amount_minor=88_888, due_date=date(2026, 1, 1)),
        e(status="REFUNDED", amount_minor=60_000, paid_at=utc(2026, 2, 2)),
        e(status="PAID", amount_minor=12_345, paid_at=utc(2026, 2, 5), currency="USD"),
    )
    # An entry naming only its unit counts for the unit's building.
    await feed(
        uow_factory,
        entry_changed(
            entry_id=str(uuid.uuid4()),
            version=1,
            unit_id=units[9]["id"],
            status="PENDING",
            amount_minor=3,
            due_date=date(2026, 3, 1),
        ),
    )
    # An entry naming the building by its code counts too.
    await feed(
        uow_factory,
        entry_changed(
            entry_id=str(uuid.uuid4()),
            version=1,
            building_id=code.lower(),
            status="DUE",
            amount_minor=5,
            due_date=date(2026, 3, 1),
        ),
    )
    snap = await client.post(
        f"{PREFIX}/occupancy/snapshots",
        json={"start_date": "2026-02-01", "end_date": "2026-02-10", "building_id": bid},
        headers=admin,
    )
    assert snap.json() == {"inserted": 100, "unchanged": 0, "buildings": 1}
    return {"building": building, "units": units, "beds24_unit": beds24_unit}


async def test_building_kpis_hand_computed(client, admin, scenario):
    bid = scenario["building"]["id"]
    response = await client.get(
        f"{PREFIX}/kpis/buildings/{bid}", params={"as_of": "2026-02-10"}, headers=admin
    )
    assert response.status_code == 200, response.text
    k = response.json()
    assert (k["total_units"], k["rentable_units"], k["occupied_units"]) == (10, 7, 4)
    assert (k["unknown_units"], k["blocked_units"], k["maintenance_units"]) == (1, 2, 1)
    assert k["occupancy_rate_percent"] == "57.14"  # 4 / 7
    assert k["par_minor"] == 60_000_000  # 10 x 500,000 x 12
    assert k["collected_mtd_minor"] == 130_000  # A + C
    assert k["collected_ytd_minor"] == 250_000  # A + B + C + E
    assert k["ear_minor"] == 2_225_610  # 250,000 x 365 / 41
    assert k["run_rate_minor"] == 1_560_000
    # F + G + H + 5 named by building code + 3 named by unit only
    assert k["outstanding_minor"] == 75_008
    assert k["overdue_count"] == 1
    assert k["occupied_unit_days_mtd"] == 40  # 4 booked units x 10 snapshot nights
    assert k["adr_minor"] == 3_250  # 130,000 / 40
    assert k["revpau_minor"] == 1_300  # 130,000 / 10 units / 10 days
    assert k["currency"] == "SAR" and k["as_of"] == "2026-02-10"
    default_as_of = await client.get(f"{PREFIX}/kpis/buildings/{bid}", headers=admin)
    assert default_as_of.json()["as_of"] == "2026-02-10"  # today in Riyadh per the clock


async def test_timezone_change_moves_month_boundaries(client, admin, scenario):
    bid = scenario["building"]["id"]
    patched = await client.patch(
        f"{PREFIX}/buildings/{bid}", json={"timezone": "UTC"}, headers=admin
    )
    assert patched.status_code == 200
    k = (
        await client.get(
            f"{PREFIX}/kpis/buildings/{bid}", params={"as_of": "2026-02-10"}, headers=admin
        )
    ).json()
    assert k["collected_mtd_minor"] == 50_000  # C + D in UTC (A is January there)
    assert k["collected_ytd_minor"] == 200_000  # A + B + C + D (E is 2025 in UTC)


async def test_read_model_keeps_the_newest_version(client, admin, scenario, uow_factory):
    bid = scenario["building"]["id"]
    entry_id = str(uuid.uuid4())
    base = {"entry_id": entry_id, "building_id": bid, "amount_minor": 7_000}
    await feed(
        uow_factory, entry_changed(status="DUE", version=1, due_date=date(2026, 2, 1), **base)
    )
    await feed(
        uow_factory,
        entry_changed(
            status="PAID", version=3, due_date=date(2026, 2, 1), paid_at=utc(2026, 2, 3), **base
        ),
    )
    await feed(
        uow_factory, entry_changed(status="PENDING", version=2, due_date=date(2026, 2, 1), **base)
    )  # late, stale
    k = (
        await client.get(
            f"{PREFIX}/kpis/buildings/{bid}", params={"as_of": "2026-02-10"}, headers=admin
        )
    ).json()
    assert k["collected_mtd_minor"] == 137_000
    assert k["outstanding_minor"] == 75_008
    assert k["overdue_count"] == 1
    assert (
        await scalar(uow_factory, "SELECT status FROM kpi_entries WHERE entry_id = :e", e=entry_id)
        == "PAID"
    )


async def test_leap_day_and_year_start(client, admin, scenario, uow_factory, make_building):
    building = await make_building(timezone="Asia/Riyadh")
    await feed(
        uow_factory,
        entry_changed(
            entry_id=str(uuid.uuid4()),
            version=1,
            building_id=building["id"],
            status="PAID",
            amount_minor=61_000,
            paid_at=utc(2028, 2, 29, 12),
        ),
    )
    k = (
        await client.get(
            f"{PREFIX}/kpis/buildings/{building['id']}",
            params={"as_of": "2028-03-01"},
            headers=admin,
        )
    ).json()
    assert k["days_so_far_in_year"] == 61
    assert k["ear_minor"] == 365_000  # 61,000 x 365 / 61
    assert k["collected_mtd_minor"] == 0  # paid in February
    # No units: every unit ratio has a zero denominator.
    assert (k["occupancy_rate_percent"], k["adr_minor"], k["revpau_minor"]) == (None, None, None)


async def test_snapshots_are_idempotent_and_past_kpis_read_them(
    client, admin, scenario, uow_factory
):
    bid = scenario["building"]["id"]
    again = await client.post(
        f"{PREFIX}/occupancy/snapshots",
        json={"start_date": "2026-02-01", "end_date": "2026-02-10", "building_id": bid},
        headers=admin,
    )
    assert again.json() == {"inserted": 0, "unchanged": 100, "buildings": 1}
    # Change reality after the fact: the recorded snapshot stays as it was.
    vacant_unit = scenario["units"][8]
    await client.post(
        f"{PREFIX}/bookings",
        json={
            "unit_id": vacant_unit["id"],
            "guest_name": "Late",
            "start_date": "2026-02-05",
            "end_date": "2026-02-07",
        },
        headers=admin,
    )
    rerun = await client.post(
        f"{PREFIX}/occupancy/snapshots",
        json={"start_date": "2026-02-05", "end_date": "2026-02-05", "building_id": bid},
        headers=admin,
    )
    assert rerun.json()["inserted"] == 0
    rows = (
        await client.get(
            f"{PREFIX}/units/{vacant_unit['id']}/daily-status",
            params={"start_date": "2026-02-05", "end_date": "2026-02-05"},
            headers=admin,
        )
    ).json()["data"]
    assert [r["status"] for r in rows] == ["VACANT"]
    past = (
        await client.get(
            f"{PREFIX}/kpis/buildings/{bid}", params={"as_of": "2026-02-05"}, headers=admin
        )
    ).json()
    assert (past["occupied_units"], past["unknown_units"]) == (4, 1)  # from the snapshot
    assert past["occupied_unit_days_mtd"] == 20
    assert (
        await scalar(
            uow_factory,
            "SELECT count(*) FROM unit_daily_status WHERE building_id = :b",
            b=uuid.UUID(bid),
        )
        == 100
    )
    bad = await client.post(
        f"{PREFIX}/occupancy/snapshots",
        json={"start_date": "2026-02-05", "end_date": "2026-02-01"},
        headers=admin,
    )
    assert bad.status_code == 422


async def test_beds24_sync_reads_only_and_staleness_gives_unknown(
    client, admin, scenario, registry_app, clock
):
    unit = scenario["beds24_unit"]
    mapping = (await client.get(f"{PREFIX}/units/{unit['id']}", headers=admin)).json()["beds24_map"]
    sim = Beds24SimState()
    sim.rooms[1] = SimRoom(1, mapping["beds24_property_id"], "Room", qty=1)
    sim.bookings[1] = SimBooking(
        1, mapping["beds24_property_id"], 1, date(2026, 2, 10), date(2026, 2, 12), unit_id=1
    )
    transport = httpx.ASGITransport(app=create_beds24_sim(sim))
    previous = registry_app.state.beds24_client_factory
    beds24 = Beds24ReadClient(
        refresh_token="sim-refresh-token",
        base_url="https://beds24.test/v2",
        transport=transport,
        backoff_seconds=0.01,
    )
    registry_app.state.beds24_client_factory = lambda: beds24
    only_this_building = {"building_id": scenario["building"]["id"]}
    try:
        before = (await client.get(f"{PREFIX}/units/{unit['id']}/occupancy", headers=admin)).json()
        assert (before["source"], before["occupancy"]) == ("BEDS24", "UNKNOWN")
        assert "has not been fetched yet" in before["reason"]
        started = await client.post(
            f"{PREFIX}/beds24/sync",
            json={"start_date": "2026-02-09", "end_date": "2026-02-12"} | only_this_building,
            headers=admin,
        )
        assert started.status_code == 202, started.text  # answered before any Beds24 call
        job = started.json()
        assert started.headers["location"] == f"{PREFIX}/beds24/sync/{job['id']}"
        assert (job["status"], job["properties"]["pending"]) == ("RUNNING", 1)
        assert sim.requests == []
        again = await client.post(
            f"{PREFIX}/beds24/sync",
            json={"start_date": "2026-02-01", "end_date": "2026-02-02"},
            headers=admin,
        )
        assert (again.status_code, again.json()["id"]) == (200, job["id"])  # the running one
        await registry_app.state.beds24_sync.run_due()
        done = (await client.get(f"{PREFIX}/beds24/sync/{job['id']}", headers=admin)).json()
        assert done["status"] == "COMPLETED"
        assert done["properties"] == {
            "total": 1,
            "done": 1,
            "pending": 0,
            "failed": 0,
            "stale": 0,
        }
        assert done["usage"]["token_fetches"] == 1 and done["next_run_at"] is None
        now_ = (await client.get(f"{PREFIX}/units/{unit['id']}/occupancy", headers=admin)).json()
        assert (now_["source"], now_["occupancy"], now_["reason"]) == ("BEDS24", "OCCUPIED", None)
        night_9 = (
            await client.get(
                f"{PREFIX}/units/{unit['id']}/occupancy",
                params={"night": "2026-02-09"},
                headers=admin,
            )
        ).json()
        assert night_9["occupancy"] == "VACANT"  # Beds24 says free, local booking ignored
        clock.now = NOW + timedelta(hours=7)  # observations older than 6 h are not data
        stale = (await client.get(f"{PREFIX}/units/{unit['id']}/occupancy", headers=admin)).json()
        assert (stale["source"], stale["occupancy"]) == ("BEDS24", "UNKNOWN")
        assert "is stale: last fetched at 2026-02-10T12:00:00+00:00" in stale["reason"]
        sim.fail_next.extend([503] * 10)
        failed = await client.post(
            f"{PREFIX}/beds24/sync",
            json={"start_date": "2026-02-10", "end_date": "2026-02-10"} | only_this_building,
            headers=admin,
        )
        assert failed.status_code == 202
        await registry_app.state.beds24_sync.run_due()
        view = await client.get(f"{PREFIX}/beds24/sync/{failed.json()['id']}", headers=admin)
        assert view.json()["properties"]["failed"] == 1
        assert view.json()["properties"]["stale"] == 1
        assert "gave up" in view.json()["last_error"]
        still = (await client.get(f"{PREFIX}/units/{unit['id']}/occupancy", headers=admin)).json()
        assert still["occupancy"] == "UNKNOWN" and "last attempt" in still["reason"]
    finally:
        registry_app.state.beds24_client_factory = previous
    assert sim.requests, "Folio did read from the simulator"
    assert sim.writes() == []  # and never sent anything but GET
    assert {r.path for r in sim.requests} <= {
        "/v2/authentication/token",
        "/v2/inventory/rooms/unitBookings",
    }


async def test_unit_finance_card_and_portfolio(client, admin, scenario):
    booked_unit = scenario["units"][3]
    card = (
        await client.get(f"{PREFIX}/units/{booked_unit['id']}/finance-card", headers=admin)
    ).json()
    assert card["unit"]["id"] == booked_unit["id"]
    assert (card["occupancy"]["source"], card["occupancy"]["occupancy"]) == ("LOCAL", "OCCUPIED")
    assert len(card["entries"]) == 12
    sar = next(b for b in card["balances"] if b["currency"] == "SAR")
    assert sar["outstanding_minor"] == 75_000  # F + G + H
    assert sar["collected_minor"] == 270_000  # A + B + C + D + E
    assert sar["overdue_count"] == 1
    portfolio = (
        await client.get(f"{PREFIX}/kpis/portfolio", params={"as_of": "2026-02-10"}, headers=admin)
    ).json()
    mine = next(b for b in portfolio["buildings"] if b["building_id"] == scenario["building"]["id"])
    assert mine["collected_mtd_minor"] == 130_000
    sar_roll_up = next(p for p in portfolio["portfolio"] if p["currency"] == "SAR")
    assert sar_roll_up["collected_mtd_minor"] == sum(
        b["collected_mtd_minor"] for b in portfolio["buildings"] if b["currency"] == "SAR"
    )


async def test_scheduled_round_snapshots_completed_local_nights(
    client, admin, make_building, make_unit, uow_factory
):
    from folio.registry.entrypoints.jobs import snapshot_completed_nights

    building = await make_building(timezone="Asia/Riyadh")
    unit = await make_unit(building)
    # 2026-03-01 22:30 UTC is already 2026-03-02 01:30 in Riyadh: yesterday there is 03-01.
    now = utc(2026, 3, 1, 22, 30)
    first = await snapshot_completed_nights(uow_factory, now=now, max_age=timedelta(hours=6))
    second = await snapshot_completed_nights(uow_factory, now=now, max_age=timedelta(hours=6))
    assert first["inserted"] >= 2 and second["inserted"] == 0
    rows = (
        await client.get(
            f"{PREFIX}/units/{unit['id']}/daily-status",
            params={"start_date": "2026-02-27", "end_date": "2026-03-03"},
            headers=admin,
        )
    ).json()["data"]
    assert [r["status_date"] for r in rows] == ["2026-02-28", "2026-03-01"]
    assert {r["status"] for r in rows} == {"VACANT"}


async def test_incremental_aggregates_equal_a_full_rebuild(scenario, uow_factory):
    from sqlalchemy import text

    bid = uuid.UUID(scenario["building"]["id"])
    queries = (
        "SELECT local_date, currency, collected_minor, movement_count FROM kpi_daily_collections "
        "WHERE building_id = :b AND movement_count <> 0 ORDER BY 1, 2",
        "SELECT status, due_date, currency, amount_minor, entry_count FROM kpi_open_receivables "
        "WHERE building_id = :b AND entry_count <> 0 ORDER BY 1, 2, 3",
    )

    async def read_all():
        async with uow_factory() as uow:
            return [
                [tuple(r) for r in await uow.session.execute(text(q), {"b": bid})] for q in queries
            ]

    incremental = await read_all()
    assert incremental[0] and incremental[1]
    async with uow_factory() as uow:
        await uow.repo.rebuild_kpi_aggregates(bid)
        await uow.commit()
    assert await read_all() == incremental


async def test_building_occupancy_breakdown_names_unknown_units_and_why(client, admin, scenario):
    bid = scenario["building"]["id"]
    beds24_unit = scenario["beds24_unit"]
    url = f"{PREFIX}/buildings/{bid}/occupancy"
    tonight = await client.get(url, headers=admin)
    assert tonight.status_code == 200, tonight.text
    body = tonight.json()
    assert (body["date"], body["source"], body["timezone"]) == ("2026-02-10", "LIVE", "Asia/Riyadh")
    assert body["counts"] == {
        "OCCUPIED": 4, "VACANT": 2, "UNKNOWN": 1, "BLOCKED": 2, "MAINTENANCE": 1,
    }  # fmt: skip
    [unknown] = body["unknown_units"]
    assert (unknown["unit_id"], unknown["code"]) == (beds24_unit["id"], beds24_unit["code"])
    assert "has not been fetched yet" in unknown["reason"]
    # The same counts as the KPIs of the night.
    k = (await client.get(f"{PREFIX}/kpis/buildings/{bid}", headers=admin)).json()
    assert (k["occupied_units"], k["unknown_units"]) == (4, 1)
    # A past night reads the daily snapshot, which recorded the Beds24 unit UNKNOWN.
    past = (await client.get(url, params={"night": "2026-02-05"}, headers=admin)).json()
    assert past["source"] == "SNAPSHOT" and past["counts"]["UNKNOWN"] == 1
    [recorded] = past["unknown_units"]
    assert recorded["unit_id"] == beds24_unit["id"]
    assert "daily snapshot of 2026-02-05 recorded UNKNOWN" in recorded["reason"]
    # A past night without snapshots resolves live, as the KPIs do.
    before = (await client.get(url, params={"night": "2026-01-20"}, headers=admin)).json()
    assert before["counts"]["UNKNOWN"] == 1 and before["counts"]["OCCUPIED"] == 0
    assert "has not been fetched yet" in before["unknown_units"][0]["reason"]


async def test_building_occupancy_refusals(client, admin, scenario):
    url = f"{PREFIX}/buildings/{scenario['building']['id']}/occupancy"
    assert (await client.get(url, params={"night": "2026-02-30"}, headers=admin)).status_code == 422
    missing = await client.get(f"{PREFIX}/buildings/{uuid.uuid4()}/occupancy", headers=admin)
    assert missing.status_code == 404
    assert (await client.get(url)).status_code == 401
