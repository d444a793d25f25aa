"""Admin API under ``/api/rotessa``: thin routes over the service layer."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from folio.rotessa_sync.adapters.rotessa_client import RotessaError
from folio.rotessa_sync.domain.backfill import BackfillStatus
from folio.rotessa_sync.domain.linking import mortgages_without_schedule
from folio.rotessa_sync.entrypoints import schemas as out
from folio.rotessa_sync.entrypoints.idempotency import (
    IdempotencyKey,
    checked_key,
    request_hash,
    run_once,
)
from folio.rotessa_sync.service.backfill import (
    RetryBackfill,
    StartBackfill,
    retry_backfill_in,
    start_backfill_in,
)
from folio.rotessa_sync.service.catalogue import (
    CATALOGUE_NAME,
    catalogue_state,
    find_schedule,
    unlinked_view,
)
from folio.rotessa_sync.service.linking import (
    LinkSchedule,
    fill_in_schedule_details,
    link_schedule_in,
)
from folio.rotessa_sync.service.queries import backfill_view
from folio.rotessa_sync.service.sync import SYNC_NAME
from folio.shared.auth import READ_ROLES, WRITE_ROLES, Principal, require_roles
from folio.shared.inputs import INT64_MAX, MAX_NAME, FilterText, Int, Text
from folio.shared.problems import Problem, not_found
from folio.shared.transactions import retry_transient

log = structlog.get_logger(__name__)

#: The routes that read Rotessa answer 502 when its answer is unusable.
ROTESSA_ERRORS: dict[int | str, dict[str, Any]] = {
    502: {
        "description": "Rotessa gave no usable answer (its text is logged, not echoed)",
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
}
router = APIRouter(prefix="/api/rotessa", tags=["rotessa"])

Reader = Annotated[Principal, Depends(require_roles(*READ_ROLES))]
Writer = Annotated[Principal, Depends(require_roles(*WRITE_ROLES))]


class LinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mortgage_id: Text(MAX_NAME, min_length=1)
    schedule_id: Int(1, INT64_MAX)
    customer_id: Int(1, INT64_MAX) | None = None
    start_backfill: bool = Field(default=False, strict=True)


class BackfillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mortgage_id: Text(MAX_NAME, min_length=1)


def _uow(request: Request) -> Any:
    return request.app.state.uow_factory()


def _today(request: Request):
    zone = ZoneInfo(request.app.state.settings.rotessa_timezone)
    return datetime.now(UTC).astimezone(zone).date()


def _rotessa_problem(exc: RotessaError) -> Problem:
    """What a client is told when Rotessa's answer is unusable. Rotessa's own text is
    logged, never echoed: it is another system's body, not part of this API."""
    log.warning("rotessa.unusable_answer", status=exc.status, error=str(exc)[:500])
    if exc.status == 404:  # the customer or schedule named in the request does not exist
        return Problem(
            404, "rotessa-not-found", "Not found", "Rotessa knows no such customer or schedule"
        )
    return Problem(
        502, "rotessa-unavailable", "Rotessa unavailable", "Rotessa did not give a usable answer"
    )


async def _with_client(request: Request, action):
    client = request.app.state.rotessa_client_factory()
    try:
        return await action(client)
    except RotessaError as exc:
        raise _rotessa_problem(exc) from None
    finally:
        await client.aclose()


@router.get("/schedules/unlinked", response_model=out.UnlinkedSchedules)
async def list_unlinked_schedules(request: Request, _: Reader) -> dict[str, Any]:
    """Every customer's schedules minus the linked ones, with what an admin needs to
    verify; read from the local catalogue (no Rotessa request), with its age. A view
    that finds the catalogue missing or older than its interval asks for a refresh
    (without waiting for it)."""
    async with _uow(request) as uow:
        view = await unlinked_view(uow, request.app.state.catalogue)
    return {
        "schedules": [
            {
                "schedule_id": s.schedule_id,
                "customer_id": s.customer_id,
                "customer_name": s.customer_name,
                "amount_minor": s.amount_minor,
                "currency": s.currency,
                "frequency": s.frequency,
                "process_date": s.process_date,
                "next_process_date": s.next_process_date,
                "installments": s.installments,
                "comment": s.comment,
            }
            for s in view.schedules
        ],
        "refreshed_at": view.state.refreshed_at,
        "age_seconds": view.age_seconds,
        "refreshing": view.state.refreshing,
        "last_error": view.state.last_error,
    }


@router.post("/schedules/refresh", status_code=202, response_model=out.CatalogueRefresh)
async def refresh_schedule_catalogue(request: Request, principal: Writer) -> dict[str, Any]:
    """Read Rotessa's schedules into the catalogue now, in the background (1 + N Rotessa
    requests for N customers); poll GET /schedules/unlinked until `refreshed_at` moves."""
    async with _uow(request) as uow:
        state = catalogue_state(await uow.repo.get_sync(CATALOGUE_NAME), await uow.now())
        await uow.audit(principal.subject, "catalogue.refresh_requested", "sync", CATALOGUE_NAME)
        await uow.commit()
    request.app.state.catalogue.wake()
    return {"status": "queued", "refreshed_at": state.refreshed_at}


@router.get("/mortgages/unlinked", response_model=list[out.MortgageWithoutSchedule])
async def list_mortgages_without_schedule(request: Request, _: Reader) -> list[dict[str, Any]]:
    async with _uow(request) as uow:
        linked = set((await uow.repo.mortgage_by_schedule()).values())
        mortgages = mortgages_without_schedule(await uow.repo.all_mortgages(), linked)
    return [
        {
            "mortgage_id": m.mortgage_id,
            "borrower_name": m.borrower_name,
            "status": m.status,
            "principal_minor": m.principal_minor,
            "currency": m.currency,
        }
        for m in mortgages
    ]


@router.get("/links", response_model=list[out.Link])
async def list_links(request: Request, _: Reader) -> list[dict[str, Any]]:
    async with _uow(request) as uow:
        links = await uow.repo.all_links()
    return [_link_body(link) for link in links]


def _link_body(link: Any) -> dict[str, Any]:
    return {
        "mortgage_id": link.mortgage_id,
        "schedule_id": link.schedule_id,
        "customer_id": link.customer_id,
        "customer_name": link.customer_name,
        "amount_minor": link.amount_minor,
        "currency": link.currency,
        "frequency": link.frequency,
        "first_process_date": (
            link.first_process_date.isoformat() if link.first_process_date else None
        ),
        "source": link.source,
        "linked_by": link.linked_by,
        "linked_at": link.linked_at.isoformat(),
    }


@router.post("/links", status_code=201, response_model=out.LinkCreated, responses=ROTESSA_ERRORS)
async def create_link(
    body: LinkRequest,
    request: Request,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Link a schedule to a mortgage (409 if either is taken); optionally start a backfill."""
    key = checked_key(idempotency_key)
    schedule = await _with_client(
        request, lambda client: find_schedule(client, body.schedule_id, body.customer_id)
    )
    if schedule is None:
        raise Problem(
            422,
            "schedule-not-found",
            "Unknown schedule",
            f"Rotessa has no schedule {body.schedule_id}"
            + (f" for customer {body.customer_id}" if body.customer_id else ""),
        )
    command = LinkSchedule(
        mortgage_id=body.mortgage_id,
        schedule=schedule,
        linked_by=principal.subject,
        start_backfill=body.start_backfill,
        today=_today(request),
    )

    async def effect(uow) -> dict[str, Any]:
        result = await link_schedule_in(command, uow)
        return {
            "mortgage_id": result.mortgage_id,
            "schedule_id": result.schedule_id,
            "created": result.created,
            "backfill_id": str(result.backfill_id) if result.backfill_id else None,
        }

    answer = await run_once(
        request.app.state.uow_factory,
        key=key,
        scope=f"{principal.subject}|POST /links",
        fingerprint=request_hash("POST", request.url.path, body.model_dump(mode="json")),
        status_code=201,
        effect=effect,
    )
    if answer.body["backfill_id"] and not answer.hit:
        request.app.state.backfill_runner.wake()
    return answer.response()


@router.post(
    "/backfills", status_code=202, response_model=out.BackfillStarted, responses=ROTESSA_ERRORS
)
async def create_backfill(
    body: BackfillRequest,
    request: Request,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    key = checked_key(idempotency_key)
    async with _uow(request) as uow:
        link = await uow.repo.link_of_mortgage(body.mortgage_id)
    if link is not None and link.first_process_date is None:
        schedule = await _with_client(
            request, lambda client: find_schedule(client, link.schedule_id, link.customer_id)
        )
        if schedule is None:
            raise Problem(
                422, "schedule-not-found", "Unknown schedule",
                f"Rotessa has no schedule {link.schedule_id}",
            )  # fmt: skip
        await retry_transient(
            lambda: fill_in_schedule_details(_uow(request), body.mortgage_id, schedule)
        )
    command = StartBackfill(body.mortgage_id, principal.subject, _today(request))

    async def effect(uow) -> dict[str, Any]:
        backfill_id = await start_backfill_in(command, uow)
        return {"backfill_id": str(backfill_id), "status": BackfillStatus.RUNNING.value}

    answer = await run_once(
        request.app.state.uow_factory,
        key=key,
        scope=f"{principal.subject}|POST /backfills",
        fingerprint=request_hash("POST", request.url.path, body.model_dump(mode="json")),
        status_code=202,
        effect=effect,
    )
    if not answer.hit:
        request.app.state.backfill_runner.wake()
    return answer.response()


@router.post("/backfills/{backfill_id}/retry", status_code=202, response_model=out.BackfillStarted)
async def retry(
    backfill_id: uuid.UUID,
    request: Request,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """FAILED → resumed; PARTIAL → a new backfill re-sending the refused; 409 otherwise
    (also for every concurrent retry but the one that wins)."""
    key = checked_key(idempotency_key)
    command = RetryBackfill(backfill_id, principal.subject, _today(request))

    async def effect(uow) -> dict[str, Any]:
        new_id = await retry_backfill_in(command, uow)
        return {"backfill_id": str(new_id), "status": BackfillStatus.RUNNING.value}

    answer = await run_once(
        request.app.state.uow_factory,
        key=key,
        scope=f"{principal.subject}|POST /backfills/{{id}}/retry",
        fingerprint=request_hash("POST", request.url.path, None),
        status_code=202,
        effect=effect,
    )
    if not answer.hit:
        request.app.state.backfill_runner.wake()
    return answer.response()


@router.get("/backfills/{backfill_id}", response_model=out.Backfill)
async def get_backfill(backfill_id: uuid.UUID, request: Request, _: Reader) -> dict[str, Any]:
    async with _uow(request) as uow:
        row = await uow.repo.get_backfill(backfill_id)
        if row is None:
            raise not_found("backfill", backfill_id)
        return await backfill_view(uow, row)


@router.get("/backfills", response_model=list[out.Backfill])
async def list_backfills(
    request: Request,
    _: Reader,
    mortgage_id: FilterText | None = None,
    status: BackfillStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Backfill history, newest first, by mortgage and/or by status."""
    async with _uow(request) as uow:
        rows = await uow.repo.list_backfills(
            mortgage_id=mortgage_id, status=status.value if status else None, limit=limit
        )
        return [await backfill_view(uow, row) for row in rows]


@router.get("/mortgages/{mortgage_id}/backfills", response_model=list[out.Backfill])
async def mortgage_backfills(
    mortgage_id: Annotated[str, Path(min_length=1, max_length=MAX_NAME)],
    request: Request,
    _: Reader,
) -> list[dict[str, Any]]:
    async with _uow(request) as uow:
        rows = await uow.repo.list_backfills(mortgage_id=mortgage_id, status=None, limit=500)
        return [await backfill_view(uow, row) for row in rows]


@router.post("/sync", status_code=200, response_model=out.SyncRun)
async def sync_now(request: Request, principal: Writer) -> dict[str, Any]:
    """Run one sync pass now (the periodic job does the same on its interval)."""
    metrics = await request.app.state.run_sync()
    async with _uow(request) as uow:
        await uow.audit(principal.subject, "sync.requested", "sync", SYNC_NAME, {})
        await uow.commit()
    if metrics is None:
        raise Problem(409, "sync-running", "Conflict", "a sync is already running")
    return {"metrics": metrics.as_dict()}


@router.get("/sync", response_model=out.SyncStatus)
async def sync_status(request: Request, _: Reader) -> dict[str, Any]:
    async with _uow(request) as uow:
        row = await uow.repo.get_sync(SYNC_NAME)
    if row is None:
        return {"name": SYNC_NAME, "last_finished_at": None}
    return {
        "name": row.name,
        "window_start": row.window_start.isoformat() if row.window_start else None,
        "window_end": row.window_end.isoformat() if row.window_end else None,
        "last_started_at": row.last_started_at.isoformat() if row.last_started_at else None,
        "last_finished_at": row.last_finished_at.isoformat() if row.last_finished_at else None,
        "last_error": row.last_error,
        "metrics": row.metrics,
    }
