"""Journal persistence: set-based SQL over ``transactions``, ``moves``, ``volumes``.

Every write of a batch is one statement per table (``unnest`` of arrays), and
volume rows are locked in (address, asset) order so concurrent writers cannot
deadlock on each other; a deadlock that still happens is retried by the caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from folio.ledger.domain.journal import (
    MetadataChange,
    Posting,
    SealRecord,
    Transaction,
    VolumeKey,
    Volumes,
)
from folio.shared.db import driver_connection, driver_fetch
from folio.shared.transactions import sqlstate_of

NUMERIC_OVERFLOW = "22003"  # SQLSTATE numeric_value_out_of_range


@dataclass(frozen=True, slots=True)
class StoredTransaction:
    ledger: str
    id: int
    postings: tuple[Posting, ...]
    timestamp: datetime | str  # str only for a stored time Python cannot hold (_time_columns)
    inserted_at: datetime
    reference: str | None
    metadata: dict[str, str]
    reverts_id: int | None
    reverted_at: datetime | None = None
    source_event_id: str | None = None
    post_commit_volumes: dict[VolumeKey, Volumes] = field(default_factory=dict)
    pre_commit_volumes: dict[VolumeKey, Volumes] = field(default_factory=dict)
    # the metadata as changed since creation (None: never changed); ``metadata`` is
    # what the transaction was created with, the content the chain seals
    current_metadata: dict[str, str] | None = None

    @property
    def reverted(self) -> bool:
        return self.reverted_at is not None

    @property
    def effective_metadata(self) -> dict[str, str]:
        return self.metadata if self.current_metadata is None else self.current_metadata

    def as_chain_transaction(self) -> Transaction:
        return Transaction(
            ledger=self.ledger,
            transaction_id=self.id,
            postings=self.postings,
            timestamp=self.timestamp,
            inserted_at=self.inserted_at,
            reference=self.reference,
            metadata=self.metadata,
            reverts_transaction_id=self.reverts_id,
        )


@dataclass(frozen=True, slots=True)
class UnreadableRow:
    """A journal row that cannot be turned into a transaction (malformed stored JSON:
    only a hand edit or a bug writes one); the sealer and verify report it by id."""

    ledger: str
    id: int
    reason: str


#: What reading or hashing a malformed stored row can raise.
ROW_ERRORS = (KeyError, TypeError, ValueError, OverflowError, AttributeError)


def _time_columns(column: str, alias: str) -> str:
    """``column`` as ``alias`` when Python can hold it, else NULL there and its fixed
    UTC rendering (era included) as ``<alias>_text``.

    Years outside 1-9999 are refused on the way in, but rows stored before that
    must still read: the driver raises ``OverflowError`` on the whole result
    otherwise. The rendering is independent of the session's settings, so it is
    also the time's canonical form in the row hash.
    """
    in_range = (
        f"({column} >= '0001-01-01 00:00:00+00' AND {column} <= '9999-12-31 23:59:59.999999+00')"
    )
    return (
        f"CASE WHEN {in_range} THEN {column} END AS {alias}, "
        f"CASE WHEN NOT {in_range} THEN coalesce(to_char({column} AT TIME ZONE 'UTC', "
        f'\'YYYY-MM-DD"T"HH24:MI:SS.US"Z" BC\'), CAST({column} AS text)) END AS {alias}_text'
    )


def _time_value(row: Any, alias: str) -> datetime | str | None:
    value = getattr(row, alias)
    return value if value is not None else getattr(row, f"{alias}_text")


def _postings_from_json(raw: Any) -> tuple[Posting, ...]:
    items = json.loads(raw) if isinstance(raw, str) else raw
    return tuple(
        Posting(p["source"], p["destination"], int(p["amount"]), p["asset"]) for p in items
    )


def _json_object(raw: Any) -> Any:
    return raw if raw is None or isinstance(raw, dict) else json.loads(raw)


def _row_to_tx(row: Any) -> StoredTransaction:
    metadata = _json_object(row.metadata)
    return StoredTransaction(
        ledger=row.ledger,
        id=row.id,
        postings=_postings_from_json(row.postings),
        timestamp=_time_value(row, "timestamp"),
        inserted_at=row.inserted_at,
        reference=row.reference,
        metadata=metadata,
        reverts_id=row.reverts_id,
        reverted_at=row.reverted_at,
        source_event_id=str(row.source_event_id) if row.source_event_id else None,
        current_metadata=_json_object(getattr(row, "current_metadata", None)),
    )


def _row_or_unreadable(row: Any) -> StoredTransaction | UnreadableRow:
    try:
        return _row_to_tx(row)
    except ROW_ERRORS as exc:
        return UnreadableRow(row.ledger, row.id, f"{type(exc).__name__}: {exc}")


_TX_SELECT = f"""
    SELECT t.ledger, t.id, t.reference, {_time_columns("t.timestamp", "timestamp")},
           t.inserted_at, t.postings, t.metadata, t.current_metadata, t.reverts_id,
           t.source_event_id, r.reverted_at
    FROM transactions t
    LEFT JOIN reversions r ON r.ledger = t.ledger AND r.reverted_id = t.id
"""


@dataclass(frozen=True, slots=True)
class AccountRow:
    address: str
    metadata: dict[str, str]
    first_usage: datetime | str  # str: a time stored before years outside 1-9999 were refused
    insertion_date: datetime


_ACCOUNT_SELECT = (
    f"SELECT address, metadata, {_time_columns('first_usage', 'first_usage')}, insertion_date "
    "FROM accounts"
)


def _account_row(row: Any) -> AccountRow:
    metadata = row.metadata if isinstance(row.metadata, dict) else json.loads(row.metadata)
    return AccountRow(row.address, metadata, _time_value(row, "first_usage"), row.insertion_date)


# Each ledger's primary key from the frontier on; seals and reversions are looked up
# per row (scalar subqueries: joins that a generic plan would hash over whole tables).
UNSEALED_SQL = (
    f"SELECT t.ledger, t.id, t.reference, {_time_columns('t.timestamp', 'timestamp')}, "
    "t.inserted_at, t.postings, t.metadata, t.current_metadata, "
    "t.reverts_id, t.source_event_id, (SELECT r.reverted_at FROM reversions r "
    "WHERE r.ledger = t.ledger AND r.reverted_id = t.id) AS reverted_at "
    "FROM transactions t WHERE t.ledger = ANY(ARRAY(SELECT name FROM ledgers)) "
    "AND t.id > :after AND (SELECT true FROM journal_seals s "
    "WHERE s.ledger = t.ledger AND s.transaction_id = t.id) IS NULL "
    "ORDER BY t.id LIMIT :limit"
)

_CHANGE_COLUMNS = "ledger, id, kind, target_type, target_id, metadata, key, inserted_at"
# Like UNSEALED_SQL: each ledger's primary key from the frontier on, seals per row.
UNSEALED_CHANGES_SQL = (
    f"SELECT {_CHANGE_COLUMNS} FROM metadata_changes c "
    "WHERE c.ledger = ANY(ARRAY(SELECT name FROM ledgers)) AND c.id > :after "
    "AND (SELECT true FROM journal_seals s WHERE s.ledger = c.ledger "
    "AND s.transaction_id = c.id) IS NULL ORDER BY c.id LIMIT :limit"
)


def _metadata_clauses(
    table: str,
    key: str,
    column: str,
    params: dict[str, Any],
    metadata: dict[str, str] | None,
    exists: Sequence[str] | None,
) -> list[str]:
    """``$match`` on metadata keys (containment) and ``$exists`` (every key present),
    as ``key = ANY(ARRAY(...))`` over ``table``'s matching rows: the array is planned
    on its own, so its generic plan takes the GIN index on ``column`` (the two operators
    it answers) where the list's ORDER BY ... LIMIT would rather walk the primary key
    and filter the whole ledger. The array is not narrowed to the ledger (the outer
    query is): a ledger condition there made the planner read the ledger's whole
    primary key instead of the index. The cost follows the matches, not the ledger."""
    conditions = []
    if metadata:
        conditions.append(f"{column} @> CAST(:metadata AS jsonb)")
        params["metadata"] = json.dumps(metadata)
    if exists:
        conditions.append(f"{column} ?& CAST(:metadata_exists AS text[])")
        params["metadata_exists"] = list(exists)
    if not conditions:
        return []
    return [f"{key} = ANY(ARRAY(SELECT {key} FROM {table} WHERE " + " AND ".join(conditions) + "))"]


def _change(row: Any) -> MetadataChange:
    return MetadataChange(
        ledger=row.ledger,
        id=row.id,
        kind=row.kind,
        target_type=row.target_type,
        target_id=row.target_id,
        inserted_at=row.inserted_at,
        metadata=_json_object(row.metadata),
        key=row.key,
    )


# (id, reference, effective timestamp, postings, metadata, reverts id, source event id)
JournalEntry = tuple[int, str | None, datetime, Sequence[Posting], dict[str, str], int | None, Any]


@dataclass(frozen=True, slots=True)
class JournalRows:
    """Stored transactions serialised for the write statements."""

    document: str
    first_use: dict[str, datetime]  # each account's earliest effective time in the batch


@dataclass(frozen=True, slots=True)
class SealFrontier:
    settled_id: int  # every transaction at or below it is sealed or will never exist
    candidate_id: int | None  # settles once every transaction then running has ended
    candidate_final: bool  # ... which it has


@dataclass(frozen=True, slots=True)
class BatchStart:
    ids: list[int]
    now: datetime
    taken_references: set[str]


class KnownFirstUsages:
    """Accounts' first usages as of committed transactions, kept in process.

    An account's ``first_usage`` only ever moves earlier, and only times read from
    committed batches are kept, so a kept time is never earlier than the stored
    one: a transaction at or after it cannot change the account's row, and the
    batch's account upsert leaves such accounts out (in steady state, all of them).
    Shared by the unit-of-work factory of one database; bounded by starting over.
    """

    def __init__(self, limit: int = 200_000) -> None:
        self._limit = limit
        self._times: dict[tuple[str, str], datetime] = {}

    def unknown(self, ledger: str, first_use: dict[str, datetime]) -> dict[str, datetime]:
        """The accounts of ``first_use`` whose row may need inserting or moving earlier."""
        times = self._times
        return {
            address: at
            for address, at in first_use.items()
            if (known := times.get((ledger, address))) is None or at < known
        }

    def remember(self, ledger: str, first_use: dict[str, datetime]) -> None:
        """Call after commit: each account's stored first usage is now no later."""
        if len(self._times) + len(first_use) > self._limit:
            self._times.clear()
        times = self._times
        for address, at in first_use.items():
            known = times.get((ledger, address))
            if known is None or at < known:
                times[(ledger, address)] = at


class JournalRepository:
    def __init__(
        self,
        session: AsyncSession,
        first_usages: KnownFirstUsages | None = None,
        after_commit: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.session = session
        self._known_ledgers: set[str] = set()  # ledgers are never deleted
        # without a hook to learn of the commit, nothing is remembered (never skipped)
        self._first_usages = first_usages if after_commit else None
        self._after_commit = after_commit

    # --- ledgers ---------------------------------------------------------------

    async def ledger_exists(self, name: str) -> bool:
        if name in self._known_ledgers:
            return True
        found = await self.session.execute(
            text("SELECT 1 FROM ledgers WHERE name = :name"), {"name": name}
        )
        if found.first() is None:
            return False
        self._known_ledgers.add(name)
        return True

    async def create_ledger(
        self, name: str, bucket: str, metadata: dict[str, str], features: dict[str, str]
    ) -> bool:
        """False when the ledger already exists."""
        result = await self.session.execute(
            text(
                "INSERT INTO ledgers (name, bucket, metadata, features) "
                "VALUES (:name, :bucket, CAST(:metadata AS jsonb), CAST(:features AS jsonb)) "
                "ON CONFLICT (name) DO NOTHING RETURNING name"
            ),
            {
                "name": name,
                "bucket": bucket,
                "metadata": json.dumps(metadata),
                "features": json.dumps(features),
            },
        )
        return result.first() is not None

    async def get_ledger(self, name: str) -> Any | None:
        result = await self.session.execute(
            text(
                "SELECT id, name, bucket, metadata, features, added_at FROM ledgers WHERE name = :n"
            ),
            {"n": name},
        )
        return result.first()

    async def list_ledgers(self) -> list[Any]:
        result = await self.session.execute(
            text("SELECT id, name, bucket, metadata, features, added_at FROM ledgers ORDER BY id")
        )
        return list(result)

    # --- write path ------------------------------------------------------------

    async def _batch_statement(self, sql: str, *args: Any) -> list[Any]:
        """Run one of the batch write statements on the session's own asyncpg
        connection (same transaction), as the shared outbox does for its COPY: these
        run once per batch with large parameters, where the ORM's per-statement work
        was a fair share of the cost."""
        return await driver_fetch(self.session, sql, *args)

    async def prepare_batch(
        self, ledger: str, count: int, references: Sequence[str]
    ) -> BatchStart | None:
        """Everything a batch needs before it writes, in one round trip: whether the
        ledger exists (None if not), ``count`` new ids (ascending), the transaction
        time and which of ``references`` are taken already."""
        [row] = await self._batch_statement(
            # the transaction has an id of its own before it takes journal ids (the
            # sealer's frontier relies on it): every id is produced after ``xid`` is read
            "WITH own AS MATERIALIZED (SELECT pg_current_xact_id() AS xid) "
            "SELECT EXISTS (SELECT 1 FROM ledgers WHERE name = $1) AS found, "
            "now() AS now, "
            "ARRAY(SELECT nextval('transaction_ids') "
            "FROM own, generate_series(1, CAST($2 AS integer))) AS ids, "
            "ARRAY(SELECT reference FROM transactions WHERE ledger = $1 AND reference "
            "= ANY(ARRAY(SELECT jsonb_array_elements_text(CAST($3 AS jsonb))))) AS taken",
            ledger,
            count,
            to_json(list(set(references))).decode(),
        )
        if not row["found"]:
            return None
        self._known_ledgers.add(ledger)
        return BatchStart(sorted(row["ids"]), row["now"], set(row["taken"]))

    async def lock_volumes(
        self, ledger: str, keys: Sequence[VolumeKey]
    ) -> dict[VolumeKey, Volumes]:
        """Current volumes of ``keys``, rows locked FOR UPDATE in sorted key order."""
        if not keys:
            return {}
        ordered = sorted(set(keys))
        addresses = [k[0] for k in ordered]
        assets = [k[1] for k in ordered]
        await self.session.execute(
            text(
                "INSERT INTO volumes (ledger, address, asset) "
                "SELECT :ledger, a, s FROM unnest(CAST(:addresses AS text[]), "
                "CAST(:assets AS text[])) AS k(a, s) ORDER BY a, s "
                "ON CONFLICT DO NOTHING"
            ),
            {"ledger": ledger, "addresses": addresses, "assets": assets},
        )
        result = await self.session.execute(
            text(
                "SELECT v.address, v.asset, v.input, v.output FROM volumes v "
                "JOIN unnest(CAST(:addresses AS text[]), CAST(:assets AS text[])) AS k(a, s) "
                "ON v.address = k.a AND v.asset = k.s "
                "WHERE v.ledger = :ledger ORDER BY v.address, v.asset FOR UPDATE OF v"
            ),
            {"ledger": ledger, "addresses": addresses, "assets": assets},
        )
        return {(r.address, r.asset): Volumes(int(r.input), int(r.output)) for r in result}

    async def add_volumes(
        self, ledger: str, deltas: dict[VolumeKey, Volumes], *, guarded: bool = False
    ) -> bool:
        """Add ``deltas`` to the current volumes, creating missing rows, in one statement.

        Rows are taken in (address, asset) order (the ``ORDER BY`` feeds the upsert),
        the same order ``lock_volumes`` uses, so writers that skip the explicit lock
        still lock in the common order. A caller that holds the locks already (it
        checked balances) just updates its own rows.

        ``guarded``: the caller checked no volume (it read none), so the database is
        the check: a sum beyond ``bigint`` (numeric overflow, 22003) rolls the
        statement back to a savepoint and returns False, the transaction still usable.
        (Volumes are numeric(38,0) since migration 0009: reachable only in theory.)
        """
        if not deltas:
            return True
        if guarded:
            # on the driver connection, inside the session's transaction (begun first if
            # it has not been, as driver_fetch does); no round trip through the ORM
            raw = await driver_connection(self.session)
            if not raw.is_in_transaction():
                await self.session.execute(text("SELECT 1"))
            await raw.execute("SAVEPOINT journal_volumes")
            try:
                await self._upsert_volumes(ledger, deltas)
            except sa_exc.DBAPIError as exc:
                if sqlstate_of(exc) != NUMERIC_OVERFLOW:
                    raise
                await raw.execute("ROLLBACK TO SAVEPOINT journal_volumes")
                return False
            return True
        await self._upsert_volumes(ledger, deltas)
        return True

    async def _upsert_volumes(self, ledger: str, deltas: dict[VolumeKey, Volumes]) -> None:
        await self._batch_statement(
            "INSERT INTO volumes AS v (ledger, address, asset, input, output) "
            "SELECT CAST($1 AS text), k->>0, k->>1, CAST(k->>2 AS numeric), CAST(k->>3 AS numeric) "
            "FROM jsonb_array_elements(CAST($2 AS jsonb)) AS d(k) "
            "ORDER BY k->>0, k->>1 "
            "ON CONFLICT (ledger, address, asset) DO UPDATE "
            "SET input = v.input + EXCLUDED.input, output = v.output + EXCLUDED.output",
            ledger,
            to_json(
                [[address, asset, d.input, d.output] for (address, asset), d in deltas.items()]
            ).decode(),
        )

    @staticmethod
    def journal_rows(entries: Iterable[JournalEntry]) -> JournalRows:
        """Serialise a batch for ``insert_transactions``: CPU only, so a caller can do
        it while the database works on the batch's earlier statements.

        A batch travels as one JSON document per statement (pydantic's writer; the
        server unpacks it cheaply), where per-element array encoding on the client
        cost more than the inserts themselves.
        """
        entries = list(entries)
        first_use: dict[str, datetime] = {}
        for _, _, timestamp, postings, _, _, _ in entries:
            for p in postings:
                for address in (p.source, p.destination):
                    seen = first_use.get(address)
                    if seen is None or timestamp < seen:
                        first_use[address] = timestamp
        document = to_json(
            [
                [tx_id, reference, timestamp, [p.as_dict() for p in postings], *rest]
                for tx_id, reference, timestamp, postings, *rest in entries
            ]
        ).decode()
        return JournalRows(document, first_use)

    @classmethod
    def rows_of(cls, transactions: Sequence[StoredTransaction]) -> JournalRows:
        return cls.journal_rows(
            (
                tx.id,
                tx.reference,
                tx.timestamp,
                tx.postings,
                tx.metadata,
                tx.reverts_id,
                tx.source_event_id,
            )
            for tx in transactions
        )

    async def insert_transactions(
        self, ledger: str, rows: JournalRows, inserted_at: datetime
    ) -> None:
        """Insert a batch's transactions (``journal_rows``), their moves and first
        account usages."""
        await self._batch_statement(
            # each row's fields are typed once (the CTE), then read by both inserts;
            # every posting gives two moves (its source side and its destination side)
            "WITH doc AS MATERIALIZED (SELECT CAST(r->>0 AS bigint) AS id, r->>1 AS ref, "
            "CAST(r->>2 AS timestamptz) AS ts, r->3 AS postings, r->4 AS metadata, "
            "CAST(r->>5 AS bigint) AS reverts_id, CAST(r->>6 AS uuid) AS source_event_id "
            "FROM jsonb_array_elements(CAST($3 AS jsonb)) AS d(r)), "
            "tx AS (INSERT INTO transactions (ledger, id, reference, timestamp, inserted_at, "
            "postings, metadata, reverts_id, source_event_id) "
            "SELECT CAST($1 AS text), id, ref, ts, CAST($2 AS timestamptz), postings, metadata, "
            "reverts_id, source_event_id FROM doc) "
            "INSERT INTO moves (ledger, transaction_id, address, asset, input, output, "
            "effective_at, inserted_at) "
            "SELECT CAST($1 AS text), doc.id, "
            "CASE WHEN side.source THEN p->>'source' ELSE p->>'destination' END, p->>'asset', "
            "CASE WHEN side.source THEN 0 ELSE CAST(p->>'amount' AS bigint) END, "
            "CASE WHEN side.source THEN CAST(p->>'amount' AS bigint) ELSE 0 END, doc.ts, "
            "CAST($2 AS timestamptz) "
            "FROM doc CROSS JOIN LATERAL jsonb_array_elements(doc.postings) AS ps(p) "
            "CROSS JOIN (VALUES (true), (false)) AS side(source)",
            ledger,
            inserted_at,
            rows.document,
        )
        pending = rows.first_use
        if self._first_usages is not None and self._after_commit is not None:
            pending = self._first_usages.unknown(ledger, pending)
            if pending:  # only these can teach the memory anything (the rest are known)
                known, ledger_name, upserted = self._first_usages, ledger, pending
                self._after_commit(lambda: known.remember(ledger_name, upserted))
        if not pending:  # the usual batch: every account's first usage is known
            return
        # Every writer holds the volume rows of these accounts already, so the row
        # locks taken here never wait on another journal writer. Accounts whose first
        # usage is already no later are skipped before the upsert: first_usage only
        # ever decreases, so the skip stays right, and the upsert would lock (write)
        # each such row for nothing. The skip looks each account up by its primary key
        # (a scalar subquery): as a NOT EXISTS anti-join, a generic plan sorted and
        # merged the ledger's whole accounts table per batch.
        await self._batch_statement(
            "INSERT INTO accounts AS a (ledger, address, first_usage, insertion_date) "
            "SELECT CAST($1 AS text), n.address, n.first_usage, CAST($2 AS timestamptz) FROM ("
            "SELECT k->>0 AS address, CAST(k->>1 AS timestamptz) AS first_usage "
            "FROM jsonb_array_elements(CAST($3 AS jsonb)) AS d(k)) AS n "
            "WHERE coalesce((SELECT o.first_usage FROM accounts o "
            "WHERE o.ledger = CAST($1 AS text) AND o.address = n.address), 'infinity') "
            "> n.first_usage "
            "ORDER BY n.address "
            "ON CONFLICT (ledger, address) DO UPDATE SET first_usage = EXCLUDED.first_usage "
            "WHERE a.first_usage > EXCLUDED.first_usage",
            ledger,
            inserted_at,
            to_json(list(pending.items())).decode(),
        )

    async def lock_for_revert(self, ledger: str, tx_id: int) -> None:
        """Serialise reverts of one transaction (transaction-scoped advisory lock)."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"ledger.revert:{ledger}:{tx_id}"},
        )

    async def record_reversion(
        self, ledger: str, reverted_id: int, reverting_id: int, at: datetime
    ) -> bool:
        """False when the transaction was already reverted (the primary key decides)."""
        result = await self.session.execute(
            text(
                "INSERT INTO reversions (ledger, reverted_id, reverting_id, reverted_at) "
                "VALUES (:ledger, :rid, :nid, :at) ON CONFLICT DO NOTHING RETURNING reverted_id"
            ),
            {"ledger": ledger, "rid": reverted_id, "nid": reverting_id, "at": at},
        )
        return result.first() is not None

    # --- reads ---------------------------------------------------------------

    async def by_references(
        self, ledger: str, references: Iterable[str]
    ) -> dict[str, StoredTransaction]:
        refs = sorted(set(references))
        if not refs:
            return {}
        result = await self.session.execute(
            text(
                _TX_SELECT
                + " WHERE t.ledger = :ledger AND t.reference = ANY(CAST(:refs AS text[]))"
            ),
            {"ledger": ledger, "refs": refs},
        )
        return {row.reference: _row_to_tx(row) for row in result}

    async def get(
        self, ledger: str, tx_id: int, *, for_update: bool = False
    ) -> StoredTransaction | None:
        result = await self.session.execute(
            text(_TX_SELECT + " WHERE t.ledger = :ledger AND t.id = :id"),
            {"ledger": ledger, "id": tx_id},
        )
        row = result.first()
        return _row_to_tx(row) if row else None

    @staticmethod
    def _transaction_clauses(
        ledger: str,
        *,
        reference: str | None = None,
        account: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        pit: datetime | None = None,
        metadata: dict[str, str] | None = None,
        metadata_exists: Sequence[str] | None = None,
    ) -> tuple[list[str], dict[str, Any]]:
        """The WHERE clauses of a transaction filter (the list and its count share them).
        Metadata conditions are on the effective metadata, the expression the GIN index
        ``transactions_metadata`` (migration 0011) holds: they read the matches only."""
        clauses = ["t.ledger = :ledger"]
        params: dict[str, Any] = {"ledger": ledger}
        clauses.extend(
            _metadata_clauses(
                "transactions",
                "id",
                "coalesce(current_metadata, metadata)",
                params,
                metadata,
                metadata_exists,
            )
        )
        if reference is not None:
            clauses.append("t.reference = :reference")
            params["reference"] = reference
        if account is not None:
            clauses.append(
                "t.id IN (SELECT m.transaction_id FROM moves m "
                "WHERE m.ledger = :ledger AND m.address = :account)"
            )
            params["account"] = account
        if start_time is not None:
            clauses.append("t.timestamp >= :start_time")
            params["start_time"] = start_time
        if end_time is not None:
            clauses.append("t.timestamp < :end_time")
            params["end_time"] = end_time
        if pit is not None:
            clauses.append("t.timestamp <= :pit")
            params["pit"] = pit
        return clauses, params

    async def list(
        self,
        ledger: str,
        *,
        limit: int,
        after_id: int | None = None,
        **filters: Any,
    ) -> list[StoredTransaction]:
        """Newest first (Formance's default order), keyset-paginated on id."""
        sql, params = self.list_statement(ledger, limit=limit, after_id=after_id, **filters)
        result = await self.session.execute(text(sql), params)
        return [_row_to_tx(r) for r in result]

    @classmethod
    def list_statement(
        cls, ledger: str, *, limit: int, after_id: int | None = None, **filters: Any
    ) -> tuple[str, dict[str, Any]]:
        """The SQL and parameters of ``list`` (the plan tests explain it)."""
        clauses, params = cls._transaction_clauses(ledger, **filters)
        params["limit"] = limit
        if after_id is not None:
            clauses.append("t.id < :after_id")
            params["after_id"] = after_id
        sql = _TX_SELECT + " WHERE " + " AND ".join(clauses) + " ORDER BY t.id DESC LIMIT :limit"
        return sql, params

    async def count(self, ledger: str, **filters: Any) -> int:
        """How many transactions ``list`` would return over every page (``HEAD``)."""
        clauses, params = self._transaction_clauses(ledger, **filters)
        result = await self.session.execute(
            text("SELECT count(*) FROM transactions t WHERE " + " AND ".join(clauses)), params
        )
        return int(result.scalar_one())

    @staticmethod
    def _account_clauses(
        ledger: str,
        *,
        address: str | None = None,
        address_prefix: str | None = None,
        metadata: dict[str, str] | None = None,
        metadata_exists: Sequence[str] | None = None,
    ) -> tuple[list[str], dict[str, Any]]:
        clauses = ["ledger = :ledger"]
        params: dict[str, Any] = {"ledger": ledger}
        if address is not None:
            clauses.append("address = :address")
            params["address"] = address
        if address_prefix is not None:
            clauses.append("(address = :prefix OR address LIKE :like)")
            params["prefix"] = address_prefix
            params["like"] = address_prefix.replace("_", r"\_").replace("%", r"\%") + ":%"
        clauses.extend(
            _metadata_clauses("accounts", "address", "metadata", params, metadata, metadata_exists)
        )
        return clauses, params

    async def count_accounts(self, ledger: str, **filters: Any) -> int:
        clauses, params = self._account_clauses(ledger, **filters)
        result = await self.session.execute(
            text("SELECT count(*) FROM accounts WHERE " + " AND ".join(clauses)), params
        )
        return int(result.scalar_one())

    async def update_ledger_metadata(
        self, ledger: str, metadata: dict[str, str] | None = None, delete_key: str | None = None
    ) -> bool:
        """Merge ``metadata`` into the ledger's, or drop ``delete_key``; False: no ledger."""
        if delete_key is not None:
            sql = "UPDATE ledgers SET metadata = metadata - :key WHERE name = :name RETURNING 1"
            params: dict[str, Any] = {"name": ledger, "key": delete_key}
        else:
            sql = (
                "UPDATE ledgers SET metadata = metadata || CAST(:metadata AS jsonb) "
                "WHERE name = :name RETURNING 1"
            )
            params = {"name": ledger, "metadata": json.dumps(metadata or {})}
        result = await self.session.execute(text(sql), params)
        return result.first() is not None

    async def schema_version(self) -> str | None:
        """The database's migration (alembic) version, for ``_info``."""
        result = await self.session.execute(text("SELECT version_num FROM alembic_version"))
        return result.scalar_one_or_none()

    async def account(self, ledger: str, address: str) -> AccountRow | None:
        result = await self.session.execute(
            text(_ACCOUNT_SELECT + " WHERE ledger = :ledger AND address = :address"),
            {"ledger": ledger, "address": address},
        )
        row = result.first()
        return _account_row(row) if row else None

    async def list_accounts(
        self, ledger: str, *, limit: int, after_address: str | None = None, **filters: Any
    ) -> list[AccountRow]:
        sql, params = self.accounts_statement(
            ledger, limit=limit, after_address=after_address, **filters
        )
        result = await self.session.execute(text(sql), params)
        return [_account_row(r) for r in result]

    @classmethod
    def accounts_statement(
        cls, ledger: str, *, limit: int, after_address: str | None = None, **filters: Any
    ) -> tuple[str, dict[str, Any]]:
        """The SQL and parameters of ``list_accounts`` (the plan tests explain it)."""
        clauses, params = cls._account_clauses(ledger, **filters)
        if after_address is not None:
            clauses.append("address > :after")
            params["after"] = after_address
        params["limit"] = limit
        sql = _ACCOUNT_SELECT + " WHERE " + " AND ".join(clauses) + " ORDER BY address LIMIT :limit"
        return sql, params

    async def volumes_of(
        self,
        ledger: str,
        addresses: Sequence[str] | None = None,
        *,
        pit: datetime | None = None,
        use_insertion_date: bool = False,
        start_time: datetime | None = None,
        address_prefix: str | None = None,
        from_moves: bool = False,
    ) -> dict[VolumeKey, Volumes]:
        """Volumes now (from the aggregate) or at a point in time (from moves);
        ``from_moves``: now, recomputed from every move (the invariant checker), only
        the (account, asset) pairs that moved something (a zero posting moves nothing)."""
        params: dict[str, Any] = {"ledger": ledger}
        filters = ""
        if addresses is not None:
            filters += " AND address = ANY(CAST(:addrs AS text[]))"
            params["addrs"] = list(addresses)
        if address_prefix is not None:
            filters += " AND (address = :prefix OR address LIKE :like)"
            params["prefix"] = address_prefix
            params["like"] = address_prefix.replace("_", r"\_").replace("%", r"\%") + ":%"
        if pit is None and start_time is None and not from_moves:
            sql = (
                "SELECT address, asset, input, output FROM volumes WHERE ledger = :ledger" + filters
            )
        else:
            column = "inserted_at" if use_insertion_date else "effective_at"
            if pit is not None:
                filters += f" AND {column} <= :pit"
                params["pit"] = pit
            if start_time is not None:
                filters += f" AND {column} >= :start"
                params["start"] = start_time
            sql = (
                "SELECT address, asset, sum(input) AS input, sum(output) AS output FROM moves "
                "WHERE ledger = :ledger" + filters + " GROUP BY address, asset"
            )
            if from_moves:
                sql += " HAVING sum(input) <> 0 OR sum(output) <> 0"
        result = await self.session.execute(text(sql + " ORDER BY 1, 2"), params)
        return {(r.address, r.asset): Volumes(int(r.input), int(r.output)) for r in result}

    # --- metadata changes --------------------------------------------------------

    async def set_transaction_metadata(
        self, ledger: str, tx_id: int, metadata: dict[str, str] | None, delete_key: str | None
    ) -> bool:
        """Merge ``metadata`` into the transaction's current metadata, or drop
        ``delete_key``; False when there is no such transaction. The row lock orders
        concurrent changes of one transaction (the update reads the latest version)."""
        base = "coalesce(current_metadata, metadata)"
        change = "- CAST(:key AS text)" if delete_key is not None else "|| CAST(:m AS jsonb)"
        result = await self.session.execute(
            text(
                f"UPDATE transactions SET current_metadata = {base} {change} "
                "WHERE ledger = :ledger AND id = :id RETURNING id"
            ),
            {"ledger": ledger, "id": tx_id, "key": delete_key, "m": json.dumps(metadata or {})},
        )
        return result.first() is not None

    async def set_account_metadata(
        self, ledger: str, address: str, metadata: dict[str, str] | None, delete_key: str | None
    ) -> bool:
        """Merge ``metadata`` into the account's (creating the account, as Formance
        does), or drop ``delete_key`` (False when there is no such account)."""
        if delete_key is not None:
            result = await self.session.execute(
                text(
                    "UPDATE accounts SET metadata = metadata - CAST(:key AS text) "
                    "WHERE ledger = :ledger AND address = :address RETURNING 1"
                ),
                {"ledger": ledger, "address": address, "key": delete_key},
            )
            return result.first() is not None
        await self.session.execute(
            text(
                "INSERT INTO accounts AS a (ledger, address, metadata, first_usage, "
                "insertion_date) VALUES (:ledger, :address, CAST(:m AS jsonb), now(), now()) "
                "ON CONFLICT (ledger, address) DO UPDATE SET metadata = a.metadata || "
                "EXCLUDED.metadata"
            ),
            {"ledger": ledger, "address": address, "m": json.dumps(metadata or {})},
        )
        return True

    async def record_metadata_change(
        self,
        ledger: str,
        kind: str,
        target_type: str,
        target_id: str,
        metadata: dict[str, str] | None,
        key: str | None,
    ) -> MetadataChange:
        """Append the change to the log. Its id is a journal id, taken once this
        transaction has an id of its own (the sealer's frontier relies on it)."""
        result = await self.session.execute(
            text(
                "WITH own AS MATERIALIZED (SELECT pg_current_xact_id() AS xid) "
                "INSERT INTO metadata_changes (ledger, id, kind, target_type, target_id, "
                "metadata, key, inserted_at) SELECT :ledger, nextval('transaction_ids'), :kind, "
                ":target_type, :target_id, CAST(:m AS jsonb), :key, now() FROM own "
                f"RETURNING {_CHANGE_COLUMNS}"
            ),
            {
                "ledger": ledger,
                "kind": kind,
                "target_type": target_type,
                "target_id": target_id,
                "m": json.dumps(metadata) if metadata is not None else None,
                "key": key,
            },
        )
        return _change(result.one())

    async def unsealed_changes(self, limit: int, after_id: int = 0) -> list[MetadataChange]:
        result = await self.session.execute(
            text(UNSEALED_CHANGES_SQL), {"limit": limit, "after": after_id}
        )
        return [_change(r) for r in result]

    async def changes_page(
        self, ledger: str, *, limit: int, before_id: int | None = None
    ) -> list[MetadataChange]:
        """A ledger's metadata changes, newest first, below ``before_id`` (the log)."""
        sql, params = self.changes_page_statement(ledger, limit=limit, before_id=before_id)
        result = await self.session.execute(text(sql), params)
        return [_change(r) for r in result]

    @staticmethod
    def changes_page_statement(
        ledger: str, *, limit: int, before_id: int | None = None
    ) -> tuple[str, dict[str, Any]]:
        """The SQL of ``changes_page``. The bound is only there when there is one: as
        ``(:before IS NULL OR id < :before)`` a generic plan read every change."""
        params: dict[str, Any] = {"ledger": ledger, "limit": limit}
        bound = ""
        if before_id is not None:
            bound = " AND id < :before"
            params["before"] = before_id
        sql = (
            f"SELECT {_CHANGE_COLUMNS} FROM metadata_changes WHERE ledger = :ledger{bound} "
            "ORDER BY id DESC LIMIT :limit"
        )
        return sql, params

    async def entries_after(
        self, ledger: str, *, after_id: int, limit: int
    ) -> tuple[list[StoredTransaction], list[MetadataChange]]:
        """Transactions and metadata changes above ``after_id``, oldest first, at most
        ``limit`` of each (each primary key read forwards): the log's export."""
        transactions = await self.session.execute(
            text(
                _TX_SELECT
                + " WHERE t.ledger = :ledger AND t.id > :after ORDER BY t.id LIMIT :limit"
            ),
            {"ledger": ledger, "after": after_id, "limit": limit},
        )
        changes = await self.session.execute(
            text(
                f"SELECT {_CHANGE_COLUMNS} FROM metadata_changes WHERE ledger = :ledger "
                "AND id > :after ORDER BY id LIMIT :limit"
            ),
            {"ledger": ledger, "after": after_id, "limit": limit},
        )
        return [_row_to_tx(r) for r in transactions], [_change(r) for r in changes]

    async def is_empty(self, ledger: str) -> bool:
        """No transaction and no metadata change yet (an import's precondition)."""
        result = await self.session.execute(
            text(
                "SELECT NOT EXISTS (SELECT 1 FROM transactions WHERE ledger = :ledger) "
                "AND NOT EXISTS (SELECT 1 FROM metadata_changes WHERE ledger = :ledger)"
            ),
            {"ledger": ledger},
        )
        return bool(result.scalar_one())

    async def chain_hashes(self, ledger: str, ids: Sequence[int]) -> dict[int, str]:
        """The chain link of each sealed journal entry among ``ids``."""
        if not ids:
            return {}
        result = await self.session.execute(
            text(
                "SELECT transaction_id, chain_hash FROM journal_seals WHERE ledger = :ledger "
                "AND transaction_id = ANY(CAST(:ids AS bigint[]))"
            ),
            {"ledger": ledger, "ids": list(ids)},
        )
        return {r.transaction_id: r.chain_hash for r in result}

    async def by_ids(self, ledger: str, ids: Sequence[int]) -> dict[int, StoredTransaction]:
        if not ids:
            return {}
        result = await self.session.execute(
            text(_TX_SELECT + " WHERE t.ledger = :ledger AND t.id = ANY(CAST(:ids AS bigint[]))"),
            {"ledger": ledger, "ids": sorted(set(ids))},
        )
        return {r.id: _row_to_tx(r) for r in result}

    async def all_metadata_changes(self) -> list[MetadataChange]:
        result = await self.session.execute(
            text(f"SELECT {_CHANGE_COLUMNS} FROM metadata_changes ORDER BY id")
        )
        return [_change(r) for r in result]

    # --- idempotency -------------------------------------------------------------

    async def idempotency_hit(self, ledger: str, key: str) -> Any | None:
        result = await self.session.execute(
            text(
                "SELECT request_hash, status_code, response FROM idempotency_keys "
                "WHERE ledger = :ledger AND key = :key"
            ),
            {"ledger": ledger, "key": key},
        )
        return result.first()

    async def idempotency_hits(self, ledger: str, keys: Sequence[str]) -> dict[str, Any]:
        """The stored answers of ``keys`` (a bulk's per-element ``ik``), one query."""
        if not keys:
            return {}
        result = await self.session.execute(
            text(
                "SELECT key, request_hash, status_code, response FROM idempotency_keys "
                "WHERE ledger = :ledger AND key = ANY(CAST(:keys AS text[]))"
            ),
            {"ledger": ledger, "keys": list(keys)},
        )
        return {row.key: row for row in result}

    async def remember_many(self, ledger: str, rows: Sequence[tuple[str, str, int, dict]]) -> None:
        """Store (key, request hash, status, answer) rows in one statement; a key taken
        meanwhile by a concurrent request fails it (the primary key decides)."""
        if not rows:
            return
        await self.session.execute(
            text(
                "INSERT INTO idempotency_keys (ledger, key, request_hash, status_code, response) "
                "SELECT :ledger, k, h, s, r FROM unnest(CAST(:keys AS text[]), "
                "CAST(:hashes AS text[]), CAST(:statuses AS integer[]), "
                "CAST(:responses AS jsonb[])) AS x(k, h, s, r)"
            ),
            {
                "ledger": ledger,
                "keys": [r[0] for r in rows],
                "hashes": [r[1] for r in rows],
                "statuses": [r[2] for r in rows],
                "responses": [to_json(r[3]).decode() for r in rows],
            },
        )

    async def remember_idempotent(
        self, ledger: str, key: str, request_hash: str, status_code: int, response: dict
    ) -> None:
        await self.session.execute(
            text(
                "INSERT INTO idempotency_keys (ledger, key, request_hash, status_code, response) "
                "VALUES (:ledger, :key, :hash, :status, CAST(:response AS jsonb))"
            ),
            {
                "ledger": ledger,
                "key": key,
                "hash": request_hash,
                "status": status_code,
                "response": json.dumps(response),
            },
        )

    # --- tamper evidence -----------------------------------------------------------

    async def try_sealer_lock(self) -> bool:
        result = await self.session.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtext('ledger.journal_sealer'))")
        )
        return bool(result.scalar_one())

    async def last_seal(self) -> SealRecord | None:
        result = await self.session.execute(
            text(
                "SELECT seal_seq, transaction_id, row_hash, chain_hash FROM journal_seals "
                "ORDER BY seal_seq DESC LIMIT 1"
            )
        )
        row = result.first()
        return (
            SealRecord(row.seal_seq, row.transaction_id, row.row_hash, row.chain_hash)
            if row
            else None
        )

    async def unsealed(
        self, limit: int, after_id: int = 0
    ) -> list[StoredTransaction | UnreadableRow]:
        """Unsealed transactions with ids above ``after_id``, oldest id first: each
        ledger's primary key from ``after_id`` on, each row checked against its seal.
        A row that cannot be read comes back as ``UnreadableRow`` (never an error)."""
        result = await self.session.execute(text(UNSEALED_SQL), {"limit": limit, "after": after_id})
        return [_row_or_unreadable(r) for r in result]

    async def seal_frontier(self) -> SealFrontier:
        """The sealer's frontier (migration 0006 explains it); ``candidate_final`` is
        whether every transaction that was running when the candidate was taken has
        ended (read before the caller's next statement takes its snapshot)."""
        row = (
            await self.session.execute(
                text(
                    "SELECT settled_id, candidate_id, candidate_xmax IS NOT NULL AND "
                    "pg_snapshot_xmin(pg_current_snapshot()) >= candidate_xmax AS final "
                    "FROM journal_seal_frontier"
                )
            )
        ).one()
        return SealFrontier(row.settled_id, row.candidate_id, bool(row.final))

    async def save_seal_frontier(self, settled_id: int) -> None:
        """Store ``settled_id`` and take a new candidate: the ids handed out so far,
        then (a later statement, so a later snapshot) the snapshot's ``xmax``, so every
        transaction holding one of those ids is below it."""
        handed_out = (
            await self.session.execute(
                text("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM transaction_ids")
            )
        ).scalar_one()
        await self.session.execute(
            text(
                "UPDATE journal_seal_frontier SET settled_id = :settled, "
                "candidate_id = :candidate, "
                "candidate_xmax = pg_snapshot_xmax(pg_current_snapshot())"
            ),
            {"settled": settled_id, "candidate": handed_out},
        )

    async def insert_seals(self, ledgers: list[str], seals: list[SealRecord]) -> None:
        if not seals:
            return
        await self.session.execute(
            text(
                "INSERT INTO journal_seals (seal_seq, ledger, transaction_id, row_hash, chain_hash) "
                "SELECT * FROM unnest(CAST(:seq AS bigint[]), CAST(:ledger AS text[]), "
                "CAST(:tx AS bigint[]), CAST(:rh AS text[]), CAST(:ch AS text[]))"
            ),
            {
                "seq": [s.seal_seq for s in seals],
                "ledger": ledgers,
                "tx": [s.transaction_id for s in seals],
                "rh": [s.row_hash for s in seals],
                "ch": [s.chain_hash for s in seals],
            },
        )

    async def seals(self) -> list[tuple[str, SealRecord]]:
        result = await self.session.execute(
            text(
                "SELECT ledger, seal_seq, transaction_id, row_hash, chain_hash FROM journal_seals "
                "ORDER BY seal_seq"
            )
        )
        return [
            (r.ledger, SealRecord(r.seal_seq, r.transaction_id, r.row_hash, r.chain_hash))
            for r in result
        ]

    async def all_transactions(self) -> list[StoredTransaction | UnreadableRow]:
        result = await self.session.execute(text(_TX_SELECT + " ORDER BY t.id"))
        return [_row_or_unreadable(r) for r in result]
