"""Shared pieces of the payment-provider simulators: deliveries, exact money, JSON."""

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

#: Decimal places per currency (the providers' own conventions).
CURRENCY_EXPONENTS = {"SAR": 2, "AED": 2, "USD": 2, "CAD": 2, "KWD": 3, "BHD": 3, "OMR": 3}

#: Local-development credentials; the webhooks service uses the same ones in the dev stack.
LOCAL_MOYASAR_SECRET_TOKEN = "local-moyasar-secret-token-not-for-production"
LOCAL_TABBY_HEADER_NAME = "X-Tabby-Webhook-Secret"
LOCAL_TABBY_HEADER_VALUE = "local-tabby-header-secret-not-for-production"
LOCAL_TAMARA_NOTIFICATION_TOKEN = "local-tamara-notification-token-not-for-production"
LOCAL_STANDARD_WEBHOOK_SECRET = "whsec_bG9jYWwtc3RhbmRhcmQtd2ViaG9va3Mtc2VjcmV0"


@dataclass(frozen=True)
class Delivery:
    """One HTTP POST a provider would make to Folio's intake."""

    provider: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def with_body(self, body: bytes, note: str) -> "Delivery":
        return replace(self, body=body, description=f"{self.description} [{note}]")

    def with_one_byte_changed(self) -> "Delivery":
        """The same delivery with one byte of the body altered (still valid JSON where possible)."""
        body = self.body
        match = re.search(rb"\d", body)
        if match:  # bump a digit: the JSON stays valid, the content does not
            i = match.start()
            digit = b"1" if body[i : i + 1] != b"1" else b"2"
            return self.with_body(body[:i] + digit + body[i + 1 :], "one byte changed")
        return self.with_body(body[:-1] + b" ", "one byte changed")

    def url(self, base_url: str) -> str:
        return base_url.rstrip("/") + self.path


def to_minor(amount: str | Decimal | int, currency: str) -> int:
    """Exact major → minor units; refuses extra decimals instead of rounding."""
    if isinstance(amount, float):
        raise TypeError("floats are not money")
    value = Decimal(str(amount))
    scaled = value.scaleb(CURRENCY_EXPONENTS[currency])
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has too many decimals for {currency}")
    return int(scaled)


def minor_to_decimal_string(amount_minor: int, currency: str) -> str:
    exponent = CURRENCY_EXPONENTS[currency]
    return str(Decimal(amount_minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))


def dumps_with_exact_numbers(document: Any) -> bytes:
    """JSON where Decimal values become JSON numbers written exactly (never via float)."""
    placeholders: dict[str, str] = {}

    def encode(value: Any) -> Any:
        if isinstance(value, Decimal):
            token = f"__exact_number_{len(placeholders)}__"
            placeholders[token] = str(value)
            return token
        raise TypeError(f"not JSON serializable: {type(value).__name__}")

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, Decimal):
            return encode(value)
        return value

    text = json.dumps(walk(document), separators=(",", ":"))
    for token, number in placeholders.items():
        text = text.replace(f'"{token}"', number)
    return text.encode()


def dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


# --- delivery-order scenarios (what real providers do to us) --------------------


def duplicated(deliveries: Iterable[Delivery], times: int) -> list[Delivery]:
    """Each delivery sent ``times`` times in a row (a provider retrying after a timeout)."""
    return [d for d in deliveries for _ in range(times)]


def reordered(deliveries: Sequence[Delivery], seed: int) -> list[Delivery]:
    """A seeded shuffle: order of delivery is not guaranteed."""
    shuffled = list(deliveries)
    random.Random(seed).shuffle(shuffled)  # noqa: S311 - test ordering, not crypto
    return shuffled
