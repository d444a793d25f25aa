"""Occupancy: current readings and the daily snapshot job (the Beds24 sync: beds24_sync.py)."""

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import structlog

from folio.registry.domain.kpis import local_date_of
from folio.registry.domain.occupancy import (
    Beds24FetchState,
    DailyStatus,
    OccupancyReading,
    OccupancyState,
    daily_status,
    freshness_reference,
    select_occupancy_from_facts,
    unknown_reason_of,
)
from folio.registry.domain.units import SourceOfTruth, UnitStatus
from folio.registry.service.errors import not_found, unprocessable
from folio.registry.service.unit_of_work import RegistryUnitOfWork

log = structlog.get_logger(__name__)
Row = dict[str, Any]
MAX_SNAPSHOT_DAYS = 366
#: One run over every building does a few statements per building and night: bounded
#: so that an on-demand run answers within seconds (the daily job runs per building).
MAX_SNAPSHOT_BUILDING_NIGHTS = 1000


def reading_from_facts(facts: Row) -> OccupancyReading:
    source = facts["source_of_truth"]
    return select_occupancy_from_facts(
        source_of_truth=SourceOfTruth(source) if source else None,
        beds24_occupied=facts["beds24_occupied"],
        local_occupied=bool(facts["local_occupied"]),
    )


def fresh_after(night: date, timezone: str, now: datetime, max_age: timedelta) -> datetime:
    """Observations taken at or after this instant count as fresh for ``night``."""
    return freshness_reference(night, timezone, now) - max_age


async def unit_occupancy(
    uow: RegistryUnitOfWork,
    unit: Row,
    timezone: str,
    *,
    now: datetime,
    max_age: timedelta,
    night: date | None = None,
) -> dict[str, Any]:
    """A unit's occupancy on ``night`` (default: tonight in the building's timezone)."""
    night = night or local_date_of(now, timezone)
    facts = await uow.repo.occupancy_facts_by_unit(
        night=night, fresh_after=fresh_after(night, timezone, now, max_age), unit_id=unit["id"]
    )
    reading = reading_from_facts(facts[0])
    reason = None
    if reading.state == OccupancyState.UNKNOWN:
        reason = await unknown_reason(uow, unit["id"], night, now=now, max_age=max_age)
    return {
        "date": night,
        "source": reading.source.value,
        "occupancy": reading.state.value,
        "daily_status": daily_status(UnitStatus(unit["status"]), reading).value,
        "reason": reason,
    }


async def unknown_reason(
    uow: RegistryUnitOfWork, unit_id: uuid.UUID, night: date, *, now: datetime, max_age: timedelta
) -> str:
    """Why a Beds24 unit has no fresh data for ``night`` (it is UNKNOWN, never LOCAL)."""
    mapping = await uow.repo.get_mapping(unit_id)
    state = None
    if mapping is not None:
        sync = await uow.repo.property_sync_state(mapping["beds24_property_id"]) or {}
        state = Beds24FetchState(
            property_id=mapping["beds24_property_id"],
            room_id=mapping["beds24_room_id"],
            unit_number=mapping["beds24_unit_number"],
            last_fetched_at=sync.get("last_fetched_at"),
            last_attempt_at=sync.get("last_attempt_at"),
            last_error=sync.get("last_error"),
        )
    return unknown_reason_of(state, night, now=now, max_age=max_age)


#: UNKNOWN units a building's breakdown names with their reason (the count is exact).
MAX_UNKNOWN_LISTED = 100


async def building_occupancy(
    uow: RegistryUnitOfWork,
    building_id: uuid.UUID,
    *,
    night: date | None,
    now: datetime,
    max_age: timedelta,
) -> dict[str, Any]:
    """A building's units on ``night`` by daily status, and its UNKNOWN units with why.

    The same resolution as the KPIs: past nights read the daily snapshot where one
    exists, tonight and later the live facts. Two grouped queries, whatever the size.
    """
    building = await uow.repo.get_building(building_id)
    if building is None:
        raise not_found("building", building_id)
    timezone = building["timezone"]
    today = local_date_of(now, timezone)
    night = night or today
    use_snapshot = night < today
    after = fresh_after(night, timezone, now, max_age)
    groups = await uow.repo.occupancy_fact_groups(
        night=night, fresh_after=after, building_id=building_id, use_snapshot=use_snapshot
    )
    counts = status_counts(groups, use_snapshot=use_snapshot)
    rows = await uow.repo.unknown_units(
        building_id=building_id,
        night=night,
        fresh_after=after,
        use_snapshot=use_snapshot,
        limit=MAX_UNKNOWN_LISTED,
    )
    listed = []
    for row in rows:
        if row["snapshot_status"] == DailyStatus.UNKNOWN.value:
            reason = (
                f"the daily snapshot of {night.isoformat()} recorded UNKNOWN: Beds24 had no "
                "fresh data for that night"
            )
        else:
            state = None
            if row["beds24_property_id"] is not None:
                state = Beds24FetchState(
                    property_id=row["beds24_property_id"],
                    room_id=row["beds24_room_id"],
                    unit_number=row["beds24_unit_number"],
                    last_fetched_at=row["last_fetched_at"],
                    last_attempt_at=row["last_attempt_at"],
                    last_error=row["last_error"],
                )
            reason = unknown_reason_of(state, night, now=now, max_age=max_age)
        listed.append({"unit_id": row["unit_id"], "code": row["code"], "reason": reason})
    return {
        "building_id": building_id,
        "timezone": timezone,
        "date": night,
        "source": "SNAPSHOT" if use_snapshot else "LIVE",
        "counts": {status.value: counts[status] for status in DailyStatus},
        "unknown_units": listed,
    }


async def take_daily_snapshots(
    uow: RegistryUnitOfWork,
    *,
    start_date: date,
    end_date: date,
    building_id: uuid.UUID | None,
    now: datetime,
    max_age: timedelta,
) -> dict[str, int]:
    """One ``unit_daily_status`` per unit and night; existing rows are left unchanged."""
    if end_date < start_date:
        raise unprocessable("end_date is before start_date", field="end_date")
    if (end_date - start_date).days + 1 > MAX_SNAPSHOT_DAYS:
        raise unprocessable(f"at most {MAX_SNAPSHOT_DAYS} days per run", field="end_date")
    if building_id is not None:
        building = await uow.repo.get_building(building_id)
        if building is None:
            raise unprocessable(f"building {building_id} does not exist", field="building_id")
        targets = [building]
    else:
        targets = await uow.repo.all_buildings()
        nights = (end_date - start_date).days + 1
        if len(targets) * nights > MAX_SNAPSHOT_BUILDING_NIGHTS:
            raise unprocessable(
                f"{len(targets)} buildings x {nights} nights is more than "
                f"{MAX_SNAPSHOT_BUILDING_NIGHTS} building-nights per run: name a "
                "building_id or shorten the range",
                field="end_date",
            )
    inserted = considered = 0
    for building in targets:
        night = start_date
        while night <= end_date:
            facts = await uow.repo.occupancy_facts_by_unit(
                night=night,
                fresh_after=fresh_after(night, building["timezone"], now, max_age),
                building_id=building["id"],
            )
            rows = []
            for unit_facts in facts:
                reading = reading_from_facts(unit_facts)
                rows.append(
                    {
                        "unit_id": unit_facts["unit_id"],
                        "status_date": night,
                        "building_id": building["id"],
                        "status": daily_status(
                            UnitStatus(unit_facts["unit_status"]), reading
                        ).value,
                        "source": reading.source.value,
                        "computed_at": now,
                    }
                )
            considered += len(rows)
            inserted += await uow.repo.insert_daily_statuses(rows)
            await uow.repo.refresh_daily_occupancy(building["id"], night)
            night += timedelta(days=1)
    return {"inserted": inserted, "unchanged": considered - inserted, "buildings": len(targets)}


def status_counts(groups: list[Row], *, use_snapshot: bool) -> dict[DailyStatus, int]:
    """Resolved daily status counts from grouped facts (snapshot wins for past nights)."""
    counts: dict[DailyStatus, int] = dict.fromkeys(DailyStatus, 0)
    for group in groups:
        snapshot = group.get("snapshot_status")
        if use_snapshot and snapshot:
            status = DailyStatus(snapshot)
        else:
            status = daily_status(UnitStatus(group["unit_status"]), reading_from_facts(group))
        counts[status] += group["unit_count"]
    return counts
