"""Whole payment stories per provider, and the HTTP sender that delivers them.

``PaymentProviders.pay`` returns the deliveries a provider would post when a
payer settles an invoice; ``deliver`` posts them the way providers do:
retrying a non-2xx answer a bounded number of times with backoff.
"""

import asyncio
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

import httpx

from folio.simulators.payments.moyasar import MoyasarSimulator
from folio.simulators.payments.tabby import TabbySimulator
from folio.simulators.payments.tamara import TamaraSimulator
from folio.simulators.payments.wire import Delivery, duplicated, reordered

ProviderName = Literal["moyasar", "tabby", "tamara"]
AuthMode = Literal["valid", "wrong", "missing"]


@dataclass
class PaymentStory:
    provider: ProviderName
    payment_id: str
    invoice_number: str
    deliveries: list[Delivery] = field(default_factory=list)


class PaymentProviders:
    """The three simulated providers, keeping their payments in memory."""

    def __init__(
        self,
        moyasar: MoyasarSimulator | None = None,
        tabby: TabbySimulator | None = None,
        tamara: TamaraSimulator | None = None,
    ):
        self.moyasar = moyasar or MoyasarSimulator()
        self.tabby = tabby or TabbySimulator()
        self.tamara = tamara or TamaraSimulator()

    def pay(
        self,
        provider: ProviderName,
        invoice_number: str,
        amount: str,
        currency: str = "SAR",
        method: str = "mada_card",
        at: datetime | None = None,
    ) -> PaymentStory:
        """The deliveries a provider posts when ``invoice_number`` is paid in full.

        ``at`` dates a payment in the past (Moyasar and Tabby carry the capture time;
        Tamara's notifications do not, so Folio dates them on receipt).
        """
        if provider == "moyasar":
            payment = self.moyasar.new_payment(invoice_number, amount, currency, method)
            return PaymentStory(
                provider, payment.id, invoice_number, [self.moyasar.pay(payment, at)]
            )
        if provider == "tabby":
            tabby_payment = self.tabby.new_payment(invoice_number, amount, currency, at)
            return PaymentStory(
                provider,
                tabby_payment.id,
                invoice_number,
                [
                    self.tabby.authorize(tabby_payment),
                    self.tabby.capture(tabby_payment),
                ],
            )
        if provider == "tamara":
            order = self.tamara.new_order(invoice_number, amount, currency)
            return PaymentStory(
                provider,
                order.order_id,
                invoice_number,
                [
                    self.tamara.approve(order),
                    self.tamara.authorise(order),
                    self.tamara.capture(order),
                ],
            )
        raise ValueError(f"unknown provider {provider!r}")

    def refund(
        self, provider: ProviderName, payment_id: str, amount: str | None = None
    ) -> PaymentStory:
        """The delivery a provider posts when (part of) a payment is refunded."""
        if provider == "moyasar":
            payment = self.moyasar.payments[payment_id]
            return PaymentStory(
                provider,
                payment_id,
                payment.invoice_number or "",
                [self.moyasar.refund(payment, amount)],
            )
        if provider == "tabby":
            tabby_payment = self.tabby.payments[payment_id]
            return PaymentStory(
                provider,
                payment_id,
                tabby_payment.invoice_number or "",
                [self.tabby.refund(tabby_payment, amount)],
            )
        if provider == "tamara":
            order = self.tamara.orders[payment_id]
            return PaymentStory(
                provider,
                payment_id,
                order.invoice_number or "",
                [self.tamara.refund(order, amount)],
            )
        raise ValueError(f"unknown provider {provider!r}")

    def with_auth(self, delivery: Delivery, mode: AuthMode) -> Delivery:
        """The same delivery with its credential made wrong or removed."""
        if mode == "valid":
            return delivery
        if delivery.provider == "moyasar":
            marker = f'"secret_token":"{self.moyasar.secret_token}"'.encode()
            swapped = b'"secret_token":"not-the-secret"' if mode == "wrong" else b'"x":null'
            return delivery.with_body(delivery.body.replace(marker, swapped), f"auth {mode}")
        headers = dict(delivery.headers)
        query = dict(delivery.query)
        if delivery.provider == "tabby":
            if mode == "wrong":
                headers[self.tabby.header_name] = "not-the-secret"
            else:
                headers.pop(self.tabby.header_name, None)
        elif delivery.provider == "tamara":
            headers.pop("Authorization", None)
            query.pop("tamaraToken", None)
            if mode == "wrong":
                query["tamaraToken"] = self.tamara.token(
                    secret="not-the-notification-token-but-long-enough"
                )
        return replace(
            delivery,
            headers=headers,
            query=query,
            description=f"{delivery.description} [auth {mode}]",
        )


def arrange(
    deliveries: list[Delivery], *, duplicate: int = 1, reorder_seed: int | None = None
) -> list[Delivery]:
    """Apply what real providers do: duplicate each delivery, shuffle the order."""
    arranged = duplicated(deliveries, max(1, duplicate))
    return reordered(arranged, reorder_seed) if reorder_seed is not None else arranged


@dataclass(frozen=True)
class DeliveryResult:
    description: str
    status_codes: tuple[int, ...]

    @property
    def delivered(self) -> bool:
        return bool(self.status_codes) and 200 <= self.status_codes[-1] < 300


async def deliver(
    client: httpx.AsyncClient,
    base_url: str,
    delivery: Delivery,
    *,
    attempts: int = 6,
    backoff_seconds: float = 0.5,
) -> DeliveryResult:
    """POST one delivery, retrying on 5xx/transport errors like a provider would.

    A 4xx is final (providers do not fix a forged or malformed delivery by retrying).
    """
    codes: list[int] = []
    for attempt in range(attempts):
        try:
            response = await client.post(
                delivery.url(base_url),
                content=delivery.body,
                headers=delivery.headers,
                params=delivery.query,
            )
            codes.append(response.status_code)
            if response.status_code < 500:
                break
        except httpx.TransportError:
            codes.append(0)
        if attempt + 1 < attempts:
            await asyncio.sleep(backoff_seconds * (2**attempt))
    return DeliveryResult(delivery.description, tuple(codes))


async def deliver_all(
    client: httpx.AsyncClient,
    base_url: str,
    deliveries: list[Delivery],
    *,
    attempts: int = 6,
    backoff_seconds: float = 0.5,
) -> list[DeliveryResult]:
    """Deliver in order, one after another (a provider's per-payment stream)."""
    return [
        await deliver(client, base_url, d, attempts=attempts, backoff_seconds=backoff_seconds)
        for d in deliveries
    ]
