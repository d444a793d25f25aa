"""Console settings (environment, prefix ``FOLIO_``).

The console is a client of the services' public HTTP APIs: by default all of them
through the one gateway (``FOLIO_GATEWAY_URL``); each can be pointed elsewhere
(``FOLIO_LEDGER_URL``, ``FOLIO_REGISTRY_URL`` ...), which the tests do to reach a service directly.
"""

from pydantic import Field, model_validator

from folio.shared.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    service_name: str = "console"
    db_schema: str = "console"
    http_port: int = 8105
    #: The console neither consumes nor publishes events.
    run_messaging: bool = False
    max_body_bytes: int = 65_536
    gateway_url: str = "http://127.0.0.1:8080"
    #: Base URL of the ledger (its routes start with /api/ledger); the gateway's by default.
    ledger_url: str | None = None
    #: Base URL of the registry (its routes start with /api/registry); the gateway's by default.
    registry_url: str | None = None
    #: Seconds a service call may take before the page says the service is unavailable.
    service_timeout_seconds: float = 10.0
    #: Lifetime of the per-user token the console sends to the services.
    service_token_ttl_seconds: int = Field(default=300, ge=30, le=900)
    #: A session ends after this long without a request ...
    session_idle_seconds: int = 30 * 60
    #: ... and this long after sign-in, whatever happens.
    session_absolute_seconds: int = 12 * 3600
    #: ``Secure`` on the session cookie; default: everywhere but local and test.
    cookie_secure: bool | None = None
    #: Failed sign-ins (per e-mail, per client address) counted over this window.
    throttle_window_seconds: int = 15 * 60
    #: From this many failures on, each answer is delayed (slowed) ...
    throttle_slow_after: int = 3
    throttle_delay_seconds: float = 0.5
    throttle_max_delay_seconds: float = 4.0
    #: ... and from this many on, refused with 429 without looking at the password.
    throttle_refuse_after: int = 9
    #: Failures allowed from one client address, as a multiple of the above.
    throttle_address_factor: int = 5
    #: Where npm ci put the front-end packages (default: services/console/node_modules).
    assets_dir: str | None = None
    #: Rows of a payments page.
    page_size: int = Field(default=50, ge=1, le=200)

    @model_validator(mode="after")
    def _defaults(self) -> "ConsoleSettings":
        if self.cookie_secure is None:
            self.cookie_secure = self.environment not in ("local", "test")
        if self.ledger_url is None:
            self.ledger_url = self.gateway_url
        if self.registry_url is None:
            self.registry_url = self.gateway_url
        return self
