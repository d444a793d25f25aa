"""/admin/payments: the payments registry (ledger entries), an entry's page, its actions.

Every figure comes from the ledger's public API with the signed-in user's own
short-lived token; the ledger checks the role again and decides every change.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response, StreamingResponse

from folio.console.adapters.services import LedgerClient, ServiceRefusal
from folio.console.domain.payments import (
    CSV_COLUMNS,
    ENTRY_TYPES,
    STATUSES,
    FilterError,
    PaymentFilters,
    Totals,
    can_adjust,
    can_refund,
    csv_row,
    parse_money,
    status_targets,
)
from folio.console.entrypoints.web import (
    Context,
    Signed,
    Writer,
    is_htmx,
    page_headers,
    redirect,
    render,
)

router = APIRouter(prefix="/admin/payments", include_in_schema=False)


def _ledger(request: Request) -> LedgerClient:
    return request.app.state.ledger


def _token(request: Request, context: Context) -> str:
    return request.app.state.token_issuer.issue(context.user)


@router.get("")
async def payments_page(request: Request, context: Signed) -> Response:
    """One page of the filtered set and the totals of all of it: two ledger calls made
    at once (the ledger searches, sorts, pages and sums; the console holds one page)."""
    params = dict(request.query_params)
    cursor = params.pop("cursor", None)
    error = None
    page: dict[str, Any] = {"data": [], "has_more": False, "next_cursor": None}
    totals = Totals()
    status = 200
    try:
        filters = PaymentFilters.parse(params)
    except FilterError as exc:
        filters, error, status = PaymentFilters(), str(exc), 400
    if error is None:
        ledger, token = _ledger(request), _token(request, context)
        query = {**filters.ledger_params(), "page_size": str(request.app.state.settings.page_size)}
        if cursor:
            query["cursor"] = cursor[:500]  # the ledger's own cursor, opaque here
        try:
            page, summed = await asyncio.gather(
                ledger.entries(token, query), ledger.totals(token, filters.filter_params())
            )
            totals = Totals.of(summed)
        except ServiceRefusal as exc:
            error, status = f"{exc.title}: {exc.detail}", exc.status
    template = "payments_results.html" if is_htmx(request) else "payments.html"
    return render(
        request,
        template,
        {
            "console": context,
            "filters": filters,
            "query": filters.query(),
            "statuses": STATUSES,
            "entry_types": ENTRY_TYPES,
            "columns": COLUMNS,
            "page": page,
            "cursor": cursor,
            "totals": totals,
            "error": error,
        },
        status,
    )


#: The registry's columns: (heading, sort key or None, numeric).
COLUMNS = (
    ("Invoice", "invoice_number", False), ("Type", "entry_type", False),
    ("Status", "status", False), ("Amount", "amount_minor", True), ("Paid", "paid_minor", True),
    ("Outstanding", None, True), ("Due", "due_date", False),
    ("Building", "building_id", False), ("Unit", "unit_id", False),
    ("Booking", "booking_id", False),
)  # fmt: skip


@router.get(".csv")
async def payments_csv(request: Request, context: Signed) -> Response:
    """Exactly the filtered set (every page of it), in the page's order."""
    params = dict(request.query_params)
    params.pop("cursor", None)
    try:
        filters = PaymentFilters.parse(params)
    except FilterError as exc:
        return page_headers(Response(str(exc), status_code=400, media_type="text/plain"))
    ledger, token = _ledger(request), _token(request, context)
    # The ledger's pages of the filtered set in the page's order, one after the other:
    # a refusal (a filter the ledger rejects) is a 4xx before the first byte is sent.
    pages = ledger.all_entries(token, filters.ledger_params())
    try:
        first = await anext(pages, None)
    except ServiceRefusal as exc:
        message = f"{exc.title}: {exc.detail}"
        return page_headers(Response(message, status_code=exc.status, media_type="text/plain"))

    async def source() -> AsyncIterator[dict[str, Any]]:
        if first is None:
            return
        yield first
        async for entry in pages:
            yield entry

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        async for entry in source():
            writer.writerow(csv_row(entry))
            if buffer.tell() > 32_768:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = StreamingResponse(rows(), media_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="payments.csv"'
    return page_headers(response)


async def _entry_view(request: Request, context: Context, entry_id: str) -> dict[str, Any]:
    ledger, token = _ledger(request), _token(request, context)
    entry = await ledger.entry(token, entry_id[:200])
    children_page, audit, transactions = await asyncio.gather(
        ledger.entries(token, {"parent_entry_id": entry["entry_id"], "page_size": "200"}),
        ledger.audit(token, entry["entry_id"]),
        ledger.transactions_of_account(token, f"invoices:{entry['invoice_number']}"),
    )
    role = context.user.role
    return {
        "console": context,
        "entry": entry,
        "children": children_page["data"],
        "audit": audit,
        "transactions": transactions,
        "targets": status_targets(entry["status"], role),
        "can_adjust": can_adjust(entry, role),
        "can_refund": can_refund(entry, role),
    }


@router.get("/{entry_id}")
async def entry_page(request: Request, context: Signed, entry_id: str) -> Response:
    try:
        view = await _entry_view(request, context, entry_id)
    except ServiceRefusal as exc:
        return render(
            request,
            "error.html",
            {"console": context, "title": exc.title, "detail": exc.detail},
            exc.status,
        )
    return render(request, "entry.html", {**view, "notice": request.query_params.get("notice")})


async def _act(request: Request, context: Context, entry_id: str, call, done: str) -> Response:
    """Run one action; success reloads the entry's page, a refusal shows the ledger's
    problem (beside the form for htmx, on the page otherwise)."""
    try:
        await call(_ledger(request), _token(request, context))
    except ServiceRefusal as exc:
        if is_htmx(request):
            return render(request, "action_result.html", {"problem": exc}, exc.status)
        view = await _entry_view(request, context, entry_id)
        return render(request, "entry.html", {**view, "problem": exc}, exc.status)
    except ValueError as exc:  # an amount the form could not read
        problem = ServiceRefusal(422, {"title": "Not an amount", "detail": str(exc)})
        if is_htmx(request):
            return render(request, "action_result.html", {"problem": problem}, 422)
        view = await _entry_view(request, context, entry_id)
        return render(request, "entry.html", {**view, "problem": problem}, 422)
    target = f"/admin/payments/{entry_id}?notice={done}"
    if is_htmx(request):
        response = page_headers(Response(status_code=204))
        response.headers["HX-Location"] = target
        return response
    return redirect(target)


Reason = Annotated[str, Form(max_length=2000)]


@router.post("/{entry_id}/status")
async def change_status(
    request: Request, context: Writer, entry_id: str,
    status: Annotated[str, Form(max_length=20)], reason: Reason = "",
) -> Response:  # fmt: skip
    return await _act(
        request, context, entry_id,
        lambda ledger, token: ledger.change_status(token, entry_id, status, reason or None),
        f"Status+set+to+{status}",
    )  # fmt: skip


@router.post("/{entry_id}/adjustments")
async def adjust(
    request: Request, context: Writer, entry_id: str,
    amount: Annotated[str, Form(max_length=40)], currency: Annotated[str, Form(max_length=3)],
    reason: Reason = "",
) -> Response:  # fmt: skip
    async def call(ledger, token):
        minor = parse_money(amount, currency, allow_negative=True)
        return await ledger.adjust(token, entry_id, minor, reason or None)

    return await _act(request, context, entry_id, call, "Adjustment+added")


@router.post("/{entry_id}/refunds")
async def refund(
    request: Request, context: Writer, entry_id: str,
    amount: Annotated[str, Form(max_length=40)], currency: Annotated[str, Form(max_length=3)],
    reason: Reason = "",
) -> Response:  # fmt: skip
    async def call(ledger, token):
        minor = parse_money(amount, currency)
        return await ledger.refund(token, entry_id, minor, reason or None)

    return await _act(request, context, entry_id, call, "Refund+recorded")
