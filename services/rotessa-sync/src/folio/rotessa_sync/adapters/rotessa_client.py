"""HTTP client for Rotessa's API (PROVIDERS.md), hardened for unattended backfills.

- ``Authorization: Token token="<key>"``, JSON only.
- Timeouts on every request; bounded retries with exponential backoff (honouring
  ``Retry-After``) on 429, 5xx and transport errors; other 4xx fail at once.
- Bounded concurrency (a semaphore shared by every call of one client).
- Redirects are followed only within the configured host; a redirect elsewhere
  is refused, so the API key never leaves for another host.
- Every row is validated; a bad row is reported beside the good ones instead of
  silently dropped or failing the whole page.
- The transaction report is paged 1000 rows at a time until a short page.
"""

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urljoin

import httpx
from pydantic import ValidationError

from folio.rotessa_sync.adapters.rotessa_wire import (
    CustomerDetail,
    CustomerSummary,
    TransactionReportRow,
)
from folio.rotessa_sync.domain.model import ReportedTransaction

REPORT_PAGE_SIZE = 1000
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 3


class RotessaError(Exception):
    """Rotessa could not give a usable answer."""

    def __init__(self, message: str, *, status: int | None = None, errors: list | None = None):
        super().__init__(message)
        self.status = status
        self.errors = errors or []


class RotessaUnavailable(RotessaError):
    """Retries exhausted on 429/5xx/transport errors: worth trying again later."""


class RotessaRedirectRefused(RotessaError):
    pass


@dataclass(frozen=True, slots=True)
class InvalidRow:
    """A report row that failed validation, kept so the caller can record it."""

    index: int
    transaction_id: Any
    error: str
    schedule_id: int | None = None


@dataclass(frozen=True, slots=True)
class ReportPage:
    page: int
    rows: list[ReportedTransaction]
    invalid: list[InvalidRow] = field(default_factory=list)
    raw_count: int = 0

    @property
    def is_last(self) -> bool:
        return self.raw_count < REPORT_PAGE_SIZE


def _error_envelope(response: httpx.Response) -> list:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return errors if isinstance(errors, list) else []


class RotessaClient:
    """One client per API key; share it so the concurrency bound holds."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        currency: str = "CAD",
        timeout_seconds: float = 15.0,
        max_attempts: int = 5,
        backoff_initial_seconds: float = 0.2,
        backoff_max_seconds: float = 5.0,
        max_concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("a Rotessa API key is required")
        self.base_url = base_url.rstrip("/") + "/"
        self.currency = currency
        self._max_attempts = max(1, max_attempts)
        self._backoff_initial = backoff_initial_seconds
        self._backoff_max = backoff_max_seconds
        self._sleep = sleep
        self._semaphore = asyncio.Semaphore(max(1, max_concurrency))
        self._http = httpx.AsyncClient(
            headers={
                "Authorization": f'Token token="{api_key}"',
                "Accept": "application/json",
                "User-Agent": "folio-rotessa-sync",
            },
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            follow_redirects=False,
            transport=transport,
        )
        self._origin = httpx.URL(self.base_url)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "RotessaClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- public API ---------------------------------------------------------

    async def list_customers(self) -> list[CustomerSummary]:
        body = await self._get_json("customers")
        if not isinstance(body, list):
            raise RotessaError("GET /customers did not return a JSON array")
        return [CustomerSummary.model_validate(item) for item in body]

    async def get_customer(self, customer_id: int) -> CustomerDetail:
        body = await self._get_json(f"customers/{int(customer_id)}")
        if not isinstance(body, dict):
            raise RotessaError(f"GET /customers/{customer_id} did not return an object")
        return CustomerDetail.model_validate(body)

    async def transaction_report_page(
        self,
        *,
        start_date: date,
        end_date: date | None = None,
        status: str = "All",
        page: int = 1,
    ) -> ReportPage:
        params: dict[str, str] = {"start_date": start_date.isoformat(), "status": status}
        if end_date is not None:
            params["end_date"] = end_date.isoformat()
        params["page"] = str(page)
        body = await self._get_json("transaction_report", params=params)
        if not isinstance(body, list):
            raise RotessaError("GET /transaction_report did not return a JSON array")
        rows: list[ReportedTransaction] = []
        invalid: list[InvalidRow] = []
        for index, item in enumerate(body):
            try:
                rows.append(TransactionReportRow.model_validate(item).to_transaction(self.currency))
            except (ValidationError, ValueError) as exc:
                raw = item if isinstance(item, dict) else {}
                schedule = raw.get("transaction_schedule_id")
                invalid.append(
                    InvalidRow(
                        index=index,
                        transaction_id=raw.get("id"),
                        error=str(exc)[:300],
                        schedule_id=schedule if isinstance(schedule, int) else None,
                    )
                )
        return ReportPage(page=page, rows=rows, invalid=invalid, raw_count=len(body))

    async def iter_transaction_report(
        self,
        *,
        start_date: date,
        end_date: date | None = None,
        status: str = "All",
        first_page: int = 1,
        prefetch: int = 1,
    ) -> AsyncIterator[ReportPage]:
        """Pages in order from ``first_page`` until a short page.

        With ``prefetch`` > 0 the next pages are requested while the caller works
        on the current one (still bounded by the client's concurrency); a page
        past the end is simply an empty page and is discarded.
        """
        pending: dict[int, asyncio.Task[ReportPage]] = {}
        page = first_page

        def schedule(number: int) -> None:
            if number not in pending:
                pending[number] = asyncio.ensure_future(
                    self.transaction_report_page(
                        start_date=start_date, end_date=end_date, status=status, page=number
                    )
                )

        try:
            while True:
                for ahead in range(page, page + 1 + max(0, prefetch)):
                    schedule(ahead)
                result = await pending.pop(page)
                yield result
                if result.is_last:
                    return
                page += 1
        finally:
            for task in pending.values():
                task.cancel()
            for task in pending.values():
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # noqa: S110 - discarded prefetch
                    pass

    # --- transport ----------------------------------------------------------

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), self._backoff_max)
            except ValueError:
                pass
        ceiling = min(self._backoff_max, self._backoff_initial * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto

    async def _get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = urljoin(self.base_url, path)
        last_problem = "no attempt made"
        for attempt in range(1, self._max_attempts + 1):
            retry_after: str | None = None
            try:
                async with self._semaphore:
                    response = await self._send_following_same_host(url, params)
            except RotessaRedirectRefused:
                raise
            except httpx.TransportError as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code in RETRYABLE_STATUSES:
                    last_problem = f"HTTP {response.status_code}"
                    retry_after = response.headers.get("Retry-After")
                elif response.is_success:
                    try:
                        return response.json()
                    except ValueError:
                        raise RotessaError(
                            f"GET {path}: response is not JSON", status=response.status_code
                        ) from None
                else:
                    errors = _error_envelope(response)
                    raise RotessaError(
                        f"GET {path}: HTTP {response.status_code} {errors}",
                        status=response.status_code,
                        errors=errors,
                    )
            if attempt < self._max_attempts:
                await self._sleep(self._backoff(attempt, retry_after))
        raise RotessaUnavailable(
            f"GET {path}: gave up after {self._max_attempts} attempts ({last_problem})"
        )

    async def _send_following_same_host(
        self, url: str, params: dict[str, str] | None
    ) -> httpx.Response:
        target = httpx.URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._http.get(target, params=params)
            if not response.is_redirect:
                return response
            location = response.headers.get("Location", "")
            next_url = target.join(location)
            if (next_url.scheme, next_url.host, next_url.port) != (
                self._origin.scheme,
                self._origin.host,
                self._origin.port,
            ):
                raise RotessaRedirectRefused(
                    f"refused redirect from {target.host} to {next_url.host}",
                    status=response.status_code,
                )
            target, params = next_url, None
        raise RotessaError("too many redirects")
