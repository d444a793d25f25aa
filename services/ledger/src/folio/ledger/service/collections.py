"""Rotessa collections into the journal: backdated, idempotent by reference (seed 000)."""

from __future__ import annotations

from folio.ledger.adapters.journal_repository import StoredTransaction
from folio.ledger.domain import bookkeeping
from folio.ledger.domain.journal import AlreadyReverted, JournalError
from folio.ledger.service.journal import (
    LedgerNotFound,
    NewTransaction,
    ReferenceConflict,
    ensure_ledger,
    post_transactions,
    revert_transaction,
    same_content,
)
from folio.ledger.service.receivables import JournalConfig, _rejection, record_rejections
from folio.shared.contracts import Envelope, PaymentCollected, PaymentReversed


def prepare_collection(envelope: Envelope) -> NewTransaction | str:
    """The journal transaction a collection asks for (``timestamp = effective_at``,
    its reference), or why it cannot be one. Pure: the consumer runs it while the
    batch's inbox insert is in flight."""
    p = envelope.payload()
    assert isinstance(p, PaymentCollected)
    try:
        postings = bookkeeping.collection_postings(p.mortgage_id, p.amount_minor, p.currency)
    except (JournalError, ValueError) as exc:
        return str(exc)
    return NewTransaction(
        postings=postings,
        timestamp=p.effective_at,
        reference=p.reference,
        metadata={
            "mortgage_id": p.mortgage_id,
            "schedule_id": str(p.schedule_id),
            "rotessa_transaction_id": str(p.transaction_id),
            "process_date": p.process_date.isoformat(),
            "origin": p.origin,
        },
        source_event_id=envelope.event_id,
    )


async def when_payments_collected(
    prepared: list[tuple[Envelope, NewTransaction | str]], uow, journal: JournalConfig
) -> None:
    """Post each collection (``prepare_collection``'s transaction), idempotent by reference.

    Same reference and same postings → an acknowledged no-op (reported as a
    duplicate so the backfill can count it as confirmed); same reference with
    different postings → rejected and reported.
    """
    items: list[tuple[Envelope, PaymentCollected, NewTransaction]] = []
    rejections: list[dict] = []
    for env, transaction in prepared:
        p = env.payload()
        assert isinstance(p, PaymentCollected)
        if isinstance(transaction, str):
            rejections.append(
                _rejection(env, "payment.collected", "INVALID", transaction, reference=p.reference)
            )
            continue
        items.append((env, p, transaction))
    if items:
        candidates = [c for _, _, c in items]
        results = await post_transactions(
            uow, journal.ledger, candidates, journal.policy, with_volumes=False
        )
        if isinstance(results[0], LedgerNotFound):  # the default ledger needs no setup step
            await ensure_ledger(uow, journal.ledger)
            results = await post_transactions(
                uow, journal.ledger, candidates, journal.policy, with_volumes=False
            )
        refused = [
            (env, p, candidate, result)
            for (env, p, candidate), result in zip(items, results, strict=True)
            if not isinstance(result, StoredTransaction)
        ]
        # a reference taken earlier in this batch was taken by its first occurrence
        first_in_batch: dict[str, NewTransaction] = (
            {
                p.reference: candidate
                for (_, p, candidate), result in zip(items, results, strict=True)
                if isinstance(result, StoredTransaction)
            }
            if refused
            else {}
        )
        for env, p, candidate, result in refused:
            if isinstance(result, ReferenceConflict):
                earlier = first_in_batch.get(p.reference)
                replay = (
                    same_content(result.existing, candidate)
                    if result.existing is not None
                    else earlier is not None and earlier.postings == candidate.postings
                )
                if replay:
                    rejections.append(
                        _rejection(
                            env,
                            "payment.collected",
                            "DUPLICATE",
                            "already recorded with the same content",
                            reference=p.reference,
                            duplicate=True,
                        )
                    )
                else:
                    rejections.append(
                        _rejection(
                            env,
                            "payment.collected",
                            "REFERENCE_CONFLICT",
                            "reference already recorded with different content",
                            reference=p.reference,
                        )
                    )
                continue
            rejections.append(
                _rejection(
                    env,
                    "payment.collected",
                    result.error_code,
                    result.message,
                    reference=p.reference,
                )
            )
    await record_rejections(uow, rejections)


async def when_payment_reversed(envelope: Envelope, uow, journal: JournalConfig) -> None:
    """A chargeback reverts the referenced collection (once)."""
    p = envelope.payload()
    assert isinstance(p, PaymentReversed)
    await ensure_ledger(uow, journal.ledger)
    found = await uow.journal.by_references(journal.ledger, [p.reference, p.reversal_reference])
    original = found.get(p.reference)
    if original is None:
        code, reason, duplicate = "UNKNOWN_REFERENCE", f"no transaction {p.reference}", False
    elif original.reverted or p.reversal_reference in found:
        code, reason, duplicate = "DUPLICATE", "already reverted", True
    else:
        try:
            await revert_transaction(
                uow,
                journal.ledger,
                original.id,
                journal.policy,
                reference=p.reversal_reference,
                metadata={"reason": p.reason or "chargeback", "mortgage_id": p.mortgage_id},
                source_event_id=envelope.event_id,
            )
            return
        except AlreadyReverted as exc:
            code, reason, duplicate = "DUPLICATE", exc.message, True
        except JournalError as exc:
            code, reason, duplicate = exc.error_code, exc.message, False
    await record_rejections(
        uow,
        [
            _rejection(
                envelope,
                "payment.reversed",
                code,
                reason,
                reference=p.reference,
                duplicate=duplicate,
            )
        ],
    )
