"""Exact money: integer minor units plus an ISO 4217 currency, never floats."""

from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import StringConstraints

#: Decimal places of the currencies Folio handles.
CURRENCY_EXPONENTS: dict[str, int] = {"SAR": 2, "AED": 2, "CAD": 2, "USD": 2, "KWD": 3}

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


def exponent_of(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise ValueError(f"unsupported currency {currency!r}") from None


def to_minor(amount: str | int | Decimal, currency: str) -> int:
    """Convert a decimal amount ("100.50", Decimal) to integer minor units, exactly.

    Refuses amounts with more decimals than the currency has instead of rounding,
    because a silently rounded payment is a wrong number in the books.
    """
    if isinstance(amount, float):
        raise TypeError("floats are not accepted for money; pass a string or Decimal")
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {amount!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    scaled = value.scaleb(exponent_of(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount!r} has more decimals than {currency} allows")
    return int(scaled)


def minor_to_decimal(amount_minor: int, currency: str) -> Decimal:
    """Integer minor units back to a Decimal with the currency's exponent."""
    exp = exponent_of(currency)
    return Decimal(amount_minor).scaleb(-exp).quantize(Decimal(1).scaleb(-exp))
