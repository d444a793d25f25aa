"""Reading Rotessa's customers and schedules for the admin (through the client), and
the local catalogue of schedules the unlinked-schedule listing reads.

Rotessa has no "all schedules" request: reading them costs 1 + N requests (the
customer list, then each customer). That used to happen on every view of the
listing; now a background refresh does it once per interval (or when an admin asks,
or when a view finds the catalogue missing or older than the interval), and views
read the table. One refresh at a time across processes: it holds the
``schedule-catalogue`` lease in ``sync_cursor``, which also records its age.
"""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from folio.rotessa_sync.adapters.rotessa_client import RotessaClient, RotessaError
from folio.rotessa_sync.domain.linking import unlinked_schedules
from folio.rotessa_sync.domain.model import RotessaSchedule

log = structlog.get_logger(__name__)

CATALOGUE_NAME = "schedule-catalogue"


async def fetch_all_schedules(client: RotessaClient) -> list[RotessaSchedule]:
    """Every customer's schedules (the client bounds how many requests run at once)."""
    customers = await client.list_customers()
    details = await asyncio.gather(*(client.get_customer(c.id) for c in customers))
    return [s for detail in details for s in detail.schedules(client.currency)]


async def find_schedule(
    client: RotessaClient, schedule_id: int, customer_id: int | None = None
) -> RotessaSchedule | None:
    if customer_id is not None:
        detail = await client.get_customer(customer_id)
        schedules = detail.schedules(client.currency)
    else:
        schedules = await fetch_all_schedules(client)
    return next((s for s in schedules if s.schedule_id == schedule_id), None)


@dataclass(frozen=True, slots=True)
class CatalogueState:
    refreshed_at: datetime | None
    refreshing: bool
    last_error: str | None

    def age_seconds(self, now: datetime) -> int | None:
        if self.refreshed_at is None:
            return None
        return max(0, int((now - self.refreshed_at).total_seconds()))


def catalogue_state(row: Any, now: datetime) -> CatalogueState:
    if row is None:
        return CatalogueState(None, False, None)
    refreshing = row.lease_owner is not None and (
        row.lease_expires_at is not None and row.lease_expires_at > now
    )
    return CatalogueState(row.last_finished_at, refreshing, row.last_error)


@dataclass(frozen=True, slots=True)
class UnlinkedView:
    schedules: list[RotessaSchedule]
    state: CatalogueState
    age_seconds: int | None


async def unlinked_view(uow: Any, refresher: "CatalogueRefresher") -> UnlinkedView:
    """The unlinked schedules as the catalogue holds them (no Rotessa request). A
    catalogue missing or older than the refresh interval asks for a refresh, which
    this view does not wait for: it shows what there is, and how old it is."""
    now = await uow.now()
    state = catalogue_state(await uow.repo.get_sync(CATALOGUE_NAME), now)
    schedules = await uow.repo.catalogue()
    linked = await uow.repo.linked_schedule_ids()
    age = state.age_seconds(now)
    if not state.refreshing and (age is None or age > refresher.interval_seconds):
        refresher.wake_unless_busy()
    return UnlinkedView(unlinked_schedules(schedules, linked), state, age)


class CatalogueRefresher:
    """Keeps ``schedule_catalogue`` a copy of Rotessa's schedules, in the background."""

    def __init__(
        self,
        *,
        client_factory: Callable[[], RotessaClient],
        uow_factory: Callable[[], Any],
        interval_seconds: float,
        periodic: bool,
        lease_seconds: float = 300.0,
    ) -> None:
        self._client_factory = client_factory
        self._uow_factory = uow_factory
        self.interval_seconds = interval_seconds
        self._periodic = periodic
        self._lease_seconds = lease_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._owner: str | None = None  # while this process holds the lease
        self._busy = False  # from taking a request until its refresh is done

    def wake(self) -> None:
        """Ask for a refresh that starts after this call (the caller does not wait)."""
        self._wake.set()

    def wake_unless_busy(self) -> None:
        """Ask for a refresh unless one is asked for or running in this process (a view
        that finds the catalogue stale needs one refresh, not one per view)."""
        if not self._busy:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: S110 - shutting down
                pass
            self._task = None
        await self._release()  # cut short: the next process need not wait the lease out

    async def run_forever(self) -> None:
        while True:
            timeout = self.interval_seconds if self._periodic else None
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            except TimeoutError:
                pass
            self._busy = True
            self._wake.clear()
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next interval or request tries again
                log.warning("catalogue.refresh_error", error=repr(exc))
            finally:
                self._busy = False

    async def refresh(self) -> int | None:
        """One refresh: read every schedule from Rotessa, then replace the catalogue in
        one transaction. Returns how many schedules it holds, or None when another
        refresh holds the lease or Rotessa failed (the previous catalogue stays)."""
        owner = f"catalogue-{uuid.uuid4()}"
        async with self._uow_factory() as uow:
            claimed = await uow.repo.claim_sync(
                CATALOGUE_NAME, owner, self._lease_seconds, await uow.now()
            )
            await uow.commit()
        if not claimed:
            return None
        self._owner = owner
        try:
            return await self._refresh_holding_the_lease()
        except asyncio.CancelledError:
            raise  # shutting down: stop() frees the lease (self._owner names it)
        except Exception:
            await self._release()
            raise

    async def _release(self) -> None:
        if self._owner is not None:
            async with self._uow_factory() as uow:
                await uow.repo.release_sync(CATALOGUE_NAME, self._owner)
                await uow.commit()
            self._owner = None

    async def _refresh_holding_the_lease(self) -> int | None:
        client = self._client_factory()
        try:
            schedules = await fetch_all_schedules(client)
        except RotessaError as exc:
            log.warning("catalogue.rotessa_failed", status=exc.status, error=str(exc)[:500])
            async with self._uow_factory() as uow:
                await uow.repo.update_sync(CATALOGUE_NAME, last_error=str(exc)[:1000])
                await uow.commit()
            await self._release()
            return None
        finally:
            await client.aclose()
        async with self._uow_factory() as uow:
            now = await uow.now()
            await uow.repo.replace_catalogue(schedules, now)
            await uow.repo.update_sync(
                CATALOGUE_NAME,
                last_finished_at=now,
                last_error=None,
                metrics={"schedules": len(schedules)},
                lease_owner=None,
                lease_expires_at=None,
            )
            await uow.commit()
        self._owner = None
        log.info("catalogue.refreshed", schedules=len(schedules))
        return len(schedules)
