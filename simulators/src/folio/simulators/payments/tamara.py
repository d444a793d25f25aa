"""Tamara simulator: order notifications authenticated by ``tamaraToken``.

The token is a JWT signed HS256 with the merchant's notification token,
claims ``iat``, ``exp`` (15 minutes) and ``iss: "Tamara"``, sent both as the
``tamaraToken`` query parameter and as ``Authorization: Bearer``. Amounts are
JSON numbers, written exactly.
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import jwt

from folio.simulators.payments.wire import (
    LOCAL_TAMARA_NOTIFICATION_TOKEN,
    Delivery,
    dumps_with_exact_numbers,
    minor_to_decimal_string,
    to_minor,
)

PATH = "/api/webhooks/tamara"
TOKEN_LIFETIME = timedelta(minutes=15)


@dataclass
class TamaraOrder:
    invoice_number: str | None
    amount_minor: int
    currency: str
    order_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    order_number: str = field(default_factory=lambda: str(uuid.uuid4().int)[:10])
    capture_ids: list[str] = field(default_factory=list)
    captured_minor: int = 0
    refunded_minor: int = 0

    def money(self, amount_minor: int) -> dict[str, Any]:
        return {
            "amount": Decimal(minor_to_decimal_string(amount_minor, self.currency)),
            "currency": self.currency,
        }


class TamaraSimulator:
    """Builds Tamara notifications with a correct (or deliberately wrong) token."""

    def __init__(self, notification_token: str = LOCAL_TAMARA_NOTIFICATION_TOKEN):
        self.notification_token = notification_token
        self.orders: dict[str, TamaraOrder] = {}

    def new_order(
        self, invoice_number: str | None, amount: str, currency: str = "SAR"
    ) -> TamaraOrder:
        order = TamaraOrder(invoice_number, to_minor(amount, currency), currency)
        self.orders[order.order_id] = order
        return order

    def token(
        self,
        *,
        issued_at: datetime | None = None,
        lifetime: timedelta = TOKEN_LIFETIME,
        secret: str | None = None,
        issuer: str = "Tamara",
        algorithm: str = "HS256",
    ) -> str:
        iat = issued_at or datetime.now(UTC)
        claims = {
            "iat": int(iat.timestamp()),
            "exp": int((iat + lifetime).timestamp()),
            "iss": issuer,
        }
        return jwt.encode(claims, secret or self.notification_token, algorithm=algorithm)

    def notification(
        self,
        order: TamaraOrder,
        event_type: str,
        data: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        in_query: bool = True,
        in_header: bool = True,
    ) -> Delivery:
        body = {
            "order_id": order.order_id,
            "order_reference_id": order.invoice_number,
            "order_number": order.order_number,
            "event_type": event_type,
            "data": data if data is not None else [],
        }
        token = token if token is not None else self.token()
        headers = {"Content-Type": "application/json"}
        query: dict[str, str] = {}
        if in_header:
            headers["Authorization"] = f"Bearer {token}"
        if in_query:
            query["tamaraToken"] = token
        return Delivery(
            provider="tamara",
            path=PATH,
            body=dumps_with_exact_numbers(body),
            headers=headers,
            query=query,
            description=f"tamara {event_type} {order.order_id}",
        )

    # --- lifecycle ------------------------------------------------------------

    def approve(self, order: TamaraOrder) -> Delivery:
        return self.notification(order, "order_approved")

    def authorise(self, order: TamaraOrder) -> Delivery:
        return self.notification(order, "order_authorised")

    def decline(self, order: TamaraOrder, reason: str = "insufficient credit") -> Delivery:
        return self.notification(
            order,
            "order_declined",
            {
                "declined_reason": reason,
                "declined_code": "credit_limit",
                "decline_type": "soft",
            },
        )

    def capture(self, order: TamaraOrder, amount: str | None = None) -> Delivery:
        capture_minor = (
            to_minor(amount, order.currency)
            if amount
            else order.amount_minor - order.captured_minor
        )
        capture_id = str(uuid.uuid4())
        order.capture_ids.append(capture_id)
        order.captured_minor += capture_minor
        return self.notification(
            order,
            "order_captured",
            {
                "capture_id": capture_id,
                "captured_amount": order.money(capture_minor),
            },
        )

    def refund(
        self, order: TamaraOrder, amount: str | None = None, comment: str = "refund"
    ) -> Delivery:
        refund_minor = (
            to_minor(amount, order.currency)
            if amount
            else order.captured_minor - order.refunded_minor
        )
        order.refunded_minor += refund_minor
        return self.notification(
            order,
            "order_refunded",
            {
                "refund_id": str(uuid.uuid4()),
                "capture_id": order.capture_ids[-1] if order.capture_ids else None,
                "refunded_amount": order.money(refund_minor),
                "comment": comment,
            },
        )

    def cancel(self, order: TamaraOrder) -> Delivery:
        return self.notification(
            order,
            "order_canceled",
            {
                "cancel_id": str(uuid.uuid4()),
                "canceled_amount": order.money(order.amount_minor - order.captured_minor),
            },
        )

    def expire(self, order: TamaraOrder) -> Delivery:
        return self.notification(order, "order_expired")
