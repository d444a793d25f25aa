"""Rotessa-sync bootstrap: ``folio.rotessa_sync.app:create_app`` (port 8103 in the dev stack)."""

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import structlog
from fastapi import FastAPI

from folio.rotessa_sync.adapters.rotessa_client import RotessaClient
from folio.rotessa_sync.adapters.uow import RotessaUnitOfWork
from folio.rotessa_sync.entrypoints import api
from folio.rotessa_sync.entrypoints.consumers import register_consumers
from folio.rotessa_sync.service.backfill import BackfillRunner
from folio.rotessa_sync.service.catalogue import CatalogueRefresher
from folio.rotessa_sync.service.sync import sync_linked_schedules
from folio.rotessa_sync.settings import RotessaSyncSettings
from folio.shared.app import Runtime, create_service_app
from folio.shared.dead_letters import dead_letter_router

log = structlog.get_logger(__name__)


class RotessaRuntime(Runtime):
    """The catalogue refresher runs with or without messaging (it publishes nothing)."""

    catalogue: CatalogueRefresher | None = None

    async def start(self) -> None:
        await super().start()
        if self.catalogue is not None:
            self.catalogue.start()

    async def stop(self) -> None:
        if self.catalogue is not None:
            await self.catalogue.stop()
        await super().stop()


def create_app(
    settings: RotessaSyncSettings | None = None,
    *,
    rotessa_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """``rotessa_transport`` lets tests and benchmarks reach an in-process simulator."""
    settings = settings or RotessaSyncSettings()
    runtime = RotessaRuntime.create(settings)

    def uow_factory() -> RotessaUnitOfWork:
        return RotessaUnitOfWork(runtime.sessionmaker, producer=settings.service_name)

    def rotessa_client_factory() -> RotessaClient:
        assert settings.rotessa_api_key is not None
        return RotessaClient(
            settings.rotessa_base_url,
            settings.rotessa_api_key.get_secret_value(),
            currency=settings.rotessa_currency,
            timeout_seconds=settings.rotessa_timeout_seconds,
            max_attempts=settings.rotessa_max_attempts,
            backoff_initial_seconds=settings.rotessa_backoff_initial_seconds,
            backoff_max_seconds=settings.rotessa_backoff_max_seconds,
            max_concurrency=settings.rotessa_max_concurrency,
            transport=rotessa_transport,
        )

    consumer = register_consumers(runtime.broker, settings, uow_factory)
    runner = BackfillRunner(
        client_factory=rotessa_client_factory,
        uow_factory=uow_factory,
        concurrency=settings.backfill_concurrency,
        lease_seconds=settings.backfill_lease_seconds,
        poll_seconds=settings.backfill_poll_seconds,
        timezone=settings.rotessa_timezone,
        prefetch=settings.backfill_prefetch_pages,
    )
    runtime.add_background(runner.run_forever)

    async def run_sync():
        client = rotessa_client_factory()
        try:
            today = datetime.now(UTC).astimezone(ZoneInfo(settings.rotessa_timezone)).date()
            return await sync_linked_schedules(
                client=client,
                uow_factory=uow_factory,
                today=today,
                lookback_days=settings.sync_lookback_days,
                timezone=settings.rotessa_timezone,
            )
        finally:
            await client.aclose()

    async def periodic_sync() -> None:
        while True:
            await asyncio.sleep(settings.sync_interval_seconds)
            try:
                await run_sync()
            except Exception as exc:  # the next interval tries again
                log.warning("sync.error", error=repr(exc))

    if settings.sync_enabled:
        runtime.add_background(periodic_sync)

    runtime.catalogue = CatalogueRefresher(
        client_factory=rotessa_client_factory,
        uow_factory=uow_factory,
        interval_seconds=settings.catalogue_refresh_seconds,
        periodic=settings.catalogue_refresh_enabled,
    )

    return create_service_app(
        runtime=runtime,
        title="Folio Rotessa sync",
        description="Links Rotessa schedules to mortgages; backfills and syncs their payments",
        routers=[api.router, dead_letter_router(f"/api/{settings.service_name}", uow_factory)],
        publishes=("schedule.linked", "payment.collected", "payment.reversed"),
        extra_state={
            "uow_factory": uow_factory,
            "rotessa_client_factory": rotessa_client_factory,
            "backfill_runner": runner,
            "catalogue": runtime.catalogue,
            "run_sync": run_sync,
            "consumer": consumer,
        },
    )
