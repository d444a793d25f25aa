"""Moyasar webhooks: ``{id, type, created_at, secret_token, account_name, live, data}``.

``data`` is the Payment object; amounts are integer halalas (minor units).
The event ``id`` survives retries and is the dedupe key.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from folio.shared.contracts import (
    CURRENCY_EXPONENTS,
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
    check_minor,
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

#: Keys of ``metadata`` where Folio's checkout puts the invoice number, in order of preference.
INVOICE_METADATA_KEYS = ("invoice_number", "invoiceNumber", "invoice")

VERIFYING_TYPES = {"payment_paid", "payment_captured"}
INFORMATIONAL_TYPES = {"webhook_verification", "payment_verified", "payment_initiated"}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class MoyasarSource(_Lenient):
    type: FreeText | None = None
    company: FreeText | None = None
    message: FreeText | None = None


class MoyasarPayment(_Lenient):
    id: Identifier
    status: Identifier
    amount: StrictInt
    currency: StrictStr
    refunded: StrictInt = 0
    captured: StrictInt = 0
    refunded_at: ProviderTime | None = None
    captured_at: ProviderTime | None = None
    voided_at: ProviderTime | None = None
    created_at: ProviderTime | None = None
    updated_at: ProviderTime | None = None
    metadata: dict[str, Any] | None = None
    source: MoyasarSource | None = None


class MoyasarEvent(_Lenient):
    id: Identifier
    type: Identifier
    created_at: ProviderTime | None = None
    secret_token: StrictStr | None = None
    live: bool | None = None
    data: dict[str, Any] | None = None


def secret_token_of(tree: dict[str, Any] | jsondoc.Pairs) -> str | None:
    """The ``secret_token`` of a parsed (not yet resolved) body, found before any number
    is converted. Two of them make the body ambiguous: it authenticates with neither."""
    values = jsondoc.values_of(tree, "secret_token")
    return values[0] if len(values) == 1 and isinstance(values[0], str) else None


def event_of(document: dict[str, Any]) -> MoyasarEvent:
    try:
        return MoyasarEvent.model_validate(document)
    except ValidationError as exc:
        raise MalformedDelivery(f"not a Moyasar event: {exc.error_count()} errors") from None


def parse_event(body: bytes) -> MoyasarEvent:
    """The whole envelope from raw bytes (numbers bounded); MalformedDelivery otherwise."""
    return event_of(jsondoc.read(body))


def interpret_document(
    document: dict[str, Any], body: bytes, received_at: datetime
) -> Interpretation:
    """Meaning of an authenticated delivery whose body resolved to ``document``."""
    try:
        event = event_of(document)
    except MalformedDelivery as exc:
        return rejected(f"malformed:{body_digest(body)}", str(exc))
    return interpret(event, received_at)


def payment_method_of(source: MoyasarSource | None) -> str | None:
    """Folio's payment-method key for a Moyasar payment source."""
    if source is None or not source.type:
        return None
    kind = source.type.lower()
    if kind == "applepay":
        return "apple_pay"
    if kind == "googlepay":
        return "google_pay"
    if kind == "creditcard":
        return "mada_card" if (source.company or "").lower() == "mada" else "credit_card"
    return printable(kind, 64)


def invoice_number_of(payment: MoyasarPayment) -> str | None:
    metadata = payment.metadata or {}
    for key in INVOICE_METADATA_KEYS:
        found = invoice_number_from(metadata.get(key))
        if found:
            return found
    return None


def interpret(event: MoyasarEvent, received_at: datetime) -> Interpretation:
    """Turn a verified Moyasar event into payment facts (or a reason it cannot be)."""
    dedupe_key = event.id
    if event.type in INFORMATIONAL_TYPES:
        return Interpretation(
            dedupe_key=dedupe_key,
            state=DeliveryState.ACCEPTED,
            reason=f"informational event {event.type}: nothing to emit",
            event_name=event.type,
        )
    try:
        payment = MoyasarPayment.model_validate(event.data or {})
    except ValidationError as exc:
        return rejected(dedupe_key, f"data is not a Moyasar payment: {exc.errors()[0]['msg']}")
    known: dict[str, Any] = {
        "payment_provider": "moyasar",
        "provider_payment_id": payment.id,
        "event_name": event.type,
    }
    currency = payment.currency.upper()
    if currency not in CURRENCY_EXPONENTS:
        return rejected(
            dedupe_key, f"unsupported currency {printable(payment.currency, 16)!r}", **known
        )
    try:
        check_minor(payment.amount, payment.refunded, payment.captured)
    except AmountOutOfRange as exc:
        return rejected(dedupe_key, str(exc), out_of_range=True, **known)
    if payment.amount < 0 or payment.refunded < 0 or payment.captured < 0:
        return rejected(dedupe_key, "negative amount", **known)
    invoice_number = invoice_number_of(payment)
    if invoice_number is None:
        return unmapped(dedupe_key, "no invoice number in payment metadata", **known)
    known["invoice_number"] = invoice_number

    happened_at = as_utc(event.created_at, received_at)
    common = {
        "provider": "moyasar",
        "provider_payment_id": payment.id,
        "provider_event_id": event.id,
        "invoice_number": invoice_number,
        "currency": currency,
    }
    # A paid payment's captured amount equals its amount; an authorize-then-capture
    # flow may capture less, and that is what was actually received.
    received_minor = payment.captured or payment.amount

    def verified_fact() -> PaymentFact:
        return PaymentFact(
            kind=FactKind.VERIFIED,
            fact_key=f"{payment.id}:verified",
            payload=PaymentVerified(
                **common,
                amount_minor=received_minor,
                method=payment_method_of(payment.source),
                verified_at=as_utc(payment.captured_at or payment.updated_at, happened_at),
            ),
        )

    facts: list[PaymentFact] = []
    if event.type in VERIFYING_TYPES:
        if received_minor <= 0:
            return rejected(dedupe_key, "paid payment with zero amount", **known)
        facts.append(verified_fact())
    elif event.type == "payment_authorized":
        facts.append(
            PaymentFact(
                kind=FactKind.AUTHORIZED,
                fact_key=f"{payment.id}:authorized",
                payload=PaymentAuthorized(
                    **common, amount_minor=payment.amount, authorized_at=happened_at
                ),
            )
        )
    elif event.type in {"payment_failed", "payment_voided"}:
        reason = "voided" if event.type == "payment_voided" else None
        if reason is None and payment.source is not None:
            reason = payment.source.message
        facts.append(
            PaymentFact(
                kind=FactKind.FAILED,
                fact_key=f"{payment.id}:failed",
                payload=PaymentFailed(
                    **common,
                    reason=reason or payment.status,
                    amount_minor=payment.amount,
                    failed_at=as_utc(payment.voided_at, happened_at),
                ),
            )
        )
    elif event.type == "payment_refunded":
        if payment.refunded <= 0:
            return rejected(dedupe_key, "refund event without a refunded amount", **known)
        # A refund proves the payment was received: deriving the verified fact here
        # keeps the ledger's order right when the refund arrives before payment_paid.
        if received_minor > 0:
            facts.append(verified_fact())
        facts.append(
            PaymentFact(
                kind=FactKind.REFUND_TOTAL,
                fact_key=f"{payment.id}:refunded-to:{payment.refunded}",
                cumulative_refunded_minor=payment.refunded,
                payload=PaymentRefunded(
                    **common,
                    refund_id=f"{payment.id}:refunded-to:{payment.refunded}",
                    amount_minor=payment.refunded,
                    refunded_at=as_utc(payment.refunded_at, happened_at),
                ),
            )
        )
    else:
        return unmapped(dedupe_key, f"event type {event.type!r} has no Folio meaning", **known)
    return Interpretation(
        dedupe_key=dedupe_key, state=DeliveryState.ACCEPTED, facts=tuple(facts), **known
    )
