"""Payload models, one per event type and schema version (DESIGN.md §1, §2).

Topic name == event type. The Kafka key is the aggregate id named in each
model's docstring, so all events of one aggregate keep their order.
Identifiers are strings (UUIDs or provider ids); money is ``amount_minor`` +
``currency``; times are timezone-aware UTC.
"""

from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from folio.shared.contracts.money import Currency

PaymentProvider = Literal["moyasar", "tabby", "tamara"]


class EventPayload(BaseModel):
    """Base of every payload: immutable, tolerant of fields added later."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    def aggregate_key(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


# --- webhooks → ledger -------------------------------------------------------


class PaymentVerified(EventPayload):
    """A provider confirmed money received for an invoice. Key: invoice_number."""

    provider: PaymentProvider
    provider_payment_id: str
    provider_event_id: str = Field(description="Dedupe key of the delivery that proved it")
    capture_id: str | None = None
    invoice_number: str
    amount_minor: int = Field(gt=0)
    currency: Currency
    method: str | None = Field(default=None, description="mada_card, apple_pay, tabby, ...")
    verified_at: AwareDatetime

    def aggregate_key(self) -> str:
        return self.invoice_number


class PaymentAuthorized(EventPayload):
    """Funds authorized but not yet captured: the ledger moves the invoice to PENDING.
    Key: invoice_number. ``amount_minor``/``currency`` are None when the provider's
    authorization carries no amount (Tamara's ``order_authorised``)."""

    provider: PaymentProvider
    provider_payment_id: str
    provider_event_id: str
    invoice_number: str
    amount_minor: int | None = Field(default=None, ge=0)
    currency: Currency | None = None
    authorized_at: AwareDatetime

    def aggregate_key(self) -> str:
        return self.invoice_number


class PaymentFailed(EventPayload):
    """A payment attempt for an invoice failed. Key: invoice_number."""

    provider: PaymentProvider
    provider_payment_id: str
    provider_event_id: str
    invoice_number: str
    reason: str | None = None
    amount_minor: int | None = None
    currency: Currency | None = None
    failed_at: AwareDatetime

    def aggregate_key(self) -> str:
        return self.invoice_number


class PaymentRefunded(EventPayload):
    """A provider refunded (part of) a payment; each refund_id once. Key: invoice_number."""

    provider: PaymentProvider
    provider_payment_id: str
    provider_event_id: str
    refund_id: str
    invoice_number: str
    amount_minor: int = Field(gt=0)
    currency: Currency
    reason: str | None = None
    refunded_at: AwareDatetime

    def aggregate_key(self) -> str:
        return self.invoice_number


# --- rotessa-sync → ledger ---------------------------------------------------


class PaymentCollected(EventPayload):
    """A Rotessa debit was Approved. Key: mortgage_id.

    ``reference`` is ``rotessa:txn:<transaction id>``; the ledger records a journal
    transaction with ``timestamp = effective_at`` (backdated) under that reference.
    """

    reference: str
    mortgage_id: str
    schedule_id: int
    transaction_id: int
    amount_minor: int = Field(gt=0)
    currency: Currency
    effective_at: AwareDatetime
    process_date: date
    origin: Literal["backfill", "sync"]
    backfill_id: str | None = None

    def aggregate_key(self) -> str:
        return self.mortgage_id


class PaymentReversed(EventPayload):
    """A collected payment was charged back: revert the referenced transaction. Key: mortgage_id."""

    reference: str = Field(description="Reference of the collected transaction to revert")
    reversal_reference: str
    mortgage_id: str
    transaction_id: int
    amount_minor: int = Field(gt=0)
    currency: Currency
    reason: str | None = None
    reversed_at: AwareDatetime
    backfill_id: str | None = None

    def aggregate_key(self) -> str:
        return self.mortgage_id


# --- registry → ledger / rotessa-sync ----------------------------------------


class RenewalRequested(EventPayload):
    """A LOCAL unit's booking asks for a renewal invoice. Key: extension_id."""

    extension_id: str
    booking_id: str
    building_id: str
    unit_id: str
    amount_minor: int = Field(gt=0)
    currency: Currency
    due_date: date
    new_end_date: date
    requested_at: AwareDatetime

    def aggregate_key(self) -> str:
        return self.extension_id


class MortgageChanged(EventPayload):
    """Full state of a mortgage after any change (event-carried state). Key: mortgage_id."""

    mortgage_id: str
    borrower_name: str
    principal_minor: int = Field(ge=0)
    currency: Currency
    status: str
    rotessa_schedule_id: int | None = None
    version: int
    changed_at: AwareDatetime

    def aggregate_key(self) -> str:
        return self.mortgage_id


class BookingExtended(EventPayload):
    """A renewal was activated and the booking's end moved. Key: booking_id."""

    booking_id: str
    extension_id: str
    unit_id: str
    previous_end_date: date
    new_end_date: date
    renewals_used: int
    extended_at: AwareDatetime

    def aggregate_key(self) -> str:
        return self.booking_id


class ScheduleLinked(EventPayload):
    """A Rotessa schedule was linked to a mortgage. Key: mortgage_id."""

    mortgage_id: str
    schedule_id: int
    customer_id: int | None = None
    linked_by: str
    linked_at: AwareDatetime

    def aggregate_key(self) -> str:
        return self.mortgage_id


# --- ledger → everyone -------------------------------------------------------


class LedgerEntryChanged(EventPayload):
    """Full state of a receivable entry after any change. Key: entry_id."""

    entry_id: str
    invoice_number: str
    entry_type: str
    status: str
    amount_minor: int
    paid_minor: int = 0
    refunded_minor: int = 0
    currency: Currency
    due_date: date | None = None
    building_id: str | None = None
    unit_id: str | None = None
    booking_id: str | None = None
    extension_id: str | None = None
    parent_entry_id: str | None = None
    paid_at: AwareDatetime | None = None
    payment_verified_at: AwareDatetime | None = Field(
        default=None,
        description=(
            "On a version produced by applying verified payments: when the provider "
            "verified the latest of them (the time the money was received, even for a "
            "partial payment that leaves the entry open); null on other versions"
        ),
    )
    version: int
    changed_at: AwareDatetime

    def aggregate_key(self) -> str:
        return self.entry_id


class LedgerPosting(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    source: str
    destination: str
    amount: int = Field(ge=0)
    asset: str


class LedgerTransactionCommitted(EventPayload):
    """A journal transaction was committed. Key: reference, else transaction id."""

    ledger: str
    transaction_id: int
    reference: str | None = None
    timestamp: AwareDatetime = Field(description="Effective time (may be backdated)")
    inserted_at: AwareDatetime
    postings: list[LedgerPosting]
    metadata: dict[str, Any] = Field(default_factory=dict)
    reverts_transaction_id: int | None = None
    source_event_id: str | None = None

    def aggregate_key(self) -> str:
        return self.reference or str(self.transaction_id)


class LedgerMetadataChanged(EventPayload):
    """A transaction's or an account's metadata was set or a key deleted (a journal
    fact: in the log, sealed in the chain). Key: ``<target_type>:<ledger>:<target_id>``,
    so the changes of one target keep their order."""

    ledger: str
    log_id: int = Field(description="The change's journal id (its place in the log)")
    kind: Literal["SET_METADATA", "DELETE_METADATA"]
    target_type: Literal["TRANSACTION", "ACCOUNT"]
    target_id: str = Field(description="Transaction id (decimal) or account address")
    metadata: dict[str, str] | None = Field(default=None, description="SET_METADATA: keys set")
    key: str | None = Field(default=None, description="DELETE_METADATA: the key removed")
    inserted_at: AwareDatetime

    def aggregate_key(self) -> str:
        return f"{self.target_type}:{self.ledger}:{self.target_id}"


class LedgerCommandRejected(EventPayload):
    """The ledger refused an event-borne command. Key: reference, else event id."""

    source_event_id: str
    source_event_type: str
    reference: str | None = None
    invoice_number: str | None = None
    code: str = Field(description="Stable reason code, e.g. UNKNOWN_INVOICE, REFERENCE_CONFLICT")
    reason: str
    duplicate: bool = Field(
        default=False, description="True when the command was an acknowledged no-op duplicate"
    )

    def aggregate_key(self) -> str:
        return self.reference or self.invoice_number or self.source_event_id


#: (event_type, schema_version) → payload model. Topic name == event type.
EVENT_MODELS: dict[tuple[str, int], type[EventPayload]] = {
    ("payment.verified", 1): PaymentVerified,
    ("payment.authorized", 1): PaymentAuthorized,
    ("payment.failed", 1): PaymentFailed,
    ("payment.refunded", 1): PaymentRefunded,
    ("payment.collected", 1): PaymentCollected,
    ("payment.reversed", 1): PaymentReversed,
    ("renewal.requested", 1): RenewalRequested,
    ("mortgage.changed", 1): MortgageChanged,
    ("booking.extended", 1): BookingExtended,
    ("schedule.linked", 1): ScheduleLinked,
    ("ledger.entry.changed", 1): LedgerEntryChanged,
    ("ledger.transaction.committed", 1): LedgerTransactionCommitted,
    ("ledger.command.rejected", 1): LedgerCommandRejected,
    ("ledger.metadata.changed", 1): LedgerMetadataChanged,
}

_TYPE_OF: dict[type[EventPayload], tuple[str, int]] = {m: k for k, m in EVENT_MODELS.items()}

#: Every topic the system uses (each also has a ``<topic>.dlq``).
TOPICS: tuple[str, ...] = tuple(sorted({event_type for event_type, _ in EVENT_MODELS}))


def event_type_of(payload: EventPayload) -> tuple[str, int]:
    return _TYPE_OF[type(payload)]
