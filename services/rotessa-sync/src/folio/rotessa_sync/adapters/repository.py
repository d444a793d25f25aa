"""SQL for the ``rotessa_sync`` schema. Uniqueness lives in the database, not in reads."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic_core import to_json
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from folio.rotessa_sync.adapters.orm import (
    backfill_log,
    ledger_commands,
    mortgages,
    schedule_catalogue,
    schedule_links,
    sync_cursor,
)
from folio.rotessa_sync.domain.classification import CommandState
from folio.rotessa_sync.domain.linking import MortgageView
from folio.rotessa_sync.domain.model import RotessaSchedule
from folio.shared.contracts import MortgageChanged

#: Schedules per upsert statement (11 parameters each).
CATALOGUE_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """One command of a page, as ``ledger_commands`` stores it (page-wide fields apart)."""

    reference: str
    event_id: uuid.UUID
    kind: str
    transaction_id: int
    schedule_id: int | None
    mortgage_id: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class LedgerAnswer:
    """The ledger's answer to one command, matched by event id or reference."""

    source_event_id: uuid.UUID | None
    reference: str | None
    state: CommandState
    ledger_transaction_id: int | None = None
    code: str | None = None
    reason: str | None = None


def _mortgage_view(row: Any) -> MortgageView:
    return MortgageView(
        mortgage_id=row.mortgage_id,
        borrower_name=row.borrower_name,
        status=row.status,
        principal_minor=row.principal_minor,
        currency=row.currency,
        rotessa_schedule_id=row.rotessa_schedule_id,
    )


class RotessaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- mortgages read model ---------------------------------------------

    async def upsert_mortgage(self, mortgage: MortgageChanged) -> bool:
        """Keep the newest version only (events of one mortgage may be redelivered)."""
        values = {
            "mortgage_id": mortgage.mortgage_id,
            "borrower_name": mortgage.borrower_name,
            "principal_minor": mortgage.principal_minor,
            "currency": mortgage.currency,
            "status": mortgage.status,
            "rotessa_schedule_id": mortgage.rotessa_schedule_id,
            "version": mortgage.version,
            "changed_at": mortgage.changed_at,
        }
        stmt = pg_insert(mortgages).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[mortgages.c.mortgage_id],
            set_={k: stmt.excluded[k] for k in values if k != "mortgage_id"},
            where=mortgages.c.version < stmt.excluded.version,
        ).returning(mortgages.c.mortgage_id)
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def get_mortgage(self, mortgage_id: str) -> MortgageView | None:
        row = (
            await self.session.execute(
                sa.select(mortgages).where(mortgages.c.mortgage_id == mortgage_id)
            )
        ).one_or_none()
        return _mortgage_view(row) if row else None

    async def all_mortgages(self) -> list[MortgageView]:
        rows = await self.session.execute(sa.select(mortgages))
        return [_mortgage_view(r) for r in rows]

    async def mortgage_claiming_schedule(self, schedule_id: int) -> str | None:
        """A mortgage the registry already records with this schedule."""
        return (
            await self.session.execute(
                sa.select(mortgages.c.mortgage_id)
                .where(mortgages.c.rotessa_schedule_id == schedule_id)
                .limit(1)
            )
        ).scalar_one_or_none()

    # --- links ----------------------------------------------------------------

    async def link_of_mortgage(self, mortgage_id: str) -> Any | None:
        return (
            await self.session.execute(
                sa.select(schedule_links).where(schedule_links.c.mortgage_id == mortgage_id)
            )
        ).one_or_none()

    async def link_of_schedule(self, schedule_id: int) -> Any | None:
        return (
            await self.session.execute(
                sa.select(schedule_links).where(schedule_links.c.schedule_id == schedule_id)
            )
        ).one_or_none()

    async def insert_link(self, **values: Any) -> None:
        """Raises ``IntegrityError`` when either side is already linked."""
        await self.session.execute(sa.insert(schedule_links).values(**values))

    async def insert_link_if_free(self, **values: Any) -> bool:
        stmt = pg_insert(schedule_links).values(**values).on_conflict_do_nothing()
        result = await self.session.execute(stmt.returning(schedule_links.c.mortgage_id))
        return result.scalar_one_or_none() is not None

    async def update_link_details(self, mortgage_id: str, **values: Any) -> None:
        await self.session.execute(
            sa.update(schedule_links)
            .where(schedule_links.c.mortgage_id == mortgage_id)
            .values(**values)
        )

    async def all_links(self) -> list[Any]:
        return list(await self.session.execute(sa.select(schedule_links)))

    async def mortgage_by_schedule(self) -> dict[int, str]:
        rows = await self.session.execute(
            sa.select(schedule_links.c.schedule_id, schedule_links.c.mortgage_id)
        )
        return {r.schedule_id: r.mortgage_id for r in rows}

    # --- backfills --------------------------------------------------------------

    async def create_backfill(self, **values: Any) -> None:
        """Raises ``IntegrityError`` when the schedule already has a running backfill."""
        await self.session.execute(sa.insert(backfill_log).values(**values))

    async def get_backfill(self, backfill_id: uuid.UUID, *, for_update: bool = False) -> Any | None:
        stmt = sa.select(backfill_log).where(backfill_log.c.backfill_id == backfill_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).one_or_none()

    async def lock_backfill_at_now(self, backfill_id: uuid.UUID) -> tuple[Any | None, datetime]:
        """The backfill row locked for update, and the transaction's time: one round trip."""
        stmt = (
            sa.select(backfill_log, sa.func.now().label("transaction_now"))
            .where(backfill_log.c.backfill_id == backfill_id)
            .with_for_update(of=backfill_log)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        if row is None:
            now = (await self.session.execute(sa.select(sa.func.now()))).scalar_one()
            return None, now
        return row, row.transaction_now

    async def list_backfills(
        self, *, mortgage_id: str | None, status: str | None, limit: int
    ) -> list[Any]:
        stmt = sa.select(backfill_log).order_by(
            backfill_log.c.started_at.desc(), backfill_log.c.backfill_id
        )
        if mortgage_id is not None:
            stmt = stmt.where(backfill_log.c.mortgage_id == mortgage_id)
        if status is not None:
            stmt = stmt.where(backfill_log.c.status == status)
        return list(await self.session.execute(stmt.limit(limit)))

    async def update_backfill(self, backfill_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(
            sa.update(backfill_log)
            .where(backfill_log.c.backfill_id == backfill_id)
            .values(**values)
        )

    async def claim_backfill(self, owner: str, lease_seconds: float, now: datetime) -> Any | None:
        """Take the oldest running backfill still reading whose lease is free or expired."""
        candidate = (
            sa.select(backfill_log.c.backfill_id)
            .where(backfill_log.c.status == "RUNNING")
            .where(backfill_log.c.report_finished.is_(False))
            .where(
                sa.or_(
                    backfill_log.c.lease_expires_at.is_(None),
                    backfill_log.c.lease_expires_at < now,
                )
            )
            .order_by(backfill_log.c.started_at)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            sa.update(backfill_log)
            .where(backfill_log.c.backfill_id == candidate)
            .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
            .returning(backfill_log)
        )
        return (await self.session.execute(stmt)).one_or_none()

    async def awaiting_ledger(self) -> list[uuid.UUID]:
        """Running backfills that finished reading (only the ledger's answers are missing)."""
        rows = await self.session.execute(
            sa.select(backfill_log.c.backfill_id)
            .where(backfill_log.c.status == "RUNNING")
            .where(backfill_log.c.report_finished.is_(True))
        )
        return list(rows.scalars())

    async def command_counts(self, backfill_id: uuid.UUID) -> dict[str, int]:
        rows = await self.session.execute(
            sa.select(ledger_commands.c.state, sa.func.count())
            .where(ledger_commands.c.backfill_id == backfill_id)
            .group_by(ledger_commands.c.state)
        )
        return {state: count for state, count in rows}

    async def has_outstanding(self, backfill_id: uuid.UUID) -> bool:
        row = await self.session.execute(
            sa.select(sa.literal(1))
            .where(ledger_commands.c.backfill_id == backfill_id)
            .where(ledger_commands.c.state == CommandState.PUBLISHED.value)
            .limit(1)
        )
        return row.scalar_one_or_none() is not None

    async def rejected_commands(self, backfill_id: uuid.UUID, limit: int) -> list[Any]:
        rows = await self.session.execute(
            sa.select(ledger_commands)
            .where(ledger_commands.c.backfill_id == backfill_id)
            .where(ledger_commands.c.state == CommandState.REJECTED.value)
            .order_by(ledger_commands.c.transaction_id)
            .limit(limit)
        )
        return list(rows)

    # --- ledger commands ---------------------------------------------------------

    async def known_states(self, references: Iterable[str]) -> dict[str, CommandState]:
        refs = list(set(references))
        if not refs:
            return {}
        rows = await self.session.execute(
            sa.text(
                "SELECT reference, state FROM ledger_commands"
                " WHERE reference = ANY(CAST(:refs AS text[]))"
            ),
            {"refs": refs},
        )
        return {r.reference: CommandState(r.state) for r in rows}

    async def record_commands(
        self,
        commands: Sequence[CommandRecord],
        *,
        origin: str,
        backfill_id: uuid.UUID | None,
        state: CommandState,
        published_at: datetime,
        retry_rejected: bool,
    ) -> set[str]:
        """Insert commands; returns the references this call won.

        A reference already present is left alone (another sync or backfill sent
        it), except a REJECTED one when retrying. The caller emits events only for
        the references returned, so concurrent writers never both send one.
        One statement whatever the page size: the rows travel as one JSON document
        (one serialisation on the client; fields common to the page as scalars).
        """
        if not commands:
            return set()
        on_conflict = (
            "ON CONFLICT (reference) DO UPDATE SET event_id = EXCLUDED.event_id,"
            " backfill_id = EXCLUDED.backfill_id, origin = EXCLUDED.origin,"
            " state = EXCLUDED.state, published_at = EXCLUDED.published_at,"
            " answered_at = NULL, rejection_code = NULL, rejection_reason = NULL"
            " WHERE ledger_commands.state = 'REJECTED'"
            if retry_rejected
            else "ON CONFLICT (reference) DO NOTHING"
        )
        statement = sa.text(
            "INSERT INTO ledger_commands (reference, event_id, kind, transaction_id,"
            " schedule_id, mortgage_id, amount_minor, currency, origin, backfill_id, state,"
            " published_at)"
            " SELECT r.reference, r.event_id, r.kind, r.transaction_id, r.schedule_id,"
            " r.mortgage_id, r.amount_minor, r.currency, :origin, CAST(:backfill_id AS uuid),"
            " :state, :published_at"
            " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(reference text, event_id uuid,"
            " kind text, transaction_id bigint, schedule_id bigint, mortgage_id text,"
            f" amount_minor bigint, currency text) {on_conflict} RETURNING reference"
        )
        result = await self.session.execute(
            statement,
            {
                "rows": to_json(commands).decode(),
                "origin": origin,
                "backfill_id": backfill_id,
                "state": state.value,
                "published_at": published_at,
            },
        )
        return set(result.scalars())

    async def apply_ledger_answers(
        self, answers: Sequence[LedgerAnswer], answered_at: datetime
    ) -> set[uuid.UUID]:
        """Settle PUBLISHED commands from the ledger's answers; returns affected backfills.

        Matched by the source event id when the ledger gives it, else by reference;
        an answer for a command already settled (a redelivery) changes nothing.
        """
        affected: set[uuid.UUID] = set()
        by_event = [a for a in answers if a.source_event_id is not None]
        by_reference = [a for a in answers if a.source_event_id is None and a.reference]
        for column, kind, group, key_of in (
            ("event_id", "uuid", by_event, lambda a: a.source_event_id),
            ("reference", "text", by_reference, lambda a: a.reference),
        ):
            if not group:
                continue
            statement = sa.text(
                "UPDATE ledger_commands AS c SET state = v.state,"
                " ledger_transaction_id = v.ledger_tx, rejection_code = v.code,"
                " rejection_reason = v.reason, answered_at = :answered_at"
                f" FROM unnest(CAST(:keys AS {kind}[]), CAST(:states AS text[]),"
                " CAST(:txs AS bigint[]), CAST(:codes AS text[]), CAST(:reasons AS text[]))"
                " AS v(key, state, ledger_tx, code, reason)"
                f" WHERE c.{column} = v.key AND c.state = 'PUBLISHED'"
                " RETURNING c.backfill_id"
            )
            result = await self.session.execute(
                statement,
                {
                    "keys": [key_of(a) for a in group],
                    "states": [a.state.value for a in group],
                    "txs": [a.ledger_transaction_id for a in group],
                    "codes": [a.code for a in group],
                    "reasons": [a.reason for a in group],
                    "answered_at": answered_at,
                },
            )
            affected.update(b for b in result.scalars() if b is not None)
        return affected

    async def commands_of_transaction(self, transaction_id: int) -> list[Any]:
        rows = await self.session.execute(
            sa.select(ledger_commands)
            .where(ledger_commands.c.transaction_id == transaction_id)
            .order_by(ledger_commands.c.reference)
        )
        return list(rows)

    # --- schedule catalogue (migration 0004) -----------------------------------------

    async def replace_catalogue(
        self, schedules: Sequence[RotessaSchedule], refreshed_at: datetime
    ) -> None:
        """The catalogue becomes ``schedules``: upserted in multi-row statements of at
        most CATALOGUE_CHUNK rows (asyncpg's 32,767 parameters bound one statement),
        then every row this refresh did not touch (gone from Rotessa) deleted at once."""
        for start in range(0, len(schedules), CATALOGUE_CHUNK):
            rows = [
                {
                    "schedule_id": s.schedule_id,
                    "customer_id": s.customer_id,
                    "customer_name": s.customer_name,
                    "amount_minor": s.amount_minor,
                    "currency": s.currency,
                    "frequency": s.frequency,
                    "process_date": s.process_date,
                    "next_process_date": s.next_process_date,
                    "installments": s.installments,
                    "comment": s.comment,
                    "refreshed_at": refreshed_at,
                }
                for s in schedules[start : start + CATALOGUE_CHUNK]
            ]
            stmt = pg_insert(schedule_catalogue).values(rows)
            await self.session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[schedule_catalogue.c.schedule_id],
                    set_={
                        c.name: stmt.excluded[c.name]
                        for c in schedule_catalogue.columns
                        if c.name != "schedule_id"
                    },
                )
            )
        await self.session.execute(
            sa.delete(schedule_catalogue).where(schedule_catalogue.c.refreshed_at < refreshed_at)
        )

    async def catalogue(self) -> list[RotessaSchedule]:
        rows = await self.session.execute(sa.select(schedule_catalogue))
        return [
            RotessaSchedule(
                schedule_id=r.schedule_id,
                customer_id=r.customer_id,
                customer_name=r.customer_name,
                amount_minor=r.amount_minor,
                currency=r.currency,
                frequency=r.frequency,
                process_date=r.process_date,
                next_process_date=r.next_process_date,
                installments=r.installments,
                comment=r.comment,
            )
            for r in rows
        ]

    async def linked_schedule_ids(self) -> set[int]:
        """Schedules linked here or claimed by a mortgage in the registry (one query;
        the second half reads the partial index of migration 0004)."""
        stmt = sa.union(
            sa.select(schedule_links.c.schedule_id.label("schedule_id")),
            sa.select(mortgages.c.rotessa_schedule_id).where(
                mortgages.c.rotessa_schedule_id.is_not(None)
            ),
        )
        return set((await self.session.execute(stmt)).scalars())

    # --- sync cursor ---------------------------------------------------------------

    async def claim_sync(self, name: str, owner: str, lease_seconds: float, now: datetime) -> bool:
        await self.session.execute(
            pg_insert(sync_cursor).values(name=name, metrics={}).on_conflict_do_nothing()
        )
        stmt = (
            sa.update(sync_cursor)
            .where(sync_cursor.c.name == name)
            .where(
                sa.or_(
                    sync_cursor.c.lease_expires_at.is_(None),
                    sync_cursor.c.lease_expires_at < now,
                    sync_cursor.c.lease_owner == owner,
                )
            )
            .values(
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                last_started_at=now,
            )
            .returning(sync_cursor.c.name)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def update_sync(self, name: str, **values: Any) -> None:
        await self.session.execute(
            sa.update(sync_cursor).where(sync_cursor.c.name == name).values(**values)
        )

    async def release_sync(self, name: str, owner: str) -> None:
        await self.session.execute(
            sa.update(sync_cursor)
            .where(sync_cursor.c.name == name, sync_cursor.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )

    async def get_sync(self, name: str) -> Any | None:
        return (
            await self.session.execute(sa.select(sync_cursor).where(sync_cursor.c.name == name))
        ).one_or_none()

    # --- Idempotency-Key of the admin routes (migration 0003) ------------------------

    async def claim_idempotency_key(self, scope: str, key: str, request_hash: str) -> bool:
        """Insert the key's row; False when it exists. A concurrent request with the
        same key waits here on the primary key until the first one commits or rolls
        back, so the effect that follows happens once per key."""
        result = await self.session.execute(
            sa.text(
                "INSERT INTO admin_idempotency_keys (scope, key, request_hash)"
                " VALUES (:scope, :key, :hash) ON CONFLICT DO NOTHING RETURNING key"
            ),
            {"scope": scope, "key": key, "hash": request_hash},
        )
        return result.first() is not None

    async def idempotency_answer(self, scope: str, key: str) -> Any | None:
        result = await self.session.execute(
            sa.text(
                "SELECT request_hash, status_code, response FROM admin_idempotency_keys"
                " WHERE scope = :scope AND key = :key"
            ),
            {"scope": scope, "key": key},
        )
        return result.first()

    async def complete_idempotency_key(
        self, scope: str, key: str, status_code: int, response: dict[str, Any]
    ) -> None:
        await self.session.execute(
            sa.text(
                "UPDATE admin_idempotency_keys SET status_code = :status,"
                " response = CAST(:response AS jsonb) WHERE scope = :scope AND key = :key"
            ),
            {
                "scope": scope,
                "key": key,
                "status": status_code,
                "response": to_json(response).decode(),
            },
        )
