"""Moyasar simulator: payments and the webhook events Moyasar posts about them.

Body ``{id, type, created_at, secret_token, account_name, live, data}`` with the
Payment object in ``data`` (amounts in integer halalas). The shared secret comes
back in the body as ``secret_token``; there is no signature header. A retry
keeps the event ``id``.
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from folio.simulators.payments.wire import (
    LOCAL_MOYASAR_SECRET_TOKEN,
    Delivery,
    dumps,
    minor_to_decimal_string,
    to_minor,
)

PATH = "/api/webhooks/moyasar"

#: Folio method key → Moyasar payment source.
SOURCES = {
    "mada_card": {
        "type": "creditcard",
        "company": "mada",
        "name": "Folio Tenant",
        "number": "4201-32XX-XXXX-1010",
    },
    "credit_card": {
        "type": "creditcard",
        "company": "visa",
        "name": "Folio Tenant",
        "number": "4111-11XX-XXXX-1111",
    },
    "apple_pay": {
        "type": "applepay",
        "company": "mada",
        "name": None,
        "number": "4201-32XX-XXXX-1010",
    },
    "google_pay": {
        "type": "googlepay",
        "company": "visa",
        "name": None,
        "number": "4111-11XX-XXXX-1111",
    },
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class MoyasarPayment:
    """Mutable simulated payment; each change yields a webhook event."""

    invoice_number: str | None
    amount: int
    currency: str
    method: str = "mada_card"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "initiated"
    captured: int = 0
    refunded: int = 0
    captured_at: str | None = None
    refunded_at: str | None = None
    voided_at: str | None = None
    created_at: str = field(default_factory=lambda: _iso(datetime.now(UTC)))
    message: str | None = None

    def as_wire(self) -> dict[str, Any]:
        source = dict(SOURCES.get(self.method, SOURCES["mada_card"]))
        source.update(
            {
                "gateway_id": "moyasar_gw",
                "reference_number": "125478454231",
                "message": self.message or "APPROVED",
            }
        )
        metadata = {"invoice_number": self.invoice_number} if self.invoice_number else {}
        return {
            "id": self.id,
            "status": self.status,
            "amount": self.amount,
            "fee": self.amount * 2 // 100,
            "currency": self.currency,
            "refunded": self.refunded,
            "refunded_at": self.refunded_at,
            "captured": self.captured,
            "captured_at": self.captured_at,
            "voided_at": self.voided_at,
            "description": f"Invoice {self.invoice_number}" if self.invoice_number else None,
            "amount_format": f"{minor_to_decimal_string(self.amount, self.currency)} "
            f"{self.currency}",
            "fee_format": None,
            "invoice_id": None,
            "ip": None,
            "callback_url": "http://127.0.0.1:8104/pay/return",
            "created_at": self.created_at,
            "updated_at": _iso(datetime.now(UTC)),
            "metadata": metadata,
            "source": source,
        }


class MoyasarSimulator:
    """Builds Moyasar webhook deliveries, authenticated with ``secret_token``."""

    def __init__(self, secret_token: str = LOCAL_MOYASAR_SECRET_TOKEN, live: bool = False):
        self.secret_token = secret_token
        self.live = live
        self.payments: dict[str, MoyasarPayment] = {}

    def new_payment(
        self,
        invoice_number: str | None,
        amount: str,
        currency: str = "SAR",
        method: str = "mada_card",
    ) -> MoyasarPayment:
        payment = MoyasarPayment(invoice_number, to_minor(amount, currency), currency, method)
        self.payments[payment.id] = payment
        return payment

    def event(
        self,
        event_type: str,
        payment: MoyasarPayment,
        *,
        secret_token: str | None = None,
        event_id: str | None = None,
        omit_secret: bool = False,
    ) -> Delivery:
        body: dict[str, Any] = {
            "id": event_id or str(uuid.uuid4()),
            "type": event_type,
            "created_at": _iso(datetime.now(UTC)),
            "secret_token": secret_token if secret_token is not None else self.secret_token,
            "account_name": "Folio Properties",
            "live": self.live,
            "data": payment.as_wire(),
        }
        if omit_secret:
            del body["secret_token"]
        return Delivery(
            provider="moyasar",
            path=PATH,
            body=dumps(body),
            headers={"Content-Type": "application/json"},
            description=f"moyasar {event_type} {payment.id}",
        )

    # --- lifecycle ------------------------------------------------------------

    def pay(self, payment: MoyasarPayment, at: datetime | None = None) -> Delivery:
        """Paid now, or at ``at`` (a payment made in the past, as a demo's history)."""
        now = _iso(at or datetime.now(UTC))
        if at is not None:
            payment.created_at = now
        payment.status, payment.captured, payment.captured_at = "paid", payment.amount, now
        return self.event("payment_paid", payment)

    def authorize(self, payment: MoyasarPayment) -> Delivery:
        payment.status = "authorized"
        return self.event("payment_authorized", payment)

    def capture(self, payment: MoyasarPayment, amount: str | None = None) -> Delivery:
        captured = to_minor(amount, payment.currency) if amount else payment.amount
        payment.status, payment.captured = "captured", captured
        payment.captured_at = _iso(datetime.now(UTC))
        return self.event("payment_captured", payment)

    def fail(self, payment: MoyasarPayment, message: str = "INSUFFICIENT_FUNDS") -> Delivery:
        payment.status, payment.message = "failed", message
        return self.event("payment_failed", payment)

    def void(self, payment: MoyasarPayment) -> Delivery:
        payment.status, payment.voided_at = "voided", _iso(datetime.now(UTC))
        return self.event("payment_voided", payment)

    def refund(self, payment: MoyasarPayment, amount: str | None = None) -> Delivery:
        """Refund part or all; Moyasar reports the cumulative ``refunded`` total."""
        increment = to_minor(amount, payment.currency) if amount else payment.captured
        payment.refunded = min(payment.captured, payment.refunded + increment)
        payment.status, payment.refunded_at = "refunded", _iso(datetime.now(UTC))
        return self.event("payment_refunded", payment)
