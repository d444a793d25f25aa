"""Intake's input limits: what a provider's request may carry, and how text is kept safe.

Everything a delivery contributes to a database column, an index or an event is
bounded here: identifiers (length, no control characters, so a dedupe key fits
its unique index and NUL never reaches PostgreSQL), free text (control characters
and lone surrogates escaped, length capped), timestamps (convertible to UTC),
amounts (exact, at most 40 characters and exponent ±40 before any conversion,
then within the ``bigint`` columns), and the transport itself (header and query
lengths, control characters, credential headers given once).
"""

import re
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, StrictStr, StringConstraints

from folio.shared.contracts import to_minor
from folio.webhooks.domain.jsondoc import MAX_EXPONENT, MAX_NUMBER_CHARS, NumberOutOfBounds

#: Minor units are stored in ``bigint`` columns (and summed by the ledger).
MAX_AMOUNT_MINOR = 2**63 - 1
MAX_IDENTIFIER_CHARS = 128
MAX_FREE_TEXT_CHARS = 500

#: C0 controls (tab, newline and carriage return are kept), DEL, C1 controls, and
#: lone surrogates (which UTF-8, hence PostgreSQL and every event, cannot carry).
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_UNSAFE_IN_IDENTIFIER = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_UNSAFE_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # HTTP allows tab, nothing else
_UNSAFE_IN_QUERY = re.compile(r"[\x00-\x1f\x7f]")


class AmountOutOfRange(NumberOutOfBounds, ValueError):
    """An amount beyond what intake converts or stores: refused, nothing emitted."""


def printable(text: str, limit: int = MAX_FREE_TEXT_CHARS) -> str:
    """Free text safe for a text column and an event: unsafe characters as ``\\uXXXX``.

    The delivery's body is stored as received (bytes), so nothing is lost by
    escaping the copy that becomes a reason or an event field.
    """
    if _UNSAFE.search(text):
        text = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _identifier(value: str) -> str:
    if _UNSAFE_IN_IDENTIFIER.search(value):
        raise ValueError("an identifier cannot contain control characters")
    return value


def _utc(value: datetime) -> datetime:
    """Provider timestamps as aware UTC; naive ones are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59-01:00 is past year 9999 in UTC
        raise ValueError("timestamp outside years 1-9999 in UTC") from None


#: Provider ids, types and statuses: dedupe keys and indexed columns are made of them.
Identifier = Annotated[
    StrictStr,
    StringConstraints(min_length=1, max_length=MAX_IDENTIFIER_CHARS),
    AfterValidator(_identifier),
]
#: Reasons, messages, comments: kept, made safe.
FreeText = Annotated[str, AfterValidator(printable)]
ProviderTime = Annotated[datetime, AfterValidator(_utc)]


def identifier_or_none(value: object) -> str | None:
    """``value`` if it could be an :data:`Identifier`, else None."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_IDENTIFIER_CHARS:
        return None
    return None if _UNSAFE_IN_IDENTIFIER.search(value) else value


_DECIMAL_TEXT = re.compile(r"\s*[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*", re.ASCII)


def exact_minor(amount: str | int | Decimal, currency: str) -> int:
    """``to_minor`` with its input bounded first (it would convert any size, slowly).

    Raises :class:`AmountOutOfRange` for an amount too long, too large an exponent,
    or outside the ``bigint`` range; ``ValueError`` for one that is not exact money.
    """
    if isinstance(amount, bool):
        raise ValueError("a boolean is not an amount")
    if isinstance(amount, str):
        if len(amount) > MAX_NUMBER_CHARS:
            raise AmountOutOfRange(f"an amount of {len(amount)} characters")
        match = _DECIMAL_TEXT.fullmatch(amount)
        if match is None or not (match[1] or match[2]):
            raise ValueError(f"not a decimal amount: {printable(amount, 48)!r}")
        if match[3] and abs(int(match[3])) > MAX_EXPONENT:
            raise AmountOutOfRange(f"an amount with exponent {match[3]}")
    elif isinstance(amount, Decimal):
        if not amount.is_finite():
            raise ValueError("not a finite amount")
        # (the bounded JSON parse only makes small ones; this keeps the function safe alone)
        _, digits, exponent = amount.as_tuple()
        if len(digits) > MAX_NUMBER_CHARS or abs(int(exponent)) > 2 * MAX_EXPONENT:
            raise AmountOutOfRange("an amount beyond the bounds")
    elif isinstance(amount, int) and abs(amount) > MAX_AMOUNT_MINOR:
        raise AmountOutOfRange("an amount beyond 2**63 - 1")
    minor = to_minor(amount, currency)
    if abs(minor) > MAX_AMOUNT_MINOR:
        raise AmountOutOfRange(
            f"{printable(str(amount), 48)} {currency} is beyond 2**63 - 1 minor units"
        )
    return minor


def check_minor(*amounts: int) -> None:
    """Integer minor units (Moyasar) within the ``bigint`` columns."""
    if any(abs(a) > MAX_AMOUNT_MINOR for a in amounts):
        raise AmountOutOfRange("an amount beyond 2**63 - 1 minor units")


# --- the transport: headers and query parameters of a provider's request ------------

MAX_HEADER_CHARS = 4096
#: Tighter caps where a header becomes a stored key (webhook-id is the dedupe key).
HEADER_CAPS = {"webhook-id": 256, "webhook-timestamp": 32, "webhook-signature": 2048}
MAX_HEADERS = 64
MAX_QUERY_CHARS = 4096
MAX_QUERY_PARAMS = 16
#: Credentials and signature inputs: a second copy would make "which one counted" a question.
SINGLE_HEADERS = frozenset(
    {"authorization", "webhook-id", "webhook-timestamp", "webhook-signature"}
)
SINGLE_QUERY = frozenset({"tamaratoken"})


class InputRefused(ValueError):
    """The request itself is not one a provider sends (→ 400, nothing stored)."""


def check_headers(items: Iterable[tuple[str, str]], single: Collection[str] = ()) -> None:
    """Refuse control characters, over-long values and repeated credential headers."""
    seen: set[str] = set()
    once = SINGLE_HEADERS | {name.lower() for name in single}
    count = 0
    for name, value in items:
        count += 1
        lowered = name.lower()
        if count > MAX_HEADERS:
            raise InputRefused(f"more than {MAX_HEADERS} headers")
        if _UNSAFE_IN_HEADER.search(name) or _UNSAFE_IN_HEADER.search(value):
            raise InputRefused(f"header {printable(lowered, 64)!r} contains a control character")
        cap = HEADER_CAPS.get(lowered, MAX_HEADER_CHARS)
        if len(value) > cap:
            raise InputRefused(f"header {lowered!r} is longer than {cap} characters")
        if lowered in once:
            if lowered in seen:
                raise InputRefused(f"header {lowered!r} is given more than once")
            seen.add(lowered)


def check_query(items: Iterable[tuple[str, str]]) -> None:
    """Refuse control characters, over-long values and a repeated ``tamaraToken``."""
    seen: set[str] = set()
    for count, (name, value) in enumerate(items, start=1):
        if count > MAX_QUERY_PARAMS:
            raise InputRefused(f"more than {MAX_QUERY_PARAMS} query parameters")
        if _UNSAFE_IN_QUERY.search(name) or _UNSAFE_IN_QUERY.search(value):
            raise InputRefused("a query parameter contains a control character")
        if len(name) + len(value) > MAX_QUERY_CHARS:
            raise InputRefused(f"a query parameter is longer than {MAX_QUERY_CHARS} characters")
        lowered = name.lower()
        if lowered in SINGLE_QUERY:
            if lowered in seen:
                raise InputRefused(f"query parameter {name!r} is given more than once")
            seen.add(lowered)
