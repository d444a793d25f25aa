"""Journal use cases: post (batched), revert, seal and verify the hash chain."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from pydantic_core import to_json

from folio.ledger.adapters.journal_repository import (
    ROW_ERRORS,
    JournalRows,
    StoredTransaction,
    UnreadableRow,
)
from folio.ledger.domain.journal import (
    GENESIS_HASH,
    AlreadyReverted,
    ChainProblem,
    JournalError,
    MetadataChange,
    OverdraftPolicy,
    Posting,
    SealRecord,
    VolumeKey,
    Volumes,
    apply_change,
    apply_postings,
    chain_hash,
    change_hash,
    check_timestamp,
    content_hash,
    reverse_postings,
    touched_keys,
    validate_postings,
    verify_chain,
)
from folio.shared.contracts import (
    EVENT_MODELS,
    LedgerMetadataChanged,
    LedgerPosting,
    LedgerTransactionCommitted,
    new_event_ids,
)
from folio.shared.db import while_in_flight
from folio.shared.observability import get_correlation_id

log = structlog.get_logger(__name__)


class LedgerNotFound(JournalError):
    error_code = "LEDGER_NOT_FOUND"


class TransactionNotFound(JournalError):
    error_code = "NOT_FOUND"


class AccountNotFound(JournalError):
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
    # effective times in UTC: the database refuses offsets beyond ±15:59 in text
    timestamps: list[datetime | None] = [None] * len(candidates)

    def check() -> tuple[list[int], bool, dict[VolumeKey, Volumes]]:
        """The well-formed candidates, whether any needs its balances read, and their
        summed volume deltas (right unless one is refused below, which is rare)."""
        valid: list[int] = []
        for i, candidate in enumerate(candidates):
            try:
                validate_postings(candidate.postings)
                if candidate.timestamp is not None:
                    timestamps[i] = check_timestamp(candidate.timestamp)
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

    def serialise() -> JournalRows:
        ids = start.ids[: len(accepted)]
        return journal.journal_rows(
            (
                tx_id,
                candidates[i].reference,
                timestamps[i] or now,
                candidates[i].postings,
                candidates[i].metadata,
                candidates[i].reverts_id,
                candidates[i].source_event_id,
            )
            for tx_id, i in zip(ids, accepted, strict=True)
        )

    def store_and_announce() -> None:
        stored = []
        for i, tx_id in zip(accepted, start.ids[: len(accepted)], strict=True):
            candidate = candidates[i]
            tx = StoredTransaction(
                ledger=ledger,
                id=tx_id,
                postings=candidate.postings,
                timestamp=timestamps[i] or now,
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
    # Without balances read, the database checks that no volume passes bigint: an
    # overflow rolls back to a savepoint, and the batch takes its rows' locks and
    # refuses exactly the candidates that would pass it (checked under those locks).
    added, rows = await while_in_flight(
        journal.add_volumes(ledger, deltas, guarded=not read_balances), serialise
    )
    if not added:
        keys = [k for i in accepted for k in touched_keys(candidates[i].postings)]
        volumes = await journal.lock_volumes(ledger, keys)
        within: list[int] = []
        for i in accepted:
            try:  # force: none of these needs its funds checked (that is why none was read)
                volumes.update(apply_postings(volumes, candidates[i].postings, policy, force=True))
            except JournalError as exc:
                results[i] = exc
                continue
            within.append(i)
        accepted[:] = within
        if not accepted:
            return [r for r in results if r is not None]
        await journal.add_volumes(ledger, summed_deltas(candidates[i] for i in accepted))
        rows = serialise()
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


async def change_metadata(
    uow,
    ledger: str,
    target_type: str,
    target_id: int | str,
    *,
    metadata: dict[str, str] | None = None,
    delete_key: str | None = None,
) -> MetadataChange:
    """Set keys of (``metadata``) or delete a key of (``delete_key``) a transaction's
    or an account's metadata: the current metadata changes, the change is appended to
    the journal's log (sealed in the chain like a transaction) and announced as
    ``ledger.metadata.changed``. A transaction's postings never change."""
    journal = uow.journal
    if not await journal.ledger_exists(ledger):
        raise LedgerNotFound(f"ledger {ledger!r} not found")
    kind = "DELETE_METADATA" if delete_key is not None else "SET_METADATA"
    if target_type == "TRANSACTION":
        if not await journal.set_transaction_metadata(ledger, int(target_id), metadata, delete_key):
            raise TransactionNotFound(f"transaction {target_id} not found")
    elif not await journal.set_account_metadata(ledger, str(target_id), metadata, delete_key):
        raise AccountNotFound(f"account {target_id} not found")
    change = await journal.record_metadata_change(
        ledger, kind, target_type, str(target_id), metadata, delete_key
    )
    uow.emit(
        LedgerMetadataChanged(
            ledger=ledger,
            log_id=change.id,
            kind=kind,
            target_type=target_type,
            target_id=change.target_id,
            metadata=change.metadata,
            key=change.key,
            inserted_at=change.inserted_at,
        )
    )
    return change


@dataclass(frozen=True, slots=True)
class LogPage:
    """A page of a ledger's log, newest first: transactions (new or reversals) and
    metadata changes, with each sealed entry's chain link and each reversal's original."""

    entries: list[StoredTransaction | MetadataChange]
    hashes: dict[int, str]
    reverted: dict[int, StoredTransaction]


async def log_page(uow, ledger: str, *, limit: int, before_id: int | None = None) -> LogPage:
    """``limit`` log entries below ``before_id``: each source's primary key read
    backwards ``limit`` rows at most, merged (both share the journal's id sequence)."""
    journal = uow.journal
    transactions = await journal.list(ledger, limit=limit, after_id=before_id)
    changes = await journal.changes_page(ledger, limit=limit, before_id=before_id)
    entries: list[StoredTransaction | MetadataChange] = sorted(
        [*transactions, *changes], key=lambda entry: entry.id, reverse=True
    )[:limit]
    hashes = await journal.chain_hashes(ledger, [e.id for e in entries])
    originals = [
        e.reverts_id
        for e in entries
        if isinstance(e, StoredTransaction) and e.reverts_id is not None
    ]
    return LogPage(entries, hashes, await journal.by_ids(ledger, originals))


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
    # transactions and metadata changes share one id sequence: one chain, in id order
    pending: list[StoredTransaction | UnreadableRow | MetadataChange] = sorted(
        [
            *await journal.unsealed(limit, after_id=frontier.settled_id),
            *await journal.unsealed_changes(limit, after_id=frontier.settled_id),
        ],
        key=lambda entry: entry.id,
    )[:limit]
    sealed = 0
    if pending:
        last = await journal.last_seal()
        previous, seq = (last.chain_hash, last.seal_seq) if last else (GENESIS_HASH, 0)
        seals: list[SealRecord] = []
        ledgers: list[str] = []
        for tx in pending:
            row_hash = _row_hash(tx)
            if row_hash is None:
                # Not sealed, and the chain goes on without it: a link would vouch for
                # content that cannot be read. verify reports the row by id every time.
                log.warning("journal.seal_skipped", ledger=tx.ledger, transaction_id=tx.id)
                continue
            seq += 1
            previous = chain_hash(previous, row_hash)
            seals.append(SealRecord(seq, tx.id, row_hash, previous))
            ledgers.append(tx.ledger)
        await journal.insert_seals(ledgers, seals)
        sealed = len(seals)
    # Every visible transaction above the frontier is sealed now; a candidate whose
    # transactions have all ended settles, and a new one is taken (also when none was).
    if len(pending) < limit and (frontier.candidate_id is None or frontier.candidate_final):
        await journal.save_seal_frontier(max(frontier.settled_id, frontier.candidate_id or 0))
    # rows sealed, not rows read: a caller looping until 0 must not spin on a skipped row
    return sealed


def _row_hash(row: StoredTransaction | UnreadableRow | MetadataChange) -> str | None:
    """The row's content hash, or None when it cannot be read or hashed."""
    if isinstance(row, UnreadableRow):
        return None
    try:
        if isinstance(row, MetadataChange):
            return change_hash(row)
        return content_hash(row.as_chain_transaction())
    except ROW_ERRORS:
        return None


async def verify_journal(uow) -> tuple[int, int, list[ChainProblem]]:
    """(sealed count, unsealed count, problems) for the whole journal. A row that
    cannot be read or hashed is a problem carrying its id, never a failure."""
    journal = uow.journal
    seals = [seal for _, seal in await journal.seals()]
    current: dict[int, str] = {}
    unreadable: dict[int, str] = {}
    transactions = await journal.all_transactions()
    changes = await journal.all_metadata_changes()
    for row in (*transactions, *changes):
        row_hash = _row_hash(row)
        if row_hash is not None:
            current[row.id] = row_hash
        else:
            unreadable[row.id] = row.reason if isinstance(row, UnreadableRow) else "cannot hash"
    sealed_ids = {s.transaction_id for s in seals}
    problems = verify_chain(seals, current, unreadable)
    problems.extend(_metadata_projection_problems(transactions, changes))
    unsealed = sum(1 for tx_id in (*current, *unreadable) if tx_id not in sealed_ids)
    return len(seals), unsealed, problems


def _metadata_projection_problems(
    transactions: Sequence[StoredTransaction | UnreadableRow], changes: Sequence[MetadataChange]
) -> list[ChainProblem]:
    """A transaction whose current metadata is not its creation metadata with its logged
    changes applied in order was edited outside the journal."""
    by_target: dict[tuple[str, str], list[MetadataChange]] = {}
    for change in changes:
        if change.target_type == "TRANSACTION":
            by_target.setdefault((change.ledger, change.target_id), []).append(change)
    problems: list[ChainProblem] = []
    for tx in transactions:
        if isinstance(tx, UnreadableRow):
            continue
        expected = dict(tx.metadata)
        logged = by_target.get((tx.ledger, str(tx.id)), [])
        for change in logged:
            expected = apply_change(expected, change)
        if (tx.current_metadata is not None or logged) and tx.effective_metadata != expected:
            problems.append(ChainProblem(None, tx.id, "metadata differs from its logged changes"))
    return problems


async def export_log(uow, ledger: str, *, page: int = 1000):
    """Every log entry of ``ledger``, oldest first, as ``LogPage``s of up to ``page``
    entries: both primary keys read forwards a page at a time, merged in id order
    (an entry is only given once every source has been read past its id)."""
    journal = uow.journal
    after = 0
    while True:
        transactions, changes = await journal.entries_after(ledger, after_id=after, limit=page)
        entries: list[StoredTransaction | MetadataChange] = sorted(
            [*transactions, *changes], key=lambda entry: entry.id
        )
        if not entries:
            return
        full = [rows[-1].id for rows in (transactions, changes) if len(rows) == page]
        if full:  # a full source may hold more below the other's ids: stop at its last
            entries = [e for e in entries if e.id <= min(full)]
        hashes = await journal.chain_hashes(ledger, [e.id for e in entries])
        originals = [
            e.reverts_id
            for e in entries
            if isinstance(e, StoredTransaction) and e.reverts_id is not None
        ]
        yield LogPage(entries, hashes, await journal.by_ids(ledger, originals))
        if not full:
            return
        after = entries[-1].id


class ImportRefused(JournalError):
    error_code = "IMPORT"


@dataclass(frozen=True, slots=True)
class ImportedTransaction:
    source_id: int  # its id in the exporting ledger
    transaction: NewTransaction


@dataclass(frozen=True, slots=True)
class ImportedRevert:
    source_id: int
    reverted_source_id: int
    at_effective_date: bool
    metadata: dict[str, str]


@dataclass(frozen=True, slots=True)
class ImportedMetadata:
    target_type: str
    target_id: int | str  # a transaction's id in the exporting ledger, or an address
    metadata: dict[str, str] | None = None
    delete_key: str | None = None


ImportedEntry = ImportedTransaction | ImportedRevert | ImportedMetadata


async def import_log(uow, ledger: str, entries: Sequence[ImportedEntry], policy) -> int:
    """Replay an exported log into an empty ledger, in order, in the unit of work:
    runs of new transactions set-based through ``post_transactions`` (``force``: the
    exporting ledger accepted them, its overdraft rules decide), reversals and
    metadata changes one by one. Transaction ids are Folio's own (the exporter's ids
    are mapped). Returns how many entries were applied."""
    journal = uow.journal
    if not await journal.ledger_exists(ledger):
        raise LedgerNotFound(f"ledger {ledger!r} not found")
    if not await journal.is_empty(ledger):
        raise ImportRefused(f"ledger {ledger} is not empty: a log is imported into a new ledger")
    ids: dict[int, int] = {}
    seen: set[int] = set()
    pending: list[ImportedTransaction] = []

    async def flush() -> None:
        if not pending:
            return
        results = await post_transactions(
            uow, ledger, [p.transaction for p in pending], policy, with_volumes=False
        )
        for entry, result in zip(pending, results, strict=True):
            if isinstance(result, JournalError):
                raise ImportRefused(f"transaction {entry.source_id}: {result.message}")
            ids[entry.source_id] = result.id
        pending.clear()

    def mapped(source_id: int) -> int:
        if source_id not in ids:
            raise ImportRefused(f"transaction {source_id} is not in the log before its use")
        return ids[source_id]

    for entry in entries:
        if isinstance(entry, ImportedTransaction):
            if entry.source_id in seen:
                raise ImportRefused(f"transaction {entry.source_id} appears twice")
            seen.add(entry.source_id)
            pending.append(entry)
            continue
        await flush()
        if isinstance(entry, ImportedRevert):
            reversal = await revert_transaction(
                uow,
                ledger,
                mapped(entry.reverted_source_id),
                policy,
                force=True,
                at_effective_date=entry.at_effective_date,
                metadata=entry.metadata,
            )
            ids[entry.source_id] = reversal.id
            seen.add(entry.source_id)
        else:
            target = (
                mapped(int(entry.target_id))
                if entry.target_type == "TRANSACTION"
                else entry.target_id
            )
            await change_metadata(
                uow,
                ledger,
                entry.target_type,
                target,
                metadata=entry.metadata,
                delete_key=entry.delete_key,
            )
    await flush()
    return len(entries)
