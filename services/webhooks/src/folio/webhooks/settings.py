"""Webhooks intake settings (environment, prefix ``FOLIO_``).

Provider credentials have local-development defaults (the same ones the payment
simulators use) only when ``FOLIO_ENV`` is ``local`` or ``test``; in production
an unset credential makes its endpoint refuse every delivery, and the local
values are refused outright.
"""

from pydantic import SecretStr, model_validator

from folio.shared.settings import ServiceSettings

LOCAL_CREDENTIALS = {
    "moyasar_webhook_secret": "local-moyasar-secret-token-not-for-production",
    "tabby_webhook_secret": "local-tabby-header-secret-not-for-production",
    "tamara_notification_token": "local-tamara-notification-token-not-for-production",
    "standard_webhook_secret": "whsec_bG9jYWwtc3RhbmRhcmQtd2ViaG9va3Mtc2VjcmV0",
}


class WebhooksSettings(ServiceSettings):
    service_name: str = "webhooks"
    db_schema: str = "webhooks"
    http_port: int = 8104
    #: Provider webhooks are small; refuse anything bigger before parsing or crypto.
    max_body_bytes: int = 262_144
    #: Most deliveries written in one transaction (group commit); 1 disables batching.
    intake_max_batch: int = 64
    #: Batches written at the same time (each holds one database connection). One
    #: keeps batches large: a second writer did not raise throughput in
    #: ``bench webhooks`` and, with smaller commits waking the relay more often,
    #: doubled the webhook → PAID p99 in ``bench webhook_latency``. More pay off when
    #: the database's round trips are long (a remote database).
    intake_writers: int = 1
    moyasar_webhook_secret: SecretStr | None = None
    #: Tabby echoes a static header chosen at webhook registration.
    tabby_webhook_header: str = "X-Tabby-Webhook-Secret"
    tabby_webhook_secret: SecretStr | None = None
    tamara_notification_token: SecretStr | None = None
    standard_webhook_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _provider_credentials(self) -> "WebhooksSettings":
        for name, local_value in LOCAL_CREDENTIALS.items():
            current: SecretStr | None = getattr(self, name)
            if self.environment == "production":
                if current is not None and current.get_secret_value() == local_value:
                    raise ValueError(f"the local development {name} cannot be used in production")
            elif current is None:
                setattr(self, name, SecretStr(local_value))
        return self

    def secret(self, name: str) -> str | None:
        value: SecretStr | None = getattr(self, name)
        return value.get_secret_value() if value is not None else None

    def credentials(self) -> tuple[str, ...]:
        """Every configured webhook credential, for masking wherever one turns up."""
        values = [self.secret(name) for name in LOCAL_CREDENTIALS]
        standard = self.secret("standard_webhook_secret")
        if standard and standard.startswith("whsec_"):
            values.append(standard.removeprefix("whsec_"))
        return tuple(v for v in values if v)
