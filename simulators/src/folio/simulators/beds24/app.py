"""Beds24 API v2 simulator in the real wire format (see PROVIDERS.md, Beds24).

Served under ``/v2`` like ``https://api.beds24.com/v2``:

* ``GET /v2/authentication/token`` with header ``refreshToken`` → ``{token, expiresIn}``
* ``GET /v2/inventory/rooms/unitBookings?propertyId&startDate&endDate``: like the
  real API, ``propertyId`` (and ``roomId``) are arrays, sent repeated
  (``propertyId=1&propertyId=2``), so one request answers many properties; the
  rooms are paged (``page``, ``pages.nextPageExists/nextPageLink``,
  ``rooms_page_size`` rooms per page, ordered by property then room)
* ``GET /v2/bookings`` (filters, paging with ``pages.nextPageExists/nextPageLink``)
* any other method or path under ``/v2`` is recorded and answered like Beds24
  would for a write the token may not make (the recorder is what tests check).

Credits (PROVIDERS.md: 100 credits per rolling five minutes per account; Beds24's
wiki: "each API request has a cost, calculated dynamically [on] how complex the
request is", and "getting a new token costs credits"). Beds24 publishes no per-endpoint
figure, so this simulator's cost model is an assumption, reported like Beds24 does
in ``x-request-cost`` (clients must read it, never assume it):

* a token refresh costs ``token_cost`` (1);
* a ``/bookings`` page costs ``request_cost`` (1);
* a ``unitBookings`` page costs ``request_cost`` + ceil(room-days answered /
  ``room_days_per_credit``): 1 + 1 per 10 room-days by default, so asking for
  many properties at once saves the per-request credit, not the data's.

Every ``/v2`` response carries ``x-five-min-limit-remaining``,
``x-five-min-limit-resets-in`` (seconds until the oldest spend in the rolling window
expires) and ``x-request-cost``. A request whose cost would overdraw the window is
refused with 429 and costs nothing. The window runs on ``Beds24SimState.clock``
(injectable, so tests move time instead of sleeping); token expiry too.

Test controls live under ``/_sim`` (seed rooms and bookings, read the request
log, inject failures) and are never recorded as Beds24 traffic.
"""

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from folio.simulators.index import add_index

FIVE_MINUTES = 300
OCCUPYING_STATUSES = frozenset({"confirmed", "new", "request", "black"})
BOOKING_STATUSES = frozenset({"confirmed", "request", "new", "cancelled", "black", "inquiry"})


@dataclass
class SimRoom:
    room_id: int
    property_id: int
    name: str
    qty: int = 1


@dataclass
class SimBooking:
    id: int
    property_id: int
    room_id: int
    arrival: date
    departure: date  # check-out day, not occupied
    unit_id: int | None = None  # None → "unassigned"
    status: str = "confirmed"
    first_name: str = "Guest"
    last_name: str = ""

    def as_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "propertyId": self.property_id,
            "roomId": self.room_id,
            "unitId": self.unit_id or 0,
            "status": self.status,
            "arrival": self.arrival.isoformat(),
            "departure": self.departure.isoformat(),
            "firstName": self.first_name,
            "lastName": self.last_name,
            "numAdult": 1,
            "numChild": 0,
        }


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 0  # filled in once answered
    cost: int = 0  # credits charged (0 when refused)


@dataclass
class Beds24SimState:
    """Everything the simulator knows; tests may seed it directly or through ``/_sim``."""

    refresh_token: str = "sim-refresh-token"
    token_ttl_seconds: int = 86_400
    credits_per_five_minutes: int = 100
    request_cost: int = 1
    token_cost: int = 1
    room_days_per_credit: int = 10
    page_size: int = 100
    rooms_page_size: int = 100
    clock: Callable[[], float] = time.monotonic
    rooms: dict[int, SimRoom] = field(default_factory=dict)
    bookings: dict[int, SimBooking] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # token → expires at (clock)
    spent: list[tuple[float, int]] = field(default_factory=list)  # (at, cost) in the window
    fail_next: list[int] = field(default_factory=list)  # status codes to answer next
    redirect_next_to: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue_token(self) -> str:
        token = "sim-" + secrets.token_urlsafe(18)
        self.tokens[token] = self.clock() + self.token_ttl_seconds
        return token

    def token_valid(self, token: str | None) -> bool:
        expires_at = self.tokens.get(token or "")
        return expires_at is not None and self.clock() < expires_at

    def expire_all_tokens(self) -> None:
        self.tokens.clear()

    def writes(self) -> list[RecordedRequest]:
        """Requests with a method other than GET/HEAD/OPTIONS: Folio must send none."""
        return [r for r in self.requests if r.method not in {"GET", "HEAD", "OPTIONS"}]

    def credits_charged(self) -> int:
        """Every credit charged since the start (or the last reset)."""
        return sum(r.cost for r in self.requests)

    def refused(self) -> list[RecordedRequest]:
        """Requests answered 429 because the credit budget was spent."""
        return [r for r in self.requests if r.status == 429]

    def unit_bookings_cost(self, rooms: int, days: int) -> int:
        return self.request_cost + math.ceil(rooms * days / self.room_days_per_credit)

    def _window(self, now: float) -> tuple[int, int]:
        self.spent = [(at, c) for at, c in self.spent if now - at < FIVE_MINUTES]
        used = sum(c for _, c in self.spent)
        resets_in = int(FIVE_MINUTES - (now - self.spent[0][0])) if self.spent else FIVE_MINUTES
        return used, max(resets_in, 1)

    def remaining(self) -> tuple[int, int]:
        """(credits left in the rolling window, seconds until its oldest spend expires)."""
        used, resets_in = self._window(self.clock())
        return max(self.credits_per_five_minutes - used, 0), resets_in

    def charge(self, cost: int) -> tuple[bool, int, int]:
        """Spend credits in the rolling window → (allowed, remaining, resets_in seconds)."""
        now = self.clock()
        used, resets_in = self._window(now)
        if used + cost > self.credits_per_five_minutes:
            return False, max(self.credits_per_five_minutes - used, 0), resets_in
        self.spent.append((now, cost))
        if len(self.spent) == 1:
            resets_in = FIVE_MINUTES
        return True, self.credits_per_five_minutes - used - cost, resets_in

    def select_rooms(self, property_ids: set[int], room_ids: set[int]) -> list[SimRoom]:
        """Rooms matching the filters (empty filter: all), by property then room."""
        return sorted(
            (
                r
                for r in self.rooms.values()
                if (not property_ids or r.property_id in property_ids)
                and (not room_ids or r.room_id in room_ids)
            ),
            key=lambda r: (r.property_id, r.room_id),
        )

    def unit_bookings(
        self, property_id: int | None, start: date, end: date, rooms: list[SimRoom] | None = None
    ) -> list[dict[str, Any]]:
        if rooms is None:
            rooms = self.select_rooms({property_id} if property_id is not None else set(), set())
        wanted = {room.room_id for room in rooms}
        by_room: dict[int, list[SimBooking]] = {}
        for booking in self.bookings.values():
            if booking.room_id in wanted and booking.status in OCCUPYING_STATUSES:
                by_room.setdefault(booking.room_id, []).append(booking)
        result = []
        for room in rooms:
            per_date: dict[str, dict[str, int]] = {}
            day = start
            while day <= end:
                counts = {str(n): 0 for n in range(1, room.qty + 1)}
                counts["unassigned"] = 0
                for booking in by_room.get(room.room_id, ()):
                    if booking.arrival <= day < booking.departure:
                        key = str(booking.unit_id) if booking.unit_id else "unassigned"
                        counts[key] = counts.get(key, 0) + 1
                per_date[day.isoformat()] = counts
                day += timedelta(days=1)
            result.append(
                {
                    "roomId": room.room_id,
                    "propertyId": room.property_id,
                    "name": room.name,
                    "qty": room.qty,
                    "unitBookings": per_date,
                }
            )
        return result


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"success": False, "type": "error", "code": status, "error": message},
        status_code=status,
        headers=headers,
    )


def _parse_date(raw: str | None) -> date | None:
    if raw is None:
        return None
    return date.fromisoformat(raw)


# Control models use the Beds24 wire names (camelCase) so seeds read like real data.
class _RoomIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roomId: int
    propertyId: int
    name: str = "Room"
    qty: int = Field(default=1, ge=1)


class _BookingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    propertyId: int
    roomId: int
    arrival: date
    departure: date
    unitId: int | None = None
    status: str = "confirmed"


class _SeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rooms: list[_RoomIn] = Field(default_factory=list)
    bookings: list[_BookingIn] = Field(default_factory=list)


class _FailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statuses: list[int] = Field(default_factory=list)
    redirect_to: str | None = None


def create_app(state: Beds24SimState | None = None) -> FastAPI:
    """The simulator app; ``app.state.sim`` is its :class:`Beds24SimState`."""
    sim = state or Beds24SimState()
    app = FastAPI(title="Beds24 API v2 simulator", docs_url="/_sim/docs", openapi_url=None)
    app.state.sim = sim

    @app.middleware("http")
    async def record_and_meter(request: Request, call_next: Any) -> Response:
        if not request.url.path.startswith("/v2"):
            return await call_next(request)
        body = await request.body()
        record = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            at=sim.clock(),
        )
        with sim.lock:
            sim.requests.append(record)
            injected = sim.fail_next.pop(0) if sim.fail_next else None
            redirect_to, sim.redirect_next_to = sim.redirect_next_to, None
            remaining, resets_in = sim.remaining()
        response: Response
        if remaining < sim.request_cost:
            response = _error(429, "Credit limit exceeded")
        elif redirect_to is not None or injected is not None:
            with sim.lock:
                _, remaining, resets_in = sim.charge(sim.request_cost)
            record.cost = sim.request_cost
            if redirect_to is not None:
                response = Response(status_code=302, headers={"location": redirect_to})
            else:
                response = _error(injected or 500, "Injected failure")
        else:
            response = await call_next(request)
            # The endpoint prices its own answer (x-request-cost); refused if unaffordable.
            cost = int(response.headers.get("x-request-cost", sim.request_cost))
            with sim.lock:
                allowed, remaining, resets_in = sim.charge(cost)
            if allowed:
                record.cost = cost
            else:
                response = _error(429, "Credit limit exceeded")
        record.status = response.status_code
        response.headers.update(
            {
                "x-five-min-limit-remaining": str(remaining),
                "x-five-min-limit-resets-in": str(resets_in),
                "x-request-cost": str(record.cost),
            }
        )
        return response

    @app.get("/v2/authentication/token")
    async def refresh_access_token(request: Request) -> Response:
        if request.headers.get("refreshToken") != sim.refresh_token:
            return _error(401, "Refresh token is invalid")
        return JSONResponse(
            {"token": sim.issue_token(), "expiresIn": sim.token_ttl_seconds},
            headers={"x-request-cost": str(sim.token_cost)},
        )

    def authorised(request: Request) -> bool:
        return sim.token_valid(request.headers.get("token"))

    @app.get("/v2/inventory/rooms/unitBookings")
    async def unit_bookings(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "Token is missing or expired")
        params = request.query_params
        try:
            property_ids = {int(v) for v in params.getlist("propertyId")}
            room_ids = {int(v) for v in params.getlist("roomId")}
            start = _parse_date(params.get("startDate")) or date.today()
            end = _parse_date(params.get("endDate")) or start
            page = int(params.get("page", "1"))
        except ValueError:
            return _error(400, "propertyId, roomId, startDate, endDate and page must be valid")
        if end < start or page < 1:
            return _error(400, "endDate is before startDate, or page is below 1")
        selected = sim.select_rooms(property_ids, room_ids)
        first = (page - 1) * sim.rooms_page_size
        chunk = selected[first : first + sim.rooms_page_size]
        next_exists = first + sim.rooms_page_size < len(selected)
        next_link = str(request.url.include_query_params(page=page + 1)) if next_exists else None
        days = (end - start).days + 1
        return JSONResponse(
            {
                "success": True,
                "type": "unitBookings",
                "count": len(chunk),
                "pages": {"nextPageExists": next_exists, "nextPageLink": next_link},
                "data": sim.unit_bookings(None, start, end, rooms=chunk),
            },
            headers={"x-request-cost": str(sim.unit_bookings_cost(len(chunk), days))},
        )

    @app.get("/v2/bookings")
    async def list_bookings(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "Token is missing or expired")
        params = request.query_params
        try:
            property_ids = {int(v) for v in params.getlist("propertyId")}
            room_ids = {int(v) for v in params.getlist("roomId")}
            statuses = set(params.getlist("status"))
            arrival_from = _parse_date(params.get("arrivalFrom"))
            arrival_to = _parse_date(params.get("arrivalTo"))
            departure_from = _parse_date(params.get("departureFrom"))
            departure_to = _parse_date(params.get("departureTo"))
            page = int(params.get("page", "1"))
        except ValueError:
            return _error(400, "Invalid filter")
        if page < 1 or not statuses <= BOOKING_STATUSES:
            return _error(400, "Invalid filter")
        selected = [
            b
            for b in sorted(sim.bookings.values(), key=lambda b: b.id)
            if (not property_ids or b.property_id in property_ids)
            and (not room_ids or b.room_id in room_ids)
            and (not statuses or b.status in statuses)
            and (arrival_from is None or b.arrival >= arrival_from)
            and (arrival_to is None or b.arrival <= arrival_to)
            and (departure_from is None or b.departure >= departure_from)
            and (departure_to is None or b.departure <= departure_to)
        ]
        first = (page - 1) * sim.page_size
        chunk = selected[first : first + sim.page_size]
        next_exists = first + sim.page_size < len(selected)
        next_link = None
        if next_exists:
            next_link = str(request.url.include_query_params(page=page + 1))
        return JSONResponse(
            {
                "success": True,
                "type": "booking",
                "count": len(chunk),
                "pages": {"nextPageExists": next_exists, "nextPageLink": next_link},
                "data": [b.as_wire() for b in chunk],
            }
        )

    @app.api_route(
        "/v2/{rest:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def anything_else(rest: str, request: Request) -> Response:
        if request.method == "GET":
            return _error(404, "Not found")
        # A write: Beds24 would act on it; the simulator only records it (see writes()).
        return _error(403, "Write endpoints are not simulated; this request was recorded")

    # --- test controls (not Beds24) -----------------------------------------

    @app.post("/_sim/seed")
    async def seed(body: _SeedIn) -> dict[str, int]:
        with sim.lock:
            for room in body.rooms:
                sim.rooms[room.roomId] = SimRoom(room.roomId, room.propertyId, room.name, room.qty)
            for b in body.bookings:
                sim.bookings[b.id] = SimBooking(
                    b.id, b.propertyId, b.roomId, b.arrival, b.departure, b.unitId, b.status
                )
        return {"rooms": len(sim.rooms), "bookings": len(sim.bookings)}

    @app.get("/_sim/requests")
    async def recorded_requests() -> dict[str, Any]:
        return {
            "requests": [
                {"method": r.method, "path": r.path, "query": r.query} for r in sim.requests
            ],
            "writes": len(sim.writes()),
        }

    @app.post("/_sim/fail")
    async def inject_failures(body: _FailIn) -> dict[str, int]:
        with sim.lock:
            sim.fail_next.extend(body.statuses)
            sim.redirect_next_to = body.redirect_to
        return {"pending_failures": len(sim.fail_next)}

    @app.post("/_sim/expire-tokens")
    async def expire_tokens() -> dict[str, bool]:
        sim.expire_all_tokens()
        return {"expired": True}

    @app.post("/_sim/reset")
    async def reset() -> dict[str, bool]:
        with sim.lock:
            sim.rooms.clear()
            sim.bookings.clear()
            sim.requests.clear()
            sim.tokens.clear()
            sim.spent.clear()
            sim.fail_next.clear()
            sim.redirect_next_to = None
        return {"reset": True}

    add_index(
        app,
        "Beds24's API v2 under /v2 (token refresh, unit bookings, bookings, credit limit) "
        "for the registry; test controls under /_sim.",
    )
    return app
