"""What a verified delivery means: its dedupe key, state and payment facts.

Every provider module turns raw bytes into an :class:`Interpretation`. A
delivery that cannot be turned into payment facts is never dropped: it is kept
``unmapped`` (well-formed, but no invoice or no meaning for Folio) or
``rejected`` (malformed or not exact money) with a reason an admin can read.
"""

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from folio.shared.contracts import (
    PaymentAuthorized,
    PaymentFailed,
    PaymentRefunded,
    PaymentVerified,
)

IntakeChannel = Literal["moyasar", "tabby", "tamara", "standard"]
PaymentProviderName = Literal["moyasar", "tabby", "tamara"]
PaymentPayload = PaymentVerified | PaymentAuthorized | PaymentFailed | PaymentRefunded

#: Merchant references Folio accepts as invoice numbers (e.g. ``INV-2026-000123``):
#: printable, no spaces, bounded, so a reference can be a Kafka key and a log field.
_INVOICE_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")

#: Namespace for deterministic event ids: the same fact always gets the same id,
#: so a replay or a re-emission is a no-op for every idempotent consumer.
FACT_EVENT_NAMESPACE = uuid.UUID("6f1c1f5e-4a8e-4d0c-9a59-0b6f3c0c9e11")


class DeliveryState(StrEnum):
    """Lifecycle of a stored delivery as admins see it."""

    ACCEPTED = "accepted"  # stored; its events wait in the outbox (or it carried none)
    DUPLICATE = "duplicate"  # same dedupe key as an earlier delivery; nothing emitted
    REJECTED = "rejected"  # authenticated but malformed or not exact money
    UNMAPPED = "unmapped"  # well-formed but cannot be tied to an invoice
    PUBLISHED = "published"  # every event it produced reached the broker


class FactKind(StrEnum):
    AUTHORIZED = "authorized"
    VERIFIED = "verified"
    FAILED = "failed"
    REFUNDED = "refunded"
    #: Moyasar reports refunds as a cumulative ``refunded`` total on the payment;
    #: the refund amount is that total minus what was already emitted.
    REFUND_TOTAL = "refund_total"


@dataclass(frozen=True)
class PaymentFact:
    """One business fact about one provider payment, identified by ``fact_key``."""

    kind: FactKind
    fact_key: str
    payload: PaymentPayload
    cumulative_refunded_minor: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "fact_key": self.fact_key,
            "payload": self.payload.model_dump(mode="json"),
            "cumulative_refunded_minor": self.cumulative_refunded_minor,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "PaymentFact":
        kind = FactKind(raw["kind"])
        model = _PAYLOAD_OF_KIND[kind]
        return cls(
            kind=kind,
            fact_key=raw["fact_key"],
            payload=model.model_validate(raw["payload"]),
            cumulative_refunded_minor=raw.get("cumulative_refunded_minor"),
        )


_PAYLOAD_OF_KIND: dict[FactKind, type[PaymentPayload]] = {
    FactKind.AUTHORIZED: PaymentAuthorized,
    FactKind.VERIFIED: PaymentVerified,
    FactKind.FAILED: PaymentFailed,
    FactKind.REFUNDED: PaymentRefunded,
    FactKind.REFUND_TOTAL: PaymentRefunded,
}


def fact_event_id(provider: str, fact_key: str) -> uuid.UUID:
    """The event id a fact is always published under."""
    return uuid.uuid5(FACT_EVENT_NAMESPACE, f"{provider}:{fact_key}")


@dataclass(frozen=True)
class Interpretation:
    """The meaning of one authenticated delivery."""

    dedupe_key: str
    state: DeliveryState
    payment_provider: PaymentProviderName | None = None
    provider_payment_id: str | None = None
    invoice_number: str | None = None
    facts: tuple[PaymentFact, ...] = ()
    reason: str | None = None
    event_name: str | None = field(default=None)
    #: Rejected because a number or amount is beyond intake's bounds (answered 422).
    out_of_range: bool = False

    @property
    def payment_key(self) -> tuple[str, str] | None:
        if self.payment_provider and self.provider_payment_id:
            return (self.payment_provider, self.provider_payment_id)
        return None


class MalformedDelivery(ValueError):
    """The body is not the provider's wire format (or not exact money)."""


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def invoice_number_from(reference: object) -> str | None:
    """A merchant reference usable as an invoice number, or None."""
    if not isinstance(reference, str):
        return None
    candidate = reference.strip()
    return candidate if _INVOICE_REFERENCE.match(candidate) else None


def as_utc(value: datetime | None, fallback: datetime) -> datetime:
    """Provider timestamps as aware UTC; naive ones are taken as UTC."""
    if value is None:
        return fallback
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def rejected(dedupe_key: str, reason: str, **known: Any) -> Interpretation:
    return Interpretation(
        dedupe_key=dedupe_key, state=DeliveryState.REJECTED, reason=reason, **known
    )


def unmapped(dedupe_key: str, reason: str, **known: Any) -> Interpretation:
    return Interpretation(
        dedupe_key=dedupe_key, state=DeliveryState.UNMAPPED, reason=reason, **known
    )
