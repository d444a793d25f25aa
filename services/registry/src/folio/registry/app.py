"""Registry bootstrap: ``folio.registry.app:create_app(settings=None) -> FastAPI`` (port 8102)."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from folio.registry.adapters.beds24 import Beds24ReadClient
from folio.registry.entrypoints import api
from folio.registry.entrypoints.consumers import register_consumers
from folio.registry.entrypoints.jobs import beds24_sync_job, daily_snapshot_job
from folio.registry.service.beds24_sync import Beds24Sync
from folio.registry.service.unit_of_work import RegistryUnitOfWork
from folio.registry.settings import RegistrySettings
from folio.shared.app import Runtime, create_service_app
from folio.shared.dead_letters import dead_letter_router


def create_app(
    settings: RegistrySettings | None = None,
    *,
    beds24_client_factory: Callable[[], Beds24ReadClient] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the app; ``beds24_client_factory`` and ``clock`` let tests inject fakes."""
    settings = settings or RegistrySettings()
    runtime = Runtime.create(settings)

    def uow_factory() -> RegistryUnitOfWork:
        return RegistryUnitOfWork(runtime.sessionmaker, producer="registry")

    register_consumers(
        runtime.broker,
        uow_factory,
        max_attempts=settings.consumer_max_attempts,
        backoff_seconds=settings.consumer_backoff_seconds,
        max_records=settings.consumer_batch_size,
    )

    if beds24_client_factory is None and settings.beds24_sync_enabled:
        base_url = settings.beds24_base_url or ""
        refresh_token = settings.beds24_refresh_token.get_secret_value()  # type: ignore[union-attr]

        def beds24_client_factory() -> Beds24ReadClient:
            return Beds24ReadClient(
                refresh_token=refresh_token,
                base_url=base_url,
                timeout_seconds=settings.beds24_timeout_seconds,
            )

    # One Beds24 client per process, so one token until it expires (not one per sync).
    kept: dict[str, Any] = {}

    def beds24_client() -> Beds24ReadClient | None:
        factory = app.state.beds24_client_factory
        if factory is None:
            return None
        if kept.get("factory") is not factory:
            kept.update(factory=factory, client=factory())
        return kept["client"]

    async def close_beds24_client() -> None:
        client = kept.pop("client", None)
        if client is not None:
            await client.aclose()

    beds24_sync = Beds24Sync(
        uow_factory,
        beds24_client,
        clock=clock or (lambda: datetime.now(UTC)),
        max_age=timedelta(seconds=settings.beds24_max_age_seconds),
        max_properties_per_request=settings.beds24_max_properties_per_request,
        credit_reserve=settings.beds24_credit_reserve,
    )

    if settings.run_jobs:
        runtime.add_background(daily_snapshot_job(settings, uow_factory))
        if beds24_client_factory is not None:
            runtime.add_background(beds24_sync_job(settings, beds24_sync, close_beds24_client))

    app = create_service_app(
        runtime=runtime,
        title="Folio registry",
        description="Buildings, units, Beds24 occupancy, bookings, renewals, mortgages, KPIs",
        routers=[api.router, dead_letter_router(api.PREFIX, api.get_uow)],
        publishes=("mortgage.changed", "renewal.requested", "booking.extended"),
        extra_state={
            "uow_factory": uow_factory,
            "beds24_client_factory": beds24_client_factory,
            "beds24_sync": beds24_sync,
            "clock": clock,
        },
    )
    return app
