"""HTTP clients of the services' public APIs (the console never reads their schemas).

Every call carries the signed-in user's short-lived token and the request's
correlation id. A service's refusal (4xx problem+json) is raised as
:class:`ServiceRefusal` so that the page can show the service's own message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from folio.shared.observability import CORRELATION_HEADER, get_correlation_id


class ServiceRefusal(Exception):
    """A 4xx answer: the service's problem title and detail, as it said them."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.title = str(problem.get("title") or "Refused")
        self.detail = str(problem.get("detail") or "")
        # A validation problem says what was wrong per field: show that, not "invalid request".
        errors = problem.get("errors")
        if isinstance(errors, list) and errors:
            said = [
                f"{e['loc'][-1]}: {e.get('msg')}" if e.get("loc") else str(e.get("msg"))
                for e in errors[:5]
                if isinstance(e, dict)
            ]
            self.detail = "; ".join(filter(None, [self.detail, *said]))
        self.kind = str(problem.get("type") or "")
        super().__init__(f"{status} {self.title}: {self.detail}")


class ServiceUnavailable(Exception):
    """The service did not answer, or answered 5xx."""


def _problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"title": response.reason_phrase, "detail": response.text[:300]}
    if isinstance(body, dict):
        # Formance-compatible routes answer {errorCode, errorMessage}
        if "errorMessage" in body and "detail" not in body:
            return {"title": body.get("errorCode", "Refused"), "detail": body["errorMessage"]}
        return body
    return {"title": response.reason_phrase}


class ServiceClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    async def request(self, method: str, path: str, token: str, *, params=None, json=None) -> Any:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        correlation_id = get_correlation_id()
        if correlation_id:
            headers[CORRELATION_HEADER] = correlation_id
        try:
            response = await self.http.request(
                method, self.base_url + path, params=params, json=json, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"{method} {path}: {exc.__class__.__name__}") from None
        if response.status_code >= 500:
            raise ServiceUnavailable(f"{method} {path}: {response.status_code}")
        if response.status_code >= 400:
            raise ServiceRefusal(response.status_code, _problem_of(response))
        return response.json() if response.content else None


class LedgerClient(ServiceClient):
    """The ledger's receivables API (``/api/ledger``) and its journal (``/api/ledger/v2``)."""

    journal_ledger = "folio"

    async def entries(self, token: str, params: dict[str, str]) -> dict[str, Any]:
        return await self.request("GET", "/api/ledger/entries", token, params=params)

    async def all_entries(
        self, token: str, params: dict[str, str], page_size: int = 200
    ) -> AsyncIterator[dict[str, Any]]:
        """Every entry matching ``params``, page after page (the cursor of the API)."""
        cursor = None
        while True:
            query = {**params, "page_size": str(page_size)}
            if cursor:
                query["cursor"] = cursor
            page = await self.entries(token, query)
            for entry in page["data"]:
                yield entry
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                return

    async def entry(self, token: str, entry_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/api/ledger/entries/{entry_id}", token)

    async def audit(self, token: str, entry_id: str) -> list[dict[str, Any]]:
        return (await self.request("GET", f"/api/ledger/entries/{entry_id}/audit", token))["data"]

    async def transactions_of_account(self, token: str, account: str) -> list[dict[str, Any]]:
        try:
            body = await self.request(
                "GET",
                f"/api/ledger/v2/{self.journal_ledger}/transactions",
                token,
                params={"account": account, "pageSize": "100"},
            )
        except ServiceRefusal as exc:
            if exc.status == 404:  # the journal exists from its first posting on
                return []
            raise
        return body["cursor"]["data"]

    async def change_status(self, token: str, entry_id: str, status: str, reason: str | None):
        return await self.request(
            "POST",
            f"/api/ledger/entries/{entry_id}/status",
            token,
            json={"status": status, "reason": reason},
        )

    async def adjust(self, token: str, entry_id: str, amount_minor: int, reason: str | None):
        return await self.request(
            "POST",
            f"/api/ledger/entries/{entry_id}/adjustments",
            token,
            json={"amount_minor": amount_minor, "reason": reason},
        )

    async def refund(self, token: str, entry_id: str, amount_minor: int, reason: str | None):
        return await self.request(
            "POST",
            f"/api/ledger/entries/{entry_id}/refunds",
            token,
            json={"amount_minor": amount_minor, "reason": reason},
        )


class RegistryClient(ServiceClient):
    """The registry's admin API (``/api/registry``): buildings, units, KPIs, occupancy."""

    prefix = "/api/registry"

    async def _get(self, token: str, path: str, params: dict[str, str] | None = None):
        return await self.request("GET", self.prefix + path, token, params=params)

    async def all_buildings(self, token: str, limit: int = 2_000) -> list[dict[str, Any]]:
        """Every building (page after page of 500), at most ``limit``."""
        found: list[dict[str, Any]] = []
        cursor = None
        while len(found) < limit:
            page = await self._get(
                token, "/buildings", {"limit": "500", **({"cursor": cursor} if cursor else {})}
            )
            found += page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return found[:limit]

    async def building(self, token: str, building_id: str) -> dict[str, Any]:
        return await self._get(token, f"/buildings/{building_id}")

    async def portfolio_kpis(self, token: str, as_of: str | None = None) -> dict[str, Any]:
        return await self._get(token, "/kpis/portfolio", {"as_of": as_of} if as_of else None)

    async def building_kpis(self, token: str, building_id: str, as_of: str | None):
        params = {"as_of": as_of} if as_of else None
        return await self._get(token, f"/kpis/buildings/{building_id}", params)

    async def collections_by_month(
        self, token: str, building_id: str, as_of: str | None, months: int = 12
    ) -> dict[str, Any]:
        params = {"months": str(months), **({"as_of": as_of} if as_of else {})}
        return await self._get(token, f"/kpis/buildings/{building_id}/collections", params)

    async def building_occupancy(self, token: str, building_id: str, night: str | None):
        params = {"night": night} if night else None
        return await self._get(token, f"/buildings/{building_id}/occupancy", params)

    async def units(self, token: str, params: dict[str, str]) -> dict[str, Any]:
        return await self._get(token, "/units", params)

    async def finance_card(self, token: str, unit_id: str) -> dict[str, Any]:
        return await self._get(token, f"/units/{unit_id}/finance-card")

    async def daily_status(self, token: str, unit_id: str, start: str, end: str):
        params = {"start_date": start, "end_date": end}
        return (await self._get(token, f"/units/{unit_id}/daily-status", params))["data"]

    async def bookings(self, token: str, params: dict[str, str]) -> dict[str, Any]:
        return await self._get(token, "/bookings", params)
