"""Registry settings (environment variables prefixed ``FOLIO_``)."""

from pydantic import SecretStr, model_validator

from folio.shared.settings import ServiceSettings

LOCAL_BEDS24_SIMULATOR = "http://127.0.0.1:8202/v2"
LOCAL_BEDS24_REFRESH_TOKEN = "sim-refresh-token"  # the simulator's; local env only


class RegistrySettings(ServiceSettings):
    service_name: str = "registry"
    db_schema: str = "registry"
    http_port: int = 8102
    #: Beds24 (read only). Without a refresh token the sync job stays off.
    beds24_base_url: str | None = None
    beds24_refresh_token: SecretStr | None = None
    beds24_timeout_seconds: float = 10.0
    #: An observation older than this no longer counts: the unit becomes UNKNOWN.
    beds24_max_age_seconds: int = 6 * 3600
    #: A scheduled full sync starts this long after the last one finished.
    beds24_sync_interval_seconds: float = 900.0
    beds24_sync_days_ahead: int = 1
    #: Properties per unitBookings request (Beds24 takes propertyId as an array).
    beds24_max_properties_per_request: int = 100
    #: Credits of the five-minute window the sync leaves to other users of the account.
    beds24_credit_reserve: int = 0
    #: How often the background loop looks for a due sync step when nothing is scheduled.
    beds24_sync_poll_seconds: float = 5.0
    #: Periodic daily snapshot of today and yesterday (idempotent).
    snapshot_interval_seconds: float = 3600.0
    run_jobs: bool = True

    @model_validator(mode="after")
    def _local_beds24_defaults(self) -> "RegistrySettings":
        # Locally the stack runs the Beds24 simulator; elsewhere nothing is assumed.
        if self.environment == "local":
            if self.beds24_base_url is None:
                self.beds24_base_url = LOCAL_BEDS24_SIMULATOR
            if self.beds24_refresh_token is None:
                self.beds24_refresh_token = SecretStr(LOCAL_BEDS24_REFRESH_TOKEN)
        return self

    @property
    def beds24_sync_enabled(self) -> bool:
        return bool(self.beds24_base_url and self.beds24_refresh_token)
