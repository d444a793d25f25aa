"""Settings shared by every service (pydantic-settings, read from the environment)."""

from typing import Literal

from pydantic import AliasChoices, Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from folio.shared.auth import LOCAL_DEV_KEY_ID, TokenVerifier, local_dev_signer, public_pem

Environment = Literal["local", "test", "production"]


class ServiceSettings(BaseSettings):
    """Base settings; each service subclasses it and sets ``service_name``/``db_schema``.

    ``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` are shared names so that one
    environment can point every service (and the tests) at real infrastructure.
    """

    model_config = SettingsConfigDict(env_prefix="FOLIO_", extra="ignore", populate_by_name=True)
    _token_verifier: TokenVerifier = PrivateAttr()

    service_name: str = "folio"
    db_schema: str = "public"
    environment: Environment = Field(
        default="local", validation_alias=AliasChoices("FOLIO_ENV", "environment")
    )
    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/folio",
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
    )
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"),
    )
    #: Public keys that verify admin tokens, ``{"<kid>": "<PEM>"}`` (two while rotating);
    #: the local development key outside production. No private key here: services
    #: verify, only the token issuers sign.
    jwt_public_keys: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FOLIO_JWT_PUBLIC_KEYS", "jwt_public_keys"),
    )
    jwt_issuer: str = "folio"
    #: Longest lifetime (exp - iat) an admin token may have; longer ones are refused.
    jwt_max_lifetime_seconds: int = 12 * 3600
    #: Serve /metrics, /openapi.json, /asyncapi.json and /docs without a token
    #: (default: everywhere but production).
    ops_public: bool | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8100
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"
    log_json: bool = True
    #: Consumers: retries of a failing message before it goes to the DLQ.
    consumer_max_attempts: int = 5
    consumer_backoff_seconds: float = 0.2
    consumer_batch_size: int = 500
    #: Start Kafka consumers and the outbox relay with the HTTP app.
    run_messaging: bool = True
    #: How long startup waits for the broker before serving HTTP without it.
    broker_connect_wait_seconds: float = 15.0

    @model_validator(mode="after")
    def _secrets_have_no_default_in_production(self) -> "ServiceSettings":
        if self.ops_public is None:
            self.ops_public = self.environment != "production"
        if self.jwt_public_keys is None:
            if self.environment == "production":
                raise ValueError("FOLIO_JWT_PUBLIC_KEYS must be set when FOLIO_ENV=production")
            self.jwt_public_keys = local_dev_signer().public_keys_json()
        verifier = TokenVerifier.from_json(self.jwt_public_keys)  # fails early if malformed
        local_pem = local_dev_signer().public_pem()
        if self.environment == "production" and (
            LOCAL_DEV_KEY_ID in verifier.key_ids
            or any(public_pem(key) == local_pem for key in verifier.public_keys.values())
        ):
            raise ValueError("the local development token key cannot be used in production")
        self._token_verifier = verifier
        return self

    @property
    def token_verifier(self) -> TokenVerifier:
        return self._token_verifier

    @property
    def async_database_url(self) -> str:
        """The URL with the asyncpg driver, whatever scheme the environment gave."""
        return to_asyncpg_url(self.database_url)


def to_asyncpg_url(url: str) -> str:
    for prefix in (
        "postgresql+asyncpg://",
        "postgresql+psycopg://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def to_plain_url(url: str) -> str:
    """The libpq form (``postgresql://``) that asyncpg.connect accepts."""
    return "postgresql://" + to_asyncpg_url(url)[len("postgresql+asyncpg://") :]
