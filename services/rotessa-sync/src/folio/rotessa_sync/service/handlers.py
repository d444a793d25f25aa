"""Reactions to other services' events (called by the consumers with one unit of work).

- ``mortgage.changed`` keeps the mortgages read model (newest version wins) and
  records a link the registry already knows about, if it conflicts with nothing.
- ``ledger.transaction.committed`` / ``ledger.command.rejected`` settle the commands
  this service sent, matched by the source event id (else by reference), and
  finish the backfills whose last command was answered.
"""

import uuid
from typing import Any

import structlog

from folio.rotessa_sync.adapters.repository import LedgerAnswer
from folio.rotessa_sync.domain.classification import CommandState, is_ours
from folio.rotessa_sync.service.backfill import finalize_if_settled
from folio.shared.contracts import (
    Envelope,
    LedgerCommandRejected,
    LedgerTransactionCommitted,
    MortgageChanged,
)

log = structlog.get_logger(__name__)


async def when_mortgage_changed_update_read_model(envelopes: list[Envelope], uow: Any) -> None:
    for envelope in envelopes:
        mortgage = envelope.payload()
        assert isinstance(mortgage, MortgageChanged)
        await uow.repo.upsert_mortgage(mortgage)
        if mortgage.rotessa_schedule_id is None:
            continue
        inserted = await uow.repo.insert_link_if_free(
            mortgage_id=mortgage.mortgage_id,
            schedule_id=mortgage.rotessa_schedule_id,
            source="registry",
            linked_by="registry",
            linked_at=mortgage.changed_at,
        )
        if not inserted:
            link = await uow.repo.link_of_mortgage(mortgage.mortgage_id)
            if link is None or link.schedule_id != mortgage.rotessa_schedule_id:
                log.warning(
                    "link.registry_conflict",
                    mortgage_id=mortgage.mortgage_id,
                    schedule_id=mortgage.rotessa_schedule_id,
                )


def _event_id(raw: str | None) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


async def _settle(uow: Any, answers: list[LedgerAnswer]) -> None:
    if not answers:
        return
    affected = await uow.repo.apply_ledger_answers(answers, await uow.now())
    for backfill_id in sorted(affected):
        await finalize_if_settled(uow, backfill_id)


async def when_ledger_committed_confirm_commands(envelopes: list[Envelope], uow: Any) -> None:
    answers = []
    for envelope in envelopes:
        committed = envelope.payload()
        assert isinstance(committed, LedgerTransactionCommitted)
        reference = committed.reference
        if not is_ours(reference):
            continue  # e.g. a rent payment: nothing of ours to confirm, no statement run
        answers.append(
            LedgerAnswer(
                source_event_id=_event_id(committed.source_event_id),
                reference=reference,
                state=CommandState.CONFIRMED,
                ledger_transaction_id=committed.transaction_id,
            )
        )
    await _settle(uow, answers)


async def when_ledger_rejected_settle_commands(envelopes: list[Envelope], uow: Any) -> None:
    answers = []
    for envelope in envelopes:
        rejected = envelope.payload()
        assert isinstance(rejected, LedgerCommandRejected)
        if rejected.source_event_type not in ("payment.collected", "payment.reversed"):
            continue
        answers.append(
            LedgerAnswer(
                source_event_id=_event_id(rejected.source_event_id),
                reference=rejected.reference,
                state=CommandState.DUPLICATE if rejected.duplicate else CommandState.REJECTED,
                code=rejected.code,
                reason=rejected.reason,
            )
        )
    await _settle(uow, answers)
