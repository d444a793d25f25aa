"""Admin routes: stored deliveries (list, search, view, replay) and payment-method settings.

Bearer JWT with a role is required on every route (deny by default); every
change is audited in the same transaction. Secrets are write-only.
"""

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from folio.shared.auth import READ_ROLES, Principal, require_roles
from folio.shared.problems import Problem, not_found
from folio.shared.transactions import retry_transient
from folio.webhooks.adapters.repositories import DeliverySearch
from folio.webhooks.adapters.uow import WebhooksUnitOfWork
from folio.webhooks.domain.payment_methods import METHODS_BY_KEY, PROVIDERS
from folio.webhooks.entrypoints import schemas as out
from folio.webhooks.entrypoints.dependencies import get_uow, get_uow_factory, utc_now
from folio.webhooks.service.intake import (
    DeliveryNotFound,
    payment_method_settings,
    replay_delivery,
    set_provider_api_key,
    toggle_payment_method,
)

router = APIRouter(prefix="/api/webhooks/admin", tags=["admin"])

Uow = Annotated[WebhooksUnitOfWork, Depends(get_uow)]
UowFactory = Annotated[Callable[[], WebhooksUnitOfWork], Depends(get_uow_factory)]


async def _retrying(uow_factory: Callable[[], WebhooksUnitOfWork], work: Callable[..., Any]):
    """Run an admin write in a fresh unit of work per attempt: a deadlock or a
    serialization failure is run again, finally a 409 (never a 500)."""

    async def attempt():
        async with uow_factory() as uow:
            return await work(uow)

    return await retry_transient(attempt)


Reader = Annotated[Principal, Depends(require_roles(*READ_ROLES))]
Replayer = Annotated[Principal, Depends(require_roles("admin", "finance"))]
Administrator = Annotated[Principal, Depends(require_roles("admin"))]

DeliveryStateName = Literal["accepted", "duplicate", "rejected", "unmapped", "published"]

#: Filters and keys are compared with text columns: no control characters (PostgreSQL
#: refuses NUL outright), so such a filter is a 422 rather than a database error.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
#: Cursors and ids are ``bigint`` columns.
MAX_BIGINT = 2**63 - 1


def _summary(row: dict) -> dict:
    return {
        "id": str(row["id"]),
        "channel": row["channel"],
        "state": row["state"],
        "dedupe_key": row["dedupe_key"],
        "duplicate_of": str(row["duplicate_of"]) if row["duplicate_of"] else None,
        "received_at": row["received_at"].isoformat(),
        "event_name": row["event_name"],
        "payment_provider": row["payment_provider"],
        "provider_payment_id": row["provider_payment_id"],
        "invoice_number": row["invoice_number"],
        "reason": row["reason"],
        "replay_count": row["replay_count"],
        "cursor": row["seq"],
    }


@router.get(
    "/deliveries", summary="List and search stored deliveries", response_model=out.DeliveryPage
)
async def list_deliveries(
    _: Reader,
    uow: Uow,
    state: DeliveryStateName | None = None,
    channel: Literal["moyasar", "tabby", "tamara", "standard"] | None = None,
    invoice_number: str | None = Query(default=None, max_length=64, pattern=NO_CONTROL_CHARACTERS),
    provider_payment_id: str | None = Query(
        default=None, max_length=128, pattern=NO_CONTROL_CHARACTERS
    ),
    q: str | None = Query(
        default=None, max_length=128, pattern=NO_CONTROL_CHARACTERS, description="free-text search"
    ),
    before: int | None = Query(
        default=None, ge=1, le=MAX_BIGINT, description="cursor from a previous page"
    ),
    limit: int = Query(default=50, ge=1, le=500),
) -> dict:
    search = DeliverySearch(state, channel, invoice_number, provider_payment_id, q, before, limit)
    async with uow:
        rows = await uow.deliveries.search(search)
    items = [_summary(r) for r in rows]
    return {"items": items, "next_before": items[-1]["cursor"] if len(items) == limit else None}


@router.get(
    "/deliveries/{delivery_id}",
    summary="One stored delivery, its body and events",
    response_model=out.DeliveryDetail,
)
async def view_delivery(delivery_id: uuid.UUID, _: Reader, uow: Uow) -> dict:
    async with uow:
        row = await uow.deliveries.get(delivery_id)
        if row is None:
            raise not_found("delivery", delivery_id)
        facts = await uow.deliveries.facts_of(row["duplicate_of"] or delivery_id)
    body = bytes(row["body"])
    return {
        **_summary(row),
        "headers": row["headers"],
        "query": row["query"],
        "body": body.decode("utf-8", errors="replace"),
        "body_sha256": row["body_sha256"],
        "events": [
            {
                "event_id": str(f["event_id"]),
                "event_type": f["event_type"],
                "fact_key": f["fact_key"],
                "amount_minor": f["amount_minor"],
                "currency": f["currency"],
                "emitted_at": f["emitted_at"].isoformat(),
                "published_at": f["published_at"].isoformat() if f["published_at"] else None,
            }
            for f in facts
        ],
    }


@router.post(
    "/deliveries/{delivery_id}/replay",
    summary="Re-emit a delivery's events (idempotent)",
    response_model=out.Replayed,
)
async def replay(delivery_id: uuid.UUID, principal: Replayer, uows: UowFactory) -> dict:
    try:
        outcome = await _retrying(
            uows, lambda uow: replay_delivery(delivery_id, principal.subject, uow, utc_now())
        )
    except DeliveryNotFound:
        raise not_found("delivery", delivery_id) from None
    return {
        "delivery_id": str(outcome.delivery_id),
        "state": outcome.state,
        "events_republished": outcome.events_republished,
        "events_emitted": outcome.events_emitted,
    }


# --- payment-method settings ----------------------------------------------------------


def _setting_view(setting) -> dict:
    definition = setting.definition
    return {
        "method_key": setting.method_key,
        "provider": definition.provider,
        "toggle": definition.toggle,
        "display_name": definition.display_name,
        "is_enabled": setting.is_enabled,
        "api_key_configured": setting.api_key_configured,
        "is_offered": setting.is_offered,
    }


class PaymentMethodToggle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_enabled: bool = Field(strict=True)


class ProviderApiKey(BaseModel):
    """Write-only: the key is stored and never returned; empty or null clears it."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(default=None, max_length=512, pattern=NO_CONTROL_CHARACTERS)


@router.get(
    "/payment-methods",
    summary="Every payment method with its admin state",
    response_model=out.PaymentMethodSettings,
)
async def list_payment_method_settings(_: Reader, uow: Uow) -> dict:
    async with uow:
        settings = await payment_method_settings(uow)
    return {"methods": [_setting_view(s) for s in settings]}


@router.put(
    "/payment-methods/{method_key}",
    summary="Enable or disable a payment method",
    response_model=out.PaymentMethodSetting,
)
async def set_payment_method(
    method_key: str, change: PaymentMethodToggle, principal: Administrator, uows: UowFactory
) -> dict:
    if method_key not in METHODS_BY_KEY:
        raise not_found("payment method", method_key)
    setting = await _retrying(
        uows,
        lambda uow: toggle_payment_method(
            method_key, change.is_enabled, principal.subject, uow, utc_now()
        ),
    )
    return _setting_view(setting)


@router.put(
    "/providers/{provider}/api-key",
    summary="Set a provider's API key (write-only)",
    response_model=out.ProviderKeyState,
)
async def set_provider_key(
    provider: str, change: ProviderApiKey, principal: Administrator, uows: UowFactory
) -> dict:
    if provider not in PROVIDERS:
        raise not_found("payment provider", provider)
    configured = await _retrying(
        uows,
        lambda uow: set_provider_api_key(
            provider, change.api_key, principal.subject, uow, utc_now()
        ),
    )
    return {"provider": provider, "api_key_configured": configured}


@router.get(
    "/audit/{subject_type}/{subject_id}",
    summary="Audit trail of an admin subject",
    response_model=out.AuditTrail,
)
async def audit_trail(
    subject_type: str,
    subject_id: Annotated[str, Path(max_length=200, pattern=NO_CONTROL_CHARACTERS)],
    _: Reader,
    uow: Uow,
) -> dict:
    if subject_type not in {"webhook_delivery", "payment_method", "payment_provider"}:
        raise Problem(404, "not-found", "Unknown subject type")
    async with uow:
        rows = await uow.audit_trail(subject_type, subject_id)
    return {
        "items": [
            {
                "occurred_at": r["occurred_at"].isoformat(),
                "actor": r["actor"],
                "action": r["action"],
                "details": r["details"],
            }
            for r in rows
        ]
    }


@router.api_route(
    "/{unmatched:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def unknown_admin_route(unmatched: str, _: Reader) -> None:
    """Deny by default: anything else under /admin authenticates first, then 405/404,
    so an anonymous caller learns nothing about which admin routes and methods exist."""
    raise Problem(405, "method-not-allowed", "Method not allowed", f"/admin/{unmatched}")
