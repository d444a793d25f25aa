"""Beds24 API v2 simulator in the real wire format (see PROVIDERS.md, Beds24).

Served under ``/v2`` like ``https://api.beds24.com/v2``:

* ``GET /v2/authentication/token`` with header ``refreshToken`` → ``{token, expiresIn}``
* ``GET /v2/inventory/rooms/unitBookings?propertyId&startDate&endDate``
* ``GET /v2/bookings`` (filters, paging with ``pages.nextPageExists/nextPageLink``)
* any other method or path under ``/v2`` is recorded and answered like Beds24
  would for a write the token may not make (the recorder is what tests check).

Every ``/v2`` response carries ``x-five-min-limit-remaining``,
``x-five-min-limit-resets-in`` and ``x-request-cost``; when the 100 credits of the
rolling five minutes are spent it answers 429.

Test controls live under ``/_sim`` (seed rooms and bookings, read the request
log, inject failures) and are never recorded as Beds24 traffic.
"""

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


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Beds24SimState:
    """Everything the simulator knows; tests may seed it directly or through ``/_sim``."""

    refresh_token: str = "sim-refresh-token"
    token_ttl_seconds: int = 86_400
    credits_per_five_minutes: int = 100
    request_cost: int = 1
    page_size: int = 100
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

    def charge(self, cost: int) -> tuple[bool, int, int]:
        """Spend credits in the rolling window → (allowed, remaining, resets_in seconds)."""
        now = self.clock()
        self.spent = [(at, c) for at, c in self.spent if now - at < FIVE_MINUTES]
        used = sum(c for _, c in self.spent)
        resets_in = int(FIVE_MINUTES - (now - self.spent[0][0])) if self.spent else FIVE_MINUTES
        if used + cost > self.credits_per_five_minutes:
            return False, max(self.credits_per_five_minutes - used, 0), max(resets_in, 1)
        self.spent.append((now, cost))
        return True, self.credits_per_five_minutes - used - cost, max(resets_in, 1)

    def unit_bookings(self, property_id: int, start: date, end: date) -> list[dict[str, Any]]:
        rooms = [r for r in self.rooms.values() if r.property_id == property_id]
        result = []
        for room in sorted(rooms, key=lambda r: r.room_id):
            per_date: dict[str, dict[str, int]] = {}
            day = start
            while day <= end:
                counts = {str(n): 0 for n in range(1, room.qty + 1)}
                counts["unassigned"] = 0
                for booking in self.bookings.values():
                    if (
                        booking.room_id == room.room_id
                        and booking.status in OCCUPYING_STATUSES
                        and booking.arrival <= day < booking.departure
                    ):
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
        with sim.lock:
            sim.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.url.path,
                    query=request.url.query,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    body=body,
                    at=time.time(),
                )
            )
            injected = sim.fail_next.pop(0) if sim.fail_next else None
            redirect_to, sim.redirect_next_to = sim.redirect_next_to, None
            allowed, remaining, resets_in = sim.charge(sim.request_cost)
        limit_headers = {
            "x-five-min-limit-remaining": str(remaining),
            "x-five-min-limit-resets-in": str(resets_in),
            "x-request-cost": str(sim.request_cost),
        }
        if redirect_to is not None:
            return Response(status_code=302, headers={"location": redirect_to, **limit_headers})
        if not allowed:
            return _error(429, "Credit limit exceeded", limit_headers)
        if injected is not None:
            return _error(injected, "Injected failure", limit_headers)
        response = await call_next(request)
        response.headers.update(limit_headers)
        return response

    @app.get("/v2/authentication/token")
    async def refresh_access_token(request: Request) -> Response:
        if request.headers.get("refreshToken") != sim.refresh_token:
            return _error(401, "Refresh token is invalid")
        return JSONResponse({"token": sim.issue_token(), "expiresIn": sim.token_ttl_seconds})

    def authorised(request: Request) -> bool:
        return sim.token_valid(request.headers.get("token"))

    @app.get("/v2/inventory/rooms/unitBookings")
    async def unit_bookings(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "Token is missing or expired")
        params = request.query_params
        try:
            property_id = int(params["propertyId"])
            start = _parse_date(params.get("startDate")) or date.today()
            end = _parse_date(params.get("endDate")) or start
        except (KeyError, ValueError):
            return _error(400, "propertyId, startDate and endDate must be valid")
        if end < start:
            return _error(400, "endDate is before startDate")
        return JSONResponse({"success": True, "data": sim.unit_bookings(property_id, start, end)})

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
