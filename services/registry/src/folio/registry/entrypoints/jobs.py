"""Periodic jobs run inside the service process (Runtime background tasks)."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog

from folio.registry.domain.kpis import local_date_of
from folio.registry.service.beds24_sync import Beds24Sync
from folio.registry.service.occupancy import take_daily_snapshots
from folio.registry.service.unit_of_work import RegistryUnitOfWork
from folio.registry.settings import RegistrySettings

log = structlog.get_logger(__name__)


async def snapshot_completed_nights(
    uow_factory: Callable[[], RegistryUnitOfWork], *, now: datetime, max_age: timedelta
) -> dict[str, int]:
    """Snapshot each building's last two completed local nights (yesterday, and the day
    before in case a round was missed). Rows that exist are left as they are, so
    running this every interval is safe."""
    totals = {"inserted": 0, "unchanged": 0, "buildings": 0}
    async with uow_factory() as uow:
        buildings = await uow.repo.all_buildings()
    for building in buildings:
        yesterday = local_date_of(now, building["timezone"]) - timedelta(days=1)
        async with uow_factory() as uow:
            result = await take_daily_snapshots(
                uow,
                start_date=yesterday - timedelta(days=1),
                end_date=yesterday,
                building_id=building["id"],
                now=now,
                max_age=max_age,
            )
            await uow.commit()
        for key in totals:
            totals[key] += result[key]
    return totals


def daily_snapshot_job(settings: RegistrySettings, uow_factory: Callable[[], RegistryUnitOfWork]):
    async def run_forever() -> None:
        max_age = timedelta(seconds=settings.beds24_max_age_seconds)
        while True:
            try:
                result = await snapshot_completed_nights(
                    uow_factory, now=datetime.now(UTC), max_age=max_age
                )
                log.info("snapshots.taken", **result)
            except Exception as exc:  # keep the job alive; the next round retries
                log.warning("snapshots.failed", error=repr(exc))
            await asyncio.sleep(settings.snapshot_interval_seconds)

    return run_forever


def beds24_sync_job(
    settings: RegistrySettings,
    sync: Beds24Sync,
    close: Callable[[], Awaitable[None]],
):
    """Starts a scheduled full sync every interval and runs each job's steps when
    the credits allow (the job's ``next_run_at``); woken at once by the API."""

    async def run_forever() -> None:
        interval = timedelta(seconds=settings.beds24_sync_interval_seconds)
        poll = settings.beds24_sync_poll_seconds
        try:
            while True:
                wait: float | None = None
                try:
                    await sync.schedule_periodic(
                        interval=interval, days_ahead=settings.beds24_sync_days_ahead
                    )
                    await sync.run_due()
                    wait = await sync.seconds_until_due()
                except Exception as exc:  # keep the loop alive; the next round retries
                    log.warning("beds24.sync_round_failed", error=repr(exc))
                await sync.wait_for_work(min(poll, wait) if wait is not None else poll)
        finally:
            await close()

    return run_forever
