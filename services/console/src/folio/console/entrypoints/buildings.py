"""/admin/buildings: every building with its KPIs and the portfolio totals, and a
building's page (the seed's 11 KPIs on a chosen date, the occupancy breakdown with
why units are UNKNOWN, collections of the last 12 months).

Every figure is the registry's, fetched with the signed-in user's own token; the
page only formats them (domain/buildings.py). Read-only: no write control here.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from folio.console.adapters.services import RegistryClient, ServiceRefusal
from folio.console.domain.buildings import (
    KPIS,
    InputError,
    collections_chart,
    kpi_cards,
    occupancy_segments,
    parse_day,
)
from folio.console.entrypoints.web import Context, PageError, Signed, render

router = APIRouter(prefix="/admin/buildings", include_in_schema=False)


def registry(request: Request) -> RegistryClient:
    return request.app.state.registry


def token_of(request: Request, context: Context) -> str:
    return request.app.state.token_issuer.issue(context.user)


def refusal_page(request: Request, context: Context, exc: ServiceRefusal) -> Response:
    return render(
        request,
        "error.html",
        {"console": context, "title": exc.title, "detail": exc.detail},
        exc.status,
    )


def as_of_of(request: Request) -> str | None:
    try:
        day = parse_day(request.query_params.get("as_of"))
    except InputError as exc:
        raise PageError(400, "Not a date", str(exc)) from None
    return day.isoformat() if day else None


@router.get("")
async def buildings_page(request: Request, context: Signed) -> Response:
    as_of = as_of_of(request)
    client, token = registry(request), token_of(request, context)
    try:
        portfolio, buildings = await asyncio.gather(
            client.portfolio_kpis(token, as_of), client.all_buildings(token)
        )
    except ServiceRefusal as exc:
        return refusal_page(request, context, exc)
    by_id = {b["id"]: b for b in buildings}
    rows: list[dict[str, Any]] = [
        {"building": by_id.get(k["building_id"], {}), "kpis": k, "cards": kpi_cards(k)}
        for k in portfolio["buildings"]
    ]
    rows.sort(key=lambda r: r["kpis"]["building_code"])
    return render(
        request,
        "buildings.html",
        {
            "console": context,
            "rows": rows,
            "totals": [{"roll_up": p, "cards": kpi_cards(p)} for p in portfolio["portfolio"]],
            "as_of": as_of,
            "kpis": KPIS,
        },
    )


@router.get("/{building_id}")
async def building_page(request: Request, context: Signed, building_id: str) -> Response:
    try:
        uuid.UUID(building_id)
    except ValueError:
        raise PageError(
            404, "No such building", f"{building_id[:60]!r} is not a building id."
        ) from None
    as_of = as_of_of(request)
    client, token = registry(request), token_of(request, context)
    try:
        building, kpis, occupancy, collections, units = await asyncio.gather(
            client.building(token, building_id),
            client.building_kpis(token, building_id, as_of),
            client.building_occupancy(token, building_id, as_of),
            client.collections_by_month(token, building_id, as_of, 12),
            client.units(token, {"building_id": building_id, "limit": "200"}),
        )
    except ServiceRefusal as exc:
        return refusal_page(request, context, exc)
    currency = building["currency"]
    return render(
        request,
        "building.html",
        {
            "console": context,
            "building": building,
            "kpis": kpis,
            "cards": kpi_cards(kpis),
            "occupancy": occupancy,
            "segments": occupancy_segments(occupancy["counts"]),
            "collections": collections,
            "chart": collections_chart(collections["months"], currency),
            "units": units["data"],
            "more_units": bool(units.get("next_cursor")),
        },
    )
