"""Admin HTTP API under /api/ledger/: receivable entries, payments, rejections, journal checks.

Routes are thin: validate the request model, call a handler in a unit of work,
map rule violations to problem+json.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import exc as sa_exc

from folio.ledger.domain.journal import OverdraftPolicy, invariant_violations
from folio.ledger.domain.receivables import (
    MAX_AMOUNT_MINOR,
    AdjustmentOutOfRange,
    CurrencyMismatch,
    Entry,
    EntryImmutable,
    EntryNotPayable,
    EntryStatus,
    EntryType,
    InvalidEntry,
    ReceivableError,
    RefundExceedsPaid,
    TransitionForbidden,
    TransitionNotAllowed,
)
from folio.ledger.entrypoints.schemas import (
    AuditTrail,
    EntryOut,
    EntryPage,
    EntryTotals,
    JournalInvariants,
    JournalVerification,
    PaymentList,
    RefundOut,
    RejectionList,
)
from folio.ledger.service import journal as journal_service
from folio.ledger.service import receivables
from folio.ledger.service.receivables import EntryNotFound, JournalConfig, VersionConflict
from folio.shared import idempotency
from folio.shared.auth import READ_ROLES, WRITE_ROLES, Principal, require_roles
from folio.shared.contracts.money import CURRENCY_EXPONENTS
from folio.shared.idempotency import IdempotencyKey
from folio.shared.inputs import (
    INT64_MAX,
    MAX_FILTER,
    FilterText,
    FreeText,
    Int,
    StrictDate,
    Text,
)
from folio.shared.problems import Problem
from folio.shared.transactions import retry_transient, sqlstate_of

router = APIRouter(prefix="/api/ledger", tags=["receivables"])

Reader = Annotated[Principal, Depends(require_roles(*READ_ROLES))]
Writer = Annotated[Principal, Depends(require_roles(*WRITE_ROLES))]
T = TypeVar("T")


def _supported_currency(value: str) -> str:
    if value not in CURRENCY_EXPONENTS:
        raise ValueError(f"unsupported currency {value!r}")
    return value


SupportedCurrency = Annotated[str, AfterValidator(_supported_currency)]

ShortText = Text(200, min_length=1)
Description = FreeText(2000)
PositiveAmount = Int(1, MAX_AMOUNT_MINOR)
SignedAmount = Int(-MAX_AMOUNT_MINOR, MAX_AMOUNT_MINOR)
Version = Int(0, 2**31 - 1)
ChargeType = Literal[
    "RENT", "RENEWAL_RENT", "PROTECTION_FEE", "DEPOSIT", "CLEANING", "PENALTY"
]  # fmt: skip
AdminStatus = Literal["DUE", "PENDING", "PAID", "FAILED", "REFUNDED", "VOID"]


class _Request(BaseModel):
    # Unknown and read-only fields (status, invoice_number, paid_minor ...) → 422.
    model_config = ConfigDict(extra="forbid")


class EntryCreate(_Request):
    entry_type: ChargeType
    amount_minor: PositiveAmount
    currency: SupportedCurrency
    due_date: StrictDate | None = None
    building_id: ShortText | None = None
    unit_id: ShortText | None = None
    booking_id: ShortText | None = None
    description: Description | None = None
    metadata: dict[ShortText, Description] = Field(default_factory=dict, max_length=50)


class EntryEdit(_Request):
    amount_minor: SignedAmount | None = None
    due_date: StrictDate | None = None
    description: Description | None = None
    building_id: ShortText | None = None
    unit_id: ShortText | None = None
    booking_id: ShortText | None = None
    expected_version: Version | None = None


class StatusChange(_Request):
    status: AdminStatus
    reason: Description | None = None


class AdjustmentCreate(_Request):
    amount_minor: SignedAmount = Field(
        description="Signed: a fee (positive) or a credit (negative). The charge it "
        "corrects, with all its adjustments, stays between 0 and 10^15 (else 422 "
        "adjustment-out-of-range).",
    )
    reason: Description | None = None
    due_date: StrictDate | None = Field(
        default=None,
        description="When the adjustment is due. Default: the parent's due date, or "
        "today (UTC) if that has passed, so a fee added today is not overdue at once.",
    )


class RefundCreate(_Request):
    amount_minor: PositiveAmount
    reason: Description | None = None
    due_date: StrictDate | None = Field(
        default=None, description="Recorded on the REFUND child. Default: the parent's due date."
    )


def entry_body(entry: Entry, today: date | None = None) -> dict[str, Any]:
    return {
        "entry_id": entry.entry_id,
        "invoice_number": entry.invoice_number,
        "entry_type": entry.entry_type.value,
        "status": entry.status.value,
        "amount_minor": entry.amount_minor,
        "currency": entry.currency,
        "paid_minor": entry.paid_minor,
        "refunded_minor": entry.refunded_minor,
        "overpaid_minor": entry.overpaid_minor,
        "overpaid": entry.overpaid_minor > 0,
        "outstanding_minor": entry.outstanding_minor,
        "due_date": entry.due_date,
        "overdue": entry.is_overdue(today) if today else None,
        "building_id": entry.building_id,
        "unit_id": entry.unit_id,
        "booking_id": entry.booking_id,
        "extension_id": entry.extension_id,
        "parent_entry_id": entry.parent_entry_id,
        "description": entry.description,
        "paid_at": entry.paid_at,
        "immutable": entry.is_immutable,
        "version": entry.version,
        "metadata": entry.metadata,
    }


_STATUS_OF: dict[type[ReceivableError], tuple[int, str]] = {
    TransitionForbidden: (403, "transition-forbidden"),
    TransitionNotAllowed: (409, "transition-not-allowed"),
    EntryImmutable: (409, "entry-immutable"),
    VersionConflict: (409, "version-conflict"),
    RefundExceedsPaid: (409, "refund-exceeds-paid"),
    EntryNotPayable: (409, "entry-not-payable"),
    EntryNotFound: (404, "not-found"),
    InvalidEntry: (422, "invalid-entry"),
    AdjustmentOutOfRange: (422, "adjustment-out-of-range"),
    CurrencyMismatch: (422, "currency-mismatch"),
}


def problem_for(exc: ReceivableError) -> Problem:
    status, kind = _STATUS_OF.get(type(exc), (409, "rule-violation"))
    titles = {403: "Forbidden", 404: "Not found", 409: "Conflict", 422: "Unprocessable request"}
    return Problem(status, kind, titles[status], exc.message, code=exc.code)


async def in_unit_of_work(request: Request, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(uow)`` and commit; a deadlock or serialization failure runs it again
    (``retry_transient``: backoff, then 409 concurrent-update); refusals map to problems.
    A refused request rolls back, so it changes nothing."""

    async def attempt() -> T:
        uow = request.app.state.uow_factory()
        try:
            async with uow:
                result = await work(uow)
                await uow.commit()
                return result
        except ReceivableError as exc:
            raise problem_for(exc) from None
        except sa_exc.DBAPIError as exc:
            state = sqlstate_of(exc)
            if state == "42501":  # the database's immutability guard
                raise Problem(
                    409, "entry-immutable", "Conflict", "the database refused the change"
                ) from None
            if state == "23514":
                raise Problem(
                    409, "transition-not-allowed", "Conflict", "the database refused the transition"
                ) from None
            raise

    return await retry_transient(attempt)


async def idempotent_write(
    request: Request,
    principal: Principal,
    key: str | None,
    status_code: int,
    work: Callable[[Any], Awaitable[Any]],
    body: BaseModel | None = None,
    **path: str,
) -> JSONResponse:
    """One money-changing admin write, honouring ``Idempotency-Key``.

    The key is claimed first in the effect's own transaction and the answer stored
    in it (``folio.shared.idempotency``); the key belongs to this route, these path
    parameters, this body and this caller."""
    route = request.scope.get("route")
    scope = f"{request.method} {getattr(route, 'path', request.url.path)}"
    fingerprint = {
        "caller": principal.subject,
        "path": path,
        "body": body.model_dump(mode="json", exclude_unset=True) if body is not None else None,
    }
    claim = idempotency.request_for(key, scope, fingerprint)

    async def run(uow):
        if claim is not None:
            replay = await idempotency.claim(uow.session, claim)
            if replay is not None:
                return replay
        answer = jsonable_encoder(await work(uow))
        if claim is not None:
            await idempotency.remember(uow.session, claim, status_code, answer)
        return answer

    outcome = await in_unit_of_work(request, run)
    if isinstance(outcome, idempotency.Replay):
        return outcome.response()
    return JSONResponse(outcome, status_code=status_code)


def _journal(request: Request) -> JournalConfig:
    return request.app.state.journal_config


# --- entries ------------------------------------------------------------------------


@router.post("/entries", status_code=201, response_model=EntryOut)
async def create_entry(
    body: EntryCreate, request: Request, principal: Writer, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    cmd = receivables.CreateEntry(
        entry_type=EntryType(body.entry_type),
        amount_minor=body.amount_minor,
        currency=body.currency,
        due_date=body.due_date,
        building_id=body.building_id,
        unit_id=body.unit_id,
        booking_id=body.booking_id,
        description=body.description,
        metadata=body.metadata,
    )

    async def work(uow):
        return entry_body(await receivables.create_entry(cmd, uow, principal.subject))

    return await idempotent_write(request, principal, idempotency_key, 201, work, body)


@router.get("/entries/totals", response_model=EntryTotals)
async def entry_totals(request: Request, principal: Reader, filters: Filters) -> dict[str, Any]:
    """Count, amount, paid, refunded and outstanding of the whole filtered set (the
    filters of ``GET /entries``), per currency, summed by the database."""

    async def work(uow):
        return await uow.entries.totals(today=(await uow.now()).date(), **filters)

    rows = await in_unit_of_work(request, work)
    return {
        "count": sum(r.count for r in rows),
        "by_currency": [
            {
                "currency": r.currency.strip(),
                "count": r.count,
                "amount_minor": int(r.amount),
                "paid_minor": int(r.paid),
                "refunded_minor": int(r.refunded),
                "outstanding_minor": int(r.outstanding),
            }
            for r in rows
        ],
    }


@router.get("/entries/{entry_id}", response_model=EntryOut)
async def get_entry(entry_id: str, request: Request, principal: Reader) -> dict[str, Any]:
    async def work(uow):
        found = await uow.entries.get(entry_id)
        return found, (await uow.now()).date()

    entry, today = await in_unit_of_work(request, work)
    if entry is None:
        raise Problem(404, "not-found", "Not found", f"no entry {entry_id}")
    return entry_body(entry, today)


SortColumn = Literal[
    "invoice_number", "entry_type", "status", "amount_minor", "paid_minor", "due_date",
    "building_id", "unit_id", "booking_id",
]  # fmt: skip
_KEY_TYPES = {"amount_minor": "int", "paid_minor": "int", "due_date": "date"}
_CURSOR_TEXT = re.compile(r"[^\x00-\x1f\x7f]{0,200}")


def _invalid_cursor(detail: str = "cursor is not valid") -> Problem:
    return Problem(422, "invalid-cursor", "Unprocessable request", detail)


def _encode_cursor(key: Any, seq: int, sort: str | None, order: str) -> str:
    body: dict[str, Any] = {"after": seq}
    if sort is not None or order != "asc":
        body.update(sort=sort, order=order)
    if sort is not None:
        body["key"] = key.isoformat() if isinstance(key, date) else key
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def _decode_cursor(cursor: str, sort: str | None, order: str) -> tuple[Any, int]:
    """The keyset position ``(key, seq)`` of an opaque cursor. A client can send any
    JSON: every value is checked for the type and range its column holds, and a cursor
    of another ordering is refused rather than read as a position it is not."""
    try:
        body = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        seq = body["after"]
        ordering = (body.get("sort"), body.get("order", "asc"))
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        raise _invalid_cursor() from None
    if type(seq) is not int or not 0 <= seq <= INT64_MAX:
        raise _invalid_cursor()
    if ordering != (sort, order):
        raise _invalid_cursor("the cursor belongs to another sort order")
    if sort is None:
        return None, seq
    key, kind = body.get("key"), _KEY_TYPES.get(sort, "text")
    if kind == "int" and type(key) is int and -INT64_MAX - 1 <= key <= INT64_MAX:
        return key, seq
    if kind == "date" and isinstance(key, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", key):
        try:
            return date.fromisoformat(key), seq
        except ValueError:
            pass
    if kind == "text" and isinstance(key, str) and _CURSOR_TEXT.fullmatch(key):
        try:
            key.encode()  # JSON can carry a lone surrogate, which PostgreSQL cannot take
        except UnicodeEncodeError:
            raise _invalid_cursor() from None
        return key, seq
    raise _invalid_cursor()


def entry_filters(
    status: EntryStatus | None = None,
    entry_type: EntryType | None = None,
    building_id: FilterText | None = None,
    unit_id: FilterText | None = None,
    booking_id: FilterText | None = None,
    invoice_number: FilterText | None = None,
    parent_entry_id: uuid.UUID | None = None,
    due_from: StrictDate | None = None,
    due_to: StrictDate | None = None,
    overdue: bool | None = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_FILTER,
            pattern=r"^[^\x00-\x1f\x7f]*$",
            description="Case-insensitive prefix of the invoice number, booking, building, "
            "unit, tenant (metadata.tenant) or description (a prefix, not a substring: "
            "each field has a prefix index).",
        ),
    ] = None,
) -> dict[str, Any]:
    """The registry's filters, shared by the list and its totals."""
    return {
        "status": status.value if status else None,
        "entry_type": entry_type.value if entry_type else None,
        "building_id": building_id,
        "unit_id": unit_id,
        "booking_id": booking_id,
        "invoice_number": invoice_number,
        "parent_entry_id": str(parent_entry_id) if parent_entry_id else None,
        "due_from": due_from,
        "due_to": due_to,
        "overdue": overdue,
        "q": q,
    }


Filters = Annotated[dict[str, Any], Depends(entry_filters)]


@router.get("/entries", response_model=EntryPage)
async def list_entries(
    request: Request,
    principal: Reader,
    filters: Filters,
    sort: Annotated[
        SortColumn | None,
        Query(
            description="Order by this column (missing values last when ascending); "
            "ties in creation order."
        ),
    ] = None,
    order: Literal["asc", "desc"] = "asc",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    after_key, after_seq = _decode_cursor(cursor, sort, order) if cursor else (None, None)

    async def work(uow):
        today = (await uow.now()).date()
        rows = await uow.entries.list(
            limit=page_size + 1,
            sort=sort,
            descending=order == "desc",
            after_key=after_key,
            after_seq=after_seq,
            today=today,
            **filters,
        )
        return rows, today

    rows, today = await in_unit_of_work(request, work)
    page = rows[:page_size]
    has_more = len(rows) > page_size
    return {
        "data": [entry_body(e, today) for _, e in page],
        "has_more": has_more,
        "next_cursor": _encode_cursor(*page[-1][0], sort, order) if has_more and page else None,
    }


@router.patch("/entries/{entry_id}", response_model=EntryOut)
async def edit_entry(
    entry_id: str,
    body: EntryEdit,
    request: Request,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    cmd = receivables.EditEntry(**body.model_dump(), fields_set=frozenset(body.model_fields_set))

    async def work(uow):
        return entry_body(await receivables.edit_entry(uow, entry_id, cmd, principal.subject))

    return await idempotent_write(
        request, principal, idempotency_key, 200, work, body, entry_id=entry_id
    )


@router.post("/entries/{entry_id}/status", response_model=EntryOut)
async def change_status(
    entry_id: str,
    body: StatusChange,
    request: Request,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def work(uow):
        entry = await receivables.set_status_by_admin(
            uow, entry_id, EntryStatus(body.status), principal.subject, body.reason
        )
        return entry_body(entry)

    return await idempotent_write(
        request, principal, idempotency_key, 200, work, body, entry_id=entry_id
    )


@router.post("/entries/{entry_id}/adjustments", status_code=201, response_model=EntryOut)
async def create_adjustment(
    entry_id: str,
    body: AdjustmentCreate,
    request: Request,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def work(uow):
        child = await receivables.create_adjustment(
            uow, entry_id, body.amount_minor, principal.subject, body.reason, body.due_date
        )
        return entry_body(child)

    return await idempotent_write(
        request, principal, idempotency_key, 201, work, body, entry_id=entry_id
    )


@router.post("/entries/{entry_id}/refunds", status_code=201, response_model=RefundOut)
async def create_refund(
    entry_id: str,
    body: RefundCreate,
    request: Request,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def work(uow):
        result = await receivables.refund_by_admin(
            uow,
            entry_id,
            body.amount_minor,
            principal.subject,
            _journal(request),
            body.reason,
            due_date=body.due_date,
        )
        return {"refund": entry_body(result.refund), "parent": entry_body(result.parent)}

    return await idempotent_write(
        request, principal, idempotency_key, 201, work, body, entry_id=entry_id
    )


@router.get("/entries/{entry_id}/audit", response_model=AuditTrail)
async def entry_audit(entry_id: str, request: Request, principal: Reader) -> dict[str, Any]:
    rows = await in_unit_of_work(request, lambda uow: uow.audit_trail("entry", entry_id))
    return {"data": rows}


@router.api_route("/entries", methods=["PUT", "PATCH", "DELETE"], include_in_schema=False)
@router.api_route("/entries/{entry_id}", methods=["PUT", "POST", "DELETE"], include_in_schema=False)
async def unsupported_entry_method(request: Request, principal: Writer) -> None:
    """Deny by default: authenticate before saying the method does not exist, and never
    delete an entry (corrections are child entries)."""
    raise Problem(
        405, "method-not-allowed", "Method not allowed", f"{request.method} is not supported"
    )


# --- payments, rejections -------------------------------------------------------------


def _row(row: Any) -> dict[str, Any]:
    return {
        k: (str(v) if v is not None and (k.endswith("event_id") or k == "entry_id") else v)
        for k, v in row._mapping.items()
    }


@router.get("/payments", response_model=PaymentList)
async def list_payments(
    request: Request,
    principal: Reader,
    invoice_number: FilterText | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    rows = await in_unit_of_work(
        request, lambda uow: uow.entries.list_payments(invoice_number, limit)
    )
    return {"data": [_row(r) for r in rows]}


@router.get("/rejections", response_model=RejectionList)
async def list_rejections(
    request: Request, principal: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    rows = await in_unit_of_work(request, lambda uow: uow.entries.list_rejections(limit))
    return {"data": [_row(r) for r in rows]}


# --- journal checks ------------------------------------------------------------------


@router.post("/journal/verify", tags=["journal"], response_model=JournalVerification)
async def verify_journal(request: Request, principal: Writer) -> dict[str, Any]:
    """Seal what is pending, then recompute the hash chain and every row's hash.
    It writes seals, so it needs a writing role (finance or admin)."""

    async def work(uow):
        while await journal_service.seal_pending(uow):
            pass
        return await journal_service.verify_journal(uow)

    sealed, unsealed, problems = await in_unit_of_work(request, work)
    return {
        "intact": not problems,
        "sealed": sealed,
        "unsealed": unsealed,
        "problems": [
            {"seal_seq": p.seal_seq, "transaction_id": p.transaction_id, "problem": p.problem}
            for p in problems
        ],
    }


@router.get("/journal/invariants", tags=["journal"], response_model=JournalInvariants)
async def journal_invariants(
    request: Request, principal: Reader, ledger: FilterText | None = None
) -> dict[str, Any]:
    """Postings sum to zero per asset, stored volumes equal the moves, no forbidden overdraft
    (a transaction posted with ``force`` shows here on purpose)."""
    config = _journal(request)
    policy: OverdraftPolicy = config.policy

    async def work(uow):
        problems: list[str] = []
        names = [ledger] if ledger else [row.name for row in await uow.journal.list_ledgers()]
        for name in names:
            stored = await uow.journal.volumes_of(name)
            recomputed = await uow.journal.volumes_of(name, from_moves=True)
            problems += [f"{name}: {p}" for p in invariant_violations(stored, policy)]
            nonzero = {k: v for k, v in stored.items() if v.input or v.output}
            if nonzero != recomputed:
                problems.append(f"{name}: stored volumes differ from the moves")
        return problems

    problems = await in_unit_of_work(request, work)
    return {"ok": not problems, "problems": problems}
