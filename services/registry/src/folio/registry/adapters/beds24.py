"""Read-only Beds24 API v2 client (PROVIDERS.md, Beds24).

Folio never writes to Beds24, so this client can only send GET requests: there
is no method for any other verb, and an httpx request hook refuses anything
else before it leaves the process.

* Auth: header ``token``. One access token is kept until shortly before it
  expires (``expiresIn``) and shared by every caller; a refresh
  (``GET /authentication/token`` + header ``refreshToken``, which costs credits)
  happens only then, or once after a 401, under a lock so concurrent callers
  never fetch two.
* Credits: Beds24 allows 100 credits per rolling five minutes per account. The
  client learns its budget from ``x-five-min-limit-remaining`` / ``-resets-in`` /
  ``x-request-cost`` (:class:`CreditBudget`) and never sleeps for credits: a
  request it cannot afford is not sent (:class:`Beds24BudgetExhausted`), and a 429
  is not retried (:class:`Beds24RateLimited`); both say when to come back, and the
  caller (the background sync) schedules itself for then.
* Many properties per request: ``unit_bookings`` takes a list of property ids,
  sent as a repeated ``propertyId`` like Beds24's array parameters, and follows the
  pages.
* Timeouts on every request, bounded retries with exponential backoff on
  transport errors and 5xx; redirects are followed only on the same host.
* Responses are validated; anything unexpected raises :class:`Beds24Error`.
"""

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Any
from urllib.parse import urljoin

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_BASE_URL = "https://api.beds24.com/v2"
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
FIVE_MINUTES = 300.0
#: Beds24's wiki: "Tokens last 24 hours" (used when a refresh omits ``expiresIn``).
DEFAULT_TOKEN_TTL_SECONDS = 86_400


class Beds24Error(Exception):
    """Beds24 could not give a valid answer; callers treat the data as unavailable."""


class Beds24WriteRefused(Beds24Error):
    """Something tried to send a non-GET request to Beds24."""


class Beds24RedirectRefused(Beds24Error):
    """Beds24 redirected to another host; following it could leak the token."""


class Beds24CreditsWait(Beds24Error):
    """Not now: the credits are spent. ``retry_in`` is how many seconds to wait."""

    def __init__(self, message: str, retry_in: float) -> None:
        super().__init__(message)
        self.retry_in = max(retry_in, 0.0)


class Beds24BudgetExhausted(Beds24CreditsWait):
    """The next request would overdraw the five-minute credits; it was not sent."""


class Beds24RateLimited(Beds24CreditsWait):
    """Beds24 answered 429 (someone else spent the account's credits too)."""


class CreditBudget:
    """Our view of the account's rolling five-minute credit window.

    Beds24 reports what is left after each request; between answers the only
    credits that come back are those spent more than five minutes ago, so the
    budget remembers its own spends (at the time their answer arrived, which is
    no earlier than Beds24 charged them: an estimate on the safe side). Credits
    that other users of the account spend show up in the next answer.
    """

    def __init__(self, clock: Callable[[], float], *, window: float = FIVE_MINUTES) -> None:
        self._clock = clock
        self._window = window
        self._spends: deque[tuple[float, int]] = deque()
        self._remaining: int | None = None
        self._observed_at = 0.0
        self._capacity: int | None = None

    def observe(self, *, remaining: int | None, cost: int) -> None:
        now = self._clock()
        if cost > 0:
            self._spends.append((now, cost))
        while self._spends and self._spends[0][0] <= now - 2 * self._window:
            self._spends.popleft()
        if remaining is not None:
            self._remaining = remaining
            self._observed_at = now
            self._capacity = max(self._capacity or 0, remaining + cost)

    @property
    def capacity(self) -> int | None:
        """The most credits seen in one window (100 on a standard account)."""
        return self._capacity

    def available(self) -> int | None:
        """Credits we may spend now; None before Beds24 has told us anything."""
        if self._remaining is None:
            return None
        now = self._clock()
        if now >= self._observed_at + self._window:
            return self._capacity  # all that was spent before the last answer expired
        return self._remaining + sum(c for _, c in self._returned(now))

    def seconds_until(self, needed: int) -> float:
        """How long until ``needed`` credits are available (0: now)."""
        available = self.available()
        if available is None or available >= needed:
            return 0.0
        now = self._clock()
        total = self._remaining or 0
        for at, cost in self._in_window_at_observation():
            total += cost
            if total >= needed and at + self._window > now:
                return at + self._window - now
        wait = self._observed_at + self._window - now
        # Past the whole window and still short: more than the account holds.
        return wait if wait > 0 else self._window

    def _in_window_at_observation(self) -> list[tuple[float, int]]:
        start = self._observed_at - self._window
        return [(at, c) for at, c in self._spends if start < at <= self._observed_at]

    def _returned(self, now: float) -> list[tuple[float, int]]:
        return [(at, c) for at, c in self._in_window_at_observation() if at <= now - self._window]


class RoomUnitBookings(BaseModel):
    """One room of ``/inventory/rooms/unitBookings``: per date, per unit number → count."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    room_id: int = Field(alias="roomId")
    property_id: int = Field(alias="propertyId")
    name: str | None = None
    qty: int | None = None
    unit_bookings: dict[date, dict[str, int]] = Field(alias="unitBookings", default_factory=dict)


# Private wire models keep Beds24's camelCase names.
class _Pages(BaseModel):
    model_config = ConfigDict(extra="ignore")
    nextPageExists: bool = False
    nextPageLink: str | None = None


class _UnitBookingsResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")
    success: bool
    pages: _Pages = Field(default_factory=_Pages)
    data: list[RoomUnitBookings] = Field(default_factory=list)


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
    """GET-only Beds24 client, meant to live as long as the process (it keeps the token).

    Use as ``async with Beds24ReadClient(...) as client`` or call :meth:`aclose`.
    ``clock`` (monotonic seconds) drives token expiry and the credit budget.
    """

    def __init__(
        self,
        *,
        refresh_token: str,
        base_url: str = DEFAULT_BASE_URL,
        access_token: str | None = None,
        timeout_seconds: float = 10.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        max_same_host_redirects: int = 3,
        token_refresh_margin_seconds: float = 600.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._base_url = base_url.rstrip("/") + "/"
        self._host = httpx.URL(self._base_url).host
        self._scheme = httpx.URL(self._base_url).scheme
        self._refresh_token = refresh_token
        self._access_token = access_token
        self._token_expires_at: float | None = None  # None: unknown, use until a 401
        self._token_margin = token_refresh_margin_seconds
        self._token_lock = asyncio.Lock()
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds
        self._max_redirects = max_same_host_redirects
        self._sleep = sleep
        self._clock = clock
        self.budget = CreditBudget(clock)
        #: What this client has cost so far (for the sync's report).
        self.requests_sent = 0
        self.token_fetches = 0
        self.credits_spent = 0
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
        """Credits we may spend now, as far as Beds24's last answers tell."""
        return self.budget.available()

    # --- public reads --------------------------------------------------------

    async def unit_bookings(
        self,
        *,
        property_ids: Sequence[int],
        start_date: date,
        end_date: date,
        expected_cost: int = 1,
        max_pages: int = 100,
    ) -> list[RoomUnitBookings]:
        """Occupancy count per room unit per date (dates inclusive) for many properties
        in one request (Beds24 array parameter ``propertyId``), following the pages.

        ``expected_cost``: the caller's estimate of the first page's credits; the
        request is not sent when fewer are left (:class:`Beds24BudgetExhausted`)."""
        if not property_ids:
            return []
        wanted = set(property_ids)
        params: list[tuple[str, str]] | None = [("propertyId", str(p)) for p in sorted(wanted)] + [
            ("startDate", start_date.isoformat()),
            ("endDate", end_date.isoformat()),
        ]
        path = "inventory/rooms/unitBookings"
        rooms: list[RoomUnitBookings] = []
        page_cost = max(expected_cost, 1)
        for _ in range(max_pages):
            body, cost = await self._get_json(path, params, expected_cost=page_cost)
            # A next page costs about what the dearest one so far did: not sent unpaid.
            page_cost = cost if page_cost == expected_cost else max(page_cost, cost)
            try:
                parsed = _UnitBookingsResponse.model_validate(body)
            except ValidationError as exc:
                raise Beds24Error(f"unexpected unitBookings response: {exc}") from exc
            if not parsed.success:
                raise Beds24Error("Beds24 answered success=false for unitBookings")
            rooms.extend(room for room in parsed.data if room.property_id in wanted)
            if not parsed.pages.nextPageExists or not parsed.pages.nextPageLink:
                return rooms
            path, params = parsed.pages.nextPageLink, None
        raise Beds24Error(f"unitBookings had more than {max_pages} pages")

    async def bookings(self, *, max_pages: int = 50, **filters: Any) -> list[dict[str, Any]]:
        """All bookings matching ``filters`` (Beds24 names), following ``nextPageLink``."""
        collected: list[dict[str, Any]] = []
        path: str = "bookings"
        params: dict[str, Any] | None = filters
        for _ in range(max_pages):
            body, _cost = await self._get_json(path, params)
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

    def _token_usable(self) -> bool:
        if self._access_token is None:
            return False
        if self._token_expires_at is None:
            return True
        return self._clock() < self._token_expires_at - self._token_margin

    async def ensure_token(self) -> None:
        """Fetch the access token now if there is no usable one (so a caller can
        tell the token's credits apart from a read's)."""
        await self._token()

    async def _token(self) -> str:
        """The kept access token; fetched only when missing or about to expire."""
        if self._token_usable():
            return self._access_token or ""
        async with self._token_lock:
            if not self._token_usable():  # another caller may have refreshed meanwhile
                await self._refresh_access_token()
        return self._access_token or ""

    async def _token_rejected(self, token: str) -> None:
        async with self._token_lock:
            if self._access_token == token:  # not already replaced by another caller
                self._access_token = None

    async def _refresh_access_token(self) -> None:
        self.token_fetches += 1
        response, _cost = await self._send(
            "authentication/token", None, {"refreshToken": self._refresh_token}
        )
        if response.status_code != 200:
            raise Beds24Error(f"token refresh failed with HTTP {response.status_code}")
        try:
            parsed = _TokenResponse.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise Beds24Error("token refresh returned an invalid body") from exc
        self._access_token = parsed.token
        ttl = parsed.expiresIn if parsed.expiresIn and parsed.expiresIn > 0 else None
        self._token_expires_at = self._clock() + (ttl or DEFAULT_TOKEN_TTL_SECONDS)

    async def _get_json(self, path: str, params: Any, *, expected_cost: int = 1) -> tuple[Any, int]:
        refreshed = False
        while True:
            token = await self._token()
            response, cost = await self._send(
                path, params, {"token": token}, expected_cost=expected_cost
            )
            if response.status_code == 401 and not refreshed:
                refreshed = True
                await self._token_rejected(token)
                continue
            if response.status_code != 200:
                raise Beds24Error(f"GET {path} failed with HTTP {response.status_code}")
            try:
                return response.json(), cost
            except ValueError as exc:
                raise Beds24Error(f"GET {path} returned invalid JSON") from exc

    def _check_budget(self, path: str, expected_cost: int) -> None:
        available = self.budget.available()
        if available is not None and available < expected_cost:
            raise Beds24BudgetExhausted(
                f"GET {path} needs about {expected_cost} credits, {available} left",
                self.budget.seconds_until(expected_cost),
            )

    async def _send(
        self,
        path: str,
        params: Any,
        headers: dict[str, str],
        *,
        expected_cost: int = 1,
    ) -> tuple[httpx.Response, int]:
        """One logical GET with retries and same-host redirects → (response, its cost)."""
        url = urljoin(self._base_url, path)
        target = httpx.URL(url)
        if (target.host, target.scheme) != (self._host, self._scheme):
            # e.g. a nextPageLink naming another host: our token must not go there.
            raise Beds24RedirectRefused(f"refusing to send the token to {target.host}")
        last_error: str = "no attempt made"
        for attempt in range(self._max_attempts):
            self._check_budget(path, expected_cost)
            try:
                response = await self._get_following_same_host(url, params, headers)
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                cost = self._remember_limits(response)
                if response.status_code == 429:
                    raise Beds24RateLimited(
                        f"GET {path}: Beds24 credits are spent", self._retry_in(response)
                    )
                if response.status_code not in RETRYABLE_STATUSES:
                    return response, cost
                last_error = f"HTTP {response.status_code}"
            if attempt + 1 < self._max_attempts:
                await self._sleep(self._backoff_seconds * (2**attempt))
        raise Beds24Error(f"GET {path} gave up after {self._max_attempts} attempts: {last_error}")

    async def _get_following_same_host(
        self, url: str, params: Any, headers: dict[str, str]
    ) -> httpx.Response:
        self.requests_sent += 1
        response = await self._http.get(url, params=params, headers=headers)
        for _ in range(self._max_redirects):
            if not response.is_redirect:
                return response
            target = response.next_request.url if response.next_request else None
            # Another host (or a scheme downgrade) could receive our token: refuse.
            if target is None or (target.host, target.scheme) != (self._host, self._scheme):
                raise Beds24RedirectRefused(f"refusing redirect to {target}")
            self._remember_limits(response)
            self.requests_sent += 1
            response = await self._http.get(target, headers=headers)
        if response.is_redirect:
            raise Beds24Error("too many redirects")
        return response

    def _remember_limits(self, response: httpx.Response) -> int:
        """Feed the budget from the credit headers; returns the request's cost."""
        remaining = _int_header(response, "x-five-min-limit-remaining")
        cost = _int_header(response, "x-request-cost")
        if cost is None:
            cost = 0 if response.status_code == 429 else 1  # unknown: assume the least
        cost = max(cost, 0)
        self.credits_spent += cost
        self.budget.observe(remaining=remaining, cost=cost)
        return cost

    def _retry_in(self, response: httpx.Response) -> float:
        retry_after = _int_header(response, "retry-after")
        resets_in = _int_header(response, "x-five-min-limit-resets-in")
        for value in (retry_after, resets_in):
            if value is not None and 0 <= value <= 3_600:
                return float(value)
        return FIVE_MINUTES


def _int_header(response: httpx.Response, name: str) -> int | None:
    raw = response.headers.get(name)
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None  # malformed: as if absent
