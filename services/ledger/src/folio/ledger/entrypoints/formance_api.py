"""Formance Ledger v2 compatible HTTP API under /api/ledger/v2 (a subset).

Same paths, JSON shapes, status codes and error envelope (``errorCode``,
``errorMessage``) as Formance, so ``formance-sdk-python`` works unchanged.
Bodies are validated here (not by FastAPI) so that every refusal uses the
Formance envelope rather than a 422.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from folio.ledger.adapters.journal_repository import NUMERIC_OVERFLOW, StoredTransaction
from folio.ledger.domain.formance import (
    ERROR_STATUS,
    MAX_METADATA_KEY,
    Cursor,
    CursorResponse,
    DataResponse,
    V2Account,
    V2BulkElement,
    V2BulkResponse,
    V2BulkRevert,
    V2BulkTargetKey,
    V2BulkTargetMetadata,
    V2CreateLedgerRequest,
    V2ErrorResponse,
    V2ErrorsEnum,
    V2ImportedLog,
    V2ImportedTransaction,
    V2Ledger,
    V2LedgerInfo,
    V2LedgerInfoStorage,
    V2Log,
    V2LogDataDeleteMetadata,
    V2LogDataNewTransaction,
    V2LogDataRevertedTransaction,
    V2LogDataSetMetadata,
    V2LogType,
    V2MetadataRequest,
    V2MigrationInfo,
    V2Posting,
    V2PostTransaction,
    V2RevertTransactionRequest,
    V2Stats,
    V2Transaction,
    V2Volume,
    V2VolumesWithBalance,
)
from folio.ledger.domain.journal import (
    MAX_AMOUNT,
    NUMERIC_OVERFLOW_MESSAGE,
    JournalError,
    MetadataChange,
    Posting,
    VolumeKey,
    Volumes,
    check_timestamp,
    is_valid_address,
)
from folio.ledger.service import journal as journal_service
from folio.ledger.service.journal import NewTransaction
from folio.shared.auth import READ_ROLES, WRITE_ROLES, Principal, require_roles
from folio.shared.transactions import ConcurrentUpdate, retry_transient, sqlstate_of

router = APIRouter(prefix="/api/ledger/v2", tags=["formance ledger v2"])
Reader = Annotated[Principal, Depends(require_roles(*READ_ROLES))]
Writer = Annotated[Principal, Depends(require_roles(*WRITE_ROLES))]
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 15
#: Deepest JSON body accepted (a filter document is a few levels deep; a body nested
#: thousands deep would exhaust the parser's and the filter walker's recursion).
MAX_JSON_DEPTH = 32
#: ``Idempotency-Key``: 1-255 printable ASCII characters (it is stored with the answer).
MAX_IDEMPOTENCY_KEY = 255
_IDEMPOTENCY_KEY = re.compile(rf"[\x20-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}")
#: Longest text read back from a cursor (an address, a reference, a time).
MAX_CURSOR_TEXT = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


_FORMANCE_ERRORS = {
    400: "Formance VALIDATION (or another 400 code): the request is refused, nothing changed. "
    "A NUL or control character in the path or query is refused by the shared edge "
    "(problem+json) before the route runs.",
    404: "Formance NOT_FOUND or LEDGER_NOT_FOUND",
    409: "Formance CONFLICT: the reference or the Idempotency-Key is taken",
}


def _errors() -> dict[int | str, dict[str, Any]]:
    """Formance's own error envelope (``errorCode``, ``errorMessage``), documented so
    that its answers conform to the contract; 400 may also be the edge's problem+json."""
    envelope = {"schema": {"$ref": "#/components/schemas/V2ErrorResponse"}}
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    responses: dict[int | str, dict[str, Any]] = {}
    for status, description in _FORMANCE_ERRORS.items():
        content = {"application/json": envelope}
        if status == 400:
            content["application/problem+json"] = problem
        responses[status] = {
            "model": V2ErrorResponse,
            "description": description,
            "content": content,
        }
    return responses


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` inlined (none of these is recursive), to
    document a body the route parses itself."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


def _body(model: type[BaseModel], *, required: bool) -> dict[str, Any]:
    schema = _inline(model.model_json_schema(by_alias=True))
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    }


_BOOLEAN = {"type": "boolean"}
_TIME = {"type": "string", "format": "date-time", "description": "RFC 3339, years 1-9999 in UTC"}
_PARAMETERS: dict[str, tuple[str, dict[str, Any]]] = {
    "pageSize": ("query", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}),
    "cursor": ("query", {"type": "string", "description": "opaque, from a previous page"}),
    "reference": ("query", {"type": "string", "maxLength": MAX_CURSOR_TEXT}),
    "account": ("query", {"type": "string", "maxLength": MAX_CURSOR_TEXT}),
    "pit": ("query", _TIME),
    "startTime": ("query", _TIME),
    "endTime": ("query", _TIME),
    "force": ("query", _BOOLEAN),
    "dryRun": ("query", _BOOLEAN),
    "atEffectiveDate": ("query", _BOOLEAN),
    "useInsertionDate": ("query", _BOOLEAN),
    "insertionDate": ("query", _BOOLEAN),
    "expand": ("query", {"type": "string", "enum": ["volumes"]}),
    "Idempotency-Key": (
        "header",
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_IDEMPOTENCY_KEY,
            "pattern": "^[\\x20-\\x7e]+$",
            "description": "Same key and same request: the stored answer, with "
            "`Idempotency-Hit: true`; same key, another request: 400.",
        },
    ),
}


def _params(*names: str) -> dict[str, Any]:
    """The query and header parameters a route reads itself, documented (FastAPI appends
    them to the path parameters)."""
    return {
        "parameters": [
            {
                "name": name,
                "in": _PARAMETERS[name][0],
                "required": False,
                "schema": _PARAMETERS[name][1],
            }
            for name in names
        ]
    }


def _required_body(model: type[BaseModel]) -> dict[str, Any]:
    return _body(model, required=True)


def _optional_body(model: type[BaseModel]) -> dict[str, Any]:
    return _body(model, required=False)


class FormanceError(Exception):
    def __init__(self, code: V2ErrorsEnum, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or ERROR_STATUS[code]

    def response(self) -> JSONResponse:
        body = V2ErrorResponse(error_code=self.code, error_message=self.message).wire()
        return JSONResponse(body, status_code=self.status)


def from_journal_error(exc: JournalError) -> FormanceError:
    return FormanceError(V2ErrorsEnum(exc.error_code), exc.message)


def install_formance_errors(app) -> None:
    @app.exception_handler(FormanceError)
    async def on_formance_error(request: Request, exc: FormanceError) -> JSONResponse:
        return exc.response()


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"{}[]")


def json_depth(raw: bytes) -> int:
    """The deepest nesting of objects and arrays in a JSON text (strings skipped),
    counted before parsing so a hostile depth never reaches the recursive parser.
    Strings and everything but brackets are dropped at C speed first: a bulk's body is
    megabytes, its brackets a few per element."""
    depth = deepest = 0
    for byte in _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKET):
        if byte in (0x7B, 0x5B):  # { [
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


async def _json_body(request: Request, *, required: bool) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise FormanceError(V2ErrorsEnum.VALIDATION, "a JSON body is required")
        return {}
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise FormanceError(
            V2ErrorsEnum.VALIDATION, f"the body is nested deeper than {MAX_JSON_DEPTH} levels"
        )
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise FormanceError(V2ErrorsEnum.VALIDATION, "body is not valid JSON") from None


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise FormanceError(V2ErrorsEnum.VALIDATION, f"{where}: {first.get('msg')}") from None


def _bool(value: str | None) -> bool:
    return value is not None and value.lower() in {"1", "true", "yes"}


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FormanceError(V2ErrorsEnum.VALIDATION, f"{name} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise FormanceError(V2ErrorsEnum.VALIDATION, f"{name} needs a timezone")
    try:  # a time the database could be asked about but Python cannot hold → 400
        check_timestamp(moment, name)
    except JournalError as exc:
        raise from_journal_error(exc) from None
    return moment


def _page_size(value: str | None) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(value)
    except ValueError:
        raise FormanceError(V2ErrorsEnum.VALIDATION, "pageSize must be an integer") from None
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise FormanceError(V2ErrorsEnum.VALIDATION, f"pageSize must be 1..{MAX_PAGE_SIZE}")
    return size


def _encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode()).decode()


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError):
        raise FormanceError(V2ErrorsEnum.VALIDATION, "invalid cursor") from None
    if not isinstance(state, dict):
        raise FormanceError(V2ErrorsEnum.VALIDATION, "invalid cursor")
    return state


_CURSOR_FILTERS = {"reference", "account", "start_time", "end_time", "pit"}
_METADATA_FILTERS = {"metadata", "metadata_exists"}


def _filter_text(value: Any, what: str = "cursor") -> str:
    """Text read back from a cursor or a filter body: bounded, no control character
    (PostgreSQL refuses NUL; a cursor is opaque base64 the shared guard cannot see into)."""
    if not isinstance(value, str) or len(value) > MAX_CURSOR_TEXT or _CONTROL.search(value):
        raise FormanceError(V2ErrorsEnum.VALIDATION, f"invalid {what}")
    return value


def _cursor_int(value: Any) -> int:
    """A position read back from a cursor: a client can send any JSON there."""
    if type(value) is not int or not 0 <= value <= MAX_AMOUNT:  # ids and offsets: bigint
        raise FormanceError(V2ErrorsEnum.VALIDATION, "invalid cursor")
    return value


def _volumes_wire(volumes: dict[VolumeKey, Volumes]) -> dict[str, dict[str, V2Volume]]:
    out: dict[str, dict[str, V2Volume]] = {}
    for (address, asset), v in sorted(volumes.items()):
        out.setdefault(address, {})[asset] = V2Volume(
            input=v.input, output=v.output, balance=v.balance
        )
    return out


def transaction_wire(tx: StoredTransaction) -> V2Transaction:
    return V2Transaction(
        id=tx.id,
        metadata=dict(tx.effective_metadata),
        postings=[
            V2Posting(amount=p.amount, asset=p.asset, source=p.source, destination=p.destination)
            for p in tx.postings
        ],
        reverted=tx.reverted,
        reverted_at=tx.reverted_at,
        timestamp=tx.timestamp,
        inserted_at=tx.inserted_at,
        reference=tx.reference,
        post_commit_volumes=_volumes_wire(tx.post_commit_volumes)
        if tx.post_commit_volumes
        else None,
        pre_commit_volumes=_volumes_wire(tx.pre_commit_volumes) if tx.pre_commit_volumes else None,
    )


async def _run(request: Request, work):
    """One unit of work, rerun after a lost race (``retry_transient``); journal rule
    violations become Formance errors (and roll back)."""

    async def attempt():
        async with request.app.state.uow_factory() as uow:
            result = await work(uow)
            await uow.commit()
            return result

    try:
        return await retry_transient(attempt)
    except JournalError as exc:
        raise from_journal_error(exc) from None
    except ConcurrentUpdate:
        raise FormanceError(
            V2ErrorsEnum.CONFLICT, "the change collided with concurrent changes; try again"
        ) from None
    except sa_exc.DBAPIError as exc:
        if sqlstate_of(exc) == NUMERIC_OVERFLOW:  # the database refused; nothing was kept
            raise FormanceError(V2ErrorsEnum.VALIDATION, NUMERIC_OVERFLOW_MESSAGE) from None
        constraint = getattr(getattr(exc, "orig", None), "constraint_name", None) or str(exc)
        if "transactions_ledger_reference_key" in constraint:
            raise FormanceError(V2ErrorsEnum.CONFLICT, "reference already exists") from None
        raise


async def _require_ledger(uow, ledger: str) -> None:
    if not await uow.journal.ledger_exists(ledger):
        raise FormanceError(V2ErrorsEnum.LEDGER_NOT_FOUND, f"ledger {ledger} not found")


# --- ledgers -------------------------------------------------------------------------


def _ledger_wire(row: Any) -> V2Ledger:
    return V2Ledger(
        id=row.id,
        name=row.name,
        bucket=row.bucket,
        added_at=row.added_at,
        metadata=row.metadata,
        features=row.features,
    )


@router.get("", response_model=CursorResponse[V2Ledger], responses=_errors())
async def list_ledgers(request: Request, principal: Reader) -> JSONResponse:
    rows = await _run(request, lambda uow: uow.journal.list_ledgers())
    return JSONResponse(
        CursorResponse[V2Ledger](
            cursor=Cursor[V2Ledger](
                page_size=max(len(rows), 1), has_more=False, data=[_ledger_wire(r) for r in rows]
            )
        ).wire()
    )


@router.post(
    "/{ledger}",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "The ledger is created (no body, as Formance)"}} | _errors(),
    openapi_extra=_optional_body(V2CreateLedgerRequest),
)
async def create_ledger(ledger: str, request: Request, principal: Writer) -> Response:
    body = _parse(V2CreateLedgerRequest, await _json_body(request, required=False))
    if not _LEDGER_NAME.fullmatch(ledger):  # the database's check, ASCII only
        raise FormanceError(V2ErrorsEnum.VALIDATION, "invalid ledger name")

    async def work(uow):
        created = await uow.journal.create_ledger(
            ledger, body.bucket or "_default", body.metadata or {}, body.features or {}
        )
        if not created:
            raise FormanceError(
                V2ErrorsEnum.LEDGER_ALREADY_EXISTS, f"ledger {ledger} already exists"
            )
        await uow.audit(principal.subject, "ledger.create", "ledger", ledger, {})

    await _run(request, work)
    return Response(status_code=204)


@router.get("/{ledger}", response_model=DataResponse[V2Ledger], responses=_errors())
async def get_ledger(ledger: str, request: Request, principal: Reader) -> JSONResponse:
    row = await _run(request, lambda uow: uow.journal.get_ledger(ledger))
    if row is None:
        raise FormanceError(V2ErrorsEnum.NOT_FOUND, f"ledger {ledger} not found")
    return JSONResponse(DataResponse[V2Ledger](data=_ledger_wire(row)).wire())


_NO_CONTENT = {204: {"description": "Done (no body, as Formance)"}}


def _metadata_key(key: str) -> str:
    """A metadata key from the path, bounded like the keys a body may set."""
    if not 1 <= len(key) <= MAX_METADATA_KEY or _CONTROL.search(key):
        raise FormanceError(
            V2ErrorsEnum.VALIDATION, f"a metadata key is 1 to {MAX_METADATA_KEY} characters"
        )
    return key


@router.get("/{ledger}/_info", response_model=DataResponse[V2LedgerInfo], responses=_errors())
async def get_ledger_info(ledger: str, request: Request, principal: Reader) -> JSONResponse:
    async def work(uow):
        await _require_ledger(uow, ledger)
        return await uow.journal.schema_version()

    version = await _run(request, work)
    # one schema serves every ledger: its migration state is the ledger's storage state
    migrations = [V2MigrationInfo(version=version, name=f"folio-ledger-{version}", state="DONE")]
    info = V2LedgerInfo(name=ledger, storage=V2LedgerInfoStorage(migrations=migrations))
    return JSONResponse(DataResponse[V2LedgerInfo](data=info).wire())


@router.get("/{ledger}/stats", response_model=DataResponse[V2Stats], responses=_errors())
async def read_stats(ledger: str, request: Request, principal: Reader) -> JSONResponse:
    async def work(uow):
        await _require_ledger(uow, ledger)
        return await uow.journal.count_accounts(ledger), await uow.journal.count(ledger)

    accounts, transactions = await _run(request, work)
    stats = V2Stats(accounts=accounts, transactions=transactions)
    return JSONResponse(DataResponse[V2Stats](data=stats).wire())


@router.put(
    "/{ledger}/metadata",
    status_code=204,
    response_class=Response,
    responses=_NO_CONTENT | _errors(),
    openapi_extra=_required_body(V2MetadataRequest),
)
async def update_ledger_metadata(ledger: str, request: Request, principal: Writer) -> Response:
    metadata = _parse(V2MetadataRequest, await _json_body(request, required=True)).root

    async def work(uow):
        if not await uow.journal.update_ledger_metadata(ledger, metadata):
            raise FormanceError(V2ErrorsEnum.LEDGER_NOT_FOUND, f"ledger {ledger} not found")
        await uow.audit(
            principal.subject, "ledger.metadata.set", "ledger", ledger, {"keys": sorted(metadata)}
        )

    await _run(request, work)
    return Response(status_code=204)


@router.delete(
    "/{ledger}/metadata/{key}",
    status_code=204,
    response_class=Response,
    responses=_NO_CONTENT | _errors(),
)
async def delete_ledger_metadata(
    ledger: str, key: str, request: Request, principal: Writer
) -> Response:
    key = _metadata_key(key)

    async def work(uow):
        if not await uow.journal.update_ledger_metadata(ledger, delete_key=key):
            raise FormanceError(V2ErrorsEnum.LEDGER_NOT_FOUND, f"ledger {ledger} not found")
        await uow.audit(principal.subject, "ledger.metadata.delete", "ledger", ledger, {"key": key})

    await _run(request, work)
    return Response(status_code=204)


# --- transactions --------------------------------------------------------------------


def _request_hash(body: Any, query: dict[str, str]) -> str:
    canonical = json.dumps({"body": body, "query": query}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _idempotent(request: Request, ledger: str, status_code: int, produce) -> JSONResponse:
    """Apply ``Idempotency-Key``: same key + same request → the stored answer with
    ``Idempotency-Hit: true``; same key + different request → 400. The key is stored
    in the transaction of the effect, so a failed request does not use it up."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise FormanceError(
            V2ErrorsEnum.VALIDATION,
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters",
        )
    raw = await _json_body(request, required=False)
    if not key:
        body = await _run(request, lambda uow: produce(uow))
        return JSONResponse(body, status_code=status_code)
    request_hash = _request_hash(raw, dict(sorted(request.query_params.items())))

    async def replay(uow):
        return await uow.journal.idempotency_hit(ledger, key)

    for _ in range(2):
        hit = await _run(request, replay)
        if hit is not None:
            if hit.request_hash != request_hash:
                raise FormanceError(
                    V2ErrorsEnum.VALIDATION,
                    "Idempotency-Key already used with a different request",
                )
            return JSONResponse(
                hit.response, status_code=hit.status_code, headers={"Idempotency-Hit": "true"}
            )

        async def work(uow):
            body = await produce(uow)
            await uow.journal.remember_idempotent(ledger, key, request_hash, status_code, body)
            return body

        try:
            body = await _run(request, work)
        except sa_exc.IntegrityError:
            continue  # a concurrent request with the same key won; answer with its result
        return JSONResponse(body, status_code=status_code)
    raise FormanceError(V2ErrorsEnum.CONFLICT, "concurrent request with the same Idempotency-Key")


@router.post(
    "/{ledger}/transactions",
    response_model=DataResponse[V2Transaction],
    responses=_errors(),
    openapi_extra=_required_body(V2PostTransaction) | _params("force", "dryRun", "Idempotency-Key"),
)
async def create_transaction(ledger: str, request: Request, principal: Writer) -> JSONResponse:
    raw = await _json_body(request, required=True)
    body: V2PostTransaction = _parse(V2PostTransaction, raw)
    if body.script is not None and (body.script.plain or body.script.template):
        raise FormanceError(
            V2ErrorsEnum.COMPILATION_FAILED,
            "Numscript is not supported by this ledger: send 'postings' instead of 'script'",
        )
    if not body.postings:
        raise FormanceError(V2ErrorsEnum.NO_POSTINGS, "the transaction needs postings")
    if body.timestamp is not None:  # refused before anything is written
        try:
            check_timestamp(body.timestamp)
        except JournalError as exc:
            raise from_journal_error(exc) from None
    force = _bool(request.query_params.get("force")) or bool(body.force)
    dry_run = _bool(request.query_params.get("dryRun"))
    candidate = NewTransaction(
        postings=tuple(Posting(p.source, p.destination, p.amount, p.asset) for p in body.postings),
        timestamp=body.timestamp,
        reference=body.reference,
        metadata=dict(body.metadata),
        force=force,
    )
    policy = request.app.state.journal_config.policy

    async def produce(uow):
        await _require_ledger(uow, ledger)
        [result] = await journal_service.post_transactions(uow, ledger, [candidate], policy)
        if isinstance(result, journal_service.ReferenceConflict):
            raise FormanceError(
                V2ErrorsEnum.CONFLICT, f"transaction with reference {body.reference} already exists"
            )
        if isinstance(result, JournalError):
            raise result
        if body.account_metadata:
            raise FormanceError(V2ErrorsEnum.VALIDATION, "accountMetadata is not supported")
        if dry_run:
            raise _DryRun(DataResponse[V2Transaction](data=transaction_wire(result)).wire())
        await uow.audit(
            principal.subject,
            "transaction.create",
            "transaction",
            f"{ledger}:{result.id}",
            {"reference": result.reference, "force": force},
        )
        return DataResponse[V2Transaction](data=transaction_wire(result)).wire()

    try:
        return await _idempotent(request, ledger, 200, produce)
    except _DryRun as outcome:  # the unit of work rolled back: nothing was written
        return JSONResponse(outcome.body, status_code=200)


class _DryRun(Exception):
    def __init__(self, body: dict) -> None:
        super().__init__("dry run")
        self.body = body


_LEDGER_NAME = re.compile(r"[0-9A-Za-z_-]{1,63}")
_TRANSACTION_ID = re.compile(r"[0-9]{1,18}")


def _tx_id(raw: str) -> int:
    """Path ids are parsed here so a bad one gets the Formance envelope, not a 422."""
    if not _TRANSACTION_ID.fullmatch(raw):  # ASCII digits: str.isdigit admits "¹"
        raise FormanceError(V2ErrorsEnum.VALIDATION, f"invalid transaction id {raw!r}")
    return int(raw)


@router.get(
    "/{ledger}/transactions/{raw_id}",
    response_model=DataResponse[V2Transaction],
    responses=_errors(),
)
async def get_transaction(
    ledger: str, raw_id: str, request: Request, principal: Reader
) -> JSONResponse:
    tx_id = _tx_id(raw_id)

    async def work(uow):
        await _require_ledger(uow, ledger)
        return await uow.journal.get(ledger, tx_id)

    tx = await _run(request, work)
    if tx is None:
        raise FormanceError(V2ErrorsEnum.NOT_FOUND, f"transaction {tx_id} not found")
    return JSONResponse(DataResponse[V2Transaction](data=transaction_wire(tx)).wire())


_METADATA_FIELD = re.compile(r"metadata\[(.+)\]")
#: Metadata conditions one filter may hold ($match on metadata[k] and $exists).
MAX_METADATA_FILTERS = 20


def _metadata_condition(filters: dict[str, Any], op: str, arg: Any) -> bool:
    """Add a ``$match`` on ``metadata[key]`` or an ``$exists`` on ``metadata`` to
    ``filters`` (``metadata``: keys → values, ``metadata_exists``: keys); False when
    ``arg`` is not one of those."""
    if op == "$exists":
        if not isinstance(arg, dict) or set(arg) != {"metadata"}:
            raise FormanceError(V2ErrorsEnum.VALIDATION, "$exists takes {'metadata': key}")
        keys = filters.setdefault("metadata_exists", [])
        keys.append(_metadata_key(_filter_text(arg["metadata"], "$exists key")))
    else:
        field, value = next(iter(arg.items()))
        found = _METADATA_FIELD.fullmatch(field) if isinstance(field, str) else None
        if found is None:
            return False
        if not isinstance(value, str):
            raise FormanceError(V2ErrorsEnum.VALIDATION, f"$match on {field} takes a string")
        filters.setdefault("metadata", {})[_metadata_key(found.group(1))] = _filter_text(
            value, f"$match on {field}"
        )
    if len(filters.get("metadata", {})) + len(filters.get("metadata_exists", [])) > (
        MAX_METADATA_FILTERS
    ):
        raise FormanceError(
            V2ErrorsEnum.VALIDATION, f"at most {MAX_METADATA_FILTERS} metadata conditions"
        )
    return True


def _transaction_filters(query: Any) -> dict[str, Any]:
    """Formance's filter body: {"$match": {...}}, {"$and": [...]}, {"$exists": {...}},
    {"$lt"/"$lte"/"$gt"/"$gte": {"timestamp": ...}}."""
    filters: dict[str, Any] = {}

    def walk(node: Any) -> None:
        if not node:
            return
        if not isinstance(node, dict) or len(node) != 1:
            raise FormanceError(V2ErrorsEnum.VALIDATION, "unsupported filter")
        op, arg = next(iter(node.items()))
        if op == "$and" and isinstance(arg, list):
            for child in arg:
                walk(child)
        elif op == "$exists":
            _metadata_condition(filters, op, arg)
        elif op == "$match" and isinstance(arg, dict) and len(arg) == 1:
            if _metadata_condition(filters, op, arg):
                return
            field, value = next(iter(arg.items()))
            if field not in {"reference", "account"} or not isinstance(value, str):
                raise FormanceError(V2ErrorsEnum.VALIDATION, f"unsupported $match on {field}")
            filters[field] = _filter_text(value, f"$match on {field}")
        elif (
            op in {"$gte", "$gt", "$lt", "$lte"}
            and isinstance(arg, dict)
            and set(arg) == {"timestamp"}
        ):
            moment = _time(str(arg["timestamp"]), "timestamp")
            filters["start_time" if op in {"$gte", "$gt"} else "end_time"] = moment
        else:
            raise FormanceError(V2ErrorsEnum.VALIDATION, f"unsupported filter {op}")

    walk(query)
    return filters


def _cursor_metadata(raw: dict[str, Any], filters: dict[str, Any]) -> None:
    """The metadata conditions a cursor carries, checked as a filter body is."""
    metadata = raw.get("metadata", {})
    exists = raw.get("metadata_exists", [])
    if not isinstance(metadata, dict) or not isinstance(exists, list):
        raise FormanceError(V2ErrorsEnum.VALIDATION, "invalid cursor")
    for key, value in metadata.items():
        _metadata_condition(filters, "$match", {f"metadata[{key}]": value})
    for key in exists:
        _metadata_condition(filters, "$exists", {"metadata": key})


async def _list_filters(request: Request) -> tuple[dict[str, Any], int, int | None]:
    """(filters, page size, position) of a transaction list: from the cursor, or from
    the body and the query on a first page."""
    params = request.query_params
    if params.get("cursor"):
        state = _decode_cursor(params["cursor"])
        raw_filters = state.get("filters", {})
        if not isinstance(raw_filters, dict):
            raise FormanceError(V2ErrorsEnum.VALIDATION, "invalid cursor")
        scalar = {k: v for k, v in raw_filters.items() if k not in _METADATA_FILTERS}
        if any(k not in _CURSOR_FILTERS or not isinstance(v, str) for k, v in scalar.items()):
            raise FormanceError(V2ErrorsEnum.VALIDATION, "invalid cursor")
        filters = {
            k: (_time(v, k) if k in {"start_time", "end_time", "pit"} else _filter_text(v))
            for k, v in scalar.items()
        }
        _cursor_metadata(raw_filters, filters)
        page_size = _page_size(str(state.get("page_size", DEFAULT_PAGE_SIZE)))
        return filters, page_size, _cursor_int(state.get("after_id"))
    filters = _transaction_filters(await _json_body(request, required=False))
    for name in ("reference", "account"):
        if params.get(name):
            filters[name] = _filter_text(params[name], name)
    for name, key in (("startTime", "start_time"), ("endTime", "end_time"), ("pit", "pit")):
        if params.get(name):
            filters[key] = _time(params[name], name)
    return filters, _page_size(params.get("pageSize")), None


_COUNTED = {
    204: {
        "description": "The count is in the `Count` header (no body, as Formance)",
        "headers": {"Count": {"schema": {"type": "integer", "minimum": 0}}},
    }
}


@router.head(
    "/{ledger}/transactions",
    status_code=204,
    response_class=Response,
    responses=_COUNTED | _errors(),
    openapi_extra=_params("reference", "account", "startTime", "endTime", "pit"),
)
async def count_transactions(ledger: str, request: Request, principal: Reader) -> Response:
    """How many transactions the list with the same filters holds (``Count`` header)."""
    filters, _, _ = await _list_filters(request)

    async def work(uow):
        await _require_ledger(uow, ledger)
        return await uow.journal.count(ledger, **filters)

    return Response(status_code=204, headers={"Count": str(await _run(request, work))})


@router.get(
    "/{ledger}/transactions",
    response_model=CursorResponse[V2Transaction],
    responses=_errors(),
    openapi_extra=_params(
        "pageSize", "cursor", "reference", "account", "startTime", "endTime", "pit"
    ),
)
async def list_transactions(ledger: str, request: Request, principal: Reader) -> JSONResponse:
    filters, page_size, after_id = await _list_filters(request)

    async def work(uow):
        await _require_ledger(uow, ledger)
        return await uow.journal.list(ledger, limit=page_size + 1, after_id=after_id, **filters)

    rows = await _run(request, work)
    page, has_more = rows[:page_size], len(rows) > page_size
    next_cursor = None
    if has_more:
        next_cursor = _encode_cursor(
            {
                "after_id": page[-1].id,
                "page_size": page_size,
                "filters": {
                    k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in filters.items()
                },
            }
        )
    return JSONResponse(
        CursorResponse[V2Transaction](
            cursor=Cursor[V2Transaction](
                page_size=page_size,
                has_more=has_more,
                next=next_cursor,
                data=[transaction_wire(tx) for tx in page],
            )
        ).wire()
    )


@router.post(
    "/{ledger}/transactions/{raw_id}/revert",
    status_code=201,
    response_model=DataResponse[V2Transaction],
    responses=_errors(),
    openapi_extra=_optional_body(V2RevertTransactionRequest)
    | _params("force", "atEffectiveDate", "Idempotency-Key"),
)
async def revert_transaction(
    ledger: str, raw_id: str, request: Request, principal: Writer
) -> JSONResponse:
    tx_id = _tx_id(raw_id)
    body = _parse(V2RevertTransactionRequest, await _json_body(request, required=False))
    force = _bool(request.query_params.get("force"))
    at_effective_date = _bool(request.query_params.get("atEffectiveDate"))
    policy = request.app.state.journal_config.policy

    async def produce(uow):
        await _require_ledger(uow, ledger)
        tx = await journal_service.revert_transaction(
            uow,
            ledger,
            tx_id,
            policy,
            force=force,
            at_effective_date=at_effective_date,
            metadata=body.metadata or {},
        )
        await uow.audit(
            principal.subject,
            "transaction.revert",
            "transaction",
            f"{ledger}:{tx_id}",
            {"reverting_transaction_id": tx.id, "force": force},
        )
        return DataResponse[V2Transaction](data=transaction_wire(tx)).wire()

    return await _idempotent(request, ledger, 201, produce)


# --- metadata of transactions and accounts --------------------------------------------


async def _change_metadata(
    request: Request,
    principal: Principal,
    ledger: str,
    target_type: str,
    target_id: int | str,
    *,
    metadata: dict[str, str] | None = None,
    delete_key: str | None = None,
) -> Response:
    async def work(uow):
        change = await journal_service.change_metadata(
            uow, ledger, target_type, target_id, metadata=metadata, delete_key=delete_key
        )
        await uow.audit(
            principal.subject,
            f"{target_type.lower()}.metadata.{'delete' if delete_key else 'set'}",
            target_type.lower(),
            f"{ledger}:{target_id}",
            {"log_id": change.id, "keys": [delete_key] if delete_key else sorted(metadata or {})},
        )

    await _run(request, work)
    return Response(status_code=204)


def _address(address: str) -> str:
    if not is_valid_address(address):
        raise FormanceError(V2ErrorsEnum.VALIDATION, f"invalid account address {address}")
    return address


@router.post(
    "/{ledger}/transactions/{raw_id}/metadata",
    status_code=204,
    response_class=Response,
    responses=_NO_CONTENT | _errors(),
    openapi_extra=_required_body(V2MetadataRequest),
)
async def add_metadata_on_transaction(
    ledger: str, raw_id: str, request: Request, principal: Writer
) -> Response:
    """Set keys of a transaction's metadata (a journal fact: logged, sealed, announced;
    setting the same keys again is harmless, so no Idempotency-Key is needed)."""
    tx_id = _tx_id(raw_id)
    metadata = _parse(V2MetadataRequest, await _json_body(request, required=True)).root
    return await _change_metadata(
        request, principal, ledger, "TRANSACTION", tx_id, metadata=metadata
    )


@router.delete(
    "/{ledger}/transactions/{raw_id}/metadata/{key}",
    status_code=204,
    response_class=Response,
    responses=_NO_CONTENT | _errors(),
)
async def delete_transaction_metadata(
    ledger: str, raw_id: str, key: str, request: Request, principal: Writer
) -> Response:
    tx_id = _tx_id(raw_id)
    return await _change_metadata(
        request, principal, ledger, "TRANSACTION", tx_id, delete_key=_metadata_key(key)
    )


@router.post(
    "/{ledger}/accounts/{address}/metadata",
    status_code=204,
    response_class=Response,
    responses=_NO_CONTENT | _errors(),
    openapi_extra=_required_body(V2MetadataRequest),
)
async def add_metadata_to_account(
    ledger: str, address: str, request: Request, principal: Writer
) -> Response:
    """Set keys of an account's metadata; an unknown account is created (as Formance)."""
    address = _address(address)
    metadata = _parse(V2MetadataRequest, await _json_body(request, required=True)).root
    return await _change_metadata(request, principal, ledger, "ACCOUNT", address, metadata=metadata)


@router.delete(
    "/{ledger}/accounts/{address}/metadata/{key}",
    status_code=204,
    response_class=Response,
    responses=_NO_CONTENT | _errors(),
)
async def delete_account_metadata(
    ledger: str, address: str, key: str, request: Request, principal: Writer
) -> Response:
    address = _address(address)
    return await _change_metadata(
        request, principal, ledger, "ACCOUNT", address, delete_key=_metadata_key(key)
    )


# --- logs ------------------------------------------------------------------------------


def _logged_transaction(tx: StoredTransaction, *, reverted: bool = False) -> V2Transaction:
    """A transaction as its log entry recorded it: the content it was created with."""
    return V2Transaction(
        id=tx.id,
        metadata=dict(tx.metadata),
        postings=[
            V2Posting(amount=p.amount, asset=p.asset, source=p.source, destination=p.destination)
            for p in tx.postings
        ],
        reverted=reverted,
        timestamp=tx.timestamp,
        inserted_at=tx.inserted_at,
        reference=tx.reference,
    )


def log_wire(
    entry: StoredTransaction | MetadataChange,
    chain_hash: str | None,
    reverted: dict[int, StoredTransaction],
) -> V2Log:
    if isinstance(entry, MetadataChange):
        target_id: int | str = (
            int(entry.target_id) if entry.target_type == "TRANSACTION" else entry.target_id
        )
        if entry.kind == "SET_METADATA":
            kind, data = (
                V2LogType.SET_METADATA,
                V2LogDataSetMetadata(
                    target_type=entry.target_type,
                    target_id=target_id,
                    metadata=dict(entry.metadata or {}),
                ),
            )
        else:
            kind, data = (
                V2LogType.DELETE_METADATA,
                V2LogDataDeleteMetadata(
                    target_type=entry.target_type, target_id=target_id, key=entry.key or ""
                ),
            )
        date = entry.inserted_at
    elif entry.reverts_id is not None and entry.reverts_id in reverted:
        kind = V2LogType.REVERTED_TRANSACTION
        data = V2LogDataRevertedTransaction(
            reverted_transaction=_logged_transaction(reverted[entry.reverts_id], reverted=True),
            transaction=_logged_transaction(entry),
        )
        date = entry.inserted_at
    else:
        kind = V2LogType.NEW_TRANSACTION
        data = V2LogDataNewTransaction(transaction=_logged_transaction(entry))
        date = entry.inserted_at
    return V2Log(id=entry.id, type=kind, data=data, hash=chain_hash or "", date=date)


@router.get(
    "/{ledger}/logs",
    response_model=CursorResponse[V2Log],
    responses=_errors(),
    openapi_extra=_params("pageSize", "cursor"),
)
async def list_logs(ledger: str, request: Request, principal: Reader) -> JSONResponse:
    """The ledger's log, newest first: every transaction, reversal and metadata change,
    with its chain link (``hash``, empty until the sealer has reached it). Ids are
    journal ids: increasing, shared by every ledger, so not contiguous within one."""
    params = request.query_params
    before_id = None
    page_size = _page_size(params.get("pageSize"))
    if params.get("cursor"):
        state = _decode_cursor(params["cursor"])
        before_id = _cursor_int(state.get("before_id"))
        page_size = _page_size(str(state.get("page_size", DEFAULT_PAGE_SIZE)))
    elif await _json_body(request, required=False):
        raise FormanceError(V2ErrorsEnum.VALIDATION, "filters on logs are not supported")

    async def work(uow):
        await _require_ledger(uow, ledger)
        return await journal_service.log_page(uow, ledger, limit=page_size + 1, before_id=before_id)

    page = await _run(request, work)
    entries, has_more = page.entries[:page_size], len(page.entries) > page_size
    return JSONResponse(
        CursorResponse[V2Log](
            cursor=Cursor[V2Log](
                page_size=page_size,
                has_more=has_more,
                next=_encode_cursor({"before_id": entries[-1].id, "page_size": page_size})
                if has_more
                else None,
                data=[log_wire(e, page.hashes.get(e.id), page.reverted) for e in entries],
            )
        ).wire()
    )


# --- accounts, balances, volumes ----------------------------------------------------------


def _account_wire(row: Any, volumes: dict[VolumeKey, Volumes] | None) -> V2Account:
    by_asset = None
    if volumes is not None:
        by_asset = {
            asset: V2Volume(input=v.input, output=v.output, balance=v.balance)
            for (address, asset), v in sorted(volumes.items())
            if address == row.address
        }
    return V2Account(
        address=row.address,
        metadata=row.metadata or {},
        volumes=by_asset,
        first_usage=row.first_usage,
        insertion_date=row.insertion_date,
    )


@router.get(
    "/{ledger}/accounts/{address}",
    response_model=DataResponse[V2Account],
    responses=_errors(),
    openapi_extra=_params("pit"),
)
async def get_account(
    ledger: str, address: str, request: Request, principal: Reader
) -> JSONResponse:
    if not is_valid_address(address):
        raise FormanceError(V2ErrorsEnum.VALIDATION, f"invalid account address {address}")
    pit = _time(request.query_params.get("pit"), "pit")

    async def work(uow):
        await _require_ledger(uow, ledger)
        row = await uow.journal.account(ledger, address)
        volumes = await uow.journal.volumes_of(ledger, [address], pit=pit) if row else None
        return row, volumes

    row, volumes = await _run(request, work)
    if row is None:
        raise FormanceError(V2ErrorsEnum.NOT_FOUND, f"account {address} not found")
    return JSONResponse(DataResponse[V2Account](data=_account_wire(row, volumes)).wire())


def _account_filters(query: Any) -> dict[str, Any]:
    """An account list's filter body: ``$match`` on ``address`` (exact, or a prefix
    ending with ':') or on ``metadata[key]``, ``$exists`` on ``metadata``, ``$and``."""
    filters: dict[str, Any] = {}

    def walk(node: Any) -> None:
        if not node:
            return
        if not isinstance(node, dict) or len(node) != 1:
            raise FormanceError(V2ErrorsEnum.VALIDATION, "unsupported filter")
        op, arg = next(iter(node.items()))
        if op == "$and" and isinstance(arg, list):
            for child in arg:
                walk(child)
        elif op == "$exists":
            _metadata_condition(filters, op, arg)
        elif op == "$match" and isinstance(arg, dict) and len(arg) == 1:
            if _metadata_condition(filters, op, arg):
                return
            if set(arg) != {"address"} or not isinstance(arg["address"], str):
                raise FormanceError(
                    V2ErrorsEnum.VALIDATION, f"unsupported $match on {next(iter(arg))}"
                )
            filters.update(_address_scope(_filter_text(arg["address"], "address")))
        else:
            raise FormanceError(V2ErrorsEnum.VALIDATION, f"unsupported filter {op}")

    walk(query)
    if "addresses" in filters:
        filters["address"] = filters.pop("addresses")[0]
    return filters


def _account_filters_from_cursor(state: dict[str, Any]) -> dict[str, Any]:
    raw = state.get("filters", {})
    if not isinstance(raw, dict):
        raise FormanceError(V2ErrorsEnum.VALIDATION, "invalid cursor")
    filters: dict[str, Any] = {}
    for name in ("address", "address_prefix"):
        if name in raw:
            filters[name] = _filter_text(raw[name])
    _cursor_metadata(raw, filters)
    return filters


@router.head(
    "/{ledger}/accounts",
    status_code=204,
    response_class=Response,
    responses=_COUNTED | _errors(),
)
async def count_accounts(ledger: str, request: Request, principal: Reader) -> Response:
    """How many accounts the account list with the same filters holds (``Count``)."""
    filters = _account_filters(await _json_body(request, required=False))

    async def work(uow):
        await _require_ledger(uow, ledger)
        return await uow.journal.count_accounts(ledger, **filters)

    return Response(status_code=204, headers={"Count": str(await _run(request, work))})


@router.get(
    "/{ledger}/accounts",
    response_model=CursorResponse[V2Account],
    responses=_errors(),
    openapi_extra=_params("pageSize", "cursor", "expand"),
)
async def list_accounts(ledger: str, request: Request, principal: Reader) -> JSONResponse:
    params = request.query_params
    after = None
    page_size = _page_size(params.get("pageSize"))
    if params.get("cursor"):
        state = _decode_cursor(params["cursor"])
        after = _filter_text(state.get("after"))
        page_size = _page_size(str(state.get("page_size", 15)))
        filters = _account_filters_from_cursor(state)
    else:
        filters = _account_filters(await _json_body(request, required=False))
    expand = "volumes" in (params.get("expand") or "")

    async def work(uow):
        await _require_ledger(uow, ledger)
        rows = await uow.journal.list_accounts(
            ledger, limit=page_size + 1, after_address=after, **filters
        )
        volumes = (
            await uow.journal.volumes_of(ledger, [r.address for r in rows[:page_size]])
            if expand
            else None
        )
        return rows, volumes

    rows, volumes = await _run(request, work)
    page, has_more = rows[:page_size], len(rows) > page_size
    return JSONResponse(
        CursorResponse[V2Account](
            cursor=Cursor[V2Account](
                page_size=page_size,
                has_more=has_more,
                next=_encode_cursor(
                    {"after": page[-1].address, "page_size": page_size, "filters": filters}
                )
                if has_more
                else None,
                data=[_account_wire(r, volumes) for r in page],
            )
        ).wire()
    )


def _address_filter(query: Any) -> str | None:
    if not query:
        return None
    match = query.get("$match") if isinstance(query, dict) else None
    if (
        not isinstance(match, dict)
        or set(match) != {"address"}
        or not isinstance(match["address"], str)
    ):
        raise FormanceError(
            V2ErrorsEnum.VALIDATION, "only {'$match': {'address': ...}} is supported"
        )
    return _filter_text(match["address"], "address")


def _address_scope(address: str | None) -> dict[str, Any]:
    """Exact address, or every account under a prefix ending with ':' (Formance partial match)."""
    if address is None:
        return {}
    if address.endswith(":"):
        return {"address_prefix": address[:-1]}
    return {"addresses": [address]}


@router.get(
    "/{ledger}/aggregate/balances",
    response_model=DataResponse[dict[str, int]],
    responses=_errors(),
    openapi_extra=_params("pit", "useInsertionDate"),
)
async def aggregate_balances(ledger: str, request: Request, principal: Reader) -> JSONResponse:
    pit = _time(request.query_params.get("pit"), "pit")
    use_insertion_date = _bool(request.query_params.get("useInsertionDate"))
    scope = _address_scope(_address_filter(await _json_body(request, required=False)))

    async def work(uow):
        await _require_ledger(uow, ledger)
        return await uow.journal.volumes_of(
            ledger, pit=pit, use_insertion_date=use_insertion_date, **scope
        )

    volumes = await _run(request, work)
    totals: dict[str, int] = {}
    for (_, asset), v in volumes.items():
        totals[asset] = totals.get(asset, 0) + v.balance
    return JSONResponse(DataResponse[dict[str, int]](data=totals).wire())


@router.get(
    "/{ledger}/volumes",
    response_model=CursorResponse[V2VolumesWithBalance],
    responses=_errors(),
    openapi_extra=_params("pageSize", "cursor", "startTime", "endTime", "insertionDate"),
)
async def volumes_with_balances(ledger: str, request: Request, principal: Reader) -> JSONResponse:
    params = request.query_params
    end_time = _time(params.get("endTime"), "endTime")
    start_time = _time(params.get("startTime"), "startTime")
    insertion = _bool(params.get("insertionDate"))
    page_size = _page_size(params.get("pageSize"))
    offset = 0
    if params.get("cursor"):
        state = _decode_cursor(params["cursor"])
        offset = _cursor_int(state.get("offset", 0))
        page_size = _page_size(str(state.get("page_size", 15)))
    scope = _address_scope(_address_filter(await _json_body(request, required=False)))

    async def work(uow):
        await _require_ledger(uow, ledger)
        return await uow.journal.volumes_of(
            ledger, pit=end_time, start_time=start_time, use_insertion_date=insertion, **scope
        )

    volumes = await _run(request, work)
    rows = [
        V2VolumesWithBalance(account=a, asset=s, input=v.input, output=v.output, balance=v.balance)
        for (a, s), v in sorted(volumes.items())
    ]
    page = rows[offset : offset + page_size]
    has_more = offset + page_size < len(rows)
    return JSONResponse(
        CursorResponse[V2VolumesWithBalance](
            cursor=Cursor[V2VolumesWithBalance](
                page_size=page_size,
                has_more=has_more,
                next=_encode_cursor({"offset": offset + page_size, "page_size": page_size})
                if has_more
                else None,
                data=page,
            )
        ).wire()
    )


# --- bulk -------------------------------------------------------------------------------

#: Elements one ``_bulk`` may hold (more: ``BULK_SIZE_EXCEEDED``); its body may be up to
#: ``LedgerSettings.bulk_max_body_bytes`` (the other routes: ``max_body_bytes``).
MAX_BULK_ELEMENTS = 10_000
_CREATE = "CREATE_TRANSACTION"


@dataclass(slots=True)
class _Element:
    """A parsed bulk element: what to do, its ``ik`` and the hash that ties the key
    to this element's content."""

    action: str
    ik: str | None
    request_hash: str
    candidate: NewTransaction | None = None
    target_type: str | None = None
    target_id: int | str | None = None
    metadata: dict[str, str] | None = None
    key: str | None = None
    revert: V2BulkRevert | None = None


class _BulkFailed(Exception):
    """An atomic bulk had a failing element: the unit of work rolls back everything."""

    def __init__(self, results: list[BulkResult]) -> None:
        super().__init__("atomic bulk failed")
        self.results = results


def _target(target_type: str, target_id: int | str) -> int | str:
    if target_type == "TRANSACTION":
        return _tx_id(str(target_id))
    return _address(str(target_id))


def _bulk_element(item: Any) -> _Element:
    element = _parse(V2BulkElement, item)
    data = element.data or {}
    # the hash ties an ik to its element: only elements with one need it
    request_hash = _request_hash({"action": element.action, "data": data}, {}) if element.ik else ""
    parsed = _Element(element.action, element.ik, request_hash)
    if element.action == _CREATE:
        body: V2PostTransaction = _parse(V2PostTransaction, data)
        if body.script is not None and (body.script.plain or body.script.template):
            raise FormanceError(V2ErrorsEnum.COMPILATION_FAILED, "Numscript is not supported")
        if not body.postings:
            raise FormanceError(V2ErrorsEnum.NO_POSTINGS, "the transaction needs postings")
        if body.account_metadata:
            raise FormanceError(V2ErrorsEnum.VALIDATION, "accountMetadata is not supported")
        parsed.candidate = NewTransaction(
            postings=tuple(
                Posting(p.source, p.destination, p.amount, p.asset) for p in body.postings
            ),
            timestamp=body.timestamp,
            reference=body.reference,
            metadata=dict(body.metadata),
            force=bool(body.force),
        )
    elif element.action == "REVERT_TRANSACTION":
        parsed.revert = _parse(V2BulkRevert, data)
    else:
        model = V2BulkTargetMetadata if element.action == "ADD_METADATA" else V2BulkTargetKey
        target = _parse(model, data)
        parsed.target_type = target.target_type
        parsed.target_id = _target(target.target_type, target.target_id)
        if isinstance(target, V2BulkTargetMetadata):
            parsed.metadata = dict(target.metadata)
        else:
            parsed.key = target.key
    return parsed


def _bulk_elements(raw: Any) -> list[_Element]:
    if not isinstance(raw, list):
        raise FormanceError(V2ErrorsEnum.VALIDATION, "the body is a list of bulk elements")
    if len(raw) > MAX_BULK_ELEMENTS:
        raise FormanceError(
            V2ErrorsEnum.BULK_SIZE_EXCEEDED, f"a bulk holds at most {MAX_BULK_ELEMENTS} elements"
        )
    elements = []
    for index, item in enumerate(raw):
        try:
            elements.append(_bulk_element(item))
        except FormanceError as exc:  # refused before anything runs, naming the element
            raise FormanceError(exc.code, f"element {index}: {exc.message}") from None
    keys = [e.ik for e in elements if e.ik]
    if len(keys) != len(set(keys)):
        raise FormanceError(V2ErrorsEnum.VALIDATION, "an ik appears twice in the bulk")
    return elements


# Results are kept in their wire form (``V2BulkElementResult`` as JSON-ready dicts,
# datetimes left to ``to_json``): a bulk answers 10,000 of them, and building and
# dumping a model tree for each cost a third of the bulk.
BulkResult = dict[str, Any]


def _error_result(code: str, message: str) -> BulkResult:
    return {"responseType": "ERROR", "logID": 0, "errorCode": code, "errorDescription": message}


def _failed(result: BulkResult) -> bool:
    return result["responseType"] == "ERROR"


def _volumes_json(volumes: dict[VolumeKey, Volumes]) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for (address, asset), v in sorted(volumes.items()):
        out.setdefault(address, {})[asset] = {
            "input": v.input,
            "output": v.output,
            "balance": v.balance,
        }
    return out


def transaction_json(tx: StoredTransaction) -> dict[str, Any]:
    """``transaction_wire(tx).wire()`` without the models (a test holds them equal)."""
    body: dict[str, Any] = {
        "id": tx.id,
        "metadata": dict(tx.effective_metadata),
        "postings": [
            {"amount": p.amount, "asset": p.asset, "destination": p.destination, "source": p.source}
            for p in tx.postings
        ],
        "reverted": tx.reverted,
        "timestamp": tx.timestamp,
        "insertedAt": tx.inserted_at,
    }
    if tx.post_commit_volumes:
        body["postCommitVolumes"] = _volumes_json(tx.post_commit_volumes)
    if tx.pre_commit_volumes:
        body["preCommitVolumes"] = _volumes_json(tx.pre_commit_volumes)
    if tx.reference is not None:
        body["reference"] = tx.reference
    if tx.reverted_at is not None:
        body["revertedAt"] = tx.reverted_at
    return body


def _created_result(outcome: Any) -> BulkResult:
    if isinstance(outcome, journal_service.ReferenceConflict):
        return _error_result(V2ErrorsEnum.CONFLICT, outcome.message)
    if isinstance(outcome, JournalError):
        return _error_result(outcome.error_code, outcome.message)
    return {"responseType": _CREATE, "logID": outcome.id, "data": transaction_json(outcome)}


async def _create_run(uow, ledger: str, run: list[_Element], policy, *, stop: bool) -> list:
    """Consecutive CREATE_TRANSACTION elements through the journal's batch path: one
    set-based ``post_transactions``. Stopping at a failure, the elements after it must
    not stay written: the run is rolled back to its savepoint and its prefix posted."""
    if not run:
        return []
    try:
        async with uow.savepoint():
            outcomes = await journal_service.post_transactions(
                uow, ledger, [e.candidate for e in run], policy
            )
            results = [_created_result(o) for o in outcomes]
            bad = next((k for k, r in enumerate(results) if _failed(r)), None)
            if not stop or bad is None:
                return results
            if any(not _failed(r) for r in results[bad + 1 :]):
                raise _Retry(bad, results[bad])
            return results[: bad + 1]  # nothing after the failure was written
    except _Retry as retry:
        prefix = await _create_run(uow, ledger, run[: retry.index], policy, stop=stop)
        if prefix and _failed(prefix[-1]):
            return prefix  # the prefix failed on its own (it did not before): stop there
        return [*prefix, retry.result]


class _Retry(Exception):
    """Roll a run back to its savepoint: it must stop at element ``index``."""

    def __init__(self, index: int, result: BulkResult) -> None:
        super().__init__("stop at a failure")
        self.index = index
        self.result = result


async def _other_element(uow, ledger: str, element: _Element, policy) -> BulkResult:
    if element.action == "REVERT_TRANSACTION":
        revert = element.revert
        tx = await journal_service.revert_transaction(
            uow,
            ledger,
            revert.id,
            policy,
            force=bool(revert.force),
            at_effective_date=bool(revert.at_effective_date),
            metadata=dict(revert.metadata or {}),
        )
        return {"responseType": "REVERT_TRANSACTION", "logID": tx.id, "data": transaction_json(tx)}
    change = await journal_service.change_metadata(
        uow,
        ledger,
        element.target_type,
        element.target_id,
        metadata=element.metadata,
        delete_key=element.key,
    )
    return {"responseType": element.action, "logID": change.id}


async def _bulk_segment(
    uow, ledger: str, elements: list[_Element], policy, *, stop: bool
) -> list[BulkResult]:
    """Run ``elements`` in order in the unit of work (each failure rolled back to its
    savepoint); replays of a known ``ik`` answer the stored result."""
    hits = await uow.journal.idempotency_hits(ledger, [e.ik for e in elements if e.ik])
    results: list[BulkResult] = []
    i = 0
    while i < len(elements):
        element = elements[i]
        hit = hits.get(element.ik) if element.ik else None
        if hit is not None:
            if hit.request_hash != element.request_hash:
                result = _error_result(
                    V2ErrorsEnum.VALIDATION, f"ik {element.ik} already used with another element"
                )
            else:
                result = hit.response
            batch = [result]
            i += 1
        elif element.action == _CREATE:
            j = i
            while (
                j < len(elements)
                and elements[j].action == _CREATE
                and not (elements[j].ik and elements[j].ik in hits)
            ):
                j += 1
            batch = await _create_run(uow, ledger, elements[i:j], policy, stop=stop)
            i = j
        else:
            try:
                async with uow.savepoint():
                    batch = [await _other_element(uow, ledger, element, policy)]
            except JournalError as exc:
                batch = [_error_result(exc.error_code, exc.message)]
            i += 1
        results.extend(batch)
        if stop and any(_failed(r) for r in batch):
            break
    fresh = [
        (e.ik, e.request_hash, 200, r)
        for e, r in zip(elements, results, strict=False)
        if e.ik and e.ik not in hits and not _failed(r)
    ]
    await uow.journal.remember_many(ledger, fresh)
    return results


def _segments(elements: list[_Element]) -> list[list[_Element]]:
    """Non-atomic units: each run of consecutive CREATE_TRANSACTIONs, each other element."""
    segments: list[list[_Element]] = []
    for element in elements:
        if element.action == _CREATE and segments and segments[-1][-1].action == _CREATE:
            segments[-1].append(element)
        else:
            segments.append([element])
    return segments


def _bulk_answer(results: list[BulkResult], failure: BulkResult | None = None) -> Response:
    """200 when every element succeeded; else 400 with the (first) failure's code."""
    failure = failure or next((r for r in results if _failed(r)), None)
    body: dict[str, Any] = {"data": results}
    if failure is not None:
        body["errorCode"] = failure["errorCode"]
        body["errorMessage"] = failure["errorDescription"]
    return Response(
        to_json(body),
        status_code=200 if failure is None else 400,
        media_type="application/json",
    )


_BULK_PARAMETERS = {
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": _BOOLEAN}
        for name in ("atomic", "parallel", "continueOnFailure")
    ]
}


@router.post(
    "/{ledger}/_bulk",
    response_model=V2BulkResponse,
    responses={
        400: {
            "model": V2BulkResponse,
            "description": "An element failed (its result is ERROR; `errorCode` is the first "
            "failure's), or the bulk itself is refused (Formance envelope, nothing ran)",
        },
        404: _errors()[404],
        409: _errors()[409],
    },
    openapi_extra=_BULK_PARAMETERS
    | {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "maxItems": MAX_BULK_ELEMENTS,
                        "items": _inline(V2BulkElement.model_json_schema(by_alias=True)),
                    }
                }
            },
        }
    },
)
async def create_bulk(ledger: str, request: Request, principal: Writer) -> Response:
    """Formance's bulk: elements run in order, runs of CREATE_TRANSACTION set-based
    through the journal's batch path. ``atomic``: one database transaction, nothing
    kept if an element fails. Otherwise each run (and each other element) commits on
    its own and the bulk stops at the first failure unless ``continueOnFailure`` (or
    ``parallel``, which Folio runs in order: the results are the same) is set. ``ik``:
    a per-element idempotency key; a replay answers the stored result."""
    params = request.query_params
    atomic = _bool(params.get("atomic"))
    stop = not (_bool(params.get("continueOnFailure")) or _bool(params.get("parallel")))
    elements = _bulk_elements(await _json_body(request, required=True))
    policy = request.app.state.journal_config.policy
    details = {"elements": len(elements), "atomic": atomic}

    async def segment(chunk: list[_Element], *, all_or_nothing: bool):
        async def work(uow):
            await _require_ledger(uow, ledger)
            results = await _bulk_segment(uow, ledger, chunk, policy, stop=stop)
            if all_or_nothing and any(_failed(r) for r in results):
                raise _BulkFailed(results)
            await uow.audit(principal.subject, "ledger.bulk", "ledger", ledger, details)
            return results

        for _ in range(2):
            try:
                return await _run(request, work)
            except sa_exc.IntegrityError:
                continue  # a concurrent request took one of the iks: its answer replays now
        raise FormanceError(V2ErrorsEnum.CONFLICT, "concurrent requests with the same ik")

    if atomic:
        try:
            return _bulk_answer(await segment(elements, all_or_nothing=True))
        except _BulkFailed as failed:  # rolled back: no element was kept
            first = next(r for r in failed.results if _failed(r))
            return _bulk_answer(
                [
                    r
                    if _failed(r)
                    else _error_result(
                        V2ErrorsEnum.VALIDATION,
                        "not applied: another element of the atomic bulk failed",
                    )
                    for r in failed.results
                ],
                first,
            )
    if not elements:
        await _run(request, lambda uow: _require_ledger(uow, ledger))
    results: list[BulkResult] = []
    for chunk in _segments(elements):
        results.extend(await segment(chunk, all_or_nothing=False))
        if stop and any(_failed(r) for r in results):
            break
    return _bulk_answer(results)


# --- log export and import ------------------------------------------------------------


@router.post(
    "/{ledger}/logs/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The ledger's log, oldest first, one V2Log JSON object a line",
            "content": {"application/x-ndjson": {"schema": {"$ref": "#/components/schemas/V2Log"}}},
        }
    }
    | _errors(),
)
async def export_logs(ledger: str, request: Request, principal: Writer) -> StreamingResponse:
    """Every log entry, oldest first (NDJSON), read in one database transaction a page
    at a time: the input of ``logs/import`` here or elsewhere. The whole books at once:
    a writer's call, as Formance's (``ledger:write``)."""
    await _run(request, lambda uow: _require_ledger(uow, ledger))
    factory = request.app.state.uow_factory

    async def lines():
        async with factory() as uow:
            await uow.session.execute(
                text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            )
            async for page in journal_service.export_log(uow, ledger):
                yield b"".join(
                    to_json(log_wire(e, page.hashes.get(e.id), page.reverted).wire()) + b"\n"
                    for e in page.entries
                )

    return StreamingResponse(lines(), media_type="application/x-ndjson")


def _imported(line: Any) -> journal_service.ImportedEntry:
    log = _parse(V2ImportedLog, line)
    data = log.data
    if log.type == "NEW_TRANSACTION":
        tx = _parse(V2ImportedTransaction, data.get("transaction"))
        candidate = NewTransaction(
            postings=tuple(
                Posting(p.source, p.destination, p.amount, p.asset) for p in tx.postings
            ),
            timestamp=tx.timestamp,
            reference=tx.reference,
            metadata=dict(tx.metadata),
            force=True,
        )
        return journal_service.ImportedTransaction(tx.id, candidate)
    if log.type == "REVERTED_TRANSACTION":
        reversal = _parse(V2ImportedTransaction, data.get("transaction"))
        original = _parse(V2ImportedTransaction, data.get("revertedTransaction"))
        return journal_service.ImportedRevert(
            reversal.id,
            original.id,
            at_effective_date=reversal.timestamp == original.timestamp,
            metadata=dict(reversal.metadata),
        )
    if log.type == "SET_METADATA":
        target = _parse(V2BulkTargetMetadata, data)
        return journal_service.ImportedMetadata(
            target.target_type,
            _target(target.target_type, target.target_id),
            metadata=dict(target.metadata),
        )
    target = _parse(V2BulkTargetKey, data)
    return journal_service.ImportedMetadata(
        target.target_type, _target(target.target_type, target.target_id), delete_key=target.key
    )


@router.post(
    "/{ledger}/logs/import",
    status_code=204,
    response_class=Response,
    responses=_NO_CONTENT | _errors(),
    openapi_extra={
        "requestBody": {
            "required": True,
            # the SDK sends the export's bytes as they are (NDJSON, one V2Log a line)
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def import_logs(ledger: str, request: Request, principal: Writer) -> Response:
    """Replay a log export (NDJSON: Formance's ``logs/export`` or Folio's) into an
    empty ledger, all or nothing. Transactions keep their postings, times, references
    and metadata; their ids are this ledger's own. Refusals: ``IMPORT`` (the ledger is
    not empty, a line's transaction is unknown), ``VALIDATION`` (a malformed line)."""
    raw = await request.body()
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise FormanceError(
            V2ErrorsEnum.VALIDATION, f"a line is nested deeper than {MAX_JSON_DEPTH}"
        )
    entries = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(_imported(json.loads(line)))
        except ValueError:
            raise FormanceError(V2ErrorsEnum.VALIDATION, f"line {number} is not JSON") from None
        except FormanceError as exc:
            raise FormanceError(exc.code, f"line {number}: {exc.message}") from None
    policy = request.app.state.journal_config.policy

    async def work(uow):
        applied = await journal_service.import_log(uow, ledger, entries, policy)
        await uow.audit(principal.subject, "ledger.import", "ledger", ledger, {"entries": applied})

    await _run(request, work)
    return Response(status_code=204)
