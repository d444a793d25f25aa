"""Tabby simulator: the payment object, re-posted on every change.

Authenticated only by a static header chosen at webhook registration. Statuses
are lowercase; amounts are decimal strings (3 decimals for KWD).
"""

import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from folio.simulators.payments.wire import (
    LOCAL_TABBY_HEADER_NAME,
    LOCAL_TABBY_HEADER_VALUE,
    Delivery,
    dumps,
    minor_to_decimal_string,
    to_minor,
)

PATH = "/api/webhooks/tabby"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class TabbyPayment:
    invoice_number: str | None
    amount_minor: int
    currency: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "authorized"
    created_at: str = field(default_factory=lambda: _iso(datetime.now(UTC)))
    closed_at: str | None = None
    captures: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    at: datetime | None = None  # when a payment made in the past was captured

    def money(self, amount_minor: int) -> str:
        return minor_to_decimal_string(amount_minor, self.currency)

    def captured_minor(self) -> int:
        return sum(to_minor(c["amount"], self.currency) for c in self.captures)

    def refunded_minor(self) -> int:
        return sum(to_minor(r["amount"], self.currency) for r in self.refunds)

    def as_wire(self) -> dict[str, Any]:
        created = datetime.strptime(self.created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return {
            "id": self.id,
            "created_at": self.created_at,
            "expires_at": _iso(created + timedelta(days=21)),
            "closed_at": self.closed_at,
            "status": self.status,
            "is_test": True,
            "is_expired": self.status == "expired",
            "amount": self.money(self.amount_minor),
            "currency": self.currency,
            "description": f"Invoice {self.invoice_number}",
            "order": {"reference_id": self.invoice_number},
            "captures": copy.deepcopy(self.captures),
            "refunds": copy.deepcopy(self.refunds),
            "meta": {"order_id": self.invoice_number, "customer": "folio-tenant"},
            "token": None,
        }


class TabbySimulator:
    """Builds Tabby deliveries carrying the registered static header."""

    def __init__(
        self,
        header_name: str = LOCAL_TABBY_HEADER_NAME,
        header_value: str = LOCAL_TABBY_HEADER_VALUE,
    ):
        self.header_name = header_name
        self.header_value = header_value
        self.payments: dict[str, TabbyPayment] = {}

    def new_payment(
        self,
        invoice_number: str | None,
        amount: str,
        currency: str = "SAR",
        at: datetime | None = None,
    ) -> TabbyPayment:
        payment = TabbyPayment(invoice_number, to_minor(amount, currency), currency)
        if at is not None:  # a payment made in the past: its capture is dated then too
            payment.created_at = _iso(at)
            payment.at = at
        self.payments[payment.id] = payment
        return payment

    def snapshot(
        self,
        payment: TabbyPayment,
        *,
        header_value: str | None = None,
        omit_header: bool = False,
        note: str = "",
    ) -> Delivery:
        headers = {"Content-Type": "application/json"}
        if not omit_header:
            headers[self.header_name] = (
                header_value if header_value is not None else self.header_value
            )
        return Delivery(
            provider="tabby",
            path=PATH,
            body=dumps(payment.as_wire()),
            headers=headers,
            description=f"tabby {payment.status} {payment.id} {note}".strip(),
        )

    # --- lifecycle ------------------------------------------------------------

    def authorize(self, payment: TabbyPayment) -> Delivery:
        payment.status = "authorized"
        return self.snapshot(payment, note="authorized")

    def capture(self, payment: TabbyPayment, amount: str | None = None) -> Delivery:
        """Capture part or the rest; a full capture closes the payment."""
        remaining = payment.amount_minor - payment.captured_minor()
        capture_minor = to_minor(amount, payment.currency) if amount else remaining
        payment.captures.append(
            {
                "id": str(uuid.uuid4()),
                "amount": payment.money(capture_minor),
                "created_at": _iso(payment.at or datetime.now(UTC)),
                "reference_id": f"{payment.invoice_number}-capture-{len(payment.captures) + 1}",
                "items": [],
            }
        )
        if payment.captured_minor() >= payment.amount_minor:
            payment.status, payment.closed_at = "closed", _iso(payment.at or datetime.now(UTC))
        return self.snapshot(payment, note="capture")

    def close(self, payment: TabbyPayment) -> Delivery:
        payment.status, payment.closed_at = "closed", _iso(datetime.now(UTC))
        return self.snapshot(payment, note="close")

    def reject(self, payment: TabbyPayment) -> Delivery:
        payment.status = "rejected"
        return self.snapshot(payment, note="rejected")

    def expire(self, payment: TabbyPayment) -> Delivery:
        payment.status = "expired"
        return self.snapshot(payment, note="expired")

    def refund(
        self, payment: TabbyPayment, amount: str | None = None, reason: str = "requested"
    ) -> Delivery:
        refundable = payment.captured_minor() - payment.refunded_minor()
        refund_minor = to_minor(amount, payment.currency) if amount else refundable
        payment.refunds.append(
            {
                "id": str(uuid.uuid4()),
                "amount": payment.money(refund_minor),
                "created_at": _iso(datetime.now(UTC)),
                "reference_id": f"{payment.invoice_number}-refund-{len(payment.refunds) + 1}",
                "reason": reason,
                "items": [],
            }
        )
        return self.snapshot(payment, note="refund")
