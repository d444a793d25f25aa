"""Backfill use cases: start, retry, run (resumable, page by page), finalize.

A backfill row carries its own cursor (``next_page`` inside a window fixed at
start) and a lease. A runner claims a backfill by taking its lease, reads the
next page from Rotessa outside any transaction, then applies the page and moves
the cursor in one unit of work. If the process dies, the lease expires and any
runner resumes at ``next_page``: the result equals one clean run, because pages
committed earlier are never replayed and the page in flight was never committed.
"""

import asyncio
import uuid
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from folio.rotessa_sync.adapters.rotessa_client import RotessaClient, RotessaError
from folio.rotessa_sync.domain.backfill import (
    RETRYABLE_STATUSES,
    BackfillMetrics,
    BackfillStatus,
    append_error,
    error_entry,
    report_window,
    status_of,
)
from folio.rotessa_sync.domain.classification import CommandState
from folio.rotessa_sync.service.pages import apply_report_page
from folio.shared.problems import Problem, conflict, not_found

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StartBackfill:
    mortgage_id: str
    triggered_by: str
    today: date


@dataclass(frozen=True)
class RetryBackfill:
    backfill_id: uuid.UUID
    triggered_by: str
    today: date


def _merge_errors(existing: list, new: list) -> list:
    for entry in new:
        existing = append_error(existing, entry)
    return existing


async def create_backfill_row(
    uow: Any,
    link: Any,
    *,
    triggered_by: str,
    today: date,
    now: datetime,
    retry_of: uuid.UUID | None = None,
    retry_rejected: bool = False,
) -> uuid.UUID:
    """Insert a RUNNING backfill for a linked schedule (409 if one is already running)."""
    window_start, window_end = report_window(link.first_process_date, today)
    backfill_id = uuid.uuid4()
    try:
        async with uow.session.begin_nested():
            await uow.repo.create_backfill(
                backfill_id=backfill_id,
                mortgage_id=link.mortgage_id,
                schedule_id=link.schedule_id,
                triggered_by=triggered_by,
                status=BackfillStatus.RUNNING.value,
                metrics=BackfillMetrics().as_dict(),
                errors=[],
                started_at=now,
                updated_at=now,
                window_start=window_start,
                window_end=window_end,
                next_page=1,
                report_finished=False,
                retry_rejected=retry_rejected,
                attempts=1,
                retry_of=retry_of,
            )
    except IntegrityError:
        raise conflict(
            "backfill-running",
            f"schedule {link.schedule_id} already has a running backfill",
        ) from None
    await uow.audit(
        triggered_by,
        "backfill.started",
        "backfill",
        str(backfill_id),
        {
            "mortgage_id": link.mortgage_id,
            "schedule_id": link.schedule_id,
            "window": [window_start.isoformat(), window_end.isoformat()],
            "retry_of": str(retry_of) if retry_of else None,
        },
    )
    return backfill_id


async def start_backfill(command: StartBackfill, uow: Any) -> uuid.UUID:
    async with uow:
        backfill_id = await start_backfill_in(command, uow)
        await uow.commit()
    return backfill_id


async def start_backfill_in(command: StartBackfill, uow: Any) -> uuid.UUID:
    """``start_backfill`` in a unit of work the caller opened (and commits)."""
    link = await uow.repo.link_of_mortgage(command.mortgage_id)
    if link is None:
        raise Problem(
            409,
            "not-linked",
            "Conflict",
            f"mortgage {command.mortgage_id} has no linked schedule",
        )
    # A rerun re-sends what the ledger refused before (and only that: every other
    # reference already sent is a duplicate), so it cannot report COMPLETED over
    # refusals an earlier run left behind.
    return await create_backfill_row(
        uow,
        link,
        triggered_by=command.triggered_by,
        today=command.today,
        now=await uow.now(),
        retry_rejected=True,
    )


async def retry_backfill(command: RetryBackfill, uow: Any) -> uuid.UUID:
    """FAILED → resume the same backfill from its cursor; PARTIAL → a new pass that
    re-sends what the ledger rejected (``retry_of`` points at the original)."""
    async with uow:
        result = await retry_backfill_in(command, uow)
        await uow.commit()
    return result


async def retry_backfill_in(command: RetryBackfill, uow: Any) -> uuid.UUID:
    """``retry_backfill`` in a unit of work the caller opened (and commits)."""
    row = await uow.repo.get_backfill(command.backfill_id, for_update=True)
    if row is None:
        raise not_found("backfill", command.backfill_id)
    status = BackfillStatus(row.status)
    if status not in RETRYABLE_STATUSES:
        raise conflict(
            "backfill-not-retryable",
            f"backfill {command.backfill_id} is {status.value}; only FAILED or PARTIAL can be retried",
        )
    now = await uow.now()
    if status is BackfillStatus.FAILED:
        try:
            async with uow.session.begin_nested():
                await uow.repo.update_backfill(
                    command.backfill_id,
                    status=BackfillStatus.RUNNING.value,
                    completed_at=None,
                    attempts=row.attempts + 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
        except IntegrityError:
            raise conflict(
                "backfill-running", f"schedule {row.schedule_id} already has a running backfill"
            ) from None
        await uow.audit(
            command.triggered_by,
            "backfill.resumed",
            "backfill",
            str(row.backfill_id),
            {"next_page": row.next_page, "attempt": row.attempts + 1},
        )
        result = row.backfill_id
    else:
        link = await uow.repo.link_of_mortgage(row.mortgage_id)
        if link is None or link.schedule_id != row.schedule_id:
            raise conflict("not-linked", f"schedule {row.schedule_id} is no longer linked")
        result = await create_backfill_row(
            uow,
            link,
            triggered_by=command.triggered_by,
            today=command.today,
            now=now,
            retry_of=row.backfill_id,
            retry_rejected=True,
        )
    return result


async def finalize_if_settled(uow: Any, backfill_id: uuid.UUID) -> BackfillStatus | None:
    """Once the report is read and every command answered, fix the final status and
    freeze the ledger's answers into ``metrics`` (later retries cannot rewrite history)."""
    # Cheap checks first, without the row lock: while the runner is still reading,
    # confirmations must not queue behind its page transactions.
    row = await uow.repo.get_backfill(backfill_id)
    if row is None or row.status != BackfillStatus.RUNNING.value or not row.report_finished:
        return None
    if await uow.repo.has_outstanding(backfill_id):
        return None
    row = await uow.repo.get_backfill(backfill_id, for_update=True)
    if row.status != BackfillStatus.RUNNING.value or await uow.repo.has_outstanding(backfill_id):
        return None
    metrics = with_ledger_answers(
        BackfillMetrics.from_dict(row.metrics), await uow.repo.command_counts(backfill_id)
    )
    status = status_of(report_finished=True, read_failed=False, metrics=metrics)
    errors = list(row.errors)
    for command in await uow.repo.rejected_commands(backfill_id, limit=50):
        errors = append_error(
            errors,
            error_entry(
                "ledger_rejected",
                command.rejection_reason or "rejected",
                reference=command.reference,
                code=command.rejection_code,
            ),
        )
    now = await uow.now()
    await uow.repo.update_backfill(
        backfill_id,
        status=status.value,
        metrics=metrics.as_dict(),
        errors=errors,
        completed_at=now,
        updated_at=now,
        lease_owner=None,
        lease_expires_at=None,
    )
    log.info(
        "backfill.finished", backfill_id=str(backfill_id), status=status.value, **metrics.as_dict()
    )
    return status


def with_ledger_answers(metrics: BackfillMetrics, counts: dict[str, int]) -> BackfillMetrics:
    """The reading counters plus the ledger's answers so far (from the commands table)."""
    confirmed = counts.get(CommandState.CONFIRMED.value, 0)
    acknowledged = counts.get(CommandState.DUPLICATE.value, 0)
    rejected = counts.get(CommandState.REJECTED.value, 0)
    merged = BackfillMetrics.from_dict(metrics.as_dict())
    merged.confirmed = confirmed
    merged.rejected = rejected
    merged.duplicates = metrics.duplicates + acknowledged
    merged.settled = confirmed + acknowledged + rejected
    return merged


class LeaseLost(Exception):
    pass


async def run_claimed_backfill(
    backfill: Any,
    *,
    owner: str,
    client: RotessaClient,
    uow_factory: Callable[[], Any],
    lease_seconds: float,
    timezone: str,
    prefetch: int = 1,
) -> BackfillStatus | None:
    """Read the rest of a claimed backfill's report, one committed page at a time."""
    backfill_id = backfill.backfill_id
    mortgage_of_schedule = {backfill.schedule_id: backfill.mortgage_id}
    try:
        pages = client.iter_transaction_report(
            start_date=backfill.window_start,
            end_date=backfill.window_end,
            first_page=backfill.next_page,
            prefetch=prefetch,
        )
        async with aclosing(pages):
            async for page in pages:
                async with uow_factory() as uow:
                    row, now = await uow.repo.lock_backfill_at_now(backfill_id)
                    if (
                        row is None
                        or row.status != BackfillStatus.RUNNING.value
                        or row.lease_owner != owner
                        or row.next_page != page.page
                    ):
                        raise LeaseLost(str(backfill_id))
                    outcome = await apply_report_page(
                        uow,
                        page,
                        mortgage_of_schedule=mortgage_of_schedule,
                        origin="backfill",
                        backfill_id=backfill_id,
                        retry_rejected=row.retry_rejected,
                        timezone=timezone,
                        now=now,
                    )
                    metrics = BackfillMetrics.from_dict(row.metrics)
                    for name, value in outcome.metrics.as_dict().items():
                        setattr(metrics, name, getattr(metrics, name) + value)
                    await uow.repo.update_backfill(
                        backfill_id,
                        metrics=metrics.as_dict(),
                        errors=_merge_errors(list(row.errors), outcome.errors),
                        next_page=page.page + 1,
                        report_finished=page.is_last,
                        updated_at=now,
                        lease_expires_at=now + timedelta(seconds=lease_seconds),
                    )
                    status = None
                    if page.is_last:
                        status = await finalize_if_settled(uow, backfill_id)
                    await uow.commit()
                if page.is_last:
                    return status or BackfillStatus.RUNNING
    except LeaseLost:
        log.warning("backfill.lease_lost", backfill_id=str(backfill_id))
        return None
    except RotessaError as exc:
        await mark_failed(uow_factory, backfill_id, owner, exc)
        return BackfillStatus.FAILED
    return None


async def mark_failed(
    uow_factory: Callable[[], Any], backfill_id: uuid.UUID, owner: str, exc: Exception
) -> None:
    async with uow_factory() as uow:
        row = await uow.repo.get_backfill(backfill_id, for_update=True)
        if row is None or row.status != BackfillStatus.RUNNING.value or row.lease_owner != owner:
            return
        now = await uow.now()
        await uow.repo.update_backfill(
            backfill_id,
            status=BackfillStatus.FAILED.value,
            completed_at=now,
            updated_at=now,
            errors=append_error(
                list(row.errors),
                error_entry(
                    "rotessa_unavailable",
                    str(exc),
                    page=row.next_page,
                    status=getattr(exc, "status", None),
                ),
            ),
            lease_owner=None,
            lease_expires_at=None,
        )
        await uow.commit()
    log.error("backfill.failed", backfill_id=str(backfill_id), error=str(exc))


class BackfillRunner:
    """Background job: claims running backfills (new, resumed or orphaned) and runs them."""

    def __init__(
        self,
        *,
        client_factory: Callable[[], RotessaClient],
        uow_factory: Callable[[], Any],
        concurrency: int,
        lease_seconds: float,
        poll_seconds: float,
        timezone: str,
        prefetch: int = 1,
    ) -> None:
        self.owner = f"runner-{uuid.uuid4()}"
        self._client_factory = client_factory
        self._uow_factory = uow_factory
        self._concurrency = max(1, concurrency)
        self._lease_seconds = lease_seconds
        self._poll_seconds = poll_seconds
        self._timezone = timezone
        self._prefetch = prefetch
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task] = set()

    def wake(self) -> None:
        self._wake.set()

    async def claim(self) -> Any | None:
        async with self._uow_factory() as uow:
            now = await uow.now()
            row = await uow.repo.claim_backfill(self.owner, self._lease_seconds, now)
            await uow.commit()
        return row

    async def run_one(self, backfill: Any) -> BackfillStatus | None:
        client = self._client_factory()
        heartbeat = asyncio.create_task(self._heartbeat(backfill.backfill_id))
        try:
            return await run_claimed_backfill(
                backfill,
                owner=self.owner,
                client=client,
                uow_factory=self._uow_factory,
                lease_seconds=self._lease_seconds,
                timezone=self._timezone,
                prefetch=self._prefetch,
            )
        finally:
            heartbeat.cancel()
            await client.aclose()

    async def _heartbeat(self, backfill_id: uuid.UUID) -> None:
        """Renew the lease while a slow page is being fetched (Rotessa may be slow)."""
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            async with self._uow_factory() as uow:
                row = await uow.repo.get_backfill(backfill_id, for_update=True)
                if row is None or row.lease_owner != self.owner:
                    return
                now = await uow.now()
                await uow.repo.update_backfill(
                    backfill_id, lease_expires_at=now + timedelta(seconds=self._lease_seconds)
                )
                await uow.commit()

    async def finalize_settled(self) -> None:
        """Safety net: the last answer and the last page can commit concurrently, each
        seeing the other's work as not done yet; re-check finished readers here."""
        async with self._uow_factory() as uow:
            candidates = await uow.repo.awaiting_ledger()
        for backfill_id in candidates:
            async with self._uow_factory() as uow:
                if await finalize_if_settled(uow, backfill_id) is not None:
                    await uow.commit()

    async def run_forever(self) -> None:
        while True:
            try:
                await self.finalize_settled()
                while len(self._running) < self._concurrency:
                    backfill = await self.claim()
                    if backfill is None:
                        break
                    task = asyncio.create_task(self.run_one(backfill))
                    self._running.add(task)
                    task.add_done_callback(self._finished)
            except Exception:
                log.exception("backfill.runner_error")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
            except TimeoutError:
                pass

    def _finished(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("backfill.run_error", error=repr(task.exception()))
        self._wake.set()
