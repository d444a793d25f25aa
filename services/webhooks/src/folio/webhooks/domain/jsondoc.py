"""Provider JSON, read in two steps so that nothing costly happens before authentication.

:func:`parse` checks the syntax and the nesting and converts **no number**: each
number stays its source text (:class:`RawNumber`), so a 200,000-digit integer or
``1e999999`` costs what scanning its characters costs. Moyasar's secret is in the
body; it is found in this tree. Only after authentication does :func:`resolve`
turn the tree into plain values, with every number bounded (length, exponent)
before it is converted, and an object that repeats a key refused (which of two
values would a reader believe?). Redaction writes the tree back for storage,
number text and repeated keys as they came.
"""

import json
from decimal import Decimal
from typing import Any

from folio.webhooks.domain.deliveries import MalformedDelivery

#: Objects and arrays nested deeper than this are not a provider's payload.
MAX_DEPTH = 32
#: A number's text (sign, digits, point, exponent) longer than this is refused.
MAX_NUMBER_CHARS = 40
#: ``1e40`` is the largest magnitude of exponent written in a number or amount.
MAX_EXPONENT = 40


class NumberOutOfBounds(MalformedDelivery):
    """A number (or numeric string) beyond the bounds above: refused, never converted."""


class DuplicateKey(MalformedDelivery):
    """A JSON object names the same key twice."""


class RawNumber:
    """A JSON number as written; converted by :func:`resolve`, within bounds."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"RawNumber({self.text[:20]!r})"


class RawConstant(RawNumber):
    """``NaN``, ``Infinity`` or ``-Infinity`` (which Python's decoder accepts): never money."""


class Pairs(list):
    """An object whose keys repeat, kept as its ``(key, value)`` pairs in order."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any] | Pairs:
    obj = dict(pairs)
    return obj if len(obj) == len(pairs) else Pairs(pairs)


def _children(node: Any) -> Any:
    if isinstance(node, dict):
        return node.values()
    if isinstance(node, Pairs):
        return (value for _, value in node)
    return node  # a list


def parse(body: bytes) -> dict[str, Any] | Pairs:
    """Syntax only: an object, at most :data:`MAX_DEPTH` deep, numbers left as text."""
    try:
        tree = json.loads(
            body,
            object_pairs_hook=_object,
            parse_int=RawNumber,
            parse_float=RawNumber,
            parse_constant=RawConstant,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedDelivery(f"body is not JSON: {type(exc).__name__}") from None
    if not isinstance(tree, dict | Pairs):
        raise MalformedDelivery("body is not a JSON object")
    # Iterative, so a deep document cannot exhaust the stack here; the recursive
    # walks below then never go deeper than MAX_DEPTH.
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise MalformedDelivery(f"JSON nested deeper than {MAX_DEPTH}")
        stack.extend((c, depth + 1) for c in _children(node) if isinstance(c, dict | list))
    return tree


def number_value(text: str) -> int | Decimal:
    """A JSON number's text as an int (no point, no exponent) or an exact Decimal."""
    if len(text) > MAX_NUMBER_CHARS:
        raise NumberOutOfBounds(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    mantissa, _, exponent = text.lower().partition("e")
    if exponent and abs(int(exponent)) > MAX_EXPONENT:
        raise NumberOutOfBounds(f"a number with exponent {exponent} (at most ±{MAX_EXPONENT})")
    if not exponent and "." not in mantissa:
        return int(text)
    return Decimal(text)


def resolve(tree: Any) -> Any:
    """Plain values (dict, list, str, int, Decimal, bool, None) from a parsed tree."""
    if isinstance(tree, dict):
        return {key: resolve(value) for key, value in tree.items()}
    if isinstance(tree, Pairs):
        keys = [key for key, _ in tree]
        repeated = next(key for key in keys if keys.count(key) > 1)
        raise DuplicateKey(f"JSON object repeats the key {repeated[:64]!r}")
    if isinstance(tree, list):
        return [resolve(item) for item in tree]
    if isinstance(tree, RawConstant):
        raise MalformedDelivery(f"non-finite number {tree.text} in JSON")
    if isinstance(tree, RawNumber):
        return number_value(tree.text)
    return tree


def read(body: bytes) -> dict[str, Any]:
    """:func:`parse` then :func:`resolve`: a body's plain values, every number bounded."""
    return resolve(parse(body))


def values_of(tree: dict[str, Any] | Pairs, key: str) -> list[Any]:
    """Every value ``key`` has in one object (two if the object repeats it)."""
    items = tree.items() if isinstance(tree, dict) else tree
    return [value for name, value in items if name == key]
