"""Turning one page of Rotessa's transaction report into ledger commands (backfill and sync).

One page is handled in one unit of work: the commands' rows, their outbox events
and the caller's cursor move commit together, so a crash redoes at most the
page in flight and never sends a reference twice.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json

from folio.rotessa_sync.adapters.repository import CommandRecord
from folio.rotessa_sync.adapters.rotessa_client import ReportPage
from folio.rotessa_sync.domain.backfill import BackfillMetrics, error_entry
from folio.rotessa_sync.domain.classification import (
    CommandState,
    InvalidTransaction,
    Origin,
    chargeback_reference,
    collected_reference,
    plan_transaction,
)
from folio.rotessa_sync.domain.model import ReportedTransaction
from folio.shared.contracts import (
    EVENT_MODELS,
    PaymentCollected,
    PaymentReversed,
    new_event_id,
)
from folio.shared.observability import get_correlation_id


@dataclass
class PageOutcome:
    metrics: BackfillMetrics = field(default_factory=BackfillMetrics)
    errors: list[dict[str, Any]] = field(default_factory=list)


async def apply_report_page(
    uow: Any,
    page: ReportPage,
    *,
    mortgage_of_schedule: Mapping[int, str],
    origin: Origin,
    backfill_id: uuid.UUID | None,
    retry_rejected: bool,
    timezone: str,
    now: datetime,
) -> PageOutcome:
    """Plan, record and emit the commands for the rows of the given schedules."""
    outcome = PageOutcome()
    mine: list[tuple[ReportedTransaction, str]] = [
        (row, mortgage_of_schedule[row.schedule_id])
        for row in page.rows
        if row.schedule_id is not None and row.schedule_id in mortgage_of_schedule
    ]
    for bad in page.invalid:
        if bad.schedule_id is None or bad.schedule_id in mortgage_of_schedule:
            outcome.metrics.count_invalid()
            outcome.errors.append(
                error_entry(
                    "invalid_row", bad.error, transaction_id=bad.transaction_id, page=page.page
                )
            )
    # The command insert below is the authority on what was already sent (a reference
    # it does not win is counted as a duplicate, never emitted). Looking references up
    # first only saves planning rows that will not be sent: worth a round trip for the
    # periodic sync, which re-reads mostly known rows, not for a backfill's pages.
    known: dict[str, CommandState] = {}
    if origin == "sync":
        known = await uow.repo.known_states(
            r
            for row, _ in mine
            for r in (
                collected_reference(row.transaction_id),
                chargeback_reference(row.transaction_id),
            )
        )

    pending: list[tuple[PaymentCollected | PaymentReversed, uuid.UUID, ReportedTransaction]] = []
    backfill_text = str(backfill_id) if backfill_id else None
    for row, mortgage_id in mine:
        row_known = {}
        if known:  # a first backfill knows nothing: skip two lookups per row
            for ref in (
                collected_reference(row.transaction_id),
                chargeback_reference(row.transaction_id),
            ):
                if ref in known:
                    row_known[ref] = known[ref]
        try:
            plan = plan_transaction(
                row,
                mortgage_id=mortgage_id,
                known=row_known,
                origin=origin,
                backfill_id=backfill_text,
                retry_rejected=retry_rejected,
                timezone=timezone,
            )
        except InvalidTransaction as exc:
            outcome.metrics.count_invalid()
            outcome.errors.append(
                error_entry("invalid_transaction", str(exc), transaction_id=row.transaction_id)
            )
            continue
        outcome.metrics.count_plan(plan)
        pending.extend((event, new_event_id(), row) for event in plan.to_publish)

    commands = [
        CommandRecord(
            reference=event.reversal_reference
            if isinstance(event, PaymentReversed)
            else event.reference,
            event_id=event_id,
            kind="reversed" if isinstance(event, PaymentReversed) else "collected",
            transaction_id=row.transaction_id,
            schedule_id=row.schedule_id,
            mortgage_id=event.mortgage_id,
            amount_minor=event.amount_minor,
            currency=event.currency,
        )
        for event, event_id, row in pending
    ]
    won = await uow.repo.record_commands(
        commands,
        origin=origin,
        backfill_id=backfill_id,
        state=CommandState.PUBLISHED,
        published_at=now,
        retry_rejected=retry_rejected,
    )
    sent: list[tuple[PaymentCollected | PaymentReversed, uuid.UUID]] = []
    for (event, event_id, _), command in zip(pending, commands, strict=True):
        if command.reference in won:
            sent.append((event, event_id))
        else:  # another writer sent it between our read and our insert
            outcome.metrics.published -= 1
            outcome.metrics.duplicates += 1
    emit_payment_events(uow, sent)
    return outcome


_TOPIC_AND_VERSION = {
    model: key
    for key, model in EVENT_MODELS.items()
    if model in (PaymentCollected, PaymentReversed)
}


def emit_payment_events(
    uow: Any, events: Sequence[tuple[PaymentCollected | PaymentReversed, uuid.UUID]]
) -> None:
    """Queue each event in the outbox under its event id, in order.

    The same messages ``uow.emit(event, event_id=...)`` writes (topic, key, headers,
    envelope fields; a unit test holds the bytes equal), serialised in one pass by
    pydantic's JSON writer from the already validated payload: a second model
    (the envelope) plus a dump and re-validation per row cost more than the row's
    database work.
    """
    correlation = get_correlation_id()
    correlation_id = str(uuid.UUID(str(correlation))) if correlation else None
    headers = {"correlation_id": correlation_id or ""}
    occurred_at = datetime.now(UTC)
    for event, event_id in events:
        topic, version = _TOPIC_AND_VERSION[type(event)]
        envelope = {
            "event_id": event_id,
            "event_type": topic,
            "schema_version": version,
            "occurred_at": occurred_at,
            "producer": uow.producer,
            "correlation_id": correlation_id,
            "data": event,
        }
        uow.emit_raw(
            topic=topic,
            key=event.aggregate_key(),
            value=to_json(envelope),
            event_id=event_id,
            headers=headers,
        )
