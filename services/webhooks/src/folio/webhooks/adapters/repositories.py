"""Repositories of the webhooks schema: SQL lives here, rules live in ``domain``."""

import uuid
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
    payment_progress,
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

    async def insert_first(self, row: dict[str, Any]) -> bool:
        """Insert the first delivery of its dedupe key; False if one already exists.

        The partial unique index decides, so concurrent identical deliveries
        serialize on it and exactly one of them wins.
        """
        stmt = (
            pg_insert(deliveries)
            .values(**row, duplicate_of=None)
            .on_conflict_do_nothing(
                index_elements=["channel", "dedupe_key"],
                index_where=deliveries.c.duplicate_of.is_(None),
            )
            .returning(deliveries.c.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def first_of_key(self, channel: str, dedupe_key: str) -> uuid.UUID:
        stmt = (
            sa.select(deliveries.c.id)
            .where(deliveries.c.channel == channel)
            .where(deliveries.c.dedupe_key == dedupe_key)
            .where(deliveries.c.duplicate_of.is_(None))
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def insert_duplicate(self, row: dict[str, Any], original_id: uuid.UUID) -> None:
        await self.session.execute(
            sa.insert(deliveries).values(
                **{
                    **row,
                    "state": "duplicate",
                    "duplicate_of": original_id,
                    "reason": f"duplicate of {original_id}",
                }
            )
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
        insert = pg_insert(payment_progress).values(
            payment_provider=provider,
            provider_payment_id=payment_id,
            invoice_number=invoice_number,
            progress={},
            parked_origins={},
            updated_at=now,
        )
        row = (
            await self.session.execute(
                insert.on_conflict_do_update(
                    index_elements=["payment_provider", "provider_payment_id"],
                    set_={"updated_at": insert.excluded.updated_at},
                ).returning(payment_progress.c.progress, payment_progress.c.parked_origins)
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
        await self.session.execute(
            sa.update(payment_progress)
            .where(payment_progress.c.payment_provider == provider)
            .where(payment_progress.c.provider_payment_id == payment_id)
            .values(progress=progress.to_json(), parked_origins=parked_origins, updated_at=now)
        )

    async def record_facts(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(sa.insert(payment_facts), rows)

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
