"""Provider webhook endpoints and the public payment-method listing.

Each endpoint authenticates by its provider's own scheme before anything is
stored: failure → 401 and nothing stored. The body-size limit (413) runs in
middleware before this code reads, parses or verifies anything. A verified
delivery is stored with its outbox rows in one transaction and answered 2xx
without touching the broker; a database outage surfaces as 503 so the
provider retries.
"""

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from folio.shared.messaging.consumer import is_infrastructure_error
from folio.shared.problems import Problem
from folio.webhooks.adapters.uow import WebhooksUnitOfWork
from folio.webhooks.domain import jsondoc, moyasar, redaction
from folio.webhooks.domain.bounds import InputRefused, check_headers, check_query
from folio.webhooks.domain.deliveries import Interpretation, MalformedDelivery
from folio.webhooks.domain.interpretation import interpret_delivery
from folio.webhooks.domain.payment_methods import offered_methods
from folio.webhooks.domain.verification import (
    AuthenticationFailed,
    tamara_token_from,
    verify_moyasar_secret_token,
    verify_standard_webhook,
    verify_tabby_header,
    verify_tamara_token,
)
from folio.webhooks.entrypoints import openapi
from folio.webhooks.entrypoints import schemas as out
from folio.webhooks.entrypoints.dependencies import get_uow, utc_now
from folio.webhooks.service.intake import (
    RecordDelivery,
    payment_method_settings,
)
from folio.webhooks.settings import WebhooksSettings

router = APIRouter(prefix="/api/webhooks", tags=["provider webhooks"])

Uow = Annotated[WebhooksUnitOfWork, Depends(get_uow)]


def _settings(request: Request) -> WebhooksSettings:
    # Read directly rather than through a dependency: the provider endpoints are the
    # hot path, and dependency resolution costs more than the lookup.
    return request.app.state.settings


def _unauthenticated(channel: str) -> Problem:
    # One answer for every failure: no hint about which part was wrong.
    return Problem(
        401,
        "webhook-unauthenticated",
        "Unauthenticated",
        f"the {channel} delivery could not be authenticated",
    )


def _check_transport(request: Request, settings: WebhooksSettings) -> None:
    """Before anything else: headers and query parameters a provider could send."""
    try:
        check_headers(request.headers.items(), single=(settings.tabby_webhook_header,))
        check_query(request.query_params.multi_items())
    except InputRefused as exc:
        raise Problem(400, "invalid-request", "Bad request", str(exc)) from None


def _parsed(body: bytes) -> Any:
    """The body's syntax tree (numbers unconverted), or None if it is not a JSON object."""
    try:
        return jsondoc.parse(body)
    except MalformedDelivery:
        return None


async def _store(
    channel: str,
    request: Request,
    body: bytes,
    tree: Any,
    meaning: Interpretation,
    settings: WebhooksSettings,
    presented: str | None = None,
) -> JSONResponse:
    credentials = request.app.state.webhook_credentials
    if presented:
        credentials = (*credentials, presented)
    command = RecordDelivery(
        channel=channel,
        stored_body=redaction.stored_body(body, tree, credentials),
        raw_body_sha256=hashlib.sha256(body).hexdigest(),
        headers=redaction.stored_headers(
            request.headers.items(), (settings.tabby_webhook_header,), credentials
        ),
        query=redaction.stored_query(request.query_params.multi_items(), credentials),
        received_at=utc_now(),
        interpretation=meaning,
    )
    try:
        outcome = await request.app.state.intake_batcher.submit(command)
    except Exception as exc:
        if is_infrastructure_error(exc):
            # Not stored: a 5xx makes the provider deliver again later.
            raise Problem(
                503,
                "unavailable",
                "Service unavailable",
                "the delivery could not be stored; retry later",
            ) from None
        raise
    if meaning.out_of_range:
        # Stored (as rejected, for admins) but answered 4xx: the sender learns that
        # this content is refused, not silently dropped; nothing was emitted.
        raise Problem(
            422,
            "number-out-of-range",
            "Number out of range",
            meaning.reason,
            delivery_id=str(outcome.delivery_id),
            state=outcome.state,
        )
    return JSONResponse({"delivery_id": str(outcome.delivery_id), "state": outcome.state})


@router.post(
    "/moyasar",
    summary="Moyasar webhook (secret_token in the body)",
    description="Authenticated by `secret_token` in the body, found before any number in "
    "it is converted. Merchant reference: `data.metadata.invoice_number`.",
    response_model=None,
    responses=openapi.PROVIDER_RESPONSES,
    openapi_extra=openapi.request_body("moyasar"),
)
async def moyasar_webhook(request: Request) -> JSONResponse:
    settings = _settings(request)
    _check_transport(request, settings)
    body = await request.body()
    try:
        tree = jsondoc.parse(body)
        verify_moyasar_secret_token(
            moyasar.secret_token_of(tree), settings.secret("moyasar_webhook_secret")
        )
    except (MalformedDelivery, AuthenticationFailed):
        raise _unauthenticated("moyasar") from None
    meaning = interpret_delivery("moyasar", body, request.headers, utc_now(), tree)
    return await _store("moyasar", request, body, tree, meaning, settings)


@router.post(
    "/tabby",
    summary="Tabby webhook (static header)",
    description="Authenticated by the static header chosen at webhook registration "
    "(`FOLIO_TABBY_WEBHOOK_HEADER`). Merchant reference: `order.reference_id`.",
    response_model=None,
    responses=openapi.PROVIDER_RESPONSES,
    openapi_extra=openapi.request_body("tabby"),
)
async def tabby_webhook(request: Request) -> JSONResponse:
    settings = _settings(request)
    _check_transport(request, settings)
    try:
        verify_tabby_header(
            request.headers, settings.tabby_webhook_header, settings.secret("tabby_webhook_secret")
        )
    except AuthenticationFailed:
        raise _unauthenticated("tabby") from None
    body = await request.body()
    tree = _parsed(body)
    meaning = interpret_delivery("tabby", body, request.headers, utc_now(), tree)
    return await _store("tabby", request, body, tree, meaning, settings)


@router.post(
    "/tamara",
    summary="Tamara notification (tamaraToken query parameter or bearer)",
    description="Authenticated by the `tamaraToken` JWT (HS256, issuer Tamara), as "
    "`?tamaraToken=` or `Authorization: Bearer`. Merchant reference: `order_reference_id`.",
    response_model=None,
    responses=openapi.PROVIDER_RESPONSES,
    openapi_extra=openapi.request_body("tamara"),
)
async def tamara_webhook(request: Request) -> JSONResponse:
    settings = _settings(request)
    _check_transport(request, settings)
    token = tamara_token_from(
        request.query_params.get("tamaraToken"), request.headers.get("authorization")
    )
    try:
        verify_tamara_token(token, settings.secret("tamara_notification_token"), utc_now())
    except AuthenticationFailed:
        raise _unauthenticated("tamara") from None
    body = await request.body()
    tree = _parsed(body)
    meaning = interpret_delivery("tamara", body, request.headers, utc_now(), tree)
    return await _store("tamara", request, body, tree, meaning, settings, presented=token)


@router.post(
    "/standard",
    summary="Standard Webhooks (webhook-id/-timestamp/-signature)",
    description="Authenticated by the Standard Webhooks HMAC signature over the raw body "
    "(±5 minutes). `webhook-id` is the dedupe key. Merchant reference: `data.invoice_number`.",
    response_model=None,
    responses=openapi.PROVIDER_RESPONSES,
    openapi_extra=openapi.request_body("standard"),
)
async def standard_webhook(request: Request) -> JSONResponse:
    settings = _settings(request)
    _check_transport(request, settings)
    body = await request.body()
    try:
        verify_standard_webhook(body, request.headers, settings.secret("standard_webhook_secret"))
    except AuthenticationFailed:
        raise _unauthenticated("standard") from None
    tree = _parsed(body)
    meaning = interpret_delivery("standard", body, request.headers, utc_now(), tree)
    return await _store("standard", request, body, tree, meaning, settings)


@router.get(
    "/payment-methods",
    summary="Payment methods offered to payers",
    tags=["public"],
    response_model=out.OfferedMethods,
)
async def list_offered_payment_methods(uow: Uow) -> dict:
    """Seed 003 §6: only methods that are enabled AND whose provider key is configured."""
    async with uow:
        settings = await payment_method_settings(uow)
    return {
        "methods": [
            {
                "method_key": s.method_key,
                "provider": s.definition.provider,
                "display_name": s.definition.display_name,
            }
            for s in offered_methods(settings)
        ]
    }
