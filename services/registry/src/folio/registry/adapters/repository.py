"""Registry persistence: every SQL statement of the service lives here."""

import base64
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from folio.registry.adapters.tables import (
    beds24_map,
    beds24_observations,
    beds24_property_sync,
    beds24_sync_jobs,
    booking_extensions,
    bookings,
    buildings,
    kpi_daily_collections,
    kpi_daily_occupancy,
    kpi_entries,
    kpi_money_movements,
    kpi_open_receivables,
    mortgages,
    unit_daily_status,
    units,
)

Row = dict[str, Any]


class InvalidCursor(ValueError):
    pass


def encode_cursor(row: Row) -> str:
    raw = json.dumps([row["created_at"].isoformat(), str(row["id"])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor("cursor is not valid") from exc


def _one(result: sa.Result) -> Row | None:
    row = result.mappings().first()
    return dict(row) if row else None


class RegistryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- generic ---------------------------------------------------------------

    async def _insert(self, table: sa.Table, values: Row) -> Row:
        result = await self.session.execute(sa.insert(table).values(**values).returning(table))
        return dict(result.mappings().one())

    async def _get(self, table: sa.Table, row_id: uuid.UUID, *, for_update: bool = False):
        stmt = sa.select(table).where(table.c.id == row_id)
        if for_update:
            stmt = stmt.with_for_update()
        return _one(await self.session.execute(stmt))

    async def _update(self, table: sa.Table, row_id: uuid.UUID, values: Row) -> Row:
        stmt = sa.update(table).where(table.c.id == row_id).values(**values).returning(table)
        return dict((await self.session.execute(stmt)).mappings().one())

    async def _page(
        self,
        table: sa.Table,
        conditions: Sequence[sa.ColumnElement[bool]],
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Row], str | None]:
        """Keyset pagination on (created_at, id): stable under concurrent inserts."""
        stmt = sa.select(table).where(*conditions)
        if cursor:
            created_at, row_id = decode_cursor(cursor)
            stmt = stmt.where(sa.tuple_(table.c.created_at, table.c.id) > (created_at, row_id))
        stmt = stmt.order_by(table.c.created_at, table.c.id).limit(limit + 1)
        rows = [dict(r) for r in (await self.session.execute(stmt)).mappings()]
        next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        return rows[:limit], next_cursor

    # --- buildings -------------------------------------------------------------

    async def insert_building(self, values: Row) -> Row:
        return await self._insert(buildings, values)

    async def get_building(self, building_id: uuid.UUID, *, for_update: bool = False):
        return await self._get(buildings, building_id, for_update=for_update)

    async def update_building(self, building_id: uuid.UUID, values: Row) -> Row:
        return await self._update(buildings, building_id, values)

    async def find_building_by_ref(self, ref: str) -> Row | None:
        """A building by its id or its human-friendly code (ledger entries may carry either)."""
        try:
            as_id = uuid.UUID(ref)
        except ValueError:
            as_id = None
        condition = buildings.c.code == ref.upper()
        if as_id is not None:
            condition = sa.or_(buildings.c.id == as_id, condition)
        return _one(await self.session.execute(sa.select(buildings).where(condition).limit(1)))

    async def list_buildings(self, *, q: str | None, cursor: str | None, limit: int):
        conditions = []
        if q:
            pattern = f"%{_escape_like(q)}%"
            conditions.append(
                sa.or_(buildings.c.code.ilike(pattern), buildings.c.name.ilike(pattern))
            )
        return await self._page(buildings, conditions, cursor, limit)

    async def all_buildings(self) -> list[Row]:
        result = await self.session.execute(sa.select(buildings).order_by(buildings.c.code))
        return [dict(r) for r in result.mappings()]

    # --- units -----------------------------------------------------------------

    async def insert_unit(self, values: Row) -> Row:
        return await self._insert(units, values)

    async def get_unit(self, unit_id: uuid.UUID, *, for_update: bool = False) -> Row | None:
        return await self._get(units, unit_id, for_update=for_update)

    async def update_unit(self, unit_id: uuid.UUID, values: Row) -> Row:
        return await self._update(units, unit_id, values)

    async def list_units(
        self,
        *,
        building_id: uuid.UUID | None,
        status: str | None,
        q: str | None,
        cursor: str | None,
        limit: int,
    ):
        conditions = []
        if building_id:
            conditions.append(units.c.building_id == building_id)
        if status:
            conditions.append(units.c.status == status)
        if q:
            pattern = f"%{_escape_like(q)}%"
            conditions.append(sa.or_(units.c.code.ilike(pattern), units.c.name.ilike(pattern)))
        return await self._page(units, conditions, cursor, limit)

    async def count_units(self, building_id: uuid.UUID) -> int:
        stmt = sa.select(sa.func.count()).where(units.c.building_id == building_id)
        return (await self.session.execute(stmt)).scalar_one()

    async def rent_sum(self, building_id: uuid.UUID, currency: str) -> int:
        stmt = sa.select(sa.func.coalesce(sa.func.sum(units.c.monthly_base_rent_minor), 0)).where(
            units.c.building_id == building_id, units.c.currency == currency
        )
        return int((await self.session.execute(stmt)).scalar_one())

    # --- Beds24 mapping and observations ---------------------------------------

    async def get_mapping(self, unit_id: uuid.UUID) -> Row | None:
        stmt = sa.select(beds24_map).where(beds24_map.c.unit_id == unit_id)
        return _one(await self.session.execute(stmt))

    async def insert_mapping(self, values: Row) -> Row:
        return await self._insert(beds24_map, values)

    async def update_mapping(self, unit_id: uuid.UUID, values: Row) -> Row:
        stmt = (
            sa.update(beds24_map)
            .where(beds24_map.c.unit_id == unit_id)
            .values(**values)
            .returning(beds24_map)
        )
        return dict((await self.session.execute(stmt)).mappings().one())

    async def delete_mapping(self, unit_id: uuid.UUID) -> bool:
        result = await self.session.execute(
            sa.delete(beds24_map).where(beds24_map.c.unit_id == unit_id)
        )
        return result.rowcount > 0

    async def beds24_mappings(self, building_id: uuid.UUID | None = None) -> list[Row]:
        """Every unit whose occupancy Beds24 owns (optionally of one building)."""
        stmt = sa.select(beds24_map).where(beds24_map.c.source_of_truth == "BEDS24")
        if building_id is not None:
            stmt = stmt.join(units, units.c.id == beds24_map.c.unit_id).where(
                units.c.building_id == building_id
            )
        return [dict(r) for r in (await self.session.execute(stmt)).mappings()]

    async def record_observations(self, rows: list[Row]) -> None:
        if not rows:
            return
        stmt = pg_insert(beds24_observations).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=[beds24_observations.c.unit_id, beds24_observations.c.stay_date],
            set_={"occupied": stmt.excluded.occupied, "observed_at": stmt.excluded.observed_at},
            where=beds24_observations.c.observed_at <= stmt.excluded.observed_at,
        )
        await self.session.execute(stmt)

    async def beds24_mappings_of_properties(self, property_ids: Sequence[int]) -> list[Row]:
        stmt = sa.select(beds24_map).where(
            beds24_map.c.source_of_truth == "BEDS24",
            beds24_map.c.beds24_property_id.in_(list(property_ids)),
        )
        return [dict(r) for r in (await self.session.execute(stmt)).mappings()]

    # --- Beds24 sync: per-property freshness and the jobs ----------------------

    async def record_property_fetches(self, rows: list[Row]) -> None:
        """Upsert each property's last attempt (and, when it succeeded, last fetch)."""
        if not rows:
            return
        stmt = pg_insert(beds24_property_sync).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=[beds24_property_sync.c.beds24_property_id],
            set_={
                "last_attempt_at": stmt.excluded.last_attempt_at,
                "last_error": stmt.excluded.last_error,
                # A failed attempt keeps the last successful fetch's time.
                "last_fetched_at": sa.func.coalesce(
                    stmt.excluded.last_fetched_at, beds24_property_sync.c.last_fetched_at
                ),
            },
        )
        await self.session.execute(stmt)

    async def property_sync_state(self, property_id: int) -> Row | None:
        stmt = sa.select(beds24_property_sync).where(
            beds24_property_sync.c.beds24_property_id == property_id
        )
        return _one(await self.session.execute(stmt))

    async def count_stale_properties(
        self, property_ids: Sequence[int], fresh_after: datetime
    ) -> int:
        """How many of these properties have no successful fetch since ``fresh_after``."""
        if not property_ids:
            return 0
        fresh = (
            sa.select(sa.func.count())
            .select_from(beds24_property_sync)
            .where(
                beds24_property_sync.c.beds24_property_id.in_(list(property_ids)),
                beds24_property_sync.c.last_fetched_at >= fresh_after,
            )
        )
        return len(set(property_ids)) - int((await self.session.execute(fresh)).scalar_one())

    async def insert_sync_job(self, values: Row) -> Row | None:
        """The new job, or None when one is already running (partial unique index)."""
        stmt = (
            pg_insert(beds24_sync_jobs)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(beds24_sync_jobs)
        )
        return _one(await self.session.execute(stmt))

    async def get_sync_job(self, job_id: uuid.UUID) -> Row | None:
        return await self._get(beds24_sync_jobs, job_id)

    async def running_sync_job(self) -> Row | None:
        stmt = sa.select(beds24_sync_jobs).where(beds24_sync_jobs.c.status == "RUNNING")
        return _one(await self.session.execute(stmt))

    async def latest_sync_job(self) -> Row | None:
        stmt = sa.select(beds24_sync_jobs).order_by(beds24_sync_jobs.c.created_at.desc()).limit(1)
        return _one(await self.session.execute(stmt))

    async def claim_due_sync_job(self, now: datetime, lease_until: datetime) -> Row | None:
        """Lease the running job if its next run is due and nobody else holds it."""
        job = beds24_sync_jobs.c
        stmt = (
            sa.update(beds24_sync_jobs)
            .where(
                job.status == "RUNNING",
                job.next_run_at <= now,
                sa.or_(job.lease_until.is_(None), job.lease_until < now),
            )
            .values(lease_until=lease_until)
            .returning(beds24_sync_jobs)
        )
        return _one(await self.session.execute(stmt))

    async def update_sync_job(self, job_id: uuid.UUID, values: Row) -> None:
        await self.session.execute(
            sa.update(beds24_sync_jobs).where(beds24_sync_jobs.c.id == job_id).values(**values)
        )

    # --- occupancy facts -------------------------------------------------------

    def _facts_query(self, night: date, fresh_after: datetime) -> sa.Select:
        local_booking = (
            sa.select(sa.literal(1))
            .where(
                bookings.c.unit_id == units.c.id,
                bookings.c.status == "CONFIRMED",
                bookings.c.start_date <= night,
                bookings.c.end_date > night,
            )
            .exists()
        )
        fresh_occupied = sa.case(
            (beds24_observations.c.observed_at >= fresh_after, beds24_observations.c.occupied),
            else_=sa.null(),
        )
        return (
            sa.select(
                units.c.status.label("unit_status"),
                beds24_map.c.source_of_truth,
                fresh_occupied.label("beds24_occupied"),
                local_booking.label("local_occupied"),
            )
            .select_from(units)
            .outerjoin(beds24_map, beds24_map.c.unit_id == units.c.id)
            .outerjoin(
                beds24_observations,
                sa.and_(
                    beds24_observations.c.unit_id == units.c.id,
                    beds24_observations.c.stay_date == night,
                ),
            )
        )

    async def occupancy_facts_by_unit(
        self,
        *,
        night: date,
        fresh_after: datetime,
        building_id: uuid.UUID | None = None,
        unit_id: uuid.UUID | None = None,
    ) -> list[Row]:
        stmt = self._facts_query(night, fresh_after).add_columns(
            units.c.id.label("unit_id"), units.c.building_id
        )
        if building_id is not None:
            stmt = stmt.where(units.c.building_id == building_id)
        if unit_id is not None:
            stmt = stmt.where(units.c.id == unit_id)
        return [dict(r) for r in (await self.session.execute(stmt)).mappings()]

    async def occupancy_fact_groups(
        self, *, night: date, fresh_after: datetime, building_id: uuid.UUID, use_snapshot: bool
    ) -> list[Row]:
        """Units of a building grouped by the facts source selection reads, with counts."""
        base = self._facts_query(night, fresh_after).where(units.c.building_id == building_id)
        snapshot = sa.null().label("snapshot_status")
        if use_snapshot:
            base = base.outerjoin(
                unit_daily_status,
                sa.and_(
                    unit_daily_status.c.unit_id == units.c.id,
                    unit_daily_status.c.status_date == night,
                ),
            )
            snapshot = unit_daily_status.c.status.label("snapshot_status")
        inner = base.add_columns(snapshot).subquery()
        stmt = sa.select(
            inner.c.unit_status,
            inner.c.source_of_truth,
            inner.c.beds24_occupied,
            inner.c.local_occupied,
            inner.c.snapshot_status,
            sa.func.count().label("unit_count"),
        ).group_by(
            inner.c.unit_status,
            inner.c.source_of_truth,
            inner.c.beds24_occupied,
            inner.c.local_occupied,
            inner.c.snapshot_status,
        )
        return [dict(r) for r in (await self.session.execute(stmt)).mappings()]

    async def unknown_units(
        self,
        *,
        building_id: uuid.UUID,
        night: date,
        fresh_after: datetime,
        use_snapshot: bool,
        limit: int,
    ) -> list[Row]:
        """A building's UNKNOWN units on ``night`` with their Beds24 fetch state, by code.

        Live: AVAILABLE units whose Beds24 mapping is the source of truth and that have
        no fresh observation of the night. Past nights: those the snapshot recorded
        UNKNOWN, or live-UNKNOWN ones without a snapshot (as ``status_counts`` counts).
        Index paths: units_by_building, beds24_map.unit_id, the observations' and the
        snapshots' primary keys, the property sync state's primary key.
        """
        obs = beds24_observations
        sync = beds24_property_sync
        live_unknown = sa.and_(
            units.c.status == "AVAILABLE",
            beds24_map.c.source_of_truth == "BEDS24",
            sa.or_(obs.c.observed_at.is_(None), obs.c.observed_at < fresh_after),
        )
        stmt = (
            sa.select(
                units.c.id.label("unit_id"),
                units.c.code,
                beds24_map.c.beds24_property_id,
                beds24_map.c.beds24_room_id,
                beds24_map.c.beds24_unit_number,
                sync.c.last_fetched_at,
                sync.c.last_attempt_at,
                sync.c.last_error,
            )
            .select_from(units)
            .outerjoin(beds24_map, beds24_map.c.unit_id == units.c.id)
            .outerjoin(obs, sa.and_(obs.c.unit_id == units.c.id, obs.c.stay_date == night))
            .outerjoin(sync, sync.c.beds24_property_id == beds24_map.c.beds24_property_id)
            .where(units.c.building_id == building_id)
            .order_by(units.c.code)
            .limit(limit)
        )
        if use_snapshot:
            # a lookup per unit of the building by the snapshots' primary key, never a scan
            # of every unit's snapshot of that night (which a join's plan could choose)
            snap = unit_daily_status
            recorded = (
                sa.select(snap.c.status)
                .where(snap.c.unit_id == units.c.id, snap.c.status_date == night)
                .scalar_subquery()
            )
            stmt = stmt.where(
                sa.or_(recorded == "UNKNOWN", sa.and_(recorded.is_(None), live_unknown))
            )
            stmt = stmt.add_columns(recorded.label("snapshot_status"))
        else:
            stmt = stmt.where(live_unknown).add_columns(sa.null().label("snapshot_status"))
        return [dict(r) for r in (await self.session.execute(stmt)).mappings()]

    async def insert_daily_statuses(self, rows: list[Row]) -> int:
        """Insert snapshots; an existing (unit, date) is left as it is. Returns rows added."""
        if not rows:
            return 0
        stmt = (
            pg_insert(unit_daily_status)
            .values(rows)
            .on_conflict_do_nothing(
                index_elements=[unit_daily_status.c.unit_id, unit_daily_status.c.status_date]
            )
            .returning(unit_daily_status.c.unit_id)
        )
        return len((await self.session.execute(stmt)).all())

    async def refresh_daily_occupancy(self, building_id: uuid.UUID, night: date) -> None:
        occupied = (
            sa.select(sa.func.count())
            .where(
                unit_daily_status.c.building_id == building_id,
                unit_daily_status.c.status_date == night,
                unit_daily_status.c.status == "OCCUPIED",
            )
            .scalar_subquery()
        )
        stmt = pg_insert(kpi_daily_occupancy).values(
            building_id=building_id, status_date=night, occupied_units=occupied
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[kpi_daily_occupancy.c.building_id, kpi_daily_occupancy.c.status_date],
            set_={"occupied_units": stmt.excluded.occupied_units},
        )
        await self.session.execute(stmt)

    async def occupied_unit_days(self, building_id: uuid.UUID, start: date, end: date) -> int:
        stmt = sa.select(
            sa.func.coalesce(sa.func.sum(kpi_daily_occupancy.c.occupied_units), 0)
        ).where(
            kpi_daily_occupancy.c.building_id == building_id,
            kpi_daily_occupancy.c.status_date.between(start, end),
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def daily_statuses(
        self,
        *,
        unit_id: uuid.UUID | None = None,
        building_id: uuid.UUID | None = None,
        start: date,
        end: date,
    ) -> list[Row]:
        stmt = sa.select(unit_daily_status).where(
            unit_daily_status.c.status_date.between(start, end)
        )
        if unit_id:
            stmt = stmt.where(unit_daily_status.c.unit_id == unit_id)
        if building_id:
            stmt = stmt.where(unit_daily_status.c.building_id == building_id)
        stmt = stmt.order_by(unit_daily_status.c.status_date, unit_daily_status.c.unit_id)
        return [dict(r) for r in (await self.session.execute(stmt)).mappings()]

    # --- bookings and extensions -----------------------------------------------

    async def insert_booking(self, values: Row) -> Row:
        return await self._insert(bookings, values)

    async def get_booking(self, booking_id: uuid.UUID, *, for_update: bool = False):
        return await self._get(bookings, booking_id, for_update=for_update)

    async def update_booking(self, booking_id: uuid.UUID, values: Row) -> Row:
        return await self._update(bookings, booking_id, values)

    async def overlapping_booking(
        self, unit_id: uuid.UUID, start: date, end: date, exclude: uuid.UUID | None = None
    ) -> Row | None:
        stmt = sa.select(bookings).where(
            bookings.c.unit_id == unit_id,
            bookings.c.status == "CONFIRMED",
            bookings.c.start_date < end,
            bookings.c.end_date > start,
        )
        if exclude:
            stmt = stmt.where(bookings.c.id != exclude)
        return _one(await self.session.execute(stmt.limit(1)))

    async def list_bookings(
        self,
        *,
        unit_id: uuid.UUID | None,
        building_id: uuid.UUID | None,
        status: str | None,
        q: str | None,
        cursor: str | None,
        limit: int,
    ):
        conditions = []
        if unit_id:
            conditions.append(bookings.c.unit_id == unit_id)
        if building_id:
            conditions.append(bookings.c.building_id == building_id)
        if status:
            conditions.append(bookings.c.status == status)
        if q:
            conditions.append(bookings.c.guest_name.ilike(f"%{_escape_like(q)}%"))
        return await self._page(bookings, conditions, cursor, limit)

    async def local_bookings_of_unit(self, unit_id: uuid.UUID) -> list[Row]:
        stmt = sa.select(bookings).where(bookings.c.unit_id == unit_id)
        return [dict(r) for r in (await self.session.execute(stmt)).mappings()]

    async def insert_extension(self, values: Row) -> Row:
        return await self._insert(booking_extensions, values)

    async def get_extension(self, extension_id: uuid.UUID, *, for_update: bool = False):
        return await self._get(booking_extensions, extension_id, for_update=for_update)

    async def update_extension(self, extension_id: uuid.UUID, values: Row) -> Row:
        return await self._update(booking_extensions, extension_id, values)

    async def open_extension_of(self, booking_id: uuid.UUID) -> Row | None:
        stmt = sa.select(booking_extensions).where(
            booking_extensions.c.booking_id == booking_id,
            booking_extensions.c.status.in_(["PENDING_APPROVAL", "PAYMENT_PENDING"]),
        )
        return _one(await self.session.execute(stmt))

    async def list_extensions(
        self, *, booking_id: uuid.UUID | None, status: str | None, cursor: str | None, limit: int
    ):
        conditions = []
        if booking_id:
            conditions.append(booking_extensions.c.booking_id == booking_id)
        if status:
            conditions.append(booking_extensions.c.status == status)
        return await self._page(booking_extensions, conditions, cursor, limit)

    # --- mortgages -------------------------------------------------------------

    async def insert_mortgage(self, values: Row) -> Row:
        return await self._insert(mortgages, values)

    async def get_mortgage(self, mortgage_id: uuid.UUID, *, for_update: bool = False):
        return await self._get(mortgages, mortgage_id, for_update=for_update)

    async def update_mortgage(self, mortgage_id: uuid.UUID, values: Row) -> Row:
        return await self._update(mortgages, mortgage_id, values)

    async def list_mortgages(
        self,
        *,
        q: str | None,
        status: str | None,
        linked: bool | None,
        cursor: str | None,
        limit: int,
    ):
        conditions = []
        if q:
            conditions.append(mortgages.c.borrower_name.ilike(f"%{_escape_like(q)}%"))
        if status:
            conditions.append(mortgages.c.status == status)
        if linked is True:
            conditions.append(mortgages.c.rotessa_schedule_id.is_not(None))
        if linked is False:
            conditions.append(mortgages.c.rotessa_schedule_id.is_(None))
        return await self._page(mortgages, conditions, cursor, limit)

    # --- KPI read model --------------------------------------------------------

    async def kpi_entry_for_update(self, entry_id: str) -> Row | None:
        stmt = sa.select(kpi_entries).where(kpi_entries.c.entry_id == entry_id).with_for_update()
        return _one(await self.session.execute(stmt))

    async def upsert_kpi_entry(self, values: Row) -> None:
        stmt = pg_insert(kpi_entries).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[kpi_entries.c.entry_id],
            set_={k: stmt.excluded[k] for k in values if k != "entry_id"},
        )
        await self.session.execute(stmt)

    async def add_collection_deltas(self, deltas: Iterable[tuple[uuid.UUID, str, date, int, int]]):
        """(building, currency, local date, amount, movements) added to the daily totals."""
        rows = [
            {
                "building_id": b,
                "currency": c,
                "local_date": d,
                "collected_minor": a,
                "movement_count": n,
            }
            for (b, c, d), (a, n) in _summed(deltas, key_size=3)
        ]
        await self._add_deltas(kpi_daily_collections, rows, ("collected_minor", "movement_count"))

    async def insert_movements(self, rows: list[Row]) -> None:
        """Record money movements (the primary key refuses one recorded twice)."""
        if rows:
            await self.session.execute(sa.insert(kpi_money_movements).values(rows))

    async def movements_of_entry(self, entry_id: str) -> list[Row]:
        stmt = sa.select(kpi_money_movements).where(kpi_money_movements.c.entry_id == entry_id)
        return [dict(r) for r in (await self.session.execute(stmt)).mappings()]

    async def rehome_movements(self, entry_id: str, building_id: uuid.UUID | None) -> None:
        await self.session.execute(
            sa.update(kpi_money_movements)
            .where(kpi_money_movements.c.entry_id == entry_id)
            .values(building_id=building_id)
        )

    async def add_open_deltas(self, deltas: Iterable[tuple[uuid.UUID, str, str, date, int, int]]):
        """(building, currency, status, due date, amount, count) added to open receivables."""
        rows = [
            {
                "building_id": b,
                "currency": c,
                "status": st,
                "due_date": d,
                "amount_minor": a,
                "entry_count": n,
            }
            for (b, c, st, d), (a, n) in _summed(deltas, key_size=4)
        ]
        await self._add_deltas(kpi_open_receivables, rows, ("amount_minor", "entry_count"))

    async def _add_deltas(self, table, rows: list[dict], summed: tuple[str, ...]) -> None:
        """One multi-row upsert adding ``summed`` columns; rows in key order (lock order)."""
        if not rows:
            return
        stmt = pg_insert(table).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(table.primary_key.columns),
            set_={col: table.c[col] + stmt.excluded[col] for col in summed},
        )
        await self.session.execute(stmt)

    async def collection_sums(
        self,
        building_id: uuid.UUID,
        currency: str,
        month_start: date,
        year_start: date,
        as_of: date,
    ) -> tuple[int, int]:
        c = kpi_daily_collections.c
        stmt = sa.select(
            sa.func.coalesce(sa.func.sum(c.collected_minor).filter(c.local_date >= month_start), 0),
            sa.func.coalesce(sa.func.sum(c.collected_minor), 0),
        ).where(
            c.building_id == building_id,
            c.currency == currency,
            c.local_date.between(year_start, as_of),
        )
        mtd, ytd = (await self.session.execute(stmt)).one()
        return int(mtd), int(ytd)

    async def monthly_collections(
        self, building_id: uuid.UUID, currency: str, start: date, end: date
    ) -> list[Row]:
        """Collected per local month from the daily aggregate: a range of its primary
        key (building, currency, local_date), at most ~731 rows read for 24 months."""
        c = kpi_daily_collections.c
        month = sa.cast(sa.func.date_trunc("month", c.local_date), sa.Date).label("month")
        stmt = (
            sa.select(
                month,
                sa.func.sum(c.collected_minor).label("collected_minor"),
                sa.func.sum(c.movement_count).label("movement_count"),
            )
            .where(
                c.building_id == building_id,
                c.currency == currency,
                c.local_date.between(start, end),
            )
            .group_by(month)
        )
        return [
            {"month": r.month, "collected_minor": int(r.collected_minor),
             "movement_count": int(r.movement_count)}
            for r in await self.session.execute(stmt)
        ]  # fmt: skip

    async def open_receivable_sums(
        self, building_id: uuid.UUID, currency: str, as_of: date
    ) -> tuple[int, int]:
        c = kpi_open_receivables.c
        stmt = sa.select(
            sa.func.coalesce(sa.func.sum(c.amount_minor), 0),
            sa.func.coalesce(
                sa.func.sum(c.entry_count).filter(c.status == "DUE", c.due_date < as_of), 0
            ),
        ).where(c.building_id == building_id, c.currency == currency)
        outstanding, overdue = (await self.session.execute(stmt)).one()
        return int(outstanding), int(overdue)

    async def rebuild_kpi_aggregates(self, building_id: uuid.UUID) -> None:
        """Recompute a building's aggregates from its movements and entries (after a
        timezone change, or when entries that named it before it existed attach)."""
        await self.session.execute(
            sa.delete(kpi_daily_collections).where(
                kpi_daily_collections.c.building_id == building_id
            )
        )
        await self.session.execute(
            sa.delete(kpi_open_receivables).where(kpi_open_receivables.c.building_id == building_id)
        )
        params = {"b": building_id}
        await self.session.execute(
            sa.text(
                """
                INSERT INTO kpi_daily_collections
                    (building_id, currency, local_date, collected_minor, movement_count)
                SELECT m.building_id, m.currency, (m.moved_at AT TIME ZONE b.timezone)::date,
                       sum(m.amount_minor), count(*)
                FROM kpi_money_movements m JOIN buildings b ON b.id = m.building_id
                WHERE m.building_id = :b
                GROUP BY 1, 2, 3
                """
            ),
            params,
        )
        await self.session.execute(
            sa.text(
                """
                INSERT INTO kpi_open_receivables
                    (building_id, currency, status, due_date, amount_minor, entry_count)
                SELECT building_id, currency, status, coalesce(due_date, DATE '9999-12-31'),
                       sum(amount_minor - paid_minor + refunded_minor), count(*)
                FROM kpi_entries
                WHERE building_id = :b AND status IN ('DUE', 'PENDING')
                GROUP BY building_id, currency, status, coalesce(due_date, DATE '9999-12-31')
                """
            ),
            params,
        )

    async def set_paid_local_dates(self, building_id: uuid.UUID, timezone: str) -> None:
        await self.session.execute(
            sa.text(
                "UPDATE kpi_entries SET paid_local_date = (paid_at AT TIME ZONE :tz)::date "
                "WHERE building_id = :b AND paid_at IS NOT NULL"
            ),
            {"b": building_id, "tz": timezone},
        )

    async def attach_orphan_entries(self, building: Row) -> int:
        """Entries that named this building (by id or code) before it was known."""
        result = await self.session.execute(
            sa.update(kpi_entries)
            .where(
                kpi_entries.c.building_id.is_(None),
                sa.or_(
                    kpi_entries.c.building_ref == str(building["id"]),
                    sa.func.upper(kpi_entries.c.building_ref) == building["code"],
                ),
            )
            .values(building_id=building["id"])
        )
        # Their money movements belong to the building from now on as well.
        await self.session.execute(
            sa.update(kpi_money_movements)
            .where(
                kpi_money_movements.c.building_id.is_(None),
                kpi_money_movements.c.entry_id.in_(
                    sa.select(kpi_entries.c.entry_id).where(
                        kpi_entries.c.building_id == building["id"]
                    )
                ),
            )
            .values(building_id=building["id"])
        )
        return result.rowcount

    async def entries_of_unit(self, unit_id: uuid.UUID, limit: int = 500) -> list[Row]:
        stmt = (
            sa.select(kpi_entries)
            .where(kpi_entries.c.unit_id == str(unit_id))
            .order_by(kpi_entries.c.due_date.nulls_last(), kpi_entries.c.entry_id)
            .limit(limit)
        )
        return [dict(r) for r in (await self.session.execute(stmt)).mappings()]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _summed(deltas: Iterable[tuple], *, key_size: int) -> list[tuple[tuple, tuple[int, int]]]:
    """Deltas summed per key (one upsert cannot touch a row twice), sorted by key."""
    totals: dict[tuple, list[int]] = {}
    for delta in deltas:
        key, (amount, count) = delta[:key_size], delta[key_size:]
        total = totals.setdefault(key, [0, 0])
        total[0] += amount
        total[1] += count
    return [(key, (a, n)) for key, (a, n) in sorted(totals.items())]
