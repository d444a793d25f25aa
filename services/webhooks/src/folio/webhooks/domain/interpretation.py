"""One entry point to interpret a delivery of any channel once it is authenticated."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from folio.webhooks.domain import jsondoc, moyasar, standard, tabby, tamara
from folio.webhooks.domain.deliveries import (
    Interpretation,
    MalformedDelivery,
    body_digest,
    rejected,
)


def interpret_delivery(
    channel: str,
    body: bytes,
    headers: Mapping[str, str],
    received_at: datetime,
    tree: Any = None,
) -> Interpretation:
    """Meaning of an authenticated delivery (also used to re-interpret a stored one).

    ``tree`` is the body already parsed by :func:`jsondoc.parse` (the endpoint parses
    once, for authentication or redaction); without it the body is parsed here.
    """
    if channel not in {"moyasar", "tabby", "tamara", "standard"}:
        raise ValueError(f"unknown channel {channel!r}")
    webhook_id = ""
    if channel == "standard":
        webhook_id = {k.lower(): v for k, v in headers.items()}.get("webhook-id", "")
    try:
        document = jsondoc.resolve(jsondoc.parse(body) if tree is None else tree)
    except MalformedDelivery as exc:
        # Standard Webhooks has its dedupe key outside the body; the others a digest of it.
        dedupe_key = webhook_id if channel == "standard" else f"malformed:{body_digest(body)}"
        out_of_range = isinstance(exc, jsondoc.NumberOutOfBounds)
        return rejected(dedupe_key, str(exc), out_of_range=out_of_range)
    if channel == "moyasar":
        return moyasar.interpret_document(document, body, received_at)
    if channel == "tabby":
        return tabby.interpret_document(document, body, received_at)
    if channel == "tamara":
        return tamara.interpret_document(document, body, received_at)
    return standard.interpret_document(webhook_id, document, received_at)
