"""Response models of the webhooks admin and public routes: the typed contract of every
2xx answer (the provider routes' receipts are in ``openapi.py``). Ids of stored rows
are UUID strings; money is integer minor units with its currency."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

DeliveryState = Literal["accepted", "duplicate", "rejected", "unmapped", "published"]
Provider = Literal["moyasar", "tabby", "tamara"]


class DeliverySummary(BaseModel):
    id: str
    channel: str
    state: DeliveryState
    dedupe_key: str
    duplicate_of: str | None
    received_at: datetime
    event_name: str | None
    payment_provider: str | None
    provider_payment_id: str | None
    invoice_number: str | None
    reason: str | None
    replay_count: int
    cursor: int = Field(description="Pass as `before` to read the next (older) page")


class DeliveryPage(BaseModel):
    items: list[DeliverySummary]
    next_before: int | None = Field(description="Cursor of the next page (null: last page)")


class DeliveryEvent(BaseModel):
    event_id: str
    event_type: str
    fact_key: str
    amount_minor: int | None
    currency: str | None
    emitted_at: datetime
    published_at: datetime | None


class DeliveryDetail(DeliverySummary):
    headers: dict[str, str] = Field(description="As stored: credentials redacted")
    query: dict[str, str] = Field(description="As stored: credentials redacted")
    body: str = Field(description="The stored body (credentials redacted) as text")
    body_sha256: str = Field(description="SHA-256 of the body as received")
    events: list[DeliveryEvent]


class Replayed(BaseModel):
    delivery_id: str
    state: DeliveryState
    events_republished: int
    events_emitted: int


class PaymentMethodSetting(BaseModel):
    method_key: str
    provider: Provider
    toggle: str
    display_name: str
    is_enabled: bool
    api_key_configured: bool
    is_offered: bool = Field(description="Enabled and its provider's key configured")


class PaymentMethodSettings(BaseModel):
    methods: list[PaymentMethodSetting]


class ProviderKeyState(BaseModel):
    provider: Provider
    api_key_configured: bool


class AuditRecord(BaseModel):
    occurred_at: datetime
    actor: str
    action: str
    details: dict[str, Any]


class AuditTrail(BaseModel):
    items: list[AuditRecord]


class OfferedMethod(BaseModel):
    method_key: str
    provider: Provider
    display_name: str


class OfferedMethods(BaseModel):
    methods: list[OfferedMethod]
