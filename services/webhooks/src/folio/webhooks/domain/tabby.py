"""Tabby webhooks: the whole payment object, re-sent on every change.

No event id exists, so the dedupe key is derived from what changed: payment
id, status, and the captures and refunds so far. Each capture becomes one
``payment.verified`` and each refund one ``payment.refunded``, whichever
snapshot they arrive in, because snapshots can arrive out of order.
"""

import hashlib
import json
from datetime import datetime
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
    body_digest,
    invoice_number_from,
    rejected,
    unmapped,
)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TabbyOrder(_Lenient):
    reference_id: str | None = None


class TabbyCapture(_Lenient):
    id: Identifier
    amount: StrictStr
    created_at: ProviderTime | None = None
    reference_id: str | None = None


class TabbyRefund(_Lenient):
    id: Identifier
    amount: StrictStr
    created_at: ProviderTime | None = None
    reference_id: str | None = None
    reason: FreeText | None = None


class TabbyPayment(_Lenient):
    id: Identifier
    status: Identifier
    amount: StrictStr
    currency: StrictStr
    created_at: ProviderTime | None = None
    closed_at: ProviderTime | None = None
    is_test: bool | None = None
    order: TabbyOrder | None = None
    captures: list[TabbyCapture] = []
    refunds: list[TabbyRefund] = []


def dedupe_key_of(payment: TabbyPayment) -> str:
    """Same payment, status, captures and refunds → same key (a retry or duplicate)."""
    captures = sorted((c.id, c.amount) for c in payment.captures)
    refunds = sorted((r.id, r.amount) for r in payment.refunds)
    canonical = json.dumps([payment.status.lower(), captures, refunds], separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return f"{payment.id}:{payment.status.lower()}:{digest}"


def interpret(body: bytes, received_at: datetime) -> Interpretation:
    """Parse and normalize an authenticated Tabby delivery."""
    try:
        document = jsondoc.read(body)
    except MalformedDelivery as exc:
        out_of_range = isinstance(exc, jsondoc.NumberOutOfBounds)
        return rejected(f"malformed:{body_digest(body)}", str(exc), out_of_range=out_of_range)
    return interpret_document(document, body, received_at)


def interpret_document(
    document: dict[str, Any], body: bytes, received_at: datetime
) -> Interpretation:
    """Normalize an authenticated Tabby delivery whose body resolved to ``document``."""
    try:
        payment = TabbyPayment.model_validate(document)
    except ValidationError:
        return rejected(f"malformed:{body_digest(body)}", "not a Tabby payment")
    dedupe_key = dedupe_key_of(payment)
    status = payment.status.lower()
    known: dict[str, Any] = {
        "payment_provider": "tabby",
        "provider_payment_id": payment.id,
        "event_name": status,
    }
    currency = payment.currency.upper()
    try:
        amount_minor = exact_minor(payment.amount, currency)
        captures = [(c, exact_minor(c.amount, currency)) for c in payment.captures]
        refunds = [(r, exact_minor(r.amount, currency)) for r in payment.refunds]
    except AmountOutOfRange as exc:
        return rejected(dedupe_key, f"amount out of range: {exc}", out_of_range=True, **known)
    except ValueError as exc:
        return rejected(dedupe_key, f"amount not exact: {printable(str(exc))}", **known)
    if amount_minor < 0 or any(m <= 0 for _, m in captures) or any(m <= 0 for _, m in refunds):
        return rejected(dedupe_key, "non-positive amount", **known)
    invoice_number = invoice_number_from(payment.order.reference_id if payment.order else None)
    if invoice_number is None:
        return unmapped(dedupe_key, "no order.reference_id", **known)
    known["invoice_number"] = invoice_number

    happened_at = as_utc(payment.closed_at or payment.created_at, received_at)
    common = {
        "provider": "tabby",
        "provider_payment_id": payment.id,
        "provider_event_id": dedupe_key,
        "invoice_number": invoice_number,
        "currency": currency,
    }
    facts: list[PaymentFact] = []
    for capture, capture_minor in captures:
        facts.append(
            PaymentFact(
                kind=FactKind.VERIFIED,
                fact_key=f"{payment.id}:capture:{capture.id}",
                payload=PaymentVerified(
                    **common,
                    capture_id=capture.id,
                    amount_minor=capture_minor,
                    method="tabby",
                    verified_at=as_utc(capture.created_at, happened_at),
                ),
            )
        )
    for refund, refund_minor in refunds:
        facts.append(
            PaymentFact(
                kind=FactKind.REFUNDED,
                fact_key=f"{payment.id}:refund:{refund.id}",
                payload=PaymentRefunded(
                    **common,
                    refund_id=refund.id,
                    amount_minor=refund_minor,
                    reason=refund.reason,
                    refunded_at=as_utc(refund.created_at, happened_at),
                ),
            )
        )
    if status == "authorized" and not captures:
        facts.append(
            PaymentFact(
                kind=FactKind.AUTHORIZED,
                fact_key=f"{payment.id}:authorized",
                payload=PaymentAuthorized(
                    **common, amount_minor=amount_minor, authorized_at=happened_at
                ),
            )
        )
    elif status in {"rejected", "expired"} or (status == "closed" and not captures):
        reason = "closed without capture" if status == "closed" else status
        facts.append(
            PaymentFact(
                kind=FactKind.FAILED,
                fact_key=f"{payment.id}:failed",
                payload=PaymentFailed(
                    **common, reason=reason, amount_minor=amount_minor, failed_at=happened_at
                ),
            )
        )
    elif status not in {"authorized", "closed"}:
        return unmapped(dedupe_key, f"status {payment.status!r} has no Folio meaning", **known)
    return Interpretation(
        dedupe_key=dedupe_key, state=DeliveryState.ACCEPTED, facts=tuple(facts), **known
    )
