"""/admin/units/{unit_id}: the unit finance card (seed page AdminUnitFinance).

The unit, its status, its Beds24 mapping and source of truth, its occupancy today
and its last 30 daily snapshots, its receivables (outstanding, overdue; each links
to the entry's page) and its bookings: the registry's figures, read-only.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from folio.console.adapters.services import ServiceRefusal
from folio.console.domain.buildings import is_overdue, last_days, snapshot_strip
from folio.console.entrypoints.buildings import refusal_page, registry, token_of
from folio.console.entrypoints.web import PageError, Signed, render

router = APIRouter(prefix="/admin/units", include_in_schema=False)

#: Days of daily snapshots the card shows, ending today in the building's timezone.
SNAPSHOT_DAYS = 30
#: Bookings the card lists (newest first would need an order the API lacks: by creation).
BOOKINGS_LIMIT = 100


@router.get("/{unit_id}")
async def unit_page(request: Request, context: Signed, unit_id: str) -> Response:
    try:
        uuid.UUID(unit_id)
    except ValueError:
        raise PageError(404, "No such unit", f"{unit_id[:60]!r} is not a unit id.") from None
    client, token = registry(request), token_of(request, context)
    try:
        card = await client.finance_card(token, unit_id)
        # "Today" is the registry's: the date of the unit's occupancy reading there.
        today = date.fromisoformat(card["occupancy"]["date"])
        start, end = last_days(today, SNAPSHOT_DAYS)
        daily, bookings = await asyncio.gather(
            client.daily_status(token, unit_id, start.isoformat(), end.isoformat()),
            client.bookings(token, {"unit_id": unit_id, "limit": str(BOOKINGS_LIMIT)}),
        )
    except ServiceRefusal as exc:
        return refusal_page(request, context, exc)
    entries = [e | {"overdue": is_overdue(e, today)} for e in card["entries"]]
    return render(
        request,
        "unit.html",
        {
            "console": context,
            "card": card,
            "unit": card["unit"],
            "building": card["building"] or {},
            "mapping": card["mapping"],
            "occupancy": card["occupancy"],
            "today": today,
            "strip": snapshot_strip(daily, start, end),
            "snapshots": sorted(daily, key=lambda r: r["status_date"], reverse=True),
            "entries": entries,
            "balances": card["balances"],
            "bookings": bookings["data"],
            "more_bookings": bool(bookings.get("next_cursor")),
        },
    )
