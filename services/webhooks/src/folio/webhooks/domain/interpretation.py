"""One entry point to interpret a delivery of any channel once it is authenticated."""

from collections.abc import Mapping
from datetime import datetime

from folio.webhooks.domain import moyasar, standard, tabby, tamara
from folio.webhooks.domain.deliveries import (
    Interpretation,
    MalformedDelivery,
    body_digest,
    rejected,
)


def interpret_delivery(
    channel: str, body: bytes, headers: Mapping[str, str], received_at: datetime
) -> Interpretation:
    """Meaning of an authenticated delivery (also used to re-interpret a stored one)."""
    if channel == "moyasar":
        try:
            event = moyasar.parse_event(body)
        except MalformedDelivery as exc:
            return rejected(f"malformed:{body_digest(body)}", str(exc))
        return moyasar.interpret(event, received_at)
    if channel == "tabby":
        return tabby.interpret(body, received_at)
    if channel == "tamara":
        return tamara.interpret(body, received_at)
    if channel == "standard":
        webhook_id = {k.lower(): v for k, v in headers.items()}.get("webhook-id", "")
        return standard.interpret(webhook_id, body, received_at)
    raise ValueError(f"unknown channel {channel!r}")
