"""Generic Standard Webhooks intake (standardwebhooks.com).

For senders that relay payment facts with Standard Webhooks signatures (a
payment orchestrator, or a provider adapter). The body follows the spec's
recommended shape ``{type, timestamp, data}`` with Folio's payment types::

    {"type": "payment.verified", "timestamp": "2026-11-21T10:00:00Z",
     "data": {"provider": "moyasar", "payment_id": "...", "invoice_number": "INV-2026-000001",
              "amount": "100.00", "currency": "SAR", "capture_id": null,
              "refund_id": null, "reason": null, "method": "mada_card"}}

``amount`` is a decimal string in major units. ``webhook-id`` is the dedupe key.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from folio.shared.contracts import (
    PaymentAuthorized,
    PaymentFailed,
    PaymentRefunded,
    PaymentVerified,
)
from folio.webhooks.domain import jsondoc
from folio.webhooks.domain.bounds import (
    AmountOutOfRange,
    FreeText,
    Identifier,
    ProviderTime,
    exact_minor,
    printable,
)
from folio.webhooks.domain.deliveries import (
    DeliveryState,
    FactKind,
    Interpretation,
    MalformedDelivery,
    PaymentFact,
    as_utc,
    invoice_number_from,
    rejected,
    unmapped,
)

STANDARD_TYPES = {
    "payment.verified": FactKind.VERIFIED,
    "payment.authorized": FactKind.AUTHORIZED,
    "payment.failed": FactKind.FAILED,
    "payment.refunded": FactKind.REFUNDED,
}


class StandardPaymentData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    provider: Literal["moyasar", "tabby", "tamara"]
    payment_id: Identifier
    invoice_number: str | None = None
    amount: StrictStr | Decimal | int
    currency: StrictStr
    capture_id: Identifier | None = None
    refund_id: Identifier | None = None
    reason: FreeText | None = None
    method: Identifier | None = None


class StandardEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Identifier
    timestamp: ProviderTime | None = None
    data: dict[str, Any] = {}


def interpret(webhook_id: str, body: bytes, received_at: datetime) -> Interpretation:
    """Normalize a verified Standard Webhooks delivery; ``webhook_id`` is its dedupe key."""
    try:
        document = jsondoc.read(body)
    except MalformedDelivery as exc:
        out_of_range = isinstance(exc, jsondoc.NumberOutOfBounds)
        return rejected(webhook_id, str(exc), out_of_range=out_of_range)
    return interpret_document(webhook_id, document, received_at)


def interpret_document(
    webhook_id: str, document: dict[str, Any], received_at: datetime
) -> Interpretation:
    """Normalize a verified delivery whose body resolved to ``document``."""
    dedupe_key = webhook_id
    try:
        event = StandardEvent.model_validate(document)
    except ValidationError:
        return rejected(dedupe_key, "not a Standard Webhooks event")
    kind = STANDARD_TYPES.get(event.type)
    if kind is None:
        return unmapped(
            dedupe_key, f"event type {event.type!r} has no Folio meaning", event_name=event.type
        )
    try:
        data = StandardPaymentData.model_validate(event.data)
    except ValidationError as exc:
        return rejected(
            dedupe_key, f"data invalid: {exc.errors()[0]['msg']}", event_name=event.type
        )
    known: dict[str, Any] = {
        "payment_provider": data.provider,
        "provider_payment_id": data.payment_id,
        "event_name": event.type,
    }
    invoice_number = invoice_number_from(data.invoice_number)
    if invoice_number is None:
        return unmapped(dedupe_key, "no invoice_number", **known)
    known["invoice_number"] = invoice_number
    currency = data.currency.upper()
    try:
        amount_minor = exact_minor(data.amount, currency)
    except AmountOutOfRange as exc:
        return rejected(dedupe_key, f"amount out of range: {exc}", out_of_range=True, **known)
    except ValueError as exc:
        return rejected(dedupe_key, f"amount not exact: {printable(str(exc))}", **known)
    happened_at = as_utc(event.timestamp, received_at)
    common = {
        "provider": data.provider,
        "provider_payment_id": data.payment_id,
        "provider_event_id": webhook_id,
        "invoice_number": invoice_number,
        "currency": currency,
    }
    try:
        if kind is FactKind.VERIFIED:
            payload: Any = PaymentVerified(
                **common,
                capture_id=data.capture_id,
                amount_minor=amount_minor,
                method=data.method,
                verified_at=happened_at,
            )
            fact_key = f"std:{data.payment_id}:verified:{data.capture_id or ''}"
        elif kind is FactKind.AUTHORIZED:
            payload = PaymentAuthorized(
                **common, amount_minor=amount_minor, authorized_at=happened_at
            )
            fact_key = f"std:{data.payment_id}:authorized"
        elif kind is FactKind.FAILED:
            payload = PaymentFailed(
                **common, reason=data.reason, amount_minor=amount_minor, failed_at=happened_at
            )
            fact_key = f"std:{data.payment_id}:failed"
        else:
            if not data.refund_id:
                return rejected(dedupe_key, "refund without refund_id", **known)
            payload = PaymentRefunded(
                **common,
                refund_id=data.refund_id,
                amount_minor=amount_minor,
                reason=data.reason,
                refunded_at=happened_at,
            )
            fact_key = f"std:{data.payment_id}:refund:{data.refund_id}"
    except ValidationError as exc:
        return rejected(dedupe_key, f"payment fields invalid: {exc.errors()[0]['msg']}", **known)
    return Interpretation(
        dedupe_key=dedupe_key,
        state=DeliveryState.ACCEPTED,
        facts=(PaymentFact(kind=kind, fact_key=fact_key, payload=payload),),
        **known,
    )
