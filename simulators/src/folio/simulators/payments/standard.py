"""Standard Webhooks sender (standardwebhooks.com) for Folio's generic intake."""

import uuid
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from folio.simulators.payments.wire import LOCAL_STANDARD_WEBHOOK_SECRET, Delivery, dumps

PATH = "/api/webhooks/standard"


class StandardWebhooksSender:
    def __init__(self, secret: str = LOCAL_STANDARD_WEBHOOK_SECRET):
        self.secret = secret

    def delivery(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        webhook_id: str | None = None,
        sent_at: datetime | None = None,
        secret: str | None = None,
    ) -> Delivery:
        sent_at = sent_at or datetime.now(UTC)
        body = dumps({"type": event_type, "timestamp": sent_at.isoformat(), "data": data})
        msg_id = webhook_id or f"msg_{uuid.uuid4().hex}"
        signature = Webhook(secret or self.secret).sign(msg_id, sent_at, body.decode())
        return Delivery(
            provider="standard",
            path=PATH,
            body=body,
            headers={
                "Content-Type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(sent_at.timestamp())),
                "webhook-signature": signature,
            },
            description=f"standard {event_type} {msg_id}",
        )
