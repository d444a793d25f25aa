"""Admin HTTP routes under ``/api/registry`` (thin: validate, call a use case, commit).

Reads need a viewer/finance/admin token; writes need finance or admin. Every
refusal is problem+json and changes nothing (the unit of work is not committed).
"""

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response

from folio.registry.adapters.repository import InvalidCursor
from folio.registry.domain.kpis import MAX_COLLECTION_MONTHS
from folio.registry.entrypoints import schemas as out
from folio.registry.service import commands as c
from folio.registry.service import kpis, occupancy, registry, renewals
from folio.registry.service.errors import Problem, not_found, unprocessable
from folio.registry.service.unit_of_work import RegistryUnitOfWork
from folio.shared.auth import READ_ROLES, WRITE_ROLES, Principal, require_roles
from folio.shared.inputs import Text, report_date_query
from folio.shared.transactions import retry_transient

PREFIX = "/api/registry"
router = APIRouter(prefix=PREFIX, tags=["registry"])

Reader = Annotated[Principal, Depends(require_roles(*READ_ROLES))]
Writer = Annotated[Principal, Depends(require_roles(*WRITE_ROLES))]
Limit = Annotated[int, Query(ge=1, le=500)]
Search = Annotated[Text(100) | None, Query(max_length=100)]
Cursor = Annotated[str | None, Query(max_length=500)]
AsOf = report_date_query(
    "The local date of the figures (default: today in the building's timezone)."
)
Night = report_date_query("The local night (default: tonight in the building's timezone).")
DayFrom = report_date_query("First day.")
DayTo = report_date_query("Last day (at most 366 days after the first).")
T = TypeVar("T")

#: The one definition of the money figures (also in the registry README and in
#: ``domain/kpis.py``), shown on every route that reports them.
MONEY_DEFINITIONS = """
**Outstanding** (`outstanding_minor`) is what is still owed on DUE and PENDING
entries: the sum of amount - (paid - refunded). For a charge it is the ledger
entry's own `outstanding_minor` (an invoice of 2,000.00 with 500.00 received counts
1,500.00); a DUE credit (negative ADJUSTMENT) lowers it. **Overdue** counts DUE
entries whose due date is before `as_of`.

**Collected** in a period (`collected_mtd_minor`, `collected_ytd_minor`) is the money
actually received in that period, partial payments included (each on the day the
provider verified it), minus refunds in the period they happen (each on the day the
ledger recorded it): a refund never rewrites an earlier period, so a month can be
negative. Days are those of the building's timezone; a period runs from the first
local day of its month or year through `as_of`. For an entry paid in full by one
payment this is the seed's "sum of PAID amounts" by paid date. EAR, run-rate, ADR
and RevPAU are computed from these collected figures.
"""


def get_uow(request: Request) -> RegistryUnitOfWork:
    return request.app.state.uow_factory()


UoW = Annotated[RegistryUnitOfWork, Depends(get_uow)]


def _clock(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None)
    return clock() if clock else datetime.now(UTC)


def _max_age(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.beds24_max_age_seconds)


async def _page(coro) -> dict[str, Any]:
    try:
        rows, next_cursor = await coro
    except InvalidCursor:
        raise unprocessable("cursor is not valid", field="cursor") from None
    return {"data": rows, "next_cursor": next_cursor}


async def _change(uow: RegistryUnitOfWork, work: Callable[[RegistryUnitOfWork], Awaitable[T]]) -> T:
    """Run a state change in one transaction and commit it; after a deadlock or a
    serialization failure PostgreSQL kept nothing, so the whole unit of work runs
    again (``retry_transient``: backoff, finally 409 ``concurrent-update``)."""

    async def attempt() -> T:
        async with uow:  # each attempt opens a fresh session and transaction
            result = await work(uow)
            await uow.commit()
        return result

    return await retry_transient(attempt)


def _kpi_body(kpi) -> dict[str, Any]:
    body = dataclasses.asdict(kpi)
    rate = body.get("occupancy_rate_percent")
    body["occupancy_rate_percent"] = None if rate is None else str(rate)
    return body


# --- buildings -----------------------------------------------------------------


@router.post("/buildings", status_code=201, response_model=out.BuildingOut)
async def create_building(cmd: c.CreateBuilding, principal: Writer, uow: UoW):
    return await _change(uow, lambda u: registry.create_building(u, cmd, principal.subject))


@router.get("/buildings", response_model=out.BuildingPage)
async def list_buildings(
    principal: Reader, uow: UoW, q: Search = None, cursor: Cursor = None, limit: Limit = 50
):
    async with uow:
        return await _page(uow.repo.list_buildings(q=q, cursor=cursor, limit=limit))


@router.get("/buildings/{building_id}", response_model=out.BuildingOut)
async def get_building(building_id: uuid.UUID, principal: Reader, uow: UoW):
    async with uow:
        return await registry.require(
            await uow.repo.get_building(building_id), "building", building_id
        )


@router.patch("/buildings/{building_id}", response_model=out.BuildingOut)
async def update_building(
    building_id: uuid.UUID, cmd: c.UpdateBuilding, principal: Writer, uow: UoW
):
    return await _change(
        uow, lambda u: registry.update_building(u, building_id, cmd, principal.subject)
    )


# --- units ---------------------------------------------------------------------


@router.post("/units", status_code=201, response_model=out.UnitOut)
async def create_unit(cmd: c.CreateUnit, principal: Writer, uow: UoW):
    return await _change(uow, lambda u: registry.create_unit(u, cmd, principal.subject))


@router.get("/units", response_model=out.UnitPage)
async def list_units(
    principal: Reader,
    uow: UoW,
    building_id: uuid.UUID | None = None,
    status: Literal["AVAILABLE", "BLOCKED", "MAINTENANCE"] | None = None,
    q: Search = None,
    cursor: Cursor = None,
    limit: Limit = 50,
):
    async with uow:
        return await _page(
            uow.repo.list_units(
                building_id=building_id, status=status, q=q, cursor=cursor, limit=limit
            )
        )


@router.get("/units/{unit_id}", response_model=out.UnitDetail)
async def get_unit(unit_id: uuid.UUID, principal: Reader, uow: UoW):
    async with uow:
        unit = await registry.require(await uow.repo.get_unit(unit_id), "unit", unit_id)
        return unit | {"beds24_map": await uow.repo.get_mapping(unit_id)}


@router.patch("/units/{unit_id}", response_model=out.UnitOut)
async def update_unit(unit_id: uuid.UUID, cmd: c.UpdateUnit, principal: Writer, uow: UoW):
    return await _change(uow, lambda u: registry.update_unit(u, unit_id, cmd, principal.subject))


@router.put("/units/{unit_id}/beds24-map", response_model=out.Beds24MappingOut)
async def set_beds24_map(unit_id: uuid.UUID, cmd: c.SetBeds24Mapping, principal: Writer, uow: UoW):
    return await _change(
        uow, lambda u: registry.set_beds24_mapping(u, unit_id, cmd, principal.subject)
    )


@router.delete(
    "/units/{unit_id}/beds24-map",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "The mapping is removed"}},
)
async def remove_beds24_map(unit_id: uuid.UUID, principal: Writer, uow: UoW) -> Response:
    await _change(uow, lambda u: registry.remove_beds24_mapping(u, unit_id, principal.subject))
    return Response(status_code=204)


@router.get("/units/{unit_id}/occupancy", response_model=out.OccupancyOut)
async def get_unit_occupancy(
    unit_id: uuid.UUID, request: Request, principal: Reader, uow: UoW, night: Night = None
):
    async with uow:
        unit = await registry.require(await uow.repo.get_unit(unit_id), "unit", unit_id)
        building = await uow.repo.get_building(unit["building_id"])
        return await occupancy.unit_occupancy(
            uow,
            unit,
            building["timezone"],
            now=_clock(request),
            max_age=_max_age(request),
            night=night,
        )


@router.get(
    "/buildings/{building_id}/occupancy",
    response_model=out.BuildingOccupancyOut,
    description="A building's units on a local night by daily status (the KPIs' "
    "resolution: past nights from the daily snapshot), and its UNKNOWN units with why.",
)
async def get_building_occupancy(
    building_id: uuid.UUID, request: Request, principal: Reader, uow: UoW, night: Night = None
):
    async with uow:
        return await occupancy.building_occupancy(
            uow, building_id, night=night, now=_clock(request), max_age=_max_age(request)
        )


@router.get("/units/{unit_id}/daily-status", response_model=out.DailyStatusList)
async def get_unit_daily_status(
    unit_id: uuid.UUID, principal: Reader, uow: UoW, start_date: DayFrom, end_date: DayTo
):
    if (end_date - start_date).days > 366 or end_date < start_date:
        raise unprocessable("the range must be 1 to 367 days", field="end_date")
    async with uow:
        return {
            "data": await uow.repo.daily_statuses(unit_id=unit_id, start=start_date, end=end_date)
        }


@router.get(
    "/units/{unit_id}/finance-card",
    response_model=out.FinanceCard,
    description="The unit, its mapping, occupancy and ledger entries (each with its "
    "`outstanding_minor`), and per currency its balances: `outstanding_minor` as below, "
    "`collected_minor` = all money received on its entries net of refunds.\n" + MONEY_DEFINITIONS,
)
async def get_unit_finance_card(unit_id: uuid.UUID, request: Request, principal: Reader, uow: UoW):
    async with uow:
        return await kpis.unit_finance_card(
            uow, unit_id, now=_clock(request), max_age=_max_age(request)
        )


# --- bookings and renewals -----------------------------------------------------


@router.post("/bookings", status_code=201, response_model=out.BookingOut)
async def create_booking(cmd: c.CreateBooking, principal: Writer, uow: UoW):
    return await _change(uow, lambda u: registry.create_booking(u, cmd, principal.subject))


@router.get("/bookings", response_model=out.BookingPage)
async def list_bookings(
    principal: Reader,
    uow: UoW,
    unit_id: uuid.UUID | None = None,
    building_id: uuid.UUID | None = None,
    status: Literal["CONFIRMED", "CANCELLED"] | None = None,
    q: Search = None,
    cursor: Cursor = None,
    limit: Limit = 50,
):
    async with uow:
        return await _page(
            uow.repo.list_bookings(
                unit_id=unit_id,
                building_id=building_id,
                status=status,
                q=q,
                cursor=cursor,
                limit=limit,
            )
        )


@router.get("/bookings/{booking_id}", response_model=out.BookingOut)
async def get_booking(booking_id: uuid.UUID, principal: Reader, uow: UoW):
    async with uow:
        return await registry.require(await uow.repo.get_booking(booking_id), "booking", booking_id)


@router.post("/bookings/{booking_id}/cancel", response_model=out.BookingOut)
async def cancel_booking(booking_id: uuid.UUID, principal: Writer, uow: UoW):
    return await _change(uow, lambda u: registry.cancel_booking(u, booking_id, principal.subject))


@router.get("/bookings/{booking_id}/renewal-eligibility", response_model=out.EligibilityOut)
async def get_renewal_eligibility(booking_id: uuid.UUID, principal: Reader, uow: UoW):
    async with uow:
        _, result, today = await renewals.eligibility_of(uow, booking_id)
    return {
        "eligible": result.eligible,
        "reasons": [r.value for r in result.reasons],
        "window_opens_on": result.window_opens_on,
        "today": today,
    }


@router.post("/bookings/{booking_id}/extensions", status_code=201, response_model=out.ExtensionOut)
async def request_renewal(
    booking_id: uuid.UUID, principal: Writer, uow: UoW, cmd: c.RequestRenewal | None = None
):
    return await _change(
        uow,
        lambda u: renewals.request_renewal(
            u, booking_id, cmd or c.RequestRenewal(), principal.subject
        ),
    )


@router.get("/extensions", response_model=out.ExtensionPage)
async def list_extensions(
    principal: Reader,
    uow: UoW,
    booking_id: uuid.UUID | None = None,
    status: Literal["PENDING_APPROVAL", "PAYMENT_PENDING", "ACTIVE", "REJECTED", "CANCELLED"]
    | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
):
    async with uow:
        return await _page(
            uow.repo.list_extensions(
                booking_id=booking_id, status=status, cursor=cursor, limit=limit
            )
        )


@router.get("/extensions/{extension_id}", response_model=out.ExtensionOut)
async def get_extension(extension_id: uuid.UUID, principal: Reader, uow: UoW):
    async with uow:
        return await registry.require(
            await uow.repo.get_extension(extension_id), "extension", extension_id
        )


@router.post("/extensions/{extension_id}/approve", response_model=out.ExtensionOut)
async def approve_extension(
    extension_id: uuid.UUID, cmd: c.ApproveExtension, principal: Writer, uow: UoW
):
    return await _change(
        uow, lambda u: renewals.approve_extension(u, extension_id, cmd, principal.subject)
    )


@router.post("/extensions/{extension_id}/reject", response_model=out.ExtensionOut)
async def reject_extension(
    extension_id: uuid.UUID, principal: Writer, uow: UoW, cmd: c.DecideExtension | None = None
):
    return await _change(
        uow,
        lambda u: renewals.reject_extension(
            u, extension_id, cmd or c.DecideExtension(), principal.subject
        ),
    )


@router.post("/extensions/{extension_id}/cancel", response_model=out.ExtensionOut)
async def cancel_extension(
    extension_id: uuid.UUID, principal: Writer, uow: UoW, cmd: c.DecideExtension | None = None
):
    return await _change(
        uow,
        lambda u: renewals.cancel_extension(
            u, extension_id, cmd or c.DecideExtension(), principal.subject
        ),
    )


# --- mortgages -----------------------------------------------------------------


@router.post("/mortgages", status_code=201, response_model=out.MortgageOut)
async def create_mortgage(cmd: c.CreateMortgage, principal: Writer, uow: UoW):
    return await _change(uow, lambda u: registry.create_mortgage(u, cmd, principal.subject))


@router.get("/mortgages", response_model=out.MortgagePage)
async def list_mortgages(
    principal: Reader,
    uow: UoW,
    q: Search = None,
    status: Literal["ACTIVE", "PAID_OFF", "DEFAULTED", "CLOSED"] | None = None,
    linked: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
):
    async with uow:
        return await _page(
            uow.repo.list_mortgages(q=q, status=status, linked=linked, cursor=cursor, limit=limit)
        )


@router.get("/mortgages/{mortgage_id}", response_model=out.MortgageOut)
async def get_mortgage(mortgage_id: uuid.UUID, principal: Reader, uow: UoW):
    async with uow:
        return await registry.require(
            await uow.repo.get_mortgage(mortgage_id), "mortgage", mortgage_id
        )


@router.patch("/mortgages/{mortgage_id}", response_model=out.MortgageOut)
async def update_mortgage(
    mortgage_id: uuid.UUID, cmd: c.UpdateMortgage, principal: Writer, uow: UoW
):
    return await _change(
        uow, lambda u: registry.update_mortgage(u, mortgage_id, cmd, principal.subject)
    )


# --- jobs on demand ------------------------------------------------------------


@router.post("/occupancy/snapshots", response_model=out.SnapshotResult)
async def take_snapshots(cmd: c.TakeSnapshots, request: Request, principal: Writer, uow: UoW):
    """Run the daily snapshot job for a date range (rerunning changes nothing)."""
    building_id = cmd.building_id
    now = _clock(request)

    async def take(u: RegistryUnitOfWork) -> dict[str, int]:
        result = await occupancy.take_daily_snapshots(
            u,
            start_date=cmd.start_date,
            end_date=cmd.end_date,
            building_id=building_id,
            now=now,
            max_age=_max_age(request),
        )
        await u.audit(
            principal.subject,
            "snapshots.take",
            "building",
            str(building_id or "*"),
            {
                "start_date": cmd.start_date.isoformat(),
                "end_date": cmd.end_date.isoformat(),
                **result,
            },
        )
        return result

    return await _change(uow, take)


@router.post(
    "/beds24/sync",
    status_code=202,
    response_model=out.Beds24SyncJob,
    responses={
        200: {
            "model": out.Beds24SyncJob,
            "description": "A sync job was already running: that job (nothing started).",
        }
    },
)
async def sync_beds24(cmd: c.SyncBeds24, request: Request, response: Response, principal: Writer):
    """Start a background Beds24 sync (GET only) and answer at once: 202 with the job
    to poll; while a job runs, 200 with that job (one at a time)."""
    if cmd.end_date < cmd.start_date or (cmd.end_date - cmd.start_date).days > 90:
        raise unprocessable("the range must be 1 to 91 days", field="end_date")
    sync = request.app.state.beds24_sync
    if not sync.configured:
        raise Problem(
            409,
            "beds24-not-configured",
            "Beds24 is not configured",
            "set FOLIO_BEDS24_BASE_URL and FOLIO_BEDS24_REFRESH_TOKEN",
        )
    job, created = await sync.request(
        start_date=cmd.start_date, end_date=cmd.end_date, building_id=cmd.building_id
    )
    response.status_code = 202 if created else 200
    response.headers["location"] = f"{PREFIX}/beds24/sync/{job['id']}"
    return job


@router.get("/beds24/sync/{job_id}", response_model=out.Beds24SyncJob)
async def get_beds24_sync(job_id: uuid.UUID, request: Request, principal: Reader):
    """A sync job's progress: properties done / pending / failed / stale, next run, credits."""
    job = await request.app.state.beds24_sync.get(job_id)
    if job is None:
        raise not_found("Beds24 sync job", job_id)
    return job


# --- KPIs ----------------------------------------------------------------------


@router.get(
    "/kpis/buildings/{building_id}",
    response_model=out.BuildingKpisOut,
    description="Seed 003 §4 KPIs of one building on a local `as_of` date (default: "
    "today in the building's timezone).\n" + MONEY_DEFINITIONS,
)
async def get_building_kpis(
    building_id: uuid.UUID,
    request: Request,
    principal: Reader,
    uow: UoW,
    as_of: AsOf = None,
):
    async with uow:
        building, result = await kpis.building_kpis(
            uow, building_id, as_of=as_of, now=_clock(request), max_age=_max_age(request)
        )
    return {
        "building_id": building["id"],
        "building_code": building["code"],
        "timezone": building["timezone"],
        **_kpi_body(result),
    }


@router.get(
    "/kpis/buildings/{building_id}/collections",
    response_model=out.CollectionsByMonthOut,
    description="Collected per local month of the building's timezone for the `months` "
    "months ending with `as_of`'s month (that month through `as_of`); every month listed, "
    "0 when nothing moved. Summed set-based from the daily collections aggregate.\n"
    + MONEY_DEFINITIONS,
)
async def get_building_collections(
    building_id: uuid.UUID,
    request: Request,
    principal: Reader,
    uow: UoW,
    as_of: AsOf = None,
    months: Annotated[int, Query(ge=1, le=MAX_COLLECTION_MONTHS)] = 12,
):
    async with uow:
        return await kpis.collections_by_month(
            uow, building_id, as_of=as_of, months=months, now=_clock(request)
        )


@router.get(
    "/kpis/portfolio",
    response_model=out.PortfolioKpisOut,
    description="Every building's KPIs and a roll-up per currency (amounts of different "
    "currencies are never summed; ratios are recomputed from the summed parts).\n"
    + MONEY_DEFINITIONS,
)
async def get_portfolio_kpis(request: Request, principal: Reader, uow: UoW, as_of: AsOf = None):
    async with uow:
        result = await kpis.portfolio_kpis(
            uow, as_of=as_of, now=_clock(request), max_age=_max_age(request)
        )
    return {
        "portfolio": [_kpi_body(p) for p in result["portfolio"]],
        "buildings": [
            {
                "building_id": b["id"],
                "building_code": b["code"],
                "timezone": b["timezone"],
                **_kpi_body(k),
            }
            for b, k in result["buildings"]
        ],
    }


@router.get("/audit", response_model=out.AuditTrail)
async def get_audit_trail(
    principal: Reader,
    uow: UoW,
    subject_type: Annotated[Text(50, min_length=1), Query(max_length=50)],
    subject_id: Annotated[Text(100, min_length=1), Query(max_length=100)],
):
    async with uow:
        return {"data": await uow.audit_trail(subject_type, subject_id)}
