"""Response models of the admin API (the typed contract; what the routes really answer)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from folio.ledger.domain.receivables import EntryStatus, EntryType


class EntryOut(BaseModel):
    entry_id: str
    invoice_number: str
    entry_type: EntryType
    status: EntryStatus
    amount_minor: int
    currency: str
    paid_minor: int
    refunded_minor: int
    overpaid_minor: int
    overpaid: bool
    outstanding_minor: int
    due_date: date | None
    overdue: bool | None
    building_id: str | None
    unit_id: str | None
    booking_id: str | None
    extension_id: str | None
    parent_entry_id: str | None
    description: str | None
    paid_at: datetime | None
    immutable: bool
    version: int
    metadata: dict[str, str]


class EntryPage(BaseModel):
    data: list[EntryOut]
    has_more: bool
    next_cursor: str | None


class CurrencyTotals(BaseModel):
    currency: str
    count: int
    amount_minor: int
    paid_minor: int
    refunded_minor: int
    outstanding_minor: int


class EntryTotals(BaseModel):
    """The whole filtered set, summed per currency (never added across currencies)."""

    count: int
    by_currency: list[CurrencyTotals]


class RefundOut(BaseModel):
    refund: EntryOut
    parent: EntryOut


class AuditRecord(BaseModel):
    id: int
    occurred_at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    details: Any
    correlation_id: str | None


class AuditTrail(BaseModel):
    data: list[AuditRecord]


class PaymentOut(BaseModel):
    id: int
    provider: str
    provider_payment_id: str
    capture_key: str
    provider_event_id: str
    source_event_id: str
    invoice_number: str
    entry_id: str | None
    amount_minor: int
    currency: str
    applied: bool
    overpaid_minor: int
    reason_code: str | None
    reason: str | None
    method: str | None
    verified_at: datetime
    recorded_at: datetime


class PaymentList(BaseModel):
    data: list[PaymentOut]


class RejectionOut(BaseModel):
    id: int
    source_event_id: str | None
    source_event_type: str
    reference: str | None
    invoice_number: str | None
    code: str
    reason: str
    duplicate: bool
    payload: Any
    created_at: datetime


class RejectionList(BaseModel):
    data: list[RejectionOut]


class ChainProblemOut(BaseModel):
    seal_seq: int | None
    transaction_id: int | None
    problem: str


class JournalVerification(BaseModel):
    intact: bool
    sealed: int
    unsealed: int
    problems: list[ChainProblemOut]


class JournalInvariants(BaseModel):
    ok: bool
    problems: list[str]
