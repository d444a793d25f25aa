"""Rotessa-sync settings (environment, prefix ``FOLIO_``)."""

from pydantic import Field, SecretStr, model_validator

from folio.rotessa_sync.domain.effective_time import DEFAULT_BUSINESS_TIMEZONE
from folio.shared.settings import ServiceSettings

#: The local simulator's key; refused in production.
LOCAL_SIMULATOR_API_KEY = "sim-rotessa-key"


class RotessaSyncSettings(ServiceSettings):
    service_name: str = "rotessa"
    db_schema: str = "rotessa_sync"
    http_port: int = 8103

    #: Rotessa API (the local stack points this at the simulator on port 8201).
    rotessa_base_url: str = "http://127.0.0.1:8201/v1"
    rotessa_api_key: SecretStr | None = None
    rotessa_currency: str = "CAD"
    rotessa_timeout_seconds: float = 15.0
    rotessa_max_attempts: int = 5
    rotessa_backoff_initial_seconds: float = 0.2
    rotessa_backoff_max_seconds: float = 5.0
    rotessa_max_concurrency: int = 4
    #: Process dates take effect at 00:00 in this zone (see domain/effective_time.py).
    rotessa_timezone: str = DEFAULT_BUSINESS_TIMEZONE

    #: Backfills: how many run at once, how long a runner's claim lasts without renewal.
    backfill_concurrency: int = 2
    backfill_lease_seconds: float = 30.0
    backfill_poll_seconds: float = 1.0
    backfill_prefetch_pages: int = 1

    #: Ledger answers arrive one per command (a backfill's thousands on one partition);
    #: each consumer batch pays an inbox insert, one UPDATE and a commit whatever its size.
    consumer_batch_size: int = 2_000

    #: Periodic sync of linked schedules.
    sync_enabled: bool = True
    sync_interval_seconds: float = 300.0
    #: How far back each sync re-reads the report (chargebacks arrive weeks later).
    sync_lookback_days: int = 120

    #: The local catalogue of Rotessa's schedules (the unlinked-schedule listing reads it):
    #: refreshed every interval when enabled, on request (POST /schedules/refresh), and
    #: when a view finds it missing or older than the interval. A refresh costs 1 + N
    #: Rotessa requests (N customers); a view costs none.
    catalogue_refresh_enabled: bool = True
    catalogue_refresh_seconds: float = Field(default=900.0, gt=0)

    @model_validator(mode="after")
    def _rotessa_key_has_no_default_in_production(self) -> "RotessaSyncSettings":
        if self.rotessa_api_key is None:
            if self.environment == "production":
                raise ValueError("FOLIO_ROTESSA_API_KEY must be set when FOLIO_ENV=production")
            self.rotessa_api_key = SecretStr(LOCAL_SIMULATOR_API_KEY)
        return self
