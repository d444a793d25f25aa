"""Journal use cases: post (batched), revert, seal and verify the hash chain."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic_core import to_json

from folio.ledger.adapters.journal_repository import JournalRows, StoredTransaction
from folio.ledger.domain.journal import (
    GENESIS_HASH,
    AlreadyReverted,
    ChainProblem,
    JournalError,
    OverdraftPolicy,
    Posting,
    SealRecord,
    VolumeKey,
    Volumes,
    apply_postings,
    chain_hash,
    content_hash,
    reverse_postings,
    touched_keys,
    validate_postings,
    verify_chain,
)
from folio.shared.contracts import (
    EVENT_MODELS,
    LedgerPosting,
    LedgerTransactionCommitted,
    new_event_ids,
)
from folio.shared.db import while_in_flight
from folio.shared.observability import get_correlation_id


class LedgerNotFound(JournalError):
    error_code = "LEDGER_NOT_FOUND"


class TransactionNotFound(JournalError):
    error_code = "NOT_FOUND"


class ReferenceConflict(JournalError):
    """The reference is taken; ``existing`` lets callers tell a replay from a conflict."""

    error_code = "CONFLICT"

    def __init__(self, message: str, existing: StoredTransaction | None) -> None:
        super().__init__(message)
        self.existing = existing


@dataclass(frozen=True, slots=True)
class NewTransaction:
    postings: tuple[Posting, ...]
    timestamp: datetime | None = None
    reference: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    force: bool = False
    source_event_id: uuid.UUID | None = None
    reverts_id: int | None = None


PostResult = StoredTransaction | JournalError


def same_content(existing: StoredTransaction, candidate: NewTransaction) -> bool:
    """A replay of the same instruction: same postings (accounts, amounts, assets)."""
    return tuple(existing.postings) == tuple(candidate.postings)


async def ensure_ledger(uow, ledger: str) -> None:
    """Create the ledger if missing (the default ledger needs no setup step)."""
    if not await uow.journal.ledger_exists(ledger):
        await uow.journal.create_ledger(ledger, ledger, {}, {})


def needs_funds_check(candidate: NewTransaction, policy: OverdraftPolicy) -> bool:
    """True when a posting's source may not go negative (its balance must be read)."""
    return not candidate.force and any(not policy.allows(p.source) for p in candidate.postings)


async def post_transactions(
    uow,
    ledger: str,
    candidates: Sequence[NewTransaction],
    policy: OverdraftPolicy,
    *,
    with_volumes: bool = True,
) -> list[PostResult]:
    """Post a batch in the unit of work's transaction, set-based.

    Each candidate gets either its stored transaction or the rule it broke
    (duplicate reference, insufficient funds, invalid posting); one bad
    candidate does not sink the others. Committed ones are announced through
    the outbox as ``ledger.transaction.committed``.

    Balances are read (rows locked in key order) only when a source may not
    overdraw, or when the caller wants pre/post-commit volumes on the results
    (``with_volumes``, the Formance API). Otherwise nothing needs reading: the
    volumes get the batch's summed deltas in one upsert that locks the same rows
    in the same order, so the rules and the lock order are the same either way.
    """
    journal = uow.journal
    results: list[PostResult | None] = [None] * len(candidates)

    def check() -> tuple[list[int], bool, dict[VolumeKey, Volumes]]:
        """The well-formed candidates, whether any needs its balances read, and their
        summed volume deltas (right unless one is refused below, which is rare)."""
        valid: list[int] = []
        for i, candidate in enumerate(candidates):
            try:
                validate_postings(candidate.postings)
                valid.append(i)
            except JournalError as exc:
                results[i] = exc
        read = with_volumes or any(needs_funds_check(candidates[i], policy) for i in valid)
        return valid, read, summed_deltas(candidates[i] for i in valid)

    # ids for every candidate (an invalid one leaves a gap, as a rolled-back batch
    # does) and the references already taken come back while the candidates are checked
    start, (valid, read_balances, deltas) = await while_in_flight(
        journal.prepare_batch(
            ledger, len(candidates), [c.reference for c in candidates if c.reference]
        ),
        check,
    )
    if start is None:
        return [LedgerNotFound(f"ledger {ledger!r} not found") for _ in candidates]
    # full rows only for references already taken (replays): rare, so a second query
    existing = (
        await journal.by_references(ledger, start.taken_references)
        if start.taken_references
        else {}
    )
    volumes: dict[VolumeKey, Volumes] = {}
    if read_balances:
        keys: list[VolumeKey] = []
        for i in valid:
            keys.extend(touched_keys(candidates[i].postings))
        volumes = await journal.lock_volumes(ledger, keys)
    accepted: list[int] = []
    before: dict[int, dict[VolumeKey, Volumes]] = {}
    after: dict[int, dict[VolumeKey, Volumes]] = {}
    batch_refs: set[str] = set()
    for i in valid:
        candidate = candidates[i]
        if candidate.reference and (
            candidate.reference in existing or candidate.reference in batch_refs
        ):
            results[i] = ReferenceConflict(
                f"reference {candidate.reference!r} already used",
                existing.get(candidate.reference),
            )
            continue
        if read_balances:
            try:
                post = apply_postings(volumes, candidate.postings, policy, force=candidate.force)
            except JournalError as exc:
                results[i] = exc
                continue
            # apply_postings returns fresh objects and never mutates its input, so the
            # pre/post snapshots can be shared without copying
            before[i] = {k: volumes.get(k, Volumes()) for k in post}
            after[i] = post
            volumes.update(post)
        if candidate.reference:
            batch_refs.add(candidate.reference)
        accepted.append(i)
    if len(accepted) != len(valid):  # some were refused: only the accepted move volumes
        deltas = summed_deltas(candidates[i] for i in accepted)
    if not accepted:
        return [r for r in results if r is not None]
    now = start.now

    ids = start.ids[: len(accepted)]

    def serialise() -> JournalRows:
        return journal.journal_rows(
            (
                tx_id,
                candidate.reference,
                candidate.timestamp or now,
                candidate.postings,
                candidate.metadata,
                candidate.reverts_id,
                candidate.source_event_id,
            )
            for tx_id, candidate in zip(ids, (candidates[i] for i in accepted), strict=True)
        )

    def store_and_announce() -> None:
        stored = []
        for i, tx_id in zip(accepted, ids, strict=True):
            candidate = candidates[i]
            tx = StoredTransaction(
                ledger=ledger,
                id=tx_id,
                postings=candidate.postings,
                timestamp=candidate.timestamp or now,
                inserted_at=now,
                reference=candidate.reference,
                metadata=dict(candidate.metadata),
                reverts_id=candidate.reverts_id,
                source_event_id=(
                    str(candidate.source_event_id) if candidate.source_event_id else None
                ),
                pre_commit_volumes=before.get(i, {}),
                post_commit_volumes=after.get(i, {}),
            )
            results[i] = tx
            stored.append(tx)
        emit_committed(uow, stored)

    # Volumes first: every journal writer takes its volume row locks before anything
    # else it may wait on (a concurrent insert of the same reference, account rows).
    # What needs no database answer is built while the server runs the statement
    # before it: the rows to insert during the volumes upsert, the results and the
    # committed events during the insert.
    _, rows = await while_in_flight(journal.add_volumes(ledger, deltas), serialise)
    await while_in_flight(journal.insert_transactions(ledger, rows, now), store_and_announce)
    return [r for r in results if r is not None]


def summed_deltas(candidates: Iterable[NewTransaction]) -> dict[VolumeKey, Volumes]:
    """What the candidates' postings add to each (account, asset)'s volumes."""
    deltas: dict[VolumeKey, Volumes] = {}
    for candidate in candidates:
        for p in candidate.postings:
            source = deltas.get((p.source, p.asset))
            if source is None:
                source = deltas[(p.source, p.asset)] = Volumes()
            source.output += p.amount
            destination = deltas.get((p.destination, p.asset))
            if destination is None:
                destination = deltas[(p.destination, p.asset)] = Volumes()
            destination.input += p.amount
    return deltas


def committed_event(tx: StoredTransaction) -> LedgerTransactionCommitted:
    return LedgerTransactionCommitted(
        ledger=tx.ledger,
        transaction_id=tx.id,
        reference=tx.reference,
        timestamp=tx.timestamp,
        inserted_at=tx.inserted_at,
        postings=[
            LedgerPosting(
                source=p.source, destination=p.destination, amount=p.amount, asset=p.asset
            )
            for p in tx.postings
        ],
        metadata=dict(tx.metadata),
        reverts_transaction_id=tx.reverts_id,
        source_event_id=tx.source_event_id,
    )


COMMITTED_TOPIC, COMMITTED_VERSION = next(
    key for key, model in EVENT_MODELS.items() if model is LedgerTransactionCommitted
)


def emit_committed(uow, transactions: Sequence[StoredTransaction]) -> None:
    """Queue ``ledger.transaction.committed`` for each transaction, in order.

    The same messages ``uow.emit(committed_event(tx))`` writes — topic, key, headers
    and envelope fields (a unit test holds them equal) — serialised directly by
    pydantic's JSON writer: building and validating two models per transaction cost
    more than writing the transaction.
    """
    correlation = get_correlation_id()
    correlation_id = str(uuid.UUID(str(correlation))) if correlation else None
    occurred_at = datetime.now(UTC)
    producer = uow.producer
    uow.emit_raw_many(
        COMMITTED_TOPIC,
        (
            (
                tx.reference or str(tx.id),
                to_json(
                    {
                        "event_id": event_id,
                        "event_type": COMMITTED_TOPIC,
                        "schema_version": COMMITTED_VERSION,
                        "occurred_at": occurred_at,
                        "producer": producer,
                        "correlation_id": correlation_id,
                        "data": {
                            "ledger": tx.ledger,
                            "transaction_id": tx.id,
                            "reference": tx.reference,
                            "timestamp": tx.timestamp,
                            "inserted_at": tx.inserted_at,
                            "postings": [p.as_dict() for p in tx.postings],
                            "metadata": tx.metadata,
                            "reverts_transaction_id": tx.reverts_id,
                            "source_event_id": tx.source_event_id,
                        },
                    }
                ),
                event_id,
            )
            for tx, event_id in zip(transactions, new_event_ids(len(transactions)), strict=True)
        ),
        headers={"correlation_id": correlation_id or ""},
    )


async def revert_transaction(
    uow,
    ledger: str,
    tx_id: int,
    policy: OverdraftPolicy,
    *,
    force: bool = False,
    at_effective_date: bool = False,
    reference: str | None = None,
    metadata: dict[str, str] | None = None,
    source_event_id: uuid.UUID | None = None,
) -> StoredTransaction:
    """Post the reversal of ``tx_id`` and mark the original reverted (once only)."""
    journal = uow.journal
    if not await journal.ledger_exists(ledger):
        raise LedgerNotFound(f"ledger {ledger!r} not found")
    await journal.lock_for_revert(ledger, tx_id)
    original = await journal.get(ledger, tx_id)
    if original is None:
        raise TransactionNotFound(f"transaction {tx_id} not found")
    if original.reverted:
        raise AlreadyReverted(f"transaction {tx_id} already reverted")
    candidate = NewTransaction(
        postings=tuple(reverse_postings(original.postings)),
        timestamp=original.timestamp if at_effective_date else None,
        reference=reference,
        metadata=metadata or {},
        force=force,
        source_event_id=source_event_id,
        reverts_id=tx_id,
    )
    [result] = await post_transactions(uow, ledger, [candidate], policy)
    if isinstance(result, JournalError):
        raise result
    if not await journal.record_reversion(ledger, tx_id, result.id, result.inserted_at):
        # a concurrent revert won: the primary key on reversions decided
        raise AlreadyReverted(f"transaction {tx_id} already reverted")
    return result


async def seal_pending(uow, limit: int = 5000) -> int:
    """Append unsealed transactions to the hash chain; returns how many were sealed.

    Only the sealer serialises (a transaction-scoped advisory lock); writers never
    wait for it. The chain order is sealing order, so a transaction committed
    late with a lower id is still sealed exactly once. Only ids above the settled
    frontier are read (migration 0006), so a run costs what was written since the
    last runs, not the journal's size. Runs in a READ COMMITTED transaction (each
    statement's snapshot is taken when it starts).
    """
    journal = uow.journal
    if not await journal.try_sealer_lock():
        return 0
    frontier = await journal.seal_frontier()  # before the snapshot that reads the journal
    pending = await journal.unsealed(limit, after_id=frontier.settled_id)
    if pending:
        last = await journal.last_seal()
        previous, seq = (last.chain_hash, last.seal_seq) if last else (GENESIS_HASH, 0)
        seals: list[SealRecord] = []
        for tx in pending:
            seq += 1
            row_hash = content_hash(tx.as_chain_transaction())
            previous = chain_hash(previous, row_hash)
            seals.append(SealRecord(seq, tx.id, row_hash, previous))
        await journal.insert_seals([tx.ledger for tx in pending], seals)
    # Every visible transaction above the frontier is sealed now; a candidate whose
    # transactions have all ended settles, and a new one is taken (also when none was).
    if len(pending) < limit and (frontier.candidate_id is None or frontier.candidate_final):
        await journal.save_seal_frontier(max(frontier.settled_id, frontier.candidate_id or 0))
    return len(pending)


async def verify_journal(uow) -> tuple[int, int, list[ChainProblem]]:
    """(sealed count, unsealed count, problems) for the whole journal."""
    journal = uow.journal
    seals = [seal for _, seal in await journal.seals()]
    transactions = await journal.all_transactions()
    current = {tx.id: content_hash(tx.as_chain_transaction()) for tx in transactions}
    sealed_ids = {s.transaction_id for s in seals}
    problems = verify_chain(seals, current)
    unsealed = sum(1 for tx_id in current if tx_id not in sealed_ids)
    return len(seals), unsealed, problems
