"""OpenAPI documentation of the provider routes: each body with an example, every answer.

The routes read their bodies raw (authentication needs the exact bytes, and
Moyasar's secret is inside them), so FastAPI cannot infer a request body: it is
described here, per provider, naming where the merchant reference (Folio's
invoice number) goes. Nothing here validates anything; it documents.
"""

from typing import Any, Literal

from pydantic import BaseModel, Field

from folio.shared.problems import PROBLEM_MEDIA_TYPE
from folio.webhooks.domain.bounds import HEADER_CAPS, MAX_AMOUNT_MINOR, MAX_HEADER_CHARS
from folio.webhooks.domain.jsondoc import MAX_DEPTH, MAX_EXPONENT, MAX_NUMBER_CHARS


class DeliveryReceipt(BaseModel):
    """The delivery is stored (its events, if any, wait in the outbox)."""

    delivery_id: str = Field(description="UUID of the stored delivery (see /admin/deliveries)")
    state: Literal["accepted", "duplicate", "rejected", "unmapped"]


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=["urn:folio:problem:webhook-unauthenticated"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class OutOfRangeProblem(ProblemDetails):
    """An authenticated delivery with a number beyond intake's bounds: stored as rejected."""

    delivery_id: str
    state: Literal["rejected", "duplicate"]


def _problem(description: str, model: type[BaseModel] = ProblemDetails) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": model.model_json_schema()}},
    }


LIMITS = (
    f"Bounds: body at most the service's FOLIO_MAX_BODY_BYTES (256 KiB), JSON nested at most "
    f"{MAX_DEPTH} deep, every number at most {MAX_NUMBER_CHARS} characters with an exponent "
    f"within ±{MAX_EXPONENT}, amounts at most {MAX_AMOUNT_MINOR} minor units; header values "
    f"at most {MAX_HEADER_CHARS} characters (webhook-id {HEADER_CAPS['webhook-id']}), no "
    "control characters in headers or query parameters, credential headers given once."
)

PROVIDER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": DeliveryReceipt,
        "description": "Stored (duplicates and content that "
        "cannot become payment facts too: a retry could not fix them, an admin can see them)",
    },
    400: _problem(
        "Headers or query parameters no provider sends (control characters, "
        "over-long or repeated credential headers); nothing stored"
    ),
    401: _problem("The delivery could not be authenticated; nothing stored"),
    413: _problem("Body larger than the limit; refused before parsing or verification"),
    422: _problem(
        "Authenticated, but a number or amount is beyond intake's bounds: stored as "
        "rejected (an admin can see it), nothing emitted",
        OutOfRangeProblem,
    ),
    503: _problem("The delivery could not be stored; the provider should retry"),
}

_INVOICE = "INV-2026-000001"

_MOYASAR_EXAMPLE = {
    "id": "0a5b7a2e-5c1c-4d8a-9f0e-1d3f0c6b2a11",
    "type": "payment_paid",
    "created_at": "2026-11-21T10:00:00Z",
    "secret_token": "<the secret configured on the webhook>",
    "account_name": "folio",
    "live": False,
    "data": {
        "id": "7d2c3f4e-8b1a-4c5d-9e6f-0a1b2c3d4e5f",
        "status": "paid",
        "amount": 10000,
        "fee": 0,
        "currency": "SAR",
        "refunded": 0,
        "captured": 10000,
        "captured_at": "2026-11-21T10:00:00Z",
        "metadata": {"invoice_number": _INVOICE},
        "source": {"type": "creditcard", "company": "mada"},
    },
}

_TABBY_EXAMPLE = {
    "id": "b1a2c3d4-0000-4000-8000-000000000001",
    "status": "closed",
    "amount": "100.00",
    "currency": "SAR",
    "created_at": "2026-11-21T10:00:00Z",
    "closed_at": "2026-11-21T10:05:00Z",
    "is_test": True,
    "order": {"reference_id": _INVOICE},
    "captures": [
        {
            "id": "c1a2c3d4-0000-4000-8000-000000000002",
            "amount": "100.00",
            "created_at": "2026-11-21T10:05:00Z",
        }
    ],
    "refunds": [],
}

_TAMARA_EXAMPLE = {
    "order_id": "d1a2c3d4-0000-4000-8000-000000000003",
    "order_reference_id": _INVOICE,
    "order_number": "T-100001",
    "event_type": "order_captured",
    "data": {
        "capture_id": "e1a2c3d4-0000-4000-8000-000000000004",
        "captured_amount": {"amount": 100.00, "currency": "SAR"},
    },
}

_STANDARD_EXAMPLE = {
    "type": "payment.verified",
    "timestamp": "2026-11-21T10:00:00Z",
    "data": {
        "provider": "moyasar",
        "payment_id": "7d2c3f4e-8b1a-4c5d-9e6f-0a1b2c3d4e5f",
        "invoice_number": _INVOICE,
        "amount": "100.00",
        "currency": "SAR",
        "capture_id": None,
        "refund_id": None,
        "reason": None,
        "method": "mada_card",
    },
}

_ID = {"type": "string", "minLength": 1, "maxLength": 128}
_TIME = {"type": "string", "format": "date-time"}
_DECIMAL_TEXT = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["100.00"]}
_MONEY_NUMBER = {
    "type": "object",
    "properties": {"amount": {"type": "number"}, "currency": {"type": "string"}},
    "required": ["amount", "currency"],
}

_SCHEMAS: dict[str, dict[str, Any]] = {
    "moyasar": {
        "type": "object",
        "required": ["id", "type", "secret_token"],
        "properties": {
            "id": {**_ID, "description": "Event id, the same on every retry: the dedupe key"},
            "type": {**_ID, "examples": ["payment_paid", "payment_refunded", "payment_failed"]},
            "created_at": _TIME,
            "secret_token": {
                "type": "string",
                "description": "The webhook's shared secret "
                "(the credential: compared in constant time, never stored)",
            },
            "live": {"type": "boolean"},
            "data": {
                "type": "object",
                "description": "The Moyasar Payment object",
                "properties": {
                    "id": _ID,
                    "status": _ID,
                    "amount": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": MAX_AMOUNT_MINOR,
                        "description": "Integer halalas (minor units)",
                    },
                    "currency": {"type": "string", "examples": ["SAR"]},
                    "refunded": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": MAX_AMOUNT_MINOR,
                        "description": "Cumulative refunded minor units",
                    },
                    "captured": {"type": "integer", "minimum": 0, "maximum": MAX_AMOUNT_MINOR},
                    "metadata": {
                        "type": "object",
                        "description": "**Merchant reference**: `metadata.invoice_number` "
                        "(also read: `invoiceNumber`, `invoice`) is Folio's invoice number",
                        "properties": {
                            "invoice_number": {"type": "string", "examples": [_INVOICE]}
                        },
                    },
                    "source": {
                        "type": "object",
                        "properties": {
                            "type": {"type": "string"},
                            "company": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
                "required": ["id", "status", "amount", "currency"],
            },
        },
    },
    "tabby": {
        "type": "object",
        "required": ["id", "status", "amount", "currency"],
        "properties": {
            "id": {**_ID, "description": "Tabby payment id"},
            "status": {**_ID, "examples": ["authorized", "closed", "rejected", "expired"]},
            "amount": _DECIMAL_TEXT,
            "currency": {"type": "string", "examples": ["SAR", "KWD"]},
            "created_at": _TIME,
            "closed_at": _TIME,
            "order": {
                "type": "object",
                "description": "**Merchant reference**: `order.reference_id` is Folio's "
                "invoice number",
                "properties": {"reference_id": {"type": "string", "examples": [_INVOICE]}},
            },
            "captures": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "amount"],
                    "properties": {"id": _ID, "amount": _DECIMAL_TEXT, "created_at": _TIME},
                },
            },
            "refunds": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "amount"],
                    "properties": {
                        "id": _ID,
                        "amount": _DECIMAL_TEXT,
                        "created_at": _TIME,
                        "reason": {"type": "string"},
                    },
                },
            },
        },
    },
    "tamara": {
        "type": "object",
        "required": ["order_id", "event_type"],
        "properties": {
            "order_id": {**_ID, "description": "Tamara order id"},
            "order_reference_id": {
                "type": "string",
                "examples": [_INVOICE],
                "description": "**Merchant reference**: Folio's invoice number",
            },
            "order_number": {"type": "string"},
            "event_type": {
                **_ID,
                "examples": [
                    "order_captured",
                    "order_refunded",
                    "order_declined",
                    "order_canceled",
                ],
            },
            "data": {
                "description": "`[]` when there is nothing to report; else e.g. "
                "`{capture_id, captured_amount{amount, currency}}` or "
                "`{refund_id, refunded_amount{amount, currency}, comment}`",
                "oneOf": [
                    {"type": "array", "maxItems": 0},
                    {
                        "type": "object",
                        "properties": {
                            "capture_id": _ID,
                            "refund_id": _ID,
                            "cancel_id": _ID,
                            "captured_amount": _MONEY_NUMBER,
                            "refunded_amount": _MONEY_NUMBER,
                            "canceled_amount": _MONEY_NUMBER,
                            "comment": {"type": "string"},
                            "declined_reason": {"type": "string"},
                        },
                    },
                ],
            },
        },
    },
    "standard": {
        "type": "object",
        "required": ["type", "data"],
        "properties": {
            "type": {
                **_ID,
                "examples": [
                    "payment.verified",
                    "payment.authorized",
                    "payment.failed",
                    "payment.refunded",
                ],
            },
            "timestamp": _TIME,
            "data": {
                "type": "object",
                "required": ["provider", "payment_id", "amount", "currency"],
                "properties": {
                    "provider": {"enum": ["moyasar", "tabby", "tamara"]},
                    "payment_id": _ID,
                    "invoice_number": {
                        "type": "string",
                        "examples": [_INVOICE],
                        "description": "**Merchant reference**: Folio's invoice number",
                    },
                    "amount": {**_DECIMAL_TEXT, "description": "Decimal string, major units"},
                    "currency": {"type": "string"},
                    "capture_id": {**_ID, "type": ["string", "null"]},
                    "refund_id": {
                        **_ID,
                        "type": ["string", "null"],
                        "description": "Required for payment.refunded",
                    },
                    "reason": {"type": ["string", "null"]},
                    "method": {**_ID, "type": ["string", "null"]},
                },
            },
        },
    },
}

_EXAMPLES = {
    "moyasar": _MOYASAR_EXAMPLE,
    "tabby": _TABBY_EXAMPLE,
    "tamara": _TAMARA_EXAMPLE,
    "standard": _STANDARD_EXAMPLE,
}

_SUMMARIES = {
    "moyasar": "A Moyasar webhook event (a payment_paid example)",
    "tabby": "A Tabby payment snapshot (closed after a full capture)",
    "tamara": "A Tamara notification (order_captured)",
    "standard": "A Standard Webhooks payment event (payment.verified)",
}


def request_body(channel: str) -> dict[str, Any]:
    """``openapi_extra`` for one provider route: its JSON body, with an example."""
    return {
        "requestBody": {
            "required": True,
            "description": LIMITS,
            "content": {
                "application/json": {
                    "schema": _SCHEMAS[channel],
                    "examples": {
                        channel: {"summary": _SUMMARIES[channel], "value": _EXAMPLES[channel]}
                    },
                }
            },
        }
    }
