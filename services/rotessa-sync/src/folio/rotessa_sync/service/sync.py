"""Periodic sync of linked schedules: new transactions and status changes.

Each run re-reads the account's transaction report over a lookback window
(chargebacks arrive weeks after the debit) and, for every linked schedule,
sends what the ledger has not been sent yet: Approved → ``payment.collected``,
Chargeback → ``payment.reversed``. References make reruns no-ops. One runner at
a time holds the sync lease; each page commits with its events.
"""

import uuid
from collections.abc import Callable
from contextlib import aclosing
from datetime import date, timedelta
from typing import Any

import structlog

from folio.rotessa_sync.adapters.rotessa_client import RotessaClient, RotessaError
from folio.rotessa_sync.domain.backfill import BackfillMetrics
from folio.rotessa_sync.service.pages import apply_report_page

log = structlog.get_logger(__name__)

SYNC_NAME = "linked-schedules"


async def sync_linked_schedules(
    *,
    client: RotessaClient,
    uow_factory: Callable[[], Any],
    today: date,
    lookback_days: int,
    timezone: str,
    owner: str | None = None,
    lease_seconds: float = 300.0,
) -> BackfillMetrics | None:
    """One sync pass; returns its counters, or None when another runner holds the lease."""
    owner = owner or f"sync-{uuid.uuid4()}"
    async with uow_factory() as uow:
        if not await uow.repo.claim_sync(SYNC_NAME, owner, lease_seconds, await uow.now()):
            await uow.commit()
            return None
        mortgage_of_schedule = await uow.repo.mortgage_by_schedule()
        await uow.commit()
    totals = BackfillMetrics()
    window_start = today - timedelta(days=lookback_days)
    error: str | None = None
    if mortgage_of_schedule:
        try:
            pages = client.iter_transaction_report(start_date=window_start, end_date=today)
            async with aclosing(pages):
                async for page in pages:
                    async with uow_factory() as uow:
                        outcome = await apply_report_page(
                            uow,
                            page,
                            mortgage_of_schedule=mortgage_of_schedule,
                            origin="sync",
                            backfill_id=None,
                            retry_rejected=False,
                            timezone=timezone,
                            now=await uow.now(),
                        )
                        await uow.commit()
                    for name, value in outcome.metrics.as_dict().items():
                        setattr(totals, name, getattr(totals, name) + value)
        except RotessaError as exc:
            error = str(exc)[:1000]
            log.error("sync.failed", error=error)
    async with uow_factory() as uow:
        await uow.repo.update_sync(
            SYNC_NAME,
            window_start=window_start,
            window_end=today,
            last_finished_at=await uow.now(),
            last_error=error,
            metrics=totals.as_dict(),
            lease_owner=None,
            lease_expires_at=None,
        )
        await uow.commit()
    log.info("sync.finished", error=error, **totals.as_dict())
    return totals
