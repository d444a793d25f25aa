"""FastAPI app of the Rotessa simulator (port 8201 in the local stack).

Public API under ``/v1`` (Rotessa's shapes, auth, error envelope, faults);
control API under ``/_sim`` for tests and benchmarks (no faults applied there).
"""

import asyncio
import json
from datetime import date
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from folio.simulators.index import add_index
from folio.simulators.rotessa.dates import parse_loose_date
from folio.simulators.rotessa.faults import FAULT_MESSAGES, FaultInjector, FaultPlan
from folio.simulators.rotessa.state import RotessaSimulator, SimulatorError

DEFAULT_API_KEY = "sim-rotessa-key"
REPORT_STATUSES = ("All", "Future", "Pending", "Approved", "Declined", "Chargeback")


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    body = {"errors": [{"error_code": code, "error_message": message}]}
    return JSONResponse(body, status_code=status, headers=headers)


def _json(body: Any) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


def _accepts_json(accept: str | None) -> bool:
    if not accept:
        return True
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return any(k in ("application/json", "application/*", "*/*") for k in kinds)


class _Control(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewCustomer(_Control):
    name: str = Field(min_length=1, max_length=200)
    amount: str = Field(pattern=r"^\d+(\.\d{1,2})?$")
    frequency: str = "Monthly"
    process_date: date
    installments: int | None = None
    generate_transactions: bool = False
    bulk_count: int = Field(default=0, ge=0, le=2_000_000)
    bulk_per_day: int = Field(default=1, ge=1)
    bulk_first_date: date | None = None


class NewTransaction(_Control):
    schedule_id: int
    process_date: date
    status: str = "Approved"
    amount: str | None = Field(default=None, pattern=r"^\d+(\.\d{1,2})?$")
    status_reason: str | None = None


class StatusChange(_Control):
    status: str
    status_reason: str | None = None


class FaultSettings(_Control):
    fail_next: int = Field(default=0, ge=0)
    fail_status: int = 503
    every_nth: int = Field(default=0, ge=0)
    every_status: int = 429
    rate: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_status: int = 503
    delay_seconds: float = Field(default=0.0, ge=0.0, le=60.0)
    retry_after: int | None = None
    endpoints: list[str] = Field(default_factory=list)


def _minor(amount: str) -> int:
    whole, _, cents = amount.partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


def create_app(
    seed: int = 0,
    *,
    api_key: str = DEFAULT_API_KEY,
    today: date | None = None,
    customers: int = 8,
    page_size: int = 1000,
    id_offset: int = 0,
) -> FastAPI:
    """A Rotessa simulator whose data derives from ``seed`` (and ``today``)."""
    simulator = RotessaSimulator(seed, today=today, customers=customers, id_offset=id_offset)
    faults = FaultInjector(seed)
    expected_auth = f'Token token="{api_key}"'
    request_counts: dict[str, int] = {}

    app = FastAPI(title="Rotessa simulator", version="1")
    app.state.simulator = simulator
    app.state.faults = faults
    app.state.request_counts = request_counts

    @app.exception_handler(SimulatorError)
    async def _simulator_error(_: Request, exc: SimulatorError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    async def guard(request: Request, endpoint: str) -> Response | None:
        """Auth, content negotiation and faults, in Rotessa's order of checks."""
        request_counts[endpoint] = request_counts.get(endpoint, 0) + 1
        if request.headers.get("authorization") != expected_auth:
            return error_response(401, "unauthorized", "You are not authorized.")
        if not _accepts_json(request.headers.get("accept")):
            return error_response(406, "not_acceptable", "Only JSON is supported.")
        delay = faults.delay_for(endpoint)
        if delay:
            await asyncio.sleep(delay)
        failing = faults.status_for(endpoint)
        if failing is not None:
            code, message = FAULT_MESSAGES.get(failing, ("error", "Simulated failure"))
            headers = None
            if faults.plan.retry_after is not None and failing in (429, 503):
                headers = {"Retry-After": str(faults.plan.retry_after)}
            return error_response(failing, code, message, headers)
        return None

    v1 = APIRouter(prefix="/v1")

    @v1.get("/customers")
    async def list_customers(request: Request) -> Response:
        refused = await guard(request, "customers")
        return refused or _json(simulator.customer_list())

    @v1.get("/customers/{customer_id}")
    async def get_customer(customer_id: str, request: Request) -> Response:
        refused = await guard(request, "customer")
        if refused:
            return refused
        if not customer_id.isdigit():
            return error_response(404, "not_found", "Customer not found.")
        return _json(simulator.customer_detail(int(customer_id)))

    @v1.get("/transaction_schedules/{schedule_id}")
    async def get_schedule(schedule_id: str, request: Request) -> Response:
        refused = await guard(request, "transaction_schedule")
        if refused:
            return refused
        schedule = simulator.schedules.get(int(schedule_id)) if schedule_id.isdigit() else None
        if schedule is None:
            return error_response(404, "not_found", "Transaction schedule not found.")
        return _json(simulator.schedule_detail(schedule.id))

    @v1.get("/transaction_report")
    async def transaction_report(request: Request) -> Response:
        refused = await guard(request, "transaction_report")
        if refused:
            return refused
        params: dict[str, Any] = {}
        raw_body = await request.body()
        if raw_body:  # Rotessa's own example sends the params as a JSON body on GET
            try:
                body = json.loads(raw_body)
            except ValueError:
                return error_response(400, "bad_request", "Body is not valid JSON.")
            if not isinstance(body, dict):
                return error_response(400, "bad_request", "Body must be a JSON object.")
            params.update(body)
        params.update(request.query_params)
        try:
            start = parse_loose_date(str(params["start_date"]))
        except KeyError:
            return error_response(400, "bad_request", "start_date is required.")
        except ValueError:
            return error_response(400, "bad_request", "start_date is not a valid date.")
        end = None
        if params.get("end_date"):
            try:
                end = parse_loose_date(str(params["end_date"]))
            except ValueError:
                return error_response(400, "bad_request", "end_date is not a valid date.")
        status = str(params.get("status") or "All")
        if status not in REPORT_STATUSES:
            return error_response(400, "bad_request", f"status {status!r} is not valid.")
        try:
            page = int(params.get("page") or 1)
        except ValueError:
            return error_response(400, "bad_request", "page must be an integer.")
        if page < 1:
            return error_response(400, "bad_request", "page must be at least 1.")
        rows = simulator.report(
            start_date=start, end_date=end, status=status, page=page, page_size=page_size
        )
        return _json(rows)

    app.include_router(v1)

    control = APIRouter(prefix="/_sim")

    @control.get("/state")
    async def state() -> dict:
        return {
            "seed": simulator.seed,
            "today": simulator.today.isoformat(),
            "customers": len(simulator.customers),
            "schedules": len(simulator.schedules),
            "transactions": len(simulator.transactions),
            "requests": dict(request_counts),
            "version": simulator.version,
        }

    @control.post("/customers", status_code=201)
    async def add_customer(spec: NewCustomer) -> dict:
        customer = simulator.add_customer(name=spec.name, created_on=spec.process_date)
        schedule = simulator.add_schedule(
            customer_id=customer.id,
            amount_minor=_minor(spec.amount),
            frequency=spec.frequency,
            process_date=spec.process_date,
            installments=spec.installments,
            generate=spec.generate_transactions,
        )
        result: dict[str, Any] = {"customer_id": customer.id, "schedule_id": schedule.id}
        if spec.bulk_count:
            first, last = simulator.add_bulk_transactions(
                schedule_id=schedule.id,
                count=spec.bulk_count,
                first_date=spec.bulk_first_date or spec.process_date,
                per_day=spec.bulk_per_day,
            )
            result.update(first_transaction_id=first, last_transaction_id=last)
        return result

    @control.post("/transactions", status_code=201)
    async def add_transaction(spec: NewTransaction) -> dict:
        transaction = simulator.add_transaction(
            schedule_id=spec.schedule_id,
            process_date=spec.process_date,
            status=spec.status,
            amount_minor=_minor(spec.amount) if spec.amount else None,
            status_reason=spec.status_reason,
        )
        return transaction.to_json()

    @control.patch("/transactions/{transaction_id}")
    async def change_status(transaction_id: int, change: StatusChange) -> dict:
        transaction = simulator.set_status(transaction_id, change.status, change.status_reason)
        return transaction.to_json()

    @control.put("/faults")
    async def set_faults(settings: FaultSettings) -> dict:
        faults.configure(
            FaultPlan(**{**settings.model_dump(), "endpoints": set(settings.endpoints)})
        )
        return settings.model_dump()

    @control.delete("/faults", status_code=204)
    async def clear_faults() -> Response:
        faults.clear()
        return Response(status_code=204)

    @control.post("/reset", status_code=204)
    async def reset() -> Response:
        simulator.reset()
        faults.clear()
        request_counts.clear()
        return Response(status_code=204)

    app.include_router(control)
    add_index(
        app,
        "Rotessa's API under /v1 (its shapes, token auth, error envelope, injectable faults) "
        "for rotessa-sync; test controls under /_sim.",
    )
    return app
