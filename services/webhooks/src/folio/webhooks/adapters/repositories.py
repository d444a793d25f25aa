"""Repositories of the webhooks schema: SQL lives here, rules live in ``domain``."""

import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from folio.shared.db import outbox
from folio.webhooks.adapters.tables import (
    deliveries,
    payment_facts,
    payment_method_settings,
    provider_credentials,
)
from folio.webhooks.domain.emission import PaymentProgress


def _unpublished_fact_exists(delivery_id_column: Any) -> sa.Exists:
    return (
        sa.select(sa.literal(1))
        .select_from(payment_facts.join(outbox, outbox.c.event_id == payment_facts.c.event_id))
        .where(payment_facts.c.delivery_id == delivery_id_column)
        .where(outbox.c.published_at.is_(None))
        .exists()
    )


def _fact_exists(delivery_id_column: Any) -> sa.Exists:
    return (
        sa.select(sa.literal(1)).where(payment_facts.c.delivery_id == delivery_id_column).exists()
    )


#: The state admins see: an accepted delivery whose events all reached the broker is published.
shown_state = sa.case(
    (
        sa.and_(
            deliveries.c.state == "accepted",
            _fact_exists(deliveries.c.id),
            ~_unpublished_fact_exists(deliveries.c.id),
        ),
        sa.literal("published"),
    ),
    else_=deliveries.c.state,
).label("state")

SUMMARY_COLUMNS = [
    deliveries.c.id,
    deliveries.c.seq,
    deliveries.c.channel,
    deliveries.c.dedupe_key,
    shown_state,
    deliveries.c.duplicate_of,
    deliveries.c.received_at,
    deliveries.c.event_name,
    deliveries.c.payment_provider,
    deliveries.c.provider_payment_id,
    deliveries.c.invoice_number,
    deliveries.c.reason,
    deliveries.c.replay_count,
    deliveries.c.last_replayed_at,
]


_DELIVERY_FIELDS = (
    "id",
    "channel",
    "dedupe_key",
    "state",
    "duplicate_of",
    "received_at",
    "headers",
    "query",
    "body",
    "body_sha256",
    "event_name",
    "payment_provider",
    "provider_payment_id",
    "invoice_number",
    "reason",
    "replay_count",
)
_DELIVERY_COLUMNS = ", ".join(_DELIVERY_FIELDS)
_JSON_FIELDS = {"headers", "query"}
_DELIVERY_PARAMS = ", ".join(
    f"${i}::jsonb" if name in _JSON_FIELDS else f"${i}"
    for i, name in enumerate(_DELIVERY_FIELDS, start=1)
)


def _delivery_values(row: dict[str, Any], duplicate_of: uuid.UUID | None) -> tuple:
    values = {**row, "duplicate_of": duplicate_of}
    return tuple(
        json.dumps(values[name]) if name in _JSON_FIELDS else values[name]
        for name in _DELIVERY_FIELDS
    )


@functools.cache
def _insert_firsts_sql(rows: int) -> str:
    """The multi-row insert for ``rows`` deliveries (built once per batch size)."""
    width = len(_DELIVERY_FIELDS)
    placeholders = ", ".join(
        "("
        + ", ".join(
            f"${i * width + j}::jsonb" if name in _JSON_FIELDS else f"${i * width + j}"
            for j, name in enumerate(_DELIVERY_FIELDS, start=1)
        )
        + ")"
        for i in range(rows)
    )
    return (
        f"INSERT INTO deliveries ({_DELIVERY_COLUMNS}) VALUES {placeholders}"
        " ON CONFLICT (channel, dedupe_key) WHERE duplicate_of IS NULL DO NOTHING"
        " RETURNING id"
    )


@dataclass(frozen=True)
class DeliverySearch:
    state: str | None = None
    channel: str | None = None
    invoice_number: str | None = None
    provider_payment_id: str | None = None
    text: str | None = None
    before_seq: int | None = None
    limit: int = 50


class DeliveriesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # The intake hot path (insert_firsts .. record_batch_outcome) is plain SQL with asyncpg's
    # $n parameters over two primitives: here through the session's connection (same
    # transaction, without Core's per-statement compile cost), and on a bare asyncpg
    # connection in ``adapters/direct.py`` for the group-commit writer.

    async def _driver(self, sql: str, *params: Any):
        connection = await self.session.connection()
        return await connection.exec_driver_sql(sql, params)

    async def _fetch(self, sql: str, *params: Any) -> Sequence[Mapping[str, Any]]:
        return (await self._driver(sql, *params)).mappings().all()

    async def _executemany(self, sql: str, rows: list[tuple]) -> None:
        connection = await self.session.connection()
        await connection.exec_driver_sql(sql, rows)

    async def insert_firsts(self, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        """Insert deliveries that are first of their dedupe key; returns their ids.

        The partial unique index decides, so concurrent identical deliveries
        serialize on it and exactly one of them wins. Rows are inserted in list
        order, so within one batch the earliest of identical deliveries wins.
        Rows go in (channel, dedupe key) order, a stable sort: concurrent batches
        then take the unique index's entries in one order and cannot deadlock.
        """
        rows = sorted(rows, key=lambda r: (r["channel"], r["dedupe_key"]))
        params = [value for row in rows for value in _delivery_values(row, duplicate_of=None)]
        inserted = await self._fetch(_insert_firsts_sql(len(rows)), *params)
        return {r["id"] for r in inserted}

    async def insert_duplicates(self, rows: list[dict[str, Any]]) -> None:
        """Record later deliveries of known dedupe keys, each pointing at the first."""
        if not rows:
            return
        originals = await self._fetch(
            "SELECT id, channel, dedupe_key FROM deliveries WHERE duplicate_of IS NULL"
            " AND (channel, dedupe_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            [r["channel"] for r in rows],
            [r["dedupe_key"] for r in rows],
        )
        first_of = {(r["channel"], r["dedupe_key"]): r["id"] for r in originals}
        values = []
        for row in rows:
            original = first_of[(row["channel"], row["dedupe_key"])]
            duplicate = {**row, "state": "duplicate", "reason": f"duplicate of {original}"}
            values.append(_delivery_values(duplicate, duplicate_of=original))
        await self._executemany(
            f"INSERT INTO deliveries ({_DELIVERY_COLUMNS}) VALUES ({_DELIVERY_PARAMS})", values
        )

    async def lock_progresses(
        self, payments: dict[tuple[str, str], str | None], now: datetime
    ) -> dict[tuple[str, str], tuple[PaymentProgress, dict[str, str]]]:
        """Several payments' progress rows, created when new and row-locked until commit,
        locked in key order so replicas locking overlapping sets cannot deadlock."""
        keys = sorted(payments)
        rows = await self._fetch(
            "INSERT INTO payment_progress (payment_provider, provider_payment_id,"
            " invoice_number, progress, parked_origins, updated_at)"
            " SELECT p, i, n, '{}'::jsonb, '{}'::jsonb, $4"
            " FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(p, i, n, o)"
            " ORDER BY o"
            " ON CONFLICT (payment_provider, provider_payment_id)"
            " DO UPDATE SET updated_at = excluded.updated_at"
            " RETURNING payment_provider, provider_payment_id, progress, parked_origins",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [payments[k] for k in keys],
            now,
        )
        return {
            (r["payment_provider"], r["provider_payment_id"]): (
                PaymentProgress.from_json(r["progress"]),
                dict(r["parked_origins"]),
            )
            for r in rows
        }

    async def record_batch_outcome(
        self,
        fact_rows: list[dict[str, Any]],
        states: dict[tuple[str, str], tuple[PaymentProgress, dict[str, str]]],
        reasons: list[tuple[uuid.UUID, str]],
        now: datetime,
    ) -> None:
        """A batch's new facts, payments' progress and delivery notes in one statement.

        Data-modifying CTEs over arrays: one round trip for any batch size (the
        replay path writes one payment with ``record_facts`` and ``save_progress``).
        """
        if not (fact_rows or states or reasons):
            return
        await self._fetch(
            "WITH facts AS (INSERT INTO payment_facts (event_id, payment_provider,"
            " provider_payment_id, fact_key, event_type, delivery_id, invoice_number,"
            " amount_minor, currency, emitted_at)"
            " SELECT e, p, i, f, t, d, n, a, c, w FROM unnest($1::uuid[], $2::text[],"
            " $3::text[], $4::text[], $5::text[], $6::uuid[], $7::text[], $8::bigint[],"
            " $9::text[], $10::timestamptz[]) WITH ORDINALITY AS r(e, p, i, f, t, d, n, a, c, w, o)"
            " ORDER BY o RETURNING 1),"
            " progress AS (UPDATE payment_progress SET progress = u.g::jsonb,"
            " parked_origins = u.s::jsonb, updated_at = $15"
            " FROM unnest($11::text[], $12::text[], $13::text[], $14::text[]) AS u(p, i, g, s)"
            " WHERE payment_provider = u.p AND provider_payment_id = u.i RETURNING 1),"
            " notes AS (UPDATE deliveries SET reason = u.r"
            " FROM unnest($16::uuid[], $17::text[]) AS u(d, r) WHERE id = u.d RETURNING 1)"
            " SELECT (SELECT count(*) FROM facts), (SELECT count(*) FROM progress),"
            " (SELECT count(*) FROM notes)",
            [r["event_id"] for r in fact_rows],
            [r["payment_provider"] for r in fact_rows],
            [r["provider_payment_id"] for r in fact_rows],
            [r["fact_key"] for r in fact_rows],
            [r["event_type"] for r in fact_rows],
            [r["delivery_id"] for r in fact_rows],
            [r["invoice_number"] for r in fact_rows],
            [r["amount_minor"] for r in fact_rows],
            [r["currency"] for r in fact_rows],
            [r["emitted_at"] for r in fact_rows],
            [key[0] for key in states],
            [key[1] for key in states],
            [json.dumps(progress.to_json()) for progress, _ in states.values()],
            [json.dumps(origins) for _, origins in states.values()],
            now,
            [delivery_id for delivery_id, _ in reasons],
            [reason for _, reason in reasons],
        )

    async def set_outcome(self, delivery_id: uuid.UUID, **fields: Any) -> None:
        await self.session.execute(
            sa.update(deliveries).where(deliveries.c.id == delivery_id).values(**fields)
        )

    async def mark_replayed(self, delivery_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(
            sa.update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(replay_count=deliveries.c.replay_count + 1, last_replayed_at=at)
        )

    async def get(self, delivery_id: uuid.UUID) -> dict[str, Any] | None:
        stmt = sa.select(
            *SUMMARY_COLUMNS,
            deliveries.c.state.label("stored_state"),
            deliveries.c.headers,
            deliveries.c.query,
            deliveries.c.body,
            deliveries.c.body_sha256,
        ).where(deliveries.c.id == delivery_id)
        row = (await self.session.execute(stmt)).mappings().first()
        return dict(row) if row else None

    async def search(self, search: DeliverySearch) -> list[dict[str, Any]]:
        inner = sa.select(*SUMMARY_COLUMNS)
        if search.channel:
            inner = inner.where(deliveries.c.channel == search.channel)
        if search.invoice_number:
            inner = inner.where(deliveries.c.invoice_number == search.invoice_number)
        if search.provider_payment_id:
            inner = inner.where(deliveries.c.provider_payment_id == search.provider_payment_id)
        if search.before_seq:
            inner = inner.where(deliveries.c.seq < search.before_seq)
        if search.text:
            pattern = f"%{search.text}%"
            inner = inner.where(
                sa.or_(
                    deliveries.c.dedupe_key.ilike(pattern),
                    deliveries.c.invoice_number.ilike(pattern),
                    deliveries.c.provider_payment_id.ilike(pattern),
                    deliveries.c.reason.ilike(pattern),
                    deliveries.c.event_name.ilike(pattern),
                )
            )
        subquery = inner.subquery()
        stmt = sa.select(subquery)
        if search.state:
            stmt = stmt.where(subquery.c.state == search.state)
        stmt = stmt.order_by(subquery.c.seq.desc()).limit(search.limit)
        return [dict(r) for r in (await self.session.execute(stmt)).mappings()]

    # --- payment progress and facts ---------------------------------------------

    async def lock_progress(
        self, provider: str, payment_id: str, invoice_number: str | None, now: datetime
    ) -> tuple[PaymentProgress, dict[str, str]]:
        """The payment's progress, row-locked until commit (creating it when new).

        One statement: the upsert's DO UPDATE takes the row lock (like SELECT FOR
        UPDATE) and returns the row as it is, so concurrent deliveries about the
        same payment are planned one after another.
        """
        row = (
            await self._driver(
                "INSERT INTO payment_progress (payment_provider, provider_payment_id,"
                " invoice_number, progress, parked_origins, updated_at)"
                " VALUES ($1, $2, $3, '{}'::jsonb, '{}'::jsonb, $4)"
                " ON CONFLICT (payment_provider, provider_payment_id)"
                " DO UPDATE SET updated_at = excluded.updated_at"
                " RETURNING progress, parked_origins",
                provider,
                payment_id,
                invoice_number,
                now,
            )
        ).one()
        return PaymentProgress.from_json(row.progress), dict(row.parked_origins)

    async def save_progress(
        self,
        provider: str,
        payment_id: str,
        progress: PaymentProgress,
        parked_origins: dict[str, str],
        now: datetime,
    ) -> None:
        await self._driver(
            "UPDATE payment_progress SET progress = $3::jsonb, parked_origins = $4::jsonb,"
            " updated_at = $5 WHERE payment_provider = $1 AND provider_payment_id = $2",
            provider,
            payment_id,
            json.dumps(progress.to_json()),
            json.dumps(parked_origins),
            now,
        )

    async def record_facts(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        await self._executemany(
            "INSERT INTO payment_facts (event_id, payment_provider, provider_payment_id,"
            " fact_key, event_type, delivery_id, invoice_number, amount_minor, currency,"
            " emitted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            [
                (
                    row["event_id"],
                    row["payment_provider"],
                    row["provider_payment_id"],
                    row["fact_key"],
                    row["event_type"],
                    row["delivery_id"],
                    row["invoice_number"],
                    row["amount_minor"],
                    row["currency"],
                    row["emitted_at"],
                )
                for row in rows
            ],
        )

    async def facts_of(self, delivery_id: uuid.UUID) -> list[dict[str, Any]]:
        stmt = (
            sa.select(
                payment_facts.c.event_id,
                payment_facts.c.event_type,
                payment_facts.c.fact_key,
                payment_facts.c.amount_minor,
                payment_facts.c.currency,
                payment_facts.c.emitted_at,
                outbox.c.published_at,
            )
            .select_from(
                payment_facts.outerjoin(outbox, outbox.c.event_id == payment_facts.c.event_id)
            )
            .where(payment_facts.c.delivery_id == delivery_id)
            .order_by(payment_facts.c.emitted_at, payment_facts.c.fact_key)
        )
        return [dict(r) for r in (await self.session.execute(stmt)).mappings()]

    async def republish(self, event_ids: list[uuid.UUID]) -> int:
        """Send already-emitted events again through the outbox (consumers dedupe by id)."""
        if not event_ids:
            return 0
        result = await self.session.execute(
            sa.update(outbox)
            .where(outbox.c.event_id.in_(event_ids))
            .values(published_at=None, partition=None, offset=None)
        )
        # The relay's NOTIFY trigger fires on INSERT only; wake it for updates too.
        await self.session.execute(sa.text("SELECT pg_notify(current_schema() || '_outbox', '')"))
        return result.rowcount or 0


class PaymentMethodsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def toggles(self) -> dict[str, bool]:
        rows = await self.session.execute(
            sa.select(payment_method_settings.c.method_key, payment_method_settings.c.is_enabled)
        )
        return {r.method_key: r.is_enabled for r in rows}

    async def provider_keys(self) -> dict[str, str | None]:
        rows = await self.session.execute(
            sa.select(provider_credentials.c.provider, provider_credentials.c.api_key)
        )
        return {r.provider: r.api_key for r in rows}

    async def set_enabled(self, method_key: str, enabled: bool, actor: str, now: datetime) -> bool:
        """Returns the previous value."""
        previous = (
            await self.session.execute(
                sa.select(payment_method_settings.c.is_enabled)
                .where(payment_method_settings.c.method_key == method_key)
                .with_for_update()
            )
        ).scalar_one()
        await self.session.execute(
            sa.update(payment_method_settings)
            .where(payment_method_settings.c.method_key == method_key)
            .values(is_enabled=enabled, updated_at=now, updated_by=actor)
        )
        return previous

    async def set_api_key(self, provider: str, api_key: str | None, actor: str, now: datetime):
        stmt = pg_insert(provider_credentials).values(
            provider=provider, api_key=api_key, updated_at=now, updated_by=actor
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["provider"],
            set_={"api_key": api_key, "updated_at": now, "updated_by": actor},
        )
        await self.session.execute(stmt)
