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
    different postings → rejected and reported. Reversals parked because they
    arrived first are applied here, in the same transaction (one lookup per batch).
    """
    items: list[tuple[Envelope, PaymentCollected, NewTransaction]] = []
    rejections: list[dict] = []
    references: list[str] = []
    for env, transaction in prepared:
        p = env.payload()
        assert isinstance(p, PaymentCollected)
        references.append(p.reference)
        if isinstance(transaction, str):
            rejections.append(
                _rejection(env, "payment.collected", "INVALID", transaction, reference=p.reference)
            )
            continue
        items.append((env, p, transaction))
    if items:
        # before anything is posted: no reversal gets parked until this batch commits
        await uow.parked.hold_off_reversal_parking()
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
    refused = {r["reference"]: r["reason"] for r in rejections if not r["duplicate"]}
    rejections += await _release_parked_reversals(uow, journal, references, refused)
    await record_rejections(uow, rejections)


REVERSAL = "payment.reversed"


def _reversal_rejection(
    p: PaymentReversed, source_event_id, code: str, reason: str, duplicate: bool
) -> dict:
    return {
        "source_event_id": source_event_id,
        "source_event_type": REVERSAL,
        "reference": p.reversal_reference,
        "invoice_number": None,
        "code": code,
        "reason": reason,
        "duplicate": duplicate,
        "payload": p.model_dump(mode="json"),
    }


async def _revert_collection(
    uow,
    journal: JournalConfig,
    p: PaymentReversed,
    original: StoredTransaction,
    already_reversed: bool,
    source_event_id,
) -> dict | None:
    """Revert the collection once; the rejection to record when it cannot be."""
    if original.reverted or already_reversed:
        return _reversal_rejection(p, source_event_id, "DUPLICATE", "already reverted", True)
    try:
        await revert_transaction(
            uow,
            journal.ledger,
            original.id,
            journal.policy,
            reference=p.reversal_reference,
            metadata={"reason": p.reason or "chargeback", "mortgage_id": p.mortgage_id},
            source_event_id=source_event_id,
        )
    except AlreadyReverted as exc:
        return _reversal_rejection(p, source_event_id, "DUPLICATE", exc.message, True)
    except JournalError as exc:
        return _reversal_rejection(p, source_event_id, exc.error_code, exc.message, False)
    return None


async def when_payment_reversed(envelope: Envelope, uow, journal: JournalConfig) -> None:
    """A chargeback reverts the referenced collection (once).

    Collections and reversals travel on different topics, so a reversal may be
    handled before its collection: it is then parked, never refused, and the
    collection's batch applies it in the transaction that posts the collection.
    """
    p = envelope.payload()
    assert isinstance(p, PaymentReversed)
    await ensure_ledger(uow, journal.ledger)
    refs = [p.reference, p.reversal_reference]
    found = await uow.journal.by_references(journal.ledger, refs)
    if p.reference not in found:
        # the collection may be in a batch still in flight: let those commit, look again
        await uow.parked.lock_reversal_parking()
        found = await uow.journal.by_references(journal.ledger, refs)
    original = found.get(p.reference)
    if original is None:
        await uow.parked.park(
            REVERSAL, p.reversal_reference, p.reference, p.model_dump(mode="json"),
            envelope.event_id,
        )  # fmt: skip
        return
    rejection = await _revert_collection(
        uow, journal, p, original, p.reversal_reference in found, envelope.event_id
    )
    if rejection is not None:
        await record_rejections(uow, [rejection])


async def _release_parked_reversals(
    uow, journal: JournalConfig, references: list[str], refused: dict[str, str]
) -> list[dict]:
    """Apply the reversals that arrived before the collections of this batch (one
    lookup for the whole batch; the rare hits are reverted one by one). A reversal
    whose collection the batch refused is refused with it."""
    parked = await uow.parked.release(REVERSAL, references)
    if not parked:
        return []
    found = await uow.journal.by_references(
        journal.ledger, [r for e in parked for r in (e.awaits, e.key)]
    )
    rejections: list[dict] = []
    for event in parked:
        p = PaymentReversed.model_validate(event.payload)
        original = found.get(p.reference)
        if original is None:
            why = refused.get(p.reference, "not recorded")
            rejections.append(
                _reversal_rejection(
                    p,
                    event.source_event_id,
                    "UNKNOWN_REFERENCE",
                    f"collection {p.reference} was refused: {why}",
                    False,
                )
            )
            continue
        rejection = await _revert_collection(
            uow, journal, p, original, p.reversal_reference in found, event.source_event_id
        )
        if rejection is not None:
            rejections.append(rejection)
    return rejections
