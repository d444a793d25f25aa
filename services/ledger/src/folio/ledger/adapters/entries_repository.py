"""Receivable entries, invoice counters, payments and rejections (set-based SQL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from folio.ledger.adapters.parking_repository import ParkingRepository
from folio.ledger.domain.receivables import Entry, EntryStatus, EntryType, format_invoice_number

_ENTRY_SELECT = """
    SELECT e.*, COALESCE(r.total, 0) AS refunded_minor, COALESCE(r.n, 0) AS refund_count
    FROM entries e
    LEFT JOIN LATERAL (
        SELECT sum(c.amount_minor) AS total, count(*) AS n FROM entries c
        WHERE c.parent_entry_id = e.id AND c.entry_type = 'REFUND') r ON TRUE
"""


def row_to_entry(row: Any) -> Entry:
    metadata = row.metadata if isinstance(row.metadata, dict) else json.loads(row.metadata)
    return Entry(
        entry_id=str(row.id),
        invoice_number=row.invoice_number,
        entry_type=EntryType(row.entry_type),
        status=EntryStatus(row.status),
        amount_minor=row.amount_minor,
        currency=row.currency,
        due_date=row.due_date,
        building_id=row.building_id,
        unit_id=row.unit_id,
        booking_id=row.booking_id,
        extension_id=row.extension_id,
        parent_entry_id=str(row.parent_entry_id) if row.parent_entry_id else None,
        description=row.description,
        paid_minor=row.paid_minor,
        refunded_minor=int(row.refunded_minor),
        overpaid_minor=row.overpaid_minor,
        paid_at=row.paid_at,
        version=row.version,
        metadata=metadata,
        refund_count=int(row.refund_count),
    )


#: Sortable columns: the key expression (the index's, verbatim: migration 0010) and
#: its SQL type for the cursor's value. Missing values sort as the greatest.
SORT_KEYS: dict[str, tuple[str, str]] = {
    "invoice_number": ("e.invoice_number", "text"),
    "entry_type": ("e.entry_type", "text"),
    "status": ("e.status", "text"),
    "amount_minor": ("e.amount_minor", "bigint"),
    "paid_minor": ("e.paid_minor", "bigint"),
    "due_date": ("COALESCE(e.due_date, DATE '9999-12-31')", "date"),
    "building_id": ('(COALESCE(e.building_id, chr(1114111)) COLLATE "C")', "text"),
    "unit_id": ('(COALESCE(e.unit_id, chr(1114111)) COLLATE "C")', "text"),
    "booking_id": ('(COALESCE(e.booking_id, chr(1114111)) COLLATE "C")', "text"),
}

#: Fields ``q`` matches by case-insensitive prefix (each one an index of migration 0010).
SEARCH_FIELDS = (
    "lower(e.invoice_number)",
    "lower(e.booking_id)",
    "lower(e.building_id)",
    "lower(e.unit_id)",
    "left(lower(e.metadata ->> 'tenant'), 200)",
    "left(lower(e.description), 200)",
)


@dataclass(frozen=True)
class EntryFilter:
    """The registry's filters (every one optional; all of them must hold)."""

    status: str | None = None
    entry_type: str | None = None
    building_id: str | None = None
    unit_id: str | None = None
    booking_id: str | None = None
    invoice_number: str | None = None
    parent_entry_id: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    overdue: bool | None = None
    q: str | None = None


def _like_prefix(value: str) -> str:
    # lowered by PostgreSQL (as the indexes are); the escapes are not letters
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _where(f: EntryFilter, today: date | None) -> tuple[list[str], dict[str, Any]]:
    clauses = ["TRUE"]
    params: dict[str, Any] = {}
    simple = {
        "status": f.status,
        "entry_type": f.entry_type,
        "building_id": f.building_id,
        "unit_id": f.unit_id,
        "booking_id": f.booking_id,
        "invoice_number": f.invoice_number,
    }
    for column, value in simple.items():
        if value is not None:
            clauses.append(f"e.{column} = :{column}")
            params[column] = value
    if f.parent_entry_id is not None:
        clauses.append("e.parent_entry_id = :parent")
        params["parent"] = uuid.UUID(f.parent_entry_id)
    if f.due_from is not None:
        clauses.append("e.due_date >= :due_from")
        params["due_from"] = f.due_from
    if f.due_to is not None:
        clauses.append("e.due_date <= :due_to")
        params["due_to"] = f.due_to
    if f.overdue is not None:
        # seed KPI "Overdue Count": DUE entries past their due date
        condition = "(e.status = 'DUE' AND e.due_date < :today)"
        clauses.append(condition if f.overdue else f"NOT COALESCE({condition}, FALSE)")
        params["today"] = today
    if f.q is not None:
        clauses.append(
            "("
            + " OR ".join(f"{field} LIKE lower(CAST(:q AS text))" for field in SEARCH_FIELDS)
            + ")"
        )
        params["q"] = _like_prefix(f.q)
    return clauses, params


def list_sql(
    *,
    limit: int,
    after_seq: int | None = None,
    sort: str | None = None,
    descending: bool = False,
    after_key: Any = None,
    today: date | None = None,
    **filters: Any,
) -> tuple[Any, dict[str, Any]]:
    """A page in ``sort`` order (a :data:`SORT_KEYS` column; creation order without one),
    ``seq`` breaking ties in the same direction, so that one ``(key, seq)`` index read
    forwards or backwards answers it. ``after_key``/``after_seq`` is the keyset cursor
    (the last row of the previous page): a row comparison, not an offset."""
    where, params = _where(EntryFilter(**filters), today)
    params["limit"] = limit
    key = SORT_KEYS[sort][0] if sort else "e.seq"
    direction = "DESC" if descending else "ASC"
    if after_seq is not None:
        params["after_seq"] = after_seq
        if sort:
            value = f"CAST(:after_key AS {SORT_KEYS[sort][1]})"
            if isinstance(after_key, date):
                # as text: asyncpg would send date.max (the missing-date key) as 'infinity'
                after_key, value = after_key.isoformat(), "CAST(CAST(:after_key AS text) AS date)"
            params["after_key"] = after_key
            where.append(f"({key}, e.seq) {'<' if descending else '>'} ({value}, :after_seq)")
        else:
            where.append(f"e.seq {'<' if descending else '>'} :after_seq")
    sql = (
        _ENTRY_SELECT.replace("SELECT e.*", f"SELECT e.*, {key} AS sort_key", 1)
        + " WHERE "
        + " AND ".join(where)
        + f" ORDER BY {key} {direction}, e.seq {direction} LIMIT :limit"
    )
    return text(sql), params


def totals_sql(*, today: date | None = None, **filters: Any) -> tuple[Any, dict[str, Any]]:
    """Count and sums of the whole filtered set, one row per currency, in one query.

    Two aggregates over the same filter: the entries' own columns (an index-only scan
    where a covering index of migration 0010 fits the filter), and the REFUND children
    of the set's entries joined to them (refunded; outstanding follows
    ``Entry.outstanding_minor``: amount - paid + refunded on DUE and PENDING, else 0)."""
    where, params = _where(EntryFilter(**filters), today)
    condition = " AND ".join(where)
    sql = (
        "WITH own AS (SELECT e.currency, count(*) AS count, sum(e.amount_minor) AS amount, "
        "sum(e.paid_minor) AS paid, COALESCE(sum(CASE WHEN e.status IN ('DUE', 'PENDING') "
        "THEN e.amount_minor - e.paid_minor END), 0) AS open "
        f"FROM entries e WHERE {condition} GROUP BY e.currency), "
        "refunds AS (SELECT e.currency, sum(c.amount_minor) AS refunded, "
        "COALESCE(sum(CASE WHEN e.status IN ('DUE', 'PENDING') THEN c.amount_minor END), 0) "
        "AS open FROM entries e JOIN entries c ON c.parent_entry_id = e.id "
        f"AND c.entry_type = 'REFUND' WHERE {condition} GROUP BY e.currency) "
        "SELECT own.currency, own.count, own.amount, own.paid, "
        "COALESCE(refunds.refunded, 0) AS refunded, "
        "own.open + COALESCE(refunds.open, 0) AS outstanding "
        "FROM own LEFT JOIN refunds USING (currency) ORDER BY own.currency"
    )
    return text(sql), params


class EntriesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def next_invoice_number(self, year: int) -> str:
        """Gap-free per year: the counter row stays locked until this transaction ends,
        and a rollback returns the number."""
        result = await self.session.execute(
            text(
                "INSERT INTO invoice_counters (year, last_value) VALUES (:year, 1) "
                "ON CONFLICT (year) DO UPDATE SET last_value = invoice_counters.last_value + 1 "
                "RETURNING last_value"
            ),
            {"year": year},
        )
        return format_invoice_number(year, result.scalar_one())

    async def insert(self, entry: Entry, *, external_ref: str | None = None) -> None:
        """Insert a new entry. A duplicate extension or external reference raises
        (IntegrityError) so the whole transaction, invoice number included, rolls back."""
        values = asdict(entry)
        values.pop("refunded_minor")
        values.pop("refund_count")
        values["id"] = uuid.UUID(values.pop("entry_id"))
        values["parent_entry_id"] = (
            uuid.UUID(values["parent_entry_id"]) if values["parent_entry_id"] else None
        )
        values["metadata"] = json.dumps(values["metadata"])
        values["entry_type"] = entry.entry_type.value
        values["status"] = entry.status.value
        values["external_ref"] = external_ref
        columns = list(values)
        placeholders = ["CAST(:metadata AS jsonb)" if c == "metadata" else f":{c}" for c in columns]
        await self.session.execute(
            text(f"INSERT INTO entries ({', '.join(columns)}) VALUES ({', '.join(placeholders)})"),
            values,
        )

    async def external_ref_exists(self, external_ref: str) -> bool:
        result = await self.session.execute(
            text("SELECT 1 FROM entries WHERE external_ref = :r"), {"r": external_ref}
        )
        return result.first() is not None

    async def get(self, entry_id: str, *, for_update: bool = False) -> Entry | None:
        try:
            ident = uuid.UUID(entry_id)
        except ValueError:
            return None
        if for_update:
            # Lock first, read after, in a statement of its own: read committed gives
            # that statement a snapshot taken once the lock is held, so the refunded
            # sum includes every refund committed by whoever held the lock before.
            # (A "SELECT ... FOR UPDATE" with the sum would rescan only the locked row
            # and keep the sum of its older snapshot.)
            locked = await self.session.execute(
                text("SELECT 1 FROM entries WHERE id = :id FOR UPDATE"), {"id": ident}
            )
            if locked.first() is None:
                return None
        result = await self.session.execute(
            text(_ENTRY_SELECT + " WHERE e.id = :id"), {"id": ident}
        )
        row = result.first()
        return row_to_entry(row) if row else None

    async def adjustments_total(self, parent_id: str, *, excluding: str | None = None) -> int:
        """Sum of the parent's ADJUSTMENT children that are not VOID (read it with the
        parent locked: every adjustment of a parent is written under that lock)."""
        result = await self.session.execute(
            text(
                "SELECT COALESCE(sum(amount_minor), 0) FROM entries WHERE parent_entry_id = :p "
                "AND entry_type = 'ADJUSTMENT' AND status <> 'VOID' "
                "AND (CAST(:x AS uuid) IS NULL OR id <> CAST(:x AS uuid))"
            ),
            {"p": uuid.UUID(parent_id), "x": uuid.UUID(excluding) if excluding else None},
        )
        return int(result.scalar_one())

    async def by_extension(self, extension_id: str) -> Entry | None:
        result = await self.session.execute(
            text(_ENTRY_SELECT + " WHERE e.extension_id = :x"), {"x": extension_id}
        )
        row = result.first()
        return row_to_entry(row) if row else None

    async def lock_by_invoice_numbers(self, invoice_numbers: Sequence[str]) -> dict[str, Entry]:
        """Entries for the invoice numbers, locked in invoice-number order (deadlock-free)."""
        numbers = sorted(set(invoice_numbers))
        if not numbers:
            return {}
        await self.session.execute(
            text(
                "SELECT id FROM entries WHERE invoice_number = ANY(CAST(:n AS text[])) "
                "ORDER BY invoice_number FOR UPDATE"
            ),
            {"n": numbers},
        )
        result = await self.session.execute(
            text(_ENTRY_SELECT + " WHERE e.invoice_number = ANY(CAST(:n AS text[]))"),
            {"n": numbers},
        )
        return {row.invoice_number: row_to_entry(row) for row in result}

    async def save_states(self, entries: Sequence[Entry], now: datetime) -> None:
        """Write mutable state (status, paid, overpaid, version) of several entries at once."""
        if not entries:
            return
        ordered = sorted(entries, key=lambda e: e.invoice_number)
        await self.session.execute(
            text(
                "UPDATE entries e SET status = k.status, paid_minor = k.paid, "
                "overpaid_minor = k.over, paid_at = k.paid_at, version = k.version, "
                "updated_at = :now "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), "
                "CAST(:paids AS bigint[]), CAST(:overs AS bigint[]), "
                "CAST(:paid_ats AS timestamptz[]), CAST(:versions AS integer[])) "
                "AS k(id, status, paid, over, paid_at, version) WHERE e.id = k.id"
            ),
            {
                "now": now,
                "ids": [uuid.UUID(e.entry_id) for e in ordered],
                "statuses": [e.status.value for e in ordered],
                "paids": [e.paid_minor for e in ordered],
                "overs": [e.overpaid_minor for e in ordered],
                "paid_ats": [e.paid_at for e in ordered],
                "versions": [e.version for e in ordered],
            },
        )

    async def update_fields(self, entry: Entry, now: datetime) -> None:
        """Admin edit of an open entry's descriptive fields and amount."""
        await self.session.execute(
            text(
                "UPDATE entries SET amount_minor = :amount, due_date = :due_date, "
                "description = :description, building_id = :building_id, unit_id = :unit_id, "
                "booking_id = :booking_id, version = :version, updated_at = :now WHERE id = :id"
            ),
            {
                "id": uuid.UUID(entry.entry_id),
                "amount": entry.amount_minor,
                "due_date": entry.due_date,
                "description": entry.description,
                "building_id": entry.building_id,
                "unit_id": entry.unit_id,
                "booking_id": entry.booking_id,
                "version": entry.version,
                "now": now,
            },
        )

    async def list(self, **query: Any) -> list[tuple[tuple[Any, int], Entry]]:
        """One page of the filtered set as ``((sort key, seq), entry)`` (:func:`list_sql`)."""
        result = await self.session.execute(*list_sql(**query))
        return [((row.sort_key, row.seq), row_to_entry(row)) for row in result]

    async def totals(self, **query: Any) -> list[Any]:
        """Count and sums of the whole filtered set per currency (:func:`totals_sql`)."""
        return list(await self.session.execute(*totals_sql(**query)))

    # --- payments and rejections -------------------------------------------------

    async def existing_payment_keys(
        self, keys: Sequence[tuple[str, str, str]]
    ) -> set[tuple[str, str, str]]:
        if not keys:
            return set()
        result = await self.session.execute(
            text(
                "SELECT p.provider, p.provider_payment_id, p.capture_key FROM payments p "
                "JOIN unnest(CAST(:a AS text[]), CAST(:b AS text[]), CAST(:c AS text[])) "
                "AS k(a, b, c) ON p.provider = k.a AND p.provider_payment_id = k.b "
                "AND p.capture_key = k.c"
            ),
            {"a": [k[0] for k in keys], "b": [k[1] for k in keys], "c": [k[2] for k in keys]},
        )
        return {(r.provider, r.provider_payment_id, r.capture_key) for r in result}

    async def insert_payments(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        columns = [
            "provider", "provider_payment_id", "capture_key", "provider_event_id",
            "source_event_id", "invoice_number", "entry_id", "amount_minor", "currency",
            "applied", "overpaid_minor", "reason_code", "reason", "method", "verified_at",
        ]  # fmt: skip
        types = {
            "source_event_id": "uuid[]", "entry_id": "uuid[]", "amount_minor": "bigint[]",
            "overpaid_minor": "bigint[]", "applied": "boolean[]", "verified_at": "timestamptz[]",
        }  # fmt: skip
        selects = ", ".join(f"CAST(:{c} AS {types.get(c, 'text[]')})" for c in columns)
        await self.session.execute(
            text(f"INSERT INTO payments ({', '.join(columns)}) SELECT * FROM unnest({selects})"),
            {c: [r[c] for r in rows] for c in columns},
        )

    async def list_payments(self, invoice_number: str | None, limit: int) -> list[Any]:
        result = await self.session.execute(
            text(
                "SELECT * FROM payments WHERE (CAST(:n AS text) IS NULL OR invoice_number = :n) "
                "ORDER BY id DESC LIMIT :limit"
            ),
            {"n": invoice_number, "limit": limit},
        )
        return list(result)

    async def insert_rejections(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        await self.session.execute(
            text(
                "INSERT INTO command_rejections (source_event_id, source_event_type, reference, "
                "invoice_number, code, reason, duplicate, payload) "
                "SELECT ev, et, ref, inv, code, reason, dup, CAST(p AS jsonb) FROM unnest("
                "CAST(:ev AS uuid[]), CAST(:et AS text[]), CAST(:ref AS text[]), "
                "CAST(:inv AS text[]), CAST(:code AS text[]), CAST(:reason AS text[]), "
                "CAST(:dup AS boolean[]), CAST(:p AS text[])) AS k(ev, et, ref, inv, code, "
                "reason, dup, p)"
            ),
            {
                "ev": [r["source_event_id"] for r in rows],
                "et": [r["source_event_type"] for r in rows],
                "ref": [r.get("reference") for r in rows],
                "inv": [r.get("invoice_number") for r in rows],
                "code": [r["code"] for r in rows],
                "reason": [r["reason"] for r in rows],
                "dup": [r.get("duplicate", False) for r in rows],
                "p": [json.dumps(r.get("payload", {}), default=str) for r in rows],
            },
        )

    async def list_rejections(self, limit: int) -> list[Any]:
        result = await self.session.execute(
            text("SELECT * FROM command_rejections ORDER BY id DESC LIMIT :limit"),
            {"limit": limit},
        )
        return list(result)

    # --- refunds that arrived before their payment ----------------------------------

    async def has_payment(self, provider: str, provider_payment_id: str) -> bool:
        result = await self.session.execute(
            text(
                "SELECT 1 FROM payments WHERE provider = :p AND provider_payment_id = :id "
                "AND applied LIMIT 1"
            ),
            {"p": provider, "id": provider_payment_id},
        )
        return result.first() is not None

    async def record_failure(self, row: dict[str, Any]) -> None:
        """Remember that a provider payment failed (once per payment)."""
        await self.session.execute(
            text(
                "INSERT INTO payment_failures (provider, provider_payment_id, invoice_number, "
                "source_event_id, reason, failed_at) VALUES (:provider, :provider_payment_id, "
                ":invoice_number, :source_event_id, :reason, :failed_at) ON CONFLICT DO NOTHING"
            ),
            row,
        )

    async def has_failure(self, provider: str, provider_payment_id: str) -> bool:
        result = await self.session.execute(
            text(
                "SELECT 1 FROM payment_failures WHERE provider = :p AND provider_payment_id = :id"
            ),
            {"p": provider, "id": provider_payment_id},
        )
        return result.first() is not None

    async def park_refund(self, row: dict[str, Any]) -> bool:
        """False when this provider refund is already parked (``parked_events``)."""
        payload = {k: v for k, v in row.items() if k != "source_event_id"}
        return await ParkingRepository(self.session).park(
            "payment.refunded",
            f"{row['provider']}:{row['refund_id']}",
            f"{row['provider']}:{row['provider_payment_id']}",
            payload,
            row.get("source_event_id"),
        )

    async def release_parked_refunds(self, keys: Sequence[tuple[str, str]]) -> list[Any]:
        """Parked refunds of these (provider, payment id) pairs, marked released, oldest first."""
        released = await ParkingRepository(self.session).release(
            "payment.refunded", [f"{provider}:{payment_id}" for provider, payment_id in keys]
        )
        return [
            SimpleNamespace(id=p.id, source_event_id=p.source_event_id, **p.payload)
            for p in released
        ]
