"""The read-only Beds24 client against the in-process Beds24 simulator."""

from datetime import date

import httpx
import pytest

from folio.registry.adapters.beds24 import (
    Beds24BudgetExhausted,
    Beds24Error,
    Beds24RateLimited,
    Beds24ReadClient,
    Beds24RedirectRefused,
    Beds24WriteRefused,
)
from folio.simulators.beds24 import Beds24SimState, SimBooking, SimRoom, create_app

BASE_URL = "https://api.beds24.test/v2"


class FakeClock:
    """Shared by the simulator's rate-limit window and the client's sleep."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock) -> Beds24SimState:
    state = Beds24SimState(clock=clock, page_size=2)
    state.rooms[501] = SimRoom(501, 77, "Studio A", qty=2)
    for booking_id in range(1, 6):
        state.bookings[booking_id] = SimBooking(
            booking_id, 77, 501, date(2026, 3, booking_id), date(2026, 3, booking_id + 1), 1
        )
    return state


def make_client(sim: Beds24SimState, clock: FakeClock, **kwargs) -> Beds24ReadClient:
    return Beds24ReadClient(
        refresh_token=kwargs.pop("refresh_token", "sim-refresh-token"),
        base_url=BASE_URL,
        transport=httpx.ASGITransport(app=create_app(sim)),
        sleep=clock.sleep,
        clock=clock,
        backoff_seconds=0.1,
        **kwargs,
    )


async def test_reads_unit_bookings_after_fetching_a_token(sim, clock):
    async with make_client(sim, clock) as client:
        rooms = await client.unit_bookings(
            property_ids=[77], start_date=date(2026, 3, 1), end_date=date(2026, 3, 2)
        )
    assert len(rooms) == 1
    assert rooms[0].room_id == 501 and rooms[0].qty == 2
    assert rooms[0].unit_bookings[date(2026, 3, 1)] == {"1": 1, "2": 0, "unassigned": 0}
    assert [(r.method, r.path) for r in sim.requests] == [
        ("GET", "/v2/authentication/token"),
        ("GET", "/v2/inventory/rooms/unitBookings"),
    ]
    assert sim.requests[0].headers["refreshtoken"] == "sim-refresh-token"
    assert sim.requests[1].headers["token"].startswith("sim-")
    assert "propertyId=77" in sim.requests[1].query
    assert "startDate=2026-03-01" in sim.requests[1].query


async def test_expired_token_is_refreshed_once_and_the_read_repeated(sim, clock):
    async with make_client(sim, clock) as client:
        await client.bookings(propertyId=77)
        sim.expire_all_tokens()
        bookings = await client.bookings(propertyId=77)
    assert [b["id"] for b in bookings] == [1, 2, 3, 4, 5]  # three pages followed
    paths = [r.path for r in sim.requests]
    assert paths.count("/v2/authentication/token") == 2


async def test_wrong_refresh_token_fails_cleanly(sim, clock):
    async with make_client(sim, clock, refresh_token="wrong") as client:
        with pytest.raises(Beds24Error, match="token refresh failed"):
            await client.bookings()


async def test_retries_server_errors_with_backoff_then_succeeds(sim, clock):
    sim.fail_next.extend([503, 500])
    async with make_client(sim, clock) as client:
        await client.bookings(propertyId=77)
    assert clock.slept[:2] == [0.1, 0.2]  # exponential backoff


async def test_retries_are_bounded(sim, clock):
    sim.fail_next.extend([503] * 10)
    async with make_client(sim, clock, max_attempts=3) as client:
        with pytest.raises(Beds24Error, match="gave up after 3 attempts"):
            await client.bookings()
    assert len(sim.requests) == 3


async def test_never_sleeps_for_credits_and_sends_nothing_it_cannot_afford(sim, clock):
    sim.credits_per_five_minutes = 2
    async with make_client(sim, clock) as client:
        await client.bookings(propertyId=77, status="confirmed", arrivalFrom="2026-03-05")
        assert client.credits_remaining == 0
        sent_before = len(sim.requests)
        with pytest.raises(Beds24BudgetExhausted) as waiting:
            await client.bookings(propertyId=77)
        assert len(sim.requests) == sent_before  # nothing sent over budget
        assert waiting.value.retry_in == 300  # the token's credit comes back first
        assert clock.slept == []  # told when to come back instead of sleeping
        clock.now += 300
        assert client.credits_remaining == 2
        await client.bookings(propertyId=77, status="confirmed", arrivalFrom="2026-03-05")
    assert sim.refused() == [] and client.token_fetches == 1


async def test_a_429_is_not_retried_and_says_when_to_come_back(sim, clock):
    async with make_client(sim, clock) as client:
        await client.bookings(propertyId=77, arrivalFrom="2026-03-05")
        sim.spent.append((clock.now, 98))  # someone else spends the account's credits
        clock.now += 10
        with pytest.raises(Beds24RateLimited) as limited:
            await client.bookings(propertyId=77)
    assert limited.value.retry_in == 290
    assert len(sim.refused()) == 1 and clock.slept == []


async def test_one_token_is_kept_until_shortly_before_it_expires(sim, clock):
    sim.token_ttl_seconds = 3_600
    async with make_client(sim, clock, token_refresh_margin_seconds=600) as client:
        for _ in range(5):
            await client.bookings(propertyId=77, arrivalFrom="2026-03-05")
            clock.now += 500  # 2,500 s: still more than 600 s before expiry
        assert client.token_fetches == 1
        clock.now += 500  # 3,000 s: within the margin
        await client.bookings(propertyId=77, arrivalFrom="2026-03-05")
    assert client.token_fetches == 2
    assert [r.path for r in sim.requests].count("/v2/authentication/token") == 2
    assert sim.refused() == []


async def test_concurrent_callers_share_one_token_fetch(sim, clock):
    import asyncio

    async with make_client(sim, clock) as client:
        await asyncio.gather(
            *(client.bookings(propertyId=77, arrivalFrom="2026-03-05") for _ in range(5))
        )
        sim.expire_all_tokens()  # all five see a 401 and only one refreshes
        await asyncio.gather(
            *(client.bookings(propertyId=77, arrivalFrom="2026-03-05") for _ in range(5))
        )
    assert client.token_fetches == 2


async def test_many_properties_in_one_request_following_pages(clock):
    sim = Beds24SimState(clock=clock, rooms_page_size=2)
    for room_id in range(1, 6):
        sim.rooms[room_id] = SimRoom(room_id, 100 + room_id, "Room")
    async with make_client(sim, clock) as client:
        rooms = await client.unit_bookings(
            property_ids=[101, 102, 103, 104, 105],
            start_date=date(2026, 3, 1),
            end_date=date(2026, 3, 1),
        )
    assert sorted(r.property_id for r in rooms) == [101, 102, 103, 104, 105]
    data_requests = [r for r in sim.requests if r.path.endswith("unitBookings")]
    assert len(data_requests) == 3  # pages of two rooms
    assert data_requests[0].query.count("propertyId=") == 5
    assert client.credits_spent == sim.credits_charged() == 1 + 2 + 2 + 2


async def test_refuses_a_redirect_to_another_host(sim, clock):
    async with make_client(sim, clock) as client:
        await client.bookings(propertyId=77, arrivalFrom="2026-03-05")
        sim.redirect_next_to = "https://evil.example/v2/bookings"
        with pytest.raises(Beds24RedirectRefused):
            await client.bookings(propertyId=77)


async def test_follows_a_redirect_on_the_same_host(sim, clock):
    async with make_client(sim, clock) as client:
        await client.bookings(propertyId=77, arrivalFrom="2026-03-05")
        sim.redirect_next_to = f"{BASE_URL}/bookings?propertyId=77&arrivalFrom=2026-03-05"
        bookings = await client.bookings(propertyId=1)
    assert [b["id"] for b in bookings] == [5]


async def test_invalid_response_body_is_rejected():
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/authentication/token"):
            return httpx.Response(200, json={"token": "t"})
        return httpx.Response(200, json={"success": True, "data": [{"roomId": "not-an-int"}]})

    client = Beds24ReadClient(
        refresh_token="r", base_url=BASE_URL, transport=httpx.MockTransport(handler)
    )
    async with client:
        with pytest.raises(Beds24Error, match="unexpected unitBookings"):
            await client.unit_bookings(
                property_ids=[1], start_date=date(2026, 1, 1), end_date=date(2026, 1, 1)
            )


async def test_timeouts_are_retried_then_reported(clock):
    attempts = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ReadTimeout("slow", request=request)

    client = Beds24ReadClient(
        refresh_token="r",
        base_url=BASE_URL,
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        max_attempts=2,
    )
    async with client:
        with pytest.raises(Beds24Error, match="ReadTimeout"):
            await client.bookings()
    assert attempts == 2


async def test_the_client_cannot_send_anything_but_get(sim, clock):
    async with make_client(sim, clock) as client:
        # Even reaching past the public API, the request hook stops any write.
        with pytest.raises(Beds24WriteRefused):
            await client._http.post(f"{BASE_URL}/bookings", json=[{"id": 1}])
        await client.unit_bookings(
            property_ids=[77], start_date=date(2026, 3, 1), end_date=date(2026, 3, 31)
        )
        await client.bookings(propertyId=77)
    assert sim.requests, "the simulator saw the reads"
    assert sim.writes() == []
    assert not [
        m
        for m in dir(Beds24ReadClient)
        if m.split("_")[0] in {"post", "put", "patch", "delete", "create", "update"}
    ]


async def test_a_next_page_link_to_another_host_is_not_followed():
    sent_to: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent_to.append(request.url.host)
        if request.url.path.endswith("/authentication/token"):
            return httpx.Response(200, json={"token": "t"})
        return httpx.Response(
            200,
            json={
                "success": True,
                "data": [{"id": 1}],
                "pages": {
                    "nextPageExists": True,
                    "nextPageLink": "https://evil.example/v2/bookings?page=2",
                },
            },
        )

    client = Beds24ReadClient(
        refresh_token="r", base_url=BASE_URL, transport=httpx.MockTransport(handler)
    )
    async with client:
        with pytest.raises(Beds24RedirectRefused):
            await client.bookings()
    assert set(sent_to) == {"api.beds24.test"}
