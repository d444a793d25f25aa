"""A backfill's lifecycle and counters (the seed's ``backfill_log``).

A backfill reads one schedule's transaction report page by page (the cursor is
the next page to read, so a killed run resumes where its last committed page
ended), publishes ledger commands, then waits for the ledger's answers.

Status:
- RUNNING   — still reading the report, or waiting for the ledger to answer.
- COMPLETED — report read to the end, every command answered, none rejected, no bad rows.
- PARTIAL   — report read to the end and every command answered, but some were
              rejected by the ledger or some rows were invalid (see ``errors``).
- FAILED    — the report could not be read to the end (e.g. Rotessa kept failing);
              a retry resumes from the cursor.
"""

from dataclasses import asdict, dataclass, fields
from datetime import date
from enum import StrEnum
from typing import Any

from folio.rotessa_sync.domain.classification import RowOutcome, TransactionPlan

MAX_RECORDED_ERRORS = 100


class BackfillStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"


#: Statuses from which an admin may start the backfill again.
RETRYABLE_STATUSES = frozenset({BackfillStatus.FAILED, BackfillStatus.PARTIAL})


@dataclass(slots=True)
class BackfillMetrics:
    """Counters of one backfill. ``settled`` = published commands the ledger has answered."""

    fetched: int = 0  # report rows of this schedule read
    approved: int = 0  # rows whose money was collected (Approved, and Chargeback ones)
    chargebacks: int = 0
    published: int = 0  # ledger commands sent by this backfill
    confirmed: int = 0  # ledger.transaction.committed for them
    duplicates: int = 0  # already sent earlier, or acknowledged by the ledger as duplicates
    rejected: int = 0  # ledger.command.rejected (not duplicates)
    declined_skipped: int = 0
    pending_skipped: int = 0  # Pending and Future rows: not money yet
    invalid: int = 0  # rows that failed validation or could not be posted
    settled: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> "BackfillMetrics":
        names = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in (raw or {}).items() if k in names})

    @property
    def outstanding(self) -> int:
        return self.published - self.settled

    def count_plan(self, plan: TransactionPlan) -> None:
        """Count one planned report row (before its commands are published)."""
        self.fetched += 1
        match plan.outcome:
            case RowOutcome.DECLINED:
                self.declined_skipped += 1
            case RowOutcome.PENDING:
                self.pending_skipped += 1
            case RowOutcome.COLLECTED:
                self.approved += 1
            case RowOutcome.CHARGED_BACK:
                self.approved += 1
                self.chargebacks += 1
        self.published += len(plan.to_publish)
        self.duplicates += len(plan.already_sent)

    def count_invalid(self) -> None:
        self.fetched += 1
        self.invalid += 1

    def count_ledger_answer(self, *, committed: bool, duplicate: bool) -> None:
        """Count the ledger's answer to one command this backfill published."""
        self.settled += 1
        if committed:
            self.confirmed += 1
        elif duplicate:
            self.duplicates += 1
        else:
            self.rejected += 1


def status_of(
    *, report_finished: bool, read_failed: bool, metrics: BackfillMetrics
) -> BackfillStatus:
    """The status a backfill has given how far it read and what the ledger answered."""
    if read_failed:
        return BackfillStatus.FAILED
    if not report_finished or metrics.outstanding > 0:
        return BackfillStatus.RUNNING
    if metrics.rejected or metrics.invalid:
        return BackfillStatus.PARTIAL
    return BackfillStatus.COMPLETED


def report_window(first_process_date: date | None, today: date) -> tuple[date, date]:
    """The report range a backfill reads: the schedule's first process date to today."""
    start = first_process_date or today
    return (min(start, today), today)


def error_entry(kind: str, message: str, **context: Any) -> dict[str, Any]:
    return {"kind": kind, "message": message[:500], **context}


def append_error(errors: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Errors are kept bounded: the first ones explain a problem, thousands would not."""
    if len(errors) >= MAX_RECORDED_ERRORS:
        return errors
    return [*errors, entry]
