"""Read views for the admin API."""

from typing import Any

from folio.rotessa_sync.domain.backfill import BackfillMetrics, BackfillStatus
from folio.rotessa_sync.service.backfill import with_ledger_answers


async def backfill_view(uow: Any, row: Any) -> dict[str, Any]:
    """A backfill with its metrics; a running one shows the ledger's answers so far."""
    metrics = BackfillMetrics.from_dict(row.metrics)
    if row.status == BackfillStatus.RUNNING.value:
        metrics = with_ledger_answers(metrics, await uow.repo.command_counts(row.backfill_id))
    return {
        "backfill_id": str(row.backfill_id),
        "mortgage_id": row.mortgage_id,
        "schedule_id": row.schedule_id,
        "triggered_by": row.triggered_by,
        "status": row.status,
        "metrics": metrics.as_dict(),
        "progress": {
            "phase": (
                "reading"
                if not row.report_finished and row.status == "RUNNING"
                else "awaiting_ledger"
                if row.status == "RUNNING"
                else "done"
            ),
            "pages_read": row.next_page - 1,
            "report_finished": row.report_finished,
            "outstanding": metrics.outstanding,
        },
        "errors": row.errors,
        "window": {"start": row.window_start.isoformat(), "end": row.window_end.isoformat()},
        "started_at": row.started_at.isoformat(),
        "completed_at": row.completed_at.isoformat() if row.completed_at else None,
        "attempts": row.attempts,
        "retry_of": str(row.retry_of) if row.retry_of else None,
    }
