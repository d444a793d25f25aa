"""A full Beds24 sync of 300 mapped properties within Beds24's real credit budget
(issue 12, "Beds24 within its budget").

The Beds24 simulator enforces 100 credits per rolling five minutes and prices each
request (see its docstring); one injectable clock drives the simulator, the client
and the registry, so the five-minute windows pass without sleeping.
"""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from folio.registry.adapters.beds24 import Beds24ReadClient
from folio.registry.adapters.tables import beds24_map, units
from folio.simulators.beds24 import Beds24SimState, SimBooking, SimRoom
from folio.simulators.beds24 import create_app as create_beds24_sim

PREFIX = "/api/registry"
START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
FIRST_NIGHT = date(2026, 6, 1)
NIGHTS = 14
PROPERTIES = 300


@pytest.fixture(autouse=True)
async def _no_job_left_running(uow_factory):
    """A test that fails midway must not leave a running job for later tests' POSTs."""
    yield
    async with uow_factory() as uow:
        await uow.session.execute(
            sa.text("UPDATE beds24_sync_jobs SET status = 'COMPLETED' WHERE status = 'RUNNING'")
        )
        await uow.commit()


class Timeline:
    """Seconds since START for the simulator and the client; the registry's clock too."""

    def __init__(self, registry_clock) -> None:
        self.seconds = 0.0
        self._registry_clock = registry_clock
        registry_clock.now = START

    def __call__(self) -> float:
        return self.seconds

    def move_to(self, when: datetime) -> None:
        assert when >= self._registry_clock.now, "time only moves forward"
        self.seconds = (when - START).total_seconds()
        self._registry_clock.now = when


async def no_sleeping(seconds: float) -> None:
    raise AssertionError(f"the sync slept {seconds}s instead of scheduling itself")


def max_credits_in_any_window(sim: Beds24SimState) -> int:
    """The most credits charged within any five minutes (checked independently)."""
    spends = [(r.at, r.cost) for r in sim.requests if r.cost]
    return max(sum(c for at, c in spends if start <= at < start + 300) for start, _ in spends)


async def map_properties(uow_factory, building: dict, first_property: int) -> list[dict]:
    """300 BEDS24 units, one Beds24 property (and room) each: inserted in one go."""
    now = START
    rows, maps = [], []
    for n in range(PROPERTIES):
        unit_id = uuid.uuid4()
        rows.append(
            {
                "id": unit_id,
                "building_id": uuid.UUID(building["id"]),
                "code": f"B24-{n:03d}",
                "name": None,
                "status": "AVAILABLE",
                "monthly_base_rent_minor": 400_000,
                "currency": building["currency"],
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
        maps.append(
            {
                "id": uuid.uuid4(),
                "unit_id": unit_id,
                "beds24_property_id": first_property + n,
                "beds24_room_id": first_property + n,
                "beds24_unit_number": "1",
                "source_of_truth": "BEDS24",
                "created_at": now,
                "updated_at": now,
            }
        )
    async with uow_factory() as uow:
        await uow.session.execute(sa.insert(units), rows)
        await uow.session.execute(sa.insert(beds24_map), maps)
        await uow.commit()
    return [
        {"unit_id": str(r["id"]), "property_id": m["beds24_property_id"]}
        for r, m in zip(rows, maps, strict=True)
    ]


async def test_a_full_sync_of_300_properties_stays_within_the_credit_budget(
    client, admin, registry_app, clock, make_building, uow_factory
):
    timeline = Timeline(clock)
    building = await make_building(timezone="UTC")
    first_property = 10**11 + uuid.uuid4().int % 10**9 * 1000
    mapped = await map_properties(uow_factory, building, first_property)

    sim = Beds24SimState(clock=timeline)  # 100 credits per rolling five minutes
    for n, unit in enumerate(mapped):
        room = unit["property_id"]
        sim.rooms[room] = SimRoom(room, unit["property_id"], f"Room {n}")
        if n % 3 == 0:  # every third unit is let for the whole range
            sim.bookings[n + 1] = SimBooking(
                n + 1,
                unit["property_id"],
                room,
                FIRST_NIGHT - timedelta(days=2),
                FIRST_NIGHT + timedelta(days=NIGHTS + 2),
                unit_id=1,
            )
    # A local booking on the unit fetched last: it must never stand in for Beds24.
    last = mapped[-1]
    booked = await client.post(
        f"{PREFIX}/bookings",
        json={
            "unit_id": last["unit_id"],
            "guest_name": "Local guest",
            "start_date": FIRST_NIGHT.isoformat(),
            "end_date": (FIRST_NIGHT + timedelta(days=3)).isoformat(),
        },
        headers=admin,
    )
    assert booked.status_code == 201, booked.text

    transport = httpx.ASGITransport(app=create_beds24_sim(sim))
    made: list[Beds24ReadClient] = []

    def new_client() -> Beds24ReadClient:
        # Like production's factory: a new client (and so a new token) per call.
        made.append(
            Beds24ReadClient(
                refresh_token="sim-refresh-token",
                base_url="https://beds24.test/v2",
                transport=transport,
                clock=timeline,
                sleep=no_sleeping,
            )
        )
        return made[-1]

    previous = registry_app.state.beds24_client_factory
    registry_app.state.beds24_client_factory = new_client
    sync = registry_app.state.beds24_sync

    async def occupancy(unit: dict) -> dict:
        got = await client.get(f"{PREFIX}/units/{unit['unit_id']}/occupancy", headers=admin)
        return got.json()

    try:
        started = await client.post(
            f"{PREFIX}/beds24/sync",
            json={
                "start_date": FIRST_NIGHT.isoformat(),
                "end_date": (FIRST_NIGHT + timedelta(days=NIGHTS - 1)).isoformat(),
                "building_id": building["id"],
            },
            headers=admin,
        )
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        assert started.json()["properties"]["pending"] == PROPERTIES
        assert sim.requests == []  # the POST only queued the job

        steps = []
        while True:
            view = await sync.run_due()
            assert view is not None and str(view["id"]) == job_id
            steps.append(view)
            if view["status"] == "COMPLETED":
                break
            if len(steps) == 1:
                # First window spent: the job says what is left and when it goes on.
                polled = (await client.get(f"{PREFIX}/beds24/sync/{job_id}", headers=admin)).json()
                assert polled["properties"] == {
                    "total": 300,
                    "done": 67,
                    "pending": 233,
                    "failed": 0,
                    "stale": 233,
                }
                assert datetime.fromisoformat(polled["next_run_at"]) == START + timedelta(seconds=300)
                fetched_let, fetched_free = await occupancy(mapped[0]), await occupancy(mapped[1])
                assert (fetched_let["occupancy"], fetched_free["occupancy"]) == (
                    "OCCUPIED",
                    "VACANT",
                )
                not_yet = await occupancy(mapped[150])
                assert (not_yet["source"], not_yet["occupancy"]) == ("BEDS24", "UNKNOWN")
                assert "has not been fetched yet" in not_yet["reason"]
                locally_booked = await occupancy(last)
                assert (locally_booked["source"], locally_booked["occupancy"]) == (
                    "BEDS24",
                    "UNKNOWN",
                )  # not the LOCAL booking's OCCUPIED
                # Not due before the credits come back: nothing runs, nothing is sent.
                sent = len(sim.requests)
                timeline.move_to(START + timedelta(seconds=299))
                assert await sync.run_due() is None
                assert len(sim.requests) == sent
            timeline.move_to(datetime.fromisoformat(str(view["next_run_at"])))
    finally:
        registry_app.state.beds24_client_factory = previous
        for made_client in made:
            await made_client.aclose()

    job = (await client.get(f"{PREFIX}/beds24/sync/{job_id}", headers=admin)).json()
    usage = job["usage"]
    token_fetches = [r for r in sim.requests if r.path == "/v2/authentication/token"]
    print(
        f"\nBeds24 full sync of {PROPERTIES} properties x {NIGHTS} nights: "
        f"{usage['credits']} credits in {usage['requests']} requests "
        f"({usage['token_fetches']} token fetch) over {usage['windows']} five-minute windows, "
        f"{timeline.seconds:.0f} s simulated; one request per property would cost "
        f"{PROPERTIES * sim.unit_bookings_cost(1, NIGHTS)} credits plus its token."
    )
    assert job["status"] == "COMPLETED"
    assert job["properties"] == {"total": 300, "done": 300, "pending": 0, "failed": 0, "stale": 0}
    assert sim.refused() == []  # never a 429
    assert max_credits_in_any_window(sim) <= 100
    assert len(made) == 1  # the app kept its one client (and token) across the steps
    assert len(token_fetches) == 1 and usage["token_fetches"] == 1
    assert usage == {"requests": 8, "credits": 430, "token_fetches": 1, "windows": 5}
    assert usage["credits"] == sim.credits_charged() and usage["requests"] == len(sim.requests)
    assert timeline.seconds == 4 * 300
    assert sim.writes() == []
    assert all(r.query.count("propertyId=") > 1 for r in sim.requests[2:])  # many per request

    # Every unit now answers from Beds24; the locally booked one is Beds24's VACANT.
    assert (await occupancy(last))["occupancy"] == "VACANT"
    kpis = (
        await client.get(
            f"{PREFIX}/kpis/buildings/{building['id']}",
            params={"as_of": FIRST_NIGHT.isoformat()},
            headers=admin,
        )
    ).json()
    assert (kpis["occupied_units"], kpis["unknown_units"]) == (100, 0)


async def _two_mapped_units(client, admin, make_building, make_unit) -> tuple[dict, list[dict]]:
    building = await make_building(timezone="UTC")
    first_property = 10**11 + uuid.uuid4().int % 10**9 * 1000
    mapped = []
    for n in range(2):
        unit = await make_unit(building)
        put = await client.put(
            f"{PREFIX}/units/{unit['id']}/beds24-map",
            json={
                "beds24_property_id": first_property + n,
                "beds24_room_id": first_property + n,
                "source_of_truth": "BEDS24",
            },
            headers=admin,
        )
        assert put.status_code == 200, put.text
        mapped.append({"unit_id": unit["id"], "property_id": first_property + n})
    return building, mapped


async def _run_job(client, admin, registry_app, timeline, building, days: int) -> dict:
    started = await client.post(
        f"{PREFIX}/beds24/sync",
        json={
            "start_date": FIRST_NIGHT.isoformat(),
            "end_date": (FIRST_NIGHT + timedelta(days=days - 1)).isoformat(),
            "building_id": building["id"],
        },
        headers=admin,
    )
    assert started.status_code == 202, started.text
    for _ in range(10):
        view = await registry_app.state.beds24_sync.run_due()
        assert view is not None
        if view["status"] == "COMPLETED":
            got = await client.get(started.headers["location"], headers=admin)
            return got.json()
        timeline.move_to(datetime.fromisoformat(str(view["next_run_at"])))
    raise AssertionError("the job did not finish")


async def test_a_property_dearer_than_a_whole_window_fails_instead_of_blocking_every_job(
    client, admin, registry_app, clock, make_building, make_unit, uow_factory
):
    timeline = Timeline(clock)
    building, mapped = await _two_mapped_units(client, admin, make_building, make_unit)
    cheap, dear = mapped
    sim = Beds24SimState(clock=timeline, room_days_per_credit=1)
    sim.rooms[cheap["property_id"]] = SimRoom(cheap["property_id"], cheap["property_id"], "One")
    for room in range(20):  # 20 rooms x 10 days: 201 credits, more than 100 can pay
        sim.rooms[dear["property_id"] * 100 + room] = SimRoom(
            dear["property_id"] * 100 + room, dear["property_id"], "Many"
        )
    beds24 = Beds24ReadClient(
        refresh_token="sim-refresh-token",
        base_url="https://beds24.test/v2",
        transport=httpx.ASGITransport(app=create_beds24_sim(sim)),
        clock=timeline,
        sleep=no_sleeping,
    )
    previous = registry_app.state.beds24_client_factory
    registry_app.state.beds24_client_factory = lambda: beds24
    try:
        job = await _run_job(client, admin, registry_app, timeline, building, days=10)
        occupancy = await client.get(f"{PREFIX}/units/{dear['unit_id']}/occupancy", headers=admin)
    finally:
        registry_app.state.beds24_client_factory = previous
        await beds24.aclose()
    assert job["properties"] | {"stale": None} == {
        "total": 2,
        "done": 1,
        "pending": 0,
        "failed": 1,
        "stale": None,
    }
    assert "more than a whole credit window" in job["last_error"]
    assert occupancy.json()["occupancy"] == "UNKNOWN"
    assert "has not been fetched yet; the last attempt" in occupancy.json()["reason"]
    assert timeline.seconds == 300  # tried again once with a whole window, then gave up


async def test_without_a_token_the_job_ends_and_the_units_stay_unknown(
    client, admin, registry_app, clock, make_building, make_unit
):
    timeline = Timeline(clock)
    building, mapped = await _two_mapped_units(client, admin, make_building, make_unit)
    sim = Beds24SimState(clock=timeline)
    beds24 = Beds24ReadClient(
        refresh_token="revoked",
        base_url="https://beds24.test/v2",
        transport=httpx.ASGITransport(app=create_beds24_sim(sim)),
        clock=timeline,
        sleep=no_sleeping,
    )
    previous = registry_app.state.beds24_client_factory
    registry_app.state.beds24_client_factory = lambda: beds24
    try:
        job = await _run_job(client, admin, registry_app, timeline, building, days=1)
        occupancy = await client.get(
            f"{PREFIX}/units/{mapped[0]['unit_id']}/occupancy", headers=admin
        )
    finally:
        registry_app.state.beds24_client_factory = previous
        await beds24.aclose()
    assert (job["status"], job["properties"]["failed"]) == ("COMPLETED", 2)
    assert "token refresh failed" in job["last_error"]
    assert occupancy.json()["occupancy"] == "UNKNOWN"


async def test_two_runners_at_once_run_a_step_only_once(
    client, admin, registry_app, clock, make_building, make_unit
):
    timeline = Timeline(clock)
    building, mapped = await _two_mapped_units(client, admin, make_building, make_unit)
    sim = Beds24SimState(clock=timeline)
    for unit in mapped:
        sim.rooms[unit["property_id"]] = SimRoom(unit["property_id"], unit["property_id"], "R")
    beds24 = Beds24ReadClient(
        refresh_token="sim-refresh-token",
        base_url="https://beds24.test/v2",
        transport=httpx.ASGITransport(app=create_beds24_sim(sim)),
        clock=timeline,
        sleep=no_sleeping,
    )
    previous = registry_app.state.beds24_client_factory
    registry_app.state.beds24_client_factory = lambda: beds24
    sync = registry_app.state.beds24_sync
    try:
        started = await client.post(
            f"{PREFIX}/beds24/sync",
            json={"start_date": "2026-06-01", "end_date": "2026-06-01"}
            | {"building_id": building["id"]},
            headers=admin,
        )
        assert started.status_code == 202
        first, second = await asyncio.gather(sync.run_due(), sync.run_due())
    finally:
        registry_app.state.beds24_client_factory = previous
        await beds24.aclose()
    ran = [v for v in (first, second) if v is not None]
    assert len(ran) == 1 and ran[0]["status"] == "COMPLETED"  # the other found it leased
    assert [r.path for r in sim.requests].count("/v2/authentication/token") == 1
    assert len([r for r in sim.requests if r.path.endswith("unitBookings")]) == 2
