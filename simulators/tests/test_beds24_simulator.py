"""The Beds24 simulator speaks the v2 wire format and records every request."""

from datetime import date

import httpx
import pytest

from folio.simulators.beds24 import Beds24SimState, SimBooking, SimRoom, create_app


@pytest.fixture
def sim() -> Beds24SimState:
    state = Beds24SimState(page_size=2)
    state.rooms[501] = SimRoom(room_id=501, property_id=77, name="Studio A", qty=2)
    state.rooms[502] = SimRoom(room_id=502, property_id=77, name="Studio B", qty=1)
    state.rooms[900] = SimRoom(room_id=900, property_id=99, name="Elsewhere", qty=1)
    state.bookings[1] = SimBooking(1, 77, 501, date(2026, 3, 1), date(2026, 3, 3), unit_id=2)
    state.bookings[2] = SimBooking(2, 77, 501, date(2026, 3, 2), date(2026, 3, 4), unit_id=None)
    state.bookings[3] = SimBooking(
        3, 77, 502, date(2026, 3, 1), date(2026, 3, 5), unit_id=1, status="cancelled"
    )
    state.bookings[4] = SimBooking(4, 77, 502, date(2026, 3, 2), date(2026, 3, 3), unit_id=1)
    state.bookings[5] = SimBooking(5, 99, 900, date(2026, 3, 1), date(2026, 3, 9), unit_id=1)
    return state


@pytest.fixture
async def client(sim):
    transport = httpx.ASGITransport(app=create_app(sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://beds24.sim") as http:
        yield http


async def token_for(client: httpx.AsyncClient) -> str:
    response = await client.get(
        "/v2/authentication/token", headers={"refreshToken": "sim-refresh-token"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["expiresIn"] == 86_400
    return body["token"]


async def test_refresh_token_must_match(client):
    response = await client.get("/v2/authentication/token", headers={"refreshToken": "nope"})
    assert response.status_code == 401
    assert response.json()["success"] is False


async def test_unit_bookings_counts_per_unit_and_date_with_unassigned(client):
    token = await token_for(client)
    response = await client.get(
        "/v2/inventory/rooms/unitBookings",
        params={"propertyId": 77, "startDate": "2026-03-01", "endDate": "2026-03-03"},
        headers={"token": token},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    rooms = {room["roomId"]: room for room in body["data"]}
    assert set(rooms) == {501, 502}  # property 99 is not included
    assert rooms[501]["qty"] == 2 and rooms[501]["propertyId"] == 77
    assert rooms[501]["unitBookings"] == {
        "2026-03-01": {"1": 0, "2": 1, "unassigned": 0},
        "2026-03-02": {"1": 0, "2": 1, "unassigned": 1},
        "2026-03-03": {"1": 0, "2": 0, "unassigned": 1},  # booking 1 checked out
    }
    # The cancelled booking 3 does not occupy; booking 4 occupies only 03-02.
    assert rooms[502]["unitBookings"]["2026-03-01"] == {"1": 0, "unassigned": 0}
    assert rooms[502]["unitBookings"]["2026-03-02"] == {"1": 1, "unassigned": 0}


async def test_reads_need_a_valid_token_and_expired_tokens_fail(client, sim):
    params = {"propertyId": 77, "startDate": "2026-03-01", "endDate": "2026-03-01"}
    assert (await client.get("/v2/inventory/rooms/unitBookings", params=params)).status_code == 401
    token = await token_for(client)
    sim.expire_all_tokens()
    response = await client.get(
        "/v2/inventory/rooms/unitBookings", params=params, headers={"token": token}
    )
    assert response.status_code == 401


async def test_bookings_filter_and_page_with_next_page_link(client):
    token = await token_for(client)
    first = await client.get("/v2/bookings", params={"propertyId": 77}, headers={"token": token})
    body = first.json()
    assert body["success"] is True and body["type"] == "booking"
    assert [b["id"] for b in body["data"]] == [1, 2]
    assert body["pages"]["nextPageExists"] is True
    assert "page=2" in body["pages"]["nextPageLink"]
    second = await client.get(body["pages"]["nextPageLink"], headers={"token": token})
    assert [b["id"] for b in second.json()["data"]] == [3, 4]
    assert second.json()["pages"] == {"nextPageExists": False, "nextPageLink": None}
    confirmed = await client.get(
        "/v2/bookings",
        params={"propertyId": 77, "status": "cancelled"},
        headers={"token": token},
    )
    assert [b["id"] for b in confirmed.json()["data"]] == [3]
    assert confirmed.json()["data"][0]["arrival"] == "2026-03-01"


async def test_rate_limit_headers_and_429_when_credits_are_spent(client, sim):
    sim.credits_per_five_minutes = 3
    token = await token_for(client)  # 1 credit
    ok = await client.get("/v2/bookings", headers={"token": token})  # 2
    assert ok.headers["x-five-min-limit-remaining"] == "1"
    assert ok.headers["x-request-cost"] == "1"
    assert 0 < int(ok.headers["x-five-min-limit-resets-in"]) <= 300
    await client.get("/v2/bookings", headers={"token": token})  # 3
    limited = await client.get("/v2/bookings", headers={"token": token})
    assert limited.status_code == 429
    assert limited.headers["x-five-min-limit-remaining"] == "0"


async def test_every_request_is_recorded_including_writes(client, sim):
    token = await token_for(client)
    await client.get("/v2/bookings", headers={"token": token})
    write = await client.post("/v2/bookings", json=[{"id": 1, "departure": "2026-04-01"}])
    assert write.status_code == 403
    await client.delete("/v2/bookings/1")
    await client.post("/_sim/fail", json={"statuses": []})  # controls are not Beds24 traffic
    assert [(r.method, r.path) for r in sim.requests] == [
        ("GET", "/v2/authentication/token"),
        ("GET", "/v2/bookings"),
        ("POST", "/v2/bookings"),
        ("DELETE", "/v2/bookings/1"),
    ]
    assert [r.method for r in sim.writes()] == ["POST", "DELETE"]
    log = (await client.get("/_sim/requests")).json()
    assert log["writes"] == 2 and len(log["requests"]) == 4


async def test_seed_and_injected_failures_through_controls(client, sim):
    sim.rooms.clear()
    sim.bookings.clear()
    seeded = await client.post(
        "/_sim/seed",
        json={
            "rooms": [{"roomId": 1, "propertyId": 5, "qty": 1}],
            "bookings": [
                {
                    "id": 10,
                    "propertyId": 5,
                    "roomId": 1,
                    "unitId": 1,
                    "arrival": "2026-05-01",
                    "departure": "2026-05-02",
                }
            ],
        },
    )
    assert seeded.json() == {"rooms": 1, "bookings": 1}
    bad = await client.post("/_sim/seed", json={"rooms": [{"roomId": 1}], "extra": 1})
    assert bad.status_code == 422
    await client.post("/_sim/fail", json={"statuses": [503]})
    token_response = await client.get(
        "/v2/authentication/token", headers={"refreshToken": "sim-refresh-token"}
    )
    assert token_response.status_code == 503
    assert (await token_for(client)).startswith("sim-")


class StepClock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


async def test_unit_bookings_answers_many_properties_in_pages_of_rooms():
    sim = Beds24SimState(rooms_page_size=2)
    for room_id, property_id in [(11, 1), (12, 1), (21, 2), (31, 3), (41, 4)]:
        sim.rooms[room_id] = SimRoom(room_id, property_id, "Room")
    transport = httpx.ASGITransport(app=create_app(sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://beds24.sim") as client:
        token = await token_for(client)
        params = [("propertyId", p) for p in (1, 2, 3)] + [
            ("startDate", "2026-03-01"),
            ("endDate", "2026-03-02"),
        ]
        first = await client.get(
            "/v2/inventory/rooms/unitBookings", params=params, headers={"token": token}
        )
        body = first.json()
        assert [r["roomId"] for r in body["data"]] == [11, 12]
        assert body["pages"]["nextPageExists"] is True and body["count"] == 2
        # 2 rooms x 2 days = 4 room-days: 1 for the request + ceil(4 / 10).
        assert first.headers["x-request-cost"] == "2"
        second = await client.get(body["pages"]["nextPageLink"], headers={"token": token})
        assert [r["roomId"] for r in second.json()["data"]] == [21, 31]  # not property 4
        assert second.json()["pages"] == {"nextPageExists": False, "nextPageLink": None}
        by_room = await client.get(
            "/v2/inventory/rooms/unitBookings",
            params=[("roomId", 41), ("startDate", "2026-03-01")],
            headers={"token": token},
        )
        assert [r["roomId"] for r in by_room.json()["data"]] == [41]
    assert sim.credits_charged() == 1 + 2 + 2 + 2


async def test_the_budget_is_100_credits_per_rolling_five_minutes_on_the_injected_clock():
    clock = StepClock()
    sim = Beds24SimState(clock=clock)
    for room_id in range(1, 201):
        sim.rooms[room_id] = SimRoom(room_id, room_id, "Room")
    transport = httpx.ASGITransport(app=create_app(sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://beds24.sim") as client:
        token = await token_for(client)  # 1 credit
        params = [("propertyId", p) for p in range(1, 81)] + [("startDate", "2026-03-01")]
        big = await client.get(
            "/v2/inventory/rooms/unitBookings", params=params, headers={"token": token}
        )
        assert big.headers["x-request-cost"] == "9"  # 1 + ceil(80 / 10)
        assert big.headers["x-five-min-limit-remaining"] == "90"
        clock.now += 100
        params = [("propertyId", p) for p in range(1, 101)] + [
            ("startDate", "2026-03-01"),
            ("endDate", "2026-03-10"),
        ]
        refused = await client.get(
            "/v2/inventory/rooms/unitBookings", params=params, headers={"token": token}
        )
        # 1 + 100 rooms x 10 days / 10 = 101 credits: more than the window holds.
        assert refused.status_code == 429
        assert refused.headers["x-five-min-limit-remaining"] == "90"
        assert refused.headers["x-five-min-limit-resets-in"] == "200"
        assert refused.headers["x-request-cost"] == "0"
        clock.now += 200  # the first spends leave the rolling window
        assert sim.remaining() == (100, 300)
    assert [r.status for r in sim.requests] == [200, 200, 429]
    assert len(sim.refused()) == 1 and sim.credits_charged() == 10
