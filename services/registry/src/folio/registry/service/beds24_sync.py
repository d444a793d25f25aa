"""The Beds24 sync within Beds24's credit budget (issue 12, "Beds24 within its budget").

Beds24 allows 100 credits per rolling five minutes per account. A full sync is a
*job* that runs in the background and spreads itself over as many windows as it
needs: each run fetches as many properties as the credits left allow, in as few
requests as possible (many ``propertyId`` per ``unitBookings`` request), records
what it learnt, and then schedules its next run for when the credits come back
(``next_run_at``), instead of sleeping inside an HTTP request.

* The first request of a job asks for one property (its cost is not known yet);
  from then on the job knows what a property costs (credits / properties, the
  highest seen) and sizes each request to what is affordable.
* Each property's last successful fetch is recorded (``beds24_property_sync``), so
  a property not fetched recently is *stale*: its units answer UNKNOWN with a
  reason (seed 003 §2: BEDS24 without fresh data → UNKNOWN, never a LOCAL
  fallback). Folio only reads from Beds24.
* One job runs at a time (a partial unique index): asking again while one runs
  returns that job.
"""

import asyncio
import contextlib
import math
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import structlog

from folio.registry.adapters.beds24 import (
    Beds24CreditsWait,
    Beds24Error,
    Beds24RateLimited,
    Beds24ReadClient,
    RoomUnitBookings,
)
from folio.registry.service.unit_of_work import RegistryUnitOfWork
from folio.shared.transactions import retry_transient

log = structlog.get_logger(__name__)
Row = dict[str, Any]
RUNNING, COMPLETED = "RUNNING", "COMPLETED"


def observations_of(
    mappings: list[Row],
    rooms: list[RoomUnitBookings],
    *,
    start_date: date,
    end_date: date,
    observed_at: datetime,
) -> list[Row]:
    """What Beds24 said about each mapped unit and night of the range."""
    by_room = {(room.property_id, room.room_id): room for room in rooms}
    observations = []
    for mapping in mappings:
        room = by_room.get((mapping["beds24_property_id"], mapping["beds24_room_id"]))
        if room is None:
            continue
        for night, counts in room.unit_bookings.items():
            if not start_date <= night <= end_date:
                continue
            if mapping["beds24_unit_number"] not in counts:
                continue  # Beds24 did not report this unit: no data, not "vacant"
            observations.append(
                {
                    "unit_id": mapping["unit_id"],
                    "stay_date": night,
                    "occupied": counts[mapping["beds24_unit_number"]] > 0,
                    "observed_at": observed_at,
                }
            )
    return observations


class Beds24Sync:
    """Creates sync jobs, runs their due steps, and reports their progress."""

    def __init__(
        self,
        uow_factory: Callable[[], RegistryUnitOfWork],
        client: Callable[[], Beds24ReadClient | None],
        *,
        clock: Callable[[], datetime],
        max_age: timedelta,
        max_properties_per_request: int = 100,
        credit_reserve: int = 0,
        lease_seconds: float = 120.0,
    ) -> None:
        self._uow_factory = uow_factory
        self._client = client
        self._clock = clock
        self._max_age = max_age
        self._max_per_request = max(max_properties_per_request, 1)
        self._reserve = max(credit_reserve, 0)
        self._lease = timedelta(seconds=lease_seconds)
        self._wake = asyncio.Event()

    async def wait_for_work(self, seconds: float) -> None:
        """Sleep ``seconds`` or until a job is requested, whichever is first."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    @property
    def configured(self) -> bool:
        return self._client() is not None

    # --- jobs ------------------------------------------------------------------

    async def request(
        self,
        *,
        start_date: date,
        end_date: date,
        building_id: uuid.UUID | None = None,
        trigger: str = "API",
    ) -> tuple[Row, bool]:
        """Start a job, or return the one already running → (job view, created)."""
        now = self._clock()
        async with self._uow_factory() as uow:
            mappings = await uow.repo.beds24_mappings(building_id)
            properties = sorted({m["beds24_property_id"] for m in mappings})
            job = await uow.repo.insert_sync_job(
                {
                    "id": uuid.uuid4(),
                    "status": RUNNING if properties else COMPLETED,
                    "trigger": trigger,
                    "start_date": start_date,
                    "end_date": end_date,
                    "building_id": building_id,
                    "property_ids": properties,
                    "pending": properties,
                    "failed": [],
                    "done_count": 0,
                    "next_run_at": now,
                    "requests": 0,
                    "credits": 0,
                    "token_fetches": 0,
                    "windows": 0,
                    "created_at": now,
                    "updated_at": now,
                    "finished_at": None if properties else now,
                }
            )
            created = job is not None
            if job is None:
                job = await uow.repo.running_sync_job()
            await uow.commit()
        if created:
            self._wake.set()
        if job is None:  # the running job finished between the two statements
            return await self.request(
                start_date=start_date, end_date=end_date, building_id=building_id, trigger=trigger
            )
        return await self._view(job), created

    async def get(self, job_id: uuid.UUID) -> Row | None:
        async with self._uow_factory() as uow:
            job = await uow.repo.get_sync_job(job_id)
        return None if job is None else await self._view(job)

    async def schedule_periodic(self, *, interval: timedelta, days_ahead: int) -> Row | None:
        """Start a scheduled full sync when the last job finished ``interval`` ago."""
        now = self._clock()
        async with self._uow_factory() as uow:
            latest = await uow.repo.latest_sync_job()
        if latest is not None and (
            latest["status"] == RUNNING or (latest["finished_at"] or now) > now - interval
        ):
            return None
        job, created = await self.request(
            start_date=(now - timedelta(days=1)).date(),
            end_date=(now + timedelta(days=days_ahead)).date(),
            trigger="SCHEDULE",
        )
        return job if created else None

    async def seconds_until_due(self) -> float | None:
        """When the running job wants its next step (None: no job running)."""
        async with self._uow_factory() as uow:
            job = await uow.repo.running_sync_job()
        if job is None:
            return None
        return max((job["next_run_at"] - self._clock()).total_seconds(), 0.0)

    # --- one step ----------------------------------------------------------------

    async def run_due(self) -> Row | None:
        """Run the running job's step if it is due: fetch what the credits allow,
        record it, and schedule the rest. Returns the job's view, or None."""
        client = self._client()
        if client is None:
            return None
        now = self._clock()
        async with self._uow_factory() as uow:
            job = await uow.repo.claim_due_sync_job(now, now + self._lease)
            await uow.commit()
        if job is None:
            return None
        before = (client.requests_sent, client.credits_spent, client.token_fetches)
        try:
            progress = await self._fetch_what_is_affordable(client, job)
        except BaseException:  # also when the process stops mid-step
            # Leave the job to be retried later, not stuck behind its lease.
            await self._save(job["id"], {"lease_until": None, "updated_at": self._clock()})
            raise
        usage = {
            "requests": job["requests"] + client.requests_sent - before[0],
            "credits": job["credits"] + client.credits_spent - before[1],
            "token_fetches": job["token_fetches"] + client.token_fetches - before[2],
            "windows": job["windows"] + (1 if client.requests_sent > before[0] else 0),
        }
        finished = not progress["pending"]
        end = self._clock()
        values = {
            **usage,
            "status": COMPLETED if finished else RUNNING,
            "next_run_at": progress["next_run_at"] or end,
            "lease_until": None,
            "last_error": progress["last_error"],
            "updated_at": end,
            "finished_at": end if finished else None,
        }
        await self._save(job["id"], values)
        log.info(
            "beds24.sync_step",
            job_id=str(job["id"]),
            pending=len(progress["pending"]),
            **usage,
        )
        return await self.get(job["id"])

    async def _fetch_what_is_affordable(self, client: Beds24ReadClient, job: Row) -> Row:
        pending: list[int] = list(job["pending"])
        failed: list[int] = list(job["failed"])
        cost = _CostModel(job["credits_per_property"], job["cost_sample_properties"])
        async with self._uow_factory() as uow:
            mappings = await uow.repo.beds24_mappings_of_properties(pending)
        by_property: dict[int, list[Row]] = {}
        for mapping in mappings:
            by_property.setdefault(mapping["beds24_property_id"], []).append(mapping)
        done = job["done_count"]
        # A property unmapped since the job started needs no credits.
        done += sum(1 for p in pending if p not in by_property)
        pending = [p for p in pending if p in by_property]
        next_run_at: datetime | None = None
        last_error: str | None = job["last_error"]
        while pending:
            try:
                await client.ensure_token()  # its credits are not a property's
            except Beds24CreditsWait as exc:
                next_run_at = self._clock() + timedelta(seconds=exc.retry_in)
                break
            except Beds24Error as exc:
                # No token (after the client's retries): nothing can be read. The job
                # ends rather than blocking the next ones; the units go stale.
                log.warning("beds24.sync_no_token", error=str(exc))
                last_error = str(exc)[:500]
                batch, pending, failed = pending, [], failed + pending
                await self._record_batch(
                    job["id"], batch, [], pending, failed, done, cost, error=last_error
                )
                break
            size, needed = self._batch(client, cost, len(pending))
            if size == 0:
                wait = client.budget.seconds_until(needed)
                next_run_at = self._clock() + timedelta(seconds=wait)
                break
            batch = pending[:size]
            spent_before = client.credits_spent
            full_window = client.budget.available() == client.budget.capacity
            error: Beds24Error | None = None
            try:
                rooms = await client.unit_bookings(
                    property_ids=batch,
                    start_date=job["start_date"],
                    end_date=job["end_date"],
                    expected_cost=cost.estimate(size),
                )
            except Beds24CreditsWait as exc:
                if not (size == 1 and full_window and isinstance(exc, Beds24RateLimited)):
                    cost.surprised()  # dearer than thought, or someone else spends too
                    next_run_at = self._clock() + timedelta(seconds=exc.retry_in)
                    break
                # One property refused with a whole window free: it costs more than the
                # account's budget and never will fit; waiting would block every job.
                error = Beds24Error(
                    f"one property costs more than a whole credit window ({exc}); "
                    "shorten the date range"
                )
            except Beds24Error as exc:
                error = exc
            if error is not None:
                # Given up for this job: these units go stale (UNKNOWN), never LOCAL.
                log.warning("beds24.sync_failed", properties=batch, error=str(error))
                last_error = str(error)[:500]
                pending, failed = pending[size:], failed + batch
                await self._record_batch(
                    job["id"], batch, [], pending, failed, done, cost, error=last_error
                )
                continue
            cost.learn(size, client.credits_spent - spent_before)
            observations = observations_of(
                [m for p in batch for m in by_property[p]],
                rooms,
                start_date=job["start_date"],
                end_date=job["end_date"],
                observed_at=self._clock(),
            )
            pending, done = pending[size:], done + len(batch)
            await self._record_batch(
                job["id"], batch, observations, pending, failed, done, cost, error=None
            )
        return {"pending": pending, "next_run_at": next_run_at, "last_error": last_error}

    def _batch(self, client: Beds24ReadClient, cost: "_CostModel", pending: int) -> tuple[int, int]:
        """(properties to ask for now, credits to wait for when that is 0)."""
        cap = min(self._max_per_request, pending)
        available = client.budget.available()
        if available is None:
            return 1, 0
        affordable = min(cap, cost.affordable(available - self._reserve))
        if affordable >= 1:
            return affordable, 0
        # Wait until a full request's worth is back, not for a trickle.
        capacity = (client.budget.capacity or available) - self._reserve
        target = max(min(cap, cost.affordable(capacity)), 1)
        return 0, cost.estimate(target) + self._reserve

    async def _record_batch(
        self,
        job_id: uuid.UUID,
        batch: list[int],
        observations: list[Row],
        pending: list[int],
        failed: list[int],
        done: int,
        cost: "_CostModel",
        *,
        error: str | None,
    ) -> None:
        """Observations, per-property freshness and the job's progress: one transaction."""
        now = self._clock()
        fetches = [
            {
                "beds24_property_id": p,
                "last_fetched_at": None if error else now,
                "last_attempt_at": now,
                "last_error": error,
            }
            for p in batch
        ]
        progress = {
            "pending": pending,
            "failed": failed,
            "done_count": done,
            "credits_per_property": cost.per_property,
            "cost_sample_properties": cost.sample,
            "lease_until": now + self._lease,  # still ours while batches go on
            "updated_at": now,
        }

        async def work() -> None:
            async with self._uow_factory() as uow:
                await uow.repo.record_observations(observations)
                await uow.repo.record_property_fetches(fetches)
                await uow.repo.update_sync_job(job_id, progress)
                await uow.commit()

        await retry_transient(work)

    async def _save(self, job_id: uuid.UUID, values: Row) -> None:
        async def work() -> None:
            async with self._uow_factory() as uow:
                await uow.repo.update_sync_job(job_id, values)
                await uow.commit()

        await retry_transient(work)

    async def _view(self, job: Row) -> Row:
        """What ``GET /beds24/sync/{id}`` shows: progress, next run, credit use."""
        now = self._clock()
        async with self._uow_factory() as uow:
            stale = await uow.repo.count_stale_properties(job["property_ids"], now - self._max_age)
        running = job["status"] == RUNNING
        return {
            "id": job["id"],
            "status": job["status"],
            "trigger": job["trigger"],
            "start_date": job["start_date"],
            "end_date": job["end_date"],
            "building_id": job["building_id"],
            "properties": {
                "total": len(job["property_ids"]),
                "done": job["done_count"],
                "pending": len(job["pending"]),
                "failed": len(job["failed"]),
                "stale": stale,
            },
            "next_run_at": job["next_run_at"] if running else None,
            "usage": {
                "requests": job["requests"],
                "credits": job["credits"],
                "token_fetches": job["token_fetches"],
                "windows": job["windows"],
            },
            "last_error": job["last_error"],
            "created_at": job["created_at"],
            "finished_at": job["finished_at"],
        }


class _CostModel:
    """What a ``unitBookings`` request for n properties costs: at least 1 credit for
    the request plus about ``per_property`` each, learnt from ``x-request-cost``.

    Until a first answer it knows nothing and asks for one property. The figure
    comes from the largest request so far (the least distorted by rounding); a
    surprise (the budget ran out anyway) raises it by half.
    """

    REQUEST = 1

    def __init__(self, per_property: float | None, sample: int | None) -> None:
        self.per_property = per_property
        self.sample = sample or 0

    def estimate(self, properties: int) -> int:
        if self.per_property is None:
            return self.REQUEST
        return self.REQUEST + math.ceil(properties * self.per_property)

    def affordable(self, credits: int) -> int:
        """How many properties ``credits`` pay for (1 while the cost is unknown)."""
        if self.per_property is None:
            return 1 if credits >= self.REQUEST else 0
        if self.per_property <= 0:
            return credits if credits >= self.REQUEST else 0
        return max(math.floor((credits - self.REQUEST) / self.per_property), 0)

    def learn(self, properties: int, credits: int) -> None:
        observed = max(credits - self.REQUEST, 0) / properties
        if properties > self.sample:
            self.per_property, self.sample = observed, properties
        elif properties == self.sample:
            self.per_property = max(self.per_property or 0.0, observed)

    def surprised(self) -> None:
        if self.per_property is not None:
            self.per_property *= 1.5
