"""Read-only Beds24 API v2 client (PROVIDERS.md, Beds24).

Folio never writes to Beds24, so this client can only send GET requests: there
is no method for any other verb, and an httpx request hook refuses anything
else before it leaves the process.

* Auth: header ``token``; on 401 (or no token yet) it fetches a new access token
  with ``GET /authentication/token`` and header ``refreshToken``, once per call.
* Rate limit: it reads ``x-five-min-limit-remaining`` / ``-resets-in`` /
  ``x-request-cost``; when the next request would overdraw the credits (or the
  server says 429) it waits for the reset if that is short, else fails fast.
* Timeouts on every request, bounded retries with exponential backoff on
  transport errors, 429 and 5xx; redirects are followed only on the same host.
* Responses are validated; anything unexpected raises :class:`Beds24Error`.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from urllib.parse import urljoin

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_BASE_URL = "https://api.beds24.com/v2"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class Beds24Error(Exception):
    """Beds24 could not give a valid answer; callers treat the data as unavailable."""


class Beds24WriteRefused(Beds24Error):
    """Something tried to send a non-GET request to Beds24."""


class Beds24RedirectRefused(Beds24Error):
    """Beds24 redirected to another host; following it could leak the token."""


class Beds24RateLimited(Beds24Error):
    """The five-minute credit budget is spent and its reset is too far away to wait."""


class RoomUnitBookings(BaseModel):
    """One room of ``/inventory/rooms/unitBookings``: per date, per unit number → count."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    room_id: int = Field(alias="roomId")
    property_id: int = Field(alias="propertyId")
    name: str | None = None
    qty: int | None = None
    unit_bookings: dict[date, dict[str, int]] = Field(alias="unitBookings", default_factory=dict)


class _UnitBookingsResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")
    success: bool
    data: list[RoomUnitBookings] = Field(default_factory=list)


# Private wire models keep Beds24's camelCase names.
class _Pages(BaseModel):
    model_config = ConfigDict(extra="ignore")
    nextPageExists: bool = False
    nextPageLink: str | None = None


class _BookingsResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")
    success: bool
    pages: _Pages = Field(default_factory=_Pages)
    data: list[dict[str, Any]] = Field(default_factory=list)


class _TokenResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token: str = Field(min_length=1)
    expiresIn: int | None = None


def _refuse_non_get(request: httpx.Request) -> None:
    if request.method != "GET":
        raise Beds24WriteRefused(f"Folio never sends {request.method} to Beds24")


async def _async_refuse_non_get(request: httpx.Request) -> None:
    _refuse_non_get(request)


class Beds24ReadClient:
    """GET-only Beds24 client. Use as ``async with Beds24ReadClient(...) as client``."""

    def __init__(
        self,
        *,
        refresh_token: str,
        base_url: str = DEFAULT_BASE_URL,
        access_token: str | None = None,
        timeout_seconds: float = 10.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        max_rate_limit_wait_seconds: float = 30.0,
        max_same_host_redirects: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._base_url = base_url.rstrip("/") + "/"
        self._host = httpx.URL(self._base_url).host
        self._scheme = httpx.URL(self._base_url).scheme
        self._refresh_token = refresh_token
        self._access_token = access_token
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds
        self._max_rate_limit_wait = max_rate_limit_wait_seconds
        self._max_redirects = max_same_host_redirects
        self._sleep = sleep
        self._credits_remaining: int | None = None
        self._credits_reset_in: float | None = None
        self._last_cost = 1
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
            transport=transport,
            headers={"accept": "application/json"},
            event_hooks={"request": [_async_refuse_non_get]},
        )

    async def __aenter__(self) -> "Beds24ReadClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def credits_remaining(self) -> int | None:
        """Credits left in the current five-minute window, as Beds24 last reported."""
        return self._credits_remaining

    # --- public reads --------------------------------------------------------

    async def unit_bookings(
        self, *, property_id: int, start_date: date, end_date: date
    ) -> list[RoomUnitBookings]:
        """Occupancy count per room unit per date for one property (dates inclusive)."""
        body = await self._get_json(
            "inventory/rooms/unitBookings",
            {
                "propertyId": property_id,
                "startDate": start_date.isoformat(),
                "endDate": end_date.isoformat(),
            },
        )
        try:
            parsed = _UnitBookingsResponse.model_validate(body)
        except ValidationError as exc:
            raise Beds24Error(f"unexpected unitBookings response: {exc}") from exc
        if not parsed.success:
            raise Beds24Error("Beds24 answered success=false for unitBookings")
        return parsed.data

    async def bookings(self, *, max_pages: int = 50, **filters: Any) -> list[dict[str, Any]]:
        """All bookings matching ``filters`` (Beds24 names), following ``nextPageLink``."""
        collected: list[dict[str, Any]] = []
        path: str = "bookings"
        params: dict[str, Any] | None = filters
        for _ in range(max_pages):
            body = await self._get_json(path, params)
            try:
                parsed = _BookingsResponse.model_validate(body)
            except ValidationError as exc:
                raise Beds24Error(f"unexpected bookings response: {exc}") from exc
            if not parsed.success:
                raise Beds24Error("Beds24 answered success=false for bookings")
            collected.extend(parsed.data)
            if not parsed.pages.nextPageExists or not parsed.pages.nextPageLink:
                return collected
            path, params = parsed.pages.nextPageLink, None
        raise Beds24Error(f"bookings had more than {max_pages} pages")

    # --- plumbing ------------------------------------------------------------

    async def _refresh_access_token(self) -> None:
        response = await self._send(
            "authentication/token", None, {"refreshToken": self._refresh_token}
        )
        if response.status_code != 200:
            raise Beds24Error(f"token refresh failed with HTTP {response.status_code}")
        try:
            self._access_token = _TokenResponse.model_validate(response.json()).token
        except (ValueError, ValidationError) as exc:
            raise Beds24Error("token refresh returned an invalid body") from exc

    async def _get_json(self, path: str, params: dict[str, Any] | None) -> Any:
        if self._access_token is None:
            await self._refresh_access_token()
        refreshed = False
        while True:
            response = await self._send(path, params, {"token": self._access_token or ""})
            if response.status_code == 401 and not refreshed:
                refreshed = True
                await self._refresh_access_token()
                continue
            if response.status_code != 200:
                raise Beds24Error(f"GET {path} failed with HTTP {response.status_code}")
            try:
                return response.json()
            except ValueError as exc:
                raise Beds24Error(f"GET {path} returned invalid JSON") from exc

    async def _send(
        self, path: str, params: dict[str, Any] | None, headers: dict[str, str]
    ) -> httpx.Response:
        """One logical GET with retries, rate-limit pacing and same-host redirects."""
        url = urljoin(self._base_url, path)
        target = httpx.URL(url)
        if (target.host, target.scheme) != (self._host, self._scheme):
            # e.g. a nextPageLink naming another host: our token must not go there.
            raise Beds24RedirectRefused(f"refusing to send the token to {target.host}")
        last_error: str = "no attempt made"
        for attempt in range(self._max_attempts):
            await self._respect_rate_limit()
            try:
                response = await self._get_following_same_host(url, params, headers)
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                self._remember_limits(response)
                if response.status_code not in RETRYABLE_STATUSES:
                    return response
                last_error = f"HTTP {response.status_code}"
                if response.status_code == 429:
                    await self._wait_for_reset(response)
                    continue
            if attempt + 1 < self._max_attempts:
                await self._sleep(self._backoff_seconds * (2**attempt))
        raise Beds24Error(f"GET {path} gave up after {self._max_attempts} attempts: {last_error}")

    async def _get_following_same_host(
        self, url: str, params: dict[str, Any] | None, headers: dict[str, str]
    ) -> httpx.Response:
        response = await self._http.get(url, params=params, headers=headers)
        for _ in range(self._max_redirects):
            if not response.is_redirect:
                return response
            target = response.next_request.url if response.next_request else None
            # Another host (or a scheme downgrade) could receive our token: refuse.
            if target is None or (target.host, target.scheme) != (self._host, self._scheme):
                raise Beds24RedirectRefused(f"refusing redirect to {target}")
            response = await self._http.get(target, headers=headers)
        if response.is_redirect:
            raise Beds24Error("too many redirects")
        return response

    def _remember_limits(self, response: httpx.Response) -> None:
        try:
            if "x-five-min-limit-remaining" in response.headers:
                self._credits_remaining = int(response.headers["x-five-min-limit-remaining"])
            if "x-five-min-limit-resets-in" in response.headers:
                self._credits_reset_in = float(response.headers["x-five-min-limit-resets-in"])
            if "x-request-cost" in response.headers:
                self._last_cost = max(int(response.headers["x-request-cost"]), 1)
        except ValueError:
            pass  # malformed headers: keep the last good values

    async def _respect_rate_limit(self) -> None:
        """Before spending credits we do not have, wait for the window to reset (bounded)."""
        if self._credits_remaining is not None and self._credits_remaining < self._last_cost:
            await self._wait(self._credits_reset_in)
            self._credits_remaining = None

    async def _wait_for_reset(self, response: httpx.Response) -> None:
        retry_after = response.headers.get("retry-after")
        wait = self._credits_reset_in
        if retry_after is not None and retry_after.isdigit():
            wait = float(retry_after)
        await self._wait(wait)
        self._credits_remaining = None

    async def _wait(self, seconds: float | None) -> None:
        wait = self._backoff_seconds if seconds is None else seconds
        if wait > self._max_rate_limit_wait:
            raise Beds24RateLimited(f"Beds24 credits reset in {wait:.0f}s; not waiting that long")
        await self._sleep(wait)
