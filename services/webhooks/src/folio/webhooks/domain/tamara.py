"""Tamara notifications: ``{order_id, order_reference_id, order_number, event_type, data}``.

``data`` is ``[]`` when there is nothing to report. Amounts are JSON numbers,
read as Decimal (never float). Dedupe key: order id + event type + the
capture/refund/cancel id the event is about.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

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
    Identifier,
    exact_minor,
    identifier_or_none,
    printable,
)
from folio.webhooks.domain.deliveries import (
    DeliveryState,
    FactKind,
    Interpretation,
    MalformedDelivery,
    PaymentFact,
    body_digest,
    invoice_number_from,
    rejected,
    unmapped,
)

#: Tamara approved the order for the customer; the merchant has not authorised it yet.
INFORMATIONAL_EVENTS = {"order_approved"}
FAILING_EVENTS = {"order_declined", "order_canceled", "order_expired"}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TamaraMoney(_Lenient):
    # Decimal (from a JSON number parsed exactly), int, or a numeric string; floats
    # never reach here because the body is decoded with parse_float=Decimal.
    amount: Decimal | int | StrictStr
    currency: StrictStr


class TamaraNotification(_Lenient):
    order_id: Identifier
    order_reference_id: str | None = None
    order_number: str | None = None
    event_type: Identifier
    data: dict[str, Any] | list[Any] = []


def _detail_id(data: dict[str, Any], *names: str) -> str:
    for name in names:
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # (at most 40 digits: the JSON parse bounds numbers)
        if identifier_or_none(value):
            return value  # type: ignore[return-value]
    return ""


def dedupe_key_of(notification: TamaraNotification) -> str:
    details = notification.data if isinstance(notification.data, dict) else {}
    about = _detail_id(details, "refund_id", "capture_id", "cancel_id")
    return f"{notification.order_id}:{notification.event_type}:{about}"


def _minor(money: object) -> tuple[int, str]:
    parsed = TamaraMoney.model_validate(money)
    currency = parsed.currency.upper()
    return exact_minor(parsed.amount, currency), currency


def interpret(body: bytes, received_at: datetime) -> Interpretation:
    """Parse and normalize an authenticated Tamara notification."""
    try:
        document = jsondoc.read(body)
    except MalformedDelivery as exc:
        out_of_range = isinstance(exc, jsondoc.NumberOutOfBounds)
        return rejected(f"malformed:{body_digest(body)}", str(exc), out_of_range=out_of_range)
    return interpret_document(document, body, received_at)


def interpret_document(
    document: dict[str, Any], body: bytes, received_at: datetime
) -> Interpretation:
    """Normalize an authenticated Tamara notification whose body resolved to ``document``."""
    try:
        notification = TamaraNotification.model_validate(document)
    except ValidationError:
        return rejected(f"malformed:{body_digest(body)}", "not a Tamara notification")
    dedupe_key = dedupe_key_of(notification)
    event = notification.event_type
    known: dict[str, Any] = {
        "payment_provider": "tamara",
        "provider_payment_id": notification.order_id,
        "event_name": event,
    }
    if event in INFORMATIONAL_EVENTS:
        # kept for admins; the authorisation that moves the invoice comes next
        return Interpretation(
            dedupe_key=dedupe_key,
            state=DeliveryState.ACCEPTED,
            reason=f"informational event {event}: nothing to emit",
            **known,
        )
    invoice_number = invoice_number_from(notification.order_reference_id)
    if invoice_number is None:
        return unmapped(dedupe_key, "no order_reference_id", **known)
    known["invoice_number"] = invoice_number
    details = notification.data if isinstance(notification.data, dict) else {}
    common = {
        "provider": "tamara",
        "provider_payment_id": notification.order_id,
        "provider_event_id": dedupe_key,
        "invoice_number": invoice_number,
    }
    try:
        if event == "order_authorised":
            # Tamara authorised the payment: the invoice is PENDING until its capture
            # (or expiry). The notification carries no amount: the event says so.
            fact = PaymentFact(
                kind=FactKind.AUTHORIZED,
                fact_key=f"{notification.order_id}:authorised",
                payload=PaymentAuthorized(**common, authorized_at=received_at),
            )
        elif event == "order_captured":
            capture_id = _detail_id(details, "capture_id")
            amount_minor, currency = _minor(details.get("captured_amount"))
            if not capture_id or amount_minor <= 0:
                return rejected(dedupe_key, "capture without id or positive amount", **known)
            fact = PaymentFact(
                kind=FactKind.VERIFIED,
                fact_key=f"{notification.order_id}:capture:{capture_id}",
                payload=PaymentVerified(
                    **common,
                    capture_id=capture_id,
                    amount_minor=amount_minor,
                    currency=currency,
                    method="tamara",
                    verified_at=received_at,
                ),
            )
        elif event == "order_refunded":
            refund_id = _detail_id(details, "refund_id")
            amount_minor, currency = _minor(details.get("refunded_amount"))
            if not refund_id or amount_minor <= 0:
                return rejected(dedupe_key, "refund without id or positive amount", **known)
            comment = details.get("comment")
            comment = printable(comment) if isinstance(comment, str) else None
            fact = PaymentFact(
                kind=FactKind.REFUNDED,
                fact_key=f"{notification.order_id}:refund:{refund_id}",
                payload=PaymentRefunded(
                    **common,
                    refund_id=refund_id,
                    amount_minor=amount_minor,
                    currency=currency,
                    reason=comment,
                    refunded_at=received_at,
                ),
            )
        elif event in FAILING_EVENTS:
            amount_minor, currency = None, None
            if event == "order_canceled":
                amount_minor, currency = _minor(details.get("canceled_amount"))
            reason = event.removeprefix("order_")
            declined = details.get("declined_reason")
            if isinstance(declined, str) and declined:
                reason = f"declined: {printable(declined)}"
            fact = PaymentFact(
                kind=FactKind.FAILED,
                fact_key=f"{notification.order_id}:failed",
                payload=PaymentFailed(
                    **common,
                    reason=reason,
                    amount_minor=amount_minor,
                    currency=currency,
                    failed_at=received_at,
                ),
            )
        else:
            return unmapped(dedupe_key, f"event type {event!r} has no Folio meaning", **known)
    except AmountOutOfRange as exc:
        return rejected(dedupe_key, f"amount out of range: {exc}", out_of_range=True, **known)
    except ValidationError as exc:
        return rejected(
            dedupe_key, f"amount not exact or missing: {exc.errors()[0]['msg']}", **known
        )
    except (ValueError, TypeError) as exc:
        return rejected(dedupe_key, f"amount not exact or missing: {printable(str(exc))}", **known)
    return Interpretation(
        dedupe_key=dedupe_key, state=DeliveryState.ACCEPTED, facts=(fact,), **known
    )
