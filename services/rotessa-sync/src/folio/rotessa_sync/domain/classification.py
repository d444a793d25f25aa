"""What each row of Rotessa's transaction report means for the ledger.

- Approved → one ``payment.collected`` (reference ``rotessa:txn:<id>``), effective
  at the process date (see ``effective_time``).
- Chargeback → the money was collected and later pulled back: the collection (if
  not already sent) and one ``payment.reversed`` (reference
  ``rotessa:txn:<id>:chargeback``) that reverts it. Sending both keeps balances at
  past points in time right even when the chargeback predates the first backfill.
- Declined, Future, Pending → counted, never posted.

References are the idempotency keys end to end: a reference this service already
sent is never sent again (a duplicate), unless the ledger rejected it and the
caller asks to retry rejections (an admin's "retry backfill").
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from folio.rotessa_sync.domain.effective_time import (
    DEFAULT_BUSINESS_TIMEZONE,
    effective_at_for,
    reversed_at_for,
)
from folio.rotessa_sync.domain.model import ReportedTransaction, TransactionStatus
from folio.shared.contracts import PaymentCollected, PaymentReversed

Origin = Literal["backfill", "sync"]


class CommandState(StrEnum):
    """Where a command this service sent to the ledger stands."""

    PUBLISHED = "PUBLISHED"  # in the outbox / on its way, no answer yet
    CONFIRMED = "CONFIRMED"  # ledger.transaction.committed seen for the reference
    DUPLICATE = "DUPLICATE"  # the ledger acknowledged it as an already-recorded duplicate
    REJECTED = "REJECTED"  # ledger.command.rejected (not a duplicate)


class RowOutcome(StrEnum):
    COLLECTED = "COLLECTED"
    CHARGED_BACK = "CHARGED_BACK"
    DECLINED = "DECLINED"
    PENDING = "PENDING"  # Pending or Future: not money yet


#: Every command rotessa-sync sends the ledger carries a reference with this prefix.
REFERENCE_PREFIX = "rotessa:"


def collected_reference(transaction_id: int) -> str:
    return f"{REFERENCE_PREFIX}txn:{transaction_id}"


def chargeback_reference(transaction_id: int) -> str:
    return f"{REFERENCE_PREFIX}txn:{transaction_id}:chargeback"


def is_ours(reference: str | None) -> bool:
    """A ledger answer to one of rotessa-sync's commands (not, e.g., a rent payment)."""
    return (reference or "").startswith(REFERENCE_PREFIX)


class InvalidTransaction(ValueError):
    """A report row that cannot become a ledger command (e.g. a zero amount)."""


@dataclass(frozen=True, slots=True)
class TransactionPlan:
    """What to do about one report row."""

    transaction_id: int
    outcome: RowOutcome
    to_publish: tuple[PaymentCollected | PaymentReversed, ...] = ()
    #: references already sent earlier (by a sync, an earlier backfill or a rerun)
    already_sent: tuple[str, ...] = field(default=())


def _should_send(reference: str, known: Mapping[str, CommandState], retry_rejected: bool) -> bool:
    state = known.get(reference)
    if state is None:
        return True
    return state is CommandState.REJECTED and retry_rejected


def plan_transaction(
    transaction: ReportedTransaction,
    *,
    mortgage_id: str,
    known: Mapping[str, CommandState],
    origin: Origin,
    backfill_id: str | None = None,
    retry_rejected: bool = False,
    timezone: str = DEFAULT_BUSINESS_TIMEZONE,
) -> TransactionPlan:
    """Decide the ledger commands for one row, given the commands already sent.

    ``known`` maps references of this transaction already sent to their state.
    Raises :class:`InvalidTransaction` when an Approved/Chargeback row cannot be posted.
    """
    status = transaction.status
    tid = transaction.transaction_id
    if status is TransactionStatus.DECLINED:
        return TransactionPlan(tid, RowOutcome.DECLINED)
    if status in (TransactionStatus.PENDING, TransactionStatus.FUTURE):
        return TransactionPlan(tid, RowOutcome.PENDING)
    if transaction.amount_minor <= 0:
        raise InvalidTransaction(f"transaction {tid} has a non-positive amount")

    to_publish: list[PaymentCollected | PaymentReversed] = []
    already_sent: list[str] = []
    reference = collected_reference(tid)
    if _should_send(reference, known, retry_rejected):
        to_publish.append(
            PaymentCollected(
                reference=reference,
                mortgage_id=mortgage_id,
                schedule_id=transaction.schedule_id or 0,
                transaction_id=tid,
                amount_minor=transaction.amount_minor,
                currency=transaction.currency,
                effective_at=effective_at_for(transaction.process_date, timezone),
                process_date=transaction.process_date,
                origin=origin,
                backfill_id=backfill_id,
            )
        )
    else:
        already_sent.append(reference)

    if status is TransactionStatus.APPROVED:
        return TransactionPlan(tid, RowOutcome.COLLECTED, tuple(to_publish), tuple(already_sent))

    reversal = chargeback_reference(tid)
    if _should_send(reversal, known, retry_rejected):
        to_publish.append(
            PaymentReversed(
                reference=reference,
                reversal_reference=reversal,
                mortgage_id=mortgage_id,
                transaction_id=tid,
                amount_minor=transaction.amount_minor,
                currency=transaction.currency,
                reason=transaction.status_reason,
                reversed_at=reversed_at_for(
                    transaction.process_date, transaction.updated_at, timezone
                ),
                backfill_id=backfill_id,
            )
        )
    else:
        already_sent.append(reversal)
    return TransactionPlan(tid, RowOutcome.CHARGED_BACK, tuple(to_publish), tuple(already_sent))
