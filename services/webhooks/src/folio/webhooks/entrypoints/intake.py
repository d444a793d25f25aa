"""Provider webhook endpoints and the public payment-method listing.

Each endpoint authenticates by its provider's own scheme before anything is
stored: failure → 401 and nothing stored. The body-size limit (413) runs in
middleware before this code reads, parses or verifies anything. A verified
delivery is stored with its outbox rows in one transaction and answered 2xx
without touching the broker; a database outage surfaces as 503 so the
provider retries.
"""

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from folio.shared.messaging.consumer import is_infrastructure_error
from folio.shared.problems import Problem
from folio.webhooks.adapters.uow import WebhooksUnitOfWork
from folio.webhooks.domain import moyasar, redaction
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


async def _store(
    channel: str,
    request: Request,
    body: bytes,
    meaning: Interpretation,
    settings: WebhooksSettings,
) -> JSONResponse:
    command = RecordDelivery(
        channel=channel,
        stored_body=redaction.stored_body(channel, body),
        raw_body_sha256=hashlib.sha256(body).hexdigest(),
        headers=redaction.stored_headers(request.headers, {settings.tabby_webhook_header}),
        query=redaction.stored_query(request.query_params),
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
    return JSONResponse({"delivery_id": str(outcome.delivery_id), "state": outcome.state})


@router.post("/moyasar", summary="Moyasar webhook (secret_token in the body)")
async def moyasar_webhook(request: Request) -> JSONResponse:
    settings = _settings(request)
    body = await request.body()
    try:
        event = moyasar.parse_event(body)
        verify_moyasar_secret_token(event.secret_token, settings.secret("moyasar_webhook_secret"))
    except (MalformedDelivery, AuthenticationFailed):
        raise _unauthenticated("moyasar") from None
    meaning = moyasar.interpret(event, utc_now())
    return await _store("moyasar", request, body, meaning, settings)


@router.post("/tabby", summary="Tabby webhook (static header)")
async def tabby_webhook(request: Request) -> JSONResponse:
    settings = _settings(request)
    try:
        verify_tabby_header(
            request.headers, settings.tabby_webhook_header, settings.secret("tabby_webhook_secret")
        )
    except AuthenticationFailed:
        raise _unauthenticated("tabby") from None
    body = await request.body()
    meaning = interpret_delivery("tabby", body, request.headers, utc_now())
    return await _store("tabby", request, body, meaning, settings)


@router.post("/tamara", summary="Tamara notification (tamaraToken query parameter or bearer)")
async def tamara_webhook(request: Request) -> JSONResponse:
    settings = _settings(request)
    token = tamara_token_from(
        request.query_params.get("tamaraToken"), request.headers.get("authorization")
    )
    try:
        verify_tamara_token(token, settings.secret("tamara_notification_token"), utc_now())
    except AuthenticationFailed:
        raise _unauthenticated("tamara") from None
    body = await request.body()
    meaning = interpret_delivery("tamara", body, request.headers, utc_now())
    return await _store("tamara", request, body, meaning, settings)


@router.post("/standard", summary="Standard Webhooks (webhook-id/-timestamp/-signature)")
async def standard_webhook(request: Request) -> JSONResponse:
    settings = _settings(request)
    body = await request.body()
    try:
        verify_standard_webhook(body, request.headers, settings.secret("standard_webhook_secret"))
    except AuthenticationFailed:
        raise _unauthenticated("standard") from None
    meaning = interpret_delivery("standard", body, request.headers, utc_now())
    return await _store("standard", request, body, meaning, settings)


@router.get("/payment-methods", summary="Payment methods offered to payers", tags=["public"])
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
